"""Channel augmentations for speech: MP3 round trip, resampling (8 kHz telephony, 16 kHz chains) and additive noise."""

from __future__ import annotations

import io
import math

import numpy as np

RATE = 16000
#: Names of the augmentations `augment` draws from (and the bench conditions reuse).
AUGMENTATIONS = ("clean", "mp3", "telephony", "resample", "noise")


def resample(x: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Polyphase resampling of a mono float signal from rate to target."""
    from scipy.signal import resample_poly

    if int(rate) == int(target):
        return np.asarray(x, dtype=np.float32)
    g = math.gcd(int(rate), int(target))
    return resample_poly(np.asarray(x, dtype=np.float64), int(target) // g, int(rate) // g).astype(np.float32)


def through_rate(x: np.ndarray, mid: int, rate: int = RATE) -> np.ndarray:
    """Resample to `mid` and back (8000 = telephony band), keeping the length."""
    y = resample(resample(x, rate, mid), mid, rate)
    n = x.shape[0]
    return np.pad(y, (0, max(0, n - y.shape[0])))[:n].astype(np.float32)


def mp3_roundtrip(x: np.ndarray, rate: int = RATE, bit_rate: int = 128_000) -> np.ndarray:
    """Encode mono float audio as MP3 (PyAV, libmp3lame) and decode it back, aligned to the input length."""
    import av

    buf = io.BytesIO()
    with av.open(buf, "w", format="mp3") as out:
        stream = out.add_stream("libmp3lame", rate=rate, layout="mono")
        stream.bit_rate = int(bit_rate)
        frame = av.AudioFrame.from_ndarray(np.clip(x, -1, 1).astype(np.float32)[None, :], format="fltp", layout="mono")
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    buf.seek(0)
    parts = []
    with av.open(buf, "r") as inp:
        dec_rate = inp.streams.audio[0].rate
        for fr in inp.decode(audio=0):
            a = fr.to_ndarray().astype(np.float32)
            parts.append(a.mean(axis=0) if fr.format.is_planar else a.reshape(-1, len(fr.layout.channels)).mean(axis=1))
    y = np.concatenate(parts) if parts else np.zeros(0, np.float32)
    if dec_rate != rate:
        y = resample(y, dec_rate, rate)
    # LAME adds an encoder delay (~1105 samples incl. the decoder's); align by cross-correlation on a short lag range
    n = x.shape[0]
    lag = _best_lag(x, y, 2400)
    y = y[lag:lag + n]
    return np.pad(y, (0, max(0, n - y.shape[0]))).astype(np.float32)


def _best_lag(x: np.ndarray, y: np.ndarray, max_lag: int) -> int:
    """The delay of y against x (0..max_lag) with the largest correlation (FFT cross-correlation)."""
    from scipy.signal import correlate

    n = min(x.shape[0], y.shape[0] - max_lag, 16000)
    if n <= 256:
        return 0
    scores = correlate(y[: n + max_lag].astype(np.float64), x[:n].astype(np.float64), mode="valid", method="fft")
    return int(np.argmax(scores))


def add_noise(x: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """Add white Gaussian noise at snr_db relative to the signal's mean power."""
    p = float(np.mean(x.astype(np.float64) ** 2)) * 10 ** (-snr_db / 10)
    return (x + rng.normal(0.0, math.sqrt(max(p, 1e-12)), x.shape)).astype(np.float32)


def apply(x: np.ndarray, name: str, rng: np.random.Generator, rate: int = RATE) -> np.ndarray:
    """Apply one named augmentation with parameters drawn from rng."""
    if name == "clean":
        return np.asarray(x, dtype=np.float32)
    if name == "mp3":
        return mp3_roundtrip(x, rate, int(rng.choice([64_000, 96_000, 128_000, 192_000])))
    if name == "telephony":
        return through_rate(x, 8000, rate)
    if name == "resample":
        return through_rate(x, int(rng.choice([11025, 12000, 22050, 44100])), rate)
    if name == "noise":
        return add_noise(x, float(rng.uniform(10.0, 35.0)), rng)
    raise ValueError(f"unknown augmentation {name!r}")


def augment(x: np.ndarray, rng: np.random.Generator, rate: int = RATE) -> tuple[np.ndarray, str]:
    """A random augmentation (gain included): returns the new signal and the augmentation's name."""
    name = str(rng.choice(AUGMENTATIONS[1:]))
    y = apply(x, name, rng, rate)
    y = y * np.float32(10 ** (rng.uniform(-12.0, 0.0) / 20))
    return y.astype(np.float32), name
