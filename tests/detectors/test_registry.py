"""The detector registry: lookup by name, clear error for unknown names."""

from __future__ import annotations

import pytest

import detectors
from provguard.errors import ProvguardError


def test_unknown_detector_is_a_clear_provguard_error() -> None:
    """Asking for an unregistered name raises a ProvguardError naming it."""
    with pytest.raises(ProvguardError, match="no detector named 'nope'"):
        detectors.load("nope")


def test_registered_factory_is_built_with_its_arguments() -> None:
    """A registered factory is called by load() with the keyword arguments given."""

    class Constant:
        name, version = "constant", "0"

        def __init__(self, value: float) -> None:
            self.value = value

        def score(self, media: object) -> detectors.DetectorResult:
            return detectors.DetectorResult(score=self.value, model=self.name, version=self.version)

    detectors.register("test-constant")(Constant)
    try:
        assert "test-constant" in detectors.available()
        assert detectors.load("test-constant", value=0.25).score(b"").score == 0.25
    finally:
        detectors._REGISTRY.pop("test-constant")
