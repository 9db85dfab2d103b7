"""The command-line helpers shared by the recipes (hfmodels.training.cli)."""

import argparse
import json

import pytest

from hfmodels.training.cli import (
    allow_bare_flags,
    apply_preset,
    choose_preset,
    config_argument,
    explicit_options,
    pop_option,
    read_config,
    refuse_inapplicable,
    refuse_together,
)


def test_explicit_options_sees_every_spelling():
    parser = argparse.ArgumentParser()
    parser.add_argument("--num_train_epochs", "--num-train-epochs", dest="num_train_epochs")
    parser.add_argument("--lr", dest="lr")
    given = explicit_options(parser, ["--num-train-epochs", "3", "--lr=1e-4", "--unknown", "x"])
    assert given == {"num_train_epochs", "lr"}


def test_refuse_together_names_both_options():
    refuse_together({"lr"}, [("lr", "learning_rate")], "prog")
    with pytest.raises(ValueError, match="prog: --lr and --learning_rate set the same thing"):
        refuse_together({"lr", "learning_rate"}, [("lr", "learning_rate")], "prog", ValueError)


def test_refuse_inapplicable_refuses_only_a_given_option_the_run_does_not_use():
    rules = [("used_one", True, "everything"), ("unused_one", False, "the other model")]
    refuse_inapplicable({"used_one"}, rules, "prog", "this run")  # used: fine
    refuse_inapplicable(set(), rules, "prog", "this run")  # not given: fine, whatever its default
    with pytest.raises(
        SystemExit, match=r"prog: --unused_one has no effect on this run: it applies to the other model"
    ):
        refuse_inapplicable({"used_one", "unused_one"}, rules, "prog", "this run")


def test_pop_option_takes_both_spellings_and_leaves_the_rest():
    assert pop_option(["a", "--config", "p.json", "--x", "1"], "--config") == ("p.json", ["a", "--x", "1"])
    assert pop_option(["--config=p.json", "--x"], "--config") == ("p.json", ["--x"])
    assert pop_option(["--x"], "--config") == (None, ["--x"])
    with pytest.raises(SystemExit, match="--config needs a value"):
        pop_option(["--config"], "--config")


def test_a_preset_sets_defaults_the_command_line_still_overrides(tmp_path):
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--pack", type=lambda s: s == "True", default=None)
    allow_bare_flags(parser, ["pack"])
    preset = tmp_path / "p.json"
    preset.write_text(json.dumps({"epochs": 10}))
    assert apply_preset(parser, preset) == {"epochs": 10}
    assert parser.parse_args([]).epochs == 10 and parser.parse_args(["--epochs", "3"]).epochs == 3
    assert parser.parse_args(["--pack"]).pack is True and parser.parse_args(["--pack", "False"]).pack is False
    preset.write_text(json.dumps(["epochs"]))
    with pytest.raises(SystemExit, match="p.json: a configuration is a JSON mapping"):
        apply_preset(parser, preset)
    with pytest.raises(SystemExit, match="missing.json: cannot read the configuration"):
        apply_preset(parser, tmp_path / "missing.json")


def test_json_and_yaml_configs_give_the_same_values(tmp_path):
    (tmp_path / "c.json").write_text(json.dumps({"lr": 0.001, "tasks": ["a", "b"], "pack": True, "n": None}))
    (tmp_path / "c.yaml").write_text("lr: 0.001\ntasks: [a, b]\npack: true\nn: null\n")
    (tmp_path / "c.YML").write_text("# comment\nlr: 1.0e-3\ntasks:\n  - a\n  - b\npack: yes\nn:\n")
    expected = read_config(tmp_path / "c.json")
    assert read_config(tmp_path / "c.yaml") == expected == read_config(tmp_path / "c.YML")
    (tmp_path / "empty.yaml").write_text("")
    assert read_config(tmp_path / "empty.yaml") == {}


@pytest.mark.parametrize(
    "name, text, message",
    [
        ("bad.yaml", "lr: 1\n  epochs: 2\n", r"bad.yaml: not valid YAML \(line 2, column 9: mapping values"),
        ("bad.yml", "lrs: [1, 2\nepochs: 3\n", r"bad.yml: not valid YAML \(line 2, column 7: expected ','"),
        (
            "twice.yaml",
            "lr: 1\nepochs: 2\nlr: 3\n",
            r"twice.yaml: not valid YAML \(line 3, column 1: the key 'lr'",
        ),
        ("twice.json", '{"lr": 1, "lr": 2}', r"twice.json: the key 'lr' is given twice"),
        ("list.yaml", "- lr\n- epochs\n", "list.yaml: a configuration is a YAML mapping"),
        ("bad.json", "{\n  'lr': 1}", r"bad.json: not valid JSON \(line 2"),
    ],
)
def test_a_bad_config_names_the_file_line_and_problem(tmp_path, name, text, message):
    (tmp_path / name).write_text(text)
    with pytest.raises(SystemExit, match=message):
        read_config(tmp_path / name)


def test_a_yaml_preset_sets_defaults_and_refuses_unknown_keys_by_name(tmp_path):
    parser = argparse.ArgumentParser()
    parser.add_argument("--learning_rate", type=float, default=0.1)
    parser.add_argument("--models", nargs="+", required=True)
    preset = tmp_path / "p.yaml"
    preset.write_text("learning_rate: 1e-3\nmodels: [a, b]\n")  # YAML 1.1 reads 1e-3 as a string
    assert apply_preset(parser, preset) == {"learning_rate": "1e-3", "models": ["a", "b"]}
    args = parser.parse_args([])  # argparse converts a string default with the option's type
    assert (args.learning_rate, args.models) == (1e-3, ["a", "b"])  # the preset fills the required one
    assert parser.parse_args(["--learning_rate", "0.5"]).learning_rate == 0.5
    preset.write_text("learning_rat: 1\nmodel: x\nmodels: [a]\n")
    with pytest.raises(SystemExit, match="p.yaml: learning_rat, model are not an option"):
        apply_preset(parser, preset)


def test_config_argument_takes_a_lone_file_or_the_option():
    assert config_argument(["run.yaml"]) == ("run.yaml", [])
    assert config_argument(["run.JSON"]) == ("run.JSON", [])
    assert config_argument(["run.yml", "--x"]) == (None, ["run.yml", "--x"])  # not alone: a positional
    assert config_argument(["--config", "p.yml", "--x", "1"]) == ("p.yml", ["--x", "1"])
    assert config_argument(["pretrain"]) == (None, ["pretrain"])


def test_choose_preset_by_name_path_option_or_lone_file(tmp_path):
    presets = tmp_path / "presets"
    presets.mkdir()
    (presets / "reference.json").write_text("{}")
    (presets / "small.yaml").write_text("{}")
    mine = tmp_path / "mine.yml"
    mine.write_text("{}")
    assert choose_preset(["--x", "1"], presets, "reference") == (presets / "reference.json", ["--x", "1"])
    assert choose_preset(["--preset", "small"], presets, "reference")[0] == presets / "small.yaml"
    assert choose_preset(["--config", str(mine), "--x"], presets, "reference") == (mine, ["--x"])
    assert choose_preset([str(mine)], presets, "reference") == (mine, [])
    with pytest.raises(SystemExit, match="--preset nope: neither a file nor one of reference, small"):
        choose_preset(["--preset", "nope"], presets, "reference")
    with pytest.raises(SystemExit, match="both name the preset"):
        choose_preset(["--preset", "small", "--config", str(mine)], presets, "reference")
