#!/usr/bin/env python
"""Zero-shot dev scores of the backbone's own embeddings (no training), for comparison with the
trained heads.

    python recipes/multitask_bert/zero_shot.py --task sts   --data_dir ../shared/data [--backbone PATH] [--output FILE]
    python recipes/multitask_bert/zero_shot.py --task quora --data_dir ../shared/data

Mean-pooled embeddings `u`, `v` of both sentences (an untrained multitask model's similarity head,
fp32), then
* `sts`: Pearson of `5 * cos(u, v)` against the gold scores (for the packaged all-MiniLM-L6-v2
  this is the 0.838 reference that SPEC §2 quotes);
* `quora`: accuracy of `cos(u, v) > t`, with the threshold `t` (a grid 0.50, 0.505, ..., 1.0) the
  one most accurate on the *train* split, applied to dev.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from transformers import AutoTokenizer

from hfmodels.data.minbert import load_quora, load_sts
from hfmodels.evaluation.minbert import write_metrics_json
from hfmodels.metrics.accuracy import Accuracy
from hfmodels.metrics.pearsonr import PearsonCorrelation
from hfmodels.multitask_bert import MultitaskBertModel
from hfmodels.training.multitask import default_backbone_path


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


def _pairs(model, tokenizer, ds) -> tuple[np.ndarray, np.ndarray]:
    return cosines(model, tokenizer, list(ds["sentence1"]), list(ds["sentence2"])), np.asarray(ds["label"])


def zero_shot_sts(model, tokenizer, data_dir) -> dict:
    cos, gold = _pairs(model, tokenizer, load_sts(data_dir, with_test=False)["validation"])
    pearson = PearsonCorrelation().compute(predictions=5.0 * cos, references=gold)["pearsonr"]
    return {"zero_shot_sts_dev_pearson": pearson, "pairs": int(len(cos))}


def zero_shot_quora(model, tokenizer, data_dir) -> dict:
    data = load_quora(data_dir)
    train_cos, train_gold = _pairs(model, tokenizer, data["train"])
    dev_cos, dev_gold = _pairs(model, tokenizer, data["validation"])
    grid = np.linspace(0.5, 1.0, 101)
    train_acc = [((train_cos > t) == train_gold).mean() for t in grid]
    threshold = float(grid[int(np.argmax(train_acc))])
    dev_pred = (dev_cos > threshold).astype(np.int64)
    accuracy = Accuracy().compute(predictions=dev_pred, references=dev_gold)["accuracy"]
    return {
        "zero_shot_quora_dev_accuracy": accuracy,
        "threshold_from_train": threshold,
        "train_accuracy": float(max(train_acc)),
        "dev_pairs": int(len(dev_pred)),
    }


TASKS = {"sts": zero_shot_sts, "quora": zero_shot_quora}


def main(argv: list[str] | None = None) -> dict:
    """Score the chosen dev set with the untrained model; print and optionally write the result."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--task", choices=sorted(TASKS), default="sts")
    parser.add_argument("--data_dir", default=None)
    parser.add_argument("--backbone", default=None, help="BERT folder or Hub id (default: packaged MiniLM)")
    parser.add_argument("--output", default=None, help="write the result as JSON here")
    args = parser.parse_args(argv)
    path = args.backbone or default_backbone_path()
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = MultitaskBertModel.from_backbone(path, pooling="mean", similarity_head="cosine").eval()
    start = time.perf_counter()
    result = TASKS[args.task](model, tokenizer, args.data_dir)
    result["seconds"] = round(time.perf_counter() - start, 1)
    print(json.dumps(result))
    if args.output:
        write_metrics_json(args.output, result)
    return result


if __name__ == "__main__":
    main()
