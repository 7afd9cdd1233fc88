"""Source-filter vocoder: per-frame LPC envelope and autocorrelation pitch, resynthesised from pulses and noise."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import solve_toeplitz
from scipy.signal import butter, lfilter, medfilt, sosfiltfilt

from provguard.generate.mel import SAMPLE_RATE, hann, semitone_ratio

MODEL_NAME = "provguard-ref-vocoder-lpc"
MODEL_VERSION = "1"
ORDER = 20
FRAME = 512  # 32 ms: two periods of a 62 Hz voice
HOP = 128  # 8 ms
F0_MIN, F0_MAX = 60.0, 400.0
#: YIN: the first lag whose normalised difference dips below YIN_THRESHOLD is the period; frames whose best dip
#: stays above VOICING_THRESHOLD are unvoiced.
YIN_THRESHOLD = 0.15
VOICING_THRESHOLD = 0.35
YIN_WINDOW = 400  # 25 ms integration window
#: Share of noise mixed into voiced excitation (breathiness), by power.
VOICED_NOISE = 0.01
PRE_EMPHASIS = 0.97
#: Samples an all-pole filter runs before its frame's window opens, so it starts settled.
PREROLL = 256
#: Bandwidth expansion of the LPC poles (a_k *= GAMMA**k) keeps the synthesis filter stable and less peaky.
GAMMA = 0.994


@dataclass(frozen=True)
class LpcAnalysis:
    """Per-frame LPC coefficients (frames x ORDER+1), gains, and f0 in Hz (0 where unvoiced)."""

    coefficients: np.ndarray
    gains: np.ndarray
    f0: np.ndarray
    length: int


def _frames(x: np.ndarray) -> np.ndarray:
    """Centred frames (count x FRAME) with one frame every HOP samples."""
    padded = np.pad(x, (FRAME // 2, FRAME // 2 + HOP))
    count = x.shape[0] // HOP + 1
    return np.lib.stride_tricks.sliding_window_view(padded, FRAME)[::HOP][:count]


def _levinson(frame: np.ndarray) -> tuple[np.ndarray, float]:
    """LPC polynomial [1, a1..ap] and prediction-error power of one windowed frame."""
    r = np.correlate(frame, frame, "full")[FRAME - 1: FRAME + ORDER]
    if r[0] <= 1e-10:
        return np.concatenate(([1.0], np.zeros(ORDER))), 0.0
    r = r * np.exp(-0.5 * (2 * np.pi * 60.0 * np.arange(ORDER + 1) / SAMPLE_RATE) ** 2)  # 60 Hz lag window
    r[0] *= 1.0 + 1e-6  # white-noise correction
    a = solve_toeplitz(r[:ORDER], -r[1: ORDER + 1])
    error = float(r[0] + np.dot(a, r[1: ORDER + 1]))
    poly = np.concatenate(([1.0], a)) * GAMMA ** np.arange(ORDER + 1)
    return poly, max(error, 0.0)


def _pitch(x: np.ndarray, count: int, hop: int = HOP) -> np.ndarray:
    """f0 per frame (centred every hop samples) by YIN's cumulative mean normalised difference; 0 where unvoiced."""
    lo, hi = int(SAMPLE_RATE / F0_MAX), int(np.ceil(SAMPLE_RATE / F0_MIN))
    width = YIN_WINDOW
    span = width + hi + 1
    padded = np.pad(x, (span // 2, span))
    frames = np.lib.stride_tricks.sliding_window_view(padded, span)[::hop][:count]
    n = 1 << int(np.ceil(np.log2(span + width)))
    cross = np.fft.irfft(np.conj(np.fft.rfft(frames[:, :width], n)) * np.fft.rfft(frames, n), n)[:, : hi + 1]
    power = np.concatenate([np.zeros((frames.shape[0], 1)), np.cumsum(frames**2, axis=1)], axis=1)
    energy = power[:, width: width + hi + 1] - power[:, : hi + 1]  # energy of frames[:, tau: tau + width]
    diff = np.maximum(energy[:, :1] + energy - 2.0 * cross, 0.0)
    taus = np.arange(hi + 1)
    running = np.cumsum(diff[:, 1:], axis=1)
    cmndf = np.ones_like(diff)
    cmndf[:, 1:] = diff[:, 1:] * taus[1:] / np.maximum(running, 1e-12)
    loudness = energy[:, 0]
    quiet = loudness < loudness.max() * 10 ** (-45 / 10) if loudness.size else loudness.astype(bool)
    raw = np.zeros(frames.shape[0])
    for i, curve in enumerate(cmndf):
        if quiet[i]:
            continue
        below = np.flatnonzero(curve[lo: hi + 1] < YIN_THRESHOLD)
        if below.size:
            tau = lo + int(below[0])
            while tau + 1 <= hi and curve[tau + 1] < curve[tau]:  # walk down to the dip's bottom
                tau += 1
        else:
            tau = lo + int(np.argmin(curve[lo: hi + 1]))
        if curve[tau] > VOICING_THRESHOLD:
            continue
        left, mid, right = curve[max(tau - 1, lo)], curve[tau], curve[min(tau + 1, hi)]
        denom = left - 2 * mid + right
        offset = 0.5 * (left - right) / denom if abs(denom) > 1e-12 else 0.0
        raw[i] = SAMPLE_RATE / (tau + float(np.clip(offset, -0.5, 0.5)))
    voiced = medfilt((raw > 0).astype(float), 3) > 0.5 if raw.size >= 3 else raw > 0
    f0 = np.zeros_like(raw)
    for i in np.flatnonzero(voiced):  # median of the voiced estimates nearby: removes octave jumps
        near = raw[max(0, i - 2): i + 3]
        near = near[near > 0]
        f0[i] = np.median(near) if near.size else 0.0
    return f0


def analyze(samples: np.ndarray) -> LpcAnalysis:
    """LPC envelope, gain and pitch of 16 kHz mono samples."""
    x = np.asarray(samples, dtype=np.float64)
    emphasised = lfilter([1.0, -PRE_EMPHASIS], [1.0], x)
    frames = _frames(emphasised)
    window = hann(FRAME)
    window_power = float(np.sum(window**2))
    coefficients = np.empty((frames.shape[0], ORDER + 1))
    gains = np.empty(frames.shape[0])
    for i, frame in enumerate(frames):
        poly, error = _levinson(frame * window)
        coefficients[i] = poly
        gains[i] = np.sqrt(error / window_power)
    return LpcAnalysis(coefficients, gains, track_pitch(x), x.shape[0])


def track_pitch(samples: np.ndarray, hop: int = HOP) -> np.ndarray:
    """f0 in Hz (0 where unvoiced) of 16 kHz mono samples, one value per frame centred every hop samples."""
    x = np.asarray(samples, dtype=np.float64)
    lowpass = butter(4, 900.0, fs=SAMPLE_RATE, output="sos")
    return _pitch(sosfiltfilt(lowpass, x) if x.shape[0] > 30 else x, x.shape[0] // hop + 1, hop)


def f0_per_sample(f0: np.ndarray, length: int, hop: int = HOP) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample f0 (held through unvoiced gaps, 100 Hz if never voiced) and voicing mask from per-frame f0."""
    frame_times = np.arange(f0.shape[0]) * hop
    t = np.arange(length)
    voiced = np.interp(t, frame_times, (f0 > 0).astype(float)) > 0.5
    held = np.asarray(f0, dtype=np.float64).copy()
    if (held > 0).any():  # hold pitch across short gaps so interpolation never passes through 0 Hz
        idx = np.where(held > 0, np.arange(held.size), 0)
        np.maximum.accumulate(idx, out=idx)
        first = int(np.argmax(held > 0))
        held = np.where(held > 0, held, held[idx])
        held[:first] = held[first]
    else:
        held[:] = 100.0
    return np.interp(t, frame_times, held), voiced


def _excitation(f0: np.ndarray, length: int, rng: np.random.Generator) -> np.ndarray:
    """Unit-power excitation: a phase-continuous pulse train where voiced, white noise elsewhere."""
    freq, voiced = f0_per_sample(f0, length)
    phase = np.cumsum(freq / SAMPLE_RATE)
    pulses = np.diff(np.floor(phase), prepend=np.floor(phase[0]) if length else 0.0) > 0
    period = SAMPLE_RATE / freq
    noise = rng.standard_normal(length)
    voiced_part = pulses * np.sqrt(period) * np.sqrt(1.0 - VOICED_NOISE) + noise * np.sqrt(VOICED_NOISE)
    return np.where(voiced, voiced_part, noise)


def synthesize(analysis: LpcAnalysis, *, pitch: float = 0.0, seed: int = 0) -> np.ndarray:
    """Resynthesise from an analysis, with f0 scaled by `pitch` semitones (formants kept), float32."""
    rng = np.random.default_rng(seed)
    f0 = analysis.f0 * semitone_ratio(pitch)
    f0 = np.where(f0 > 0, np.clip(f0, 20.0, SAMPLE_RATE / 4), 0.0)
    length = analysis.length
    excitation = _excitation(f0, length, rng)
    gain = np.interp(np.arange(length), np.arange(analysis.gains.shape[0]) * HOP, analysis.gains)
    # each frame's all-pole filter runs over its own windowed stretch (with a pre-roll for the filter to settle),
    # and the stretches overlap-add: the envelope glides between frames instead of switching every hop
    driven = np.pad(excitation * gain, (FRAME // 2 + PREROLL, FRAME // 2))
    out = np.zeros(length + FRAME)
    window = hann(FRAME) / (0.5 * FRAME / HOP)  # periodic Hann at FRAME/HOP overlap sums to FRAME/(2*HOP)
    for i in range(analysis.coefficients.shape[0]):
        start = i * HOP  # in `driven`, the frame centred on sample i*HOP starts PREROLL later
        segment = lfilter([1.0], analysis.coefficients[i], driven[start: start + PREROLL + FRAME])[PREROLL:]
        out[start: start + segment.shape[0]] += segment * window[: segment.shape[0]]
    out = out[FRAME // 2: FRAME // 2 + length]
    out = lfilter([1.0], [1.0, -PRE_EMPHASIS], out)
    return out.astype(np.float32)


def lpc_vocode(samples: np.ndarray, *, pitch: float = 0.0, seed: int = 0) -> np.ndarray:
    """Analyse and resynthesise 16 kHz mono speech through the source-filter model."""
    return synthesize(analyze(samples), pitch=pitch, seed=seed)
