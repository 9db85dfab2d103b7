"""minGPT's optimizer and token schedule (hfmodels.training.optim / schedules) and the resumable
span-corruption collator (hfmodels.data.span_corruption)."""

import math
import os

import pytest
import torch
from transformers import TrainingArguments

from hfmodels.char_gpt import CharGPTConfig, CharGPTForCausalLM, CharTokenizer
from hfmodels.data import (
    BirthplaceCollator,
    ReplayCollator,
    ResumableSpanCorruptionCollator,
    SpanCorruptionCollator,
    birthplace_example,
)
from hfmodels.training.optim import MinGPTTrainer, decay_parameter_names
from hfmodels.training.resume import EpochCallback
from hfmodels.training.schedules import (
    MinGPTLRSchedule,
    count_tokens,
    mingpt_lr_scheduler,
    original_final_tokens,
)

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def mingpt_reference_lrs(batch_tokens, learning_rate, warmup_tokens, final_tokens):
    """The course trainer's loop, transcribed: the lr each optimizer step runs at."""
    lrs, tokens, lr = [], 0, learning_rate  # the optimizer starts at the configured rate
    for n in batch_tokens:
        lrs.append(lr)  # optimizer.step() uses the current rate ...
        tokens += n  # ... then: self.tokens += (y >= 0).sum()
        if tokens < warmup_tokens:
            lr_mult = float(tokens) / float(max(1, warmup_tokens))
        else:
            progress = float(tokens - warmup_tokens) / float(max(1, final_tokens - warmup_tokens))
            lr_mult = max(0.1, 0.5 * (1.0 + math.cos(math.pi * progress)))
        lr = learning_rate * lr_mult
    return lrs


def test_scheduler_reproduces_mingpt_lr_sequence():
    torch.manual_seed(0)
    warmup, final = 1000, 20000
    # Uneven token counts (short last batches, packed rows) and a run past final_tokens, where the
    # original's cosine rises again (floored at 10 %).
    batch_tokens = [int(x) for x in torch.randint(100, 900, (80,))]
    param = torch.nn.Parameter(torch.zeros(2))
    opt = torch.optim.AdamW([param], lr=6e-3)
    sched = mingpt_lr_scheduler(opt, warmup, final)
    got = []
    for n in batch_tokens:
        got.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.lr_lambdas[0].add_tokens(n)
        sched.step()
    want = mingpt_reference_lrs(batch_tokens, 6e-3, warmup, final)
    assert got == pytest.approx(want, rel=1e-12, abs=1e-15)
    assert min(want) < 6e-3 * 0.2 and sum(batch_tokens) > final  # warm-up, decay and floor were exercised


def test_schedule_state_survives_state_dict():
    param = torch.nn.Parameter(torch.zeros(1))
    sched = mingpt_lr_scheduler(torch.optim.AdamW([param], lr=1.0), 10, 100)
    sched.lr_lambdas[0].add_tokens(55)
    sched.optimizer.step()
    sched.step()
    state = sched.state_dict()
    fresh = mingpt_lr_scheduler(torch.optim.AdamW([param], lr=1.0), 10, 100)
    fresh.load_state_dict(state)
    assert fresh.lr_lambdas[0].tokens == 55
    assert original_final_tokens(2937, 128) == 75_187_200
    with pytest.raises(ValueError, match="final_tokens"):
        MinGPTLRSchedule(10, 0)


@pytest.mark.parametrize("variant", ["vanilla", "perceiver", "synthesizer"])
def test_weight_decay_only_on_linear_weights(variant):
    model = CharGPTForCausalLM(
        CharGPTConfig(
            vocab_size=20,
            block_size=16,
            n_layer=3,
            n_head=2,
            n_embd=8,
            attention_type=variant,
            bottleneck_dim=4,
        )
    )
    decay = set(decay_parameter_names(model))
    linear = {f"{n}.weight" for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)}
    assert decay == linear
    for name in decay:
        assert not any(k in name for k in ("bias", "ln", "wte", "wpe", ".C", "w2", "b2"))
    n_decay = sum(p.numel() for n, p in model.named_parameters() if n in decay)
    assert 0 < n_decay < sum(p.numel() for p in model.parameters())


def _tokenizer():
    return CharTokenizer.from_corpus("abcdefghijklmnopqrstuvwxyz ?WXYZ.")


def test_count_tokens_is_the_same_for_padded_and_packed_batches():
    tok = _tokenizer()
    docs = [{"text": "the quick brown fox jumps over the lazy dog " * 2, "line": i} for i in range(6)]
    padded = SpanCorruptionCollator(tok, block_size=32, seed=1)(docs)
    packed = SpanCorruptionCollator(tok, block_size=32, pack=True, seed=1)(docs)
    assert packed["input_ids"].shape[0] < padded["input_ids"].shape[0]
    assert count_tokens(padded, "examples", 31) == count_tokens(packed, "examples", 31) == 6 * 31
    targets = int((padded["labels"][:, 1:] != -100).sum())
    assert count_tokens(padded, "targets", 31) == count_tokens(packed, "targets", 31) == targets


def test_trainer_feeds_token_schedule(tmp_path):
    tok = _tokenizer()
    rows = [birthplace_example(f"Where was {c * 3} born?", "xyz", tok) for c in "abcdefghijkl"]
    model = CharGPTForCausalLM(
        CharGPTConfig(vocab_size=tok.vocab_size, block_size=32, n_layer=1, n_head=2, n_embd=8)
    )
    args = TrainingArguments(
        output_dir=str(tmp_path),
        per_device_train_batch_size=4,
        max_steps=6,
        logging_steps=1,
        learning_rate=1e-2,
        report_to=[],
        save_strategy="no",
        use_cpu=True,
    )
    trainer = MinGPTTrainer(
        model=model,
        args=args,
        train_dataset=rows,
        data_collator=BirthplaceCollator(tok, block_size=32),
        warmup_tokens=200,
        final_tokens=600,
        tokens_per_example=31,
    )
    trainer.train()
    assert trainer.lr_scheduler.lr_lambdas[0].tokens == 6 * 4 * 31
    logged = [h["learning_rate"] for h in trainer.state.log_history if "learning_rate" in h]
    # Trainer logs the rate each step ran at: the peak first, as the course trainer.
    want = mingpt_reference_lrs([4 * 31] * 6, 1e-2, 200, 600)
    assert logged == pytest.approx(want, rel=1e-9)


def test_resumable_collator_depends_on_batch_and_epoch_only():
    tok = _tokenizer()
    docs = [{"text": "abcdefghij klmnopqrst uvwxyz " * 3, "line": i} for i in range(8)]
    a = ResumableSpanCorruptionCollator(tok, block_size=32, pack=True, seed=3)
    b = ResumableSpanCorruptionCollator(tok, block_size=32, pack=True, seed=3)
    b(docs[4:])  # b has collated another batch before: a stream RNG would now differ
    first, again = a(docs[:4]), b(docs[:4])
    assert all(torch.equal(first[k], again[k]) for k in first)

    class State:
        epoch = 1.5  # resumed in the middle of epoch 1

    EpochCallback(a).on_epoch_begin(None, State(), None)
    assert a.epoch == 1
    assert not torch.equal(a(docs[:4])["input_ids"], first["input_ids"])  # new epoch, new draws


def test_replay_collator_stacks_questions_and_corrupted_documents():
    tok = _tokenizer()
    questions = [
        {"question": f"Where was {n} born?", "place": p}
        for n, p in [("Wan", "paris"), ("Xo", "rome"), ("Yi", "oslo"), ("Zed", "lima")]
    ]
    docs = [
        {"text": f"doc {c} " + "the quick brown fox jumps over the lazy dog " * 2, "line": i}
        for i, c in enumerate("abcdefgh")
    ]
    plain = BirthplaceCollator(tok, block_size=64)
    span = ResumableSpanCorruptionCollator(tok, block_size=64, seed=5)
    replay = ReplayCollator(plain, span, docs, ratio=0.5, seed=5)
    batch, alone = replay(questions), plain(questions)
    chosen = replay.draw(questions)
    assert (
        len(chosen) == 2 and len(set(chosen)) == 2 and chosen == replay.draw(questions)
    )  # seeded by the batch
    assert batch["input_ids"].shape[0] == 6 and batch["labels"].shape == batch["input_ids"].shape
    width = alone["input_ids"].shape[1]
    # the question rows are the plain collator's, right-padded to the wider document rows
    assert torch.equal(batch["input_ids"][:4, :width], alone["input_ids"])
    assert torch.equal(batch["labels"][:4, :width], alone["labels"])
    assert (batch["labels"][:4, width:] == -100).all() and (
        batch["input_ids"][:4, width:] == tok.pad_token_id
    ).all()
    # the replayed rows are the span-corruption collator's for the drawn documents
    docs_batch = ResumableSpanCorruptionCollator(tok, block_size=64, seed=5)([docs[i] for i in chosen])
    w = docs_batch["input_ids"].shape[1]
    assert torch.equal(batch["input_ids"][4:, :w], docs_batch["input_ids"])
    assert torch.equal(batch["labels"][4:, :w], docs_batch["labels"])
    assert (
        replay.draw(questions[:2]) != chosen or len(replay.draw(questions[:2])) == 1
    )  # another batch, another draw
    # Packed: the same (input, label) tokens in fewer rows, positions restarting at every example.
    packed = ReplayCollator(plain, span, docs, ratio=0.5, seed=5, pack=True)(questions)
    assert packed["input_ids"].shape[0] < 6 and "position_ids" in packed
    for key in ("input_ids", "labels"):
        fill = tok.pad_token_id if key == "input_ids" else -100
        assert sorted(packed[key][packed[key] != fill].tolist()) == sorted(
            batch[key][batch[key] != fill].tolist()
        )
    assert int((packed["position_ids"] == 0).sum()) == 6
    # ratio 0 is the plain finetuning batch; bad settings are refused
    none = ReplayCollator(plain, span, docs, ratio=0.0)(questions)
    assert all(torch.equal(none[k], alone[k]) for k in alone)
    with pytest.raises(ValueError, match="ratio=-1"):
        ReplayCollator(plain, span, docs, ratio=-1)
    with pytest.raises(ValueError, match="block sizes differ"):
        ReplayCollator(plain, ResumableSpanCorruptionCollator(tok, block_size=128), docs, ratio=1)
