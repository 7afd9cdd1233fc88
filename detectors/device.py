"""Pick the torch device detectors run on: a GPU when one is present, else the CPU."""

from __future__ import annotations

import os

DEVICE_ENV = "PROVGUARD_DEVICE"


def default_device() -> str:
    """Return $PROVGUARD_DEVICE, else "cuda" when torch sees a GPU, else "cpu"."""
    override = os.environ.get(DEVICE_ENV, "").strip()
    if override:
        return override
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
