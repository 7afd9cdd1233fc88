"""Synthetic speech-like signals shared by the generator tests."""

from __future__ import annotations

import numpy as np

from provguard.generate import lpc


def vowel(seconds: float = 3.5, rate: int = 16000, f0: float = 120.0, seed: int = 1) -> np.ndarray:
    """A voiced vowel with vibrato and a little breath noise: glottal pulses through three formant resonators."""
    from scipy.signal import lfilter

    n = int(seconds * rate)
    t = np.arange(n) / rate
    freq = f0 * (1.0 + 0.03 * np.sin(2 * np.pi * 5.0 * t))
    phase = np.cumsum(freq / rate)
    source = np.diff(np.floor(phase), prepend=0.0) + 0.02 * np.random.default_rng(seed).standard_normal(n)
    y = source
    for formant, bandwidth in ((700.0, 80.0), (1200.0, 90.0), (2600.0, 120.0)):
        r = np.exp(-np.pi * bandwidth / rate)
        y = lfilter([1.0 - r], [1.0, -2 * r * np.cos(2 * np.pi * formant / rate), r * r], y)
    envelope = np.minimum(1.0, np.minimum(t, t[-1] - t) / 0.05)
    return (0.5 * y / np.abs(y).max() * envelope).astype(np.float32)


def median_f0(x: np.ndarray) -> float:
    """Median f0 (Hz) of the voiced frames, by the LPC vocoder's pitch tracker."""
    f0 = lpc.analyze(x).f0
    return float(np.median(f0[f0 > 0]))
