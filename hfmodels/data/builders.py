"""The project's data sets as `datasets` builders: `datasets.GeneratorBasedBuilder` subclasses (what
replaces a loading script now that `datasets` no longer runs scripts), each backed by the library's
own strict reader, each with a dataset card and a filled `DatasetInfo` (see docs/datasets.md).

| builder | data set | splits | reader |
| --- | --- | --- | --- |
| [`WikiBuilder`] | wiki.txt, the char-GPT pretraining corpus | train | `birthplaces.read_wiki_file` |
| [`BirthplacesBuilder`] | birthplace questions | train, validation, test | `birthplaces.read_birthplace_file` |
| [`SstBuilder`] | SST-5 sentences | train, validation, test | `minbert.read_minbert_file` |
| [`CfimdbBuilder`] | CFIMDB movie reviews | train, validation, test | `minbert.read_minbert_file` |
| [`QuoraBuilder`] | Quora question pairs | train, validation | `minbert.load_quora` |
| [`StsBuilder`] | STS benchmark pairs | train, validation, test | `minbert.read_minbert_file` |
| [`WikiText2Builder`] | WikiText-2 (reduced split) | train, validation, test | `wikitext.load_wikitext2` |

Use a builder the way `load_dataset` uses one internally (a data directory laid out like the
shared one: `cs224n-a5/`, `minbert/`, `wikitext-2/`; `None` resolves it as every loader does, see
`hfmodels.data.paths.resolve_data_dir`):

```python
from hfmodels.data.builders import SstBuilder, load_builder_dataset

builder = SstBuilder(data_dir="../shared/data")
builder.download_and_prepare()  # Arrow files in the datasets cache, keyed by the files' size and mtime
sst = builder.as_dataset()  # DatasetDict: train / validation / test
stream = builder.as_streaming_dataset()  # dict of IterableDataset, no cache written
sst = load_builder_dataset("sst", data_dir="../shared/data")  # the same in one call
```

For plain `datasets.load_dataset`, here or on the Hub without hfmodels, write a dataset folder
(Parquet files and the card, see [`export_dataset_folder`]):

```python
export_dataset_folder("sst", "sst_folder", data_dir="../shared/data")
sst = datasets.load_dataset("sst_folder")  # streaming=True works too
```

The same split names everywhere: `train` / `validation` / `test`. The course's file names stay
(`validation` of the birthplaces is `birth_dev.tsv`, of SST `ids-sst-dev.csv`). One builder has one
feature set for all its splits, so the unlabelled test splits keep the label column with the
Hub's GLUE convention: `label = -1` for class labels, `None` for STS similarity and for the
birthplace `place`. A malformed file raises the reader's `DataFormatError` (file, line, value).
"""

from __future__ import annotations

import dataclasses
import os
import re
import tempfile
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import datasets
from datasets import ClassLabel, Features, Value
from huggingface_hub import DatasetCard

from ..reporting import write_text_atomic
from . import birthplaces, minbert, wikitext
from .paths import data_file

CARDS = "cards"
_VERSION = datasets.Version("1.0.0")


def card_path(name: str) -> Path:
    """The packaged dataset card `hfmodels/data/cards/<name>.md`."""
    return Path(str(resources.files("hfmodels.data").joinpath(CARDS, f"{name}.md")))


def load_card(name: str) -> DatasetCard:
    """The packaged dataset card of the data set `name`, parsed by huggingface_hub."""
    return DatasetCard.load(card_path(name))


def _card_info(name: str, features: Features) -> datasets.DatasetInfo:
    """`DatasetInfo` from the card: its first paragraph is the description; license, homepage and
    citation are the card's YAML fields."""
    card = load_card(name)
    body = re.sub(r"^#.*\n+", "", card.text.strip())
    data = card.data.to_dict()
    return datasets.DatasetInfo(
        description=body.split("\n\n")[0].replace("\n", " "),
        features=features,
        citation=data["citation"].strip(),
        homepage=data["homepage"],
        license=data["license"],
    )


class _ReaderBuilder(datasets.GeneratorBasedBuilder):
    """Shared plumbing: the card-backed `DatasetInfo`, one split generator per file, and a cache
    key that changes when a data file changes (a builder class has no script to hash)."""

    CARD: str = ""
    FEATURES: Features
    #: split name -> file relative to the data directory
    FILES: dict[str, str] = {}
    VERSION = _VERSION

    def __init__(self, *args: Any, data_dir: str | os.PathLike | None = None, **kwargs: Any):
        if kwargs.get("hash") is None:
            kwargs["hash"] = self._files_key(data_dir)
        kwargs.setdefault("dataset_name", self.CARD)  # else every builder is named after this module
        super().__init__(*args, data_dir=None if data_dir is None else os.fspath(data_dir), **kwargs)

    @classmethod
    def _files_key(cls, data_dir: str | os.PathLike | None) -> str:
        parts = []
        for relative in sorted(set(cls.FILES.values())):
            stat = data_file(relative, data_dir).stat()
            parts.append(f"{relative}:{stat.st_size}:{stat.st_mtime_ns}")
        return datasets.fingerprint.Hasher.hash(parts)

    def _info(self) -> datasets.DatasetInfo:
        return _card_info(self.CARD, self.FEATURES)

    def _split_generators(self, dl_manager) -> list[datasets.SplitGenerator]:
        # Files come from `data_file` (data directory, cache or verified download) and are read here,
        # eagerly: datasets wraps an error raised while generating in a generic DatasetGenerationError,
        # while one raised here reaches the user as the reader's message (file, line, value).
        return [
            datasets.SplitGenerator(
                name=split, gen_kwargs={"rows": tuple(self._rows(split, str(self._path(relative))))}
            )
            for split, relative in self.FILES.items()
        ]

    def _path(self, relative: str):
        return data_file(relative, self.config.data_dir)

    def _generate_examples(self, rows: tuple[dict, ...]) -> Iterator[tuple[int, dict]]:
        # a tuple, not a list: datasets would take a list in gen_kwargs for shards
        yield from enumerate(rows)

    def _rows(self, split: str, path: str):
        """The rows of `split`, read from `path` by the data set's reader."""
        raise NotImplementedError


class WikiBuilder(_ReaderBuilder):
    """wiki.txt (the char-GPT pretraining corpus): one `train` row per line (`text`, `line`)."""

    CARD = "wiki"
    FEATURES = birthplaces.WIKI_FEATURES
    FILES = {"train": birthplaces.WIKI_FILE}

    def _rows(self, split: str, path: str):
        return birthplaces.read_wiki_file(path)


class BirthplacesBuilder(_ReaderBuilder):
    """The birthplace questions: `train`, `validation` (birth_dev.tsv), `test` (no answers: `place`
    is None). Columns `question`, `name`, `place`, `line`."""

    CARD = "birthplaces"
    FEATURES = birthplaces.BIRTHPLACE_FEATURES
    FILES = {
        "train": birthplaces.BIRTHPLACE_FILES["train"],
        "validation": birthplaces.BIRTHPLACE_FILES["validation"],
        "test": birthplaces.BIRTHPLACE_FILES["test"],
    }

    def _rows(self, split: str, path: str):
        labelled = split != "test"
        for row in birthplaces.read_birthplace_file(path, labelled=labelled):
            yield row if labelled else {**row, "place": None}


def _test_label(feature) -> int | None:
    return -1 if isinstance(feature, ClassLabel) else None


class _MinBertBuilder(_ReaderBuilder):
    """A minBERT classification or regression set with the course's train/dev/test-student files."""

    KIND: str = ""
    PREFIX: str = ""

    def __init_subclass__(cls, **kwargs: Any):
        super().__init_subclass__(**kwargs)
        if cls.KIND:
            cls.CARD = cls.KIND
            cls.FEATURES = minbert.minbert_features(cls.KIND)
            cls.FILES = {
                "train": f"minbert/{cls.PREFIX}-train.csv",
                "validation": f"minbert/{cls.PREFIX}-dev.csv",
                "test": f"minbert/{cls.PREFIX}-test-student.csv",
            }

    def _rows(self, split: str, path: str):
        labelled = split != "test"
        columns = minbert.read_minbert_file(path, self.KIND, labeled=labelled)
        if not labelled:
            columns["label"] = [_test_label(self.FEATURES["label"])] * len(columns["id"])
        names = list(self.FEATURES)
        for values in zip(*(columns[n] for n in names)):
            yield dict(zip(names, values))


class SstBuilder(_MinBertBuilder):
    """SST-5: `id`, `sentence`, `label` (five classes, very negative ... very positive)."""

    KIND, PREFIX = "sst", "ids-sst"


class CfimdbBuilder(_MinBertBuilder):
    """CFIMDB: `id`, `sentence`, `label` (negative / positive)."""

    KIND, PREFIX = "cfimdb", "ids-cfimdb"


class StsBuilder(_MinBertBuilder):
    """STS benchmark: `id`, `sentence1`, `sentence2`, `label` (similarity 0-5, float32)."""

    KIND, PREFIX = "sts", "sts"


@dataclasses.dataclass
class QuoraConfig(datasets.BuilderConfig):
    """The Quora split: a pair goes to `validation` by a seeded hash of its id (`minbert.quora_split_of`).

    Args:
        seed (`int`, *optional*, defaults to 11711): the split's seed.
        dev_fraction (`float`, *optional*, defaults to 0.2): the share of pairs in `validation`.
    """

    seed: int = minbert.QUORA_SPLIT_SEED
    dev_fraction: float = minbert.QUORA_DEV_FRACTION


class QuoraBuilder(_ReaderBuilder):
    """Quora question pairs from quora.csv: `train` / `validation` by the seeded split of
    `minbert.load_quora` (its two truncated rows skipped with a warning, as the loader does)."""

    CARD = "quora"
    FEATURES = minbert.minbert_features("quora")
    FILES = {"train": "minbert/quora.csv", "validation": "minbert/quora.csv"}
    BUILDER_CONFIG_CLASS = QuoraConfig

    def _rows(self, split: str, path: str):
        columns = minbert.read_minbert_file(path, "quora", labeled=True, on_bad_row="skip")
        names = list(self.FEATURES)
        for values in zip(*(columns[n] for n in names)):
            row = dict(zip(names, values))
            if minbert.quora_split_of(row["id"], self.config.seed, self.config.dev_fraction) == split:
                yield row


class WikiText2Builder(_ReaderBuilder):
    """WikiText-2 on the offline files: `train` (valid.txt but its last 6 articles), `validation`
    (those 6), `test` (test.txt); one row per article (`title`, `text`), as `wikitext.load_wikitext2`."""

    CARD = "wikitext2"
    FEATURES = Features({"title": Value("string"), "text": Value("string")})
    FILES = {
        "train": "wikitext-2/valid.txt",
        "validation": "wikitext-2/valid.txt",
        "test": "wikitext-2/test.txt",
    }

    def _rows(self, split: str, path: str):
        return wikitext.load_wikitext2(self.config.data_dir)[split]


BUILDERS: dict[str, type[_ReaderBuilder]] = {
    "wiki": WikiBuilder,
    "birthplaces": BirthplacesBuilder,
    "sst": SstBuilder,
    "cfimdb": CfimdbBuilder,
    "quora": QuoraBuilder,
    "sts": StsBuilder,
    "wikitext2": WikiText2Builder,
}


def load_builder_dataset(
    name: str,
    data_dir: str | os.PathLike | None = None,
    split: str | None = None,
    streaming: bool = False,
    cache_dir: str | os.PathLike | None = None,
    **config_kwargs: Any,
):
    """`load_dataset` for one of [`BUILDERS`]: prepare (or reuse) the cache and return the
    `DatasetDict` / `Dataset`, or with `streaming=True` the `IterableDataset`(s) read straight from
    the files. `config_kwargs` go to the builder's config (Quora: `seed`, `dev_fraction`)."""
    if name not in BUILDERS:
        raise ValueError(f"unknown data set {name!r}; allowed: {', '.join(BUILDERS)}")
    builder = BUILDERS[name](
        data_dir=data_dir, cache_dir=None if cache_dir is None else os.fspath(cache_dir), **config_kwargs
    )
    if streaming:
        return builder.as_streaming_dataset(split=split)
    builder.download_and_prepare()
    return builder.as_dataset(split=split)


def _write_parquet_atomic(dataset: datasets.Dataset, path: Path) -> None:
    """`Dataset.to_parquet` through a temporary file in the same folder and `os.replace`."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        dataset.to_parquet(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def export_dataset_folder(
    name: str,
    output_dir: str | os.PathLike,
    data_dir: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    **config_kwargs: Any,
) -> Path:
    """Write the data set `name` as a Hub-style dataset folder that plain `datasets.load_dataset`
    reads, here or after `HfApi().upload_folder(..., repo_type="dataset")`, with no hfmodels installed:
    `data/<split>-00000-of-00001.parquet` (features kept in the Parquet metadata) and the card as
    `README.md`, its YAML `configs` naming each split's file.

    ```python
    export_dataset_folder("sst", "sst_folder", data_dir="../shared/data")
    sst = datasets.load_dataset("sst_folder")  # or load_dataset("sst_folder", streaming=True)
    ```
    """
    prepared = load_builder_dataset(name, data_dir=data_dir, cache_dir=cache_dir, **config_kwargs)
    out = Path(output_dir)
    (out / "data").mkdir(parents=True, exist_ok=True)
    files = []
    for split, dataset in prepared.items():
        relative = f"data/{split}-00000-of-00001.parquet"
        _write_parquet_atomic(dataset, out / relative)
        files.append({"split": split, "path": relative})
    card = load_card(name)
    # the prepared info (sizes in bytes included), which datasets reads back from the card
    card.data.dataset_info = next(iter(prepared.values())).info._to_yaml_dict()
    card.data.configs = [{"config_name": "default", "data_files": files}]
    write_text_atomic(out / "README.md", str(card))
    return out


__all__ = [
    "BUILDERS",
    "BirthplacesBuilder",
    "CfimdbBuilder",
    "QuoraBuilder",
    "QuoraConfig",
    "SstBuilder",
    "StsBuilder",
    "WikiBuilder",
    "WikiText2Builder",
    "card_path",
    "export_dataset_folder",
    "load_builder_dataset",
    "load_card",
]
