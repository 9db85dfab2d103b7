"""The study's command line (`hfmodels.training.char_gpt_cli`, behind recipes/char_gpt/run.py): the
course's command lines, the presets, and a tiny end-to-end pretrain -> finetune -> evaluate ->
analyze run on data written here."""

import json
import os
import subprocess
import sys

import pytest
from huggingface_hub import ModelCard
from scripts import ROOT, write_birthplace_data

import hfmodels.training.study as study_module
from hfmodels.data import BirthplaceCollator
from hfmodels.training import char_gpt, precision
from hfmodels.training.char_gpt_cli import parse_study_arguments, run_command

os.environ.setdefault("HF_HUB_OFFLINE", "1")
PRESETS = ROOT / "recipes" / "char_gpt" / "presets"
TINY = ["--n_layer", "2", "--n_embd", "16", "--n_head", "2", "--report_to", "none", "--logging_steps", "1"]


def parse(command: str):
    study, training, _ = parse_study_arguments(command.split(), PRESETS)
    return study, training


def main(argv):
    return run_command(list(argv), PRESETS)


@pytest.fixture
def data_dir(tmp_path):
    people = ["Ann Lee", "Bo Chan", "Cy Dorn", "Di Eck", "Ed Fox", "Flo Gu"]
    places = ["Paris", "London", "Rome", "London", "Oslo", "Lima"]
    return write_birthplace_data(tmp_path / "data", people, places, train=slice(0, 4), dev=slice(2, None))


def test_course_command_lines_parse_with_the_presets(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    study, args = parse(
        "pretrain perceiver wiki.txt --bottleneck_dim 64 --pretrain_lr 6e-3 --writing_params_path p.params"
    )
    assert (study.function, study.variant, study.pretrain_corpus_path) == (
        "pretrain",
        "perceiver",
        "wiki.txt",
    )
    assert study.bottleneck_dim == 64 and study.writing_params_path == "p.params"
    assert (args.num_train_epochs, args.per_device_train_batch_size, args.learning_rate) == (650, 128, 6e-3)
    assert (args.weight_decay, args.adam_beta1, args.adam_beta2, args.max_grad_norm) == (0.1, 0.9, 0.95, 1.0)
    assert "tensorboard" in args.report_to and args.remove_unused_columns is False
    _, args = parse(
        "finetune vanilla wiki.txt --reading_params_path v.params --writing_params_path f.params "
        "--finetune_corpus_path birth_places_train.tsv"
    )
    assert (args.num_train_epochs, args.per_device_train_batch_size, args.learning_rate) == (10, 256, 6e-4)
    _, args = parse("finetune vanilla wiki.txt --finetune_corpus_path birth_places_train.tsv")
    assert (args.num_train_epochs, args.per_device_train_batch_size, args.learning_rate) == (75, 256, 6e-4)
    study, args = parse("quickstart")
    assert (args.num_train_epochs, args.per_device_train_batch_size, args.learning_rate) == (10, 256, 1e-4)
    assert study.pack is True and str(args.save_strategy.value) == "no"
    study, _ = parse(
        "evaluate vanilla wiki.txt --reading_params_path f.params --eval_corpus_path birth_dev.tsv "
        "--outputs_path out.predictions"
    )
    assert study.eval_corpus_path == "birth_dev.tsv" and study.outputs_path == "out.predictions"
    # The preset's global batch is split over the processes; an explicit flag wins.
    monkeypatch.setattr(char_gpt, "world_size", lambda: 2)
    assert parse("pretrain vanilla wiki.txt")[1].per_device_train_batch_size == 64
    monkeypatch.setattr(char_gpt, "world_size", lambda: 4)
    assert parse("finetune vanilla wiki.txt --reading_params_path v")[1].per_device_train_batch_size == 64
    assert (
        parse("finetune vanilla wiki.txt --per_device_train_batch_size 7")[1].per_device_train_batch_size == 7
    )
    monkeypatch.undo()
    assert parse("pretrain vanilla wiki.txt --num_train_epochs 3")[1].num_train_epochs == 3
    with pytest.raises(SystemExit):
        parse("train vanilla wiki.txt")
    with pytest.raises(SystemExit):
        parse("pretrain transformer wiki.txt")


def test_presets_load_with_config_or_as_the_parsers_json_path(tmp_path):
    """`--config FILE` replaces the function's preset, `run.py FILE.json` runs a preset naming its
    function; the command line wins over both; a preset's unknown key or other function is refused."""
    preset = tmp_path / "short.json"
    preset.write_text(json.dumps({"function": "pretrain", "num_train_epochs": 2, "n_layer": 3}))
    study, args = parse(f"pretrain vanilla wiki.txt --config {preset} --num_train_epochs 5")
    assert (args.num_train_epochs, study.n_layer, args.per_device_train_batch_size) == (5, 3, 8)
    study, args = parse(str(preset))
    assert (study.function, args.num_train_epochs) == ("pretrain", 2)
    study, args = parse(
        "pretrain vanilla wiki.txt --config presets/pretrain.json"
    )  # as the recipe folder names it
    assert (args.num_train_epochs, args.learning_rate) == (650, 6e-3)
    study, args = parse(str(PRESETS / "quickstart.json"))
    assert (study.function, args.learning_rate, args.num_train_epochs) == ("quickstart", 1e-4, 10)
    with pytest.raises(SystemExit, match="is for 'pretrain', not 'finetune'"):
        parse(f"finetune vanilla wiki.txt --config {preset}")
    preset.write_text(json.dumps({"num_train_epoch": 2}))
    with pytest.raises(SystemExit, match="short.json: num_train_epoch is not an option"):
        parse(f"pretrain vanilla wiki.txt --config {preset}")
    preset.write_text("{\n  'x': 1}")
    with pytest.raises(SystemExit, match="short.json: not valid JSON \\(line 2"):
        parse(f"pretrain vanilla wiki.txt --config {preset}")


def test_optimizer_flags_choose_the_kernel_and_ignored_schedule_flags_are_refused(monkeypatch):
    """minGPT's AdamW settings are the defaults (fused kernel, betas (0.9, 0.95), decay 0.1) and
    --optim/--adam_epsilon change them; flags the token schedule would ignore stop the run with the reason."""
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    _, args = parse("pretrain vanilla wiki.txt")
    assert (args.optim, args.adam_beta1, args.adam_beta2, args.adam_epsilon, args.weight_decay) == (
        "adamw_torch_fused",
        0.9,
        0.95,
        1e-8,
        0.1,
    )
    _, args = parse("pretrain vanilla wiki.txt --optim sgd --adam_epsilon 1e-6")
    assert (args.optim, args.adam_epsilon) == ("sgd", 1e-6)
    for flag, message in (
        ("--warmup_steps 10", "--warmup_steps is not used: training follows minGPT's token schedule"),
        ("--lr_scheduler_type constant", "--lr_scheduler_type is not used"),
    ):
        with pytest.raises(SystemExit, match=message):
            parse(f"finetune vanilla wiki.txt {flag}")


def test_flags_keep_their_value_in_every_spelling_and_contradictions_are_refused(monkeypatch):
    """Presets never overwrite an option the user gave, whatever its spelling; options that set the
    same thing twice, abbreviations and flags the recipe would ignore stop the run."""
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    _, args = parse(
        "pretrain vanilla wiki.txt --num-train-epochs 5 --learning-rate 1e-3 --per-device-train-batch-size 8 "
        "--output-dir /tmp/x --weight_decay=0"
    )
    assert (args.num_train_epochs, args.learning_rate, args.per_device_train_batch_size) == (5, 1e-3, 8)
    assert (args.output_dir, args.weight_decay) == ("/tmp/x", 0.0)
    assert parse("finetune vanilla wiki.txt --reading-params-path v.params")[1].num_train_epochs == 10
    with pytest.raises(ValueError, match=r"not used by the HfArgumentParser: \['--num_train_epoch'"):
        parse("pretrain vanilla wiki.txt --num_train_epoch 5")  # abbreviations are not guessed
    for command, message in (
        (
            "--function pretrain --variant perceiver",
            "give the function and the variant as the first two words",
        ),
        ("quickstart perceiver", "quickstart trains the vanilla model only"),
        (
            "pretrain vanilla wiki.txt --learning_rate 1e-3 --pretrain_lr 6e-4",
            "--learning_rate and --pretrain_lr",
        ),
        (
            "finetune vanilla wiki.txt --finetune-lr 1e-4 --learning_rate 1e-3",
            "--learning_rate and --finetune_lr",
        ),
        ("evaluate vanilla wiki.txt --per_device_eval_batch_size 4", "--eval_batch_size"),
        ("pretrain vanilla wiki.txt --fit_schedule_to_run --final_tokens 100", "cannot be combined"),
        ("pretrain vanilla wiki.txt --warmup-steps 10", "--warmup_steps is not used"),
        (
            "pretrain vanilla wiki.txt --bottleneck_dim 64",
            "--bottleneck_dim has no effect on `pretrain vanilla`: it applies to the perceiver's",
        ),
        (
            "finetune perceiver wiki.txt --synthesizer-per-head",
            "--synthesizer_per_head has no effect on `finetune perceiver`: it applies to the synth",
        ),
        (
            "pretrain vanilla wiki.txt --finetune_replay_ratio 0.25",
            "--finetune_replay_ratio has no effect on `pretrain vanilla`: it applies to finetuning",
        ),
    ):
        with pytest.raises(SystemExit, match=message):
            parse(command)


@pytest.mark.parametrize("native", [True, False])
def test_bf16_is_the_default_only_where_the_hardware_multiplies_bf16(monkeypatch, native):
    """Emulated bf16 is slower than fp32, so no command, the quickstart included, turns bf16
    autocast on there unless asked; `--bf16` still forces it."""
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.delenv("ACCELERATE_MIXED_PRECISION", raising=False)
    monkeypatch.setattr(precision, "native_bf16", lambda *a, **k: native)
    for command in ("pretrain vanilla wiki.txt", "quickstart vanilla wiki.txt"):
        assert parse(command)[1].bf16 is native, command
    assert parse("pretrain vanilla wiki.txt --bf16 true")[1].bf16 is True
    assert parse("pretrain vanilla wiki.txt --bf16 --max_steps 2")[1].bf16 is True
    # Under `accelerate launch` the launcher's precision is the default; an explicit --bf16 still decides.
    for launched in ("no", "bf16", "fp16"):
        monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", launched)
        assert parse("pretrain vanilla wiki.txt")[1].bf16 is (launched == "bf16"), launched
    assert parse("pretrain vanilla wiki.txt --bf16 false")[1].bf16 is False


def _pretrain(data_dir, _out, *extra):
    base = ["--data_dir", str(data_dir), *TINY, "--per_device_train_batch_size", "4"]
    return main(["pretrain", "vanilla", "wiki.txt", *base, "--pack", *extra])


def test_pretrain_finetune_evaluate_analyze_end_to_end(data_dir, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    base = ["--data_dir", str(data_dir)] + TINY
    pre = _pretrain(
        data_dir, out, "--max_steps", "3", "--fit_schedule_to_run", "--writing_params_path", str(out / "pre"),
        "--output_dir", str(out / "r1"),
    )  # fmt: skip
    assert pre["pretrain_steps"] == 3 and pre["pretrain_tokens"] == pre["pretrain_final_tokens"] == 11 * 127
    assert (out / "pre" / "model.safetensors").exists() and (out / "pre" / "vocab.json").exists()
    assert "not been scored" in ModelCard.load(out / "pre" / "README.md").text
    finetune = ["finetune", "vanilla", "wiki.txt", *base, "--reading_params_path", str(out / "pre")]
    finetune += ["--max_steps", "2", "--per_device_train_batch_size", "2"]
    ft = main([*finetune, "--writing_params_path", str(out / "ft"), "--output_dir", str(out / "r2")])
    assert ft["dev_total"] == 4 and 0.0 <= ft["dev_accuracy"] <= 1.0
    # Rehearsal: one corpus document replayed beside every 2 questions (3 rows of 127 tokens a step).
    rehearsed = main(
        [*finetune, "--finetune_replay_ratio", "0.5", "--eval_after_finetune", "False"]
        + ["--writing_params_path", str(out / "replay"), "--output_dir", str(out / "r3")]
    )
    assert rehearsed["finetune_replay_ratio"] == 0.5 and ft["finetune_replay_ratio"] == 0.0
    assert rehearsed["finetune_tokens"] == 2 * 3 * 127 and ft["finetune_tokens"] == 2 * 2 * 127
    assert len((out / "ft" / "dev.predictions").read_text().splitlines()) == 4
    assert ModelCard.load(out / "ft" / "README.md").data.eval_results[0].metric_value == ft["dev_accuracy"]
    ev = main(
        ["evaluate", "vanilla", "wiki.txt", *base, "--reading_params_path", str(out / "ft")]
        + ["--eval_corpus_path", "birth_dev.tsv", "--outputs_path", str(out / "dev.predictions")]
    )
    assert ev["dev_accuracy"] == ft["dev_accuracy"]
    assert (out / "dev.predictions").read_text() == (out / "ft" / "dev.predictions").read_text()
    assert "Correct:" in capsys.readouterr().out
    metrics = json.loads((out / "ft" / "metrics.json").read_text())
    assert metrics["finetune_steps"] == 2 and metrics["dev_total"] == 4
    # Without the architecture flags the folder's config describes the model (card included), and
    # --bf16 False reaches the decoder.
    seen = []
    real = study_module.evaluate_birthplaces
    monkeypatch.setattr(
        study_module, "evaluate_birthplaces", lambda *a, **k: seen.append(k["bf16"]) or real(*a, **k)
    )
    again = main(
        [
            "evaluate",
            "vanilla",
            "wiki.txt",
            "--data_dir",
            str(data_dir),
            "--reading_params_path",
            str(out / "ft"),
        ]
        + ["--outputs_path", str(out / "dev2.predictions"), "--bf16", "False"]
    )
    assert seen == [False] and again["dev_accuracy"] == ft["dev_accuracy"]
    text = ModelCard.load(out / "ft" / "README.md").text
    assert "2 layers, 2 heads,\nwidth 16, block size 128" in text, text[:600]
    evaluate = ["evaluate", "vanilla", "wiki.txt", *base, "--reading_params_path", str(out / "ft")]
    with pytest.raises(ValueError, match=r"saved model has n_layer=2 but --n_layer 3 was given"):
        main([*evaluate, "--n_layer", "3", "--outputs_path", str(out / "x")])
    with pytest.raises(ValueError, match="perceiver"):
        main(["evaluate", "perceiver", *evaluate[2:], "--outputs_path", str(out / "x")])
    summary = main(
        [
            "analyze",
            "vanilla",
            "wiki.txt",
            *base,
            "--reading_params_path",
            str(out / "ft"),
            "--output_dir",
            str(out / "an"),
        ]
    )
    assert summary["total"] == 4 and summary["name_in_pretraining_corpus"]["count"] == 4
    assert (out / "an" / "coverage.png").stat().st_size > 1000 and (out / "an" / "analysis.md").exists()


def test_london_baseline_and_the_course_command_line(data_dir, tmp_path):
    """The library function, and the recipe script run as the course runs it (one smoke test)."""
    assert main(["london_baseline", "--data_dir", str(data_dir)]) == {
        "london_accuracy": 0.25,
        "london_correct": 1,
        "london_total": 4,
    }
    for script in ("run.py", "london_baseline.py"):
        args = ["london_baseline"] if script == "run.py" else []
        done = subprocess.run(
            [sys.executable, str(ROOT / "recipes" / "char_gpt" / script), *args, "--data_dir", str(data_dir)],
            capture_output=True,
            text=True,
            env=dict(os.environ, OMP_NUM_THREADS="1"),
        )
        assert done.returncode == 0, done.stderr
        assert "Correct: 1.0 out of 4.0: 25.0%" in done.stdout


def test_missing_file_names_the_places_looked(tmp_path):
    with pytest.raises(FileNotFoundError, match="cs224n-a5"):
        main(["london_baseline", "--data_dir", str(tmp_path), "--eval_corpus_path", "nope.tsv"])


def test_a_bare_file_name_in_both_the_working_and_the_data_directory_must_agree(tmp_path, monkeypatch):
    data = tmp_path / "data" / "cs224n-a5"
    data.mkdir(parents=True)
    (data / "birth_dev.tsv").write_text("Where was Ann born?\tParis\n")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    (work / "birth_dev.tsv").write_text("Where was Ann born?\tLondon\n")
    with pytest.raises(ValueError, match="differ"):
        main(["london_baseline", "--data_dir", str(tmp_path / "data")])
    assert (
        main(
            ["london_baseline", "--data_dir", str(tmp_path / "data"), "--eval_corpus_path", "./birth_dev.tsv"]
        )["london_accuracy"]
        == 1.0
    )


def test_finetuning_packs_the_questions_by_default_with_the_padded_loss(data_dir, tmp_path, monkeypatch):
    layouts = []
    collate = BirthplaceCollator.__call__

    def spy(self, examples):
        batch = collate(self, examples)
        layouts.append((self.pack, tuple(batch["input_ids"].shape)))
        return batch

    monkeypatch.setattr(BirthplaceCollator, "__call__", spy)
    common = ["finetune", "vanilla", "wiki.txt", "--data_dir", str(data_dir), *TINY, "--dropout", "0"]
    common += ["--bf16", "False", "--max_steps", "2", "--per_device_train_batch_size", "4"]
    common += ["--eval_after_finetune", "False"]
    packed = main([*common, "--output_dir", str(tmp_path / "packed")])
    assert layouts and all(pack and rows == 1 for pack, (rows, _) in layouts)  # 4 short questions, one row
    layouts.clear()
    padded = main([*common, "--pack", "False", "--output_dir", str(tmp_path / "padded")])
    assert layouts and all(not pack and rows == 4 for pack, (rows, _) in layouts)
    assert packed["finetune_mean_loss"] == pytest.approx(padded["finetune_mean_loss"], rel=1e-5)
    assert packed["finetune_tokens"] == padded["finetune_tokens"] == 2 * 4 * 127
    with pytest.raises(ValueError, match="--pack is not possible for the perceiver"):
        main(["finetune", "perceiver", "wiki.txt", "--data_dir", str(data_dir), *TINY, "--pack"])


# Issue 26: nothing lost, nothing silently wrong.


def _tiny_run(data_dir, run_dir, model_dir, *extra):
    return _pretrain(
        data_dir, None, "--output_dir", str(run_dir), "--writing_params_path", str(model_dir), "--save_steps", "1",
        "--save_total_limit", "3", *extra,
    )  # fmt: skip


def test_a_finished_run_is_neither_overwritten_nor_resumed_unless_told(data_dir, tmp_path):
    run_dir, model = tmp_path / "E", tmp_path / "E.params"
    _tiny_run(data_dir, run_dir, model, "--max_steps", "3")
    weights = (model / "model.safetensors").read_bytes()
    checkpoints = sorted(p.name for p in run_dir.glob("checkpoint-*"))
    assert checkpoints == ["checkpoint-1", "checkpoint-2", "checkpoint-3"]
    with pytest.raises(
        SystemExit,
        match=r"E: holds a finished run \(pretrain vanilla, 3 steps\); pass --overwrite_output_dir",
    ):
        _tiny_run(data_dir, run_dir, model, "--max_steps", "4", "--seed", "8")
    # resuming the finished run would train a 4th step of 3 and change the weights
    with pytest.raises(SystemExit, match=r"checkpoint-3: the run is already finished \(step 3 of 3\)"):
        _tiny_run(data_dir, run_dir, model, "--max_steps", "3", "--resume_from_checkpoint", "last")
    with pytest.raises(
        SystemExit, match=r"E.params: holds a model folder already; pass --overwrite_output_dir"
    ):
        _tiny_run(data_dir, tmp_path / "F", model, "--max_steps", "2")
    assert sorted(p.name for p in run_dir.glob("checkpoint-*")) == checkpoints
    assert (model / "model.safetensors").read_bytes() == weights
    again = _tiny_run(data_dir, run_dir, model, "--max_steps", "2", "--seed", "8", "--overwrite_output_dir")
    assert again["pretrain_steps"] == 2 and (model / "model.safetensors").read_bytes() != weights
    assert sorted(p.name for p in run_dir.glob("checkpoint-*")) == ["checkpoint-1", "checkpoint-2"]


def test_checkpoints_of_an_unfinished_run_resume_only_as_the_same_run_with_whole_run_metrics(
    data_dir, tmp_path
):
    run_dir, model = tmp_path / "G", tmp_path / "G.params"
    stopped = _tiny_run(data_dir, run_dir, model, "--max_steps", "4", "--stop_after_steps", "2")
    assert stopped["pretrain_steps"] == 2 and stopped["pretrain_mean_loss"] is not None
    with pytest.raises(
        SystemExit, match=r"holds checkpoints of an unfinished run \(checkpoint-2\); pass --resume_from"
    ):
        _tiny_run(data_dir, run_dir, model, "--max_steps", "4")
    with pytest.raises(SystemExit, match=r"holds checkpoints of a different run \(seed=42 there, 8 here\)"):
        _tiny_run(
            data_dir, run_dir, model, "--max_steps", "4", "--seed", "8", "--resume_from_checkpoint", "last"
        )
    resumed = _tiny_run(data_dir, run_dir, model, "--max_steps", "4", "--resume_from_checkpoint", "last")
    assert resumed["pretrain_steps"] == 4 and resumed["pretrain_segment_first_step"] == 3
    # the Trainer's mean covers steps 3-4 only: it is not reported as the run's
    assert resumed["pretrain_mean_loss"] is None and resumed["pretrain_segment_mean_loss"] > 0
    for folder in (run_dir, model):
        metrics = json.loads((folder / "metrics.json").read_text())
        assert metrics["pretrain_mean_loss"] is None and metrics["pretrain_steps"] == 4


def test_model_folders_hold_no_pickle_and_outputs_are_checked_before_training(data_dir, tmp_path):
    run_dir, model = tmp_path / "H", tmp_path / "H.params"
    _tiny_run(data_dir, run_dir, model, "--max_steps", "1")
    assert (
        not (model / "training_args.bin").exists()
        and (run_dir / "checkpoint-1" / "training_args.bin").exists()
    )
    assert not [p.name for p in model.iterdir() if p.suffix in {".bin", ".pt", ".pth", ".pkl", ".pickle"}]
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    finetune = [
        "finetune",
        "vanilla",
        "wiki.txt",
        "--data_dir",
        str(data_dir),
        "--reading_params_path",
        str(model),
    ]
    finetune += ["--report_to", "none", "--max_steps", "1", "--output_dir", str(tmp_path / "ft")]
    with pytest.raises(
        ValueError, match=r"--outputs_path .*a_file/dev.predictions: cannot be created, .*a_file is a regular"
    ):
        main([*finetune, "--outputs_path", str(blocker / "dev.predictions")])
    with pytest.raises(ValueError, match=r"--writing_params_path .*a_file/m: cannot be created"):
        main([*finetune, "--writing_params_path", str(blocker / "m")])
    with pytest.raises(ValueError, match=r"--output_dir .*a_file: is a regular file"):
        main([*finetune[:-1], str(blocker)])
    with pytest.raises(ValueError, match=r"--eval_split='dev': the project calls this split 'validation'"):
        main([*finetune, "--eval_split", "dev"])
    assert not (tmp_path / "ft").exists()  # refused before any training
    with pytest.raises(ValueError, match=r"--outputs_path .*a_file/x: cannot be created"):
        main(["evaluate", *finetune[1:7], "--outputs_path", str(blocker / "x")])


def test_a_new_model_in_an_old_folder_takes_nothing_of_the_old_one(data_dir, tmp_path):
    """finetune --eval_after_finetune False into a folder that held a scored model: the old dev
    accuracy, predictions and card go (they described other weights)."""
    common = ["finetune", "vanilla", "wiki.txt", "--data_dir", str(data_dir), *TINY, "--max_steps", "1"]
    common += ["--writing_params_path", str(tmp_path / "ft"), "--output_dir", str(tmp_path / "r")]
    main(common)
    assert (tmp_path / "ft" / "dev.predictions").exists()
    assert "dev_accuracy" in json.loads((tmp_path / "ft" / "metrics.json").read_text())
    main([*common, "--eval_after_finetune", "False", "--overwrite_output_dir", "--seed", "3"])
    metrics = json.loads((tmp_path / "ft" / "metrics.json").read_text())
    assert "dev_accuracy" not in metrics and "dev_predictions" not in metrics
    assert not (tmp_path / "ft" / "dev.predictions").exists()
    card = ModelCard.load(tmp_path / "ft" / "README.md")
    assert not card.data.eval_results and "not been scored" in card.text


def test_a_damaged_model_folder_or_tokenizer_is_refused_naming_what_is_wrong(data_dir, tmp_path):
    model = tmp_path / "m"
    _tiny_run(data_dir, tmp_path / "r", model, "--max_steps", "1")
    evaluate = [
        "--data_dir",
        str(data_dir),
        "--reading_params_path",
        str(model),
        "--outputs_path",
        str(tmp_path / "p"),
    ]
    config_file = model / "config.json"
    config = json.loads(config_file.read_text())
    config_file.write_text(json.dumps(dict(config, attention_type="synthesizer")))
    with pytest.raises(
        ValueError, match=r"weights do not match config.json \(missing keys: .*attn.w2.*unexpected keys"
    ):
        main(["evaluate", "synthesizer", "wiki.txt", *evaluate])
    config_file.write_text(json.dumps(dict(config, n_layer=3)))
    with pytest.raises(ValueError, match=r"missing keys: .*transformer.h.2"):
        main(["evaluate", "vanilla", "wiki.txt", *evaluate])
    config_file.write_text(json.dumps(config))
    vocab_file = model / "vocab.json"
    vocab = json.loads(vocab_file.read_text())
    vocab_file.write_text(json.dumps(dict(list(vocab.items())[:-1]), ensure_ascii=False))
    with pytest.raises(
        ValueError, match=rf"vocab_size={len(vocab)} but the tokenizer has {len(vocab) - 1} entries"
    ):
        main(["evaluate", "vanilla", "wiki.txt", *evaluate])
    vocab_file.unlink()  # no silent rebuild from the corpus
    with pytest.raises(
        FileNotFoundError, match=r"m/vocab.json: missing; a model folder carries its own tokenizer"
    ):
        main(["evaluate", "vanilla", "wiki.txt", *evaluate])
    assert not (tmp_path / "p").exists()


def test_export_writes_a_bfloat16_checkpoint_that_keeps_its_card(data_dir, tmp_path):
    import torch
    from safetensors import safe_open

    from hfmodels.checkpoints import export_checkpoint
    from hfmodels.training.char_gpt import load_pretrained_strict

    model = tmp_path / "m"
    _tiny_run(data_dir, tmp_path / "r", model, "--max_steps", "1")
    # a card of an older template: its command is kept, its text is not
    old_card = (model / "README.md").read_text().replace("## Use", "SPEC §1 old wording\n\n## Use")
    (model / "README.md").write_text(old_card)
    dest = main(
        [
            "export_checkpoint",
            "--reading_params_path",
            str(model),
            "--writing_params_path",
            str(tmp_path / "c"),
        ]
    )
    dest = tmp_path / "c"
    with safe_open(str(dest / "model.safetensors"), "pt") as f:
        assert {f.get_slice(k).get_dtype() for k in f.keys()} == {"BF16"}
    card = (dest / "README.md").read_text()
    produced = card.split("## How this checkpoint was produced")[1]
    assert "run.py pretrain vanilla wiki.txt" in produced and "--max_steps 1" in produced
    assert "export_checkpoint --reading_params_path" in produced and "SPEC" not in card
    assert "--max_steps 1" in card.split("## How this checkpoint")[0]  # the Training section of the template
    assert {"config.json", "generation_config.json", "vocab.json", "tokenizer_config.json"} <= {
        p.name for p in dest.iterdir()
    }
    original = load_pretrained_strict(model).to(torch.bfloat16).to(torch.float32)
    loaded = load_pretrained_strict(dest, dtype=torch.float32)
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    ids = torch.tensor([[3, 4, 5, 6]])
    assert torch.equal(original(ids).logits, loaded(ids).logits)
    export_checkpoint(
        model, tmp_path / "c2", pretrain_command="python recipes/char_gpt/run.py pretrain vanilla x"
    )
    assert "python recipes/char_gpt/run.py pretrain vanilla x" in (tmp_path / "c2" / "README.md").read_text()


def test_quickstart_finetunes_the_shipped_checkpoint_and_prints_the_small_table(
    data_dir, tmp_path, monkeypatch, capsys
):
    """The main job's code path on a tiny stand-in checkpoint made here; the real one is not needed."""
    import hfmodels.checkpoints as checkpoints

    shipped = tmp_path / "checkpoints"
    monkeypatch.setattr(checkpoints, "CHECKPOINTS_DIR", shipped)
    args = [
        "quickstart",
        "--data_dir",
        str(data_dir),
        "--output_dir",
        str(tmp_path / "qs"),
        "--report_to",
        "none",
    ]
    args += ["--max_steps", "2", "--per_device_train_batch_size", "2"]
    with pytest.raises(
        SystemExit,
        match=r"checkpoints/char_gpt-vanilla-pretrained: the pretrained checkpoint is missing",
    ):
        main(args)
    _tiny_run(data_dir, tmp_path / "r", tmp_path / "m", "--max_steps", "2")
    checkpoints.export_checkpoint(tmp_path / "m", shipped / checkpoints.VANILLA_PRETRAINED)
    m = main(args)
    assert m["london_accuracy"] == 0.25 and m["dev_total"] == 4 and m["finetune_from"].endswith("pretrained")
    assert m["finetune_lr"] == 1e-4 and m["finetune_steps"] == 2
    assert m["dev_name_in_corpus_count"] == 4 and m["dev_place_in_persons_document_count"] == 4
    out = capsys.readouterr().out
    assert "| London for every question | 25.0 % (1/4) | computed by this run |" in out
    assert "| finetune only (no pretraining) | 3.6 % (18/500) | known figure, not run" in out
    assert f"| pretrained + finetuned | {100 * m['dev_accuracy']:.1f} %" in out
    assert (tmp_path / "qs" / "retrieved_or_invented.png").stat().st_size > 1000
    assert (tmp_path / "qs" / "study_table.md").read_text() in out
    model = tmp_path / "qs" / "model"
    assert (model / "README.md").exists() and len((model / "dev.predictions").read_text().splitlines()) == 4
    assert json.loads((tmp_path / "qs" / "metrics.json").read_text())["dev_accuracy"] == m["dev_accuracy"]


@pytest.mark.parametrize("before", [None, "/somewhere/else"])
def test_tensorboard_logs_go_to_the_runs_folder_and_the_environment_is_left_as_it_was(
    data_dir, tmp_path, monkeypatch, before
):
    if before is None:
        monkeypatch.delenv("TENSORBOARD_LOGGING_DIR", raising=False)
    else:
        monkeypatch.setenv("TENSORBOARD_LOGGING_DIR", before)
    run_dir = tmp_path / "T"
    _tiny_run(data_dir, run_dir, tmp_path / "T.params", "--max_steps", "1", "--report_to", "tensorboard")
    assert list((run_dir / "tb" / "run").glob("events.out.tfevents*"))
    assert os.environ.get("TENSORBOARD_LOGGING_DIR") == before  # a later Trainer logs where it is told
