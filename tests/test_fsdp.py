"""FSDP on CPU: torch's FSDP2 (`fully_shard`, one unit per block of `_no_split_modules`) over two
gloo processes trains a tiny CharGPT to the losses and weights of one process, and what
`recipes/accelerate_configs/fsdp_cpu_2proc.yaml` does with accelerate 1.16 (two gloo processes, but
data parallel: accelerate builds its FSDP plugin only on accelerator devices)."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "recipes" / "accelerate_configs"

# Each rank writes its own report: the two processes' stdout lines can interleave.
PROBE = """
import json, os, sys
from accelerate import Accelerator
acc = Accelerator()
report = {
    "world": acc.num_processes,
    "type": acc.distributed_type.value,
    "backend": acc.state.backend,
    "fsdp_plugin": getattr(acc.state, "fsdp_plugin", None) is not None,
    "use_fsdp_env": os.environ.get("ACCELERATE_USE_FSDP"),
}
with open(os.path.join(sys.argv[1], f"probe-{acc.process_index}.json"), "w") as f:
    json.dump(report, f)
"""

# One script for both runs: the global batch of 8 sequences is split over the ranks.
FSDP2_WORKER = """
import json, sys
import torch
import torch.distributed as dist
from safetensors.torch import save_file
from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import fully_shard
from hfmodels.char_gpt import CharGPTConfig, CharGPTForCausalLM

dist.init_process_group("gloo")
rank, world = dist.get_rank(), dist.get_world_size()
mesh = init_device_mesh("cpu", (world,))
torch.manual_seed(0)
config = CharGPTConfig(vocab_size=32, block_size=16, n_layer=2, n_head=2, n_embd=16,
                       embd_pdrop=0.0, attn_pdrop=0.0, resid_pdrop=0.0)
model = CharGPTForCausalLM(config)
units = [m for m in model.modules() if type(m).__name__ in model._no_split_modules]
for unit in units:
    fully_shard(unit, mesh=mesh)
fully_shard(model, mesh=mesh)
opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
data = torch.randint(2, 32, (4, 8, 16), generator=torch.Generator().manual_seed(1))
per = 8 // world
losses = []
for step in range(4):
    x = data[step, rank * per : (rank + 1) * per]
    loss = model(input_ids=x, labels=x).loss
    loss.backward()
    opt.step()
    opt.zero_grad()
    total = loss.detach().clone()
    dist.all_reduce(total)
    losses.append(total.item() / world)
local = sum(p.to_local().numel() for p in model.parameters())
full = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
if rank == 0:
    save_file({k: v.contiguous() for k, v in full.items()}, sys.argv[1] + "/model.safetensors")
    total_numel = sum(v.numel() for v in full.values())
    print("RESULT " + json.dumps({"losses": losses, "units": len(units), "world": world,
                                  "local_numel": local, "numel": total_numel}), flush=True)
dist.destroy_process_group()
"""


def _env() -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT))
    env.pop("WORLD_SIZE", None)
    env.pop("RANK", None)
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _probe(tmp_path: Path, config: str) -> list[dict]:
    """Launch PROBE with `accelerate launch --config_file <config>` and ACCELERATE_USE_CPU=1."""
    script = tmp_path / "probe.py"
    script.write_text(PROBE, encoding="utf-8")
    env = dict(_env(), ACCELERATE_USE_CPU="1")
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(CONFIGS / config)]
    cmd += ["--main_process_port", str(_free_port()), str(script), str(tmp_path)]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    reports = sorted(p.name for p in tmp_path.glob("probe-*.json"))
    assert reports == ["probe-0.json", "probe-1.json"], proc.stdout[-3000:] + proc.stderr[-3000:]
    return [json.loads((tmp_path / name).read_text()) for name in reports]


def test_multi_cpu_config_launches_two_gloo_processes(tmp_path):
    for report in _probe(tmp_path, "multi_cpu_2proc.yaml"):
        assert report["world"] == 2 and report["backend"] == "gloo" and report["type"] == "MULTI_CPU"


def test_fsdp_config_on_cpu_launches_two_gloo_processes_without_fsdp(tmp_path):
    reports = _probe(tmp_path, "fsdp_cpu_2proc.yaml")
    for report in reports:
        # The launcher did ask for FSDP and two gloo processes did start ...
        assert report["use_fsdp_env"] == "true" and report["world"] == 2 and report["backend"] == "gloo"
        # ... but accelerate 1.16 keeps MULTI_CPU (DDP) and builds no FSDP plugin on CPU. When a
        # later accelerate shards on CPU this fails, and the README's FSDP section must be updated.
        assert report["type"] == "MULTI_CPU" and report["fsdp_plugin"] is False


def _fsdp2(tmp_path: Path, nproc: int) -> dict:
    out = tmp_path / f"world{nproc}"
    out.mkdir()
    script = tmp_path / "fsdp2_worker.py"
    script.write_text(FSDP2_WORKER, encoding="utf-8")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc)]
    cmd += ["--master_port", str(_free_port()), str(script), str(out)]
    proc = subprocess.run(cmd, cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    lines = [line[7:] for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert len(lines) == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    return dict(json.loads(lines[0]), weights=load_file(out / "model.safetensors"))


def test_fsdp2_on_two_gloo_processes_matches_one_process(tmp_path):
    one, two = _fsdp2(tmp_path, 1), _fsdp2(tmp_path, 2)
    assert one["world"] == 1 and two["world"] == 2 and two["units"] == 2
    # each rank held about half of the parameters: the model really was sharded
    assert one["local_numel"] == one["numel"] and two["local_numel"] <= two["numel"] // 2 + 64
    assert len(two["losses"]) == 4 and two["losses"] == pytest.approx(one["losses"], rel=1e-5)
    assert one["losses"][-1] != one["losses"][0]  # training moved the model
    assert one["weights"].keys() == two["weights"].keys()
    for k in one["weights"]:
        torch.testing.assert_close(two["weights"][k], one["weights"][k], rtol=1e-4, atol=1e-5)
