"""`Trainer` for the multitask BERT: all tasks in one run, per-task losses, minBERT metrics.

[`MultitaskTrainer`] differs from the stock `Trainer` in three places only:

* `get_train_dataloader` draws single-task batches with [`MultitaskBatchSampler`] (round-robin or
  size-proportional, seeded) from a [`MultitaskDataset`]; accelerate shards those batches over
  processes, so with N processes each one trains on different batches;
* `compute_loss` / `log` add the mean training loss of each task since the last log
  (`loss_sentiment`, `loss_paraphrase`, `loss_similarity`, on TensorBoard with the rest);
* `evaluate` scores each dev set with the package's `evaluate` metrics (SST/CFIMDB/Quora
  accuracy, STS Pearson, and the course's overall score when all three are present).

Everything else (bf16 autocast via accelerate, optimiser, schedule, checkpoints, callbacks) is
the stock `Trainer`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping

import numpy as np
import torch
from datasets import Dataset
from torch.utils.data import DataLoader
from transformers import Trainer

from ..data.minbert import TASK_OF_DATASET
from ..metrics.classification import Accuracy
from ..metrics.correlation import PearsonCorrelation, overall_score
from .batching import MultitaskBatchSampler, MultitaskDataset


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


def compute_minbert_metrics(
    predictions: Mapping[str, np.ndarray], references: Mapping[str, np.ndarray]
) -> dict:
    """Dev metrics from per-data-set predictions: `<name>_accuracy` for sst/cfimdb/quora,
    `sts_pearson`, and `overall` (mean of SST acc, Quora acc, (Pearson + 1) / 2) when all three exist."""
    metrics: dict[str, float] = {}
    for name, preds in predictions.items():
        refs = references[name]
        if TASK_OF_DATASET.get(name) == "similarity":
            metrics[f"{name}_pearson"] = PearsonCorrelation().compute(predictions=preds, references=refs)[
                "pearsonr"
            ]
        else:
            metrics[f"{name}_accuracy"] = Accuracy().compute(predictions=preds, references=refs)["accuracy"]
    if {"sst_accuracy", "quora_accuracy", "sts_pearson"} <= set(metrics):
        metrics["overall"] = overall_score(
            metrics["sst_accuracy"], metrics["quora_accuracy"], metrics["sts_pearson"]
        )
    return metrics


class MultitaskTrainer(Trainer):
    """`Trainer` that trains a [`MultitaskBertModel`] on several tasks at once.

    Args:
        train_dataset ([`MultitaskDataset`]): the tokenised training sets, keyed by data-set name.
        eval_datasets (`dict[str, Dataset]`, *optional*): tokenised labelled dev sets keyed by
            data-set name (`"sst"`, `"cfimdb"`, `"quora"`, `"sts"`), scored by `evaluate()`.
        schedule (`str`, defaults to `"proportional"`): `"proportional"` or `"round_robin"`.
        group_by_length (`bool`, defaults to `False`): sort each task's examples by length inside
            shuffled mega-batches, to cut padding (transformers 5 dropped the `TrainingArguments` flag).
        All other arguments are `Trainer`'s; `data_collator` should be a [`MultitaskCollator`].
        `args.data_seed` (else `args.seed`) seeds the batch order.
    """

    def __init__(
        self,
        *args,
        eval_datasets: Mapping[str, Dataset] | None = None,
        schedule: str = "proportional",
        group_by_length: bool = False,
        **kwargs,
    ):
        if eval_datasets and kwargs.get("eval_dataset") is None:
            kwargs["eval_dataset"] = dict(eval_datasets)  # lets `Trainer` accept eval_strategy != "no"
        super().__init__(*args, **kwargs)
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

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        """The model's own loss for the batch's task; remembers it per task for logging."""
        task = inputs["task"]
        outputs = model(**inputs)
        loss = outputs.loss
        self._task_loss_sum[task] += float(loss.detach())
        self._task_loss_count[task] += 1
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

    @torch.no_grad()
    def predict_dataset(self, dataset: Dataset, task: str, batch_size: int | None = None) -> np.ndarray:
        """Predictions for every row of a tokenised `dataset`, in its order: class ids (sentiment),
        0/1 (paraphrase) or 0-5 scores (similarity). Rows are batched by length, sharded over
        processes and gathered back."""
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
                if task == "sentiment":
                    pred = logits.argmax(-1)
                elif task == "paraphrase":
                    pred = (logits > 0).long()
                else:
                    pred = logits.float()
                chunks.append(self.accelerator.gather_for_metrics(pred))
        finally:
            model.train(was_training)
            # accelerate keeps every prepared loader; drop this one-off evaluation loader again.
            prepared = getattr(self.accelerator, "_dataloaders", [])
            if loader in prepared:
                prepared.remove(loader)
        sorted_preds = torch.cat(chunks).cpu().numpy()
        preds = np.empty_like(sorted_preds)
        preds[np.asarray(order)] = sorted_preds
        return preds

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


__all__ = ["MultitaskTrainer", "compute_minbert_metrics"]
