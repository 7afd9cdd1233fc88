"""The detector suite: a registry of detectors by name, in the style of timm's create_model."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from provguard.errors import ProvguardError


class DetectorNotFoundError(ProvguardError):
    """No detector is registered under the requested name."""


@dataclass(frozen=True)
class DetectorResult:
    """A detector's calibrated probability that media is synthetic, with optional per-region scores."""

    score: float
    model: str
    version: str
    regions: list[dict[str, Any]] = field(default_factory=list)


class Detector(Protocol):
    """Anything that scores media: score(media) -> DetectorResult."""

    name: str
    version: str

    def score(self, media: Any) -> DetectorResult:
        """Return the calibrated probability that `media` is synthetic."""
        ...


_REGISTRY: dict[str, Callable[..., Detector]] = {}


def register(name: str) -> Callable[[Callable[..., Detector]], Callable[..., Detector]]:
    """Register a detector factory under a name (used as a decorator)."""

    def wrap(factory: Callable[..., Detector]) -> Callable[..., Detector]:
        _REGISTRY[name] = factory
        return factory

    return wrap


def available() -> list[str]:
    """Return the names of registered detectors."""
    return sorted(_REGISTRY)


def load(name: str, **kwargs: Any) -> Detector:
    """Build a registered detector by name; its weights load lazily from package data."""
    try:
        factory = _REGISTRY[name]
    except KeyError:
        known = ", ".join(available()) or "none yet (the detector suite lands in its own issue)"
        raise DetectorNotFoundError(f"no detector named {name!r}; registered: {known}") from None
    return factory(**kwargs)
