"""The knowledge-access ("birthplace") study as one launchable recipe.

The course's command lines keep working (positional `function variant pretrain_corpus_path`,
then its flags), with `TrainingArguments` flags on top:

    python recipes/char_gpt/run.py pretrain vanilla wiki.txt --writing_params_path vanilla.pretrain.params
    python recipes/char_gpt/run.py finetune vanilla wiki.txt --reading_params_path vanilla.pretrain.params \
        --writing_params_path vanilla.finetune.params --finetune_corpus_path birth_places_train.tsv
    python recipes/char_gpt/run.py evaluate vanilla wiki.txt --reading_params_path vanilla.finetune.params \
        --eval_corpus_path birth_dev.tsv --outputs_path vanilla.pretrain.dev.predictions

Functions: `pretrain`, `finetune`, `evaluate` (the original three), `london_baseline`, `analyze`,
`quickstart` (`make run`: finetune the shipped pretrained checkpoint and print the study's table)
and `export_checkpoint` (a model folder to a bfloat16 checkpoint). Each function's defaults are the
dataclass defaults plus the preset `presets/<function>.json` (`finetune_from_pretrained.json` with
`--reading_params_path`); `--config FILE` picks another preset, and `run.py FILE.json` runs a
preset that names its function. Options on the command line win over the preset. Bare file
names resolve against the data directory (`--data_dir`, `$HFMODELS_DATA_DIR`, `../shared/data`).
"""

import sys
from pathlib import Path

import hfmodels  # noqa: F401  (registers the Auto classes)
from hfmodels.training.char_gpt_cli import run_command

PRESETS = Path(__file__).resolve().parent / "presets"


def main(argv: list[str] | None = None) -> dict:
    """Run the step of the study that `argv` (default: the command line) asks for."""
    return run_command(sys.argv[1:] if argv is None else list(argv), PRESETS)


if __name__ == "__main__":
    main()
