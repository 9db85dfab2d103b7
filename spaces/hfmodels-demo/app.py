"""The hfmodels demo as a Hugging Face Space: the Birthplace QA tab on the pretrained character GPT
shipped inside the package (pushed next to this file by `python -m hfmodels.demo --push_space`);
the other tabs take any model folder the Space can read."""

import os

from hfmodels.demo import build_demo, launch

demo = build_demo()

if __name__ == "__main__":
    launch(
        demo,
        host=os.environ.get("GRADIO_SERVER_NAME", "0.0.0.0"),
        port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
    )
