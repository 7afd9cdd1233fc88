"""Shared scoring plumbing for audio detectors: input checks, 1 s analysis windows, segment regions."""

from __future__ import annotations

from typing import Any

import numpy as np

from detectors.audio.features import FRAMES_PER_SECOND, RATE, extract

#: Analysis window and hop in feature frames (1.0 s windows every 0.5 s).
WINDOW_FRAMES = 100
HOP_FRAMES = 50
#: Longest audio scored, in seconds (longer input is refused before it is decoded).
MAX_SECONDS = 30 * 60.0


def load_audio(media: Any, max_seconds: float = MAX_SECONDS) -> np.ndarray:
    """16 kHz float32 mono from (samples, rate), bytes or a path; refuses silence, too-short and over-long input."""
    from detectors.audio.augment import resample
    from detectors.inputs import as_audio

    samples, rate = as_audio(media, max_seconds=max_seconds)
    return resample(samples, rate, RATE) if rate != RATE else np.ascontiguousarray(samples, dtype=np.float32)


def window_bounds(n_frames: int, win: int = WINDOW_FRAMES, hop: int = HOP_FRAMES) -> list[tuple[int, int]]:
    """(start, end) frame ranges covering n_frames: one window when short, the last one flush with the end."""
    if n_frames <= win:
        return [(0, n_frames)]
    starts = list(range(0, n_frames - win + 1, hop))
    if starts[-1] + win < n_frames:
        starts.append(n_frames - win)
    return [(s, s + win) for s in starts]


def fit_length(feat: np.ndarray, win: int = WINDOW_FRAMES) -> np.ndarray:
    """Tile a feature matrix shorter than win frames to exactly win frames (longer input is cut)."""
    if feat.shape[0] >= win:
        return feat[:win]
    reps = -(-win // max(1, feat.shape[0]))
    return np.tile(feat, (reps, 1))[:win]


def windows(feat: np.ndarray) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Stack of analysis windows (n, WINDOW_FRAMES, dim) and their frame bounds."""
    bounds = window_bounds(feat.shape[0])
    return np.stack([fit_length(feat[s:e]) for s, e in bounds]), bounds


def features(samples: np.ndarray, frontend: str = "lfcc") -> np.ndarray:
    """The feature frames (LFCC by default) of 16 kHz audio."""
    return extract(samples, frontend)


def regions(bounds: list[tuple[int, int]], probs: np.ndarray, n_samples: int) -> list[dict[str, float]]:
    """Per-window regions {"start", "end", "score"} in seconds (the last one ends where the audio ends)."""
    total = n_samples / RATE
    out = []
    for i, ((s, e), p) in enumerate(zip(bounds, probs)):
        end = total if i == len(bounds) - 1 else min(total, e / FRAMES_PER_SECOND)
        out.append({"start": round(s / FRAMES_PER_SECOND, 3), "end": round(end, 3), "score": round(float(p), 6)})
    return out
