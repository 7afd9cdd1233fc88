"""Detection in the Report: real photos and reference fakes get clearly different calibrated scores through verify."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from provguard.cli import main
from provguard.detection import LIKELY_AUTHENTIC, LIKELY_SYNTHETIC, NOT_SCORED, detection_evidence, label_for
from provguard.media import PNG, PDF
from provguard.verify import verify

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
REAL_PHOTOS = sorted((FIXTURES / "photos").glob("*.jpg"))[:3]


@pytest.fixture(scope="module")
def fake_png(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A reference-generator sample (DiT + autoencoder), unsigned."""
    from provguard.generate.image import encode_still, sample_images

    path = tmp_path_factory.mktemp("fake") / "sample.png"
    path.write_bytes(encode_still(sample_images(1, size=256, seed=7, steps=10)[0], "png"))
    return path


def _cli_json(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> list[dict]:
    """Run `provguard verify --format json` in-process and parse its array."""
    capsys.readouterr()
    main(["verify", "--format", "json", *(str(a) for a in argv)])
    return json.loads(capsys.readouterr().out)


def test_labels_follow_the_calibrated_threshold() -> None:
    assert label_for(0.49) == LIKELY_AUTHENTIC and label_for(0.5) == LIKELY_SYNTHETIC


def test_verify_scores_a_fake_clearly_above_real_photos(fake_png: Path, capsys: pytest.CaptureFixture[str]) -> None:
    reports = _cli_json(capsys, "--no-watermark", fake_png, *REAL_PHOTOS)
    fake, reals = reports[0]["detection"], [r["detection"] for r in reports[1:]]
    assert fake["label"] == LIKELY_SYNTHETIC
    assert {m["name"] for m in fake["models"]} >= {"image-frequency", "image-dct-logreg", "image-spectrum"}
    for real in reals:
        assert 0.0 <= real["score"] <= 1.0 and real["label"] == LIKELY_AUTHENTIC
        assert fake["score"] - real["score"] > 0.5
    assert fake["regions"] and {"x", "y", "w", "h", "score"} <= set(fake["regions"][0])


def test_no_detect_leaves_detection_out(fake_png: Path) -> None:
    assert verify(fake_png, watermark=False, detect=False).detection is None


def test_text_output_says_what_the_detectors_think(fake_png: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    main(["verify", "--no-watermark", str(fake_png)])
    out = capsys.readouterr().out
    assert "Detectors: looks machine-made" in out and "not proof" in out


def test_an_image_too_small_to_score_is_reported_not_failed() -> None:
    buf = io.BytesIO()
    Image.fromarray(np.full((40, 40, 3), 128, np.uint8)).save(buf, "PNG")
    evidence = detection_evidence(buf.getvalue(), PNG)
    assert evidence is not None and evidence.score is None and evidence.label == NOT_SCORED
    assert "64 px" in (evidence.note or "")
    report = verify(buf.getvalue(), watermark=False)
    assert report.errors == [] and report.detection is not None and report.detection.label == NOT_SCORED


def test_documents_are_not_scored() -> None:
    assert detection_evidence(b"%PDF-1.4\n%%EOF\n", PDF) is None


def test_vocoded_speech_scores_above_the_real_recording(tmp_path: Path) -> None:
    import soundfile as sf

    from provguard.generate.audio import load_speech, resynthesize

    real = FIXTURES / "speech" / "librivox_sense_and_sensibility_0870.flac"
    samples, rate = load_speech(real)
    fake_samples, fake_rate = resynthesize(samples, rate, vocoder="griffinlim", seed=0)
    fake = tmp_path / "vocoded.wav"
    sf.write(fake, fake_samples, fake_rate, subtype="PCM_16")
    real_det = verify(real, watermark=False).detection
    fake_det = verify(fake, watermark=False).detection
    assert real_det is not None and fake_det is not None
    assert real_det.models[0].name == "audio-lcnn"
    assert fake_det.score - real_det.score > 0.5
    assert all("start" in r and "end" in r for r in fake_det.regions)


def test_video_is_scored_on_frames() -> None:
    det = verify(FIXTURES / "video" / "vtest_30f.mp4", watermark=False).detection
    assert det is not None and det.models[0].name == "video-frames"
    assert 0.0 <= det.score <= 1.0
    frames = [r for r in det.regions if r.get("track") == "video"]
    assert len(frames) >= 8 and all(0.0 <= r["score"] <= 1.0 for r in frames)
