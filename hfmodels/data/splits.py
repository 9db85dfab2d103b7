"""The project's one split vocabulary (docs/datasets.md, "One split vocabulary"): `train`,
`validation` and `test`, the names of the `datasets` builders and of transformers' example scripts.

The course calls the validation split `dev`. That name stays only where course tools or earlier
run folders read it: the course's data file names (`birth_dev.tsv`, `ids-sst-dev.csv`), the
course-format prediction files (`para-dev-output.csv`, which the course's grader expects), and the
metric keys of `metrics.json` (`dev_accuracy`, read by published model folders and study summaries).
[`course_split_name`] is that one mapping; a split argument spelled `dev` is refused
([`check_split_name`]) rather than silently taken for `validation`.
"""

from __future__ import annotations

#: The project's split names.
SPLITS = ("train", "validation", "test")
#: The course's name of each split the course spells differently.
COURSE_SPLIT_NAMES = {"validation": "dev"}


def check_split_name(split: str, argument: str = "split") -> str:
    """`split` as given, unless it is the course's spelling of a project split (`dev`): then a
    `ValueError` naming `argument` and the project's name."""
    for project, course in COURSE_SPLIT_NAMES.items():
        if split == course:
            raise ValueError(
                f"{argument}={split!r}: the project calls this split {project!r} (docs/datasets.md, "
                f'"One split vocabulary"); metric keys and course file names keep {course!r} by themselves.'
            )
    return split


def course_split_name(split: str, argument: str = "split") -> str:
    """The course's name of `split`, for course file names and metric keys: `dev` for `validation`,
    any other name (`train`, `test`, `holdout`) unchanged. `dev` itself is refused
    ([`check_split_name`], naming `argument`)."""
    return COURSE_SPLIT_NAMES.get(check_split_name(split, argument), split)


__all__ = ["COURSE_SPLIT_NAMES", "SPLITS", "check_split_name", "course_split_name"]
