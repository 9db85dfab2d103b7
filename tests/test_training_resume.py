"""Which checkpoint a run resumes from (hfmodels.training.resume): the newest one that can really be
resumed, skipping folders left half-written or damaged with a warning naming them and why."""

import json
import random

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from hfmodels.training.resume import checkpoint_problem, last_complete_checkpoint, resolve_resume_checkpoint


def _checkpoint(folder, step, weights=True, state=True, rng=True, optimizer=True, scheduler=True):
    """A checkpoint folder holding the files `Trainer` writes, each really loadable."""
    path = folder / f"checkpoint-{step}"
    path.mkdir(parents=True)
    model = torch.nn.Linear(4, 3)
    if weights:
        save_file(
            {k: v.detach().contiguous() for k, v in model.state_dict().items()}, path / "model.safetensors"
        )
    if state:
        (path / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    if rng:
        states = {
            "python": random.getstate(),
            "numpy": np.random.get_state(),
            "cpu": torch.random.get_rng_state(),
        }
        torch.save(states, path / "rng_state.pth")
    opt = torch.optim.AdamW(model.parameters())
    model(torch.ones(1, 4)).sum().backward()
    opt.step()
    if optimizer:
        torch.save(opt.state_dict(), path / "optimizer.pt")
    if scheduler:
        torch.save(torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0).state_dict(), path / "scheduler.pt")
    return str(path)


def _truncate(file):
    data = file.read_bytes()
    file.write_bytes(data[: len(data) // 2])


def test_a_complete_checkpoint_has_no_problem(tmp_path):
    assert checkpoint_problem(_checkpoint(tmp_path, 1)) is None


def test_last_checkpoint_is_the_newest_complete_one_by_step_number(tmp_path, caplog):
    out = tmp_path / "full6e-4" / "vanilla_pretrain"  # hyphens in the path must not confuse the order
    assert last_complete_checkpoint(out) is None and resolve_resume_checkpoint("last", out) is None
    _checkpoint(out, 750)
    newest = _checkpoint(out, 9750)
    _checkpoint(out, 10000, state=False)  # killed while saving: no trainer_state.json yet
    _checkpoint(out, 10250, weights=False)  # killed before the weights were written
    (out / "checkpoint-99999.tmp").mkdir()  # not a checkpoint folder
    with caplog.at_level("WARNING"):
        assert last_complete_checkpoint(out) == newest  # 9750, not the lexically larger 750
    assert "checkpoint-10000, it cannot be resumed: no trainer_state.json" in caplog.text
    assert "checkpoint-10250, it cannot be resumed: no model weights" in caplog.text
    assert resolve_resume_checkpoint("last", out) == newest == resolve_resume_checkpoint("LATEST", out)
    assert resolve_resume_checkpoint(None, out) is None and resolve_resume_checkpoint("", out) is None
    assert resolve_resume_checkpoint(newest, out) == newest


@pytest.mark.parametrize(
    "damage, reason",
    [
        (
            lambda p: _truncate(p / "model.safetensors"),
            "weights model.safetensors is unreadable (SafetensorError",
        ),
        (
            lambda p: (p / "trainer_state.json").write_text('{"global_step": 3'),
            "trainer state trainer_state.json",
        ),
        (lambda p: _truncate(p / "rng_state.pth"), "random state rng_state.pth is unreadable"),
        (lambda p: _truncate(p / "optimizer.pt"), "optimizer optimizer.pt is unreadable"),
        (lambda p: (p / "scheduler.pt").unlink(), "no scheduler.pt"),
        (lambda p: (p / "rng_state.pth").unlink(), "no rng_state*.pth"),
    ],
    ids=[
        "half-written weights",
        "broken json",
        "truncated rng state",
        "truncated optimizer",
        "no scheduler",
        "no rng",
    ],
)
def test_last_skips_a_damaged_newest_checkpoint_and_says_which_and_why(tmp_path, caplog, damage, reason):
    good = _checkpoint(tmp_path, 4)
    bad = tmp_path / "checkpoint-8"
    _checkpoint(tmp_path, 8)
    assert last_complete_checkpoint(tmp_path) == str(bad)
    damage(bad)
    with caplog.at_level("WARNING"):
        assert resolve_resume_checkpoint("last", tmp_path) == good
    assert f"Skipping the checkpoint {bad}, it cannot be resumed: {reason}" in caplog.text


def test_resuming_a_half_written_or_missing_checkpoint_is_refused_with_the_reason(tmp_path):
    complete = _checkpoint(tmp_path, 500)
    broken = _checkpoint(tmp_path, 750, state=False)
    with pytest.raises(ValueError, match=r"checkpoint-750: cannot resume, no trainer_state.json") as err:
        resolve_resume_checkpoint(broken, tmp_path / "elsewhere")
    assert f"the newest complete checkpoint next to it is {complete}" in str(err.value)
    with pytest.raises(ValueError, match=r"checkpoint-9: cannot resume, no such folder"):
        resolve_resume_checkpoint(str(tmp_path / "checkpoint-9"), tmp_path)
    _truncate(tmp_path / "checkpoint-500" / "model.safetensors")
    with pytest.raises(
        ValueError, match=r"checkpoint-500: cannot resume, weights model.safetensors is unreadable"
    ):
        resolve_resume_checkpoint(complete, tmp_path)


def test_trainer_resumes_from_the_newest_complete_checkpoint_after_the_newest_was_truncated(tmp_path, caplog):
    from datasets import Dataset
    from transformers import Trainer, TrainingArguments

    from hfmodels.char_gpt import CharGPTConfig, CharGPTForCausalLM

    def trainer(max_steps):
        torch.manual_seed(0)
        config = CharGPTConfig(vocab_size=12, block_size=16, n_layer=1, n_head=2, n_embd=8)
        rows = [{"input_ids": [(i + j) % 10 + 2 for j in range(8)]} for i in range(8)]
        data = Dataset.from_list([{**r, "labels": r["input_ids"]} for r in rows])
        args = TrainingArguments(
            output_dir=str(tmp_path / "run"),
            max_steps=max_steps,
            per_device_train_batch_size=4,
            save_steps=1,
            report_to="none",
            use_cpu=True,
            seed=0,
            disable_tqdm=True,
        )
        return Trainer(model=CharGPTForCausalLM(config), args=args, train_dataset=data)

    trainer(3).train()
    newest = tmp_path / "run" / "checkpoint-3"
    _truncate(newest / "model.safetensors")
    _truncate(newest / "rng_state.pth")
    (newest / "trainer_state.json").write_text("{")
    with caplog.at_level("WARNING"):
        chosen = resolve_resume_checkpoint("last", tmp_path / "run")
    assert chosen == str(tmp_path / "run" / "checkpoint-2")
    assert f"Skipping the checkpoint {newest}, it cannot be resumed: weights model.safetensors" in caplog.text
    resumed = trainer(3)
    resumed.train(resume_from_checkpoint=chosen)  # the stock Trainer crashes on checkpoint-3
    assert resumed.state.global_step == 3
