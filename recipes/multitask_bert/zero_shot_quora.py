#!/usr/bin/env python
"""Zero-shot Quora dev accuracy of the backbone's own embeddings (no training).

    python recipes/multitask_bert/zero_shot_quora.py --data_dir ../shared/data [--backbone PATH] [--output FILE]

Mean-pooled embeddings of both questions, `cos(u, v)` compared with a threshold; the threshold
(a grid of 0.50, 0.505, ..., 1.0) is the one most accurate on the *train* split, then applied to
dev. The reference point for how much finetuning adds on Quora (RESULTS.md).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from transformers import AutoTokenizer

from hfmodels.data.minbert import load_quora
from hfmodels.metrics.classification import Accuracy
from hfmodels.multitask_bert import MultitaskBertModel, default_backbone_path
from hfmodels.multitask_bert.reporting import write_metrics_json


def cosines(model, tokenizer, first: list[str], second: list[str], batch_size: int = 128) -> np.ndarray:
    """`cos(u, v)` of every pair (the similarity head divided by 5), batched in length order."""
    order = np.argsort([len(a) + len(b) for a, b in zip(first, second)], kind="stable")
    out = np.empty(len(first), dtype=np.float64)
    for i in range(0, len(order), batch_size):
        idx = order[i : i + batch_size]
        scores = model.predict_similarity(
            [first[j] for j in idx], [second[j] for j in idx], tokenizer=tokenizer, max_length=128
        )
        out[idx] = scores.double().numpy() / 5.0
    return out


def main(argv: list[str] | None = None) -> dict:
    """Pick the threshold on train, score dev; print and optionally write the result."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data_dir", default=None)
    parser.add_argument("--backbone", default=None, help="BERT folder or Hub id (default: packaged MiniLM)")
    parser.add_argument("--output", default=None, help="write the result as JSON here")
    args = parser.parse_args(argv)
    path = args.backbone or default_backbone_path()
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = MultitaskBertModel.from_backbone(path, pooling="mean", similarity_head="cosine").eval()
    data = load_quora(args.data_dir)
    start = time.perf_counter()
    cos, labels = {}, {}
    for split in ("train", "validation"):
        ds = data[split]
        cos[split] = cosines(model, tokenizer, list(ds["sentence1"]), list(ds["sentence2"]))
        labels[split] = np.asarray(ds["label"])
    grid = np.linspace(0.5, 1.0, 101)
    train_acc = [((cos["train"] > t) == labels["train"]).mean() for t in grid]
    threshold = float(grid[int(np.argmax(train_acc))])
    dev_pred = (cos["validation"] > threshold).astype(np.int64)
    result = {
        "zero_shot_quora_dev_accuracy": Accuracy().compute(
            predictions=dev_pred, references=labels["validation"]
        )["accuracy"],
        "threshold_from_train": threshold,
        "train_accuracy": float(max(train_acc)),
        "dev_pairs": int(len(dev_pred)),
        "seconds": round(time.perf_counter() - start, 1),
    }
    print(json.dumps(result))
    if args.output:
        write_metrics_json(args.output, result)
    return result


if __name__ == "__main__":
    main()
