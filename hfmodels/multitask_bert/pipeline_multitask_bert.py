"""The `"multitask-bert"` pipeline: one multitask BERT folder answering its three tasks through
`transformers.pipeline` (`docs/definitions.md`, "Multitask BERT").

```python
from transformers import pipeline

# the folder's copy of this file (`custom_pipelines` in its config.json); hfmodels need not be installed
pipe = pipeline("multitask-bert", model="path/to/folder", trust_remote_code=True)
pipe("A gorgeous, witty film.")  # sentiment: SST-5 label, score and the five probabilities
pipe({"text": "How do I learn Python?", "text_pair": "What is the best way to learn Python?"},
     task="paraphrase")  # duplicate probability
pipe({"text": "A man plays a guitar.", "text_pair": "A person plays music."}, task="similarity")
```

Transformers runs a folder's declared pipeline only with `trust_remote_code=True`, also where
hfmodels is imported. `import hfmodels` registers this class as `"multitask-bert"` too, which serves
a model object (`pipeline("multitask-bert", model=model, tokenizer=tokenizer)`) and folders saved
without `custom_pipelines`.

A sentence (a string) is a sentiment input; a pair (`{"text", "text_pair"}` or a 2-tuple) needs
`task="paraphrase"` or `"similarity"` (given to the call, or as a `"task"` key of the pair). Each
side of a pair is tokenised on its own, as the model's training batches are; a cross-encoder
head joins them itself. Written on `transformers.Pipeline` because no built-in pipeline calls a
model with a task argument or returns a pair score.
"""

from __future__ import annotations

import torch
from transformers import Pipeline

from .configuration_multitask_bert import PAIR_TASKS, TASKS


class MultitaskBertPipeline(Pipeline):
    """Sentiment, paraphrase and similarity from a [`MultitaskBertModel`] folder.

    Outputs per input: sentiment `{"task", "label", "score", "probabilities": {label: p}}`;
    paraphrase `{"task", "label", "score"}` with `score` the duplicate probability (`label`
    "duplicate" when it is above 0.5); similarity `{"task", "score"}` on the 0-5 scale.
    `max_length` (default the encoder's positions) truncates each sentence."""

    def _sanitize_parameters(self, task: str | None = None, max_length: int | None = None, **kwargs):
        preprocess = {}
        if task is not None:
            if task not in TASKS:
                raise ValueError(f"task={task!r}; allowed: {', '.join(TASKS)}")
            preprocess["task"] = task
        if max_length is not None:
            preprocess["max_length"] = max_length
        if kwargs:
            raise TypeError(f"multitask-bert pipeline: unknown arguments {sorted(kwargs)}")
        return preprocess, {}, {}

    def _task_of(self, inputs, task: str | None) -> tuple[str, str, str | None]:
        """`(task, text, text_pair)` of one input; ValueError naming what is wrong with it."""
        if isinstance(inputs, dict):
            unknown = set(inputs) - {"text", "text_pair", "task"}
            if unknown or "text" not in inputs:
                raise ValueError(
                    f"multitask-bert input {inputs!r}: expected keys text, text_pair and optionally task"
                )
            task = inputs.get("task", task)
            text, pair = inputs["text"], inputs.get("text_pair")
        elif isinstance(inputs, (tuple, list)) and len(inputs) == 2:
            text, pair = inputs
        elif isinstance(inputs, str):
            text, pair = inputs, None
        else:
            raise ValueError(
                f"multitask-bert input {inputs!r}: a sentence, a 2-tuple or a text/text_pair dict"
            )
        task = task or ("sentiment" if pair is None else None)
        if pair is None and task != "sentiment":
            raise ValueError(f"task {task!r} compares two sentences; pass {{'text': ..., 'text_pair': ...}}")
        if pair is not None and task not in PAIR_TASKS:
            raise ValueError(f"a sentence pair needs task= one of {', '.join(PAIR_TASKS)} (got {task!r})")
        if task not in self.model.config.tasks:
            raise ValueError(f"this model has no {task!r} head; it has {', '.join(self.model.config.tasks)}")
        return task, text, pair

    def preprocess(self, inputs, task: str | None = None, max_length: int | None = None):
        task, text, pair = self._task_of(inputs, task)
        limit = max_length or self.model.config.bert_config.max_position_embeddings
        encoded = dict(self.tokenizer(text, truncation=True, max_length=limit, return_tensors="pt"))
        if pair is not None:
            second = self.tokenizer(pair, truncation=True, max_length=limit, return_tensors="pt")
            encoded.update({f"{k}_2": v for k, v in second.items()})
        return {"task": task, **encoded}

    def _forward(self, model_inputs):
        task = model_inputs.pop("task")
        return {"task": task, "logits": self.model(**model_inputs, task=task).logits}

    def postprocess(self, model_outputs):
        task, logits = model_outputs["task"], model_outputs["logits"].float()[0]
        config = self.model.config
        if task == "sentiment":
            probs = torch.softmax(logits, dim=-1).tolist()
            best = max(range(len(probs)), key=probs.__getitem__)
            names = [config.id2label[i] for i in range(len(probs))]
            return {
                "task": task,
                "label": names[best],
                "score": probs[best],
                "probabilities": dict(zip(names, probs)),
            }
        if task == "paraphrase":
            prob = float(torch.sigmoid(logits))
            return {"task": task, "label": config.paraphrase_labels[int(prob > 0.5)], "score": prob}
        return {"task": task, "score": float(logits)}


__all__ = ["MultitaskBertPipeline", "PAIR_TASKS"]
