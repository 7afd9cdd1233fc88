"""Tiny training runs on real fixture photos: the same seed gives the same weights, a different seed does not."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("timm")
pytest.importorskip("sklearn")

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "photos"


def _sampler(seed: int):
    """Real fixture photos against blurred-and-upscaled copies of them (a cheap stand-in fake), augmented."""
    from PIL import Image

    from detectors.image.augment import resize
    from detectors.image.sampling import PatchSampler

    reals = []
    for name in ("astronaut.jpg", "coffee.jpg"):
        with Image.open(FIXTURES / name) as im:
            reals.append(np.asarray(im.convert("RGB"))[:256, :256])
    fakes = [resize(resize(px, 0.5, "bilinear"), 2.0, "bilinear") for px in reals]
    return PatchSampler(reals + fakes, [0, 0, 1, 1], ["real", "real", "up", "up"], seed=seed)


def _cnn_state(seed: int) -> dict:
    import torch

    from detectors.image.fit import fit_cnn

    torch.set_num_threads(1)
    fit = fit_cnn(_sampler(seed), arch="mobilenetv3_small_050", steps=3, seed=seed, batch=16, norm_patches=64)
    assert fit.steps == 3 and np.isfinite(fit.final_loss)
    return {k: v.clone() for k, v in fit.model.state_dict().items()}


def test_cnn_training_is_deterministic_for_a_seed() -> None:
    import torch

    a, b, c = _cnn_state(0), _cnn_state(0), _cnn_state(1)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a if a[k].is_floating_point())


def test_baseline_fit_is_deterministic_for_a_seed() -> None:
    from detectors.image.features import azimuthal_spectrum, luma_log_dct
    from detectors.image.fit import fit_logreg, patch_features

    for featurize in (luma_log_dct, azimuthal_spectrum):
        runs = [fit_logreg(*patch_features(_sampler(5), 128, featurize, chunk=64), seed=5) for _ in range(2)]
        for key in ("mean", "scale", "coef", "intercept"):
            assert np.array_equal(runs[0][key], runs[1][key])
