"""The command-line conventions every recipe follows (docs/conventions.md, "Command line"): a JSON or
YAML configuration (the only argument, or `--config FILE` beside flags) parses to the same arguments,
a bad one names its file, and `--log_level` / `--disable_tqdm` reach the libraries' loggers and bars."""

import json
import logging
import os
import re
import subprocess
import sys

import datasets
import huggingface_hub.utils
import pytest
import transformers
from multitask_helpers import backbone_dir_fixture, load_recipe, write_minbert_dir  # noqa: F401
from scripts import ROOT, load_script, write_birthplace_data
from test_data_wikitext import write_wikitext

from hfmodels.training.char_gpt_cli import parse_study_arguments
from hfmodels.training.verbosity import VerbosityArguments, apply_logging

os.environ.setdefault("HF_HUB_OFFLINE", "1")
CHAR_GPT_PRESETS = ROOT / "recipes" / "char_gpt" / "presets"
addsub = load_script("recipes/addsub/train.py", "addsub_train_conventions")
lstm_lm = load_script("recipes/lstm_lm/train.py", "lstm_lm_train")
multitask = load_recipe("train")

# One equivalent configuration per recipe, as the values a JSON file would hold.
CONFIGS = {
    "char_gpt": {
        "function": "pretrain",
        "variant": "perceiver",
        "bottleneck_dim": 16,
        "learning_rate": 0.003,
        "report_to": ["none"],
        "pack": True,
    },
    "multitask": {"task": "sts", "similarity_head": "mlp", "lr": 0.0001, "report_to": ["none"]},
    "addsub": {"emb_dim": 16, "learning_rate": 0.002, "evaluate_exhaustive": False, "report_to": ["none"]},
    "lstm_lm": {"hidden_size": 8, "learning_rate": 0.01, "tie_word_embeddings": True, "report_to": ["none"]},
}


def parse(recipe: str, argv: list[str], out) -> tuple:
    """The parsed argument dataclasses of `recipe` for `argv` (with `output_dir` in the file)."""
    if recipe == "char_gpt":
        return parse_study_arguments(argv, CHAR_GPT_PRESETS)[:2]
    if recipe == "multitask":
        return multitask.parse_arguments(argv)[:2]
    if recipe == "addsub":
        return addsub.parse_args(argv)[:2]
    return lstm_lm.parse_arguments(argv)[:2]


def as_yaml(values: dict) -> str:
    """`values` in block YAML, floats in the exponent form PyYAML reads as strings (`1e-3`)."""
    lines = []
    for key, value in values.items():
        if isinstance(value, list):
            lines += [f"{key}:"] + [f"  - {v}" for v in value]
        elif isinstance(value, bool):
            lines.append(f"{key}: {'yes' if value else 'no'}")
        elif isinstance(value, float):
            lines.append(f"{key}: {value:.0e}")
        else:
            lines.append(f"{key}: {value}")
    return "\n".join(lines) + "\n"


def comparable(parsed: tuple) -> list[dict]:
    """The dataclasses as dicts, without the fields `TrainingArguments` fills per instance."""
    return [
        {k: v for k, v in vars(obj).items() if k not in ("logging_dir", "distributed_state", "_n_gpu")}
        for obj in parsed
    ]


@pytest.mark.parametrize("recipe", sorted(CONFIGS))
def test_a_yaml_config_parses_like_the_json_one(tmp_path, recipe):
    values = {**CONFIGS[recipe], "output_dir": str(tmp_path / "out")}
    (tmp_path / "run.json").write_text(json.dumps(values))
    (tmp_path / "run.yaml").write_text(as_yaml(values))
    from_json = comparable(parse(recipe, [str(tmp_path / "run.json")], tmp_path))
    assert comparable(parse(recipe, [str(tmp_path / "run.yaml")], tmp_path)) == from_json
    flat = {k: v for d in from_json for k, v in d.items()}
    for key, value in values.items():  # the file's values, not the recipe's defaults
        if key not in ("function", "variant", "lr", "report_to"):  # report_to: "none" becomes []
            assert flat[key] == value or flat[key] == str(value), (key, flat[key], value)
    if recipe == "char_gpt":
        positionals = ["pretrain", "perceiver", "wiki.txt"]
    else:
        positionals = []
    with_flags = [*positionals, "--config", str(tmp_path / "run.yaml"), "--seed", "5"]
    beside = comparable(parse(recipe, with_flags, tmp_path))
    assert {k: v for d in beside for k, v in d.items()}["seed"] == 5  # the command line wins
    assert [{k: v for k, v in d.items() if k != "seed"} for d in beside] == [
        {k: v for k, v in d.items() if k != "seed"} for d in from_json
    ]


@pytest.mark.parametrize("recipe", sorted(CONFIGS))
@pytest.mark.parametrize(
    "text, message",
    [
        (
            "learning_rate: 1e-3\nno_such_option: 1\nnor_this: 2\n",
            "no_such_option, nor_this are not an option",
        ),
        ("learning_rate: 1e-3\n  seed: 2\n", r"not valid YAML \(line 2, column 7: mapping values"),
    ],
    ids=["unknown-keys", "bad-syntax"],
)
def test_a_bad_yaml_config_is_refused_naming_the_file(tmp_path, recipe, text, message):
    bad = tmp_path / "bad_config.yaml"
    bad.write_text(text)
    for argv in ([str(bad)], ["--config", str(bad), "--output_dir", str(tmp_path)]):
        with pytest.raises(SystemExit, match=f"bad_config.yaml: {message}"):
            parse(recipe, argv, tmp_path)


# --- --log_level and --disable_tqdm -------------------------------------------------------------

BAR = re.compile(r"it/s\]|%\||examples/s\]|^(Map|Generating|Saving)", re.MULTILINE)
INFO_LINE = re.compile(r"^.*\bINFO\b.*$|^\*\*\*\*\* Running training", re.MULTILINE)


@pytest.fixture
def restore_verbosity():
    """Put the libraries' verbosity and progress bars (process-wide switches) back after a test."""
    levels = [
        transformers.utils.logging.get_verbosity(),
        datasets.utils.logging.get_verbosity(),
        huggingface_hub.utils.logging.get_verbosity(),
    ]
    own = {name: logging.getLogger(name).level for name in ("hfmodels", "multitask_bert", "accelerate")}
    yield
    transformers.utils.logging.set_verbosity(levels[0])
    datasets.utils.logging.set_verbosity(levels[1])
    huggingface_hub.utils.logging.set_verbosity(levels[2])
    for name, level in own.items():
        logging.getLogger(name).setLevel(level)
    datasets.enable_progress_bars()
    transformers.utils.logging.enable_progress_bar()


def test_apply_logging_sets_every_library_and_the_project(restore_verbosity):
    assert apply_logging(VerbosityArguments(log_level="error", disable_tqdm=True)) == logging.ERROR
    assert transformers.utils.logging.get_verbosity() == logging.ERROR
    assert datasets.utils.logging.get_verbosity() == logging.ERROR
    assert huggingface_hub.utils.logging.get_verbosity() == logging.ERROR
    assert logging.getLogger("hfmodels.training.study").getEffectiveLevel() == logging.ERROR
    assert datasets.utils.are_progress_bars_disabled()
    assert huggingface_hub.utils.are_progress_bars_disabled()
    assert not transformers.utils.logging.is_progress_bar_enabled()
    # passive: the libraries keep their level, the project logs at INFO; bars come back
    assert apply_logging(VerbosityArguments(), "multitask_bert") == logging.INFO
    assert transformers.utils.logging.get_verbosity() == logging.ERROR
    assert logging.getLogger("multitask_bert").level == logging.INFO
    assert not datasets.utils.are_progress_bars_disabled()
    assert transformers.utils.logging.is_progress_bar_enabled()


def test_replicas_take_log_level_replica(tmp_path, monkeypatch, restore_verbosity):
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path), log_level="info", log_level_replica="error", use_cpu=True
    )
    assert args.disable_tqdm is False
    monkeypatch.setattr(transformers.TrainingArguments, "should_log", property(lambda self: False))
    assert apply_logging(args) == logging.ERROR and datasets.utils.logging.get_verbosity() == logging.ERROR
    assert datasets.utils.are_progress_bars_disabled()  # a replica draws no bars
    monkeypatch.setattr(transformers.TrainingArguments, "should_log", property(lambda self: True))
    assert apply_logging(args) == logging.INFO and datasets.utils.logging.get_verbosity() == logging.INFO
    assert not datasets.utils.are_progress_bars_disabled()


SPLIT = "----- next run -----"
# Import a recipe as tests/scripts.load_script does and run its main once per argument list given
# as JSON, writing SPLIT to stderr between runs.
DRIVER = """
import json, sys
sys.path.insert(0, "tests")
from scripts import load_script
main = load_script(sys.argv[1], "recipe_under_test").main
for argv in json.loads(sys.argv[2]):
    main(argv)
    print(SPLIT, file=sys.stderr, flush=True)
"""


def run_recipe(script: str, runs: list[list[str]]) -> list[str]:
    """Run `recipes/<script>`'s main with each argument list of `runs`, in one process of its own
    (the real stderr, handlers and bars a user gets, one import of the libraries), and return the
    stderr of each run."""
    done = subprocess.run(
        [sys.executable, "-c", f"SPLIT = {SPLIT!r}\n" + DRIVER, f"recipes/{script}", json.dumps(runs)],
        capture_output=True,
        text=True,
        env=dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1"),
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stderr.split(SPLIT)[: len(runs)]


def char_gpt_argv(tmp_path, backbone_dir) -> tuple[str, list[str]]:
    people = ["Ann Lee", "Bo Chan", "Cy Dorn", "Di Eck"]
    data = write_birthplace_data(
        tmp_path / "data", people, ["Paris", "Rome", "Oslo", "Lima"], slice(0, 2), slice(2, None)
    )
    argv = ["pretrain", "vanilla", "wiki.txt", "--data_dir", str(data), "--n_layer", "1", "--n_embd", "8"]
    argv += ["--n_head", "1", "--report_to", "none", "--max_steps", "1", "--pack"]
    argv += ["--per_device_train_batch_size", "2", "--writing_params_path", str(tmp_path / "model")]
    argv += ["--overwrite_output_dir"]  # both runs write the one model folder
    return "char_gpt/run.py", argv


def multitask_argv(tmp_path, backbone_dir) -> tuple[str, list[str]]:
    data = write_minbert_dir(tmp_path / "data")
    argv = ["--task", "sts", "--backbone", str(backbone_dir), "--data_dir", str(data), "--max_steps", "1"]
    argv += ["--batch_size", "4", "--report_to", "none", "--max_train_examples", "8"]
    return "multitask_bert/train.py", [*argv, "--max_eval_examples", "4"]


def addsub_argv(tmp_path, backbone_dir) -> tuple[str, list[str]]:
    argv = ["--emb_dim", "8", "--num_heads", "1", "--feedforward_dim", "8", "--encoder_layers", "1"]
    argv += ["--decoder_layers", "1", "--max_train_examples", "16", "--max_eval_examples", "8"]
    argv += ["--evaluate_exhaustive", "false", "--report_to", "none", "--max_steps", "1"]
    return "addsub/train.py", [*argv, "--save_strategy", "no", "--eval_strategy", "no"]


def lstm_lm_argv(tmp_path, backbone_dir) -> tuple[str, list[str]]:
    data = write_wikitext(tmp_path / "data", n_valid=8, n_test=6)
    argv = ["--data_dir", str(data), "--block_size", "8", "--max_steps", "1", "--embedding_size", "4"]
    argv += ["--hidden_size", "4", "--report_to", "none", "--validation_articles", "2"]
    return "lstm_lm/train.py", [*argv, "--num_continuations", "1", "--baselines", "false"]


# tqdm's rate and bar, datasets' `Map` / `Generating ... split` / `Saving the dataset` bars
BAR = re.compile(r"it/s\]|%\||examples/s\]|(^|\r)(Map|Generating|Saving)", re.MULTILINE)
# the recipes' and hfmodels' INFO lines (LOG_FORMAT names the level), and transformers' lines (its
# handler writes `[transformers] message`, whatever the level)
INFO_LINE = re.compile(r"^.*\bINFO\b.*$", re.MULTILINE)
TRANSFORMERS_LINE = re.compile(r"^\[transformers\] ", re.MULTILINE)


@pytest.mark.parametrize("argv_of", [char_gpt_argv, multitask_argv, addsub_argv, lstm_lm_argv])
def test_log_level_and_disable_tqdm_silence_every_library(tmp_path, backbone_dir, argv_of):
    """Quiet first (the fresh process a user starts), then loud in the same process: the bars and
    INFO lines come back, so the quiet run's silence is the flags' doing."""
    script, argv = argv_of(tmp_path, backbone_dir)
    quiet, loud = run_recipe(
        script,
        [
            [
                *argv,
                "--output_dir",
                str(tmp_path / "quiet"),
                "--log_level",
                "error",
                "--disable_tqdm",
                "True",
            ],
            # `disable_tqdm`'s default follows transformers' level when the arguments are parsed
            # (error, after the quiet run), so the loud run asks for the bars
            [*argv, "--output_dir", str(tmp_path / "loud"), "--log_level", "info", "--disable_tqdm", "False"],
        ],
    )
    assert BAR.search(loud), loud[-2000:]  # the data sets', the training's, the shard writer's bars
    assert re.search(r"^\[transformers\] \*\*\*\*\* Running training", loud, re.MULTILINE), loud[-2000:]
    assert not BAR.search(quiet), quiet[-2000:]
    assert not INFO_LINE.search(quiet), quiet[-2000:]
    assert not TRANSFORMERS_LINE.search(quiet), quiet[-2000:]


def test_ensemble_and_zero_shot_take_yaml_configs(tmp_path):
    ensemble = load_recipe("ensemble")
    values = {"models": ["a", "b"], "output_dir": str(tmp_path / "e"), "max_length": 64, "bf16": False}
    (tmp_path / "e.json").write_text(json.dumps(values))
    (tmp_path / "e.yaml").write_text(as_yaml(values))
    from_json = comparable(ensemble.parse_arguments([str(tmp_path / "e.json")]))
    assert comparable(ensemble.parse_arguments([str(tmp_path / "e.yaml")])) == from_json
    assert from_json[0]["models"] == ["a", "b"] and from_json[0]["max_length"] == 64
    # --config fills the required --models and --output_dir; flags win
    args, targs = ensemble.parse_arguments(["--config", str(tmp_path / "e.yaml"), "--max_length", "32"])
    assert (args.models, args.max_length, targs.output_dir) == (["a", "b"], 32, str(tmp_path / "e"))
    bad = tmp_path / "zs.yml"
    bad.write_text("task: sts\nbackbone: [x\n")
    with pytest.raises(SystemExit, match=r"zs.yml: not valid YAML \(line 3"):
        load_recipe("zero_shot").main([str(bad)])
    bad.write_text("task: sts\nlog_level: error\nthreshold: 0.5\n")
    with pytest.raises(SystemExit, match="zs.yml: threshold is not an option"):
        load_recipe("zero_shot").main(["--config", str(bad)])


def test_select_finetune_takes_a_yaml_config_in_place_of_its_preset(tmp_path, monkeypatch):
    import hfmodels.training.selection as selection

    monkeypatch.setattr(selection, "select_finetuning", lambda run, options, extra: (run, options))
    preset = CHAR_GPT_PRESETS / "finetune_from_pretrained.json"
    values = {
        "variant": "perceiver",
        "bottleneck_dim": 16,
        "reading_params_path": "pre",
        "output_dir": str(tmp_path / "s"),
        "lrs": [0.0001, 0.0003],
        "holdout": 3,
    }
    (tmp_path / "s.json").write_text(json.dumps(values))
    (tmp_path / "s.yaml").write_text(as_yaml(values))
    runs = [selection.run_selection_command([str(tmp_path / f"s.{ext}")], preset) for ext in ("json", "yaml")]
    parsed = [comparable((run.study, run.training, options)) for run, options in runs]
    assert parsed[0] == parsed[1]
    run, options = runs[0]
    assert (run.study.variant, run.study.bottleneck_dim, options.lrs, options.holdout) == (
        "perceiver",
        16,
        [0.0001, 0.0003],
        3,
    )
    # the positional variant wins over the file's, and the file's options are checked as flags are
    with pytest.raises(SystemExit, match="--bottleneck_dim has no effect on `finetune vanilla`"):
        selection.run_selection_command(["vanilla", "--config", str(tmp_path / "s.yaml")], preset)
