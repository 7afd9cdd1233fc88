"""The registry: built-in names, added detectors, clear errors, and no heavy imports at package import."""

from __future__ import annotations

import subprocess
import sys

import pytest

import detectors
from detectors import DetectorNotFoundError, DetectorResult


def test_builtin_names_are_listed() -> None:
    names = detectors.available()
    for name in ("image-frequency", "image-dct-logreg", "image-spectrum", "audio-lcnn", "audio-lfcc-gmm", "video-frames"):
        assert name in names


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(DetectorNotFoundError, match="image-frequency"):
        detectors.load("no-such-detector")


def test_registered_factories_receive_keyword_arguments() -> None:
    class Constant:
        name, version, kind = "constant-test", "0", "image"

        def __init__(self, value: float = 0.5) -> None:
            self.value = value

        def score(self, media: object) -> DetectorResult:
            return DetectorResult(self.value, self.name, self.version)

    detectors.register("constant-test")(Constant)
    try:
        assert detectors.load("constant-test", value=0.25).score(None).score == 0.25
        assert "constant-test" in detectors.available()
    finally:
        detectors._REGISTRY.pop("constant-test", None)


def test_importing_detectors_and_provguard_loads_no_heavy_stack() -> None:
    code = "import sys, detectors, detectors.inputs, provguard, provguard.detection; " \
           "print(sorted(m for m in ('torch', 'timm', 'sklearn', 'matplotlib') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
