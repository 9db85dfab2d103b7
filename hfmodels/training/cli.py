"""Command-line helpers for recipes that fill in their own defaults.

A recipe that adds its defaults to `argv` (or derives one option from another) must know which
options the user set, however they were spelled: `HfArgumentParser` accepts `--num_train_epochs`,
`--num-train-epochs`, `--num_train_epochs=3` and `--no_use_cache`, so comparing raw strings
would let a default silently overwrite what the user asked for.

Configuration files follow `HfArgumentParser`: JSON or YAML by extension (`read_config`). Every
recipe takes one as its only argument (`train.py run.yaml`: the file is the whole configuration) or
as `--config FILE` beside flags (the file's values are defaults, the command line wins:
`apply_preset`). `docs/conventions.md`, "Command line", lists the conventions.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import yaml


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
                raise SystemExit(f"{option} needs a value (a JSON or YAML file).")
            value = tokens.pop(0)
        elif token.startswith(option + "="):
            value = token.split("=", 1)[1]
        else:
            rest.append(token)
    return value, rest


#: The file names a configuration may have: `HfArgumentParser.parse_json_file` / `parse_yaml_file`.
CONFIG_SUFFIXES = (".json", ".yaml", ".yml")


def is_config_file(name: str | os.PathLike) -> bool:
    """Whether `name` is a JSON or YAML configuration file name (by its extension)."""
    return str(name).lower().endswith(CONFIG_SUFFIXES)


def config_argument(argv: Sequence[str], option: str = "--config") -> tuple[str | None, list[str]]:
    """The configuration file of `argv` and the rest: a JSON/YAML file as the only argument (the file
    is the whole configuration, as `run_clm.py`'s `parse_json_file` / `parse_yaml_file` branch), else
    the value of `option` (`pop_option`)."""
    if len(argv) == 1 and is_config_file(argv[0]):
        return str(argv[0]), []
    return pop_option(argv, option)


def choose_preset(argv: Sequence[str], presets: str | os.PathLike, default: str) -> tuple[Path, list[str]]:
    """The preset file of `argv` and the rest of `argv`, for a recipe with named presets: a JSON/YAML
    file as the only argument, `--config FILE` or `--preset NAME` (a file, or `NAME.json`/`.yaml`/
    `.yml` in `presets`), else `presets/<default>.json`. Naming a preset twice, or one that does
    not exist, is refused."""
    config, rest = config_argument(argv)
    preset, rest = pop_option(rest, "--preset")
    if config and preset:
        raise SystemExit(f"--config {config} and --preset {preset} both name the preset; give one.")
    name = config or preset or default
    option = "--config" if config else "--preset"
    candidates = [Path(name)] if is_config_file(name) else []
    candidates += [Path(presets) / name] + [Path(presets) / f"{name}{suffix}" for suffix in CONFIG_SUFFIXES]
    for path in candidates:
        if path.is_file():
            return path, rest
    names = ", ".join(sorted({p.stem for p in Path(presets).iterdir() if is_config_file(p)}))
    raise SystemExit(f"{option} {name}: neither a file nor one of {names}.")


class _UniqueKeyLoader(yaml.SafeLoader):
    """`yaml.SafeLoader` that refuses a key given twice in one mapping (PyYAML keeps the last)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"the key {key!r} is given twice", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep)


def _unique_json_keys(pairs: list[tuple[str, object]]) -> dict:
    keys = [k for k, _ in pairs]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise ValueError(f"the key {twice[0]!r} is given twice")
    return dict(pairs)


def read_config(path: str | os.PathLike) -> dict:
    """The option values of the JSON or YAML file `path` (by extension: `CONFIG_SUFFIXES`), as a
    dict. A file that cannot be read or parsed, a key given twice, or a top level that is not a
    mapping raises `SystemExit` naming the file, the line and the problem."""
    kind = "YAML" if str(path).lower().endswith((".yaml", ".yml")) else "JSON"
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise SystemExit(f"{path}: cannot read the configuration ({err.strerror}).") from err
    try:
        if kind == "YAML":
            values = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506  (a SafeLoader subclass)
        else:
            values = json.loads(text, object_pairs_hook=_unique_json_keys)
    except json.JSONDecodeError as err:
        raise SystemExit(f"{path}: not valid JSON (line {err.lineno}: {err.msg}).") from err
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise SystemExit(f"{path}: not valid YAML ({where}{getattr(err, 'problem', None) or err}).") from err
    except ValueError as err:  # a JSON key given twice
        raise SystemExit(f"{path}: {err}.") from err
    if values is None:
        values = {}  # an empty YAML file: no option set
    if not isinstance(values, dict):
        raise SystemExit(f"{path}: a configuration is a {kind} mapping of option names to values.")
    return values


def apply_preset(parser: argparse.ArgumentParser, path: str | os.PathLike) -> dict:
    """Make the values of the JSON or YAML file `path` (`read_config`) the parser's defaults (the
    command line still wins) and return them. `HfArgumentParser.parse_json_file` would take the file
    as the whole configuration and skip the recipe's own defaults and checks; a preset only changes
    defaults. A key that is no option is refused, naming it; a required option the file sets is no
    longer required on the command line."""
    values = read_config(path)
    unknown = sorted(set(values) - {action.dest for action in parser._actions})
    if unknown:
        raise SystemExit(
            f"{path}: {', '.join(unknown)} {'is' if len(unknown) == 1 else 'are'} not an option."
        )
    for action in parser._actions:
        if action.dest in values:
            action.required = False
    parser.set_defaults(**values)
    return values


__all__ = [
    "allow_bare_flags",
    "apply_preset",
    "choose_preset",
    "CONFIG_SUFFIXES",
    "config_argument",
    "explicit_options",
    "is_config_file",
    "pop_option",
    "read_config",
    "refuse_inapplicable",
    "refuse_together",
]
