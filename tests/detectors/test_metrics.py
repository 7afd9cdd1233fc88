"""Metrics against hand-worked cases, and real PNG plots."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from detectors.metrics import binary_metrics, eer, write_det_png, write_roc_png


def test_perfect_separation() -> None:
    m = binary_metrics([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])
    assert m["auc"] == 1.0 and m["ap"] == 1.0 and m["accuracy"] == 1.0 and m["eer"] == 0.0
    assert (m["n_real"], m["n_fake"]) == (2, 2)


def test_reversed_scores_give_auc_zero_and_eer_one() -> None:
    m = binary_metrics([0, 0, 1, 1], [0.9, 0.8, 0.2, 0.1])
    assert m["auc"] == 0.0 and m["accuracy"] == 0.0 and m["eer"] == pytest.approx(1.0)


def test_eer_of_known_overlap() -> None:
    # 10 reals and 10 fakes; one real scores above one fake: the error rates cross at 10%.
    real = list(np.linspace(0.0, 0.4, 9)) + [0.65]
    fake = [0.6] + list(np.linspace(0.7, 1.0, 9))
    assert eer([0] * 10 + [1] * 10, real + fake) == pytest.approx(0.1, abs=0.05)


def test_chance_scores_have_eer_near_half() -> None:
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(2000), np.ones(2000)]
    assert eer(y, rng.random(4000)) == pytest.approx(0.5, abs=0.03)


def test_one_class_is_refused() -> None:
    with pytest.raises(ValueError):
        binary_metrics([1, 1, 1], [0.2, 0.5, 0.9])


def test_plots_are_real_pngs(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    y = np.r_[np.zeros(100), np.ones(100)]
    curves = {"good": (y, np.r_[rng.normal(0, 1, 100), rng.normal(3, 1, 100)]), "weak": (y, rng.random(200))}
    for writer, name in ((write_roc_png, "roc.png"), (write_det_png, "det.png")):
        path = writer(tmp_path / name, curves, "test")
        with Image.open(path) as img:
            assert img.format == "PNG" and img.size[0] > 300


def test_ranking_scores_break_ties_of_saturated_probabilities() -> None:
    probs = [1e-4, 1e-4, 1 - 1e-4, 1 - 1e-4, 1e-4]
    raw = [-30.0, -20.0, 25.0, 40.0, -10.0]
    labels = [0, 0, 1, 1, 1]
    tied, ranked = binary_metrics(labels, probs), binary_metrics(labels, probs, ranking=raw)
    assert ranked["auc"] > tied["auc"]
    assert ranked["accuracy"] == tied["accuracy"] == 0.8
