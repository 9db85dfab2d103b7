"""Choose the finetuning rate and epochs of a pretrained character GPT without looking at dev.

Part of the training questions is held out; every (rate, epochs) pair of the grid finetunes the
model on the rest and is scored on them; the best pair finetunes the model again on all training
questions and only that model is scored on dev (see `hfmodels.training.selection`).

    python recipes/char_gpt/select_finetune.py vanilla --reading_params_path runs/full/vanilla.pretrain.params \
        --data_dir ../shared/data --output_dir runs/full/select --lrs 3e-5 1e-4 2e-4 6e-4 --epochs 10

Any option of `run.py finetune` (`--seed`, `--bf16`, ...) applies to every pair, over the preset
`presets/finetune_from_pretrained.json`, except those the grid sets itself (`--finetune_lr`,
`--learning_rate`, `--num_train_epochs`, `--max_steps`), which are refused. Outputs:
`selection.json`, `selection.md`, `selection.png` and one folder per pair. Rerun, it keeps the
pairs already scored.
"""

import sys
from pathlib import Path

import hfmodels  # noqa: F401  (registers the Auto classes)
from hfmodels.training.selection import run_selection_command

PRESET = Path(__file__).resolve().parent / "presets" / "finetune_from_pretrained.json"


def main(argv: list[str] | None = None) -> dict:
    """Run the selection that `argv` (default: the command line) describes."""
    return run_selection_command(sys.argv[1:] if argv is None else list(argv), PRESET)


if __name__ == "__main__":
    main()
