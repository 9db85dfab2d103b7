"""Pushing the demo as a Hugging Face Space: `spaces/hfmodels-demo/` (app.py, requirements.txt, the
Space card), the `hfmodels` package next to it (so `import hfmodels` works in the Space) and the
shipped pretrained checkpoint inside the package, in one `HfApi.upload_folder(repo_type="space")`
commit.

    python -m hfmodels.demo --push_space USER/hfmodels-demo
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1]
#: The Space folder of a source checkout.
SPACE_DIR = PACKAGE_DIR.parent / "spaces" / "hfmodels-demo"
SPACE_FILES = ("app.py", "requirements.txt", "README.md")


def stage_space(
    destination: str | os.PathLike,
    space_dir: str | os.PathLike = SPACE_DIR,
    checkpoint_dir: str | os.PathLike | None = None,
) -> Path:
    """Lay out the Space in `destination`: the files of `space_dir`, the package's source (no caches,
    no other checkpoints) and `checkpoint_dir` (default: the shipped checkpoint) as its checkpoint."""
    from ..checkpoints import VANILLA_PRETRAINED, checkpoint_path

    space_dir, destination = Path(space_dir), Path(destination)
    missing = [name for name in SPACE_FILES if not (space_dir / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{space_dir}: not a Space folder ({', '.join(missing)} missing).")
    checkpoint = Path(checkpoint_dir) if checkpoint_dir else checkpoint_path()
    shutil.copytree(space_dir, destination, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
    package = destination / "hfmodels"
    shutil.copytree(
        PACKAGE_DIR,
        package,
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", VANILLA_PRETRAINED),
        dirs_exist_ok=True,
    )
    shutil.copytree(checkpoint, package / "checkpoints" / VANILLA_PRETRAINED, dirs_exist_ok=True)
    return destination


def push_space(
    repo_id: str,
    token: str | None = None,
    endpoint: str | None = None,
    space_dir: str | os.PathLike = SPACE_DIR,
    checkpoint_dir: str | os.PathLike | None = None,
    private: bool = False,
) -> str:
    """Create the Gradio Space `repo_id` if needed and upload the staged Space ([`stage_space`]) in
    one commit; returns the commit's URL."""
    from huggingface_hub import HfApi

    api = HfApi(endpoint=endpoint, token=token)
    api.create_repo(repo_id, repo_type="space", space_sdk="gradio", private=private, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="hfmodels_space_") as tmp:
        folder = stage_space(Path(tmp) / "space", space_dir, checkpoint_dir)
        info = api.upload_folder(
            repo_id=repo_id,
            repo_type="space",
            folder_path=folder,
            commit_message="Upload the hfmodels demo",
        )
    return info.commit_url


__all__ = ["SPACE_DIR", "push_space", "stage_space"]
