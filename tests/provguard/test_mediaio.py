"""Tests for provguard.mediaio: how undecodable media is reported."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from provguard.errors import CorruptMediaError
from provguard.media import MP3
from provguard.mediaio import decode_audio, iter_video_frames

_JUNK = np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes()


@pytest.mark.parametrize(
    ("decode", "family"),
    [
        (lambda: iter_video_frames(b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + _JUNK), "video"),
        (lambda: decode_audio(b"ID3\x03\x00\x00\x00\x00\x00\x00\xff\xfb" + _JUNK, MP3), "audio"),
    ],
)
def test_ffmpeg_errors_read_as_ffmpeg_s_own_words(decode: Callable[[], object], family: str) -> None:
    """PyAV's errno and '<none>' file name stay out of the one-line message."""
    with pytest.raises(CorruptMediaError) as caught:
        decode()
    message = str(caught.value)
    assert message.startswith(f"{family} cannot be decoded: ") and "Errno" not in message and "<none>" not in message
