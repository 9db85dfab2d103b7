"""`python -m hfmodels.demo`: serve the demo (see `hfmodels.demo`), or push the Space with `--push_space`."""

from __future__ import annotations

import argparse
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> None:
    """Parse the command line and serve the demo until interrupted (or push the Space and exit)."""
    parser = argparse.ArgumentParser(
        prog="python -m hfmodels.demo", description="Gradio demo of hfmodels' model families."
    )
    parser.add_argument(
        "--model",
        nargs="*",
        default=None,
        help="saved model folders (default: the shipped char-GPT checkpoint and runs/quickstart/model)",
    )
    parser.add_argument(
        "--corpus",
        default=None,
        help="pretraining corpus (default: cs224n-a5/wiki.txt of the data directory)",
    )
    parser.add_argument(
        "--data_dir", default=None, help="data directory (default: $HFMODELS_DATA_DIR, then ../shared/data)"
    )
    parser.add_argument(
        "--analysis_dir", default=None, help="folder with analysis.json or a `make run` metrics.json"
    )
    parser.add_argument("--run_dir", default=None, help="run folder with TensorBoard event files")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads while serving")
    parser.add_argument(
        "--push_space",
        metavar="REPO_ID",
        default=None,
        help="push spaces/hfmodels-demo to this Space and exit",
    )
    parser.add_argument(
        "--endpoint", default=None, help="Hub endpoint for --push_space (default: huggingface_hub's)"
    )
    args = parser.parse_args(argv)
    if args.push_space:
        from .space import push_space

        print(push_space(args.push_space, endpoint=args.endpoint))
        return
    from .app import build_demo, launch

    demo = build_demo(args.model, args.corpus, args.data_dir, args.analysis_dir, args.run_dir)
    print(f"hfmodels demo on http://{args.host}:{args.port}")
    launch(demo, args.host, args.port, threads=args.threads)


if __name__ == "__main__":
    main()
