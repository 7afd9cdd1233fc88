"""Tests of the audio watermark on real speech, through real codecs (PyAV) and real signal edits."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf
from scipy import signal

from bench.bench_watermark_audio import pitch_change, tempo_change
from provguard.errors import AudioTooShortError, WatermarkError
from provguard.mediaio import DEFAULT_MAX_AUDIO_SECONDS
from provguard.watermark.audio import (
    CHOOSE_MAX_SECONDS,
    DEFAULT_MAX_SECONDS,
    MIN_SECONDS,
    detect_audio,
    embed_audio,
    embed_audio_best,
    max_decodings,
)

SPEECH = Path(__file__).resolve().parents[3] / "fixtures" / "speech"
KEY = b"test-audio-watermark-key-0000001"
OTHER_KEY = b"test-audio-watermark-key-0000002"
PAYLOAD = 0xC0FFEE_1234_5678
RATE = 44100


def _load(name: str, rate: int = RATE) -> np.ndarray:
    x, src = sf.read(SPEECH / name, dtype="float32")
    return _resample(x, src, rate)


def _resample(x: np.ndarray, src: int, dst: int) -> np.ndarray:
    g = np.gcd(src, dst)
    return signal.resample_poly(x, dst // g, src // g, axis=0).astype(np.float32)


def _snr(x: np.ndarray, y: np.ndarray) -> float:
    x64 = x.astype(np.float64)
    return float(10 * np.log10(np.sum(x64**2) / np.sum((y.astype(np.float64) - x64) ** 2)))


def _codec(x: np.ndarray, codec: str, bit_rate: int) -> np.ndarray:
    """Encode mono 44.1 kHz audio with PyAV and decode it back to 44.1 kHz float."""
    fmt = {"libmp3lame": "mp3", "aac": "adts", "libopus": "ogg"}[codec]
    enc_rate = 48000 if codec == "libopus" else RATE
    buf = io.BytesIO()
    with av.open(buf, "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=enc_rate, layout="mono")
        stream.bit_rate = bit_rate
        frame = av.AudioFrame.from_ndarray(
            (np.clip(x, -1, 1) * 32767).astype(np.int16)[None, :], format="s16", layout="mono"
        )
        frame.sample_rate = RATE
        resampler = av.AudioResampler(format=stream.format.name, layout="mono", rate=enc_rate)
        for chunk in [*resampler.resample(frame), *resampler.resample(None)]:
            for packet in stream.encode(chunk):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    buf.seek(0)
    with av.open(buf) as inp:
        rate = inp.streams.audio[0].rate
        parts = [fr.to_ndarray().reshape(-1).astype(np.float32) for fr in inp.decode(audio=0)]
    y = np.concatenate(parts)
    return _resample(y, rate, RATE) if rate != RATE else y


def _speed(x: np.ndarray, factor: float) -> np.ndarray:
    """Resampling-style speed change (pitch and tempo together); factor > 1 is faster."""
    return signal.resample_poly(x, 1000, round(1000 * factor)).astype(np.float32)


def _noise(x: np.ndarray, snr_db: float, seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    p = np.mean(x.astype(np.float64) ** 2) * 10 ** (-snr_db / 10)
    return (x + rng.normal(0.0, np.sqrt(p), x.shape)).astype(np.float32)


def _lowpass(x: np.ndarray, cutoff: float) -> np.ndarray:
    return signal.sosfiltfilt(signal.butter(8, cutoff, fs=RATE, output="sos"), x).astype(np.float32)


def _cut(x: np.ndarray, seconds: float, seed: int) -> np.ndarray:
    n = int(seconds * RATE)
    start = int(np.random.default_rng(seed).integers(0, len(x) - n))
    return x[start : start + n]


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    """13 s of one LibriVox reader at 44.1 kHz (two utterances back to back)."""
    return np.concatenate(
        [_load("librivox_sense_and_sensibility_0870.flac"), _load("librivox_sense_and_sensibility_0920.flac")]
    )


@pytest.fixture(scope="module")
def marked(speech: np.ndarray) -> np.ndarray:
    return embed_audio(speech, RATE, PAYLOAD, KEY)


ATTACKS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "none": lambda x: x,
    "mp3-128k": lambda x: _codec(x, "libmp3lame", 128_000),
    "aac-64k": lambda x: _codec(x, "aac", 64_000),
    "opus-64k": lambda x: _codec(x, "libopus", 64_000),
    "resample-16k": lambda x: _resample(_resample(x, RATE, 16000), 16000, RATE),
    "noise-20dB": lambda x: _noise(x, 20.0),
    "lowpass-4k": lambda x: _lowpass(x, 4000.0),
    "gain+6dB": lambda x: np.clip(2.0 * x, -1.0, 1.0),
    "gain-6dB": lambda x: 0.5 * x,
    "shift": lambda x: np.concatenate([np.zeros(12345, np.float32), x[777:]]),
    "speed-0.95": lambda x: _speed(x, 0.95),
    "speed+1.05": lambda x: _speed(x, 1.05),
    "tempo-0.95": lambda x: tempo_change(x, RATE, 0.95),
    "tempo+1.05": lambda x: tempo_change(x, RATE, 1.05),
    "pitch-0.95": lambda x: pitch_change(x, RATE, 0.95),
    "pitch+1.04": lambda x: pitch_change(x, RATE, 1.04),  # between two grid points of the pitch search
    "cut-3.2s-a": lambda x: _cut(x, 3.2, 1),
    "cut-3.2s-b": lambda x: _cut(x, 3.2, 2),
}


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_payload_survives_attack(marked: np.ndarray, attack: str) -> None:
    decision = detect_audio(ATTACKS[attack](marked), RATE, KEY)
    assert decision.detected, decision
    assert decision.payload == PAYLOAD
    assert decision.p_value <= 1e-6


@pytest.mark.parametrize(
    "name", ["librivox_sense_and_sensibility_0870.flac", "librivox_sense_and_sensibility_0920.flac", "allison_vm-intro.flac"]
)
@pytest.mark.parametrize("rate", [RATE, 16000])
def test_each_fixture_marks_with_enough_snr(name: str, rate: int) -> None:
    x = _load(name, rate)
    y = embed_audio(x, rate, PAYLOAD, KEY)
    assert y.shape == x.shape and y.dtype == x.dtype
    assert 30.0 <= _snr(x, y) <= 30.5  # the mark spends its whole budget, and no more
    assert np.max(np.abs(y)) <= 1.0
    decision = detect_audio(y, rate, KEY)
    assert decision.detected and decision.payload == PAYLOAD


@pytest.mark.parametrize("name", ["librivox_sense_and_sensibility_0870.flac", "allison_vm-intro.flac"])
def test_unmarked_speech_is_not_detected(name: str) -> None:
    decision = detect_audio(_load(name), RATE, KEY)
    assert not decision.detected
    assert decision.payload is None
    assert decision.p_value > 1e-6


def test_other_key_does_not_detect(marked: np.ndarray) -> None:
    decision = detect_audio(marked, RATE, OTHER_KEY)
    assert not decision.detected and decision.payload is None


def test_unmarked_noise_and_silence_are_not_detected() -> None:
    rng = np.random.default_rng(3)
    for x in (rng.normal(0, 0.1, 5 * RATE).astype(np.float32), np.zeros(4 * RATE, np.float32)):
        assert not detect_audio(x, RATE, KEY).detected


def test_too_short_is_refused(speech: np.ndarray) -> None:
    short = speech[: int((MIN_SECONDS - 0.1) * RATE)]
    with pytest.raises(AudioTooShortError, match="too short"):
        embed_audio(short, RATE, PAYLOAD, KEY)
    with pytest.raises(AudioTooShortError):
        detect_audio(short, RATE, KEY)


def test_embedding_is_deterministic(speech: np.ndarray, marked: np.ndarray) -> None:
    again = embed_audio(speech, RATE, PAYLOAD, KEY)
    assert again.tobytes() == marked.tobytes()
    assert embed_audio(speech, RATE, PAYLOAD + 1, KEY).tobytes() != marked.tobytes()


def test_stereo_in_stereo_out(speech: np.ndarray) -> None:
    stereo = np.stack([speech, 0.6 * np.roll(speech, 441)], axis=1)
    y = embed_audio(stereo, RATE, PAYLOAD, KEY)
    assert y.shape == stereo.shape and y.dtype == np.float32
    assert _snr(stereo, y) >= 30.0
    assert detect_audio(y, RATE, KEY).payload == PAYLOAD
    assert detect_audio(y.mean(axis=1), RATE, KEY).payload == PAYLOAD


def test_float64_keeps_dtype(speech: np.ndarray) -> None:
    y = embed_audio(speech[: 4 * RATE].astype(np.float64), RATE, PAYLOAD, KEY)
    assert y.dtype == np.float64


@pytest.mark.parametrize(
    "bad",
    [
        lambda x: (x * 32767).astype(np.int16),  # integer PCM: caller must convert
        lambda x: x.reshape(1, 1, -1),
        lambda x: np.where(np.arange(x.size) == 5, np.nan, x).astype(np.float32),
    ],
)
def test_bad_input_is_refused(speech: np.ndarray, bad: Callable[[np.ndarray], np.ndarray]) -> None:
    with pytest.raises(WatermarkError):
        embed_audio(bad(speech[: 4 * RATE]), RATE, PAYLOAD, KEY)


def test_bad_payload_key_and_rate_are_refused(speech: np.ndarray) -> None:
    x = speech[: 4 * RATE]
    with pytest.raises(WatermarkError):
        embed_audio(x, RATE, 2**64, KEY)
    with pytest.raises(WatermarkError):
        embed_audio(x, RATE, PAYLOAD, b"short")
    with pytest.raises(WatermarkError):
        detect_audio(x, 0, KEY)


def test_strength_scales_the_mark(speech: np.ndarray) -> None:
    x = speech[: 5 * RATE]
    weak = embed_audio(x, RATE, PAYLOAD, KEY, strength=0.5)
    assert _snr(x, weak) >= _snr(x, embed_audio(x, RATE, PAYLOAD, KEY)) + 5.0
    with pytest.raises(WatermarkError):
        embed_audio(x, RATE, PAYLOAD, KEY, strength=0.0)


@pytest.mark.slow
def test_long_audio_is_marked_in_chunks_and_every_excerpt_carries_it(speech: np.ndarray) -> None:
    """Over a minute of speech goes through several embedding chunks; excerpts across the seams still decode."""
    x = np.concatenate([speech, speech[::-1], speech, speech[::-1], speech])  # ~66 s
    y = embed_audio(x, RATE, PAYLOAD, KEY)
    assert _snr(x, y) >= 30.0
    for start in (27.0, 57.0):  # chunks are 10 blocks = 29.44 s long
        excerpt = y[int(start * RATE) : int((start + 4.0) * RATE)]
        assert detect_audio(excerpt, RATE, KEY).payload == PAYLOAD
    assert detect_audio(y, RATE, KEY).payload == PAYLOAD


@pytest.mark.parametrize("seed", [0, 1])
def test_short_clip_survives_white_noise_at_20db(seed: int) -> None:
    """A 6 s utterance alone (no repetition to average over) still decodes under white noise 20 dB below it."""
    x = _load("librivox_sense_and_sensibility_0920.flac")
    y = embed_audio(x, RATE, PAYLOAD, KEY)
    decision = detect_audio(_noise(y, 20.0, seed), RATE, KEY)
    assert decision.detected and decision.payload == PAYLOAD
    assert not detect_audio(_noise(x, 20.0, seed), RATE, KEY).detected


def test_short_prompt_survives_white_noise_at_20db() -> None:
    """A 5.7 s telephone prompt (8 kHz source) keeps its payload through most draws of 20 dB white noise."""
    x = _load("allison_vm-intro.flac")
    y = embed_audio(x, RATE, PAYLOAD, KEY)
    recovered = [detect_audio(_noise(y, 20.0, seed), RATE, KEY).payload == PAYLOAD for seed in range(4)]
    assert sum(recovered) >= 3


@pytest.mark.parametrize(("start", "seconds"), [(0.0, 3.3), (1.0, 4.0)])
def test_a_few_seconds_of_telephone_speech_survive_white_noise_at_20db(start: float, seconds: float) -> None:
    """3-4 s of an 8 kHz prompt: the noise drowns most tiles, and the floor-weighted reading lets the rest decode."""
    x = _load("allison_vm-intro.flac")[int(start * RATE) : int((start + seconds) * RATE)]
    y = embed_audio(x, RATE, PAYLOAD, KEY)
    recovered = [detect_audio(_noise(y, 20.0, seed), RATE, KEY).payload == PAYLOAD for seed in range(8)]
    assert sum(recovered) >= 7, recovered
    assert not any(detect_audio(_noise(x, 20.0, seed), RATE, KEY).detected for seed in range(4))


def test_the_p_value_covers_every_reading_decoded(claimed_trials: list[int], marked: np.ndarray) -> None:
    """The p-value is a Bonferroni bound over max_decodings() readings: no path may decode more, or claim fewer."""
    for audio in (marked, _noise(marked, 20.0), _speed(marked, 1.04)):
        claimed_trials.clear()
        detect_audio(audio, RATE, KEY)
        assert 1 <= len(claimed_trials) <= max_decodings()
        assert set(claimed_trials) == {max_decodings()}


def test_longer_speech_survives_white_noise_at_20db(speech: np.ndarray) -> None:
    """Blocks repeat and detection folds them: about 26 s of speech carry the payload through 20 dB white noise."""
    x = np.concatenate([speech, speech[::-1]])  # two readings, the second played backwards: still speech-like
    y = embed_audio(x, RATE, PAYLOAD, KEY)
    for seed in (1, 2):
        assert detect_audio(_noise(y, 20.0, seed), RATE, KEY).payload == PAYLOAD


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_loud_noisy_stretch_does_not_hide_the_rest_of_the_clip(marked: np.ndarray, seed: int) -> None:
    """6 s of loud noise (applause, wind) over 13 s of marked speech: the other 7 s still carry the payload."""
    rng = np.random.default_rng(seed)
    start, n = int(rng.integers(0, marked.size - 7 * RATE)), 6 * RATE
    noisy = marked.copy()
    noisy[start : start + n] += rng.normal(0.0, 0.3, n).astype(np.float32)
    assert detect_audio(noisy, RATE, KEY).payload == PAYLOAD


def test_small_chunks_cover_every_sample_and_every_seam(speech: np.ndarray) -> None:
    """With one-block chunks (2.9 s) a 13 s clip goes through 4 chunks; the seams neither gap nor weaken."""
    y = embed_audio(speech, RATE, PAYLOAD, KEY, chunk_blocks=1)
    assert y.shape == speech.shape and y.dtype == speech.dtype
    assert _snr(speech, y) >= 30.0
    assert embed_audio(speech, RATE, PAYLOAD, KEY, chunk_blocks=1).tobytes() == y.tobytes()
    mark = (y - speech).astype(np.float64)
    seconds = np.sqrt(np.mean(mark[: len(mark) // RATE * RATE].reshape(-1, RATE) ** 2, axis=1))
    loud = np.sqrt(np.mean(speech[: len(mark) // RATE * RATE].reshape(-1, RATE).astype(np.float64) ** 2, axis=1))
    assert np.all(seconds[loud > 0.3 * loud.max()] > 0.0)  # no stretch of speech left unmarked
    for start in (1.5, 4.4, 7.3):  # excerpts across the seams at 2.94, 5.89 and 8.83 s
        excerpt = y[int(start * RATE) : int((start + 3.2) * RATE)]
        assert detect_audio(excerpt, RATE, KEY).payload == PAYLOAD
    stereo = np.stack([speech, 0.5 * speech], axis=1)
    ys = embed_audio(stereo, 16000, PAYLOAD, KEY, chunk_blocks=1)  # read as 16 kHz: 36 s, 12 chunks, another grid
    assert ys.shape == stereo.shape and _snr(stereo, ys) >= 30.0
    with pytest.raises(WatermarkError):
        embed_audio(speech, RATE, PAYLOAD, KEY, chunk_blocks=0)


def test_long_input_limits_follow_mediaio_and_detection_finds_the_loud_part(speech: np.ndarray) -> None:
    """Inputs as long as mediaio decodes are accepted; in 100 s of near silence the marked speech is found."""
    assert DEFAULT_MAX_SECONDS >= DEFAULT_MAX_AUDIO_SECONDS
    marked = embed_audio(speech, RATE, PAYLOAD, KEY)
    quiet = np.random.default_rng(5).normal(0.0, 1e-4, 100 * RATE).astype(np.float32)
    at = 70 * RATE
    quiet[at : at + marked.size] += marked
    assert detect_audio(quiet, RATE, KEY).payload == PAYLOAD


def test_a_short_clip_gets_the_fresh_payload_it_carries_best(speech: np.ndarray, helpers) -> None:  # noqa: ANN001
    """Of 4 fresh payloads, the one whose untouched read-back is the most significant: never worse than the first."""
    clip = speech[: 4 * RATE]
    drawn, draw = helpers.payload_draws(4)  # here the last of the 4 reads back best
    marked, payload = embed_audio_best(clip, RATE, KEY, draw)
    assert len(drawn) == 4 and payload in drawn
    chosen = detect_audio(marked, RATE, KEY)
    assert chosen.carries(payload)
    readings = [detect_audio(embed_audio(clip, RATE, p, KEY), RATE, KEY) for p in drawn]
    assert chosen.p_value == min(d.p_value for d, p in zip(readings, drawn, strict=True) if d.carries(p))
    assert _snr(clip, marked) >= 30.0


def test_a_long_clip_takes_the_first_fresh_payload(speech: np.ndarray, helpers) -> None:  # noqa: ANN001
    clip = np.tile(speech, 3)[: int((CHOOSE_MAX_SECONDS + 1) * RATE)]
    drawn, draw = helpers.payload_draws(4)
    marked, payload = embed_audio_best(clip, RATE, KEY, draw)
    assert drawn == [payload]
    assert np.array_equal(marked, embed_audio(clip, RATE, payload, KEY))
    with pytest.raises(WatermarkError):
        embed_audio_best(clip, RATE, KEY, draw, tries=0)
