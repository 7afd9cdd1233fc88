"""LFCC-LCNN spoof detector: a light CNN with max-feature-map activations over 1 s LFCC windows."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from detectors import DetectorResult
from detectors.audio import scoring
from detectors.audio.features import DIM

WEIGHTS = "audio-lcnn.pt"
SIDECAR = "audio-lcnn.json"
#: Windows per forward pass at inference.
BATCH = 256


class MaxFeatureMap(nn.Module):
    """Max-feature-map: split the channels in two halves and keep the element-wise maximum."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = x.chunk(2, dim=1)
        return torch.maximum(a, b)


def _mfm_conv(cin: int, cout: int, k: int, stride: int = 1) -> nn.Sequential:
    """Conv producing 2*cout channels followed by MFM (cout channels)."""
    conv = nn.Conv2d(cin, 2 * cout, k, stride=stride, padding=k // 2, bias=False)
    return nn.Sequential(conv, nn.BatchNorm2d(2 * cout), MaxFeatureMap())


class LCNN(nn.Module):
    """A compact LCNN (Lavrentyeva et al. 2019 shape, narrower) over (batch, frames, dim) features -> logits."""

    def __init__(self, dim: int = DIM, width: int = 16) -> None:
        super().__init__()
        w = width
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))
        self.body = nn.Sequential(
            _mfm_conv(1, w, 5, stride=2), nn.MaxPool2d(2),
            _mfm_conv(w, w, 1), _mfm_conv(w, 2 * w, 3), nn.MaxPool2d(2),
            _mfm_conv(2 * w, 2 * w, 1), _mfm_conv(2 * w, 3 * w, 3), nn.MaxPool2d(2),
            _mfm_conv(3 * w, 3 * w, 1), _mfm_conv(3 * w, 2 * w, 3),
            _mfm_conv(2 * w, 2 * w, 1), _mfm_conv(2 * w, 2 * w, 3),
        )
        self.head = nn.Sequential(nn.Linear(4 * w, 2 * w), nn.Dropout(0.3), nn.Linear(2 * w, 1))

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        """Logits (batch,) for feature windows (batch, frames, dim)."""
        x = ((feats - self.mean) / self.std).transpose(1, 2).unsqueeze(1)  # (b, 1, dim, frames)
        x = self.body(x)
        pooled = torch.cat([x.mean(dim=(2, 3)), x.amax(dim=(2, 3))], dim=1)
        return self.head(pooled).squeeze(1)


def window_logits(net: LCNN, wins: np.ndarray, device: str = "cpu") -> np.ndarray:
    """Raw logits of a stack of feature windows, in batches."""
    out = []
    with torch.inference_mode():
        for i in range(0, wins.shape[0], BATCH):
            out.append(net(torch.from_numpy(np.ascontiguousarray(wins[i:i + BATCH])).to(device)).float().cpu().numpy())
    return np.concatenate(out).astype(np.float64)


def utterance_raw(logits: np.ndarray) -> float:
    """Utterance raw score: the mean window logit."""
    return float(np.mean(logits))


class LcnnDetector:
    """Calibrated P(synthetic) of speech from the LFCC-LCNN, with per-second segment scores."""

    name = "audio-lcnn"
    version = "1.0"
    kind = "audio"

    def __init__(
        self, device: str | None = None, *, net: LCNN | None = None, calibrator: Any = None, frontend: str = "lfcc"
    ) -> None:
        from detectors.device import default_device

        self.device = device or default_device()
        self._net = net
        self._cal = calibrator
        self.frontend = frontend

    def _load(self) -> tuple[LCNN, Any]:
        """Build the network and calibrator from the shipped weights (once)."""
        if self._net is None or self._cal is None:
            from detectors.audio.features import FRONTENDS
            from detectors.calibration import Calibrator
            from detectors.weights import load_json, load_torch_state

            meta = load_json(SIDECAR)
            self.frontend = str(meta.get("frontend", "lfcc"))
            net = LCNN(dim=FRONTENDS[self.frontend][1], width=int(meta.get("width", 16)))
            net.load_state_dict(load_torch_state(WEIGHTS))
            self._net = net.eval().to(self.device)
            self._cal = Calibrator.from_dict(meta["calibration"])
            self.version = str(meta.get("version", self.version))
        return self._net, self._cal

    def raw_features(self, feat: np.ndarray) -> tuple[float, np.ndarray, list[tuple[int, int]]]:
        """Utterance raw score, window logits and window bounds of an LFCC matrix."""
        net, _ = self._load()
        wins, bounds = scoring.windows(feat)
        logits = window_logits(net, wins, self.device)
        return utterance_raw(logits), logits, bounds

    def score(self, media: Any) -> DetectorResult:
        """Score speech: (samples, rate), bytes or a path."""
        samples = scoring.load_audio(media)
        cal = self._load()[1]
        utt, logits, bounds = self.raw_features(scoring.features(samples, self.frontend))
        return DetectorResult(
            score=float(cal([utt])[0]), model=self.name, version=self.version,
            regions=scoring.regions(bounds, cal(logits), samples.shape[0]), raw=float(utt),
        )

    def score_many(self, media: list[Any]) -> list[DetectorResult]:
        """Score several items one by one."""
        return [self.score(m) for m in media]
