"""The detector suite: a registry of detectors by name, in the style of timm's create_model."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from provguard.errors import ProvguardError


class DetectorError(ProvguardError):
    """A detector cannot be built or cannot score the media it was given."""


class DetectorNotFoundError(DetectorError):
    """No detector is registered under the requested name."""


class DetectorUnavailableError(DetectorError):
    """A detector's dependencies (the `detect` extra: torch, timm, scikit-learn) are not installed."""


@dataclass(frozen=True)
class DetectorResult:
    """A detector's calibrated probability that media is synthetic, with optional per-region scores."""

    score: float
    model: str
    version: str
    regions: list[dict[str, Any]] = field(default_factory=list)
    #: The uncalibrated pooled score (a logit or log-likelihood ratio): rank by it, since calibration saturates.
    raw: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"name": self.model, "version": self.version, "score": round(float(self.score), 6)}


class Detector(Protocol):
    """Anything that scores media: score(media) -> DetectorResult."""

    name: str
    version: str
    kind: str

    def score(self, media: Any) -> DetectorResult:
        """Return the calibrated probability that `media` is synthetic."""
        ...

    def score_many(self, media: list[Any]) -> list[DetectorResult]:
        """Score several items (batched where the detector can)."""
        ...


#: Built-in detectors, imported only when loaded (torch and timm stay out of `import detectors`).
BUILTIN: dict[str, str] = {
    "image-frequency": "detectors.image.cnn:FrequencyCNNDetector",
    "image-dct-logreg": "detectors.image.baselines:DctLogRegDetector",
    "image-spectrum": "detectors.image.baselines:SpectrumDetector",
    "audio-lcnn": "detectors.audio.lcnn:LcnnDetector",
    "audio-lfcc-gmm": "detectors.audio.baselines:LfccGmmDetector",
    "video-frames": "detectors.video:VideoDetector",
}

#: The detector whose calibrated score decides the label, per media kind; the others are reported beside it.
PRIMARY: dict[str, str] = {"image": "image-frequency", "audio": "audio-lcnn", "video": "video-frames"}
#: Baselines scored beside the primary detector by `provguard verify`.
BASELINES: dict[str, list[str]] = {"image": ["image-dct-logreg", "image-spectrum"], "audio": ["audio-lfcc-gmm"], "video": []}

_REGISTRY: dict[str, Callable[..., Detector]] = {}


def register(name: str) -> Callable[[Callable[..., Detector]], Callable[..., Detector]]:
    """Register a detector factory under a name (used as a decorator)."""

    def wrap(factory: Callable[..., Detector]) -> Callable[..., Detector]:
        _REGISTRY[name] = factory
        return factory

    return wrap


def available() -> list[str]:
    """Return the names of registered detectors (built-in and added)."""
    return sorted(set(_REGISTRY) | set(BUILTIN))


def _builtin_factory(name: str) -> Callable[..., Detector]:
    """Import a built-in detector class from its 'module:Class' path."""
    module_name, attr = BUILTIN[name].split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] in {"torch", "timm", "sklearn", "torchvision", "matplotlib"}:
            raise DetectorUnavailableError(
                f"detector {name!r} needs {exc.name}: install the detect extra (pip install 'provguard[detect]')"
            ) from None
        raise DetectorUnavailableError(f"detector {name!r} is not installed ({exc})") from None
    return getattr(module, attr)


def load(name: str, **kwargs: Any) -> Detector:
    """Build a registered detector by name (e.g. device='cpu'); its weights load lazily from package data."""
    factory = _REGISTRY.get(name)
    if factory is None:
        if name not in BUILTIN:
            raise DetectorNotFoundError(f"no detector named {name!r}; registered: {', '.join(available())}")
        factory = _builtin_factory(name)
    return factory(**kwargs)
