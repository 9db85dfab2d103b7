"""transformers' own generic model tests, from the sdist of the installed version, and our model tester.

`transformers_test_package()` fetches `transformers==<installed version>` as an sdist with
`pip download --no-binary :all:` (PyPI only, cached under `$HFMODELS_TRANSFORMERS_TESTS`, default
`~/.cache/hfmodels/transformers-tests`), unpacks its `tests/` folder there as the package
`transformers_tests` (never into this repository) and imports `ModelTesterMixin` and `ConfigTester`.
The sdist ships only the top-level test modules: the subpackages that `test_modeling_common` and
`test_configuration_common` import (`exporters`, `generation`, `utils`) are not in it, so they are
stood in for here by empty mixins and by `config_common_kwargs` below (see docs/conventions.md).
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import tarfile
import tempfile
import types
from pathlib import Path

import torch
import transformers

from hfmodels.char_gpt import CharGPTConfig

PACKAGE = "transformers_tests"

# The config kwargs every PretrainedConfig must store as given (the sdist's
# tests/utils/test_configuration_utils.py, which is not shipped, holds the upstream list).
config_common_kwargs = {
    "return_dict": False,
    "output_hidden_states": True,
    "output_attentions": True,
    "dtype": "float16",
    "tie_word_embeddings": False,
    "chunk_size_feed_forward": 5,
    "architectures": ["CharGPTForCausalLM"],
    "id2label": {0: "label"},
    "label2id": {"label": "0"},
    "problem_type": "regression",
    "bos_token_id": 6,
    "sep_token_id": 8,
}


def _cache_dir() -> Path:
    root = os.environ.get(
        "HFMODELS_TRANSFORMERS_TESTS", str(Path.home() / ".cache/hfmodels/transformers-tests")
    )
    return Path(root) / transformers.__version__


def _fetch(dest: Path) -> None:
    """Download the sdist from PyPI and unpack its `tests/` as `dest/transformers_tests`."""
    version = transformers.__version__
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", f"transformers=={version}"]
        cmd += ["--no-binary", ":all:", "--no-deps", "-d", tmp, "-q"]
        subprocess.run(cmd, check=True)
        (sdist,) = Path(tmp).glob("transformers-*.tar.gz")
        staging = Path(tempfile.mkdtemp(dir=dest.parent, prefix=".partial-"))
        prefix = f"transformers-{version}/tests/"
        with tarfile.open(sdist) as tar:
            for member in tar.getmembers():
                if (
                    member.isfile()
                    and member.name.startswith(prefix)
                    and "/" not in member.name[len(prefix) :]
                ):
                    member.name = member.name[len(prefix) :]
                    tar.extract(member, staging / PACKAGE, filter="data")
        (staging / PACKAGE / "__init__.py").touch()
        try:
            staging.rename(dest)  # atomic: a half-unpacked folder is never taken for a complete one
        except OSError:
            if not (dest / PACKAGE / "test_modeling_common.py").is_file():  # not another worker's copy
                raise


def _stub(name: str, **attrs) -> None:
    module = types.ModuleType(f"{PACKAGE}.{name}")
    module.__dict__.update(attrs)
    sys.modules[module.__name__] = module


def transformers_test_package() -> types.SimpleNamespace:
    """`ModelTesterMixin`, `ConfigTester` and the stand-in `GenerationTesterMixin` of the sdist."""
    dest = _cache_dir() / "src"
    if not (dest / PACKAGE / "test_modeling_common.py").is_file():
        dest.parent.mkdir(parents=True, exist_ok=True)
        _fetch(dest)
    if str(dest) not in sys.path:
        sys.path.insert(0, str(dest))
    generation_mixin = type("GenerationTesterMixin", (), {})
    for pkg in ("exporters", "generation", "utils"):
        _stub(pkg)
    _stub("exporters.test_export", ExportTesterMixin=type("ExportTesterMixin", (), {}))
    _stub("generation.test_utils", GenerationTesterMixin=generation_mixin)
    _stub("utils.test_configuration_utils", config_common_kwargs=config_common_kwargs)
    modeling = importlib.import_module(f"{PACKAGE}.test_modeling_common")
    configuration = importlib.import_module(f"{PACKAGE}.test_configuration_common")
    return types.SimpleNamespace(
        ModelTesterMixin=modeling.ModelTesterMixin,
        ids_tensor=modeling.ids_tensor,
        random_attention_mask=modeling.random_attention_mask,
        ConfigTester=configuration.ConfigTester,
        GenerationTesterMixin=generation_mixin,
    )


class CharGPTModelTester:
    """Builds small configs and inputs for the generic tests, like transformers' GPT-2 tester."""

    def __init__(self, parent, attention_type: str, batch_size: int = 3, seq_length: int = 7):
        self.parent = parent
        self.attention_type = attention_type
        self.batch_size = batch_size
        self.seq_length = seq_length
        self.vocab_size = 40
        self.hidden_size = 32
        self.num_hidden_layers = 2
        self.num_attention_heads = 4
        self.is_training = True

    def get_config(self) -> CharGPTConfig:
        """A tiny config of this tester's variant (dropout off, as the generic tests compare outputs)."""
        return CharGPTConfig(
            vocab_size=self.vocab_size,
            block_size=16,
            n_layer=self.num_hidden_layers,
            n_head=self.num_attention_heads,
            n_embd=self.hidden_size,
            attention_type=self.attention_type,
            bottleneck_dim=4,
            embd_pdrop=0.0,
            attn_pdrop=0.0,
            resid_pdrop=0.0,
        )

    def prepare_config_and_inputs_for_common(self) -> tuple[CharGPTConfig, dict[str, torch.Tensor]]:
        """Config and `input_ids` (ids 2.., never PAD) with a random left-to-right attention mask."""
        ids = 2 + torch.randint(0, self.vocab_size - 2, (self.batch_size, self.seq_length))
        mask = torch.ones_like(ids)
        return self.get_config(), {"input_ids": ids, "attention_mask": mask}
