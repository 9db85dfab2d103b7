"""`hfmodels.training.precision`: bf16 only where it is native, and the decoder follows it."""

import torch

from hfmodels.char_gpt import CharGPTConfig, CharGPTForCausalLM, CharTokenizer
from hfmodels.evaluation import birthplaces as evaluation
from hfmodels.training import precision


def test_native_bf16_follows_the_cpu_and_rejects_other_devices(monkeypatch):
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)
    assert precision.native_bf16("cpu") is False
    assert precision.cpu_capability("flags : fpu avx2 fma").endswith(", no bf16")
    assert precision.cpu_capability("flags : avx2 avx512f avx512_bf16") == "AVX512-BF16, no AMX"
    assert precision.cpu_capability("flags : avx512_bf16 amx_tile amx_bf16") == "AMX"
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True)
    assert precision.native_bf16("cpu") is True
    assert precision.native_bf16("meta") is False


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
