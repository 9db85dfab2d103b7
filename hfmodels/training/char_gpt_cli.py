"""The command line of the birthplace study (`recipes/char_gpt/run.py`): the course's positionals
`function variant pretrain_corpus_path`, then its flags and `TrainingArguments` flags, over the
function's preset.

Defaults come in three layers: the dataclass defaults of [`CharGPTStudyArguments`] and
[`CharGPTTrainingArguments`], then the function's preset (`<presets>/<function>.json`;
`finetune_from_pretrained.json` for `finetune` with `--reading_params_path`, or the file given
with `--config`, JSON or YAML), then the command line, which always wins. A single JSON or YAML
file as the only argument is a preset naming its own function (`run.py presets/quickstart.json`).
`--log_level` and `--disable_tqdm` apply to every step (`hfmodels.training.verbosity`).
"""

from __future__ import annotations

import logging
import os
import shlex
from pathlib import Path

from transformers import set_seed

from ..checkpoints import export_checkpoint
from ..data.paths import resolve_data_dir
from ..reporting import push_folder_to_hub
from .char_gpt import (
    CharGPTStudyArguments,
    CharGPTTrainingArguments,
    argument_parser,
    check_arguments,
    is_main_process,
)
from .cli import apply_preset, config_argument, explicit_options
from .quickstart import quickstart
from .study import StudyRun, analyze, evaluate, finetune, london_baseline, pretrain
from .verbosity import apply_logging

COURSE_POSITIONALS = ("function", "variant", "pretrain_corpus_path")


def default_preset(presets: str | os.PathLike, function: str, reading: bool) -> Path | None:
    """`<presets>/<function>.json` (finetuning a pretrained model: `finetune_from_pretrained.json`), if it exists."""
    name = "finetune_from_pretrained" if function == "finetune" and reading else function
    path = Path(presets) / f"{name}.json"
    return path if path.is_file() else None


def parse_study_arguments(
    argv: list[str], presets: str | os.PathLike
) -> tuple[CharGPTStudyArguments, CharGPTTrainingArguments, set[str]]:
    """The two argument dataclasses of `argv` and the options the command line set."""
    parser = argument_parser()
    config, argv = config_argument(argv)
    positionals = []
    while argv and not argv[0].startswith("-") and len(positionals) < 3:
        positionals.append(argv.pop(0))
    given = explicit_options(parser, argv)
    if {"function", "variant"} & given:
        raise SystemExit(
            "run.py: give the function and the variant as the first two words, as the course does: "
            "run.py pretrain vanilla wiki.txt ..."
        )
    named = dict(zip(COURSE_POSITIONALS, positionals))
    if config and not Path(config).exists() and (Path(presets).parent / config).is_file():
        config = str(Path(presets).parent / config)  # `--config presets/x.json` from anywhere
    preset_file = config or default_preset(
        presets, named.get("function", "quickstart"), "reading_params_path" in given
    )
    preset = apply_preset(parser, preset_file) if preset_file else {}
    if "function" in named and preset.get("function", named["function"]) != named["function"]:
        raise SystemExit(
            f"run.py: the preset {preset_file} is for {preset['function']!r}, not {named['function']!r}."
        )
    function = named.get("function", preset.get("function", "quickstart"))
    variant = named.get("variant", preset.get("variant", "vanilla"))
    parser.set_defaults(**named, output_dir=preset.get("output_dir", f"runs/char_gpt/{function}-{variant}"))
    study, training = parser.parse_args_into_dataclasses(args=argv)
    check_arguments(study, training, given, set(preset) - {"function", "variant", "output_dir"})
    return study, training, given


def export(run: StudyRun) -> dict:
    """`export_checkpoint`: `--reading_params_path` (a model folder) to a bfloat16 checkpoint in
    `--writing_params_path`, keeping its card."""
    if not (run.study.reading_params_path and run.study.writing_params_path):
        raise SystemExit(
            "run.py export_checkpoint: --reading_params_path and --writing_params_path are required."
        )
    dest = export_checkpoint(
        run.study.reading_params_path, run.study.writing_params_path, export_command=run.command
    )
    print(f"Exported {run.study.reading_params_path} to {dest} (bfloat16)")
    return {"checkpoint": str(dest)}


STEPS = {
    "pretrain": pretrain,
    "finetune": finetune,
    "evaluate": evaluate,
    "london_baseline": london_baseline,
    "analyze": analyze,
    "quickstart": quickstart,
    "export_checkpoint": export,
}


def run_command(argv: list[str], presets: str | os.PathLike) -> dict:
    """Parse `argv` and run the requested step of the study; returns its metrics."""
    command = "python recipes/char_gpt/run.py " + " ".join(shlex.quote(a) for a in argv)
    study, training, given = parse_study_arguments(argv, presets)
    apply_logging(training)
    set_seed(training.seed)
    # --push_to_hub uploads the model folder after the step (push_folder_to_hub), not Trainer's output
    # dir with its checkpoints, TensorBoard events, training_args.bin and generic card.
    push, training.push_to_hub = training.push_to_hub, False
    run = StudyRun(study, training, resolve_data_dir(study.data_dir), command, given)
    result = STEPS[study.function](run)
    end_distributed()
    if push and is_main_process():
        push_model_folder(run)
    return result


def push_model_folder(run: StudyRun):
    """Upload the folder the step wrote (`evaluate`: the one it scored) with its card to
    `--hub_model_id` (default: the folder's name); returns the `CommitInfo`."""
    folder = run.study.reading_params_path if run.study.function == "evaluate" else run.model_folder()
    repo_id = run.training.hub_model_id or Path(folder).resolve().name
    commit = push_folder_to_hub(
        folder, repo_id, token=run.training.hub_token, private=run.training.hub_private_repo
    )
    logging.getLogger(__name__).info("pushed the model folder %s to %s", folder, commit.commit_url)
    return commit


def end_distributed() -> None:
    """Wait for every process (the main one saves, decodes and writes reports after training) and
    tear the process group down, so that no process exits with gloo's threads still running, which
    aborts it (`terminate called without an active exception`)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


__all__ = [
    "STEPS",
    "default_preset",
    "end_distributed",
    "parse_study_arguments",
    "push_model_folder",
    "run_command",
]
