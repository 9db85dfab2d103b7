"""Tests of hfmodels.data.paths: data-dir resolution, lookup errors and verified downloads from a
local HTTP server on 127.0.0.1 (never the internet)."""

import hashlib
import http.server
import io
import os
import tarfile
import threading
import zipfile
from functools import partial
from pathlib import Path

import pytest

from hfmodels.data import paths
from hfmodels.data.paths import (
    DataDownloadError,
    DataFileSpec,
    DatasetSource,
    data_file,
    default_cache_dir,
    resolve_data_dir,
    resolve_data_path,
)

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path):
    """No inherited data/cache/mirror settings; the cache lives in the test's tmp dir."""
    for name in (paths.DATA_DIR_ENV, paths.DATA_URL_ENV, paths.OFFLINE_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(paths.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture
def server(tmp_path):
    """A static HTTP server on 127.0.0.1 serving `root`; yields (root, base_url, requested paths)."""
    root = tmp_path / "www"
    root.mkdir()
    requested = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            requested.append(self.path)
            super().do_GET()

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{httpd.server_address[1]}", requested
    finally:
        httpd.shutdown()
        httpd.server_close()


def _spec(content: bytes, dataset="toy", remote_name="file.txt", **kw) -> DataFileSpec:
    return DataFileSpec(dataset, remote_name, len(content), hashlib.sha256(content).hexdigest(), **kw)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


# ----------------------------------------------------------------------------------------------
# resolve_data_dir


def test_explicit_dir_wins(tmp_path, monkeypatch):
    other = tmp_path / "env"
    other.mkdir()
    monkeypatch.setenv(paths.DATA_DIR_ENV, str(other))
    assert resolve_data_dir(tmp_path) == tmp_path.resolve()


def test_missing_explicit_dir_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope"):
        resolve_data_dir(tmp_path / "nope")


def test_env_dir(tmp_path, monkeypatch):
    monkeypatch.setenv(paths.DATA_DIR_ENV, str(tmp_path))
    assert resolve_data_dir() == tmp_path.resolve()
    monkeypatch.setenv(paths.DATA_DIR_ENV, str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match=paths.DATA_DIR_ENV):
        resolve_data_dir()


def test_shared_dir_relative_to_cwd_then_cache(tmp_path, monkeypatch):
    work = tmp_path / "proj" / "repo"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    monkeypatch.setattr(paths, "_REPO_ROOT", tmp_path / "elsewhere" / "repo")
    assert resolve_data_dir() == default_cache_dir() == tmp_path / "cache"
    shared = tmp_path / "proj" / "shared" / "data"
    shared.mkdir(parents=True)
    assert resolve_data_dir() == shared.resolve()


def test_shared_dir_beside_repo(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    repo = tmp_path / "a" / "repo"
    (tmp_path / "a" / "shared" / "data").mkdir(parents=True)
    monkeypatch.setattr(paths, "_REPO_ROOT", repo)
    assert resolve_data_dir() == (tmp_path / "a" / "shared" / "data").resolve()


# ----------------------------------------------------------------------------------------------
# data_file lookup


def test_data_file_found_in_dir_and_in_cache(tmp_path):
    data = tmp_path / "data"
    (data / "set").mkdir(parents=True)
    (data / "set" / "a.txt").write_text("a")
    assert data_file("set/a.txt", data) == data.resolve() / "set" / "a.txt"
    cached = tmp_path / "cache" / "set" / "b.txt"
    cached.parent.mkdir(parents=True)
    cached.write_text("b")
    assert data_file("set/b.txt", data).read_text() == "b"


def test_missing_unknown_file_names_paths_and_fix(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        data_file("set/none.txt", tmp_path)
    message = str(info.value)
    assert str(tmp_path.resolve() / "set" / "none.txt") in message
    assert str(tmp_path / "cache" / "set" / "none.txt") in message
    assert "--data_dir" in message and paths.DATA_DIR_ENV in message
    assert "not a known data file" in message


def test_missing_known_file_without_download(tmp_path, server):
    root, url, requested = server
    with pytest.raises(FileNotFoundError, match="download=False"):
        data_file("cs224n-a5/wiki.txt", tmp_path, download=False)
    os.environ[paths.OFFLINE_ENV] = "1"
    try:
        with pytest.raises(FileNotFoundError, match=paths.OFFLINE_ENV):
            data_file("cs224n-a5/wiki.txt", tmp_path)
    finally:
        del os.environ[paths.OFFLINE_ENV]
    # quora.csv has no public source: never downloaded, clear message
    with pytest.raises(FileNotFoundError, match="no public source"):
        data_file("minbert/quora.csv", tmp_path)
    assert requested == []


# ----------------------------------------------------------------------------------------------
# command-line file names (resolve_data_path)


def test_resolve_data_path_as_given_then_in_the_data_dir(tmp_path, monkeypatch):
    data = tmp_path / "data"
    (data / "cs224n-a5").mkdir(parents=True)
    (data / "cs224n-a5" / "wiki.txt").write_text("corpus\n")
    (data / "extra.tsv").write_text("x\n")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    assert resolve_data_path(None, data) is None
    assert resolve_data_path("wiki.txt", data) == data.resolve() / "cs224n-a5" / "wiki.txt"
    assert resolve_data_path("extra.tsv", data) == data.resolve() / "extra.tsv"
    (work / "mine.tsv").write_text("y\n")
    assert resolve_data_path("mine.tsv", data) == Path("mine.tsv")
    assert resolve_data_path(str(work / "mine.tsv"), data) == work / "mine.tsv"
    (work / "wiki.txt").write_text("corpus\n")  # the same bytes: no ambiguity
    assert resolve_data_path("wiki.txt", data) == Path("wiki.txt")


def test_resolve_data_path_refuses_an_ambiguous_bare_name_and_names_what_it_looked_at(tmp_path, monkeypatch):
    data = tmp_path / "data"
    (data / "cs224n-a5").mkdir(parents=True)
    (data / "cs224n-a5" / "wiki.txt").write_text("corpus\n")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "wiki.txt").write_text("another corpus\n")
    with pytest.raises(
        ValueError, match=r"wiki.txt: the working directory's wiki.txt and .*cs224n-a5/wiki.txt differ"
    ):
        resolve_data_path("wiki.txt", data)
    assert resolve_data_path("./wiki.txt", data) == Path("./wiki.txt")
    with pytest.raises(
        FileNotFoundError, match=r"nothere.tsv: not found \(looked at: .*data/cs224n-a5/nothere.tsv"
    ):
        resolve_data_path("nothere.tsv", data)


def test_resolve_data_path_downloads_a_known_file_it_cannot_find(tmp_path, server, monkeypatch):
    root, url, requested = server
    content = b"Where was A born?\tRome\n"
    (root / "cs224n-a5").mkdir()
    (root / "cs224n-a5" / "birth_dev.tsv").write_bytes(content)
    monkeypatch.setitem(paths.KNOWN_DATA_FILES, "cs224n-a5/birth_dev.tsv", _spec(content))
    monkeypatch.setenv(paths.DATA_URL_ENV, url)
    data = tmp_path / "data"
    data.mkdir()
    monkeypatch.chdir(tmp_path)
    got = resolve_data_path("birth_dev.tsv", data)
    assert got == tmp_path / "cache" / "cs224n-a5" / "birth_dev.tsv" and got.read_bytes() == content


# ----------------------------------------------------------------------------------------------
# downloads


def test_download_from_mirror(tmp_path, server, monkeypatch):
    root, url, requested = server
    content = b"one\ntwo\n" * 1000
    (root / "toy").mkdir()
    (root / "toy" / "file.txt").write_bytes(content)
    monkeypatch.setitem(paths.KNOWN_DATA_FILES, "toy/file.txt", _spec(content))
    monkeypatch.setenv(paths.DATA_URL_ENV, url + "/")
    data = tmp_path / "data"
    data.mkdir()
    got = data_file("toy/file.txt", data)
    assert got == tmp_path / "cache" / "toy" / "file.txt"
    assert got.read_bytes() == content
    assert requested == ["/toy/file.txt"]
    assert _leftovers(tmp_path / "cache") == ["file.txt"]  # no temporary files left
    umask = os.umask(0)
    os.umask(umask)
    assert got.stat().st_mode & 0o777 == 0o666 & ~umask  # as a plain open() makes it, not mkstemp's 0600
    # second call: served from the cache, no new request
    assert data_file("toy/file.txt", data) == got
    assert requested == ["/toy/file.txt"]


@pytest.mark.parametrize("corruption", ["sha256", "size"])
def test_checksum_mismatch_leaves_nothing(tmp_path, server, monkeypatch, corruption):
    root, url, _ = server
    good = b"the right bytes\n"
    bad = b"the wrong bytes\n" if corruption == "sha256" else b"short\n"
    (root / "toy").mkdir()
    (root / "toy" / "file.txt").write_bytes(bad)
    monkeypatch.setitem(paths.KNOWN_DATA_FILES, "toy/file.txt", _spec(good))
    monkeypatch.setenv(paths.DATA_URL_ENV, url)
    with pytest.raises(DataDownloadError, match=f"toy/file.txt.*{corruption}.*expected.*not kept"):
        data_file("toy/file.txt", tmp_path)
    assert _leftovers(tmp_path / "cache") == []


def test_http_error_is_clear(tmp_path, server, monkeypatch):
    _, url, _ = server
    monkeypatch.setitem(paths.KNOWN_DATA_FILES, "toy/file.txt", _spec(b"x"))
    monkeypatch.setenv(paths.DATA_URL_ENV, url)
    with pytest.raises(
        DataDownloadError, match=r"could not download http://127\.0\.0\.1:\d+/toy/file\.txt.*404"
    ):
        data_file("toy/file.txt", tmp_path)
    assert _leftovers(tmp_path / "cache") == []


@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_download_extracts_archive_member(tmp_path, server, monkeypatch, kind):
    root, url, requested = server
    content = b"Where was A born?\tB\n"
    archive = root / f"bundle.{kind}"
    if kind == "zip":
        with zipfile.ZipFile(archive, "w") as zf:
            zf.writestr("a5/birth_dev.tsv", content)
            zf.writestr("a5/src/other.py", b"print()")
    else:
        with tarfile.open(archive, "w:gz") as tf:
            info = tarfile.TarInfo("a5/birth_dev.tsv")
            info.size = len(content)
            tf.addfile(info, io.BytesIO(content))
    monkeypatch.setitem(paths.DATASET_SOURCES, "toy", DatasetSource(url=f"{url}/bundle.{kind}", archive=True))
    monkeypatch.setitem(paths.KNOWN_DATA_FILES, "toy/dev.tsv", _spec(content, remote_name="birth_dev.tsv"))
    got = data_file("toy/dev.tsv", tmp_path)
    assert got.read_bytes() == content
    assert requested == [f"/bundle.{kind}"]
    assert _leftovers(tmp_path / "cache") == ["dev.tsv"]


def test_archive_download_unpacks_the_other_known_files(tmp_path, server, monkeypatch):
    root, url, requested = server
    dev, train = b"Where was A born?\tB\n", b"Where was C born?\tD\n"
    with zipfile.ZipFile(root / "bundle.zip", "w") as zf:
        zf.writestr("a5/birth_dev.tsv", dev)
        zf.writestr("a5/birth_places_train.tsv", train)
        zf.writestr("a5/wiki.txt", b"not what the checksum says")
    monkeypatch.setitem(paths.DATASET_SOURCES, "toy", DatasetSource(url=f"{url}/bundle.zip", archive=True))
    monkeypatch.setitem(paths.KNOWN_DATA_FILES, "toy/dev.tsv", _spec(dev, remote_name="birth_dev.tsv"))
    monkeypatch.setitem(
        paths.KNOWN_DATA_FILES, "toy/train.tsv", _spec(train, remote_name="birth_places_train.tsv")
    )
    monkeypatch.setitem(
        paths.KNOWN_DATA_FILES, "toy/wiki.txt", _spec(b"the real corpus", remote_name="wiki.txt")
    )
    assert data_file("toy/dev.tsv", tmp_path).read_bytes() == dev
    assert _leftovers(tmp_path / "cache") == ["dev.tsv", "train.tsv"]  # the mismatching wiki.txt is not kept
    assert data_file("toy/train.tsv", tmp_path).read_bytes() == train
    assert requested == ["/bundle.zip"]  # one download for both


def test_archive_without_member(tmp_path, server, monkeypatch):
    root, url, _ = server
    with zipfile.ZipFile(root / "bundle.zip", "w") as zf:
        zf.writestr("a5/other.tsv", b"x")
    monkeypatch.setitem(paths.DATASET_SOURCES, "toy", DatasetSource(url=f"{url}/bundle.zip", archive=True))
    monkeypatch.setitem(paths.KNOWN_DATA_FILES, "toy/dev.tsv", _spec(b"x", remote_name="birth_dev.tsv"))
    with pytest.raises(DataDownloadError, match="birth_dev.tsv"):
        data_file("toy/dev.tsv", tmp_path)
    assert _leftovers(tmp_path / "cache") == []


def test_default_sources_cover_every_known_file():
    expected = {
        "cs224n-a5/wiki.txt",
        "cs224n-a5/birth_places_train.tsv",
        "cs224n-a5/birth_dev.tsv",
        "cs224n-a5/birth_test_inputs.tsv",
        "minbert/quora.csv",
        "wikitext-2/valid.txt",
        "wikitext-2/test.txt",
    }
    expected |= {
        f"minbert/ids-{t}-{s}.csv" for t in ("sst", "cfimdb") for s in ("train", "dev", "test-student")
    }
    expected |= {f"minbert/sts-{s}.csv" for s in ("train", "dev", "test-student")}
    assert set(paths.KNOWN_DATA_FILES) == expected
    for relative, spec in paths.KNOWN_DATA_FILES.items():
        assert spec.dataset is None or spec.dataset in paths.DATASET_SOURCES, relative
        assert spec.dataset is None or paths.DATASET_SOURCES[spec.dataset].url.startswith("https://")


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data is not present on this machine")
def test_recorded_checksums_match_the_shared_files():
    for relative, spec in paths.KNOWN_DATA_FILES.items():
        path = SHARED / relative
        assert path.is_file(), relative
        content = path.read_bytes()
        assert len(content) == spec.size, relative
        assert hashlib.sha256(content).hexdigest() == spec.sha256, relative
