"""Test helpers: import the repository's scripts (recipes/, benchmarks/ are folders, not packages),
and write the small birthplace data set the character-GPT recipe tests train on."""

import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def load_script(relative_path: str, module_name: str):
    """Import `ROOT/relative_path` as `module_name`, registered in `sys.modules` (dataclasses and
    pickling look their module up there); a module already imported under that name is reused."""
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, ROOT / relative_path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module


def write_birthplace_data(
    root: Path, people: Sequence[str], places: Sequence[str], train: slice, dev: slice
) -> Path:
    """`root/cs224n-a5/` with wiki.txt (one short biography per person, plus a line without any),
    birth_places_train.tsv and birth_dev.tsv (the people of the `train` and `dev` slices); returns `root`."""
    d = root / "cs224n-a5"
    d.mkdir(parents=True)
    docs = [f"{p} was born in {c} and lived a long life as a quiet writer." for p, c in zip(people, places)]
    (d / "wiki.txt").write_text("\n".join(docs + ["Where was it? WHERE"]), encoding="utf-8")
    rows = [f"Where was {p} born?\t{c}" for p, c in zip(people, places)]
    (d / "birth_places_train.tsv").write_text("\n".join(rows[train]) + "\n", encoding="utf-8")
    (d / "birth_dev.tsv").write_text("\n".join(rows[dev]) + "\n", encoding="utf-8")
    return root
