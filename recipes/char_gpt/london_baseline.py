"""The course's London baseline: predict "London" for every question of the dev set.

    python recipes/char_gpt/london_baseline.py [--data_dir DIR] [--eval_corpus_path birth_dev.tsv]

Prints `Correct: 25.0 out of 500.0: 5.0%` on birth_dev.tsv. Same as `run.py london_baseline`.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from run import main  # noqa: E402

if __name__ == "__main__":
    main(["london_baseline", *sys.argv[1:]])
