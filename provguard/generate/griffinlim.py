"""Griffin-Lim vocoder: mel -> linear magnitude by pseudo-inverse -> phase by fast Griffin-Lim iterations."""

from __future__ import annotations

import numpy as np

from provguard.generate import mel as melfe

MODEL_NAME = "provguard-ref-vocoder-griffinlim"
MODEL_VERSION = "1"
DEFAULT_ITERATIONS = 48
#: Momentum of the fast Griffin-Lim update (Perraudin et al. 2013); 0 gives the classic algorithm.
MOMENTUM = 0.99


def griffin_lim(logmel: np.ndarray, length: int, *, iterations: int = DEFAULT_ITERATIONS, seed: int = 0) -> np.ndarray:
    """Waveform of `length` 16 kHz samples whose STFT magnitude matches the log-mel's pseudo-inverse."""
    magnitude = melfe.mel_to_magnitude(logmel)
    rng = np.random.default_rng(seed)
    phase = np.exp(2j * np.pi * rng.random(magnitude.shape))
    estimate = magnitude * phase
    previous = np.zeros_like(estimate)
    for _ in range(max(1, iterations)):
        rebuilt = melfe.stft(melfe.istft(estimate, length))
        accelerated = rebuilt + MOMENTUM * (rebuilt - previous)
        previous = rebuilt
        estimate = magnitude * np.exp(1j * np.angle(accelerated))
    return melfe.istft(estimate, length).astype(np.float32)
