"""The from-scratch blocks the AddSub model is built from (`hfmodels/from_scratch/blocks.py`), under
the family's own module name so that the modeling file imports them as a sibling.

transformers copies a remote-code folder's modeling file with its `from .x import` siblings only
(`transformers.dynamic_module_utils.custom_object_save`), never a parent package. So
[`AddSubPreTrainedModel.save_pretrained`] writes, in a saved folder, the file that defines these
blocks under this name in place of this module: the folder then loads with
`trust_remote_code=True` where hfmodels is not installed (docs/conventions.md, "Remote code").
Inside hfmodels the names are the `hfmodels.from_scratch` classes themselves. The import is
absolute because transformers reads every `from .x import` line (`from ..x` too) of the modeling
file and its siblings as a sibling file `x.py` to copy.
"""

from hfmodels.from_scratch.blocks import (
    DecoderBlock,
    EncoderBlock,
    LayerNorm,
    causal_mask,
    position_encoding_sinusoid,
)

__all__ = ["DecoderBlock", "EncoderBlock", "LayerNorm", "causal_mask", "position_encoding_sinusoid"]
