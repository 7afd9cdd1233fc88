"""The mel spectrogram front end every speech vocoder shares: STFT, 80-band log-mel, its pseudo-inverse, pitch shift."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

SAMPLE_RATE = 16000
N_FFT = 1024
HOP = 256
N_MELS = 80
FMIN = 0.0
FMAX = 8000.0
#: Smallest magnitude before the log (-100 dB): silence maps to log(LOG_FLOOR), never -inf.
LOG_FLOOR = 1e-5
#: Frames quieter than the loudest frame by more than this are left out of the mel distance (leading silence).
ACTIVE_RANGE_DB = 60.0
_DB_PER_NEPER = 20.0 / np.log(10.0)


def hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    """HTK mel scale."""
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def mel_to_hz(mel: np.ndarray | float) -> np.ndarray:
    """Inverse of hz_to_mel."""
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


@functools.lru_cache(maxsize=4)
def _filterbank(n_mels: int, n_fft: int, rate: int, fmin: float, fmax: float) -> np.ndarray:
    """Triangular area-normalised mel filters, n_mels x (n_fft // 2 + 1), float32 and read-only."""
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    freqs = np.linspace(0.0, rate / 2.0, n_fft // 2 + 1)
    lower = (freqs[None, :] - edges[:-2, None]) / (edges[1:-1, None] - edges[:-2, None])
    upper = (edges[2:, None] - freqs[None, :]) / (edges[2:, None] - edges[1:-1, None])
    bank = np.maximum(0.0, np.minimum(lower, upper))
    bank *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    out = bank.astype(np.float32)
    out.flags.writeable = False
    return out


def mel_filterbank() -> np.ndarray:
    """The shared 80-band filterbank (N_MELS x N_FFT // 2 + 1)."""
    return _filterbank(N_MELS, N_FFT, SAMPLE_RATE, FMIN, FMAX)


@functools.lru_cache(maxsize=1)
def _pinv_filterbank() -> np.ndarray:
    """Pseudo-inverse of the filterbank (bins x bands)."""
    out = np.linalg.pinv(mel_filterbank().astype(np.float64)).astype(np.float32)
    out.flags.writeable = False
    return out


def mel_centers_hz() -> np.ndarray:
    """Centre frequency of each mel band in Hz."""
    return mel_to_hz(np.linspace(hz_to_mel(FMIN), hz_to_mel(FMAX), N_MELS + 2))[1:-1]


@functools.lru_cache(maxsize=8)
def hann(n: int) -> np.ndarray:
    """Periodic Hann window of length n (float64, read-only)."""
    out = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)
    out.flags.writeable = False
    return out


def n_frames(n_samples: int, hop: int = HOP) -> int:
    """Frames of a centred STFT over n_samples."""
    return n_samples // hop + 1


def stft(x: np.ndarray, n_fft: int = N_FFT, hop: int = HOP) -> np.ndarray:
    """Centred (reflect-padded) Hann STFT: complex, (n_fft // 2 + 1) x frames."""
    x = np.asarray(x, dtype=np.float64)
    pad = n_fft // 2
    mode = "reflect" if x.shape[0] > pad else "constant"
    padded = np.pad(x, (pad, pad), mode=mode)
    count = n_frames(x.shape[0], hop)
    need = (count - 1) * hop + n_fft
    if padded.shape[0] < need:
        padded = np.pad(padded, (0, need - padded.shape[0]))
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop][:count]
    return np.fft.rfft(frames * hann(n_fft), axis=1).T


def istft(spec: np.ndarray, length: int, n_fft: int = N_FFT, hop: int = HOP) -> np.ndarray:
    """Inverse of stft by weighted overlap-add, trimmed to length samples."""
    frames = np.fft.irfft(spec.T, n=n_fft, axis=1) * hann(n_fft)
    count = frames.shape[0]
    total = (count - 1) * hop + n_fft
    out = np.zeros(total + n_fft)
    norm = np.zeros(total + n_fft)
    sq = hann(n_fft) ** 2
    if n_fft % hop == 0:  # overlap-add as n_fft / hop strided adds instead of one add per frame
        for k in range(n_fft // hop):
            piece = slice(k * hop, k * hop + count * hop)
            out[piece] += frames[:, k * hop: (k + 1) * hop].reshape(-1)
            norm[piece] += np.tile(sq[k * hop: (k + 1) * hop], count)
    else:
        for i in range(count):
            out[i * hop: i * hop + n_fft] += frames[i]
            norm[i * hop: i * hop + n_fft] += sq
    out, norm = out[:total], norm[:total]
    out /= np.maximum(norm, 1e-8)
    pad = n_fft // 2
    out = out[pad: pad + length]
    return np.pad(out, (0, max(0, length - out.shape[0])))


def mel_magnitude(x: np.ndarray) -> np.ndarray:
    """Linear-magnitude mel spectrogram (N_MELS x frames) of 16 kHz samples."""
    return mel_filterbank().astype(np.float64) @ np.abs(stft(x))


def log_mel(x: np.ndarray) -> np.ndarray:
    """Natural-log mel spectrogram (N_MELS x frames, float32) of 16 kHz samples: the vocoders' input."""
    return np.log(np.maximum(mel_magnitude(x), LOG_FLOOR)).astype(np.float32)


def mel_to_magnitude(logmel: np.ndarray) -> np.ndarray:
    """Linear STFT magnitude (bins x frames) from a log-mel through the filterbank's pseudo-inverse."""
    mag = _pinv_filterbank().astype(np.float64) @ np.exp(np.asarray(logmel, dtype=np.float64))
    return np.maximum(mag, 0.0)


def semitone_ratio(semitones: float) -> float:
    """Frequency ratio of a shift by semitones."""
    return float(2.0 ** (float(semitones) / 12.0))


def shift_mel(logmel: np.ndarray, semitones: float) -> np.ndarray:
    """Shift a log-mel along frequency by semitones (harmonics and formants move together), keeping its frames."""
    if semitones == 0:
        return np.asarray(logmel, dtype=np.float32)
    centers = hz_to_mel(mel_centers_hz())
    source = hz_to_mel(mel_centers_hz() / semitone_ratio(semitones))
    floor = float(np.log(LOG_FLOOR))
    out = np.empty_like(np.asarray(logmel, dtype=np.float32))
    for t in range(logmel.shape[1]):
        out[:, t] = np.interp(source, centers, logmel[:, t], left=floor, right=floor)
    # below the first centre, fade from the floor up to the first band rather than dropping to silence
    low = source < centers[0]
    if low.any():
        out[low, :] = np.maximum(out[low, :], logmel[:1, :] - 20.0 / _DB_PER_NEPER)
    return out


def log_mel_db(logmel: np.ndarray) -> np.ndarray:
    """Convert a natural-log mel to decibels."""
    return np.asarray(logmel, dtype=np.float64) * _DB_PER_NEPER


def active_frames(logmel: np.ndarray, range_db: float = ACTIVE_RANGE_DB) -> np.ndarray:
    """Boolean mask of frames within range_db of the loudest frame (by total mel energy)."""
    energy_db = 10.0 * np.log10(np.maximum(np.exp(2.0 * np.asarray(logmel, dtype=np.float64)).sum(axis=0), 1e-30))
    return energy_db >= energy_db.max() - range_db


def mel_distance_db(reference: np.ndarray, candidate: np.ndarray) -> float:
    """Mean absolute log-mel difference in dB over the reference's active frames (same-length 16 kHz signals)."""
    n = min(reference.shape[0], candidate.shape[0])
    ref, cand = log_mel(reference[:n]), log_mel(candidate[:n])
    mask = active_frames(ref)
    return float(np.mean(np.abs(log_mel_db(ref[:, mask]) - log_mel_db(cand[:, mask]))))


def log_mel_torch(x: Any) -> Any:
    """The same log-mel in torch for batches (B x samples -> B x N_MELS x frames), differentiable."""
    import torch

    bank = torch.from_numpy(np.array(mel_filterbank())).to(x.dtype)
    window = torch.hann_window(N_FFT, periodic=True, dtype=x.dtype)
    spec = torch.stft(x, N_FFT, HOP, N_FFT, window, center=True, pad_mode="reflect", return_complex=True)
    mag = torch.sqrt(spec.real**2 + spec.imag**2 + 1e-12)
    return torch.log(torch.clamp(bank @ mag, min=LOG_FLOOR))
