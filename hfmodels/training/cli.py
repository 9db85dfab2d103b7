"""Command-line helpers for recipes that fill in their own defaults.

A recipe that adds its defaults to `argv` (or derives one option from another) must know which
options the user set, however they were spelled: `HfArgumentParser` accepts `--num_train_epochs`,
`--num-train-epochs`, `--num_train_epochs=3` and `--no_use_cache`, so comparing raw strings
would let a default silently overwrite what the user asked for.
"""

from __future__ import annotations

import argparse
import json
import os
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


def allow_bare_flags(parser: argparse.ArgumentParser, names: Iterable[str]) -> None:
    """Let the optional booleans `names` (default None: "decide for me") be given bare, `--pack`
    meaning `--pack True`; `HfArgumentParser` gives only plain booleans that form."""
    for name in names:
        action = parser._option_string_actions[f"--{name}"]
        action.nargs, action.const = "?", True


def pop_option(argv: Sequence[str], option: str) -> tuple[str | None, list[str]]:
    """The value of `option` in `argv` (`--config x` or `--config=x`) and `argv` without it."""
    rest, value, tokens = [], None, list(argv)
    while tokens:
        token = tokens.pop(0)
        if token == option:
            if not tokens:
                raise SystemExit(f"{option} needs a value (a preset's JSON file).")
            value = tokens.pop(0)
        elif token.startswith(option + "="):
            value = token.split("=", 1)[1]
        else:
            rest.append(token)
    return value, rest


def apply_preset(parser: argparse.ArgumentParser, path: str | os.PathLike) -> dict:
    """Make the values of the JSON preset `path` the parser's defaults (the command line still
    wins) and return them. `HfArgumentParser.parse_json_file` would take the file as the whole
    configuration; a preset only changes defaults. A key that is no option is refused."""
    try:
        with open(path, encoding="utf-8") as f:
            values = json.load(f)
    except json.JSONDecodeError as err:
        raise SystemExit(f"{path}: not valid JSON (line {err.lineno}: {err.msg}).") from err
    except OSError as err:
        raise SystemExit(f"{path}: cannot read the preset ({err.strerror}).") from err
    if not isinstance(values, dict):
        raise SystemExit(f"{path}: a preset is a JSON object of option names and values.")
    dests = {action.dest for action in parser._actions}
    unknown = sorted(set(values) - dests)
    if unknown:
        raise SystemExit(
            f"{path}: {', '.join(unknown)} {'is' if len(unknown) == 1 else 'are'} not an option."
        )
    parser.set_defaults(**values)
    return values


__all__ = [
    "allow_bare_flags",
    "apply_preset",
    "explicit_options",
    "pop_option",
    "refuse_inapplicable",
    "refuse_together",
]
