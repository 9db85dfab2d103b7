"""Command-line helpers for recipes that fill in their own defaults.

A recipe that adds its defaults to `argv` (or derives one option from another) must know which
options the user set, however they were spelled: `HfArgumentParser` accepts `--num_train_epochs`,
`--num-train-epochs`, `--num_train_epochs=3` and `--no_use_cache`, so comparing raw strings
would let a default silently overwrite what the user asked for.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Sequence


def explicit_options(parser: argparse.ArgumentParser, argv: Sequence[str]) -> set[str]:
    """The `dest` of every option written in `argv`, in any spelling the parser accepts. Unknown
    options are left out, for the parser to reject."""
    given = set()
    for token in argv:
        if token.startswith("--"):
            action = parser._option_string_actions.get(token.split("=", 1)[0])
            if action is not None:
                given.add(action.dest)
    return given


def refuse_together(
    given: set[str], pairs: Iterable[tuple[str, str]], prog: str, error: type[Exception] = SystemExit
) -> None:
    """Raise `error` naming both options when a pair that sets the same thing was given twice."""
    for a, b in pairs:
        if a in given and b in given:
            raise error(f"{prog}: --{a} and --{b} set the same thing; give only one of them.")


__all__ = ["explicit_options", "refuse_together"]
