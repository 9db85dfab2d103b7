"""The command-line helpers shared by the recipes (hfmodels.training.cli)."""

import argparse

import pytest

from hfmodels.training.cli import explicit_options, refuse_inapplicable, refuse_together


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
