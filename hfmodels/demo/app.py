"""The Gradio app: one tab per family plus a Results tab (see docs/demo.md for what each shows).

Every tab has a text box of model folders (pre-filled with the folders given on the command line,
sorted by `config.model_type`), its inputs, and a message line. A handler never raises into
Gradio: a [`DemoError`] (bad input, a folder that is not a model) and any other exception become
the message line's text, so the page shows what was wrong and the server keeps serving.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path

# Set before Gradio is imported: it reads the variable at import time.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402

from .addsub import addsub_answer  # noqa: E402
from .birthplace import BirthplaceData, birthplace_markdown  # noqa: E402
from .loading import FAMILY_TITLES, DemoError, ModelCache, read_model_type, split_folders  # noqa: E402
from .lstm_lm import continue_prompt  # noqa: E402
from .multitask_bert import paraphrase, sentiment, similarity  # noqa: E402
from .plots import learning_curves_figure, retrieved_or_invented_figure  # noqa: E402

logger = logging.getLogger(__name__)
#: The finetuned model `make run` writes.
QUICKSTART_MODEL = Path("runs/quickstart/model")


def default_model_folders() -> list[str]:
    """The shipped pretrained char-GPT checkpoint and `make run`'s finetuned model, where they exist."""
    from ..checkpoints import checkpoint_path

    folders = []
    try:
        folders.append(str(checkpoint_path()))
    except FileNotFoundError as err:
        logger.warning("%s", err)
    if (QUICKSTART_MODEL / "config.json").is_file():
        folders.append(str(QUICKSTART_MODEL))
    return folders


def sort_folders(folders: Sequence[str]) -> tuple[dict[str, list[str]], list[str]]:
    """Folders by family (`model_type`), and a message for each one that is not a model folder."""
    by_family: dict[str, list[str]] = {family: [] for family in FAMILY_TITLES}
    problems = []
    for folder in folders:
        try:
            by_family[read_model_type(folder)].append(str(folder))
        except DemoError as err:
            problems.append(str(err))
    return by_family, problems


def message(text: str) -> str:
    """A message line's Markdown."""
    return f"**⚠ {text}**" if text else ""


def guarded(function: Callable, empty: tuple) -> Callable:
    """`function` returning its outputs plus an empty message, or `empty` plus the message of
    whatever it raised (a [`DemoError`] as worded; anything else with its type, and logged)."""

    @functools.wraps(function)
    def run(*args):
        try:
            out = function(*args)
            return (*(out if isinstance(out, tuple) else (out,)), "")
        except DemoError as err:
            return (*empty, message(str(err)))
        except Exception as err:  # the page must get a message, never a trace; the server log gets it
            logger.exception("demo handler %s failed", function.__name__)
            return (*empty, message(f"{type(err).__name__}: {err}"))

    return run


def _folders_box(folders: list[str], family: str) -> gr.Textbox:
    return gr.Textbox(
        value="\n".join(folders),
        lines=max(1, len(folders)),
        label=f"{family} model folders (one per line)",
        elem_id=f"{family}-folders",
    )


def _birthplace_tab(cache: ModelCache, folders: list[str], data: BirthplaceData) -> None:
    def answer(folder_text: str, text: str) -> str:
        models = [cache.load(f, expected="char_gpt") for f in split_folders(folder_text)]
        return birthplace_markdown(models, text, data)

    box = _folders_box(folders, "char_gpt")
    question = gr.Textbox(label="Name or question", placeholder="Ada Lovelace", elem_id="birthplace-question")
    ask = gr.Button("Answer", variant="primary", elem_id="birthplace-submit")
    note = gr.Markdown(elem_id="birthplace-message")
    result = gr.Markdown(elem_id="birthplace-result")
    handler = guarded(answer, ("",))
    ask.click(handler, [box, question], [result, note])
    question.submit(handler, [box, question], [result, note])


def _multitask_tab(cache: ModelCache, folders: list[str]) -> None:
    box = _folders_box(folders, "multitask_bert")

    def first(folder_text: str):
        names = split_folders(folder_text)
        if not names:
            raise DemoError("No multitask_bert model folder given: type the path of one.")
        return cache.load(names[0], expected="multitask_bert")

    with gr.Row():
        with gr.Column():
            sentence = gr.Textbox(label="Sentence (SST-5 sentiment)", elem_id="sentiment-sentence")
            go = gr.Button("Classify", elem_id="sentiment-submit")
            label = gr.Label(num_top_classes=5, label="Sentiment", elem_id="sentiment-result")
            note = gr.Markdown(elem_id="sentiment-message")
            go.click(guarded(lambda f, s: sentiment(first(f), s), (None,)), [box, sentence], [label, note])
        with gr.Column():
            q1 = gr.Textbox(label="Question 1", elem_id="paraphrase-1")
            q2 = gr.Textbox(label="Question 2", elem_id="paraphrase-2")
            go = gr.Button("Duplicate?", elem_id="paraphrase-submit")
            label = gr.Label(label="Paraphrase", elem_id="paraphrase-result")
            note = gr.Markdown(elem_id="paraphrase-message")
            go.click(
                guarded(lambda f, a, b: paraphrase(first(f), a, b), (None,)), [box, q1, q2], [label, note]
            )
        with gr.Column():
            s1 = gr.Textbox(label="Sentence 1", elem_id="similarity-1")
            s2 = gr.Textbox(label="Sentence 2", elem_id="similarity-2")
            go = gr.Button("Similarity", elem_id="similarity-submit")
            score = gr.Number(label="Similarity (0-5)", precision=2, elem_id="similarity-result")
            note = gr.Markdown(elem_id="similarity-message")
            go.click(
                guarded(lambda f, a, b: similarity(first(f), a, b), (None,)), [box, s1, s2], [score, note]
            )


def _addsub_tab(cache: ModelCache, folders: list[str]) -> None:
    box = _folders_box(folders, "addsub")
    expression = gr.Textbox(label="Expression", placeholder="12 + -7", elem_id="addsub-expression")
    go = gr.Button("Answer", variant="primary", elem_id="addsub-submit")
    note = gr.Markdown(elem_id="addsub-message")
    result = gr.Markdown(elem_id="addsub-result")

    def answer(folder_text: str, text: str) -> str:
        names = split_folders(folder_text)
        if not names:
            raise DemoError("No addsub model folder given: type the path of one.")
        return "\n".join(addsub_answer(cache.load(f, expected="addsub"), text) for f in names)

    go.click(guarded(answer, ("",)), [box, expression], [result, note])


def _lstm_tab(cache: ModelCache, folders: list[str]) -> None:
    box = _folders_box(folders, "lstm_lm")
    prompt = gr.Textbox(label="Prompt", placeholder="The game was", elem_id="lstm-prompt")
    with gr.Row():
        words = gr.Slider(1, 200, value=30, step=1, label="Words to generate")
        temperature = gr.Slider(0.0, 2.0, value=0.8, step=0.05, label="Temperature (0: greedy)")
        top_k = gr.Slider(0, 200, value=40, step=1, label="Top-k (0: all words)")
        seed = gr.Number(value=0, precision=0, label="Seed")
    go = gr.Button("Continue", variant="primary", elem_id="lstm-submit")
    note = gr.Markdown(elem_id="lstm-message")
    result = gr.Markdown(elem_id="lstm-result")

    def run(folder_text, text, n, t, k, s):
        names = split_folders(folder_text)
        if not names:
            raise DemoError("No lstm_lm model folder given: type the path of one.")
        return continue_prompt(
            cache.load(names[0], expected="lstm_lm"), text, int(n), float(t), int(k), int(s or 0)
        )

    go.click(guarded(run, ("",)), [box, prompt, words, temperature, top_k, seed], [result, note])


def _results_tab(demo: gr.Blocks, analysis_dir: str | None, run_dir: str | None) -> None:
    with gr.Row():
        analysis = gr.Textbox(
            value=analysis_dir or "",
            label="Analysis folder (analysis.json or a make run folder)",
            elem_id="analysis-folder",
        )
        run = gr.Textbox(value=run_dir or "", label="Run folder (TensorBoard logs)", elem_id="run-folder")
    go = gr.Button("Plot", elem_id="plots-submit")
    with gr.Row():
        chart = gr.Plot(label="Retrieved or invented", elem_id="retrieved-plot")
        curves = gr.Plot(label="Learning curves", elem_id="curves-plot")
    with gr.Row():
        chart_note = gr.Markdown(elem_id="retrieved-message")
        curves_note = gr.Markdown(elem_id="curves-message")
    for folder, plot, note, figure in (
        (analysis, chart, chart_note, retrieved_or_invented_figure),
        (run, curves, curves_note, learning_curves_figure),
    ):
        handler = guarded(figure, (None,))
        go.click(handler, folder, [plot, note])
        if folder.value:
            demo.load(handler, folder, [plot, note])


def build_demo(
    models: Sequence[str] | None = None,
    corpus: str | os.PathLike | None = None,
    data_dir: str | os.PathLike | None = None,
    analysis_dir: str | None = None,
    run_dir: str | None = None,
) -> gr.Blocks:
    """The demo's `gr.Blocks` for the model folders `models` (default: [`default_model_folders`]),
    the pretraining corpus `corpus` (default: wiki.txt of the data directory, when there), the
    birthplace files of `data_dir`, an analysis folder and a run folder for the Results tab."""
    folders = list(models) if models else default_model_folders()
    by_family, problems = sort_folders(folders)
    try:
        data = BirthplaceData.load(corpus, data_dir)
    except (OSError, ValueError) as err:
        problems.append(f"The pretraining corpus was not loaded: {err}")
        data = BirthplaceData()
    cache = ModelCache()
    with gr.Blocks(title="hfmodels demo", analytics_enabled=False) as demo:
        gr.Markdown("# hfmodels demo\nTry the library's models: pick a tab, type, submit.")
        gr.Markdown("\n".join(f"- {message(p)}" for p in problems), elem_id="demo-status")
        with gr.Tab(FAMILY_TITLES["char_gpt"], id="birthplace"):
            _birthplace_tab(cache, by_family["char_gpt"], data)
        with gr.Tab(FAMILY_TITLES["multitask_bert"], id="multitask"):
            _multitask_tab(cache, by_family["multitask_bert"])
        with gr.Tab(FAMILY_TITLES["addsub"], id="addsub"):
            _addsub_tab(cache, by_family["addsub"])
        with gr.Tab(FAMILY_TITLES["lstm_lm"], id="lstm"):
            _lstm_tab(cache, by_family["lstm_lm"])
        with gr.Tab("Results", id="results"):
            _results_tab(demo, analysis_dir, run_dir)
    return demo


def launch(
    demo: gr.Blocks,
    host: str = "127.0.0.1",
    port: int | None = None,
    block: bool = True,
    threads: int | None = 1,
):
    """Serve `demo` on `host:port` with no share link, no server-side rendering and no analytics.
    `threads` sets torch's intra-op threads (None leaves them): one question is too small a matrix
    product to gain from more, and on a shared CPU their spin-waiting made answers several times slower."""
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    return demo.launch(
        server_name=host,
        server_port=port,
        share=False,
        ssr_mode=False,
        quiet=True,
        prevent_thread_lock=not block,
    )


__all__ = ["build_demo", "default_model_folders", "guarded", "launch", "message", "sort_folders"]
