"""hfmodels.training: the multitask Trainer (per-task losses, evaluation), layer-wise learning-rate
decay groups and task loss weights."""

import os

import pytest
import torch
from multitask_helpers import (
    model_of,
    tiny_args,
    tiny_tokenised,
    tokenizer_fixture,  # noqa: F401  (pytest fixtures)
)
from transformers import (
    Trainer,
)

import hfmodels  # noqa: F401  (Auto registration)
from hfmodels.data.multitask import MultitaskCollator, MultitaskDataset
from hfmodels.training.layerwise import layerwise_lr_groups, parse_task_loss_weights
from hfmodels.training.multitask import MultitaskTrainer

os.environ["HF_HUB_OFFLINE"] = "1"


def test_trainer_logs_per_task_losses_and_evaluates(tmp_path, tokenizer):
    data = tiny_tokenised(tokenizer)
    args = tiny_args(tmp_path, num_train_epochs=1, logging_steps=3, weight_decay=0.0)
    trainer = MultitaskTrainer(
        model=model_of(),
        args=args,
        train_dataset=MultitaskDataset(data),
        eval_datasets=data,
        data_collator=MultitaskCollator(tokenizer),
        schedule="round_robin",
    )
    trainer.train()
    logged = [k for entry in trainer.state.log_history for k in entry]
    assert {"loss_sentiment", "loss_paraphrase", "loss_similarity"} <= set(logged)
    metrics = trainer.evaluate()
    assert {"eval_sst_accuracy", "eval_quora_accuracy", "eval_sts_pearson", "eval_overall"} <= set(metrics)
    preds = trainer.predict_dataset(data["sst"], "sentiment")
    model = trainer.model.eval()
    with torch.no_grad():
        direct = [
            model.predict_sentiment({k: torch.tensor([r[k]]) for k in ("input_ids", "attention_mask")}).item()
            for r in data["sst"]
        ]
    assert preds.tolist() == direct  # length-sorted, batched predictions come back in dataset order
    assert metrics["eval_sst_accuracy"] == pytest.approx(
        sum(int(p == y) for p, y in zip(direct, data["sst"]["label"])) / 24
    )


def test_layerwise_lr_groups_give_each_layer_its_rate():
    model = model_of(pooling="pooler")  # 2 encoder layers
    groups = layerwise_lr_groups(model, lr=1e-3, decay=0.5, weight_decay=0.01)
    where = {id(p): (g["lr"], g["weight_decay"]) for g in groups for p in g["params"]}
    params = dict(model.named_parameters())
    assert len(where) == sum(len(g["params"]) for g in groups) == len(params)  # each parameter once
    expected = {
        "heads.sentiment.classifier.weight": (1e-3, 0.01),
        "heads.sentiment.classifier.bias": (1e-3, 0.0),
        "heads.paraphrase.mlp.dense.weight": (1e-3, 0.01),
        "bert.pooler.dense.weight": (1e-3, 0.01),  # the top: pooler and heads at the base rate
        "bert.encoder.layer.1.attention.self.query.weight": (1e-3 * 0.5, 0.01),  # layer i: decay ** (L - i)
        "bert.encoder.layer.1.output.dense.bias": (1e-3 * 0.5, 0.0),
        "bert.encoder.layer.0.output.dense.weight": (1e-3 * 0.5**2, 0.01),
        "bert.encoder.layer.0.output.LayerNorm.weight": (1e-3 * 0.5**2, 0.0),
        "bert.embeddings.word_embeddings.weight": (1e-3 * 0.5**3, 0.01),  # embeddings: decay ** (L + 1)
        "bert.embeddings.LayerNorm.bias": (1e-3 * 0.5**3, 0.0),
    }
    for name, rate_and_decay in expected.items():
        assert where[id(params[name])] == rate_and_decay, name
    assert [(g["lr"], g["weight_decay"]) for g in groups] == [
        (1e-3 * 0.5**k, wd) for k in range(4) for wd in (0.01, 0.0)
    ]
    frozen = layerwise_lr_groups(model_of(option="pretrain"), lr=1e-3, decay=0.5, weight_decay=0.01)
    assert {g["lr"] for g in frozen} == {1e-3} and all(
        p.requires_grad for g in frozen for p in g["params"]
    )  # a frozen encoder has no groups
    for bad in (0.0, -0.5, 1.5, float("nan")):
        with pytest.raises(ValueError, match="layerwise_lr_decay="):
            layerwise_lr_groups(model, lr=1e-3, decay=bad, weight_decay=0.01)


@pytest.mark.parametrize("option", ["finetune", "pretrain"])
def test_layerwise_lr_decay_one_is_the_stock_optimizer(tmp_path, option):
    def named_groups(model, groups):
        names = {id(p): n for n, p in model.named_parameters()}
        return [([names[id(p)] for p in g["params"]], g["weight_decay"], g["lr"]) for g in groups]

    stock_model = model_of(option=option)
    stock = Trainer(model=stock_model, args=tiny_args(tmp_path)).create_optimizer()
    ours_model = model_of(option=option)
    ours = MultitaskTrainer(
        model=ours_model, args=tiny_args(tmp_path), layerwise_lr_decay=1.0
    ).create_optimizer()
    assert type(ours) is type(stock)
    assert named_groups(ours_model, ours.param_groups) == named_groups(stock_model, stock.param_groups)
    assert [{k: v for k, v in g.items() if k != "params"} for g in ours.param_groups] == [
        {k: v for k, v in g.items() if k != "params"} for g in stock.param_groups
    ]
    # the library function with decay 1 builds the same groups (with an explicit lr = the base rate)
    groups = layerwise_lr_groups(ours_model, lr=1e-3, decay=1.0, weight_decay=0.01)
    assert named_groups(ours_model, groups) == named_groups(stock_model, stock.param_groups)


def test_trainer_with_layerwise_lr_decay_schedules_every_group_and_resumes(tmp_path, tokenizer):
    data = tiny_tokenised(tokenizer)
    rates = [1e-3 * 0.5**k for k in range(4) for _ in range(2)]

    def make(**kwargs):
        return MultitaskTrainer(
            model=model_of().train(),
            args=tiny_args(tmp_path, warmup_steps=2, logging_steps=1, **kwargs),
            train_dataset=MultitaskDataset(data),
            data_collator=MultitaskCollator(tokenizer),
            layerwise_lr_decay=0.5,
            task_loss_weights={"sentiment": 2.0},
        )

    trainer = make()
    trainer.create_optimizer_and_scheduler(num_training_steps=10)
    assert type(trainer.optimizer) is torch.optim.AdamW  # the stock optimizer class (--optim)
    assert [g["initial_lr"] for g in trainer.optimizer.param_groups] == rates  # warmup starts at lr 0
    trainer.optimizer.step()
    for _ in range(3):
        trainer.lr_scheduler.step()
    factor = trainer.lr_scheduler.get_last_lr()[0] / 1e-3
    assert 0 < factor < 1  # the stock schedule (warmup, linear decay) scales every group alike
    assert trainer.lr_scheduler.get_last_lr() == pytest.approx([r * factor for r in rates])

    # a checkpoint of an LLRD run resumes (optimizer state with the same groups, scheduler)
    first = make(max_steps=4, save_strategy="steps", save_steps=2)
    first.train()
    assert (tmp_path / "checkpoint-2" / "optimizer.pt").exists()
    resumed = make(max_steps=4)
    resumed.train(resume_from_checkpoint=str(tmp_path / "checkpoint-2"))
    assert resumed.state.global_step == 4
    assert [g["initial_lr"] for g in resumed.optimizer.param_groups] == rates

    def logged(trainer):  # the learning rate of the first (base-rate) group, per step
        return [(e["step"], e["learning_rate"]) for e in trainer.state.log_history if "learning_rate" in e]

    assert len(logged(resumed)) == 4 and logged(resumed) == logged(first)  # the schedule continued

    with pytest.raises(ValueError, match="layerwise_lr_decay="):
        MultitaskTrainer(model=model_of(), args=tiny_args(tmp_path), layerwise_lr_decay=0.0)


def test_task_loss_weights_scale_the_optimised_loss_not_the_logged_one(tmp_path, tokenizer):
    data = tiny_tokenised(tokenizer)
    model = model_of()  # eval mode: no dropout, so the losses compare exactly
    trainer = MultitaskTrainer(
        model=model, args=tiny_args(tmp_path), task_loss_weights={"sentiment": 2.5, "similarity": 0.0}
    )
    collate = MultitaskCollator(tokenizer)
    for name, task, weight in (
        ("sst", "sentiment", 2.5),
        ("quora", "paraphrase", 1.0),
        ("sts", "similarity", 0.0),
    ):
        batch = collate([{**data[name][i], "task": task} for i in range(4)])
        with torch.no_grad():
            plain = model(**batch).loss
            loss = trainer.compute_loss(model, batch)
        assert float(loss) == pytest.approx(weight * float(plain))
        assert trainer._task_loss_sum[task] == pytest.approx(float(plain))  # logged unweighted
    with pytest.raises(ValueError, match="unknown task 'nli'"):
        MultitaskTrainer(model=model_of(), args=tiny_args(tmp_path), task_loss_weights={"nli": 1.0})
    with pytest.raises(ValueError, match="unknown task 'paraphrase'; this model's tasks are sentiment"):
        MultitaskTrainer(
            model=model_of(tasks=["sentiment"]), args=tiny_args(tmp_path), task_loss_weights={"paraphrase": 1}
        )


def test_parse_task_loss_weights():
    assert parse_task_loss_weights("sentiment=2, paraphrase=0.5") == {
        "sentiment": 2.0,
        "paraphrase": 0.5,
        "similarity": 1.0,
    }
    assert parse_task_loss_weights("") == {"sentiment": 1.0, "paraphrase": 1.0, "similarity": 1.0}
    assert parse_task_loss_weights("sentiment=3", ["sentiment"]) == {"sentiment": 3.0}
    assert parse_task_loss_weights("similarity=0") == {"sentiment": 1.0, "paraphrase": 1.0, "similarity": 0.0}
    bad = {
        "nli=1": "unknown task 'nli'",
        "sentiment=abc": "'abc' is not a number",
        "sentiment=-1": r"task_loss_weights\['sentiment'\]=-1.0; expected a number in \[0.0, inf\)",
        "sentiment=nan": "expected a number",
        "sentiment=inf": "expected a number",
        "sentiment 2": "expected task=weight",
        "sentiment=1,sentiment=2": "given twice",
        "sentiment=0,paraphrase=0,similarity=0": "every task's weight is 0",
    }
    for text, message in bad.items():
        with pytest.raises(ValueError, match=message):
            parse_task_loss_weights(text)
    with pytest.raises(ValueError, match="unknown task 'paraphrase'"):
        parse_task_loss_weights("paraphrase=1", ["sentiment"])


def test_best_model_is_chosen_by_a_multitask_dev_metric(tmp_path, tokenizer):
    """`metric_for_best_model` / `load_best_model_at_end` work on the dev sets passed as
    `eval_datasets` (Trainer's `eval_dataset={name: ds}`): the best checkpoint is the one whose logged
    `eval_overall` is highest, and its weights are the ones loaded at the end."""
    data = tiny_tokenised(tokenizer)
    args = tiny_args(
        tmp_path,
        max_steps=4,
        learning_rate=3e-3,
        eval_strategy="steps",
        eval_steps=1,
        save_strategy="steps",
        save_steps=1,
        metric_for_best_model="overall",
        load_best_model_at_end=True,
    )
    trainer = MultitaskTrainer(
        model=model_of().train(),
        args=args,
        train_dataset=MultitaskDataset(data),
        eval_datasets=data,
        data_collator=MultitaskCollator(tokenizer),
    )
    trainer.train()
    evals = [(e["step"], e["eval_overall"]) for e in trainer.state.log_history if "eval_overall" in e]
    assert [s for s, _ in evals] == [1, 2, 3, 4]
    best_step, best = max(evals, key=lambda e: e[1])
    assert trainer.state.best_metric == pytest.approx(best)
    assert trainer.state.best_model_checkpoint.endswith(f"checkpoint-{best_step}")
    assert trainer.evaluate()["eval_overall"] == pytest.approx(best)
