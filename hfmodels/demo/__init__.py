"""An interactive Gradio demo of every model family (`pip install hfmodels[demo]`).

    python -m hfmodels.demo --model DIR [DIR ...] [--corpus wiki.txt] [--analysis_dir DIR] [--run_dir DIR]

[`build_demo`] builds the app (one tab per family, loaded with the Auto classes by
`config.model_type`); [`push_space`] pushes the Space folder `spaces/hfmodels-demo/` with the
package and the shipped checkpoint. docs/demo.md says what each tab shows.
"""

from .app import build_demo, default_model_folders, launch
from .loading import DemoError, LoadedModel, ModelCache
from .space import push_space

__all__ = [
    "DemoError",
    "LoadedModel",
    "ModelCache",
    "build_demo",
    "default_model_folders",
    "launch",
    "push_space",
]
