"""The shipped image detectors on real fixture photos: loading, determinism, calibration, heat maps, bad input,
and a real photo against its autoencoder reconstruction."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest

import detectors
from provguard.errors import ProvguardError

pytest.importorskip("torch")
pytest.importorskip("timm")
pytest.importorskip("sklearn")

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "photos"
NAMES = ("image-frequency", "image-dct-logreg", "image-spectrum")
#: camera.jpg and chelsea.jpg come from corpus photos in the test and validation splits: never trained on.
HELD_OUT = ("camera.jpg", "chelsea.jpg")


@functools.cache
def _detector(name: str):
    return detectors.load(name)


@functools.cache
def _photo(name: str) -> np.ndarray:
    from PIL import Image

    with Image.open(FIXTURES / name) as im:
        return np.asarray(im.convert("RGB"))


@functools.cache
def _reconstruction(name: str) -> np.ndarray:
    """The fixture passed through the reference autoencoder (an aligned fake), made here."""
    from provguard.generate.image import reconstruct_image

    return reconstruct_image(FIXTURES / name, seed=0)


@pytest.mark.parametrize("name", NAMES)
def test_loads_by_name_and_scores_a_real_photo(name: str) -> None:
    det = _detector(name)
    assert det.name == name and det.kind == "image" and det.version
    result = det.score(FIXTURES / "coffee.jpg")
    assert isinstance(result, detectors.DetectorResult)
    assert result.model == name and 0.0 <= result.score <= 1.0


@pytest.mark.parametrize("name", NAMES)
def test_same_input_gives_the_same_score(name: str) -> None:
    det = _detector(name)
    path = FIXTURES / "rocket.jpg"
    first = det.score(path)
    again = det.score(path.read_bytes())
    fresh = detectors.load(name).score(_photo("rocket.jpg"))
    assert first.score == again.score == fresh.score
    assert [r["score"] for r in first.regions] == [r["score"] for r in fresh.regions]


@pytest.mark.parametrize("name", NAMES)
def test_scores_are_probabilities_monotone_in_the_raw_logit(name: str) -> None:
    det = _detector(name)
    images = [_photo(n) for n in HELD_OUT] + [_reconstruction(n) for n in HELD_OUT]
    raws = [det.raw(px)[0] for px in images]
    probs = [det.score(px).score for px in images]
    assert all(0.0 <= p <= 1.0 for p in probs)
    order = np.argsort(raws)
    assert np.all(np.diff(np.asarray(probs)[order]) >= 0)
    grid = np.linspace(-50, 50, 201)
    cal = det.calibrator(grid)
    assert np.all((cal >= 0) & (cal <= 1)) and np.all(np.diff(cal) >= 0) and cal[-1] > cal[0]


@pytest.mark.parametrize("photo", HELD_OUT)
def test_real_photo_and_its_reconstruction_score_clearly_apart(photo: str) -> None:
    det = _detector("image-frequency")
    real = det.score(_photo(photo)).score
    fake = det.score(_reconstruction(photo)).score
    assert real < 0.5 < fake
    assert fake - real > 0.5


def test_heat_map_covers_the_image_with_a_grid_of_scored_cells() -> None:
    det = _detector("image-frequency")
    px = _photo("coffee.jpg")
    h, w = px.shape[:2]
    regions = det.score(px).regions
    assert 1 < len(regions) <= det.grid**2
    assert sum(r["w"] * r["h"] for r in regions) == h * w
    for r in regions:
        assert set(r) == {"x", "y", "w", "h", "score"}
        assert 0 <= r["x"] and r["x"] + r["w"] <= w and 0 <= r["y"] and r["y"] + r["h"] <= h
        assert r["w"] >= det.patch and r["h"] >= det.patch and 0.0 <= r["score"] <= 1.0


@pytest.mark.parametrize("name", NAMES)
def test_tiny_image_is_refused_with_a_clear_error(name: str) -> None:
    with pytest.raises(ProvguardError, match="at least 64 px"):
        _detector(name).score(np.zeros((32, 200, 3), dtype=np.uint8))
