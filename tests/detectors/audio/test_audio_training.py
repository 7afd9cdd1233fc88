"""Audio detector training: a tiny seeded run is deterministic; the front-end and windows behave."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("sklearn")

SPEECH = Path(__file__).resolve().parents[3] / "fixtures" / "speech"


@pytest.fixture(scope="module")
def tiny_set():
    """Two fixture clips and their LPC resyntheses as a FeatureSet (clean + one augmented copy)."""
    import soundfile as sf

    from detectors.audio.augment import resample
    from detectors.audio.data import Utterance
    from provguard.generate.audio import resynthesize

    utts = []
    for name in ("librivox_sense_and_sensibility_0870.flac", "librivox_sense_and_sensibility_0920.flac"):
        x, rate = sf.read(str(SPEECH / name), dtype="float32")
        x = resample(x, rate, 16000)[: 3 * 16000]
        utts.append(Utterance(name, "fixture", "real", 0, x))
        utts.append(Utterance(name, "fixture", "lpc", 1, resynthesize(x, 16000, vocoder="lpc", seed=0)[0]))
    return utts


@pytest.mark.parametrize("frontend", ["lfcc", "logspec"])
def test_tiny_lcnn_training_is_deterministic(tiny_set, frontend: str) -> None:
    import torch

    from detectors.audio.train import featurize, train_lcnn

    torch.set_num_threads(1)
    data = featurize(tiny_set, seed=0, frontend=frontend)
    again = featurize(tiny_set, seed=0, frontend=frontend)
    assert data.conditions == again.conditions and all(np.array_equal(a, b) for a, b in zip(data.feats, again.feats))
    runs = [train_lcnn(data, seed=s, steps=3, batch=8, width=4, frontend=frontend)[0].state_dict() for s in (0, 0, 1)]
    assert all(torch.equal(runs[0][k], runs[1][k]) for k in runs[0])
    assert not all(torch.equal(runs[0][k], runs[2][k]) for k in runs[0])


def test_gmm_baseline_fit_is_deterministic_and_separates(tiny_set) -> None:
    from detectors.audio.baselines import train_gmm_pair
    from detectors.audio.train import featurize

    data = featurize(tiny_set, seed=0, n_aug=0)
    real = [f for f, y in zip(data.feats, data.labels) if y == 0]
    fake = [f for f, y in zip(data.feats, data.labels) if y == 1]
    a, b = (train_gmm_pair(real, fake, seed=0, components=4) for _ in range(2))
    assert np.array_equal(a.real.means, b.real.means) and np.array_equal(a.fake.variances, b.fake.variances)
    assert all(a.raw(f)[0] > a.raw(r)[0] for r in real for f in fake)  # on its own training data


def test_windows_cover_the_clip() -> None:
    from detectors.audio.scoring import window_bounds

    assert window_bounds(40) == [(0, 40)]
    bounds = window_bounds(237)
    assert bounds[0][0] == 0 and bounds[-1][1] == 237
    assert all(e - s == 100 for s, e in bounds)
    assert all(b[0] - a[0] <= 50 for a, b in itertools.pairwise(bounds))


def test_lfcc_shapes_and_level_shift_only_moves_c0() -> None:
    from detectors.audio.features import DIM, lfcc

    rng = np.random.default_rng(0)
    x = rng.normal(0, 0.1, 16000).astype(np.float32)
    a, b = lfcc(x), lfcc(x * 0.5)
    assert a.shape == (99, DIM)
    assert np.allclose(a[:, 1:], b[:, 1:], atol=1e-3)
    assert not np.allclose(a[:, 0], b[:, 0])
