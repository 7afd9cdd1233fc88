"""The frequency CNN: standardise per-channel log-DCT patches, then a small timm backbone with one logit."""

from __future__ import annotations

from typing import Any

from detectors.image.features import PATCH

#: Backbone chosen by measurement (see the model card): timm name.
DEFAULT_ARCH = "test_convnext"
IN_CHANS = 3


def build_network(arch: str = DEFAULT_ARCH, *, patch: int = PATCH) -> Any:
    """A FrequencyNet (torch.nn.Module): log-DCT (N, 3, p, p) -> logit (N,)."""
    import timm
    import torch
    from torch import nn

    class FrequencyNet(nn.Module):
        """Per-coefficient standardisation (buffers fitted on training patches) and a timm backbone."""

        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("mean", torch.zeros(1, IN_CHANS, patch, patch))
            self.register_buffer("std", torch.ones(1, IN_CHANS, patch, patch))
            self.backbone = timm.create_model(arch, in_chans=IN_CHANS, num_classes=1, pretrained=False)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            """Logits (N,) for log-DCT patches (N, 3, p, p)."""
            return self.backbone((x - self.mean) / self.std).squeeze(1)

    return FrequencyNet()
