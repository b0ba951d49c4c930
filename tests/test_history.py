"""The run log's reader and the windowed training loss that the convergence tables print."""

from __future__ import annotations

import json

import pytest

from deepfake_ssat.history import loss_windows, read_history


def test_loss_windows_average_the_epochs_ending_in_each_window(tmp_path):
    rows = [{"epoch": e, "step": 10 * e, "train_loss_cls": float(e)} for e in range(1, 11)]  # 100 steps
    rows[4]["val_auc"] = 0.5  # validation rows are ordinary epoch rows with more keys
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    history = read_history(tmp_path)
    assert history == rows
    # (0, 10] holds epoch 1; (40, 60] epochs 5, 6; (60, 80] 7, 8; (80, 100] 9, 10
    assert loss_windows(history, 100) == [1.0, 5.5, 7.5, 9.5]
    assert loss_windows(history, 200)[2:] == [None, None]  # a run that stopped at half its budget
    assert loss_windows(history, 100, windows=((0.0, 1.0),)) == [pytest.approx(5.5)]


def test_a_run_without_a_log_has_no_history(tmp_path):
    assert read_history(tmp_path) == []
    assert loss_windows([], 100) == [None] * 4
