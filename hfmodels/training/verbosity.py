"""`--log_level` and `--disable_tqdm` for every recipe, the libraries' loggers and bars included.

`Trainer` applies `TrainingArguments.log_level` to transformers' logger and `disable_tqdm` to its
own training bar only; `datasets` (`Map`, `Generating ... split`, `Saving the dataset`),
`huggingface_hub` and transformers' weight-loading bars, and the recipes' and hfmodels' loggers,
are set here, in one call at the start of a recipe, before any data set is built
(`docs/conventions.md`, "Command line").
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field

import datasets
import huggingface_hub.utils
import transformers
from transformers.training_args import trainer_log_levels

#: Format of the recipes' own log lines (the root handler).
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


@dataclass
class VerbosityArguments:
    """`TrainingArguments`' `--log_level` and `--disable_tqdm`, for a recipe that has no
    `TrainingArguments` (e.g. `recipes/multitask_bert/zero_shot.py`)."""

    log_level: str = field(
        default="passive",
        metadata={
            "help": "debug | info | warning | error | critical | passive (the recipe's default)",
            "choices": list(trainer_log_levels),
        },
    )
    disable_tqdm: bool = field(default=False, metadata={"help": "no progress bars"})


def process_log_level(args) -> tuple[int, bool]:
    """This process's level (`TrainingArguments.get_process_log_level`: `--log_level` on the main
    process, `--log_level_replica` on the others) and whether it was chosen (not `passive`)."""
    if hasattr(args, "get_process_log_level"):
        chosen = args.log_level if args.should_log else args.log_level_replica
        return args.get_process_log_level(), chosen != "passive"
    level = trainer_log_levels[args.log_level]
    return (level, True) if level >= 0 else (transformers.utils.logging.get_verbosity(), False)


#: Loggers set to a chosen level besides the libraries that have a `set_verbosity` of their own.
OTHER_LIBRARY_LOGGERS = ("accelerate", "evaluate")


def apply_logging(args, *loggers: str) -> int:
    """Set the loggers and progress bars from `args` (`TrainingArguments` or [`VerbosityArguments`]);
    returns the level of this process's own log lines (`hfmodels` and the recipe's `loggers`).

    A chosen level goes to transformers', datasets' and huggingface_hub's loggers (their
    `set_verbosity`), to accelerate's and evaluate's, to `hfmodels` and to `loggers`. `passive`
    leaves the libraries as they are and logs hfmodels' and the recipe's lines at INFO. A root
    handler is added where there is none, as `run_clm.py` does. `--disable_tqdm True` turns off the
    bars of datasets, huggingface_hub and transformers (and so hfmodels', which follow datasets'
    switch); False turns them back on, unless an `HF_*_DISABLE_PROGRESS_BARS` variable decides. The
    other processes of a distributed run (`should_log` False) show no bars, as Trainer's own bar is
    on the main process only; each would draw the same data sets' bars again."""
    level, chosen = process_log_level(args)
    if chosen:
        transformers.utils.logging.set_verbosity(level)
        datasets.utils.logging.set_verbosity(level)
        huggingface_hub.utils.logging.set_verbosity(level)
        for name in OTHER_LIBRARY_LOGGERS:
            logging.getLogger(name).setLevel(level)
    own = level if chosen else logging.INFO
    logging.basicConfig(format=LOG_FORMAT)  # a no-op where the root logger already has a handler
    for name in ("hfmodels", *loggers):
        logging.getLogger(name).setLevel(own)
    with warnings.catch_warnings():  # the libraries warn where an environment variable has priority
        warnings.simplefilter("ignore")
        if args.disable_tqdm or not getattr(args, "should_log", True):
            datasets.disable_progress_bars()
            huggingface_hub.utils.disable_progress_bars()
            transformers.utils.logging.disable_progress_bar()
        else:
            datasets.enable_progress_bars()
            huggingface_hub.utils.enable_progress_bars()
            transformers.utils.logging.enable_progress_bar()
    return own


__all__ = ["LOG_FORMAT", "OTHER_LIBRARY_LOGGERS", "VerbosityArguments", "apply_logging", "process_log_level"]
