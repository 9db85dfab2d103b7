"""Tests of hfmodels.data.builders: every builder gives the library readers' rows (prepared and
streaming) on small files written here and on the shared data when present; cards and
`DatasetInfo` agree with the data; bad files raise the readers' errors; the cache follows the files."""

import os
from pathlib import Path

import pytest
import yaml
from datasets import ClassLabel, Features, load_dataset

from hfmodels.data import birthplaces, minbert, wikitext
from hfmodels.data.builders import (
    BUILDERS,
    SstBuilder,
    card_path,
    export_dataset_folder,
    load_builder_dataset,
    load_card,
)
from hfmodels.data.text_files import DataFormatError

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HFMODELS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")


def _write(root: Path, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


@pytest.fixture
def tiny(tmp_path) -> Path:
    """A data directory laid out like the shared one, with a few rows per file."""
    root = tmp_path / "data"
    _write(root, "cs224n-a5/wiki.txt", "Alice was born in Paris.\nBob, a painter, was born in Rome.")
    _write(
        root, "cs224n-a5/birth_places_train.tsv", "Where was Alice born?\tParis\nWhere was Bob born?\tRome\n"
    )
    _write(root, "cs224n-a5/birth_dev.tsv", "Where was Carol Ann born?\tOslo\n")
    _write(root, "cs224n-a5/birth_test_inputs.tsv", "Where was Dan born?\nWhere was Eve born?\n")
    for prefix, top in (("ids-sst", 4), ("ids-cfimdb", 1)):
        rows = "".join(
            f'{k}\t{prefix}{k}\t sentence {k} with ""quotes""\t{k % (top + 1)}\n' for k in range(5)
        )
        _write(root, f"minbert/{prefix}-train.csv", "\tid\tsentence\tsentiment\n" + rows)
        _write(
            root, f"minbert/{prefix}-dev.csv", "\tid\tsentence\tsentiment\n" + rows[: rows.index("\n") + 1]
        )
        # the course's malformed test header, with the extra float column it implies
        _write(root, f"minbert/{prefix}-test-student.csv", f"0\t\tid\tsentence\n1\t0.0\t{prefix}t\t a test\n")
    pairs = "".join(f"{k}\ts{k}\tfirst {k}\tsecond {k}\t{k * 0.7 % 5:.1f}\n" for k in range(4))
    _write(root, "minbert/sts-train.csv", "\tid\tsentence1\tsentence2\tsimilarity\n" + pairs)
    _write(root, "minbert/sts-dev.csv", "\tid\tsentence1\tsentence2\tsimilarity\n" + pairs)
    _write(root, "minbert/sts-test-student.csv", "\tid\tsentence1\tsentence2\n0\tst\ta\tb\n")
    quora = "".join(f"{k}\tq{k}\tquestion {k}?\tother {k}?\t{k % 2}.0\n" for k in range(40))
    _write(root, "minbert/quora.csv", "\tid\tsentence1\tsentence2\tis_duplicate\n" + quora)
    articles = "".join(f" = Title {k} = \n \n word{k} @-@ more <unk> \n" for k in range(8))
    _write(root, "wikitext-2/valid.txt", articles)
    _write(root, "wikitext-2/test.txt", " = Test = \n test words \n")
    return root


def _norm(row: dict) -> dict:
    # float32 in Arrow, a Python float when streamed: compare at float32 precision
    return {k: round(v, 5) if isinstance(v, float) else v for k, v in row.items()}


def _reader_splits(name: str, data_dir: Path) -> dict[str, list[dict]]:
    """What the library's own loaders give, in the builders' split names and test-label convention."""
    if name == "wiki":
        return {"train": list(birthplaces.load_wiki_corpus(data_dir))}
    if name == "birthplaces":
        loaded = birthplaces.load_birthplaces(data_dir)
        return {
            "train": list(loaded["train"]),
            "validation": list(loaded["validation"]),
            "test": [{**r, "place": None} for r in loaded["test"]],
        }
    if name == "wikitext2":
        return {split: list(ds) for split, ds in wikitext.load_wikitext2(data_dir).items()}
    loaded = minbert.load_minbert(name, data_dir)
    out = {split: list(ds) for split, ds in loaded.items()}
    if "test" in out:
        missing = -1 if isinstance(minbert.minbert_features(name)["label"], ClassLabel) else None
        out["test"] = [{**r, "label": missing} for r in out["test"]]
    return out


def _check_builder(name: str, data_dir: Path, cache_dir: Path) -> None:
    expected = _reader_splits(name, data_dir)
    prepared = load_builder_dataset(name, data_dir=data_dir, cache_dir=cache_dir)
    assert sorted(prepared) == sorted(expected), name
    for split, rows in expected.items():
        assert prepared[split].num_rows == len(rows), (name, split)
        assert [_norm(r) for r in prepared[split]] == [_norm(r) for r in rows], (name, split)
        assert prepared[split].features == BUILDERS[name].FEATURES
    streamed = load_builder_dataset(name, data_dir=data_dir, streaming=True)
    assert sorted(streamed) == sorted(expected)
    for split, rows in expected.items():
        assert [_norm(r) for r in streamed[split]] == [_norm(r) for r in rows], (name, split, "streaming")


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_builder_rows_equal_reader_rows_on_small_files(name, tiny, tmp_path):
    _check_builder(name, tiny, tmp_path / "cache")


@pytest.mark.skipif(not SHARED.is_dir(), reason="the shared data directory is not on this machine")
@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_builder_rows_equal_reader_rows_on_shared_data(name, tmp_path):
    _check_builder(name, SHARED.resolve(), tmp_path / "cache")


def test_split_names_are_train_validation_test():
    for name, builder_class in BUILDERS.items():
        assert set(builder_class.FILES) <= {"train", "validation", "test"}, name
        if name != "wiki":  # the pretraining corpus is one train split
            assert "validation" in builder_class.FILES, name


def test_quora_seed_changes_the_split_and_matches_load_quora(tiny, tmp_path):
    default = load_builder_dataset("quora", data_dir=tiny, cache_dir=tmp_path / "c")
    other = load_builder_dataset("quora", data_dir=tiny, cache_dir=tmp_path / "c", seed=1, dev_fraction=0.5)
    expected = minbert.load_quora(tiny, seed=1, dev_fraction=0.5)
    assert default["validation"]["id"] != other["validation"]["id"]
    assert other["validation"]["id"] == expected["validation"]["id"]
    assert other["train"]["id"] == expected["train"]["id"]
    assert default["train"].num_rows + default["validation"].num_rows == 40
    assert min(default["train"].num_rows, default["validation"].num_rows) > 0


def test_a_bad_file_raises_the_readers_error_naming_file_and_line(tiny, tmp_path):
    bad = tiny / "minbert/ids-sst-train.csv"
    bad.write_text("\tid\tsentence\tsentiment\n0\ta\tfine\t2\n1\tb\tbroken\t9\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"ids-sst-train\.csv, line 3: label '9'"):
        SstBuilder(data_dir=tiny, cache_dir=str(tmp_path / "c")).download_and_prepare()
    with pytest.raises(DataFormatError, match=r"ids-sst-train\.csv, line 3"):
        SstBuilder(data_dir=tiny).as_streaming_dataset()


def test_sst_test_header_other_than_the_known_malformed_one_is_refused(tiny, tmp_path):
    (tiny / "minbert/ids-sst-test-student.csv").write_text(
        "x\ty\tid\tsentence\n1\t0.0\tt\ta\n", encoding="utf-8"
    )
    with pytest.raises(DataFormatError, match=r"ids-sst-test-student\.csv, line 1: header"):
        load_builder_dataset("sst", data_dir=tiny, cache_dir=tmp_path / "c")


def test_cache_follows_the_data_files(tiny, tmp_path):
    first = load_builder_dataset("wiki", data_dir=tiny, cache_dir=tmp_path / "c", split="train")
    (tiny / "cs224n-a5/wiki.txt").write_text("One.\nTwo.\nThree, longer.", encoding="utf-8")
    second = load_builder_dataset("wiki", data_dir=tiny, cache_dir=tmp_path / "c", split="train")
    assert first["text"] != second["text"]
    assert second["text"] == ["One.", "Two.", "Three, longer."]


def test_builders_of_different_data_sets_do_not_share_a_cache(tiny, tmp_path):
    dirs = {BUILDERS[n](data_dir=tiny, cache_dir=str(tmp_path / "c")).cache_dir for n in BUILDERS}
    assert len(dirs) == len(BUILDERS)


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_card_and_info_are_filled_and_agree(name, tiny):
    card = load_card(name)
    info = BUILDERS[name](data_dir=tiny).info
    assert info.description and info.description in card.text.replace("\n", " ")
    assert info.license == card.data.license and info.license
    assert info.homepage.startswith("https://")
    assert info.citation.startswith("@") and info.citation.endswith("}")
    declared = card.data.to_dict()["dataset_info"]
    assert Features._from_yaml_list(declared["features"]) == info.features
    assert [s["name"] for s in declared["splits"]] == list(BUILDERS[name].FILES)


@pytest.mark.skipif(not SHARED.is_dir(), reason="the shared data directory is not on this machine")
@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_card_split_sizes_are_those_of_the_shared_data(name, tmp_path):
    builder = BUILDERS[name](data_dir=SHARED.resolve(), cache_dir=str(tmp_path / "c"))
    builder.download_and_prepare()
    declared = {
        s["name"]: s["num_examples"] for s in load_card(name).data.to_dict()["dataset_info"]["splits"]
    }
    assert {s: builder.info.splits[s].num_examples for s in builder.info.splits} == declared
    for split, count in declared.items():
        assert f"{count:,} |" in load_card(name).text, (name, split)


def test_cards_are_package_data():
    for name in BUILDERS:
        assert os.path.isfile(card_path(name)), name
    setup = (REPO / "setup.py").read_text()
    assert '"data/cards/*.md"' in setup


def test_the_sst_card_names_the_malformed_header():
    for name in ("sst", "cfimdb"):
        assert "`0<TAB><TAB>id<TAB>sentence`" in load_card(name).text
    assert yaml.safe_load(card_path("sst").read_text().split("---")[1])["license"] == "unknown"


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_exported_folder_loads_with_plain_load_dataset(name, tiny, tmp_path):
    folder = export_dataset_folder(name, tmp_path / "folder", data_dir=tiny, cache_dir=tmp_path / "c")
    expected = _reader_splits(name, tiny)
    loaded = load_dataset(str(folder), cache_dir=str(tmp_path / "c2"))
    streamed = load_dataset(str(folder), streaming=True)
    assert sorted(loaded) == sorted(streamed) == sorted(expected)
    for split, rows in expected.items():
        assert loaded[split].features == BUILDERS[name].FEATURES, (name, split)
        assert [_norm(r) for r in loaded[split]] == [_norm(r) for r in rows], (name, split)
        assert [_norm(r) for r in streamed[split]] == [_norm(r) for r in rows], (name, split, "streaming")
    card = yaml.safe_load((folder / "README.md").read_text().split("---")[1])
    assert card["license"] == load_card(name).data.license
    assert {s["name"]: s["num_examples"] for s in card["dataset_info"]["splits"]} == {
        split: len(rows) for split, rows in expected.items()
    }
