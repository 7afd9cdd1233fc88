"""Detector inputs: arrays, PIL images, bytes and paths decode to pixels or samples; bad input is refused clearly."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from detectors.inputs import SilentAudioError, as_audio, as_rgb
from provguard.errors import AudioTooShortError, CorruptMediaError, ImageTooSmallError, MediaTooLargeError, UnsupportedMediaError

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
PHOTO = FIXTURES / "photos" / "coffee.jpg"
SPEECH = FIXTURES / "speech" / "librivox_sense_and_sensibility_0870.flac"


def test_every_image_form_gives_the_same_pixels() -> None:
    from_path = as_rgb(PHOTO)
    assert from_path.dtype == np.uint8 and from_path.shape[2] == 3
    np.testing.assert_array_equal(as_rgb(PHOTO.read_bytes()), from_path)
    with Image.open(PHOTO) as img:
        np.testing.assert_array_equal(as_rgb(img), from_path)
    np.testing.assert_array_equal(as_rgb(from_path), from_path)


def test_grey_and_float_arrays_become_uint8_rgb() -> None:
    grey = as_rgb(np.full((80, 90), 128, np.uint8))
    assert grey.shape == (80, 90, 3)
    unit = as_rgb(np.full((80, 90, 3), 0.5, np.float32))
    assert unit.dtype == np.uint8 and int(unit[0, 0, 0]) == 127


def test_tiny_images_are_refused() -> None:
    with pytest.raises(ImageTooSmallError, match="at least 64 px"):
        as_rgb(np.zeros((32, 500, 3), np.uint8))


def test_gigantic_images_are_refused_before_decoding() -> None:
    buf = io.BytesIO()
    Image.new("RGB", (4000, 3000)).save(buf, "PNG")
    with pytest.raises(MediaTooLargeError):
        as_rgb(buf.getvalue(), max_pixels=1_000_000)


def test_wrong_media_and_garbage_are_refused() -> None:
    with pytest.raises(UnsupportedMediaError):
        as_rgb(SPEECH)
    with pytest.raises((CorruptMediaError, UnsupportedMediaError)):
        as_rgb(b"\xff\xd8\xff\xe0 truncated jpeg")
    with pytest.raises(CorruptMediaError):
        as_rgb(b"")


def test_audio_forms_give_mono_float_samples() -> None:
    samples, rate = as_audio(SPEECH)
    assert samples.dtype == np.float32 and samples.ndim == 1 and rate == 16000
    stereo = np.stack([samples, samples], axis=1)
    again, rate2 = as_audio((stereo, rate))
    np.testing.assert_allclose(again, samples, atol=1e-6)
    assert rate2 == rate


def test_silence_short_and_long_audio_are_refused() -> None:
    with pytest.raises(SilentAudioError):
        as_audio((np.zeros(16000 * 3, np.float32), 16000))
    with pytest.raises(AudioTooShortError):
        as_audio((np.ones(1000, np.float32) * 0.1, 16000))
    with pytest.raises(MediaTooLargeError):
        as_audio((np.ones(16000 * 40, np.float32) * 0.1, 16000), max_seconds=30)


def test_a_two_hour_file_is_refused_before_it_is_decoded(tmp_path: Path) -> None:
    path = tmp_path / "two-hours.wav"
    rate, seconds = 1000, 2 * 3600  # a real, valid 2-hour WAV kept small by its low rate (14 MB)
    tone = (0.1 * np.sin(np.arange(rate * seconds) * 0.3)).astype(np.float32)
    sf.write(path, tone, rate, subtype="PCM_16")
    with pytest.raises(MediaTooLargeError, match="7200 s"):
        as_audio(path)
