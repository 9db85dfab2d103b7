"""A local stand-in of the Hub's HTTP API on 127.0.0.1 (never the real Hub), for the pushes of
model folders (`tests/test_hub_push.py`) and of the demo's Space (`tests/test_demo_app.py`).

It serves the routes `create_repo`, `upload_folder` (preupload and commit, for model and Space
repos) and the metadata check call. It refuses what the Hub refuses: a request without the bearer
token [`TOKEN`], and a README.md whose YAML is not a mapping or whose model-index
huggingface_hub cannot parse ([`card_errors`]). It records every created repo's request body
(`created`), every request (`requests`), every commit (`commits`) and every committed file
(`repos`), so the tests check what arrived. The Hub's API has no offline server in
huggingface_hub, so the routes are written here.
"""

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml
from huggingface_hub.repocard_data import model_index_to_eval_results

TOKEN = "hf_test"
#: The commit id every accepted commit gets.
COMMIT_OID = "a" * 40
#: The repo types of the commit routes (`api/<type>s/<owner>/<name>/commit/<revision>`).
REPO_TYPES = {"models": "model", "spaces": "space"}


def card_errors(text: str) -> list[str]:
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
    """The Hub routes the pushes call (see the module docstring). Class attributes hold what was
    received: `repos` (`{owner/name: {path: bytes}}`), `created` (the bodies of `api/repos/create`),
    `commits` (`(repo type, owner/name)` of every accepted commit) and `requests` (`(method, path)`)."""

    repos: dict = {}
    created: list = []
    commits: list = []
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
            errors = card_errors(json.loads(raw)["content"])
            payload = {"errors": [{"message": e} for e in errors], "warnings": []}
            return self._reply(400 if errors else 200, payload)
        if parts[:3] == ["api", "repos", "create"]:
            return self._create(json.loads(raw))
        if len(parts) >= 5 and parts[0] == "api" and parts[1] in REPO_TYPES and parts[4] == "preupload":
            files = json.loads(raw)["files"]
            listed = [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files]
            return self._reply(200, {"files": listed})
        if len(parts) >= 5 and parts[0] == "api" and parts[1] in REPO_TYPES and parts[4] == "commit":
            return self._commit(REPO_TYPES[parts[1]], f"{parts[2]}/{parts[3]}", raw)
        return self._reply(404, {"error": f"stand-in has no route POST {self.path}"})

    def _url(self, repo_type: str, repo_id: str) -> str:
        return f"http://{self.headers['Host']}/{'spaces/' if repo_type == 'space' else ''}{repo_id}"

    def _create(self, body: dict):
        self.created.append(body)
        repo_id = f"{body.get('organization') or 'student'}/{body['name']}"
        self.repos.setdefault(repo_id, {})
        return self._reply(200, {"url": self._url(body.get("type") or "model", repo_id), "name": repo_id})

    def _commit(self, repo_type: str, repo_id: str, raw: bytes):
        files = {}
        for line in raw.decode().splitlines():
            item = json.loads(line)
            if item["key"] == "file":
                files[item["value"]["path"]] = base64.b64decode(item["value"]["content"])
        if "README.md" in files and (errors := card_errors(files["README.md"].decode())):
            return self._reply(422, {"error": "; ".join(errors)})
        self.repos.setdefault(repo_id, {}).update(files)
        self.commits.append((repo_type, repo_id))
        url = f"{self._url(repo_type, repo_id)}/commit/{COMMIT_OID}"
        return self._reply(200, {"commitUrl": url, "commitOid": COMMIT_OID})


@pytest.fixture(name="hub")
def hub_fixture(monkeypatch):
    """The stand-in on a free port of 127.0.0.1 as `HF_ENDPOINT` (cleared of earlier tests'
    records); yields `HubStandIn.repos`, the files that arrived."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), HubStandIn)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    endpoint = f"http://127.0.0.1:{server.server_port}"
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    monkeypatch.setattr("huggingface_hub.constants.ENDPOINT", endpoint)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)
    HubStandIn.repos, HubStandIn.created, HubStandIn.commits, HubStandIn.requests = {}, [], [], []
    try:
        yield HubStandIn.repos
    finally:
        server.shutdown()
        server.server_close()
