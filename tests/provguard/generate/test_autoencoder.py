"""Tests for provguard.generate.autoencoder: tiling, shapes, weight round trips, the shipped model's fidelity."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from provguard.generate import autoencoder as ae
from provguard.generate.weights_io import MissingWeightsError, load_weights, save_weights

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "corpus"


def _photo() -> np.ndarray:
    """A real photo from the fixture corpus, cropped to 256x256 RGB."""
    from PIL import Image

    return np.asarray(Image.open(FIXTURES / "astronaut.jpg").convert("RGB"))[:256, 64:320]


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * np.log10(255.0**2 / max(mse, 1e-12))


@pytest.mark.parametrize(("h", "w", "tile", "overlap"), [(50, 70, 16, 4), (64, 64, 64, 8), (33, 97, 20, 6)])
def test_tiling_an_identity_returns_the_input(h: int, w: int, tile: int, overlap: int) -> None:
    x = torch.randn(1, 3, h, w, generator=torch.Generator().manual_seed(1))
    y = ae.run_tiled(x, lambda t: t, tile=tile, overlap=overlap, scale=1)
    assert torch.allclose(x, y, atol=1e-5)


def test_tiling_an_upsampler_matches_running_it_whole() -> None:
    x = torch.randn(1, 4, 13, 21, generator=torch.Generator().manual_seed(2))
    up = lambda t: torch.nn.functional.interpolate(t, scale_factor=8, mode="nearest")
    assert torch.allclose(ae.run_tiled(x, up, tile=6, overlap=2, scale=8), up(x), atol=1e-5)


def test_tiles_cover_the_whole_extent() -> None:
    for size in (8, 64, 257, 1000):
        starts = ae._starts(size, 64, 16, 8)
        assert starts[0] == 0 and min(starts[-1] + 64, size) >= size - (size % 8)
        assert all(b - a <= 64 - 16 for a, b in itertools.pairwise(starts))


@pytest.mark.parametrize(("h", "w"), [(64, 64), (70, 93)])
def test_random_model_keeps_the_image_size(h: int, w: int) -> None:
    torch.manual_seed(0)
    model = ae.Autoencoder().eval()
    pixels = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
    z = ae.encode_image(model, pixels, tile=64, overlap=16)
    assert z.shape == (1, 4, -(-h // 8), -(-w // 8))
    out = ae.reconstruct_array(model, pixels, tile=64, overlap=16)
    assert out.shape == pixels.shape and out.dtype == np.uint8


def test_decoder_upsamples_with_learned_transposed_convolutions() -> None:
    model = ae.Autoencoder()
    ups = [m for m in model.decoder if isinstance(m, torch.nn.ConvTranspose2d)]
    assert [m.stride for m in ups] == [(2, 2)] * 3


def test_weights_round_trip_as_float16(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    torch.manual_seed(3)
    model = ae.Autoencoder().eval()
    model.latent_scale.fill_(0.5)
    path = save_weights(ae.state_for_saving(model), "autoencoder", tmp_path)
    monkeypatch.setenv("PROVGUARD_GENERATOR_WEIGHTS", str(tmp_path))
    raw = torch.load(path, weights_only=True)
    assert raw["encoder.0.weight"].dtype == torch.float16
    loaded = ae.from_state(load_weights("autoencoder"))
    assert float(loaded.latent_scale) == 0.5
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        assert torch.allclose(loaded.decode(loaded.encode(x)[0]), model.decode(model.encode(x)[0]), atol=2e-2)


def test_missing_weights_name_the_train_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROVGUARD_GENERATOR_WEIGHTS", str(tmp_path))
    with pytest.raises(MissingWeightsError, match="provguard generate train image"):
        ae.load_autoencoder()


def test_damaged_weights_are_a_clean_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "autoencoder.pt").write_bytes(b"not a torch file")
    monkeypatch.setenv("PROVGUARD_GENERATOR_WEIGHTS", str(tmp_path))
    with pytest.raises(MissingWeightsError):
        ae.load_autoencoder()


def test_shipped_model_reconstructs_a_photo_closely_but_not_exactly() -> None:
    model = ae.load_autoencoder()
    photo = _photo()
    recon = ae.reconstruct_array(model, photo)
    value = _psnr(photo, recon)
    assert 20.0 < value < 60.0
    # An untrained decoder of the same shape is far worse: the shipped weights carry the learning.
    torch.manual_seed(0)
    assert _psnr(photo, ae.reconstruct_array(ae.Autoencoder().eval(), photo)) < value - 5


def test_tiled_reconstruction_blends_without_visible_seams() -> None:
    model = ae.load_autoencoder()
    photo = _photo()
    whole = ae.reconstruct_array(model, photo, tile=512, overlap=32)
    tiled = ae.reconstruct_array(model, photo, tile=128, overlap=32)
    assert _psnr(whole, tiled) > 30.0
    assert _psnr(photo, tiled) > _psnr(photo, whole) - 1.0
