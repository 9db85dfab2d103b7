"""The study's table and plots from a study folder (`run_study.sh` / `run_full_study.sh` output).

    python recipes/char_gpt/summarize_study.py runs/full [--data_dir ../shared/data] [--compare OTHER ...]

Writes `study.md`, `study.json` and `study_pretraining.png` into the folder; see
`hfmodels.training.study_summary`.
"""

from hfmodels.training.study_summary import main

if __name__ == "__main__":
    main()
