"""Which precision is fast on the hardware at hand.

bf16 autocast pays only where the hardware multiplies bf16 natively: CUDA devices with bf16, and
CPUs with AVX512-BF16 or AMX. On other CPUs (AVX2 laptops and servers) PyTorch still accepts bf16
but converts in software, and a bf16 training step is slower than an fp32 one, so every default in
this package asks `native_bf16` instead of assuming bf16.
"""

from __future__ import annotations

import os
import platform

import torch


def _cpuinfo() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            return f.read()
    except OSError:
        return ""


def native_bf16(device: torch.device | str | None = None) -> bool:
    """True when `device` (default: CUDA if present, else the CPU) runs bf16 matmuls in hardware."""
    kind = (
        torch.device(device).type if device is not None else ("cuda" if torch.cuda.is_available() else "cpu")
    )
    if kind == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if kind != "cpu":
        return False
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def default_bf16(device: torch.device | str | None = None) -> bool:
    """The recipes' default for bf16 autocast: the precision `accelerate launch` was given (its
    config file's `mixed_precision` or `--mixed_precision`, which it passes on in
    `$ACCELERATE_MIXED_PRECISION`), else [`native_bf16`]. Without this a `mixed_precision: "no"`
    config would still train in bf16 on a CPU with AVX512-BF16, because `TrainingArguments(bf16=True)`
    overrides what the launcher says; an explicit `--bf16` still decides over both."""
    launched = os.environ.get("ACCELERATE_MIXED_PRECISION", "").strip().lower()
    if launched:
        return launched == "bf16"
    return native_bf16(device)


def cpu_capability(cpuinfo: str | None = None) -> str:
    """The CPU's vector extensions in words, e.g. "AVX512-BF16, no AMX" or "AVX2, no bf16", from
    `cpuinfo` (default: /proc/cpuinfo where it exists) and PyTorch's own CPU dispatch level."""
    flags = set((_cpuinfo() if cpuinfo is None else cpuinfo).split())
    if "amx_bf16" in flags:
        return "AMX"
    if "avx512_bf16" in flags:
        return "AVX512-BF16, no AMX"
    isa = torch.backends.cpu.get_cpu_capability()  # "AVX2", "AVX512", "DEFAULT", ...
    return f"{isa}, {'bf16' if native_bf16('cpu') else 'no bf16'}"


def describe_cpu() -> str:
    """The CPU for reports, e.g. "AMD EPYC (AVX2, no bf16), 2 cores"."""
    cpuinfo = _cpuinfo()
    names = [line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")]
    name = names[0] if names else platform.processor() or platform.machine()
    return f"{name} ({cpu_capability(cpuinfo)}), {os.cpu_count()} cores"
