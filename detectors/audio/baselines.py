"""LFCC-GMM baseline (ASVspoof style): one diagonal Gaussian mixture per class, frame log-likelihood ratio."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from detectors import DetectorResult
from detectors.audio import scoring

SIDECAR = "audio-lfcc-gmm.json"
COMPONENTS = 32
#: Frames per class the mixtures are fitted on (a seeded subsample of the training frames).
MAX_FRAMES = 40_000


@dataclass(frozen=True)
class DiagGmm:
    """A diagonal-covariance Gaussian mixture in closed form (no scikit-learn needed to score)."""

    weights: np.ndarray  # (k,)
    means: np.ndarray  # (k, d)
    variances: np.ndarray  # (k, d)

    def log_likelihood(self, x: np.ndarray) -> np.ndarray:
        """Per-frame log-likelihood (n,)."""
        x = np.asarray(x, dtype=np.float64)
        prec = 1.0 / self.variances
        const = np.log(self.weights) - 0.5 * (np.log(2 * np.pi * self.variances).sum(axis=1) + (self.means**2 * prec).sum(axis=1))
        logp = const[None, :] - 0.5 * ((x**2) @ prec.T) + x @ (self.means * prec).T
        top = logp.max(axis=1, keepdims=True)
        return (top[:, 0] + np.log(np.exp(logp - top).sum(axis=1))).astype(np.float64)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (float32 precision)."""
        return {k: np.asarray(getattr(self, k), dtype=np.float32).round(6).tolist() for k in ("weights", "means", "variances")}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DiagGmm:
        """Read the form written by to_dict."""
        return cls(*(np.asarray(d[k], dtype=np.float64) for k in ("weights", "means", "variances")))


def fit_gmm(frames: np.ndarray, seed: int, components: int = COMPONENTS) -> DiagGmm:
    """Fit a diagonal GMM with scikit-learn (k-means init, seeded)."""
    from sklearn.mixture import GaussianMixture

    gm = GaussianMixture(components, covariance_type="diag", max_iter=100, reg_covar=1e-3, random_state=seed)
    gm.fit(np.asarray(frames, dtype=np.float64))
    return DiagGmm(gm.weights_, gm.means_, gm.covariances_)


def subsample_frames(feats: list[np.ndarray], limit: int, rng: np.random.Generator) -> np.ndarray:
    """Up to `limit` frames drawn uniformly from a list of feature matrices."""
    frames = np.concatenate(feats)
    if frames.shape[0] > limit:
        frames = frames[np.sort(rng.choice(frames.shape[0], limit, replace=False))]
    return frames


@dataclass(frozen=True)
class GmmPair:
    """The real and fake mixtures: raw score = mean frame log-likelihood ratio (fake minus real)."""

    real: DiagGmm
    fake: DiagGmm

    def frame_llr(self, feat: np.ndarray) -> np.ndarray:
        """Per-frame LLR."""
        return self.fake.log_likelihood(feat) - self.real.log_likelihood(feat)

    def raw(self, feat: np.ndarray) -> tuple[float, np.ndarray, list[tuple[int, int]]]:
        """Utterance raw score, per-window raw scores and window bounds."""
        llr = self.frame_llr(feat)
        bounds = scoring.window_bounds(feat.shape[0])
        return float(llr.mean()), np.array([llr[s:e].mean() for s, e in bounds]), bounds


def train_gmm_pair(
    real_feats: list[np.ndarray], fake_feats: list[np.ndarray], seed: int, components: int = COMPONENTS
) -> GmmPair:
    """Fit both mixtures on seeded frame subsamples."""
    rng = np.random.default_rng(seed)
    real = fit_gmm(subsample_frames(real_feats, MAX_FRAMES, rng), seed, components)
    fake = fit_gmm(subsample_frames(fake_feats, MAX_FRAMES, rng), seed, components)
    return GmmPair(real, fake)


class LfccGmmDetector:
    """Calibrated P(synthetic) from the LFCC-GMM baseline, with per-second segment scores."""

    name = "audio-lfcc-gmm"
    version = "1.0"
    kind = "audio"

    def __init__(self, device: str | None = None, *, pair: GmmPair | None = None, calibrator: Any = None) -> None:
        self.device = device or "cpu"  # numpy only
        self._pair = pair
        self._cal = calibrator

    def _load(self) -> tuple[GmmPair, Any]:
        """Read the mixtures and calibrator from the shipped JSON (once)."""
        if self._pair is None or self._cal is None:
            from detectors.calibration import Calibrator
            from detectors.weights import load_json

            meta = load_json(SIDECAR)
            self._pair = GmmPair(DiagGmm.from_dict(meta["real"]), DiagGmm.from_dict(meta["fake"]))
            self._cal = Calibrator.from_dict(meta["calibration"])
            self.version = str(meta.get("version", self.version))
        return self._pair, self._cal

    def raw_features(self, feat: np.ndarray) -> tuple[float, np.ndarray, list[tuple[int, int]]]:
        """Utterance raw score, window raw scores and bounds of an LFCC matrix."""
        return self._load()[0].raw(feat)

    def score(self, media: Any) -> DetectorResult:
        """Score speech: (samples, rate), bytes or a path."""
        samples = scoring.load_audio(media)
        utt, wins, bounds = self.raw_features(scoring.features(samples))
        cal = self._load()[1]
        return DetectorResult(
            score=float(cal([utt])[0]), model=self.name, version=self.version,
            regions=scoring.regions(bounds, cal(wins), samples.shape[0]), raw=float(utt),
        )

    def score_many(self, media: list[Any]) -> list[DetectorResult]:
        """Score several items one by one."""
        return [self.score(m) for m in media]
