"""Distribution and resumption are right: 2 CPU processes (gloo, torchrun) give the losses and
weights of 1 process at the same global batch, and a run interrupted after a checkpoint and resumed
ends with the weights of the uninterrupted run (span-corruption draws and dropout included)."""

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parents[1]
RUN = str(ROOT / "recipes" / "char_gpt" / "run.py")
TINY = ["--n_layer", "2", "--n_embd", "16", "--n_head", "2", "--block_size", "64", "--logging_steps", "1"]


def _env():
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", OMP_NUM_THREADS="1")
    env.pop("WORLD_SIZE", None)
    env.pop("RANK", None)
    return env


def _write_data(d: Path) -> Path:
    words = [
        "alpha",
        "born",
        "city",
        "delta",
        "echo",
        "Paris",
        "Rome",
        "Oslo",
        "Lima",
        "river",
        "north",
        "south",
    ]
    docs = [" ".join(words[(i * 7 + j * 3) % len(words)] for j in range(8 + i % 9)) + "." for i in range(21)]
    docs.append(
        "Where was the quick brown fox born? THE QUICK BROWN FOX JUMPS OVER A LAZY DOG: WHERE WAS IT BORN?"
    )
    (d / "wiki.txt").write_text("\n".join(docs), encoding="utf-8")
    places = ["Paris", "Rome", "Oslo", "Lima"]
    rows = [
        f"Where was {w.title()} {v} born?\t{places[(i + k) % 4]}"
        for i, w in enumerate(words)
        for k, v in enumerate("ab")
    ]
    (d / "train.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return d


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(args, cwd, torchrun=False):
    if torchrun:
        cmd = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node",
            "2",
            "--master_port",
            str(_free_port()),
        ]
        env = dict(_env(), ACCELERATE_USE_CPU="1")
    else:
        cmd, env = [sys.executable], _env()
    proc = subprocess.run(cmd + [RUN, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def _losses(checkpoint: Path) -> list[float]:
    state = json.loads((checkpoint / "trainer_state.json").read_text())
    return [h["loss"] for h in state["log_history"] if "loss" in h]


def test_two_processes_match_one_process(tmp_path):
    # 24 questions, global batch 8: no short last batch, which accelerate's `even_batches` would
    # fill up with repeated examples on one rank (a real, documented difference between the two).
    data = _write_data(tmp_path)
    common = [
        "finetune",
        "vanilla",
        str(data / "wiki.txt"),
        "--finetune_corpus_path",
        str(data / "train.tsv"),
    ]
    common += TINY + [
        "--dropout",
        "0",
        "--max_steps",
        "4",
        "--save_steps",
        "4",
        "--eval_after_finetune",
        "False",
    ]
    # fp32: the proof is about distribution; bf16 rounding differs with the per-process batch shape.
    common += ["--learning_rate", "3e-3", "--report_to", "none", "--bf16", "False"]
    _run(common + ["--per_device_train_batch_size", "8", "--output_dir", str(tmp_path / "one")], tmp_path)
    out = _run(
        common + ["--per_device_train_batch_size", "4", "--output_dir", str(tmp_path / "two")], tmp_path, True
    )
    metrics = json.loads((tmp_path / "two" / "metrics.json").read_text())
    assert metrics["finetune_world_size"] == 2, out.stdout[-2000:]
    one, two = _losses(tmp_path / "one" / "checkpoint-4"), _losses(tmp_path / "two" / "checkpoint-4")
    assert len(one) == len(two) == 4
    assert two == pytest.approx(one, rel=1e-4)
    # The schedule saw the global token count on both ranks and the weights agree.
    assert (
        metrics["finetune_tokens"]
        == json.loads((tmp_path / "one" / "metrics.json").read_text())["finetune_tokens"]
    )
    w1 = load_file(tmp_path / "one" / "model" / "model.safetensors")
    w2 = load_file(tmp_path / "two" / "model" / "model.safetensors")
    for k in w1:
        torch.testing.assert_close(w2[k], w1[k], rtol=1e-4, atol=1e-5)


def test_interrupted_and_resumed_pretraining_ends_with_the_same_weights(tmp_path):
    data = _write_data(tmp_path)
    # 22 documents, batch 6: 4 steps per epoch (the last batch has 4 documents); the interruption
    # at step 6 falls in the middle of the second epoch. Dropout stays on (0.1) and span
    # corruption is packed, so both RNG paths are exercised.
    common = ["pretrain", "vanilla", str(data / "wiki.txt"), *TINY, "--pack", "--max_steps", "10"]
    common += ["--per_device_train_batch_size", "6", "--save_steps", "3", "--report_to", "none"]
    full = tmp_path / "full"
    _run(common + ["--output_dir", str(full), "--writing_params_path", str(full / "model")], tmp_path)
    part = tmp_path / "part"
    args = common + ["--output_dir", str(part), "--writing_params_path", str(part / "model")]
    _run(args + ["--stop_after_steps", "6"], tmp_path)
    assert (part / "checkpoint-6").is_dir() and not (part / "checkpoint-9").exists()
    interrupted = load_file(part / "model" / "model.safetensors")
    # As if killed while writing checkpoint 9: weights there, trainer_state.json not yet. "last"
    # must resume checkpoint 6 (the Trainer cannot resume the half-written one).
    shutil.copytree(part / "checkpoint-6", part / "checkpoint-9")
    (part / "checkpoint-9" / "trainer_state.json").unlink()
    _run(args + ["--resume_from_checkpoint", "last"], tmp_path)
    a = load_file(full / "model" / "model.safetensors")
    b = load_file(part / "model" / "model.safetensors")
    assert any(not torch.equal(interrupted[k], a[k]) for k in a)  # the resumed run did train further
    for k in a:
        torch.testing.assert_close(b[k], a[k], rtol=0, atol=0)
    assert _losses(part / "checkpoint-9") == _losses(full / "checkpoint-9")
    full_metrics = json.loads((full / "metrics.json").read_text())
    part_metrics = json.loads((part / "metrics.json").read_text())
    assert (
        part_metrics["pretrain_tokens"] == full_metrics["pretrain_tokens"] == (2 * 22 + 2 * 6) * 63
    )  # two epochs of 22 documents, then two batches of 6


@pytest.mark.parametrize("config, precision", [("cpu.yaml", "no"), ("cpu_bf16.yaml", "bf16")])
def test_accelerate_launch_with_the_repository_cpu_configs(tmp_path, config, precision):
    """`accelerate launch --config_file recipes/accelerate_configs/<config>` runs the recipe, and
    the config's precision reaches the Trainer (fp32 for CPUs without native bf16, bf16 otherwise)."""
    data = _write_data(tmp_path)
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file"]
    cmd += [str(ROOT / "recipes" / "accelerate_configs" / config), RUN, "finetune", "vanilla", "wiki.txt"]
    cmd += ["--data_dir", str(data), "--finetune_corpus_path", "train.tsv", *TINY, "--max_steps", "2"]
    cmd += ["--report_to", "none", "--eval_after_finetune", "False", "--output_dir", str(tmp_path / "out")]
    proc = subprocess.run(cmd, cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["finetune_mixed_precision"] == precision and metrics["finetune_steps"] == 2
    # the run records why it chose its precision: here accelerate's config decided
    assert f"mixed_precision={precision!r}" in metrics["finetune_precision_reason"]
