"""`hfmodels.training.precision`: bf16 only where the CPU's flags say it is native, and the decoder follows it."""

from pathlib import Path

import pytest
import torch

from hfmodels.char_gpt import CharGPTConfig, CharGPTForCausalLM, CharTokenizer
from hfmodels.evaluation import birthplaces as evaluation
from hfmodels.training import precision

CPUINFO = Path(__file__).parent / "data" / "cpuinfo"
#: captured /proc/cpuinfo texts: (file, native bf16, words the reason must contain, cpu_capability)
KINDS = [
    ("amd_epyc_9r14_avx512_bf16.txt", True, "avx512_bf16", "AVX512-BF16, no AMX"),
    ("intel_xeon_8259cl_avx512_no_bf16.txt", False, "AVX-512 but no avx512_bf16", ", no bf16"),
    ("amd_epyc_7r13_avx2_only.txt", False, "AVX2 but no avx512_bf16", ", no bf16"),
    ("aws_graviton3_neoverse_v1_bf16.txt", True, "Arm CPU has the bf16 feature", ", bf16"),
    ("aws_graviton2_neoverse_n1_no_bf16.txt", False, "Arm CPU lacks the bf16 feature", ", no bf16"),
]


@pytest.mark.parametrize("name, native, reason, capability", KINDS)
def test_the_cpu_decision_follows_its_flags_not_onednn(monkeypatch, name, native, reason, capability):
    text = (CPUINFO / name).read_text(encoding="utf-8")
    assert precision.cpu_bf16_from_flags(text)[0] is native
    assert reason in precision.cpu_bf16_from_flags(text)[1]
    assert precision.cpu_capability(text).endswith(capability)
    # oneDNN claims bf16 on every AVX-512 CPU (emulated there): the flags decide
    monkeypatch.setattr(precision, "_cpuinfo", lambda: text)
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True)
    assert precision.native_bf16("cpu") is native
    # no oneDNN bf16 kernels: no bf16, whatever the flags
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)
    assert precision.native_bf16("cpu") is False
    assert precision.native_bf16("meta") is False


def test_without_cpuinfo_the_choice_is_fp32(monkeypatch):
    monkeypatch.setattr(precision, "_cpuinfo", lambda: "")
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True)
    assert precision.native_bf16("cpu") is False
    assert "no /proc/cpuinfo" in precision.cpu_bf16_from_flags()[1]
    assert precision.cpu_capability("flags : fpu avx2 fma").endswith(", no bf16")
    assert precision.cpu_capability("flags : avx512_bf16 amx_tile amx_bf16") == "AMX"


def test_precision_choice_records_the_decision_and_its_reason(monkeypatch):
    xeon = (CPUINFO / "intel_xeon_8259cl_avx512_no_bf16.txt").read_text(encoding="utf-8")
    monkeypatch.setattr(precision, "_cpuinfo", lambda: xeon)
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True)
    monkeypatch.delenv("ACCELERATE_MIXED_PRECISION", raising=False)
    choice = precision.precision_choice("cpu")
    assert choice["bf16"] is False and choice["native_bf16"] is False
    assert "no avx512_bf16 or amx_bf16" in choice["reason"]
    assert choice["cpu"].startswith("Intel(R) Xeon(R) Platinum 8259CL CPU @ 2.50GHz (")
    monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", "bf16")
    choice = precision.precision_choice("cpu")
    assert choice["bf16"] is True and choice["native_bf16"] is False
    assert "accelerate launch set mixed_precision='bf16'" in choice["reason"]
    assert precision.default_bf16("cpu") is choice["bf16"]


def test_default_bf16_is_the_launchers_precision_else_the_hardwares(monkeypatch):
    monkeypatch.delenv("ACCELERATE_MIXED_PRECISION", raising=False)
    for native in (False, True):
        monkeypatch.setattr(precision, "native_bf16", lambda device=None, n=native: n)
        assert precision.default_bf16() is native
        for launched, expected in (("no", False), ("fp16", False), ("bf16", True), ("BF16", True)):
            monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", launched)
            assert precision.default_bf16() is expected, (native, launched)
        monkeypatch.delenv("ACCELERATE_MIXED_PRECISION")


def test_greedy_decode_uses_bf16_autocast_only_where_native(monkeypatch, tmp_path):
    tokenizer = CharTokenizer.from_corpus("Where was Ann born? Paris", save_directory=str(tmp_path))
    config = CharGPTConfig(vocab_size=tokenizer.vocab_size, block_size=32, n_layer=1, n_embd=8, n_head=2)
    model = CharGPTForCausalLM(config).eval()
    seen = []
    real = evaluation._autocast

    def spy(device, bf16):
        seen.append(bf16)
        return real(device, bf16)

    monkeypatch.setattr(evaluation, "_autocast", spy)
    for native in (False, True):
        seen.clear()
        monkeypatch.setattr(evaluation, "native_bf16", lambda device, n=native: n)
        evaluation.greedy_decode(model, tokenizer, ["Where was Ann born?"], max_new_tokens=2)
        assert seen and set(seen) == {native}
