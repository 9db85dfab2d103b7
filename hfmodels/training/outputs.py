"""What a training run may write where, checked before its first step.

`Trainer` rotates old checkpoints away and `save_pretrained` overwrites a model folder without a
word, and a read-only output path is found only after hours of training. These guards refuse
instead, naming the place and what to pass, as transformers' example scripts do with
`--overwrite_output_dir`:

- [`check_writable`]: every output location can be created and written (no regular file in the
  way, a writable folder);
- [`claim_output_dir`]: an output folder that holds a finished run, or checkpoints of a different
  run, is refused unless the run resumes its own checkpoints or `overwrite` is given; the run's
  settings are recorded in `run.json` to tell runs apart;
- [`check_not_finished`]: resuming a checkpoint at the run's last step would train one step more;
- [`claim_model_folder`]: a model folder that holds a model is replaced only with `overwrite`, and
  then the old model's metrics, predictions and card go with it.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

RUN_RECORD = "run.json"
# Files of a model folder that describe the model in it; they go when the model is replaced.
MODEL_DESCRIPTION_FILES = ("metrics.json", "summary.md", "README.md")


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_writable(path: str | os.PathLike, what: str, folder: bool = False) -> None:
    """Raise `ValueError` unless `path` (a file, or a folder with `folder=True`) can be written:
    nothing of the other kind is in the way and the folder it goes into accepts a new file."""
    p = Path(path)
    if p.exists() and p.is_dir() != folder:
        kind = "a folder" if p.is_dir() else "a regular file"
        raise ValueError(f"{what} {path}: is {kind}; expected a {'folder' if folder else 'file'} path.")
    existing = _nearest_existing(p if folder else p.parent)
    if not existing.is_dir():
        raise ValueError(f"{what} {path}: cannot be created, {existing} is a regular file.")
    if p.is_file() and not os.access(p, os.W_OK):
        raise ValueError(f"{what} {path}: the file is not writable.")
    try:
        fd, probe = tempfile.mkstemp(prefix=".write-check.", dir=existing)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise ValueError(f"{what} {path}: {existing} is not writable ({err.strerror}).") from err


def _checkpoints(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("checkpoint-*") if p.is_dir())


def _read_record(folder: Path) -> dict | None:
    path = folder / RUN_RECORD
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(
            f"{path}: not valid JSON ({err}); move it away or pass --overwrite_output_dir."
        ) from err


def _differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    return [
        f"{k}={old.get(k)!r} there, {new.get(k)!r} here"
        for k in sorted(set(old) | set(new))
        if old.get(k) != new.get(k)
    ]


def claim_output_dir(
    output_dir: str | os.PathLike, settings: Mapping[str, Any], resume: str | None, overwrite: bool
) -> None:
    """Make `output_dir` this run's, or raise `SystemExit` saying why not.

    Refused: a finished run (recorded in `run.json`) unless `overwrite`; checkpoints without
    `resume` unless `overwrite`; resuming checkpoints recorded with other `settings`. With
    `overwrite` the old run's checkpoints and records are removed first, so none of them mixes
    with the new run. Then `settings` are recorded in `run.json`."""
    folder = Path(output_dir)
    record = _read_record(folder) if folder.is_dir() else None
    checkpoints = _checkpoints(folder) if folder.is_dir() else []
    advice = "pass --overwrite_output_dir to replace it or choose another --output_dir"
    if overwrite:
        for path in checkpoints:
            shutil.rmtree(path)
        for name in (RUN_RECORD, "metrics.json", "summary.md"):
            (folder / name).unlink(missing_ok=True)
    elif record and record.get("finished"):
        raise SystemExit(
            f"{folder}: holds a finished run ({record.get('function')} {record.get('variant')}, "
            f"{record.get('steps')} steps); {advice}."
        )
    elif checkpoints and not resume:
        raise SystemExit(
            f"{folder}: holds checkpoints of an unfinished run ({checkpoints[-1].name}); pass "
            f"--resume_from_checkpoint last to continue it, or {advice}."
        )
    elif checkpoints and record and _differences(record.get("settings", {}), settings):
        raise SystemExit(
            f"{folder}: holds checkpoints of a different run ({'; '.join(_differences(record['settings'], settings))}); "
            f"{advice}."
        )
    folder.mkdir(parents=True, exist_ok=True)
    write_run_record(folder, {"settings": dict(settings), "finished": False})


def write_run_record(output_dir: str | os.PathLike, record: Mapping[str, Any]) -> None:
    """`output_dir/run.json` (atomic)."""
    from ..reporting import write_text_atomic

    write_text_atomic(Path(output_dir) / RUN_RECORD, json.dumps(dict(record), indent=1, default=str) + "\n")


def mark_finished(output_dir: str | os.PathLike, function: str, variant: str, steps: int) -> None:
    """Record in `run.json` that the run in `output_dir` ended after `steps` steps."""
    record = _read_record(Path(output_dir)) or {}
    write_run_record(
        output_dir, {**record, "finished": True, "function": function, "variant": variant, "steps": steps}
    )


def check_not_finished(checkpoint: str | os.PathLike | None) -> None:
    """Raise `SystemExit` when `checkpoint` is already at the last step of its run (the stock
    `Trainer` would run one step more and change the finished weights)."""
    if checkpoint is None:
        return
    state_file = Path(checkpoint) / "trainer_state.json"
    state = json.loads(state_file.read_text(encoding="utf-8"))
    step, last = state.get("global_step", 0), state.get("max_steps", 0)
    if last and step >= last:
        raise SystemExit(
            f"{checkpoint}: the run is already finished (step {step} of {last}); nothing to resume. Pass "
            "--overwrite_output_dir to train it again, or a larger --max_steps into a new --output_dir."
        )


def claim_model_folder(folder: str | os.PathLike, overwrite: bool) -> None:
    """Refuse (`SystemExit`) to write a model into `folder` if it holds one, unless `overwrite`; with
    `overwrite`, remove the old model's metrics, summary, card and predictions so that nothing
    describing the old weights stays beside the new ones."""
    path = Path(folder)
    if not path.is_dir() or not any(path.iterdir()):
        return
    if not overwrite:
        raise SystemExit(
            f"{path}: holds a model folder already; pass --overwrite_output_dir to replace it (its metrics, "
            "predictions and card go with it) or choose another --writing_params_path."
        )
    for name in MODEL_DESCRIPTION_FILES:
        (path / name).unlink(missing_ok=True)
    for stale in path.glob("*.predictions"):
        stale.unlink()


__all__ = [
    "RUN_RECORD",
    "check_not_finished",
    "check_writable",
    "claim_model_folder",
    "claim_output_dir",
    "mark_finished",
    "write_run_record",
]
