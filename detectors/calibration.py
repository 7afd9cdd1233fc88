"""Map raw detector outputs to calibrated probabilities (Platt scaling or isotonic regression, fitted with scikit-learn)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from detectors import DetectorError

#: Calibrated probabilities stay this far from 0 and 1: a finite validation set cannot justify certainty.
EPSILON = 1e-4
METHODS = ("platt", "isotonic")


class CalibrationError(DetectorError):
    """A calibrator cannot be fitted or read."""


@dataclass(frozen=True)
class Calibrator:
    """A monotone non-decreasing map from a raw score to P(synthetic)."""

    method: str
    slope: float = 1.0
    intercept: float = 0.0
    knots_x: list[float] = field(default_factory=list)
    knots_y: list[float] = field(default_factory=list)

    @classmethod
    def fit(cls, raw_scores: Any, labels: Any, method: str = "platt") -> Calibrator:
        """Fit on validation raw scores and labels (1 = synthetic)."""
        raw = np.asarray(raw_scores, dtype=np.float64).ravel()
        y = np.asarray(labels, dtype=np.int64).ravel()
        if method not in METHODS:
            raise CalibrationError(f"unknown calibration method {method!r}; use one of {', '.join(METHODS)}")
        if raw.size != y.size or raw.size < 4 or set(np.unique(y)) != {0, 1}:
            raise CalibrationError("calibration needs matching scores and labels with both classes present")
        if not np.all(np.isfinite(raw)):
            raise CalibrationError("calibration scores must be finite")
        if method == "platt":
            from sklearn.linear_model import LogisticRegression

            model = LogisticRegression(C=1e4, max_iter=1000).fit(raw[:, None], y)
            slope = max(float(model.coef_[0, 0]), 0.0)  # a negative slope would reverse the detector
            return cls("platt", slope=slope, intercept=float(model.intercept_[0]))
        from sklearn.isotonic import IsotonicRegression

        iso = IsotonicRegression(y_min=EPSILON, y_max=1 - EPSILON, out_of_bounds="clip", increasing=True).fit(raw, y)
        return cls("isotonic", knots_x=[float(v) for v in iso.X_thresholds_], knots_y=[float(v) for v in iso.y_thresholds_])

    def __call__(self, raw: Any) -> np.ndarray:
        """Calibrated probabilities in [EPSILON, 1 - EPSILON] for raw scores."""
        x = np.nan_to_num(np.asarray(raw, dtype=np.float64), nan=0.0, posinf=1e6, neginf=-1e6)
        if self.method == "platt":
            z = np.clip(self.slope * x + self.intercept, -500, 500)
            p = 1.0 / (1.0 + np.exp(-z))
        else:
            p = np.interp(x, self.knots_x, self.knots_y)
        return np.clip(p, EPSILON, 1 - EPSILON)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        if self.method == "platt":
            return {"method": "platt", "slope": self.slope, "intercept": self.intercept}
        return {"method": "isotonic", "knots_x": self.knots_x, "knots_y": self.knots_y}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibrator:
        """Read the form written by to_dict."""
        try:
            method = data["method"]
            if method == "platt":
                return cls("platt", slope=float(data["slope"]), intercept=float(data["intercept"]))
            if method == "isotonic":
                xs = [float(v) for v in data["knots_x"]]
                ys = [float(v) for v in data["knots_y"]]
                if not xs or len(xs) != len(ys) or any(b < a for a, b in zip(xs, xs[1:])):
                    raise ValueError("knots must be non-empty, paired and sorted")
                return cls("isotonic", knots_x=xs, knots_y=ys)
        except (KeyError, TypeError, ValueError) as exc:
            raise CalibrationError(f"bad calibration data: {exc}") from exc
        raise CalibrationError(f"unknown calibration method {data.get('method')!r}")
