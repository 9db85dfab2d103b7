"""Pushes keep the card: `push_folder_to_hub`, `MultitaskBertModel.push_to_hub` and the recipe's
`--push_to_hub` against a local stand-in of the Hub's HTTP API on 127.0.0.1 (never the real Hub).

The stand-in refuses what the Hub refuses (no token, a README.md whose YAML is not a mapping or
whose model-index huggingface_hub cannot parse) and records every committed file, so the tests
check what arrived: the model folder's files only, and a card huggingface_hub reads back."""

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch
import yaml
from huggingface_hub import ModelCard, metadata_load
from huggingface_hub.repocard_data import model_index_to_eval_results
from multitask_helpers import backbone_dir_fixture, load_recipe, make_tokenizer, model_of, write_minbert_dir  # noqa: F401
from transformers import AutoModel

from hfmodels.evaluation.minbert import card_arguments
from hfmodels.reporting import build_model_card, push_folder_to_hub, save_model_card, update_metrics_file

TOKEN = "hf_test"


def _card_errors(text: str) -> list[str]:
    """What the Hub's metadata check would refuse in a README.md: YAML that is not a mapping, or a
    model-index that huggingface_hub's own parser cannot turn into evaluation results."""
    if not text.startswith("---\n"):
        return ["README.md has no YAML front matter"]
    try:
        meta = yaml.safe_load(text.split("---\n")[1])
    except yaml.YAMLError as err:
        return [f"README.md YAML: {err}"]
    if not isinstance(meta, dict):
        return ["README.md YAML is not a mapping"]
    if "model-index" in meta:
        try:
            model_index_to_eval_results(meta["model-index"])
        except (KeyError, TypeError, ValueError) as err:
            return [f"model-index: {err!r}"]
    return []


class HubStandIn(BaseHTTPRequestHandler):
    """The routes `create_repo`, `upload_folder` and the metadata check call; every request needs
    the bearer token, every commit's README.md passes [`_card_errors`]. `repos` records the files."""

    repos: dict = {}
    requests: list = []

    def log_message(self, *args):
        pass

    def _reply(self, code, payload):
        body = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):  # noqa: N802
        return self._reply(404, {"error": f"stand-in has no route GET {self.path}"})

    def do_POST(self):  # noqa: N802
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        parts = self.path.split("?")[0].strip("/").split("/")
        self.requests.append(("POST", "/".join(parts)))
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self._reply(401, {"error": "Invalid credentials in Authorization header"})
        if parts[:2] == ["api", "validate-yaml"]:
            errors = _card_errors(json.loads(raw)["content"])
            payload = {"errors": [{"message": e} for e in errors], "warnings": []}
            return self._reply(400 if errors else 200, payload)
        if parts[:3] == ["api", "repos", "create"]:
            body = json.loads(raw)
            repo_id = f"{body.get('organization') or 'student'}/{body['name']}"
            self.repos.setdefault(repo_id, {})
            return self._reply(200, {"url": f"http://{self.headers['Host']}/{repo_id}", "name": repo_id})
        if len(parts) >= 5 and parts[:2] == ["api", "models"] and parts[4] == "preupload":
            files = json.loads(raw)["files"]
            return self._reply(
                200,
                {
                    "files": [
                        {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files
                    ]
                },
            )
        if len(parts) >= 5 and parts[:2] == ["api", "models"] and parts[4] == "commit":
            repo_id = f"{parts[2]}/{parts[3]}"
            files = {}
            for line in raw.decode().splitlines():
                item = json.loads(line)
                if item["key"] == "file":
                    files[item["value"]["path"]] = base64.b64decode(item["value"]["content"])
            if "README.md" in files and (errors := _card_errors(files["README.md"].decode())):
                return self._reply(422, {"error": "; ".join(errors)})
            self.repos.setdefault(repo_id, {}).update(files)
            return self._reply(
                200,
                {"commitUrl": f"http://{self.headers['Host']}/{repo_id}/commit/abc", "commitOid": "a" * 40},
            )
        return self._reply(404, {"error": f"stand-in has no route POST {self.path}"})


@pytest.fixture(name="hub")
def hub_fixture(monkeypatch):
    """The stand-in on a free port of 127.0.0.1 as `HF_ENDPOINT`; yields its recorded repos."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), HubStandIn)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    endpoint = f"http://127.0.0.1:{server.server_port}"
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    monkeypatch.setattr("huggingface_hub.constants.ENDPOINT", endpoint)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)
    HubStandIn.repos, HubStandIn.requests = {}, []
    try:
        yield HubStandIn.repos
    finally:
        server.shutdown()
        server.server_close()


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


MODEL_FOLDER = {
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "README.md",
    "metrics.json",
}


def test_push_folder_uploads_the_model_folder_and_nothing_from_training(tmp_path, hub):
    folder = _trained_folder(tmp_path)
    commit = push_folder_to_hub(folder, "student/mt", token=TOKEN)
    assert commit.oid == "a" * 40
    arrived = hub["student/mt"]
    assert set(arrived) == MODEL_FOLDER
    assert arrived["model.safetensors"] == (folder / "model.safetensors").read_bytes()
    _check_card(arrived["README.md"], tmp_path)
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
    included (transformers would write its generic card), with fresh weights and the given tags."""
    folder = _trained_folder(tmp_path)
    model = AutoModel.from_pretrained(folder)
    model.push_to_hub("student/mt-method", token=TOKEN, tags=["sst5"])
    arrived = hub["student/mt-method"]
    assert set(arrived) == MODEL_FOLDER
    _check_card(arrived["README.md"], tmp_path)
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
    assert not [n for n in arrived if n.startswith(("checkpoint-", "runs/")) or "tfevents" in n]
    assert "training_args.bin" not in arrived
    meta = yaml.safe_load(arrived["README.md"].decode().split("---\n")[1])
    assert meta["license"] == "mit" and meta["datasets"] == ["sst"]
    assert model_index_to_eval_results(meta["model-index"])[1][0].metric_type == "accuracy"
    assert [r for r in HubStandIn.requests if r[1] == "api/repos/create"] == [("POST", "api/repos/create")]
