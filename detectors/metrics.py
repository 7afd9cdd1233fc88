"""Detection metrics (AUC, AP, accuracy at the calibrated threshold, EER) and ROC / DET plots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from provguard.fileio import atomic_write


def _arrays(labels: Any, scores: Any) -> tuple[np.ndarray, np.ndarray]:
    """Labels (1 = synthetic) and scores as flat arrays, both classes required."""
    y = np.asarray(labels, dtype=np.int64).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    if y.size != s.size:
        raise ValueError("labels and scores differ in length")
    if set(np.unique(y)) != {0, 1}:
        raise ValueError("metrics need both real (0) and synthetic (1) examples")
    return y, s


def eer(labels: Any, scores: Any) -> float:
    """Equal error rate: where the false-acceptance and false-rejection rates cross."""
    from sklearn.metrics import roc_curve

    y, s = _arrays(labels, scores)
    fpr, tpr, _ = roc_curve(y, s)
    fnr = 1.0 - tpr
    i = int(np.nanargmin(np.abs(fnr - fpr)))
    # interpolate between the two neighbouring operating points for a stable figure
    j = min(i + 1, len(fpr) - 1)
    d0, d1 = fnr[i] - fpr[i], fnr[j] - fpr[j]
    if j != i and d0 * d1 < 0:
        t = d0 / (d0 - d1)
        return float(fpr[i] + t * (fpr[j] - fpr[i]))
    return float((fpr[i] + fnr[i]) / 2.0)


def binary_metrics(labels: Any, probs: Any, threshold: float = 0.5, ranking: Any = None) -> dict[str, float]:
    """AUC, AP and EER (ranked by `ranking`, e.g. raw logits, else the probabilities) and accuracy at the threshold.

    Calibrated probabilities saturate (and are clipped) for confident scores, which ties them; a monotone raw score
    ranks the same files without ties, so pass it as `ranking` when the detector gives one.
    """
    from sklearn.metrics import average_precision_score, roc_auc_score

    y, p = _arrays(labels, probs)
    r = p if ranking is None else _arrays(y, ranking)[1]
    return {
        "auc": float(roc_auc_score(y, r)),
        "ap": float(average_precision_score(y, r)),
        "accuracy": float(np.mean((p >= threshold) == (y == 1))),
        "eer": eer(y, r),
        "n_real": int(np.sum(y == 0)),
        "n_fake": int(np.sum(y == 1)),
    }


def _save_figure(fig: Any, path: Path) -> Path:
    """Write a matplotlib figure as PNG atomically."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    atomic_write(Path(path), buf.getvalue())
    return Path(path)


def _figure(title: str, xlabel: str, ylabel: str) -> tuple[Any, Any]:
    """A fresh Agg figure and axes."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.2, 4.6))
    ax = fig.add_subplot(1, 1, 1)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    return fig, ax


def write_roc_png(path: str | Path, curves: dict[str, tuple[Any, Any]], title: str = "ROC") -> Path:
    """Plot one ROC curve per name (labels, scores) with its AUC in the legend."""
    from sklearn.metrics import roc_auc_score, roc_curve

    fig, ax = _figure(title, "false positive rate (real flagged)", "true positive rate (fakes caught)")
    for name, (labels, scores) in curves.items():
        y, s = _arrays(labels, scores)
        fpr, tpr, _ = roc_curve(y, s)
        ax.plot(fpr, tpr, label=f"{name} (AUC {roc_auc_score(y, s):.3f})")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=0.8)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.legend(loc="lower right", fontsize=8)
    return _save_figure(fig, Path(path))


def write_det_png(path: str | Path, curves: dict[str, tuple[Any, Any]], title: str = "DET") -> Path:
    """Plot one DET curve per name (miss rate against false alarm rate, normal-deviate axes) with its EER."""
    from scipy.stats import norm
    from sklearn.metrics import roc_curve

    fig, ax = _figure(title, "false alarm rate (real flagged)", "miss rate (fakes passed)")
    ticks = np.array([0.001, 0.01, 0.05, 0.2, 0.5])
    clip = (1e-4, 1 - 1e-4)
    for name, (labels, scores) in curves.items():
        y, s = _arrays(labels, scores)
        fpr, tpr, _ = roc_curve(y, s)
        fnr = 1.0 - tpr
        ax.plot(norm.ppf(np.clip(fpr, *clip)), norm.ppf(np.clip(fnr, *clip)), label=f"{name} (EER {100 * eer(y, s):.2f}%)")
    ax.set_xticks(norm.ppf(ticks), [f"{100 * t:g}%" for t in ticks])
    ax.set_yticks(norm.ppf(ticks), [f"{100 * t:g}%" for t in ticks])
    lo, hi = norm.ppf(5e-4), norm.ppf(0.6)
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.legend(loc="upper right", fontsize=8)
    return _save_figure(fig, Path(path))
