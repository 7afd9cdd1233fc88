"""Calibration: Platt and isotonic maps are monotone, bounded, round-trip through JSON, and refuse bad data."""

from __future__ import annotations

import json

import numpy as np
import pytest

from detectors.calibration import EPSILON, CalibrationError, Calibrator


def _scores(seed: int = 0, n: int = 300) -> tuple[np.ndarray, np.ndarray]:
    """Overlapping raw scores for two classes (fakes higher), n of each."""
    rng = np.random.default_rng(seed)
    raw = np.r_[rng.normal(-1.0, 1.0, n), rng.normal(1.5, 1.0, n)]
    return raw, np.r_[np.zeros(n), np.ones(n)]


@pytest.mark.parametrize("method", ["platt", "isotonic"])
def test_calibrated_scores_are_probabilities_monotone_in_the_raw_score(method: str) -> None:
    raw, y = _scores()
    cal = Calibrator.fit(raw, y, method)
    grid = np.linspace(-8, 8, 401)
    p = cal(grid)
    assert np.all((p >= EPSILON) & (p <= 1 - EPSILON))
    assert np.all(np.diff(p) >= 0)
    assert p[0] < 0.1 < 0.9 < p[-1]


@pytest.mark.parametrize("method", ["platt", "isotonic"])
def test_calibration_matches_observed_frequencies(method: str) -> None:
    raw, y = _scores(1, 3000)
    cal = Calibrator.fit(raw, y, method)
    test_raw, test_y = _scores(2, 3000)
    p = cal(test_raw)
    for lo, hi in ((0.0, 0.3), (0.3, 0.7), (0.7, 1.0)):
        sel = (p >= lo) & (p < hi)
        assert sel.sum() >= 100
        assert abs(p[sel].mean() - test_y[sel].mean()) < 0.05, (lo, p[sel].mean(), test_y[sel].mean())


@pytest.mark.parametrize("method", ["platt", "isotonic"])
def test_round_trip_through_json(method: str) -> None:
    raw, y = _scores()
    cal = Calibrator.fit(raw, y, method)
    again = Calibrator.from_dict(json.loads(json.dumps(cal.to_dict())))
    grid = np.linspace(-5, 5, 50)
    np.testing.assert_allclose(again(grid), cal(grid))


def test_non_finite_raw_scores_still_map_into_bounds() -> None:
    raw, y = _scores()
    p = Calibrator.fit(raw, y)(np.array([np.nan, np.inf, -np.inf]))
    assert np.all(np.isfinite(p)) and np.all((p > 0) & (p < 1))


@pytest.mark.parametrize(
    "raw, labels, method",
    [
        ([0.1, 0.2, 0.3, 0.4], [1, 1, 1, 1], "platt"),
        ([0.1, 0.2], [0, 1], "platt"),
        ([0.1, 0.2, 0.3, 0.4], [0, 1, 0, 1], "temperature"),
        ([0.1, np.nan, 0.3, 0.4], [0, 1, 0, 1], "isotonic"),
    ],
)
def test_bad_fits_are_refused(raw: list, labels: list, method: str) -> None:
    with pytest.raises(CalibrationError):
        Calibrator.fit(raw, labels, method)


@pytest.mark.parametrize(
    "data", [{}, {"method": "platt"}, {"method": "isotonic", "knots_x": [2, 1], "knots_y": [0, 1]}, {"method": "x"}]
)
def test_bad_stored_calibration_is_refused(data: dict) -> None:
    with pytest.raises(CalibrationError):
        Calibrator.from_dict(data)
