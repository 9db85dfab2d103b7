"""`keep_freed_memory`: a training-like allocation pattern stops faulting in fresh pages.

Each case runs in a fresh interpreter: malloc's settings are process-wide."""

import platform
import subprocess
import sys

import pytest

from hfmodels.training.memory import keep_freed_memory

# Ten 8 MB buffers alive at once, then all freed (the way a step's activations are), five times;
# prints the minor page faults of the last four rounds.
PATTERN = """
import resource, sys, torch
from hfmodels.training.memory import keep_freed_memory
if sys.argv[1] == "keep":
    assert keep_freed_memory() is True
def step():
    bufs = [torch.empty(2 * 1024 * 1024).fill_(1.0) for _ in range(10)]
    del bufs
step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(4):
    step()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(mode: str) -> int:
    out = subprocess.run(
        [sys.executable, "-c", PATTERN, mode], capture_output=True, text=True, check=True, timeout=120
    )
    return int(out.stdout.strip())


GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"


@pytest.mark.skipif(not GLIBC, reason="glibc malloc only (a no-op elsewhere, tested below)")
def test_freed_buffers_are_reused_instead_of_faulted_in_again():
    pages = 4 * 10 * 8 * 1024 * 1024 // 4096  # what four rounds would touch if every page were fresh
    default = _faults("default")
    kept = _faults("keep")
    # glibc trims the freed top of its heap (80 MB > its trim threshold) after every round
    assert default > pages // 2, default
    assert kept < pages // 20, kept


def test_keep_freed_memory_reports_whether_it_applied():
    # True exactly where the C library is glibc; elsewhere a no-op that says so
    result = subprocess.run(
        [sys.executable, "-c", "from hfmodels.training.memory import keep_freed_memory as k; print(k())"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout.strip()
    assert result == str(GLIBC)


@pytest.mark.parametrize(
    "kwargs, shown",
    [
        ({"mmap_threshold": -5}, "-5"),
        ({"trim_threshold": 2**31}, "2147483648"),
        ({"mmap_threshold": 1.5}, "1.5"),
    ],
)
def test_bad_thresholds_are_refused_before_touching_malloc(kwargs, shown):
    # glibc's mallopt itself accepts any value (a negative one becomes a huge size_t)
    with pytest.raises(ValueError, match=f"got {shown}"):
        keep_freed_memory(**kwargs)
