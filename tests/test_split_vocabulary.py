"""One split vocabulary (docs/datasets.md, "One split vocabulary"): the project's splits are
`train`/`validation`/`test`; the course's `dev` survives only in course file names and metric
keys, through `hfmodels.data.splits.course_split_name`, and a split argument `dev` is refused."""

import numpy as np
import pytest

from hfmodels.data import BIRTHPLACE_FILES, split_of_file
from hfmodels.data.splits import SPLITS, check_split_name, course_split_name
from hfmodels.evaluation.birthplaces import BirthplaceEvaluation, metric_prefix
from hfmodels.evaluation.ensemble import combine_members
from hfmodels.evaluation.minbert import prediction_file_name, write_prediction_files


def test_course_names_only_for_the_validation_split():
    assert SPLITS == ("train", "validation", "test")
    assert [course_split_name(s) for s in SPLITS] == ["train", "dev", "test"]
    assert course_split_name("holdout") == "holdout"
    assert check_split_name("validation") == "validation"
    with pytest.raises(ValueError, match=r"split='dev': the project calls this split 'validation'"):
        course_split_name("dev")
    with pytest.raises(ValueError, match=r"--eval_split='dev'"):
        check_split_name("dev", "--eval_split")


def test_birthplace_files_keep_their_course_names_under_project_split_names():
    assert list(BIRTHPLACE_FILES) == ["train", "validation", "test"]
    assert BIRTHPLACE_FILES["validation"].endswith("/birth_dev.tsv")
    assert {split_of_file(path) for path in BIRTHPLACE_FILES.values()} == set(SPLITS)
    assert split_of_file("birth_dev.tsv") == "validation"


def test_birthplace_metric_keys_keep_the_dev_prefix():
    splits = ("validation", "test", "holdout", None)
    assert [metric_prefix(s) for s in splits] == ["dev", "test", "holdout", "eval"]
    result = BirthplaceEvaluation("validation", None, [], {"exact_match": 0.5, "correct": 1, "total": 2}, 1.0)
    assert set(result.metrics()) == {
        "dev_accuracy",
        "dev_correct",
        "dev_total",
        "dev_decode_seconds",
        "dev_predictions",
    }


def test_minbert_prediction_files_keep_the_course_names(tmp_path):
    assert prediction_file_name("quora", "validation") == "para-dev-output.csv"
    assert prediction_file_name("sst", "validation") == "sst-dev-output.csv"
    assert prediction_file_name("sts", "test") == "sts-test-output.csv"
    with pytest.raises(ValueError, match="split='dev'"):
        prediction_file_name("quora", "dev")
    written = write_prediction_files(tmp_path, {("quora", "validation"): (["p1", "p2"], [1, 0])})
    assert [p.name for p in written] == ["para-dev-output.csv"]
    assert written[0].read_text() == "id \t Predicted_Is_Paraphrase \np1 , 1 \np2 , 0 \n"


def test_the_ensemble_scores_the_validation_split_and_refuses_dev():
    logits = {("sst", "validation"): np.eye(5)[[0, 1]], ("sst", "test"): np.eye(5)[[2]]}
    result = combine_members([logits], {"sst": np.array([0, 2])})
    assert result.metrics == {"eval_sst_accuracy": 0.5}  # the test rows are not scored
    with pytest.raises(ValueError, match="eval_split='dev'"):
        combine_members([logits], {"sst": np.array([0, 2])}, eval_split="dev")
