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


def refuse_inapplicable(
    given: set[str],
    rules: Iterable[tuple[str, bool, str]],
    prog: str,
    context: str,
    error: type[Exception] = SystemExit,
) -> None:
    """Raise `error` for the first option the user gave (`given`) that would have no effect here.

    `rules` holds `(option, used, applies_to)`: `used` says whether this run uses the option,
    `applies_to` what it is for. An option that would be ignored without a word is refused instead,
    naming what it applies to and the run (`context`) it has no effect on."""
    for option, used, applies_to in rules:
        if option in given and not used:
            raise error(
                f"{prog}: --{option} has no effect on {context}: it applies to {applies_to}. Leave it out."
            )


__all__ = ["explicit_options", "refuse_inapplicable", "refuse_together"]
