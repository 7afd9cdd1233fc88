"""Turn what callers hand a detector (arrays, PIL images, bytes, paths) into pixels or samples, within limits."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from provguard.errors import (
    AudioTooShortError,
    CorruptMediaError,
    ImageTooSmallError,
    InputError,
    MediaTooLargeError,
    UnsupportedMediaError,
)
from provguard.media import DEFAULT_MAX_PIXELS, MP4, MOV, M4A, MediaKind, read_media, sniff

#: Smallest side, in pixels, an image detector scores.
DEFAULT_MIN_SIDE = 64
#: Longest audio an audio detector scores, in seconds (longer input is refused before it is decoded).
DEFAULT_MAX_SECONDS = 30 * 60.0
#: Shortest audio an audio detector scores, in seconds.
DEFAULT_MIN_SECONDS = 0.5
#: Peak level (full scale 1.0) under which audio counts as silence.
SILENCE_PEAK = 1e-4


class SilentAudioError(InputError):
    """Audio holds no signal to score."""


def _load_bytes(media: bytes | str | os.PathLike[str]) -> tuple[bytes, MediaKind]:
    """Read bytes (or a file) and sniff the media type from content."""
    if isinstance(media, (bytes, bytearray, memoryview)):
        data = bytes(media)
        if not data:
            raise CorruptMediaError("empty input")
        return data, sniff(data[:4096])
    return read_media(Path(media))


def _check_pixels(pixels: np.ndarray, min_side: int, max_pixels: int) -> np.ndarray:
    """Validate an image array and return it as HxWx3 uint8 RGB."""
    arr = np.asarray(pixels)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4):
        raise InputError(f"expected an HxWx3 image array, got shape {arr.shape}")
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    arr = arr[:, :, :3]
    if arr.dtype != np.uint8:
        if np.issubdtype(arr.dtype, np.floating) and arr.size and float(np.nanmax(arr)) <= 1.0:
            arr = arr * 255.0
        arr = np.clip(np.nan_to_num(arr), 0, 255).astype(np.uint8)
    h, w = arr.shape[:2]
    if min(h, w) < min_side:
        raise ImageTooSmallError(f"image is {w}x{h}; detectors need at least {min_side} px on the short side")
    if h * w > max_pixels:
        raise MediaTooLargeError(f"image has {h * w} pixels, over the {max_pixels} limit")
    return np.ascontiguousarray(arr)


def as_rgb(media: Any, *, min_side: int = DEFAULT_MIN_SIDE, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Return HxWx3 uint8 RGB pixels from an array, a PIL image, encoded bytes or a path."""
    if isinstance(media, np.ndarray):
        return _check_pixels(media, min_side, max_pixels)
    if hasattr(media, "convert") and hasattr(media, "size"):  # a PIL image
        w, h = media.size
        if w * h > max_pixels:
            raise MediaTooLargeError(f"image has {w * h} pixels, over the {max_pixels} limit")
        return _check_pixels(np.asarray(media.convert("RGB")), min_side, max_pixels)
    data, kind = _load_bytes(media)
    if kind.family != "image":
        raise UnsupportedMediaError(f"an image detector cannot score {kind.mime}")
    from provguard.mediaio import decode_image

    return _check_pixels(decode_image(data, kind, max_pixels=max_pixels).pixels, min_side, max_pixels)


def _mono(samples: np.ndarray) -> np.ndarray:
    """Average channels to float32 mono."""
    arr = np.asarray(samples, dtype=np.float32)
    if arr.ndim == 2:
        arr = arr.mean(axis=1) if arr.shape[1] <= 8 else arr.mean(axis=0)
    if arr.ndim != 1:
        raise InputError(f"expected mono or frames x channels audio, got shape {arr.shape}")
    return np.nan_to_num(arr)


def _decode_audio(data: bytes, kind: MediaKind, max_seconds: float) -> tuple[np.ndarray, int]:
    """Decode audio (or a video's audio track) to float32 mono, stopping at the limit."""
    from provguard import mediaio

    if kind in (MP4, MOV, M4A):
        decoded = mediaio._decode_with_av(data, kind, max_seconds)  # noqa: SLF001 - the shared PyAV decoder
    elif kind.family == "audio":
        decoded = mediaio.decode_audio(data, kind, max_seconds=max_seconds)
    else:
        raise UnsupportedMediaError(f"an audio detector cannot score {kind.mime}")
    return _mono(decoded.samples), int(decoded.rate)


def _check_audio(samples: np.ndarray, rate: int, min_seconds: float, max_seconds: float) -> tuple[np.ndarray, int]:
    """Refuse audio that is too long, too short or silent."""
    if rate <= 0:
        raise InputError(f"bad sample rate {rate}")
    seconds = samples.size / rate
    if seconds > max_seconds:
        raise MediaTooLargeError(f"audio is {seconds:.0f} s, over the {max_seconds:.0f} s detection limit")
    if seconds < min_seconds:
        raise AudioTooShortError(f"audio is {seconds:.2f} s; detectors need at least {min_seconds} s")
    if float(np.max(np.abs(samples))) < SILENCE_PEAK:
        raise SilentAudioError("audio is silent: there is nothing to score")
    return samples, rate


def as_audio(
    media: Any, *, max_seconds: float = DEFAULT_MAX_SECONDS, min_seconds: float = DEFAULT_MIN_SECONDS
) -> tuple[np.ndarray, int]:
    """Return (float32 mono samples, rate) from (samples, rate), encoded bytes or a path; refuse silence and excess."""
    if isinstance(media, tuple) and len(media) == 2 and isinstance(media[0], np.ndarray):
        return _check_audio(_mono(media[0]), int(media[1]), min_seconds, max_seconds)
    data, kind = _load_bytes(media)
    samples, rate = _decode_audio(data, kind, max_seconds)
    return _check_audio(samples, rate, min_seconds, max_seconds)
