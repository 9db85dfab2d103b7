"""hfmodels: Transformer course systems as Hugging Face models.

Importing the package registers every model family with the transformers Auto classes,
so a saved model folder loads with `AutoConfig`, `AutoModel*` and `AutoTokenizer` without
`trust_remote_code`.
"""

from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoTokenizer

from .char_gpt import CharGPTConfig, CharGPTForCausalLM, CharGPTModel, CharTokenizer
from .multitask_bert import MultitaskBertConfig, MultitaskBertModel

__version__ = "0.1.0"

AutoConfig.register("char_gpt", CharGPTConfig, exist_ok=True)
AutoModel.register(CharGPTConfig, CharGPTModel, exist_ok=True)
AutoModelForCausalLM.register(CharGPTConfig, CharGPTForCausalLM, exist_ok=True)
AutoTokenizer.register(CharGPTConfig, slow_tokenizer_class=CharTokenizer, exist_ok=True)
AutoConfig.register("multitask_bert", MultitaskBertConfig, exist_ok=True)
AutoModel.register(MultitaskBertConfig, MultitaskBertModel, exist_ok=True)

__all__ = ["CharGPTConfig", "CharGPTForCausalLM", "CharGPTModel", "CharTokenizer", "__version__"]
