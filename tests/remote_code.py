"""Test helper: run a script in a fresh interpreter where `import hfmodels` is impossible, offline, the
way a user without hfmodels loads a saved folder with `trust_remote_code=True` (docs/conventions.md,
"Remote code"). The package is installed in this environment, so the script starts by putting `None`
in `sys.modules["hfmodels"]`, which makes every `import hfmodels…` raise ImportError there."""

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import torch

#: Runs first in that interpreter: `import hfmodels` raises ImportError there.
NO_HFMODELS = 'import sys\n\nsys.modules["hfmodels"] = None\n'
#: Runs last in a `results_without_hfmodels` script: which hfmodels modules got in (none may), then
#: `results` saved with `torch.save` (tensors come back exact), to the path formatted in.
SAVE_RESULTS = """
import torch

results["hfmodels_loaded"] = [n for n, module in sys.modules.items() if n.startswith("hfmodels") and module]
torch.save(results, {path!r})
"""


def run_without_hfmodels(code: str, args: Sequence[str], tmp_path: Path) -> str:
    """Run `code` with `args` (its `sys.argv[1:]`) in a fresh interpreter without hfmodels, offline
    (`HF_HUB_OFFLINE=1`, no `PYTHONPATH`, working folder `tmp_path`), with transformers' module cache
    under `tmp_path` and this process's thread count (the same float summation order); returns its
    stdout, and fails the test with its stderr when it fails."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(
        HF_HUB_OFFLINE="1",
        HF_MODULES_CACHE=str(tmp_path / "modules"),
        OMP_NUM_THREADS=str(torch.get_num_threads()),
    )
    run = subprocess.run(
        [sys.executable, "-c", NO_HFMODELS + code, *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return run.stdout


def results_without_hfmodels(code: str, args: Sequence[str], tmp_path: Path) -> dict:
    """Run `code`, which fills a dict `results` (tensors and plain values), as `run_without_hfmodels`
    does; returns `results` after checking that no hfmodels module was imported there."""
    path = tmp_path / "results.pt"
    run_without_hfmodels(code + SAVE_RESULTS.format(path=str(path)), args, tmp_path)
    results = torch.load(path)
    loaded = results.pop("hfmodels_loaded")
    assert loaded == [], f"the interpreter without hfmodels imported {loaded}"
    return results


def copy_without_auto_map(folder: Path) -> Path:
    """The control: a copy of `folder` beside it, `<name>-no-auto-map`, whose `config.json` and
    `tokenizer_config.json` have no `auto_map`, so it cannot load where hfmodels is missing; returns it."""
    copy = Path(folder).with_name(Path(folder).name + "-no-auto-map")
    shutil.copytree(folder, copy)
    removed = []
    for name in ("config.json", "tokenizer_config.json"):
        data = json.loads((copy / name).read_text())
        if data.pop("auto_map", None) is not None:
            removed.append(name)
            (copy / name).write_text(json.dumps(data))
    assert "config.json" in removed, f"{folder}/config.json has no auto_map"
    return copy
