"""FrequencyCNNDetector: a small timm CNN on per-channel log-DCT patches, mean-pooled, Platt-calibrated."""

from __future__ import annotations

from typing import Any

import numpy as np

from detectors.image.base import PatchDetector
from detectors.image.features import log_dct

WEIGHTS = "image-frequency.pt"
META = "image-frequency.json"


class FrequencyCNNDetector(PatchDetector):
    """Frequency-artifact CNN: P(synthetic) for an image and a heat map of patch scores."""

    name = "image-frequency"
    version = "1.0"

    def __init__(self, device: str | None = None) -> None:
        super().__init__(device)
        self.model: Any = None

    @classmethod
    def from_parts(cls, model: Any, calibrator: Any, device: str = "cpu") -> FrequencyCNNDetector:
        """A detector around an in-memory network and calibrator (used while training)."""
        det = cls(device=device)
        det.model, det.calibrator = model.eval(), calibrator
        det._loaded = True
        return det

    def _load(self) -> None:
        """Build the network named in the sidecar and load the shipped float16 weights."""
        from detectors.calibration import Calibrator
        from detectors.device import default_device
        from detectors.image.network import build_network
        from detectors.weights import load_json, load_torch_state

        meta = load_json(META)
        self.device = self.device or default_device()
        model = build_network(meta["arch"], patch=int(meta["patch"]))
        model.load_state_dict(load_torch_state(WEIGHTS))
        self.model = model.to(self.device).eval()
        self.version = str(meta.get("version", self.version))
        self.grid, self.patch = int(meta.get("grid", self.grid)), int(meta["patch"])
        self.calibrator = Calibrator.from_dict(meta["calibration"])

    def patch_logits(self, patches: np.ndarray) -> np.ndarray:
        """Network logits for uint8 patches, in one batch."""
        import torch

        with torch.inference_mode():
            x = torch.from_numpy(log_dct(patches)).to(self.device or "cpu")
            return self.model(x).float().cpu().numpy()
