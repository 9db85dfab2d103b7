"""The course's London baseline: predict "London" for every question of the dev set.

    python recipes/char_gpt/london_baseline.py [--data_dir DIR] [--eval_corpus_path birth_dev.tsv] [--outputs_path P]

Prints `Correct: 25.0 out of 500.0: 5.0%` on birth_dev.tsv. Same as `run.py london_baseline`.
"""

import sys
from pathlib import Path

from hfmodels.training.char_gpt_cli import run_command

if __name__ == "__main__":
    run_command(["london_baseline", *sys.argv[1:]], Path(__file__).resolve().parent / "presets")
