"""Pushes keep the card for the character GPT: the study's `--push_to_hub` and
`CharGPTForCausalLM.push_to_hub`, against the Hub stand-in of `tests/test_hub_push.py` on 127.0.0.1
(never the real Hub): exactly the model folder's files arrive, and the card huggingface_hub reads
back keeps its model-index."""

import json
from pathlib import Path

import pytest
import torch
from huggingface_hub import ModelCard, metadata_load
from huggingface_hub.repocard_data import model_index_to_eval_results
from scripts import ROOT, write_birthplace_data
from test_hub_push import TOKEN, HubStandIn, hub_fixture  # noqa: F401
from transformers import AutoModelForCausalLM

import hfmodels  # noqa: F401  (registers the char_gpt Auto classes)
from hfmodels.reporting import model_folder_files
from hfmodels.training.char_gpt_cli import run_command

PRESETS = ROOT / "recipes" / "char_gpt" / "presets"
TINY = ["--n_layer", "2", "--n_embd", "16", "--n_head", "2", "--logging_steps", "1"]


@pytest.fixture(name="finetuned")
def finetuned_fixture(tmp_path, hub):
    """A tiny finetune run (checkpoints, TensorBoard events) pushed by the recipe's `--push_to_hub`;
    yields (output dir, its metrics)."""
    people = ["Ann Lee", "Bo Chan", "Cy Dorn", "Di Eck", "Ed Fox", "Flo Gu"]
    places = ["Paris", "London", "Rome", "London", "Oslo", "Lima"]
    data_dir = write_birthplace_data(tmp_path / "data", people, places, train=slice(0, 4), dev=slice(2, None))
    out = tmp_path / "run"
    metrics = run_command(
        [
            "finetune", "vanilla", "wiki.txt", "--data_dir", str(data_dir), *TINY, "--report_to", "tensorboard",
            "--output_dir", str(out), "--max_steps", "2", "--per_device_train_batch_size", "2",
            "--save_steps", "1", "--push_to_hub", "--hub_model_id", "student/char-recipe", "--hub_token", TOKEN,
        ],
        PRESETS,
    )  # fmt: skip
    return out, metrics


def _check_card(readme: bytes, accuracy: float, tmp_path: Path) -> Path:
    """The received card parses with huggingface_hub and keeps the project's model-index."""
    path = tmp_path / "received_README.md"
    path.write_bytes(readme)
    meta = metadata_load(path)
    assert meta["license"] == "mit" and meta["library_name"] == "transformers"
    assert "char_gpt" in meta["tags"]
    results = model_index_to_eval_results(meta["model-index"])[1]
    assert [(r.metric_type, r.metric_value) for r in results] == [("accuracy", accuracy)]
    assert ModelCard.load(path).data.eval_results[0].metric_value == accuracy
    assert "Model Card for Model ID" not in path.read_text()
    return path


def test_recipe_push_uploads_exactly_the_model_folder(finetuned, hub, tmp_path):
    out, metrics = finetuned
    folder = out / "model"
    assert any(out.glob("checkpoint-*")) and any(out.rglob("events.out.tfevents*"))
    arrived = hub["student/char-recipe"]
    assert set(arrived) == set(model_folder_files(folder))
    assert {"config.json", "model.safetensors", "vocab.json", "README.md", "metrics.json"} <= set(arrived)
    assert not [n for n in arrived if n.startswith(("checkpoint-", "runs/", "tb/")) or "tfevents" in n]
    assert "training_args.bin" not in arrived and "dev.predictions" not in arrived
    for name in arrived:
        assert arrived[name] == (folder / name).read_bytes(), name
    _check_card(arrived["README.md"], metrics["dev_accuracy"], tmp_path)
    assert json.loads(arrived["metrics.json"])["dev_accuracy"] == metrics["dev_accuracy"]
    assert [r for r in HubStandIn.requests if r[1] == "api/repos/create"] == [("POST", "api/repos/create")]


def test_model_push_to_hub_keeps_the_project_card(finetuned, hub, tmp_path):
    """`model.push_to_hub` uploads the folder it was loaded from with fresh weights: the project's
    card (transformers would write its generic one) with the given tags, never what training left."""
    out, metrics = finetuned
    folder = out / "model"
    (folder / "training_args.bin").write_bytes(b"pickle")
    (folder / "runs" / "Dec04").mkdir(parents=True)
    (folder / "runs" / "Dec04" / "events.out.tfevents.1.host").write_bytes(b"events")
    (folder / "checkpoint-5").mkdir()
    (folder / "checkpoint-5" / "optimizer.pt").write_bytes(b"state")
    model = AutoModelForCausalLM.from_pretrained(folder)
    model.push_to_hub("student/char-method", token=TOKEN, tags=["birthplaces"])
    arrived = hub["student/char-method"]
    assert set(arrived) == set(model_folder_files(folder))
    card = _check_card(arrived["README.md"], metrics["dev_accuracy"], tmp_path)
    assert "birthplaces" in metadata_load(card)["tags"]
    received = tmp_path / "received"
    received.mkdir()
    for name, content in arrived.items():
        (received / name).write_bytes(content)
    again = AutoModelForCausalLM.from_pretrained(received)
    ids = torch.tensor([[3, 5, 7, 9]])
    with torch.no_grad():
        assert torch.equal(again(input_ids=ids).logits, model(input_ids=ids).logits)


def test_push_is_refused_for_a_step_without_a_model_folder(tmp_path):
    with pytest.raises(SystemExit, match="--push_to_hub uploads a model folder; 'london_baseline'"):
        run_command(
            ["london_baseline", "vanilla", "wiki.txt", "--data_dir", str(tmp_path), "--push_to_hub"], PRESETS
        )
