"""The command-line helpers shared by the recipes (hfmodels.training.cli)."""

import argparse
import json

import pytest

from hfmodels.training.cli import (
    allow_bare_flags,
    apply_preset,
    explicit_options,
    pop_option,
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
    with pytest.raises(SystemExit, match="p.json: a preset is a JSON object"):
        apply_preset(parser, preset)
    with pytest.raises(SystemExit, match="missing.json: cannot read the preset"):
        apply_preset(parser, tmp_path / "missing.json")
