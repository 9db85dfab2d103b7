"""Benchmarks of the multitask BERT on the all-MiniLM-L6-v2 backbone: training
examples/s (SST sentiment steps, batch 32) and inference sentences/s, fp32 vs bf16 autocast."""

from __future__ import annotations

import csv
import statistics
from pathlib import Path

import torch

from hfmodels.training.precision import native_bf16

try:
    from bench_char_gpt import CPU, autocast, timed
except ImportError:
    from benchmarks.bench_char_gpt import CPU, autocast, timed


def _sst_sentences(data_dir: str | Path, n: int) -> tuple[list[str], list[int]]:
    path = Path(data_dir) / "minbert" / "ids-sst-train.csv"
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))[:n]
    return [r["sentence"] for r in rows], [int(r["sentiment"]) for r in rows]


def bert_throughput(
    data_dir: str | Path, repeats: int, quick: bool, device: torch.device = CPU
) -> list[dict]:
    """Training steps (batch 32, AdamW, the package's `MultitaskBertModel` sentiment head) and
    inference (`encode`, batch 64, no grad) on real SST sentences, fp32 and bf16, on `device`
    (tokenisation included, as in training)."""
    from transformers import AutoTokenizer

    from hfmodels.multitask_bert.modeling_multitask_bert import MultitaskBertModel
    from hfmodels.training.multitask import default_backbone_path

    backbone = default_backbone_path()
    tokenizer = AutoTokenizer.from_pretrained(backbone)
    sentences, labels = _sst_sentences(data_dir, 64 * (repeats + 1))
    train_bs, infer_bs = (8, 16) if quick else (32, 64)
    results = []
    for precision in ("fp32", "bf16") if native_bf16(device) else ("fp32",):  # emulated bf16 is slower
        torch.manual_seed(0)
        model = MultitaskBertModel.from_backbone(backbone).to(device)
        model.train()
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
        bf16 = precision == "bf16"

        def train(i: int, model=model, optimizer=optimizer, bf16=bf16):
            s = slice((i * train_bs) % len(sentences), (i * train_bs) % len(sentences) + train_bs)
            enc = tokenizer(sentences[s], padding=True, truncation=True, max_length=128, return_tensors="pt")
            enc = enc.to(device)
            with autocast(bf16, device):
                loss = model(**enc, labels=torch.tensor(labels[s], device=device), task="sentiment").loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

        times = timed(train, repeats, device=device)
        train_med = statistics.median(times)
        model.eval()

        @torch.inference_mode()
        def infer(i: int, model=model, bf16=bf16):
            s = slice((i * infer_bs) % len(sentences), (i * infer_bs) % len(sentences) + infer_bs)
            enc = tokenizer(sentences[s], padding=True, truncation=True, max_length=128, return_tensors="pt")
            enc = enc.to(device)
            with autocast(bf16, device):
                model.encode(enc["input_ids"], enc["attention_mask"], enc.get("token_type_ids"))

        itimes = timed(infer, repeats, device=device)
        infer_med = statistics.median(itimes)
        results.append(
            dict(
                precision=precision,
                train_batch_size=train_bs,
                infer_batch_size=infer_bs,
                train_ms_per_step=train_med * 1000,
                train_examples_per_s=train_bs / train_med,
                infer_ms_per_batch=infer_med * 1000,
                infer_sentences_per_s=infer_bs / infer_med,
                train_times=times,
                infer_times=itimes,
            )
        )
        print(
            f"  bert {precision}: train {train_bs / train_med:.1f} ex/s, infer {infer_bs / infer_med:.1f} sent/s",
            flush=True,
        )
        del model, optimizer
    return results


__all__ = ["bert_throughput"]
