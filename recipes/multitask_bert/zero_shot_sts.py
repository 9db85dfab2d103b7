#!/usr/bin/env python
"""Zero-shot STS-dev Pearson of an untrained multitask model (the backbone's own embeddings).

    python recipes/multitask_bert/zero_shot_sts.py --data_dir ../shared/data [--backbone PATH] [--output FILE]

Mean pooling and the cosine similarity head (`5 * cos(u, v)`), fp32, batches of 64 pairs. For the
packaged all-MiniLM-L6-v2 this is the 0.838 reference that SPEC §2 quotes.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from transformers import AutoTokenizer

from hfmodels.data.minbert import load_sts
from hfmodels.metrics.correlation import PearsonCorrelation
from hfmodels.multitask_bert import MultitaskBertModel, default_backbone_path
from hfmodels.multitask_bert.reporting import write_metrics_json


def main(argv: list[str] | None = None) -> dict:
    """Score the STS dev set with the untrained model; print and optionally write the result."""
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
    dev = load_sts(args.data_dir, with_test=False)["validation"]
    start = time.perf_counter()
    scores = []
    for i in range(0, len(dev), 64):
        rows = dev[i : i + 64]
        scores.append(
            model.predict_similarity(
                rows["sentence1"], rows["sentence2"], tokenizer=tokenizer, max_length=128
            )
        )
    pearson = PearsonCorrelation().compute(
        predictions=torch.cat(scores).numpy(), references=np.asarray(dev["label"])
    )
    result = {
        "zero_shot_sts_dev_pearson": pearson["pearsonr"],
        "pairs": len(dev),
        "seconds": round(time.perf_counter() - start, 1),
    }
    print(json.dumps(result))
    if args.output:
        write_metrics_json(args.output, result)
    return result


if __name__ == "__main__":
    main()
