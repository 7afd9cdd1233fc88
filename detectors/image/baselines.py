"""Classical baselines in scikit-learn terms: log-DCT + logistic regression (Frank et al. 2020) and the azimuthal
power spectrum + logistic regression (Durall et al. 2020), both scored per patch and mean-pooled like the CNN."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from detectors.image.base import PatchDetector
from detectors.image.features import azimuthal_spectrum, luma_log_dct


class LinearPatchDetector(PatchDetector):
    """A standardised linear model on a per-patch feature; parameters and calibrator live in one JSON file."""

    weights_file = ""
    featurize: Callable[[np.ndarray], np.ndarray] = staticmethod(luma_log_dct)

    def __init__(self, device: str | None = None) -> None:
        super().__init__(device)
        self.params: dict[str, np.ndarray] = {}

    @classmethod
    def from_parts(cls, params: dict[str, np.ndarray], calibrator: Any) -> LinearPatchDetector:
        """A detector around fitted parameters (used while training)."""
        det = cls()
        det.params, det.calibrator = params, calibrator
        det._loaded = True
        return det

    def _load(self) -> None:
        """Read the shipped coefficients and calibrator."""
        from detectors.calibration import Calibrator
        from detectors.weights import load_json

        data = load_json(self.weights_file)
        self.params = {k: np.asarray(data[k], dtype=np.float32) for k in ("mean", "scale", "coef", "intercept")}
        self.version = str(data.get("version", self.version))
        self.grid, self.patch = int(data.get("grid", self.grid)), int(data.get("patch", self.patch))
        self.calibrator = Calibrator.from_dict(data["calibration"])

    def patch_logits(self, patches: np.ndarray) -> np.ndarray:
        """Linear logits of the standardised features."""
        p = self.params
        z = (type(self).featurize(patches) - p["mean"]) / p["scale"]
        return z @ p["coef"] + p["intercept"][0]

    def to_json(self) -> dict[str, Any]:
        """JSON-ready parameters and calibrator."""
        out: dict[str, Any] = {k: [float(v) for v in np.ravel(a)] for k, a in self.params.items()}
        out.update(version=self.version, calibration=self.calibrator.to_dict(), patch=self.patch, grid=self.grid)
        return out


class DctLogRegDetector(LinearPatchDetector):
    """Frank et al. 2020: log-|DCT| of the luma of each 64-px patch, logistic regression."""

    name = "image-dct-logreg"
    version = "1.0"
    weights_file = "image-dct-logreg.json"
    featurize = staticmethod(luma_log_dct)


class SpectrumDetector(LinearPatchDetector):
    """Durall et al. 2020: azimuthally averaged log power spectrum of each patch, logistic regression."""

    name = "image-spectrum"
    version = "1.0"
    weights_file = "image-spectrum.json"
    featurize = staticmethod(azimuthal_spectrum)
