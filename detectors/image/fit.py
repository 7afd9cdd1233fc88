"""Training loops: the frequency CNN (AdamW, cosine schedule, fixed step count) and the logistic-regression baselines."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from detectors.image.features import log_dct
from detectors.image.sampling import PatchSampler

Progress = Callable[[str], None] | None


@dataclass
class CnnFit:
    """A trained network and how its training went."""

    model: Any
    arch: str
    steps: int
    seconds: float
    stopped_early: bool
    final_loss: float


def _seed_torch(seed: int) -> None:
    """Seed torch and force deterministic kernels."""
    import torch

    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


def fit_normaliser(model: Any, sampler: PatchSampler, n: int = 2048) -> None:
    """Set the network's per-coefficient mean/std from n training patches."""
    import torch

    x, _ = sampler.batch(n)
    feats = log_dct(x)
    model.mean.copy_(torch.from_numpy(feats.mean(axis=0, keepdims=True)))
    model.std.copy_(torch.from_numpy(feats.std(axis=0, keepdims=True) + 1e-3))


def fit_cnn(sampler: PatchSampler, *, arch: str, steps: int, seed: int, batch: int = 64, lr: float = 2e-3,
            max_seconds: float | None = None, device: str = "cpu", norm_patches: int = 2048,
            progress: Progress = None) -> CnnFit:
    """Train a FrequencyNet for `steps` steps (or until max_seconds); deterministic for a seed on one device."""
    import torch

    from detectors.image.network import build_network

    _seed_torch(seed)
    model = build_network(arch)
    fit_normaliser(model, sampler, norm_patches)
    model.to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    start, ema, done = time.perf_counter(), None, 0
    for step in range(steps):
        for group in opt.param_groups:
            warm = min(1.0, (step + 1) / 100)
            group["lr"] = lr * warm * 0.5 * (1 + math.cos(math.pi * step / steps))
        x, y = sampler.batch(batch)
        xb = torch.from_numpy(log_dct(x)).to(device)
        yb = torch.from_numpy(y).to(device)
        loss = loss_fn(model(xb), yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        done = step + 1
        value = loss.item()
        ema = value if ema is None else 0.98 * ema + 0.02 * value
        elapsed = time.perf_counter() - start
        if progress and (done % 100 == 0 or done == steps):
            progress(f"cnn {arch}: step {done}/{steps} loss {ema:.4f} ({elapsed:.0f} s)")
        if max_seconds is not None and elapsed > max_seconds:
            break
    model.eval()
    return CnnFit(model, arch, done, time.perf_counter() - start, done < steps, float(ema or 0.0))


def fit_logreg(features: np.ndarray, labels: np.ndarray, *, c: float = 0.1, seed: int = 0) -> dict[str, np.ndarray]:
    """Standardise and fit an L2 logistic regression; return mean, scale, coef, intercept as arrays."""
    from sklearn.linear_model import LogisticRegression

    mean = features.mean(axis=0)
    scale = features.std(axis=0) + 1e-6
    z = (features - mean) / scale
    clf = LogisticRegression(C=c, max_iter=500, random_state=seed).fit(z, labels)
    return {"mean": mean.astype(np.float32), "scale": scale.astype(np.float32),
            "coef": clf.coef_[0].astype(np.float32), "intercept": np.array([clf.intercept_[0]], dtype=np.float32)}


def patch_features(sampler: PatchSampler, n: int, featurize: Callable[[np.ndarray], np.ndarray],
                   chunk: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """n augmented training patches turned into features, with labels."""
    xs, ys = [], []
    for _ in range(math.ceil(n / chunk)):
        x, y = sampler.batch(chunk)
        xs.append(featurize(x))
        ys.append(y)
    return np.concatenate(xs)[:n], np.concatenate(ys)[:n].astype(np.int64)
