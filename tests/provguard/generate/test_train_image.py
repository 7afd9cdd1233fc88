"""Tests for provguard.generate.train_image: a few-step smoke run writes loadable weights, cards and a log."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from provguard.generate import train_image

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "corpus"


def _photos(names: list[str]) -> list[train_image.Photo]:
    return train_image.load_photos([FIXTURES / n for n in names], max_side=192, sources=[("skimage", "CC0-1.0")] * len(names))


def test_patch_sampler_is_seeded_and_flips() -> None:
    photo = np.arange(80 * 90 * 3, dtype=np.uint32).reshape(80, 90, 3).astype(np.uint8)
    a = train_image.PatchSampler([photo], 16, seed=1).batch(6)
    b = train_image.PatchSampler([photo], 16, seed=1).batch(6)
    assert a.shape == (6, 16, 16, 3) and np.array_equal(a, b)
    assert not np.array_equal(a, train_image.PatchSampler([photo], 16, seed=2).batch(6))


def test_psnr_and_centre_crop() -> None:
    img = np.full((100, 130, 3), 100, np.uint8)
    assert train_image.psnr(img, img) == 99.0
    assert abs(train_image.psnr(img, img + 1) - 48.13) < 0.01
    assert train_image.center_crop(img, 64).shape == (64, 64, 3)
    assert train_image.center_crop(img, 512).shape == (96, 128, 3)


@pytest.mark.slow
def test_smoke_training_writes_weights_cards_and_is_seeded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    train, test = _photos(["astronaut.jpg", "coffee.jpg", "rocket.jpg"]), _photos(["chelsea.jpg"])
    runs = []
    for name in ("a", "b"):
        info = train_image.train_image_models(seed=3, minutes=0.01, out_dir=tmp_path / name, threads=1, train_photos=train,
                                              test_photos=test, ae_steps=2, dit_steps=2)
        runs.append(info)
        for file in ("autoencoder.pt", "dit.pt", "autoencoder.md", "dit.md", "image_training.json"):
            assert (tmp_path / name / file).exists()
    assert runs[0]["ae_steps"] == 2 and runs[0]["n_train"] == 3 and runs[0]["n_test"] == 1
    card = (tmp_path / "a" / "autoencoder.md").read_text()
    assert "train split only" in card and "test split" in card and "provguard generate train image --seed 3" in card
    assert json.loads((tmp_path / "a" / "image_training.json").read_text())["psnr"]["n"] == 1
    # Same seed, same weights.
    a = torch.load(tmp_path / "a" / "dit.pt", weights_only=True)
    b = torch.load(tmp_path / "b" / "dit.pt", weights_only=True)
    assert all(torch.equal(a[k], b[k]) for k in a if torch.is_tensor(a[k]))
    # The written weights load through the normal path and generate.
    monkeypatch.setenv("PROVGUARD_GENERATOR_WEIGHTS", str(tmp_path / "a"))
    from provguard.generate import image

    image.clear_model_cache()
    try:
        [sample] = image.sample_images(1, size=64, seed=0, steps=2)
        assert sample.shape == (64, 64, 3)
    finally:
        image.clear_model_cache()
