"""Shared pieces of the multitask BERT tests: a tiny BERT config and WordPiece tokenizer, seeded tiny
models and batches, tiny tokenised and on-disk minBERT data, and the recipe loader."""

from pathlib import Path

import pytest
import torch
from datasets import Dataset
from scripts import load_script
from transformers import (
    BertConfig,
    BertModel,
    BertTokenizerFast,
    TrainingArguments,
)

import hfmodels  # noqa: F401  (Auto registration)
from hfmodels.multitask_bert import MultitaskBertConfig, MultitaskBertModel

WORDS = "a the man woman cat dog plays guitar film great bad good is was how do i learn what why".split()


def tiny_bert_config() -> BertConfig:
    return BertConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        vocab_size=len(WORDS) + 5,
        max_position_embeddings=64,
    )


def make_tokenizer() -> BertTokenizerFast:
    # transformers 5: the WordPiece vocabulary is passed as `vocab` (a dict or a vocab.txt path)
    vocab = {token: i for i, token in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS])}
    return BertTokenizerFast(vocab=vocab, do_lower_case=True)


@pytest.fixture(scope="module", name="tokenizer")
def tokenizer_fixture() -> BertTokenizerFast:
    tok = make_tokenizer()
    assert tok("a man")["input_ids"] == [2, 5, 7, 3]
    return tok


@pytest.fixture(scope="module", name="backbone_dir")
def backbone_dir_fixture(tmp_path_factory) -> Path:
    """A tiny random BERT checkpoint folder with its tokenizer, like a Hub BERT."""
    folder = tmp_path_factory.mktemp("backbone")
    torch.manual_seed(0)
    BertModel(tiny_bert_config()).save_pretrained(folder)
    make_tokenizer().save_pretrained(folder)
    return folder


def model_of(**kwargs) -> MultitaskBertModel:
    torch.manual_seed(0)
    return MultitaskBertModel(MultitaskBertConfig(bert_config=tiny_bert_config(), **kwargs)).eval()


def batch(seed=0, b=4, t1=7, t2=5):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, tiny_bert_config().vocab_size, (b, t1), generator=g)
    ids2 = torch.randint(5, tiny_bert_config().vocab_size, (b, t2), generator=g)
    mask = torch.ones_like(ids)
    mask[0, -2:] = 0
    return ids, mask, ids2, torch.ones_like(ids2)


LEGACY = Path(__file__).parent / "fixtures" / "multitask_bert_legacy"


def tiny_tokenised(tokenizer, n=24):
    sents = [" ".join(WORDS[(i * k) % len(WORDS)] for k in range(1, 2 + i % 5)) for i in range(n)]
    sst = Dataset.from_dict(
        {"id": [f"s{i}" for i in range(n)], "sentence": sents, "label": [i % 5 for i in range(n)]}
    )
    pairs = {"id": [f"p{i}" for i in range(n)], "sentence1": sents, "sentence2": sents[::-1]}

    def enc(ds):
        def f(b):
            if "sentence" in b:
                return dict(tokenizer(b["sentence"]))
            one, two = tokenizer(b["sentence1"]), tokenizer(b["sentence2"])
            return {**one, **{k + "_2": v for k, v in two.items()}}

        return ds.map(f, batched=True)

    quora = Dataset.from_dict({**pairs, "label": [i % 2 for i in range(n)]})
    sts = Dataset.from_dict({**pairs, "label": [float(i % 6) for i in range(n)]})
    return {"sst": enc(sst), "quora": enc(quora), "sts": enc(sts)}


def tiny_args(tmp_path, **kwargs) -> TrainingArguments:
    defaults = dict(
        output_dir=str(tmp_path),
        per_device_train_batch_size=8,
        report_to=[],
        save_strategy="no",
        use_cpu=True,
        learning_rate=1e-3,
        weight_decay=0.01,
        seed=0,
    )
    return TrainingArguments(**{**defaults, **kwargs})


def load_recipe(name: str):
    """Import `recipes/multitask_bert/<name>.py` as the module `mtb_<name>`."""
    return load_script(f"recipes/multitask_bert/{name}.py", f"mtb_{name}")


def write_minbert_dir(root: Path) -> Path:
    d = root / "minbert"
    d.mkdir(parents=True)
    sents = [" ".join(WORDS[(i * k) % len(WORDS)] for k in range(1, 3 + i % 4)) for i in range(30)]
    single = ["\tid\tsentence\tsentiment"] + [f"{i}\tid{i}\t{s}\t{i % 5}" for i, s in enumerate(sents)]
    for split in ("train", "dev"):
        (d / f"ids-sst-{split}.csv").write_text("\n".join(single) + "\n")
        pairs = [f"{i}\tpid{i}\t{s}\t{sents[-i]}\t{float(i % 6):.1f}" for i, s in enumerate(sents)]
        (d / f"sts-{split}.csv").write_text(
            "\n".join(["\tid\tsentence1\tsentence2\tsimilarity", *pairs]) + "\n"
        )
    test = ["0\t\tid\tsentence"] + [f"{i + 1}\t{float(i)}\ttid{i}\t{s}" for i, s in enumerate(sents[:5])]
    (d / "ids-sst-test-student.csv").write_text("\n".join(test) + "\n")
    (d / "sts-test-student.csv").write_text("\tid\tsentence1\tsentence2\n0\ttp0\ta man\ta woman\n")
    quora = [f"{i}\tq{i}\t{s}\t{sents[(i * 7) % 30]}\t{float(i % 2)}" for i, s in enumerate(sents * 2)]
    (d / "quora.csv").write_text("\n".join(["\tid\tsentence1\tsentence2\tis_duplicate", *quora]) + "\n")
    return root
