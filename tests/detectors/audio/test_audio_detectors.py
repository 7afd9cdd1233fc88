"""The shipped audio detectors: loading, calibration, real vs vocoded speech, splice localisation, bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import detectors
from provguard.errors import AudioTooShortError, MediaTooLargeError, ProvguardError

pytest.importorskip("torch")
pytest.importorskip("sklearn")

SPEECH = Path(__file__).resolve().parents[3] / "fixtures" / "speech"
#: In the corpus's test split (never trained on); 0870 is in validation (calibration only).
TEST_CLIP = SPEECH / "librivox_sense_and_sensibility_0920.flac"
NAMES = ("audio-lcnn", "audio-lfcc-gmm")


def _speech(path: Path = TEST_CLIP) -> np.ndarray:
    """A fixture clip as 16 kHz float32 mono."""
    import soundfile as sf

    from detectors.audio.augment import resample

    x, rate = sf.read(str(path), dtype="float32", always_2d=True)
    return resample(x.mean(axis=1), rate, 16000)


@pytest.fixture(scope="module")
def lcnn() -> detectors.Detector:
    return detectors.load("audio-lcnn", device="cpu")


@pytest.fixture(scope="module")
def gmm() -> detectors.Detector:
    return detectors.load("audio-lfcc-gmm")


@pytest.fixture(scope="module")
def real_and_fakes() -> dict[str, np.ndarray]:
    """The test-split fixture clip and its neural and LPC resyntheses."""
    from provguard.generate.audio import resynthesize

    real = _speech()[: 4 * 16000]
    return {
        "real": real,
        "neural": resynthesize(real, 16000, vocoder="neural", seed=3)[0],
        "lpc": resynthesize(real, 16000, vocoder="lpc", seed=3)[0],
    }


@pytest.mark.parametrize("name", NAMES)
def test_registry_loads_audio_detectors(name: str) -> None:
    det = detectors.load(name)
    assert det.name == name and det.kind == "audio" and det.version


def test_real_and_vocoded_speech_score_clearly_apart(lcnn, real_and_fakes) -> None:
    real = lcnn.score((real_and_fakes["real"], 16000)).score
    for vocoder in ("neural", "lpc"):
        fake = lcnn.score((real_and_fakes[vocoder], 16000)).score
        assert fake - real > 0.5, (vocoder, real, fake)
    assert real < 0.5


@pytest.mark.parametrize("name", NAMES)
def test_scores_are_probabilities_and_deterministic(name: str, real_and_fakes) -> None:
    a, b = detectors.load(name), detectors.load(name)
    for clip in real_and_fakes.values():
        first, second = a.score((clip, 16000)), b.score((clip, 16000))
        assert first == second
        assert 0.0 <= first.score <= 1.0
        assert all(0.0 <= r["score"] <= 1.0 and r["start"] < r["end"] for r in first.regions)


def test_files_and_other_rates_are_accepted(lcnn) -> None:
    path_result = lcnn.score(SPEECH / "allison_vm-intro.flac")  # 8 kHz telephone prompt from disk
    assert 0.0 <= path_result.score <= 1.0
    assert path_result.regions[-1]["end"] == pytest.approx(5.654, abs=0.01)


@pytest.mark.parametrize("sidecar", ["audio-lcnn.json", "audio-lfcc-gmm.json"])
def test_shipped_calibration_is_monotone_in_unit_interval(sidecar: str) -> None:
    from detectors.calibration import Calibrator
    from detectors.weights import load_json

    cal = Calibrator.from_dict(load_json(sidecar)["calibration"])
    grid = np.linspace(-1e3, 1e3, 20001)
    probs = cal(grid)
    assert np.all((probs >= 0) & (probs <= 1))
    assert np.all(np.diff(probs) >= 0)
    assert probs[0] < 0.5 < probs[-1]


def test_segments_locate_the_fake_half_of_a_splice(lcnn) -> None:
    from provguard.generate.audio import resynthesize

    x = _speech()
    real, tail = x[: 3 * 16000], x[3 * 16000: 6 * 16000]
    fake = resynthesize(tail, 16000, vocoder="neural", seed=1)[0]
    result = lcnn.score((np.concatenate([real, fake]), 16000))
    first = [r["score"] for r in result.regions if r["end"] <= 3.0]
    second = [r["score"] for r in result.regions if r["start"] >= 3.0]
    assert first and second
    assert max(first) < 0.5 < min(second), result.regions
    assert 0.0 <= result.score <= 1.0


@pytest.mark.parametrize("name", NAMES)
def test_silence_is_refused(name: str) -> None:
    det = detectors.load(name)
    with pytest.raises(ProvguardError, match="silent"):
        det.score((np.zeros(3 * 16000, np.float32), 16000))


def test_too_short_clip_is_refused_clearly(lcnn) -> None:
    with pytest.raises(AudioTooShortError, match="at least"):
        lcnn.score((_speech()[:3000], 16000))


def test_two_hour_file_is_refused_before_decoding(lcnn, tmp_path: Path) -> None:
    import soundfile as sf

    rate = 400  # a 2-hour WAV kept small on disk: 2.9 MB of 8-bit samples
    tone = (0.3 * np.sin(np.arange(2 * 3600 * rate) * 0.7)).astype(np.float32)
    path = tmp_path / "two_hours.wav"
    sf.write(str(path), tone, rate, subtype="PCM_U8")
    with pytest.raises(MediaTooLargeError, match="limit"):
        lcnn.score(path)
    with pytest.raises(MediaTooLargeError):
        lcnn.score((tone, rate))
