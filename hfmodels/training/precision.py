"""Which precision is fast on the hardware at hand, and why.

bf16 autocast pays only where the hardware multiplies bf16 natively: CUDA devices with bf16, x86
CPUs with the `avx512_bf16` or `amx_bf16` flag, and Arm CPUs with the `bf16` feature. Elsewhere
PyTorch still accepts bf16 but converts in software, and a bf16 training step is slower than an
fp32 one (on an AVX-512 Xeon without AVX512-BF16 a bf16 matmul is several times slower than the
same one in fp32), so every default in this package asks [`native_bf16`] instead of assuming bf16.

The CPU decision is read from the feature flags the kernel reports in `/proc/cpuinfo` (the
`flags` line on x86, `Features` on Arm). PyTorch's own `torch.ops.mkldnn._is_mkldnn_bf16_supported()`
is not enough: it answers True on any AVX-512 CPU, where oneDNN emulates bf16. It is kept as a
second condition (no oneDNN bf16 kernels, no bf16). Without `/proc/cpuinfo` the choice is fp32.
[`precision_choice`] returns the decision with its reason, for a run's metrics.
"""

from __future__ import annotations

import functools
import os
import platform

import torch

#: x86 flags (as Linux names them) whose presence means bf16 matmuls run in hardware.
X86_BF16_FLAGS = ("amx_bf16", "avx512_bf16")
#: The Arm feature (as Linux names it) for bf16 dot products and matrix multiplies.
ARM_BF16_FEATURE = "bf16"


@functools.cache  # the CPU does not change while a process runs; recipes and benches ask often
def _cpuinfo() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            return f.read()
    except OSError:
        return ""


def cpu_flags(cpuinfo: str | None = None) -> tuple[str | None, set[str]]:
    """(`"x86"`, `"arm"` or `None`, the flag set) from the first `flags` (x86) or `Features` (Arm)
    line of `cpuinfo` (default: /proc/cpuinfo); `(None, set())` where there is neither."""
    text = _cpuinfo() if cpuinfo is None else cpuinfo
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() in ("flags", "Features"):
            return ("x86" if key.strip() == "flags" else "arm"), set(value.split())
    return None, set()


def cpu_bf16_from_flags(cpuinfo: str | None = None) -> tuple[bool, str]:
    """(whether the CPU multiplies bf16 in hardware, the reason in words), from its flags only."""
    arch, flags = cpu_flags(cpuinfo)
    if arch is None:
        return False, "no CPU feature flags to read (no /proc/cpuinfo): fp32, as bf16 may be emulated"
    if arch == "arm":
        if ARM_BF16_FEATURE in flags:
            return True, "the Arm CPU has the bf16 feature: bf16 matmuls run in hardware"
        return False, "the Arm CPU lacks the bf16 feature: bf16 would be emulated, slower than fp32"
    native = [f for f in X86_BF16_FLAGS if f in flags]
    if native:
        return True, f"the CPU has {' and '.join(native)}: bf16 matmuls run in hardware"
    width = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    return (
        False,
        f"the CPU has {width} but no avx512_bf16 or amx_bf16: bf16 would be emulated, slower than fp32",
    )


def _onednn_bf16() -> bool:
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def _device_kind(device: torch.device | str | None) -> str:
    if device is not None:
        return torch.device(device).type
    return "cuda" if torch.cuda.is_available() else "cpu"


def _hardware_bf16(device: torch.device | str | None = None) -> tuple[bool, str]:
    """(native bf16 on `device`, the reason): the decision behind [`native_bf16`]."""
    kind = _device_kind(device)
    if kind == "cuda":
        if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
            return True, f"CUDA device {torch.cuda.get_device_name()} supports bf16"
        return False, "the CUDA device does not support bf16"
    if kind != "cpu":
        return False, f"device type {kind!r}: fp32"
    native, reason = cpu_bf16_from_flags()
    if native and not _onednn_bf16():
        return False, reason + ", but this PyTorch build's oneDNN has no bf16 kernels: fp32"
    return native, reason


def native_bf16(device: torch.device | str | None = None) -> bool:
    """True when `device` (default: CUDA if present, else the CPU) runs bf16 matmuls in hardware
    (on a CPU: decided from its feature flags, see the module docstring)."""
    return _hardware_bf16(device)[0]


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


def precision_choice(device: torch.device | str | None = None) -> dict[str, bool | str]:
    """The recipes' default precision with its reason, for a run's metrics.

    Returns:
        `{"bf16": ..., "native_bf16": ..., "reason": ..., "cpu": ...}`: `bf16` is [`default_bf16`]'s
        answer, `native_bf16` the hardware's, `reason` says which decided and why, `cpu` is
        [`describe_cpu`]. A recipe that is given `--bf16` explicitly records that instead.
    """
    native, reason = _hardware_bf16(device)
    launched = os.environ.get("ACCELERATE_MIXED_PRECISION", "").strip().lower()
    if launched:
        bf16 = launched == "bf16"
        reason = f"accelerate launch set mixed_precision={launched!r} (hardware: {reason})"
    else:
        bf16 = native
    return {"bf16": bf16, "native_bf16": native, "reason": reason, "cpu": describe_cpu()}


def cpu_capability(cpuinfo: str | None = None) -> str:
    """The CPU's vector extensions in words, e.g. "AVX512-BF16, no AMX" or "AVX2, no bf16", from
    `cpuinfo` (default: /proc/cpuinfo where it exists) and PyTorch's own CPU dispatch level."""
    arch, flags = cpu_flags(cpuinfo)
    if "amx_bf16" in flags:
        return "AMX"
    if "avx512_bf16" in flags:
        return "AVX512-BF16, no AMX"
    isa = torch.backends.cpu.get_cpu_capability()  # "AVX2", "AVX512", "DEFAULT", ...
    has = arch == "arm" and ARM_BF16_FEATURE in flags
    return f"{isa}, {'bf16' if has else 'no bf16'}"


def describe_cpu() -> str:
    """The CPU for reports, e.g. "AMD EPYC (AVX2, no bf16), 2 cores"."""
    cpuinfo = _cpuinfo()
    names = [line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")]
    name = names[0] if names else platform.processor() or platform.machine()
    return f"{name} ({cpu_capability(cpuinfo)}), {os.cpu_count()} cores"
