#!/usr/bin/env python
"""Zero-shot dev scores of the backbone's own embeddings (no training), for comparison with the
trained heads.

    python recipes/multitask_bert/zero_shot.py --task sts   --data_dir ../shared/data [--backbone PATH] [--output FILE]
    python recipes/multitask_bert/zero_shot.py --task quora --data_dir ../shared/data --log_level error
    python recipes/multitask_bert/zero_shot.py run.yaml       # a JSON or YAML file as the only argument

Mean-pooled embeddings `u`, `v` of both sentences (an untrained multitask model's similarity head,
fp32), then (`hfmodels.evaluation.minbert.ZERO_SHOT`)
* `sts`: Pearson of `5 * cos(u, v)` against the gold scores (for the packaged all-MiniLM-L6-v2
  this is the 0.838 reference of `docs/results.md`);
* `quora`: accuracy of `cos(u, v) > t`, with the threshold `t` (a grid 0.50, 0.505, ..., 1.0) the
  one most accurate on the *train* split, applied to dev.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field

from transformers import AutoTokenizer, HfArgumentParser

from hfmodels.evaluation.minbert import ZERO_SHOT
from hfmodels.multitask_bert import MultitaskBertModel
from hfmodels.reporting import write_json_atomic
from hfmodels.training.cli import apply_preset, config_argument
from hfmodels.training.multitask import default_backbone_path
from hfmodels.training.verbosity import VerbosityArguments, apply_logging


@dataclass
class ZeroShotArguments:
    """Which dev set to score, with which backbone, and where to write the result."""

    task: str = field(default="sts", metadata={"help": "sts | quora", "choices": sorted(ZERO_SHOT)})
    data_dir: str | None = field(default=None, metadata={"help": "data directory holding minbert/"})
    backbone: str | None = field(
        default=None, metadata={"help": "BERT folder or Hub id (default: packaged MiniLM)"}
    )
    output: str | None = field(default=None, metadata={"help": "write the result as JSON here"})


def main(argv: list[str] | None = None) -> dict:
    """Score the chosen dev set with the untrained model; print and optionally write the result."""
    argv = list(argv if argv is not None else sys.argv[1:])
    parser = HfArgumentParser((ZeroShotArguments, VerbosityArguments), allow_abbrev=False)
    config, argv = config_argument(argv)  # `--config FILE`, or a JSON/YAML file as the only argument
    if config:
        apply_preset(parser, config)
    args, verbosity = parser.parse_args_into_dataclasses(args=argv)
    apply_logging(verbosity)
    path = args.backbone or default_backbone_path()
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = MultitaskBertModel.from_backbone(path, pooling="mean", similarity_head="cosine").eval()
    start = time.perf_counter()
    result = ZERO_SHOT[args.task](model, tokenizer, args.data_dir)
    result["seconds"] = round(time.perf_counter() - start, 1)
    print(json.dumps(result))
    if args.output:
        write_json_atomic(args.output, result)
    return result


if __name__ == "__main__":
    main()
