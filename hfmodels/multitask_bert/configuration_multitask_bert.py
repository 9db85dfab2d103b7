"""Configuration of the multitask BERT (`docs/definitions.md`, "Multitask BERT"): sentiment, paraphrase and
similarity heads."""

from __future__ import annotations

from transformers import BertConfig, PretrainedConfig

TASKS = ("sentiment", "paraphrase", "similarity")
OPTIONS = ("pretrain", "finetune")
POOLINGS = ("cls", "pooler", "mean")
PAIR_FEATURES = ("u", "v", "|u-v|", "u*v")
SIMILARITY_HEADS = ("cosine", "mlp")
#: Class names of the sentiment head by its number of classes: SST-5 (0-4) and CFIMDB (0/1).
SENTIMENT_LABELS = {
    5: ("very negative", "negative", "neutral", "positive", "very positive"),
    2: ("negative", "positive"),
}
#: Names of the paraphrase head's two answers (0, 1).
PARAPHRASE_LABELS = ("not duplicate", "duplicate")
PAIR_TASKS = ("paraphrase", "similarity")


class MultitaskBertConfig(PretrainedConfig):
    r"""
    Configuration for [`MultitaskBertModel`]: one BERT encoder shared by a sentiment head,
    a paraphrase head and a semantic-similarity head (the minBERT multitask system).

    Args:
        bert_config (`BertConfig` or `dict`, *optional*):
            Configuration of the encoder, a plain transformers `BertModel`. Stored nested in
            `config.json`. Defaults to `BertConfig()` (bert-base size); use
            [`MultitaskBertModel.from_backbone`] to take it from a checkpoint.
        tasks (`list[str]`, defaults to `["sentiment", "paraphrase", "similarity"]`):
            Heads to build, a non-empty subset of `"sentiment"`, `"paraphrase"`, `"similarity"`.
            `["sentiment"]` with `num_sentiment_labels=2` is the single-task CFIMDB classifier.
        num_sentiment_labels (`int`, defaults to 5):
            Classes of the sentiment head: 5 for SST-5 (0 negative ... 4 positive), 2 for CFIMDB.
            `id2label` names them (SST-5: very negative, negative, neutral, positive, very positive;
            CFIMDB: negative, positive) unless given; other counts keep `LABEL_<i>`.
        option (`str`, defaults to `"finetune"`):
            `"pretrain"` freezes the encoder (only the heads learn, as the original's
            `--option pretrain`); `"finetune"` trains everything.
        pooling (`str`, defaults to `"cls"`):
            Sentence representation: `"cls"` (final hidden state of [CLS]),
            `"pooler"` (BERT's tanh pooler over [CLS], the original baseline) or `"mean"`
            (attention-masked mean of the final hidden states, how all-MiniLM-L6-v2 was trained).
        head_dropout (`float`, defaults to 0.3):
            Dropout on the sentence representations before every head (the original's
            `--hidden_dropout_prob`).
        pair_features (`list[str]`, defaults to `["u", "v", "|u-v|", "u*v"]`):
            Features of a sentence pair `(u, v)` fed to the paraphrase head (and to the
            similarity head when `similarity_head="mlp"`), in this order; a non-empty subset of
            `"u"`, `"v"`, `"|u-v|"`, `"u*v"` without repeats.
        pair_hidden_size (`int`, defaults to 256):
            Width of the hidden layer of the pair-task MLPs; 0 makes them a single linear layer.
        similarity_head (`str`, defaults to `"cosine"`):
            `"cosine"` predicts `5 * cos(u, v)` (trained with MSE against the 0-5 gold score);
            `"mlp"` regresses the score from the pair features.
        similarity_projection (`bool`, defaults to `False`):
            With the cosine similarity head, compare `P u` and `P v` instead of `u` and `v`, where
            `P` is a similarity-only linear map (hidden x hidden) initialised to the identity:
            a separate pair layer that lets the shared encoder serve the other tasks while the
            similarity task keeps its own geometry. Starts out equal to the plain cosine head.
        cross_encoder_tasks (`list[str]`, defaults to `[]`):
            Pair tasks (`"paraphrase"`, `"similarity"`) whose two sentences are encoded *together*
            as one input `[CLS] s1 [SEP] s2 [SEP]` (token types 0 and 1, as `tokenizer(s1, s2)`
            builds it), so every layer attends across the pair (a cross-encoder). The head is
            dropout and an MLP (`pair_hidden_size`) over the pooled pair representation:
            one logit for paraphrase, `5 * sigmoid(.)` for similarity (then `similarity_head`
            and `pair_features` do not apply to that task). Other pair tasks stay bi-encoders.
        cross_encoder_bi_features (`bool`, defaults to `False`):
            Also feed the cross-encoder heads the bi-encoder pair features (`pair_features` of
            the separately encoded sentences), concatenated after the joined-pair vector: a
            hybrid head that costs a second encoder pass over both sentences.
        paraphrase_labels (`list[str]`, defaults to `["not duplicate", "duplicate"]`):
            Names of the paraphrase head's answers 0 and 1.
        initializer_range (`float`, *optional*):
            Std of the normal init of the heads; defaults to the encoder's `initializer_range`.
    """

    model_type = "multitask_bert"
    sub_configs = {"bert_config": BertConfig}

    def __init__(
        self,
        bert_config: BertConfig | dict | None = None,
        tasks: list[str] | tuple[str, ...] = TASKS,
        num_sentiment_labels: int = 5,
        option: str = "finetune",
        pooling: str = "cls",
        head_dropout: float = 0.3,
        pair_features: list[str] | tuple[str, ...] = PAIR_FEATURES,
        pair_hidden_size: int = 256,
        similarity_head: str = "cosine",
        similarity_projection: bool = False,
        cross_encoder_tasks: list[str] | tuple[str, ...] = (),
        cross_encoder_bi_features: bool = False,
        initializer_range: float | None = None,
        **kwargs,
    ):
        if bert_config is None:
            bert_config = BertConfig()
        elif isinstance(bert_config, dict):
            bert_config = BertConfig(**bert_config)
        elif not isinstance(bert_config, BertConfig):
            raise ValueError(
                f"MultitaskBertConfig: invalid bert_config of type {type(bert_config).__name__}; "
                "expected a BertConfig or a dict of its fields."
            )
        self.bert_config = bert_config
        self.tasks = list(tasks) if isinstance(tasks, (list, tuple)) else tasks
        self.num_sentiment_labels = num_sentiment_labels
        self.option = option
        self.pooling = pooling
        self.head_dropout = head_dropout
        self.pair_features = (
            list(pair_features) if isinstance(pair_features, (list, tuple)) else pair_features
        )
        self.pair_hidden_size = pair_hidden_size
        self.similarity_head = similarity_head
        self.cross_encoder_bi_features = cross_encoder_bi_features
        self.similarity_projection = similarity_projection
        self.cross_encoder_tasks = (
            list(cross_encoder_tasks)
            if isinstance(cross_encoder_tasks, (list, tuple))
            else cross_encoder_tasks
        )
        self.initializer_range = (
            bert_config.initializer_range if initializer_range is None else initializer_range
        )
        self._validate()
        self.paraphrase_labels = list(kwargs.pop("paraphrase_labels", PARAPHRASE_LABELS))
        super().__init__(**kwargs)
        names = [self.id2label[i] for i in sorted(self.id2label)]
        if len(names) != num_sentiment_labels or names == [f"LABEL_{i}" for i in range(len(names))]:
            # the sentiment head's class names (transformers' default is LABEL_0, LABEL_1)
            default = [f"LABEL_{i}" for i in range(num_sentiment_labels)]
            self.id2label = dict(enumerate(SENTIMENT_LABELS.get(num_sentiment_labels, default)))
            self.label2id = {name: i for i, name in self.id2label.items()}

    def _validate(self) -> None:
        def bad(field: str, value, allowed: str) -> ValueError:
            return ValueError(f"MultitaskBertConfig: invalid {field}={value!r}; {allowed}.")

        if not isinstance(self.tasks, list) or not self.tasks or any(t not in TASKS for t in self.tasks):
            raise bad("tasks", self.tasks, f"expected a non-empty list drawn from {', '.join(TASKS)}")
        if len(set(self.tasks)) != len(self.tasks):
            raise bad("tasks", self.tasks, "each task may appear once")
        n = self.num_sentiment_labels
        if not isinstance(n, int) or isinstance(n, bool) or n < 2:
            raise bad("num_sentiment_labels", n, "expected an integer >= 2")
        if self.option not in OPTIONS:
            raise bad("option", self.option, f"allowed: {', '.join(OPTIONS)}")
        if self.pooling not in POOLINGS:
            raise bad("pooling", self.pooling, f"allowed: {', '.join(POOLINGS)}")
        if not isinstance(self.head_dropout, (int, float)) or not 0.0 <= self.head_dropout < 1.0:
            raise bad("head_dropout", self.head_dropout, "expected a probability in [0, 1)")
        feats = self.pair_features
        if not isinstance(feats, list) or not feats or any(f not in PAIR_FEATURES for f in feats):
            raise bad(
                "pair_features", feats, f"expected a non-empty list drawn from {', '.join(PAIR_FEATURES)}"
            )
        if len(set(feats)) != len(feats):
            raise bad("pair_features", feats, "each feature may appear once")
        h = self.pair_hidden_size
        if not isinstance(h, int) or isinstance(h, bool) or h < 0:
            raise bad("pair_hidden_size", h, "expected an integer >= 0 (0 = a single linear layer)")
        if self.similarity_head not in SIMILARITY_HEADS:
            raise bad("similarity_head", self.similarity_head, f"allowed: {', '.join(SIMILARITY_HEADS)}")
        cross = self.cross_encoder_tasks
        if (
            not isinstance(cross, list)
            or any(t not in PAIR_TASKS for t in cross)
            or len(set(cross)) != len(cross)
        ):
            raise bad(
                "cross_encoder_tasks", cross, f"expected a list drawn once each from {', '.join(PAIR_TASKS)}"
            )
        if not isinstance(self.similarity_projection, bool):
            raise bad("similarity_projection", self.similarity_projection, "expected True or False")
        if not isinstance(self.cross_encoder_bi_features, bool):
            raise bad("cross_encoder_bi_features", self.cross_encoder_bi_features, "expected True or False")
        if self.similarity_projection and (self.similarity_head != "cosine" or "similarity" in cross):
            raise bad(
                "similarity_projection",
                self.similarity_projection,
                "it applies to the cosine similarity head only (not to similarity_head='mlp' or a "
                "cross-encoded similarity task)",
            )


# `save_pretrained` writes `auto_map` and copies this file, so a saved folder's config loads with
# `trust_remote_code=True` where hfmodels is not installed.
MultitaskBertConfig.register_for_auto_class()

__all__ = [
    "MultitaskBertConfig",
    "TASKS",
    "PAIR_TASKS",
    "OPTIONS",
    "POOLINGS",
    "PAIR_FEATURES",
    "SIMILARITY_HEADS",
    "SENTIMENT_LABELS",
    "PARAPHRASE_LABELS",
]
