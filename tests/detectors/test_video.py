"""Video detection: frames sampled across the clip, log-odds pooling, and the soundtrack."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import detectors
from detectors.video import pool, sample_frames
from provguard.errors import CorruptMediaError

VIDEO = Path(__file__).resolve().parents[2] / "fixtures" / "video" / "vtest_30f.mp4"


def test_pooling_is_bounded_monotone_and_follows_a_consistent_majority() -> None:
    assert pool([0.9] * 10) == pytest.approx(0.9)
    assert pool([0.9] * 9 + [0.1]) > 0.5
    assert pool([0.1] * 9 + [0.9]) < 0.5
    low, high = pool([0.2, 0.4, 0.6]), pool([0.2, 0.4, 0.7])
    assert 0.0 < low < high < 1.0
    assert 0.0 < pool([0.0, 1.0]) < 1.0


def test_frames_are_spread_across_the_clip() -> None:
    frames = sample_frames(VIDEO.read_bytes(), count=8)
    times = [t for t, _ in frames]
    assert len(frames) == 8 and times == sorted(times) and times[-1] - times[0] > 0.5
    assert frames[0][1].ndim == 3 and frames[0][1].dtype == np.uint8


def test_a_brand_that_is_not_utf8_does_not_stop_sampling() -> None:
    data = VIDEO.read_bytes()
    at = data.index(b"isomiso2")
    frames = sample_frames(data[:at] + b"\xc5" + data[at + 1 :], count=2)
    assert len(frames) == 2


def test_garbage_is_refused() -> None:
    with pytest.raises(CorruptMediaError):
        sample_frames(b"\x00\x00\x00\x18ftypisom" + b"\x00" * 64)


def test_generated_video_with_vocoded_soundtrack_is_flagged() -> None:
    from provguard.generate.audio import load_speech, resynthesize
    from provguard.generate.video import encode_mp4, make_video_frames

    speech = Path(__file__).resolve().parents[2] / "fixtures" / "speech" / "allison_vm-intro.flac"
    samples, rate = load_speech(speech)
    track = resynthesize(samples[: rate * 3], rate, vocoder="griffinlim", seed=0)
    frames = make_video_frames(frames=8, size=256, seed=3, refine_steps=1)
    data = encode_mp4(frames, 8, track)
    detector = detectors.load("video-frames")
    first, second = detector.score(data), detector.score(data)
    assert first.score == second.score and 0.0 <= first.score <= 1.0
    assert first.score >= 0.5
    tracks = {r["track"] for r in first.regions}
    assert tracks == {"video", "audio"}
