"""Evaluate image detectors on cached sets under test conditions (clean, JPEG q75, resize 0.5x)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from detectors.image.augment import jpeg, resize

#: Test conditions: name -> degradation applied to every image of both classes.
CONDITIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "clean": lambda px: px,
    "jpeg75": lambda px: jpeg(px, 75),
    "resize0.5": lambda px: resize(px, 0.5, "bicubic"),
}


def raw_scores(detector: Any, images: list[np.ndarray]) -> np.ndarray:
    """Pooled raw logits of a patch detector for uint8 RGB images."""
    return np.array([detector.raw(px)[0] for px in images], dtype=np.float64)


def metrics_for(detector: Any, images: list[np.ndarray], labels: np.ndarray) -> dict[str, Any]:
    """AUC, AP and EER of the raw logit (the ranking), accuracy at the calibrated 0.5 threshold, and counts.

    Ranking metrics use the raw logit: calibration is monotone, but its clipping to [1e-4, 1 - 1e-4] ties confident
    scores, which would understate AUC.
    """
    from detectors.metrics import binary_metrics

    raw = raw_scores(detector, images)
    probs = detector.calibrator(raw)
    out: dict[str, Any] = binary_metrics(labels, probs)
    ranking = binary_metrics(labels, raw)
    out.update(auc=ranking["auc"], ap=ranking["ap"], eer=ranking["eer"])
    out["raw"] = [float(r) for r in raw]
    out["probs"] = [float(p) for p in probs]
    return out


def evaluate(detectors: dict[str, Any], images: list[np.ndarray], labels: list[int],
             conditions: tuple[str, ...] = tuple(CONDITIONS)) -> dict[str, dict[str, dict[str, Any]]]:
    """metrics[condition][detector name] for every condition (each degrades both classes the same way)."""
    y = np.asarray(labels)
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for cond in conditions:
        degraded = [CONDITIONS[cond](px) for px in images]
        out[cond] = {name: metrics_for(det, degraded, y) for name, det in detectors.items()}
    return out
