import math

import numpy as np
import pytest
from sklearn import metrics as skm

from deepfake_ssat.metrics import binary_metrics, equal_error_rate, threshold_for_best_accuracy, tpr_at_fpr


def test_binary_metrics_match_scikit_learn():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    s = np.clip(y * 0.3 + rng.random(200) * 0.7, 0, 1)
    m = binary_metrics(y, s, threshold=0.4)
    assert m["auc"] == pytest.approx(skm.roc_auc_score(y, s))
    assert m["ap"] == pytest.approx(skm.average_precision_score(y, s))
    assert m["log_loss"] == pytest.approx(skm.log_loss(y, s))
    assert m["acc"] == pytest.approx(skm.accuracy_score(y, s >= 0.5))
    assert m["acc_at_threshold"] == pytest.approx(skm.accuracy_score(y, s >= 0.4))
    assert m["n"] == 200 and m["n_fake"] == y.sum()


def test_eer_is_interpolated_between_roc_points():
    # ROC (after sklearn drops collinear points): (0,0) (0,2/3) (.5,2/3) (.5,1) (1,1).
    # FNR stays 1/3 while FPR runs 0 → 0.5, so FPR = FNR at FPR = 1/3 — not at a ROC point (0 or 0.5).
    y = np.array([0, 1, 0, 1, 1])
    s = np.array([0.2, 0.3, 0.6, 0.7, 0.8])
    assert equal_error_rate(y, s) == pytest.approx(1 / 3)


def test_eer_of_perfect_and_inverted_scores():
    y = np.array([0, 0, 1, 1])
    assert equal_error_rate(y, np.array([0.1, 0.2, 0.8, 0.9])) == pytest.approx(0.0)
    assert equal_error_rate(y, np.array([0.9, 0.8, 0.2, 0.1])) == pytest.approx(1.0)


def test_tpr_at_fpr_interpolates():
    y = np.array([0, 1, 0, 1, 1])
    s = np.array([0.2, 0.3, 0.6, 0.7, 0.8])
    assert tpr_at_fpr(y, s, 0.01) == pytest.approx(2 / 3)
    assert tpr_at_fpr(y, s, 0.75) == pytest.approx(1.0)


def test_threshold_chosen_for_accuracy():
    y = np.array([0, 0, 0, 1, 1])
    s = np.array([0.1, 0.2, 0.7, 0.8, 0.9])
    t = threshold_for_best_accuracy(y, s)
    assert 0.7 < t <= 0.8 and np.mean((s >= t) == y) == 1.0


def test_single_class_rank_metrics_are_undefined_not_half():
    m = binary_metrics([1, 1, 1], [0.9, 0.8, 0.4])
    assert math.isnan(m["auc"]) and math.isnan(m["eer"])
    assert m["acc"] == pytest.approx(2 / 3)
