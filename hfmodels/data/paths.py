"""Where the project's data files live, and how a missing one is fetched.

Every loader in `hfmodels.data` takes a `data_dir`; this module turns that (or nothing) into a
directory and a relative name such as `"cs224n-a5/wiki.txt"` into a file:

- [`resolve_data_dir`]: the explicit argument, else `$HFMODELS_DATA_DIR`, else `../shared/data`
  relative to the working directory (then relative to this repository), else the download cache
  (`$HFMODELS_CACHE`, default `~/.cache/hfmodels/data`).
- [`data_file`]: the file inside that directory; if it is missing there and in the cache, and the
  file is one of [`KNOWN_DATA_FILES`] with a public source, it is downloaded into the cache
  atomically (temporary file + `os.replace`), checked against its recorded size and sha256, and
  returned. Anything else raises `FileNotFoundError` naming every path looked at and the fix.

Downloads come from the files' public origins (one base URL per data set, see
[`DATASET_SOURCES`]). `$HFMODELS_DATA_URL` replaces all of them with one mirror laid out like the
data directory (`$HFMODELS_DATA_URL/cs224n-a5/wiki.txt`), which is also how the tests serve files
from `127.0.0.1`. `$HFMODELS_OFFLINE=1` forbids downloads.

The fetch is `urllib`, not the libraries' downloaders: `huggingface_hub`'s `http_get` refuses every
URL, Hub or not, under `HF_HUB_OFFLINE=1`, and `datasets.DownloadManager` stores files under
URL-hashed names in its own cache, where [`data_file`] and the course's file names cannot find them.
"""

from __future__ import annotations

import filecmp
import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

DATA_DIR_ENV = "HFMODELS_DATA_DIR"
CACHE_ENV = "HFMODELS_CACHE"
DATA_URL_ENV = "HFMODELS_DATA_URL"
OFFLINE_ENV = "HFMODELS_OFFLINE"
_REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class DatasetSource:
    """Public origin of one data set.

    Args:
        url (`str`):
            Base URL the file's `remote_name` is appended to, or the URL of an archive when
            `archive` is set.
        archive (`bool`, *optional*, defaults to `False`):
            The URL is a `.zip` / `.tar.*` archive; the wanted file is the member whose base name
            equals the file's `remote_name` (the archive's top folder does not matter).
        description (`str`, *optional*):
            Where the files come from, shown in error messages.
    """

    url: str
    archive: bool = False
    description: str = ""


@dataclass(frozen=True)
class DataFileSpec:
    """A file the project knows: its data set, name at the source, size and sha256.

    Args:
        dataset (`str`): Key of [`DATASET_SOURCES`], or `None` when no public source has this exact file.
        remote_name (`str`): Name of the file at the source (relative to the base URL or archive member base name).
        size (`int`): Size in bytes of the verified copy.
        sha256 (`str`): Hex sha256 of the verified copy.
    """

    dataset: str | None
    remote_name: str
    size: int | None = None
    sha256: str | None = None


# Public origins. The checksums below are those of the copies in the project's shared data
# directory (`../shared/data`, 2026-11-21); a source that serves different bytes is rejected.
DATASET_SOURCES: dict[str, DatasetSource] = {
    "cs224n-a5": DatasetSource(
        url="https://web.stanford.edu/class/archive/cs/cs224n/cs224n.1214/assignments/a5.zip",
        archive=True,
        description="Stanford CS224N assignment 5 student archive",
    ),
    "minbert": DatasetSource(
        url="https://raw.githubusercontent.com/gpoesia/minbert-default-final-project/main/data/",
        description="CS224N default final project (minBERT) repository",
    ),
    "wikitext-2": DatasetSource(
        url="https://raw.githubusercontent.com/pytorch/examples/main/word_language_model/data/wikitext-2/",
        description="WikiText-2 as shipped with pytorch/examples",
    ),
}

KNOWN_DATA_FILES: dict[str, DataFileSpec] = {
    "cs224n-a5/wiki.txt": DataFileSpec(
        "cs224n-a5", "wiki.txt", 419252, "17e381468abd91b60be8acaff006c66b77532b4ea4c0ce097b0a686d2e8e8219"
    ),
    "cs224n-a5/birth_places_train.tsv": DataFileSpec(
        "cs224n-a5",
        "birth_places_train.tsv",
        79923,
        "02364dfca78e23d2583a19f03a2d8cddd90ee3e1a3795ddec7f0addadea30b0d",
    ),
    "cs224n-a5/birth_dev.tsv": DataFileSpec(
        "cs224n-a5",
        "birth_dev.tsv",
        20041,
        "101a56073eba0db9aad5e2aaf1aa9bf8bdae966ae3aaed8fc8cda5edfa7856da",
    ),
    "cs224n-a5/birth_test_inputs.tsv": DataFileSpec(
        "cs224n-a5",
        "birth_test_inputs.tsv",
        13880,
        "5ccd3b2a1682e0daf90d59488aef8805ef21b9d35795cc3bdabdea79d293aa1f",
    ),
    "minbert/ids-cfimdb-dev.csv": DataFileSpec(
        "minbert",
        "ids-cfimdb-dev.csv",
        249095,
        "3087f571b66860fe5d035b5a018d08202ad3fd3720e4821c04b2acf6c7ded559",
    ),
    "minbert/ids-cfimdb-test-student.csv": DataFileSpec(
        "minbert",
        "ids-cfimdb-test-student.csv",
        495595,
        "7ae611548c9eac879e9ebb406cc9f8ae68ff12f78090e4965af5cbdfa06240f4",
    ),
    "minbert/ids-cfimdb-train.csv": DataFileSpec(
        "minbert",
        "ids-cfimdb-train.csv",
        1693182,
        "140fc513045a966109faed46a5c7a898767b96714d71bcb9c15f659129fadcea",
    ),
    "minbert/ids-sst-dev.csv": DataFileSpec(
        "minbert",
        "ids-sst-dev.csv",
        151384,
        "a186ce94577635fbe10beaaddd50f16cccf6c30973221cefdf90deed2a584bfe",
    ),
    "minbert/ids-sst-test-student.csv": DataFileSpec(
        "minbert",
        "ids-sst-test-student.csv",
        313202,
        "bdd5a767faa0c26782117e37767ece154c30d5d04fb8727d09c71e3850a55c7b",
    ),
    "minbert/ids-sst-train.csv": DataFileSpec(
        "minbert",
        "ids-sst-train.csv",
        1175139,
        "03b2b625c090f94a6afd59f114cde5282e2053aab0b101e87ed695d8a0c5b1df",
    ),
    # quora.csv holds 16,000 pairs drawn from the course's Quora dev file: no public source serves
    # these exact bytes, so it is never downloaded (the checksum still identifies the copy).
    "minbert/quora.csv": DataFileSpec(
        None, "quora.csv", 2539340, "3735a2d11f1942d93f1c86d5104e7b8fd75806bcc5e4176eb2bf1fb53e73d579"
    ),
    "minbert/sts-dev.csv": DataFileSpec(
        "minbert", "sts-dev.csv", 132265, "ce3cad6f16062586ac7ba462c28b010a9be10c530fd5074165860d7b7ab4e93d"
    ),
    "minbert/sts-test-student.csv": DataFileSpec(
        "minbert",
        "sts-test-student.csv",
        256677,
        "dee455745b72e9ca3ff74e7c056bd73e34bad5b8d5641045a2c1e7e131866f47",
    ),
    "minbert/sts-train.csv": DataFileSpec(
        "minbert", "sts-train.csv", 928832, "15d12efc2d656fffb1d61ac1f08ec4227f43925fd16f420c037cbd063699c21b"
    ),
    "wikitext-2/valid.txt": DataFileSpec(
        "wikitext-2", "valid.txt", 1121681, "f0737ed31fc1329026e95cb8b98e19c2a182c39c240ab909dc31abf2f8af58e8"
    ),
    "wikitext-2/test.txt": DataFileSpec(
        "wikitext-2", "test.txt", 1256449, "d790b833ef8cf03a90db7bf1271b7520b83c45ce07ba3c1a9699df81e239eca0"
    ),
}


class DataDownloadError(OSError):
    """A download failed or delivered bytes that do not match the recorded size/sha256."""


def default_cache_dir() -> Path:
    """The download cache: `$HFMODELS_CACHE`, or `~/.cache/hfmodels/data`."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "hfmodels" / "data"


def _candidate_dirs() -> list[Path]:
    """The shared-data directories tried when no directory is given, in order."""
    return [Path.cwd() / ".." / "shared" / "data", _REPO_ROOT.parent / "shared" / "data"]


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The data directory to read from.

    Order: `data_dir` if given (it must exist), else `$HFMODELS_DATA_DIR` (it must exist), else
    `../shared/data` relative to the working directory, else `../shared/data` beside this
    repository, else the download cache (see [`default_cache_dir`]; it need not exist yet).

    Raises:
        `FileNotFoundError`: an explicitly given directory (argument or environment) does not exist.
    """
    if data_dir is not None:
        path = Path(data_dir).expanduser()
        if not path.is_dir():
            raise FileNotFoundError(
                f"data_dir {str(path)!r} is not a directory (pass an existing --data_dir)."
            )
        return path.resolve()
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        path = Path(env).expanduser()
        if not path.is_dir():
            raise FileNotFoundError(
                f"${DATA_DIR_ENV}={env!r} is not a directory (unset it or point it at the data directory)."
            )
        return path.resolve()
    for candidate in _candidate_dirs():
        if candidate.is_dir():
            return candidate.resolve()
    return default_cache_dir()


def _source_url(relative: str, spec: DataFileSpec) -> tuple[str, bool]:
    """(URL, is_archive) to fetch `relative` from; `$HFMODELS_DATA_URL` mirrors the data-dir layout."""
    mirror = os.environ.get(DATA_URL_ENV)
    if mirror:
        return mirror.rstrip("/") + "/" + relative, False
    source = DATASET_SOURCES[spec.dataset]
    if source.archive:
        return source.url, True
    return source.url.rstrip("/") + "/" + spec.remote_name, False


def _fetch(url: str, dest: Path, timeout: float = 60.0) -> None:
    """Stream `url` into the path `dest` with a progress bar (hand-written: see the module docstring)."""
    from datasets.utils import are_progress_bars_disabled
    from tqdm.auto import tqdm

    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(dest, "wb") as out:
            total = response.headers.get("Content-Length")
            with tqdm(
                total=int(total) if total else None,
                unit="B",
                unit_scale=True,
                desc=f"download {url}",
                leave=False,
                disable=are_progress_bars_disabled(),  # `--disable_tqdm` (hfmodels.training.verbosity)
            ) as bar:
                while chunk := response.read(1 << 16):
                    out.write(chunk)
                    bar.update(len(chunk))
    except (urllib.error.URLError, OSError) as err:
        raise DataDownloadError(f"could not download {url}: {err}") from err


def _extract_member(archive: Path, name: str, dest: Path) -> None:
    """Copy the archive member whose base name is `name` to `dest`."""
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            members = [m for m in zf.namelist() if not m.endswith("/") and Path(m).name == name]
            if len(members) != 1:
                raise DataDownloadError(f"{archive}: expected one member named {name!r}, found {members}")
            with zf.open(members[0]) as src, open(dest, "wb") as out:
                shutil.copyfileobj(src, out)
        return
    try:
        with tarfile.open(archive) as tf:
            members = [m for m in tf.getmembers() if m.isfile() and Path(m.name).name == name]
            if len(members) != 1:
                raise DataDownloadError(
                    f"{archive}: expected one member named {name!r}, found {[m.name for m in members]}"
                )
            src = tf.extractfile(members[0])
            with src, open(dest, "wb") as out:
                shutil.copyfileobj(src, out)
    except tarfile.TarError as err:
        raise DataDownloadError(f"{archive}: not a zip or tar archive ({err})") from err


def _verify(path: Path, relative: str, url: str, spec: DataFileSpec) -> None:
    size = path.stat().st_size
    if spec.size is not None and size != spec.size:
        raise DataDownloadError(
            f"downloaded {relative} from {url}: size {size} bytes, expected {spec.size}; the file was not kept."
        )
    if spec.sha256 is not None:
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
        if digest.hexdigest() != spec.sha256:
            raise DataDownloadError(
                f"downloaded {relative} from {url}: sha256 {digest.hexdigest()}, expected {spec.sha256}; "
                "the file was not kept."
            )


def _publish(tmp: Path, target: Path) -> None:
    """Move a verified download into place, readable as a plain `open` would have made it.

    Downloads are streamed as bytes and checked before the rename, which a text writer such as
    `hfmodels.reporting.write_text_atomic` cannot do; `mkstemp` makes files 0600, hence the mode."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    os.replace(tmp, target)


def _extract_siblings(archive: Path, relative: str, spec: DataFileSpec, cache_root: Path) -> None:
    """Also unpack the other known files of the same archive that the cache lacks (each verified;
    one that is missing from the archive or does not match is skipped and fetched on its own later),
    so that one data set's files cost one download."""
    for other, other_spec in KNOWN_DATA_FILES.items():
        target = cache_root / other
        if other == relative or other_spec.dataset != spec.dataset or target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
        os.close(fd)
        try:
            _extract_member(archive, other_spec.remote_name, Path(name))
            _verify(Path(name), other, str(archive), other_spec)
            _publish(Path(name), target)
        except DataDownloadError:
            pass
        finally:
            Path(name).unlink(missing_ok=True)


def download_data_file(relative: str, cache_dir: str | os.PathLike | None = None) -> Path:
    """Download the known file `relative` into `cache_dir` (default [`default_cache_dir`]) and verify it.

    The bytes go to a temporary file in the target folder, are checked against the recorded size
    and sha256, and only then are moved into place with `os.replace`: an interrupted or corrupted
    download never leaves a partial file under the final name.

    Raises:
        `KeyError`: `relative` is not one of [`KNOWN_DATA_FILES`].
        `FileNotFoundError`: the file has no public source.
        [`DataDownloadError`]: the download failed or the bytes do not match.
    """
    spec = KNOWN_DATA_FILES[relative]
    if spec.dataset is None and not os.environ.get(DATA_URL_ENV):
        raise FileNotFoundError(f"{relative} has no public source to download it from.")
    url, is_archive = _source_url(relative, spec)
    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    target = cache / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    archive_tmp: Path | None = None
    try:
        if is_archive:
            fd, archive_name = tempfile.mkstemp(prefix=".archive.", suffix=".part", dir=target.parent)
            os.close(fd)
            archive_tmp = Path(archive_name)
            _fetch(url, archive_tmp)
            _extract_member(archive_tmp, spec.remote_name, tmp)
            _extract_siblings(archive_tmp, relative, spec, cache)
        else:
            _fetch(url, tmp)
        _verify(tmp, relative, url, spec)
        _publish(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
        if archive_tmp is not None:
            archive_tmp.unlink(missing_ok=True)
    return target


def data_file(relative: str, data_dir: str | os.PathLike | None = None, download: bool = True) -> Path:
    """Path of the data file `relative` (e.g. `"cs224n-a5/wiki.txt"`).

    Looks in [`resolve_data_dir`]`(data_dir)`, then in the download cache. If the file is in
    neither, `download` is true, `$HFMODELS_OFFLINE` is not set and the file is one of
    [`KNOWN_DATA_FILES`] with a public source, it is downloaded into the cache and verified (see
    [`download_data_file`]).

    Raises:
        `FileNotFoundError`: the file is missing and cannot be downloaded; the message names every
            path looked at and how to fix it (`--data_dir` / `$HFMODELS_DATA_DIR`).
        [`DataDownloadError`]: a download was tried and failed or did not match its checksum.
    """
    base = resolve_data_dir(data_dir)
    looked = [base / relative]
    cache = default_cache_dir()
    if cache.resolve() != base.resolve():
        looked.append(cache / relative)
    for path in looked:
        if path.is_file():
            return path
    spec = KNOWN_DATA_FILES.get(relative)
    offline = os.environ.get(OFFLINE_ENV, "").lower() in ("1", "true", "yes", "on")
    has_source = spec is not None and (spec.dataset is not None or bool(os.environ.get(DATA_URL_ENV)))
    if download and has_source and not offline:
        return download_data_file(relative, cache)
    if spec is None:
        why = f"{relative!r} is not a known data file, so it cannot be downloaded"
    elif not has_source:
        why = f"{relative} has no public source to download it from"
    elif offline:
        why = f"downloads are disabled (${OFFLINE_ENV} is set)"
    else:
        why = "download=False"
    looked_at = ", ".join(str(p) for p in looked)
    raise FileNotFoundError(
        f"data file {relative} not found (looked at: {looked_at}); {why}. Pass --data_dir (data_dir=...) "
        f"or set ${DATA_DIR_ENV} to the directory that holds {relative}."
    )


def resolve_data_path(
    name: str | os.PathLike | None,
    data_dir: str | os.PathLike | None = None,
    subdirs: tuple[str, ...] = ("cs224n-a5",),
) -> Path | None:
    """The file a command-line argument such as `wiki.txt` or `birth_dev.tsv` names.

    `name` is taken as given (relative to the working directory) if it exists or is absolute;
    otherwise it is looked up in each of `subdirs` of [`resolve_data_dir`]`(data_dir)`, then in
    that directory itself; otherwise, if `subdir/name` is one of [`KNOWN_DATA_FILES`], it comes
    from [`data_file`] (the cache, or a verified download). `None` gives `None`.

    A bare file name (no directory part, as in the course's commands) that exists both in the
    working directory and in the data directory with different contents is refused: either choice
    could be the wrong one. `./wiki.txt` or an absolute path picks the working directory's file.

    Raises:
        `ValueError`: the ambiguous bare name above (the message names both files).
        `FileNotFoundError`: not found anywhere (the message names every place looked at).
    """
    if name is None:
        return None
    text = os.fspath(name)
    given = Path(text).expanduser()
    base = resolve_data_dir(data_dir)
    candidates = [base / sub / text for sub in subdirs] + [base / text]
    in_data = [c for c in candidates if c.is_file()]
    if given.exists() or given.is_absolute():
        bare = given.name == text
        if bare and given.is_file() and in_data and not filecmp.cmp(given, in_data[0], shallow=False):
            raise ValueError(
                f"{text}: the working directory's {text} and {in_data[0]} differ; pass ./{text} (the "
                f"working directory's) or {in_data[0]} (the data directory's) to say which one."
            )
        return given
    if in_data:
        return in_data[0]
    known = [f"{sub}/{text}" for sub in subdirs if f"{sub}/{text}" in KNOWN_DATA_FILES]
    if known:
        return data_file(known[0], data_dir)
    looked = ", ".join(str(c) for c in [given.resolve(), *candidates])
    raise FileNotFoundError(
        f"{text}: not found (looked at: {looked}); pass --data_dir or set ${DATA_DIR_ENV} to the "
        "directory that holds it, or give the file's path."
    )


__all__ = [
    "DATASET_SOURCES",
    "KNOWN_DATA_FILES",
    "DataDownloadError",
    "DataFileSpec",
    "DatasetSource",
    "data_file",
    "default_cache_dir",
    "download_data_file",
    "resolve_data_dir",
    "resolve_data_path",
]
