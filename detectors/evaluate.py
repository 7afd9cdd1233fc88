"""Evaluate detectors on folders of real and fake files: metrics per model, ROC and DET plots, a JSON report."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import detectors
from detectors import DetectorError
from provguard.errors import InputError, ProvguardError
from provguard.fileio import atomic_write

#: Most files read from one folder (a typo'd root should not walk a whole disk).
DEFAULT_MAX_FILES = 20_000


@dataclass
class EvalResult:
    """Per-model metrics plus what was skipped and where the artefacts went."""

    kind: str
    metrics: dict[str, dict[str, float]]
    skipped: list[str] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)


def default_models(kind: str) -> list[str]:
    """The primary detector and its baselines for a media kind."""
    if kind not in detectors.PRIMARY or kind == "video":
        raise InputError(f"cannot evaluate {kind!r} detectors; choose image or audio")
    return [detectors.PRIMARY[kind], *detectors.BASELINES[kind]]


def list_files(folder: Path, max_files: int = DEFAULT_MAX_FILES) -> list[Path]:
    """Every non-hidden file under a folder, sorted, within the file limit."""
    from provguard.verify import expand_paths

    if not folder.is_dir():
        raise InputError(f"{folder} is not a directory")
    found: list[Path] = []
    for path in expand_paths([folder], recursive=True):
        found.append(path)
        if len(found) > max_files:
            raise InputError(f"{folder} holds more than {max_files} files")
    if not found:
        raise InputError(f"{folder} holds no files")
    return found


def _prepare(path: Path, kind: str) -> Any:
    """Decode a file once for every model."""
    from detectors.inputs import as_audio, as_rgb

    return as_rgb(path) if kind == "image" else as_audio(path)


def _scored(
    files: list[tuple[Path, int]], kind: str, models: list[Any], skipped: list[str], progress: Callable[[], None] | None
) -> Iterator[tuple[int, list[Any]]]:
    """Yield (label, one DetectorResult per model) for each readable file; unreadable ones are listed in skipped."""
    for path, label in files:
        try:
            media = _prepare(path, kind)
            yield label, [m.score(media) for m in models]
        except ProvguardError as exc:
            skipped.append(f"{path}: {exc}")
        finally:
            if progress is not None:
                progress()


def evaluate(
    kind: str,
    real_dir: Path,
    fake_dir: Path,
    out_dir: Path,
    models: list[str] | None = None,
    progress: Callable[[], None] | None = None,
) -> EvalResult:
    """Score every file, compute AUC/AP/accuracy/EER per model, write roc.png, det.png and report.json."""
    from detectors.metrics import binary_metrics, write_det_png, write_roc_png

    names = models or default_models(kind)
    loaded = [detectors.load(name) for name in names]
    files = [(p, 0) for p in list_files(real_dir)] + [(p, 1) for p in list_files(fake_dir)]
    skipped: list[str] = []
    labels: list[int] = []
    results: list[list[Any]] = []
    for label, row in _scored(files, kind, loaded, skipped, progress):
        labels.append(label)
        results.append(row)
    if len(set(labels)) < 2:
        raise DetectorError("evaluation needs at least one readable real file and one readable fake file")
    scores = [[float(r.score) for r in row] for row in results]
    metrics: dict[str, dict[str, float]] = {}
    curves: dict[str, tuple[list[int], list[float]]] = {}
    for i, name in enumerate(names):
        probs = [row[i] for row in scores]
        raws = [row[i].raw for row in results]
        ranking = None if any(v is None for v in raws) else [float(v) for v in raws]
        metrics[name] = binary_metrics(labels, probs, ranking=ranking)
        curves[name] = (labels, ranking if ranking is not None else probs)
    out_dir.mkdir(parents=True, exist_ok=True)
    result = EvalResult(kind, metrics, skipped)
    result.files["roc"] = str(write_roc_png(out_dir / "roc.png", curves, f"{kind} detectors: ROC"))
    result.files["det"] = str(write_det_png(out_dir / "det.png", curves, f"{kind} detectors: DET"))
    report = {
        "kind": kind,
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "real": str(real_dir),
        "fake": str(fake_dir),
        "models": [{"name": m.name, "version": m.version} for m in loaded],
        "metrics": metrics,
        "skipped": skipped,
        "scores": [{"label": y, **{n: s for n, s in zip(names, row)}} for y, row in zip(labels, scores)],
        "note": "AUC, AP, EER and the curves rank by each model's raw score where it gives one; accuracy uses the "
        "calibrated probability at 0.5",
    }
    report_path = out_dir / "report.json"
    atomic_write(report_path, (json.dumps(report, indent=1) + "\n").encode())
    result.files["report"] = str(report_path)
    return result
