"""Run the detector suite on verified content and summarise it for the Report (the `detection` field)."""

from __future__ import annotations

import threading
from typing import Any

from provguard.errors import ProvguardError
from provguard.media import MediaKind
from provguard.report import DetectionEvidence, ModelScore

#: Calibrated P(synthetic) at or above which a file is labelled likely synthetic.
THRESHOLD = 0.5
LIKELY_SYNTHETIC = "likely-synthetic"
LIKELY_AUTHENTIC = "likely-authentic"
NOT_SCORED = "not-scored"
#: Most region scores (heat-map patches, audio segments) kept in a Report.
MAX_REGIONS = 256

_DETECTORS: dict[str, Any] = {}
_LOCK = threading.Lock()


def _detector(name: str) -> Any:
    """Load a detector once per process (weights are read lazily on first use)."""
    import detectors

    with _LOCK:
        if name not in _DETECTORS:
            _DETECTORS[name] = detectors.load(name)
        return _DETECTORS[name]


def label_for(score: float) -> str:
    """The plain label for a calibrated score."""
    return LIKELY_SYNTHETIC if score >= THRESHOLD else LIKELY_AUTHENTIC


def _family(kind: MediaKind) -> str | None:
    """Which detector family scores this kind, if any."""
    return kind.family if kind.family in ("image", "audio", "video") else None


def _prepare(data: bytes, family: str) -> Any:
    """Decode once for every detector of the family (videos are passed as bytes)."""
    from detectors.inputs import as_audio, as_rgb

    if family == "image":
        return as_rgb(data)
    if family == "audio":
        return as_audio(data)
    return data


def detection_evidence(data: bytes, kind: MediaKind, *, baselines: bool = True) -> DetectionEvidence | None:
    """Score content with the primary detector for its kind (and the baselines beside it); None for other kinds."""
    family = _family(kind)
    if family is None:
        return None
    import detectors

    try:
        media = _prepare(data, family)
        primary = _detector(detectors.PRIMARY[family]).score(media)
    except ProvguardError as exc:
        return DetectionEvidence(score=None, label=NOT_SCORED, note=str(exc))
    except ImportError as exc:  # the detect extra (torch, timm, scikit-learn) is not installed
        return DetectionEvidence(
            score=None, label=NOT_SCORED, note=f"detectors need {exc.name or exc}: pip install 'provguard[detect]'"
        )
    models = [ModelScore(primary.model, primary.version, round(float(primary.score), 6))]
    for name in detectors.BASELINES[family] if baselines else []:
        try:
            result = _detector(name).score(media)
        except (ProvguardError, ImportError):
            continue  # a missing baseline never hides the primary score
        models.append(ModelScore(result.model, result.version, round(float(result.score), 6)))
    score = float(primary.score)
    return DetectionEvidence(
        score=round(score, 6), label=label_for(score), models=models, regions=list(primary.regions[:MAX_REGIONS])
    )
