"""Pushes keep the card: `push_folder_to_hub`, `MultitaskBertModel.push_to_hub`,
`AddSubTransformerForConditionalGeneration.push_to_hub`, `LstmLMForCausalLM.push_to_hub` and the
multitask, AddSub and LSTM recipes' `--push_to_hub` against the local stand-in of the Hub's HTTP API (`tests/hub_stand_in.py`; never
the real Hub), which refuses what the Hub refuses and records every committed file, so the tests
check what arrived: the model folder's files only (the family's remote code included), and a card
huggingface_hub reads back."""

import ast
import json
from pathlib import Path

import pytest
import torch
import yaml
from hub_stand_in import TOKEN, HubStandIn, hub_fixture  # noqa: F401
from huggingface_hub import ModelCard, metadata_load
from huggingface_hub.repocard_data import model_index_to_eval_results
from multitask_helpers import backbone_dir_fixture, load_recipe, make_tokenizer, model_of, write_minbert_dir  # noqa: F401
from remote_code import run_without_hfmodels
from scripts import load_script
from test_data_wikitext import write_wikitext
from transformers import AutoModel, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

import hfmodels
import hfmodels.multitask_bert
from hfmodels.evaluation.minbert import card_arguments
from hfmodels.reporting import build_model_card, push_folder_to_hub, save_model_card, update_metrics_file


def _write_received(files: dict, folder: Path) -> Path:
    folder.mkdir(parents=True)
    for name, content in files.items():
        (folder / name).write_bytes(content)
    return folder


def _trained_folder(root: Path) -> Path:
    """A recipe-like output dir: the model folder (weights, config, tokenizer, project card,
    metrics) plus what Trainer leaves there (training_args.bin, TensorBoard events, a checkpoint)."""
    folder = root / "run"
    model = model_of(tasks=["sentiment", "paraphrase", "similarity"])
    model.config.backbone_name_or_path = "bert-base-uncased"
    model.save_pretrained(folder)
    make_tokenizer().save_pretrained(folder)
    metrics = {"eval_sst_accuracy": 0.4, "eval_quora_accuracy": 0.7, "eval_sts_pearson": 0.5}
    update_metrics_file(folder, metrics)
    save_model_card(
        build_model_card("multitask_bert", "mt", metrics, **card_arguments(metrics, model.config)), folder
    )
    (folder / "training_args.bin").write_bytes(b"pickle")
    (folder / "runs" / "Dec04").mkdir(parents=True)
    (folder / "runs" / "Dec04" / "events.out.tfevents.1.host").write_bytes(b"events")
    (folder / "checkpoint-5").mkdir()
    (folder / "checkpoint-5" / "optimizer.pt").write_bytes(b"state")
    return folder


def _check_card(readme: bytes, tmp_path: Path) -> None:
    path = tmp_path / "received_README.md"
    path.write_bytes(readme)
    meta = metadata_load(path)
    assert meta["license"] == "mit" and meta["library_name"] == "transformers"
    assert meta["base_model"] == "bert-base-uncased"
    assert set(meta["datasets"]) == {"sst", "quora", "sts"}
    results = model_index_to_eval_results(meta["model-index"])[1]
    assert {(r.dataset_type, r.metric_type, r.metric_value) for r in results} == {
        ("sst", "accuracy", 0.4),
        ("quora", "accuracy", 0.7),
        ("sts", "pearsonr", 0.5),
    }
    assert "Model Card for Model ID" not in path.read_text()
    assert {r.metric_type for r in ModelCard.load(path).data.eval_results} == {"accuracy", "pearsonr"}


#: The multitask BERT's files that `save_pretrained` copies beside the weights (remote code).
REMOTE_CODE = {"configuration_multitask_bert.py", "modeling_multitask_bert.py", "pipeline_multitask_bert.py"}
MODEL_FOLDER = {
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "README.md",
    "metrics.json",
    *REMOTE_CODE,
}


def _check_remote_code(arrived: dict) -> None:
    """The pushed folder loads as remote code: its `config.json` maps the Auto classes and the
    pipeline to the pushed copies, which are the package's current files."""
    config = json.loads(arrived["config.json"])
    assert config["auto_map"] == {
        "AutoConfig": "configuration_multitask_bert.MultitaskBertConfig",
        "AutoModel": "modeling_multitask_bert.MultitaskBertModel",
        "AutoModelForSequenceClassification": "modeling_multitask_bert.MultitaskBertForSequenceClassification",
    }
    assert (
        config["custom_pipelines"]["multitask-bert"]["impl"]
        == "pipeline_multitask_bert.MultitaskBertPipeline"
    )
    package = Path(hfmodels.multitask_bert.__file__).parent
    assert {name: arrived[name] for name in REMOTE_CODE} == {
        name: (package / name).read_bytes() for name in REMOTE_CODE
    }


def test_push_folder_uploads_the_model_folder_and_nothing_from_training(tmp_path, hub):
    folder = _trained_folder(tmp_path)
    commit = push_folder_to_hub(folder, "student/mt", token=TOKEN)
    assert commit.oid == "a" * 40
    arrived = hub["student/mt"]
    assert set(arrived) == MODEL_FOLDER
    assert arrived["model.safetensors"] == (folder / "model.safetensors").read_bytes()
    _check_card(arrived["README.md"], tmp_path)
    _check_remote_code(arrived)
    with pytest.raises(FileNotFoundError, match="README.md"):
        (folder / "README.md").unlink()
        push_folder_to_hub(folder, "student/mt", token=TOKEN)


def test_stand_in_refuses_a_bad_card_and_a_missing_token(tmp_path, hub):
    """The stand-in is not a yes-machine: a card whose model-index huggingface_hub cannot parse, and
    a push without the token, are refused and nothing is recorded."""
    folder = _trained_folder(tmp_path)
    (folder / "README.md").write_text("---\nlicense: mit\nmodel-index:\n- results: [{}]\n---\n# x\n")
    with pytest.raises(Exception, match="model-index|400|422"):
        push_folder_to_hub(folder, "student/bad", token=TOKEN)
    with pytest.raises(Exception, match="401|credentials|Unauthorized"):
        push_folder_to_hub(folder, "student/anon", token="hf_wrong")
    assert not hub.get("student/bad") and not hub.get("student/anon")


def test_model_push_to_hub_keeps_the_project_card(tmp_path, hub):
    """`model.push_to_hub` (the method) uploads the folder it was loaded from, the project's card
    included (transformers would write its generic card), with fresh weights, the given tags and
    the remote code (also for a folder saved before it had any: it is written again)."""
    folder = _trained_folder(tmp_path)
    config = json.loads((folder / "config.json").read_text())
    for key in ("auto_map", "custom_pipelines"):
        config.pop(key)
    (folder / "config.json").write_text(json.dumps(config))
    for name in REMOTE_CODE:
        (folder / name).unlink()
    model = AutoModel.from_pretrained(folder)
    model.push_to_hub("student/mt-method", token=TOKEN, tags=["sst5"])
    arrived = hub["student/mt-method"]
    assert set(arrived) == MODEL_FOLDER
    _check_card(arrived["README.md"], tmp_path)
    _check_remote_code(arrived)
    assert "sst5" in metadata_load(tmp_path / "received_README.md")["tags"]
    received = AutoModel.from_pretrained(_write_received(arrived, tmp_path / "received"))
    ids = torch.tensor([[2, 5, 7, 3]])
    assert torch.equal(
        received(input_ids=ids, task="sentiment").logits, model(input_ids=ids, task="sentiment").logits
    )


def test_recipe_push_to_hub_uploads_the_model_folder(tmp_path, hub, backbone_dir):
    recipe = load_recipe("train")
    data_dir = write_minbert_dir(tmp_path / "data")
    out = tmp_path / "run"
    recipe.main(
        [
            "--task", "sst", "--backbone", str(backbone_dir), "--data_dir", str(data_dir),
            "--output_dir", str(out), "--max_steps", "2", "--batch_size", "8", "--report_to", "tensorboard",
            "--logging_steps", "1", "--save_strategy", "steps", "--save_steps", "1",
            "--push_to_hub", "--hub_model_id", "student/mt-recipe", "--hub_token", TOKEN,
        ]
    )  # fmt: skip
    assert any(out.glob("checkpoint-*")) and any(out.rglob("events.out.tfevents*"))
    arrived = hub["student/mt-recipe"]
    assert {"config.json", "model.safetensors", "tokenizer.json", "README.md", "metrics.json"} <= set(arrived)
    _check_remote_code(arrived)
    assert not [n for n in arrived if n.startswith(("checkpoint-", "runs/")) or "tfevents" in n]
    assert "training_args.bin" not in arrived
    meta = yaml.safe_load(arrived["README.md"].decode().split("---\n")[1])
    assert meta["license"] == "mit" and meta["datasets"] == ["sst"]
    assert model_index_to_eval_results(meta["model-index"])[1][0].metric_type == "accuracy"
    assert [r for r in HubStandIn.requests if r[1] == "api/repos/create"] == [("POST", "api/repos/create")]


# AddSub and LSTM LM: each recipe's `--push_to_hub`, then `model.push_to_hub` of the folder it wrote.
ADDSUB_CODE = {"configuration_addsub.py", "modeling_addsub.py", "blocks_addsub.py", "tokenization_addsub.py"}
LSTM_CODE = {"configuration_lstm_lm.py", "modeling_lstm_lm.py", "tokenization_lstm_lm.py"}
#: Exactly what arrives from each family's recipe folder: weights, config, generation config,
#: tokenizer, the project's card, the reports and the remote code.
PUSHED = {
    "addsub": {
        "model.safetensors", "config.json", "generation_config.json", "tokenizer_config.json", "README.md",
        "metrics.json", "summary.md", *ADDSUB_CODE,
    },
    "lstm_lm": {
        "model.safetensors", "config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
        "README.md", "metrics.json", "summary.md", *LSTM_CODE,
    },
}  # fmt: skip
#: What Trainer and the recipe leave in the output dir that must not arrive.
TRAINING_LEFTOVERS = ("training_args.bin", "all_results.json", "train_results.json", "test_results.json")


@pytest.fixture(name="addsub_run")
def addsub_run_fixture(tmp_path, hub):
    """A tiny AddSub run (checkpoints, TensorBoard events) pushed by the recipe's `--push_to_hub`;
    yields (output dir, metrics)."""
    recipe = load_script("recipes/addsub/train.py", "addsub_train")
    out = tmp_path / "addsub"
    metrics = recipe.main(
        [
            "--output_dir", str(out), "--max_steps", "2", "--emb_dim", "16", "--num_heads", "2",
            "--feedforward_dim", "16", "--encoder_layers", "1", "--decoder_layers", "1",
            "--max_train_examples", "64", "--max_eval_examples", "16", "--evaluate_exhaustive", "false",
            "--per_device_train_batch_size", "32", "--report_to", "tensorboard", "--logging_steps", "1",
            "--save_strategy", "steps", "--save_steps", "1", "--eval_strategy", "no",
            "--push_to_hub", "--hub_model_id", "student/addsub-recipe", "--hub_token", TOKEN,
        ]
    )  # fmt: skip
    return out, metrics


@pytest.fixture(name="lstm_run")
def lstm_run_fixture(tmp_path, hub):
    """A tiny LSTM LM run on WikiText-like data, pushed by the recipe's `--push_to_hub`; yields
    (output dir, metrics)."""
    recipe = load_script("recipes/lstm_lm/train.py", "lstm_lm_train")
    data = write_wikitext(tmp_path / "data", n_valid=8, n_test=6)
    out = tmp_path / "lstm_lm"
    metrics = recipe.main(
        [
            "--data_dir", str(data), "--output_dir", str(out), "--block_size", "8", "--num_train_epochs", "1",
            "--embedding_size", "8", "--hidden_size", "8", "--validation_articles", "2",
            "--num_continuations", "2", "--baselines", "false", "--report_to", "tensorboard",
            "--logging_steps", "1", "--save_strategy", "steps", "--save_steps", "1",
            "--push_to_hub", "--hub_model_id", "student/lstm-recipe", "--hub_token", TOKEN,
        ]
    )  # fmt: skip
    return out, metrics


def _family_card_results(readme: bytes, tmp_path: Path, family: str) -> list:
    """The received card as huggingface_hub reads it back: the project's metadata, and its
    model-index as evaluation results."""
    path = tmp_path / f"received_{family}_README.md"
    path.write_bytes(readme)
    meta = metadata_load(path)
    assert meta["license"] == "mit" and meta["library_name"] == "transformers"
    assert {"hfmodels", family} <= set(meta["tags"])
    assert "Model Card for Model ID" not in path.read_text()
    assert "trust_remote_code=True" in path.read_text()
    return model_index_to_eval_results(meta["model-index"])[1]


def _check_family_code(arrived: dict, family: str) -> None:
    """`auto_map` of the pushed configs names the pushed code, which is the package's current
    files (the AddSub blocks: `hfmodels/from_scratch/blocks.py`)."""
    package = Path(hfmodels.__file__).parent
    config, tokenizer = (json.loads(arrived[n]) for n in ("config.json", "tokenizer_config.json"))
    code = ADDSUB_CODE if family == "addsub" else LSTM_CODE
    assert {name.partition(".")[0] + ".py" for name in config["auto_map"].values()} <= code
    assert tokenizer["auto_map"]["AutoTokenizer"][0].partition(".")[0] + ".py" in code
    for name in code:
        source = package / family / name
        if name == "blocks_addsub.py":
            source = package / "from_scratch" / "blocks.py"
        assert arrived[name] == source.read_bytes(), name


def _check_recipe_push(out: Path, arrived: dict, family: str) -> None:
    assert any(out.glob("checkpoint-*")) and any(out.rglob("events.out.tfevents*"))
    assert all((out / name).exists() for name in TRAINING_LEFTOVERS)
    assert set(arrived) == PUSHED[family]
    for name, content in arrived.items():
        assert content == (out / name).read_bytes(), name
    _check_family_code(arrived, family)
    assert [r for r in HubStandIn.requests if r[1] == "api/repos/create"] == [("POST", "api/repos/create")]


def test_addsub_recipe_push_uploads_exactly_the_model_folder(addsub_run, hub, tmp_path):
    out, metrics = addsub_run
    arrived = hub["student/addsub-recipe"]
    _check_recipe_push(out, arrived, "addsub")
    (result,) = _family_card_results(arrived["README.md"], tmp_path, "addsub")
    assert (result.dataset_type, result.dataset_split, result.metric_type) == ("addsub", "test", "accuracy")
    assert result.metric_value == metrics["test_exact_match"]


def test_lstm_recipe_push_uploads_exactly_the_model_folder(lstm_run, hub, tmp_path):
    out, metrics = lstm_run
    arrived = hub["student/lstm-recipe"]
    _check_recipe_push(out, arrived, "lstm_lm")
    results = _family_card_results(arrived["README.md"], tmp_path, "lstm_lm")
    assert sorted((r.dataset_type, r.dataset_split, r.metric_type, r.metric_value) for r in results) == [
        ("wikitext", "test", "perplexity", metrics["test_perplexity"]),
        ("wikitext", "validation", "perplexity", metrics["validation_perplexity"]),
    ]


def _check_method_push(out: Path, family: str, model, inputs: dict, hub, tmp_path: Path) -> str:
    """`model.push_to_hub` of the model loaded from the recipe's output dir uploads the same
    folder files (fresh weights and code, the project's card with the given tag), nothing Trainer
    left there; the received folder loads and gives the same logits, and the card's Use section
    runs on it without hfmodels: returns what that printed."""
    repo = f"student/{family}-method"
    model.push_to_hub(repo, token=TOKEN, tags=["course-lab"])
    arrived = hub[repo]
    assert set(arrived) == PUSHED[family]
    _check_family_code(arrived, family)
    for name in ("metrics.json", "summary.md", "tokenizer_config.json"):
        assert arrived[name] == (out / name).read_bytes(), name
    card = tmp_path / "method_README.md"
    card.write_bytes(arrived["README.md"])
    assert "course-lab" in metadata_load(card)["tags"]
    assert ModelCard.load(card).text == ModelCard.load(out / "README.md").text
    received = type(model).from_pretrained(_write_received(arrived, tmp_path / "received"))
    with torch.no_grad():
        assert torch.equal(received(**inputs).logits, model(**inputs).logits)
    return _run_card_use_section(arrived["README.md"].decode(), tmp_path / "received", tmp_path)


def _run_card_use_section(card: str, folder: Path, tmp_path: Path) -> str:
    """Run the card's "Use" code on `folder` in a fresh interpreter without hfmodels, offline;
    returns what it printed."""
    code = card.split("## Use", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    assert "path/to/this/folder" in code
    return run_without_hfmodels(code.replace("path/to/this/folder", str(folder)), [], tmp_path)


def test_addsub_model_push_to_hub_keeps_the_project_card(addsub_run, hub, tmp_path):
    out, _ = addsub_run
    model = AutoModelForSeq2SeqLM.from_pretrained(out).eval()
    tokenizer = AutoTokenizer.from_pretrained(out)
    inputs = dict(tokenizer(["BOS POSITIVE 1 2 add POSITIVE 0 5 EOS"], return_tensors="pt"))
    inputs["decoder_input_ids"] = torch.tensor([[14, 10, 1]])
    printed = _check_method_push(out, "addsub", model, inputs, hub, tmp_path)
    (answer,) = ast.literal_eval(printed)  # one decoded answer: BOS, then up to four tokens
    assert answer.split()[0] == "BOS" and 2 <= len(answer.split()) <= 5, answer


def test_lstm_model_push_to_hub_keeps_the_project_card(lstm_run, hub, tmp_path):
    out, _ = lstm_run
    model = AutoModelForCausalLM.from_pretrained(out).eval()
    inputs = {
        "input_ids": AutoTokenizer.from_pretrained(out)("valid words 1 here", return_tensors="pt").input_ids
    }
    printed = _check_method_push(out, "lstm_lm", model, inputs, hub, tmp_path)
    assert len(printed.split()) == 6 + 10, printed  # the card's 6-word prompt and 10 new words
