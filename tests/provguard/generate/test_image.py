"""Tests for provguard.generate.image: sampling, reconstruction, files, signing and bad inputs (shipped weights)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from provguard.errors import (
    CorruptMediaError,
    InputError,
    MediaTooLargeError,
    OutputExistsError,
    ProvguardError,
    UnsupportedMediaError,
)
from provguard.generate import image

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "corpus"
PHOTO = FIXTURES / "astronaut.jpg"


@pytest.fixture(scope="module")
def square(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 256x256 real photo (a crop of the fixture), the cheapest source a signed output accepts."""
    from PIL import Image

    path = tmp_path_factory.mktemp("src") / "square.png"
    Image.open(PHOTO).convert("RGB").crop((64, 0, 320, 256)).save(path)
    return path


def _decode(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"))


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * np.log10(255.0**2 / max(mse, 1e-12))


def test_samples_are_seeded_and_sized() -> None:
    a = image.sample_images(2, size=64, seed=5, steps=3)
    b = image.sample_images(1, size=64, seed=5, steps=3)
    c = image.sample_images(1, size=64, seed=6, steps=3)
    assert a[0].shape == (64, 64, 3) and a[0].dtype == np.uint8
    assert np.array_equal(a[0], b[0])
    assert not np.array_equal(a[0], a[1]) and not np.array_equal(a[0], c[0])
    assert a[0].std() > 2.0  # not a flat image


def test_samples_at_256_pixels_are_not_noise() -> None:
    [pixels] = image.sample_images(1, size=256, seed=0, steps=6)
    assert pixels.shape == (256, 256, 3)
    # Natural-image statistics: neighbouring pixels correlate far more than in white noise.
    x = pixels.astype(np.float64).mean(axis=2)
    corr = np.corrcoef(x[:, :-1].ravel(), x[:, 1:].ravel())[0, 1]
    assert corr > 0.5


def test_reconstruction_is_aligned_seeded_and_imperfect(square: Path) -> None:
    real = _decode(square)
    a = image.reconstruct_image(square, seed=1)
    assert a.shape == real.shape
    assert np.array_equal(a, image.reconstruct_image(square.read_bytes(), seed=1))
    assert 20.0 < _psnr(real, a) < 60.0
    assert not np.array_equal(a, real)


def test_generate_without_signing_is_byte_deterministic(tmp_path: Path) -> None:
    [first] = image.generate_image(tmp_path / "a.png", size=64, seed=3, steps=3, no_sign=True)
    [second] = image.generate_image(tmp_path / "b.png", size=64, seed=3, steps=3, no_sign=True)
    assert first.read_bytes() == second.read_bytes()
    assert first.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert _decode(first).shape == (64, 64, 3)


def test_several_images_go_into_a_directory(tmp_path: Path) -> None:
    paths = image.generate_image(tmp_path / "out", n=2, size=64, seed=0, steps=2, no_sign=True, fmt="jpeg")
    assert [p.name for p in paths] == ["sample-0000.jpg", "sample-0001.jpg"]
    assert all(p.read_bytes()[:3] == b"\xff\xd8\xff" for p in paths)
    assert paths[0].read_bytes() != paths[1].read_bytes()
    with pytest.raises(OutputExistsError):
        image.generate_image(tmp_path / "out", n=2, size=64, seed=0, steps=2, no_sign=True, fmt="jpeg")


def test_signed_sample_verifies_as_ai_generated(tmp_path: Path, dev_credentials) -> None:
    from provguard.report import TRUSTED
    from provguard.verify import verify

    [path] = image.generate_image(tmp_path / "fake.png", size=256, seed=0, steps=4)
    report = verify(path, detect=False)
    assert report.errors == []
    assert report.provenance.state == TRUSTED
    assert report.provenance.digital_source_type and report.provenance.digital_source_type.endswith("trainedAlgorithmicMedia")
    assert f"{image.DIT_MODEL_NAME}" in str(report.provenance.software_agent or report.provenance.actions)
    assert report.watermark is not None and report.watermark.detected


def test_signed_reconstruction_names_the_autoencoder(tmp_path: Path, square: Path, dev_credentials) -> None:
    from provguard.verify import verify

    [path] = image.generate_image(tmp_path / "recon.jpg", source=square, seed=0, fmt="jpeg")
    report = verify(path)
    assert report.errors == [] and report.provenance.state != "absent"
    assert image.AE_MODEL_NAME in str(report.provenance.software_agent or report.provenance.actions)
    assert _decode(path).shape == (256, 256, 3)


def test_bad_sources_are_clean_errors(tmp_path: Path) -> None:
    from PIL import Image

    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(PHOTO.read_bytes()[:300])
    tiny = tmp_path / "tiny.png"
    Image.fromarray(np.zeros((32, 40, 3), np.uint8)).save(tiny)
    small = tmp_path / "small.png"
    Image.fromarray(np.full((128, 160, 3), 90, np.uint8)).save(small)
    wav = tmp_path / "a.wav"
    import soundfile as sf

    sf.write(wav, np.zeros(800, np.float32), 8000)
    with pytest.raises(CorruptMediaError):
        image.reconstruct_image(corrupt)
    with pytest.raises(InputError, match="at least 64 px"):
        image.reconstruct_image(tiny)
    with pytest.raises(UnsupportedMediaError):
        image.reconstruct_image(wav)
    with pytest.raises(MediaTooLargeError):
        image.reconstruct_image(PHOTO, max_pixels=10_000)
    with pytest.raises(InputError, match="watermark"):
        image.generate_image(tmp_path / "o.png", source=small)
    with pytest.raises(InputError):
        image.generate_image(tmp_path / "o.png", source=tmp_path / "missing.png")
    assert not (tmp_path / "o.png").exists()
    # Unsigned output accepts a small source.
    [out] = image.generate_image(tmp_path / "o.png", source=small, no_sign=True)
    assert _decode(out).shape == (128, 160, 3)


@pytest.mark.parametrize("kwargs", [{"size": 100}, {"size": 2048}, {"n": 0}, {"fmt": "gif"}, {"steps": 0}])
def test_bad_options_are_refused(tmp_path: Path, kwargs: dict) -> None:
    with pytest.raises(ProvguardError):
        image.generate_image(tmp_path / "x.png", no_sign=True, **kwargs)


def test_existing_output_needs_force(tmp_path: Path) -> None:
    out = tmp_path / "x.png"
    out.write_bytes(b"keep")
    with pytest.raises(OutputExistsError):
        image.generate_image(out, size=64, steps=2, no_sign=True)
    assert out.read_bytes() == b"keep"
    image.generate_image(out, size=64, steps=2, no_sign=True, force=True)
    assert io.BytesIO(out.read_bytes()).read(4) == b"\x89PNG"
