"""Training the character GPT of the birthplace study with `Trainer`: the arguments, strict loading
of model folders, minGPT's weight-decay groups and token schedule, and saving a model folder.

`recipes/char_gpt/run.py` and `recipes/char_gpt/select_finetune.py` parse [`CharGPTStudyArguments`]
and [`CharGPTTrainingArguments`] with `HfArgumentParser` and call the study's steps in
[`hfmodels.training.study`], which are built from the functions here.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tokenizers import Tokenizer
from transformers import HfArgumentParser, TrainingArguments
from transformers.training_args import OptimizerNames

from ..char_gpt import ATTENTION_TYPES, CharGPTConfig, CharGPTForCausalLM, CharTokenizerFast
from .cli import allow_bare_flags, refuse_inapplicable, refuse_together
from .optim import MinGPTTrainer
from .precision import default_bf16, precision_choice
from .resume import StopAfterStepsCallback, resolve_resume_checkpoint
from .schedules import WARMUP_TOKENS

FUNCTIONS = (
    "pretrain",
    "finetune",
    "evaluate",
    "london_baseline",
    "analyze",
    "quickstart",
    "export_checkpoint",
)
# Training always runs minGPT's token schedule; these Trainer flags would be ignored, so they are refused.
SCHEDULE_FLAGS = ("lr_scheduler_type", "lr_scheduler_kwargs", "warmup_steps", "warmup_ratio")
# Options that set the same thing: giving both is refused rather than letting one silently win.
SAME_SETTING = (("learning_rate", "pretrain_lr"), ("learning_rate", "finetune_lr"))
ARCHITECTURE_FIELDS = ("block_size", "n_layer", "n_head", "n_embd", "bottleneck_dim", "synthesizer_per_head")


@dataclass
class CharGPTStudyArguments:
    """Arguments of the course's run.py plus the model, data and output switches of the study."""

    function: str = field(
        default="quickstart", metadata={"help": f"one of {', '.join(FUNCTIONS)} (positional)"}
    )
    variant: str = field(
        default="vanilla", metadata={"help": f"one of {', '.join(ATTENTION_TYPES)} (positional)"}
    )
    pretrain_corpus_path: str = field(
        default="wiki.txt",
        metadata={"help": "pretraining corpus, also the source of a new model's vocabulary (positional)"},
    )
    data_dir: str | None = field(
        default=None, metadata={"help": "data directory (default: $HFMODELS_DATA_DIR)"}
    )
    bottleneck_dim: int = field(default=32, metadata={"help": "perceiver basis rows m"})
    pretrain_lr: float = field(default=6e-3, metadata={"help": "peak learning rate of pretraining"})
    finetune_lr: float = field(default=6e-4, metadata={"help": "peak learning rate of finetuning"})
    global_train_batch_size: int | None = field(
        default=None,
        metadata={
            "help": "examples per step over all processes (presets set it; --per_device_train_batch_size wins)"
        },
    )
    reading_params_path: str | None = field(default=None, metadata={"help": "model folder to start from"})
    writing_params_path: str | None = field(default=None, metadata={"help": "model folder to write"})
    finetune_corpus_path: str = field(default="birth_places_train.tsv", metadata={"help": "finetuning TSV"})
    eval_corpus_path: str | None = field(default=None, metadata={"help": "TSV to evaluate on"})
    outputs_path: str | None = field(default=None, metadata={"help": "predictions file (one place per line)"})
    eval_split: str | None = field(
        default=None,
        metadata={
            "help": "the split --eval_corpus_path belongs to, naming its metrics (default: from the data set's file names)"
        },
    )
    overwrite_output_dir: bool = field(
        default=False,
        metadata={"help": "replace the run or model already in --output_dir / --writing_params_path"},
    )
    tb_expt_name: str = field(default="run", metadata={"help": "TensorBoard experiment (log folder) name"})
    block_size: int = 128
    n_layer: int = 4
    n_head: int = 8
    n_embd: int = 256
    dropout: float | None = field(
        default=None, metadata={"help": "override all three dropouts (default 0.1)"}
    )
    synthesizer_per_head: bool = field(
        default=False, metadata={"help": "one B_i per head (default: shared B)"}
    )
    attention_backend: str = field(
        default="auto", metadata={"help": "auto (matmul on CPU, SDPA on GPU) | sdpa | matmul | eager"}
    )
    torch_compile_model: bool = field(default=False, metadata={"help": "alias of --torch_compile"})
    pack: bool | None = field(
        default=None,
        metadata={
            "help": "pack the training examples into padding-free rows (default: on for vanilla/synthesizer, "
            "off for the perceiver)"
        },
    )
    token_count: str = field(default="examples", metadata={"help": "schedule tokens: examples | targets"})
    final_tokens: int | None = field(
        default=None, metadata={"help": "cosine end (default 200*docs*block_size)"}
    )
    fit_schedule_to_run: bool = field(
        default=False, metadata={"help": "end the cosine at the last token of this (shortened) run"}
    )
    max_pretrain_documents: int | None = field(default=None, metadata={"help": "use the first N documents"})
    eval_batch_size: int = field(default=128, metadata={"help": "questions decoded per batch"})
    eval_after_finetune: bool = field(default=True, metadata={"help": "score birth_dev.tsv after finetuning"})
    stop_after_steps: int | None = field(
        default=None, metadata={"help": "stop (as if interrupted) after this many steps; resume later"}
    )
    finetune_replay_ratio: float = field(
        default=0.0,
        metadata={
            "help": "finetuning only: pretraining documents (span corruption) replayed per question in each "
            "batch, against forgetting (0 = the original finetuning)"
        },
    )


@dataclass
class CharGPTTrainingArguments(TrainingArguments):
    """`TrainingArguments` with the original training's settings as defaults (docs/definitions.md,
    "Training schedules of the original"): the fused AdamW kernel with betas (0.9, 0.95), weight decay
    0.1 (on minGPT's groups, [`MinGPTTrainer`]; any other `--optim` works too), gradient clipping 1.0,
    TensorBoard logs; bf16 autocast by default only where the hardware runs it natively
    ([`default_bf16`]); the CPU where there is no CUDA device."""

    optim: OptimizerNames | str = OptimizerNames.ADAMW_TORCH_FUSED
    weight_decay: float = 0.1
    adam_beta2: float = 0.95
    logging_steps: float = 10
    save_total_limit: int | None = 2
    report_to: None | str | list[str] = "tensorboard"
    remove_unused_columns: bool = False
    # Trainer copies this into model.config; the saved model keeps its KV cache for decoding.
    use_cache: bool = True
    use_cpu: bool = field(default_factory=lambda: not torch.cuda.is_available())
    bf16: bool = field(
        default_factory=default_bf16,
        metadata={
            "help": "bf16 autocast (default: where the hardware runs bf16 natively, or as accelerate launch says)"
        },
    )


def argument_parser(*extra_dataclasses) -> HfArgumentParser:
    """`HfArgumentParser` over [`CharGPTStudyArguments`], [`CharGPTTrainingArguments`] and
    `extra_dataclasses`, with the hardware's defaults for `--use_cpu` and `--bf16` (the parser would
    read a boolean's `default_factory` as False) and a bare `--pack` meaning True."""
    parser = HfArgumentParser(
        (CharGPTStudyArguments, CharGPTTrainingArguments, *extra_dataclasses), allow_abbrev=False
    )
    parser.set_defaults(use_cpu=not torch.cuda.is_available(), bf16=default_bf16())
    allow_bare_flags(parser, ["pack"])
    return parser


#: The functions whose model folder `--push_to_hub` uploads (evaluate: the `--reading_params_path` it scored).
PUSHING_FUNCTIONS = ("pretrain", "finetune", "quickstart", "evaluate", "export_checkpoint")


def world_size() -> int:
    """Processes of this run (`torchrun` / `accelerate launch` set `$WORLD_SIZE`)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    """Whether this is the process that writes the run's outputs."""
    return int(os.environ.get("RANK", "0")) == 0


def check_arguments(
    study: CharGPTStudyArguments,
    training: TrainingArguments,
    given: set[str],
    preset: set[str] = frozenset(),
    prog: str = "run.py",
) -> None:
    """Refuse what the run would ignore or contradict, and derive the settings that follow from
    others (learning rate, per-process batch, the checkpoint to resume). `given`: the options the
    command line set, `preset`: those a preset set (both in `dest` form); two options that set the
    same thing are refused only when both come from the command line."""
    refuse_together(given, SAME_SETTING, prog)
    given = given | preset
    if study.function not in FUNCTIONS:
        raise SystemExit(
            f"{prog}: unknown function {study.function!r}; expected one of {', '.join(FUNCTIONS)}."
        )
    if study.variant not in ATTENTION_TYPES:
        raise SystemExit(
            f"{prog}: unknown variant {study.variant!r}; expected one of {', '.join(ATTENTION_TYPES)}."
        )
    if study.function == "quickstart" and study.variant != "vanilla":
        raise SystemExit(f"{prog}: quickstart trains the vanilla model only (got {study.variant!r}).")
    for flag in SCHEDULE_FLAGS:
        if flag in given:
            raise SystemExit(
                f"{prog}: --{flag} is not used: training follows minGPT's token schedule (linear warm-up over "
                f"the first {WARMUP_TOKENS:,} tokens, then cosine to 10 % at final_tokens); set its peak with "
                "--pretrain_lr / --finetune_lr."
            )
    if "per_device_eval_batch_size" in given:
        raise SystemExit(
            f"{prog}: questions are decoded in batches of --eval_batch_size (not --per_device_eval_batch_size)."
        )
    refuse_inapplicable(
        given,
        [
            ("bottleneck_dim", study.variant == "perceiver", "the perceiver's basis rows"),
            ("synthesizer_per_head", study.variant == "synthesizer", "the synthesizer's attention"),
            ("finetune_replay_ratio", study.function == "finetune", "finetuning"),
        ],
        prog,
        f"`{study.function} {study.variant}`",
    )
    if training.push_to_hub and study.function not in PUSHING_FUNCTIONS:
        raise SystemExit(
            f"{prog}: --push_to_hub uploads a model folder; {study.function!r} writes none "
            f"(push with {', '.join(PUSHING_FUNCTIONS)})."
        )
    if study.fit_schedule_to_run and (study.final_tokens or study.token_count != "examples"):
        raise SystemExit(
            f"{prog}: --fit_schedule_to_run sets the cosine's end from this run's examples; it cannot be combined "
            "with --final_tokens or with --token_count targets."
        )
    if "learning_rate" not in given:
        training.learning_rate = study.pretrain_lr if study.function == "pretrain" else study.finetune_lr
    if study.global_train_batch_size and "per_device_train_batch_size" not in given:
        training.per_device_train_batch_size = max(1, study.global_train_batch_size // world_size())
    if study.torch_compile_model:
        training.torch_compile = True
    # "last" -> the newest complete checkpoint of --output_dir; a half-written one is refused.
    training.resume_from_checkpoint = resolve_resume_checkpoint(
        training.resume_from_checkpoint, training.output_dir
    )


def build_config(study: CharGPTStudyArguments, vocab_size: int) -> CharGPTConfig:
    """The study's model (or the switches' variant of it) for `study.variant`."""
    kwargs = {}
    if study.dropout is not None:
        kwargs = {"embd_pdrop": study.dropout, "attn_pdrop": study.dropout, "resid_pdrop": study.dropout}
    return CharGPTConfig(
        vocab_size=vocab_size,
        block_size=study.block_size,
        n_layer=study.n_layer,
        n_head=study.n_head,
        n_embd=study.n_embd,
        attention_type=study.variant,
        bottleneck_dim=study.bottleneck_dim,
        synthesizer_per_head=study.synthesizer_per_head,
        attention_backend=study.attention_backend,
        **kwargs,
    )


def adopt_saved_architecture(
    path: str, config: CharGPTConfig, study: CharGPTStudyArguments, given: set[str]
) -> None:
    """A saved model keeps its architecture: `study` takes the folder's values (the data pipeline and
    the card then match the model), and an option the user gave that disagrees is refused."""
    for name in ARCHITECTURE_FIELDS:
        saved = getattr(config, name)
        if name in given and getattr(study, name) != saved:
            raise ValueError(
                f"{path}: the saved model has {name}={saved!r} but --{name} {getattr(study, name)!r} was given; "
                "a saved model keeps its architecture (drop the flag)."
            )
        setattr(study, name, saved)
    saved_dropout = {config.embd_pdrop, config.attn_pdrop, config.resid_pdrop}
    if "dropout" in given and study.dropout is not None and saved_dropout != {study.dropout}:
        raise ValueError(
            f"{path}: the saved model's dropouts are {sorted(saved_dropout)} but --dropout {study.dropout} was "
            "given; a saved model keeps its dropout (drop the flag)."
        )


def load_pretrained_strict(path: str | os.PathLike, **kwargs) -> CharGPTForCausalLM:
    """`CharGPTForCausalLM.from_pretrained(path)` that fails when the folder's weights do not fit its
    config (missing, unexpected or mismatched tensors would otherwise be initialised at random)."""
    model, info = CharGPTForCausalLM.from_pretrained(path, output_loading_info=True, **kwargs)
    problems = {k: sorted(v) for k, v in info.items() if v and k != "error_msgs"}
    if problems or info.get("error_msgs"):
        listed = "; ".join(
            f"{k.replace('_', ' ')}: {', '.join(map(str, v[:8]))}" for k, v in problems.items()
        )
        raise ValueError(
            f"{path}: the weights do not match config.json ({listed or info['error_msgs']}); the folder is "
            "damaged or its config.json was edited."
        )
    return model


def load_model(
    path: str, study: CharGPTStudyArguments, tokenizer: CharTokenizerFast, given: set[str] = frozenset()
) -> CharGPTForCausalLM:
    """A model folder (loaded strictly, in float32) or a course `.params` state dict (read into the
    study's model for `study.variant`); its vocabulary must match `tokenizer`."""
    if os.path.isdir(path):
        model = load_pretrained_strict(path, dtype=torch.float32)
        if model.config.attention_type != study.variant:
            raise ValueError(
                f"{path}: the saved model is a {model.config.attention_type!r} model but the command asks for "
                f"{study.variant!r}; pass the matching variant."
            )
        adopt_saved_architecture(path, model.config, study, given)
        if study.attention_backend != model.config.attention_backend:
            model.config.attention_backend = (
                study.attention_backend
            )  # sets attn_implementation, read per call
    elif os.path.isfile(path):
        model = CharGPTForCausalLM(build_config(study, tokenizer.vocab_size))
        state = torch.load(path, map_location="cpu", weights_only=True)
        missing, unexpected = model.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise ValueError(
                f"{path}: not a state dict of this model (missing {missing[:5]}, unexpected {unexpected[:5]})."
            )
    else:
        raise FileNotFoundError(f"--reading_params_path {path}: no such model folder or .params file.")
    if model.config.vocab_size != tokenizer.vocab_size:
        raise ValueError(
            f"{path}: config.json has vocab_size={model.config.vocab_size} but the tokenizer has "
            f"{tokenizer.vocab_size} entries; a model is used only with its own tokenizer."
        )
    return model


def load_folder_tokenizer(path: str | os.PathLike) -> CharTokenizerFast:
    """The tokenizer saved in a model folder, as [`CharTokenizerFast`] with `model_max_length` the
    limit of the folder's model (`config.max_input_length`); a folder of the slow class (only
    `vocab.json`) loads too. A missing or unreadable vocabulary is an error (one rebuilt from some
    corpus would map characters to other ids than the model learned), and so are a vocabulary of
    another size than config.json's and a `tokenizer.json` that disagrees with `vocab.json`."""
    folder = Path(path)
    vocab_file = folder / "vocab.json"
    if not vocab_file.is_file():
        raise FileNotFoundError(
            f"{vocab_file}: missing; a model folder carries its own tokenizer (vocab.json), and no other is used with it."
        )
    try:
        json.loads(vocab_file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{vocab_file}: not a readable vocabulary ({err}).") from err
    config = CharGPTConfig.from_pretrained(folder) if (folder / "config.json").is_file() else None
    limit = {"model_max_length": config.max_input_length} if config else {}
    tokenizer = CharTokenizerFast.from_pretrained(folder, **limit)  # built from vocab.json, as the slow class
    if config and config.vocab_size != len(tokenizer):
        raise ValueError(
            f"{folder}: config.json has vocab_size={config.vocab_size} but the tokenizer has "
            f"{len(tokenizer)} entries; a model is used only with its own tokenizer."
        )
    _check_tokenizer_json(folder / "tokenizer.json", tokenizer.get_vocab(), vocab_file)
    return tokenizer


def _check_tokenizer_json(tokenizer_file: Path, vocab: dict[str, int], vocab_file: Path) -> None:
    """A folder's `tokenizer.json` (what `AutoTokenizer` reads under `trust_remote_code`) must hold the
    vocabulary of its `vocab.json`; a missing one is fine (a folder of the slow class)."""
    if not tokenizer_file.is_file():
        return
    try:
        saved = Tokenizer.from_file(str(tokenizer_file)).get_vocab()
    except Exception as err:  # tokenizers raises a bare Exception for an unreadable file
        raise ValueError(f"{tokenizer_file}: not a readable tokenizers file ({err}).") from None
    if saved != vocab:
        differ = sorted(set(saved.items()) ^ set(vocab.items()), key=lambda kv: kv[1])
        raise ValueError(
            f"{tokenizer_file}: its vocabulary differs from {vocab_file} ({len(saved)} and {len(vocab)} "
            f"entries; first difference {differ[0]!r}); the folder is damaged."
        )


@contextlib.contextmanager
def environment_variable(name: str, value: str):
    """`os.environ[name] = value` inside the block; the previous value (or its absence) after it."""
    previous = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = previous


def train_with_token_schedule(
    study, training, model, tokenizer, train_dataset, collator, final_tokens, callbacks=()
):
    """Run [`MinGPTTrainer`]: the `--optim` optimizer over minGPT's decay groups and the token
    schedule (docs/definitions.md, "Learning-rate schedule"); returns (trainer, train result, wall seconds)."""
    callbacks = list(callbacks)
    if study.stop_after_steps:
        callbacks.append(StopAfterStepsCallback(study.stop_after_steps))
    # transformers v5 takes the TensorBoard folder from the environment (no `logging_dir` argument),
    # read when the Trainer builds its callbacks; set for that moment only, so a later Trainer in the
    # same process logs where its own arguments say.
    with environment_variable(
        "TENSORBOARD_LOGGING_DIR", os.path.join(training.output_dir, "tb", study.tb_expt_name)
    ):
        trainer = MinGPTTrainer(
            model=model,
            args=training,
            train_dataset=train_dataset,
            data_collator=collator,
            processing_class=tokenizer,
            callbacks=callbacks,
            final_tokens=final_tokens,
            token_count=study.token_count,
            tokens_per_example=model.config.block_size - 1,
        )
    start = time.time()
    result = trainer.train(resume_from_checkpoint=training.resume_from_checkpoint)
    return trainer, result, time.time() - start


def planned_tokens(training: TrainingArguments, n_examples: int, tokens_per_example: int) -> int:
    """Tokens the run will count (examples x tokens_per_example), short last batches included."""
    global_batch = training.per_device_train_batch_size * world_size() * training.gradient_accumulation_steps
    if training.max_steps and training.max_steps > 0:
        steps_per_epoch = math.ceil(n_examples / global_batch)
        epochs, rest = divmod(training.max_steps, steps_per_epoch)
        return (epochs * n_examples + min(rest * global_batch, n_examples)) * tokens_per_example
    return int(math.ceil(training.num_train_epochs * n_examples)) * tokens_per_example


def train_metrics(trainer, result, wall: float, prefix: str, resumed_from_step: int = 0) -> dict:
    """The run's training figures. After a resume the Trainer's mean loss covers only the resumed
    segment, so it is reported as `<prefix>_segment_mean_loss` with the segment's first step, and
    `<prefix>_mean_loss` (the whole run's) is left empty rather than wrong."""
    state = trainer.state
    losses = [h["loss"] for h in state.log_history if "loss" in h]
    schedule = trainer._schedule()
    metrics = {
        f"{prefix}_final_logged_loss": losses[-1] if losses else None,
        f"{prefix}_mean_loss": result.training_loss,
        f"{prefix}_epochs": state.epoch,
        f"{prefix}_steps": state.global_step,
        f"{prefix}_tokens": schedule.tokens if schedule else None,
        f"{prefix}_final_tokens": schedule.final_tokens if schedule else None,
        f"{prefix}_wall_seconds": round(wall, 1),
        f"{prefix}_mixed_precision": str(trainer.accelerator.mixed_precision),
        f"{prefix}_precision_reason": precision_choice()["reason"],
        f"{prefix}_world_size": world_size(),
    }
    if resumed_from_step:
        metrics[f"{prefix}_mean_loss"] = None
        metrics[f"{prefix}_segment_mean_loss"] = result.training_loss
        metrics[f"{prefix}_segment_first_step"] = resumed_from_step + 1
    return metrics


def save_model_folder(trainer, tokenizer: CharTokenizerFast, folder: str | os.PathLike) -> None:
    """Write the trained model and its tokenizer as a shareable folder: safetensors and JSON only
    (`Trainer.save_model` would add the pickled `training_args.bin`, which belongs in checkpoints).
    The tokenizer is saved with `tokenizer.json` and `vocab.json`, `eos_token` ⁇ and
    `model_max_length` set to the model's `config.max_input_length`."""
    model = trainer.accelerator.unwrap_model(trainer.model)
    model.save_pretrained(folder)
    tokenizer.model_max_length = model.config.max_input_length
    tokenizer.save_pretrained(folder)


def packing(study: CharGPTStudyArguments) -> bool:
    """`--pack`, defaulting to padding-free rows where the model supports them (not the perceiver,
    whose bottleneck needs one example per row)."""
    if study.pack is None:
        return study.variant != "perceiver"
    if study.pack and study.variant == "perceiver":
        raise ValueError(
            "--pack is not possible for the perceiver (its bottleneck needs one example per row)."
        )
    return study.pack


__all__ = [
    "ARCHITECTURE_FIELDS",
    "FUNCTIONS",
    "PUSHING_FUNCTIONS",
    "CharGPTStudyArguments",
    "CharGPTTrainingArguments",
    "adopt_saved_architecture",
    "argument_parser",
    "build_config",
    "check_arguments",
    "is_main_process",
    "load_folder_tokenizer",
    "load_model",
    "load_pretrained_strict",
    "packing",
    "planned_tokens",
    "save_model_folder",
    "train_metrics",
    "train_with_token_schedule",
    "world_size",
]
