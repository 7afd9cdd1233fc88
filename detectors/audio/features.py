"""LFCC front-end (linear-frequency cepstra with deltas) for 16 kHz speech, in numpy."""

from __future__ import annotations

import functools

import numpy as np

RATE = 16000
N_FFT = 512
WIN = 320  # 20 ms
HOP = 160  # 10 ms: 100 frames per second
N_FILTERS = 40
N_CEPS = 20
#: Feature dimension: N_CEPS cepstra, their deltas and delta-deltas.
DIM = 3 * N_CEPS
FRAMES_PER_SECOND = RATE // HOP


@functools.lru_cache(maxsize=4)
def linear_filterbank(n_filters: int = N_FILTERS, n_fft: int = N_FFT, rate: int = RATE) -> np.ndarray:
    """Triangular filters spaced linearly from 0 Hz to Nyquist: (n_filters, n_fft // 2 + 1)."""
    bins = n_fft // 2 + 1
    edges = np.linspace(0.0, rate / 2, n_filters + 2)
    freqs = np.linspace(0.0, rate / 2, bins)
    fb = np.zeros((n_filters, bins), dtype=np.float64)
    for i in range(n_filters):
        lo, mid, hi = edges[i], edges[i + 1], edges[i + 2]
        rise = (freqs - lo) / (mid - lo)
        fall = (hi - freqs) / (hi - mid)
        fb[i] = np.clip(np.minimum(rise, fall), 0.0, None)
    return fb.astype(np.float32)


@functools.lru_cache(maxsize=4)
def dct_matrix(n_out: int = N_CEPS, n_in: int = N_FILTERS) -> np.ndarray:
    """Orthonormal DCT-II matrix (n_out, n_in)."""
    k = np.arange(n_out)[:, None]
    n = np.arange(n_in)[None, :]
    m = np.cos(np.pi * k * (2 * n + 1) / (2 * n_in)) * np.sqrt(2.0 / n_in)
    m[0] /= np.sqrt(2.0)
    return m.astype(np.float32)


def frames(x: np.ndarray, win: int = WIN, hop: int = HOP) -> np.ndarray:
    """Hann-windowed frames (n_frames, win); a signal shorter than one window is zero-padded to one frame."""
    x = np.asarray(x, dtype=np.float32)
    if x.shape[0] < win:
        x = np.pad(x, (0, win - x.shape[0]))
    n = 1 + (x.shape[0] - win) // hop
    view = np.lib.stride_tricks.sliding_window_view(x, win)[::hop][:n]
    return view * np.hanning(win + 2)[1:-1].astype(np.float32)


def log_filterbank(x: np.ndarray) -> np.ndarray:
    """Log energies of the linear filterbank: (n_frames, N_FILTERS)."""
    spec = np.abs(np.fft.rfft(frames(x), n=N_FFT, axis=1)) ** 2
    return np.log(spec.astype(np.float32) @ linear_filterbank().T + 1e-8)


def deltas(feat: np.ndarray, width: int = 2) -> np.ndarray:
    """Regression deltas along time (frames x dims), edges repeated."""
    padded = np.pad(feat, ((width, width), (0, 0)), mode="edge")
    n = feat.shape[0]
    num = sum(k * (padded[width + k: width + k + n] - padded[width - k: width - k + n]) for k in range(1, width + 1))
    return (num / (2 * sum(k * k for k in range(1, width + 1)))).astype(np.float32)


def lfcc(x: np.ndarray) -> np.ndarray:
    """LFCC with deltas and delta-deltas of 16 kHz mono audio: (n_frames, DIM) float32."""
    ceps = log_filterbank(x) @ dct_matrix().T
    d1 = deltas(ceps)
    return np.concatenate([ceps, d1, deltas(d1)], axis=1).astype(np.float32)


#: Bins of the pooled log spectrogram (pairs of 512-point FFT bins, 0-8 kHz).
SPEC_BINS = 128


def log_spectrogram(x: np.ndarray) -> np.ndarray:
    """Log power spectrogram, adjacent FFT bins pooled in pairs: (n_frames, SPEC_BINS) float32."""
    spec = (np.abs(np.fft.rfft(frames(x), n=N_FFT, axis=1)) ** 2).astype(np.float32)
    pooled = spec[:, 1:1 + 2 * SPEC_BINS].reshape(spec.shape[0], SPEC_BINS, 2).sum(axis=2)
    return np.log(pooled + 1e-8).astype(np.float32)


#: Front-ends by name: (function, feature dimension).
FRONTENDS = {"lfcc": (lfcc, DIM), "logspec": (log_spectrogram, SPEC_BINS)}


def extract(x: np.ndarray, frontend: str = "lfcc") -> np.ndarray:
    """Features of 16 kHz audio by front-end name."""
    return FRONTENDS[frontend][0](x)
