"""Shared scoring for patch-based image detectors: grid of patches -> patch logits -> pooled, calibrated score + heat map."""

from __future__ import annotations

from typing import Any

import numpy as np

from detectors import DetectorResult
from detectors.image.features import GRID, PATCH, grid_patches


class PatchDetector:
    """Base class: subclasses set name/version and implement _load() and patch_logits(patches)."""

    name = "image-patch"
    version = "0"
    kind = "image"
    grid = GRID
    patch = PATCH

    def __init__(self, device: str | None = None) -> None:
        self.device = device
        self.calibrator: Any = None
        self._loaded = False

    def _load(self) -> None:
        """Load weights and calibrator (lazily, on first use)."""
        raise NotImplementedError

    def _ready(self) -> None:
        """Make sure weights are loaded."""
        if not self._loaded:
            self._load()
            self._loaded = True

    def patch_logits(self, patches: np.ndarray) -> np.ndarray:
        """Raw logits (N,) for uint8 patches (N, p, p, 3)."""
        raise NotImplementedError

    def raw(self, pixels: np.ndarray) -> tuple[float, np.ndarray, list[tuple[int, int, int, int]]]:
        """Pooled raw logit (mean over the grid), the patch logits and their cells, for uint8 RGB pixels."""
        self._ready()
        patches, cells = grid_patches(pixels, patch=self.patch, grid=self.grid)
        logits = np.asarray(self.patch_logits(patches), dtype=np.float64)
        return float(logits.mean()), logits, cells

    def score(self, media: Any) -> DetectorResult:
        """Calibrated P(synthetic) for an image (array, PIL image, bytes or path), with a heat map of patch scores."""
        from detectors.inputs import as_rgb

        pixels = as_rgb(media, min_side=self.patch)
        pooled, logits, cells = self.raw(pixels)
        probs = self.calibrator(logits)
        regions = [{"x": x, "y": y, "w": w, "h": h, "score": float(p)} for (x, y, w, h), p in zip(cells, probs)]
        return DetectorResult(
            score=float(self.calibrator(pooled)), model=self.name, version=self.version, regions=regions, raw=pooled
        )

    def score_many(self, media: list[Any]) -> list[DetectorResult]:
        """Score several images one after the other."""
        return [self.score(m) for m in media]
