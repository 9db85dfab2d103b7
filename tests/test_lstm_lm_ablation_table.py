"""recipes/lstm_lm/ablation_table.py: rows in the ablation's order, with the baselines."""

import json

from tests.scripts import load_script

table = load_script("recipes/lstm_lm/ablation_table.py", "lstm_lm_ablation_table")


def write_run(root, name, preset, ppl):
    (root / name).mkdir(parents=True)
    metrics = {
        "preset": preset,
        "train_epochs": 2,
        "validation_perplexity": ppl,
        "test_perplexity": ppl + 1,
        "validation_prediction_nll": 6.0,
        "test_prediction_nll": 6.5,
        "train_wall_s": 120.0,
        "date": "2026-12-04 01:00 UTC",
        "validation_unigram_perplexity": 500.0,
        "test_unigram_perplexity": 510.0,
        "validation_kn_trigram_perplexity": 250.0,
        "test_kn_trigram_perplexity": 240.0,
        "baselines_wall_s": 5.0,
    }
    (root / name / "metrics.json").write_text(json.dumps(metrics))


def test_rows_follow_the_ablation_order_and_end_with_the_baselines(tmp_path):
    write_run(tmp_path, "ablation_3_weight_tying", "ablation_3_weight_tying.json", 300.0)
    write_run(tmp_path, "ablation_0_base", "ablation_0_base.json", 400.0)
    lines = table.main([str(tmp_path), "--out", str(tmp_path / "t.md")]).splitlines()
    assert lines[2].startswith("| ablation_0_base | 2 | 8, 0.003 | 400.0 | 401.0 | 6.000 | 6.500 | 2.0 min")
    assert lines[3].startswith("| ablation_3_weight_tying | 2 | 8, 0.003 | 300.0 | 301.0")
    assert lines[4].startswith("| unigram (counts) | – | – | 500.0 | 510.0")
    assert lines[5].startswith("| Kneser-Ney trigram (counts) | – | – | 250.0 | 240.0")
    assert (tmp_path / "t.md").read_text().splitlines() == lines
