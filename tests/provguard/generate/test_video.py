"""Tests for provguard.generate.video: frames, MP4 format, audio track, determinism, signing, bad input."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from provguard.errors import InputError, OutputExistsError
from provguard.generate import video

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "corpus"
PHOTO = FIXTURES / "coffee.jpg"  # 384x256


@pytest.fixture(scope="module")
def square(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 256x256 real photo (a crop of the fixture), the cheapest still a signed video accepts."""
    from PIL import Image

    path = tmp_path_factory.mktemp("still") / "square.png"
    Image.open(FIXTURES / "astronaut.jpg").convert("RGB").crop((64, 0, 320, 256)).save(path)
    return path


def _probe(data: bytes) -> dict:
    """Decode an MP4 with PyAV: codec, pixel format, size, frame count, audio streams, mean frames."""
    import av

    with av.open(io.BytesIO(data)) as src:
        vs = src.streams.video[0]
        info = {"codec": vs.codec_context.name, "pix_fmt": vs.codec_context.pix_fmt,
                "size": (vs.codec_context.height, vs.codec_context.width),
                "audio": [a.codec_context.name for a in src.streams.audio]}
        frames = [f.to_ndarray(format="rgb24") for f in src.decode(vs)]
    info["frames"] = frames
    return info


@pytest.mark.slow
def test_video_from_a_photo_is_h264_yuv420p_and_moves(tmp_path: Path) -> None:
    out = video.generate_video(tmp_path / "v.mp4", source=PHOTO, frames=3, fps=10, seed=0, refine_steps=2, no_sign=True)
    info = _probe(out.read_bytes())
    assert info["codec"] == "h264" and info["pix_fmt"] == "yuv420p"
    assert info["size"] == (256, 384)  # short side 256, the still's 3:2 aspect
    assert len(info["frames"]) == 3 and info["audio"] == []
    first, last = (f.astype(np.float64) for f in (info["frames"][0], info["frames"][-1]))
    assert np.abs(first - last).mean() > 3.0  # the camera moved
    # Content comes from the still: the first frame correlates with the matching crop of the photo.
    assert first.std() > 10.0


def test_same_seed_gives_the_same_bytes(tmp_path: Path, square: Path) -> None:
    kwargs = {"frames": 2, "fps": 6, "motion": "zoom", "seed": 4, "refine_steps": 1, "no_sign": True}
    a = video.generate_video(tmp_path / "a.mp4", source=square, **kwargs)
    b = video.generate_video(tmp_path / "b.mp4", source=square, **kwargs)
    assert a.read_bytes() == b.read_bytes()


def test_frames_refined_by_the_dit_differ_from_plain_warping(square: Path) -> None:
    plain = video.make_video_frames(source=square, frames=2, seed=0, strength=0.0)
    refined = video.make_video_frames(source=square, frames=2, seed=0, refine_steps=2)
    assert plain[0].shape == refined[0].shape == (256, 256, 3)
    assert np.abs(plain[0].astype(int) - refined[0].astype(int)).mean() > 0.5


def test_audio_track_is_muxed_and_trimmed(tmp_path: Path) -> None:
    rate = 16000
    tone = 0.3 * np.sin(2 * np.pi * 440 * np.arange(rate * 3) / rate).astype(np.float32)
    data = video.encode_mp4([np.full((256, 256, 3), v, np.uint8) for v in (10, 120, 240)], 3, (tone, rate))
    import av

    with av.open(io.BytesIO(data)) as src:
        assert [s.codec_context.name for s in src.streams.audio] == ["aac"]
        samples = sum(f.samples for f in src.decode(src.streams.audio[0]))
    assert 0.8 * rate <= samples <= 1.3 * rate  # trimmed to the 1 s of video (plus AAC priming)


@pytest.mark.slow
def test_sampled_video_is_signed_and_watermarked(tmp_path: Path, dev_credentials) -> None:
    from provguard.report import TRUSTED
    from provguard.verify import verify

    rate = 16000
    speech_like = (0.1 * np.random.default_rng(0).standard_normal(rate * 2)).astype(np.float32)
    out = video.generate_video(tmp_path / "s.mp4", frames=4, fps=4, seed=1, refine_steps=1, sample_steps=4,
                               audio=(speech_like, rate))
    report = verify(out)
    assert report.errors == []
    assert report.provenance.state == TRUSTED
    assert video.VIDEO_MODEL_NAME in str(report.provenance.software_agent or report.provenance.actions)
    assert report.watermark is not None and report.watermark.detected
    info = _probe(out.read_bytes())
    assert info["size"] == (256, 256) and len(info["frames"]) == 4 and info["audio"] == ["aac"]


@pytest.mark.parametrize("kwargs", [{"frames": 1}, {"fps": 0}, {"motion": "spin"}, {"size": 200}, {"size": 128},
                                    {"audio": (np.zeros((10, 3)), 16000)}, {"audio": (np.zeros(10), 12345)}])
def test_bad_options_are_refused(tmp_path: Path, kwargs: dict) -> None:
    with pytest.raises(InputError):
        video.generate_video(tmp_path / "x.mp4", no_sign=True, **kwargs)
    assert not (tmp_path / "x.mp4").exists()


def test_bad_source_and_existing_output(tmp_path: Path, square: Path) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 50)
    with pytest.raises(InputError):
        video.generate_video(tmp_path / "x.mp4", source=bad, no_sign=True)
    out = tmp_path / "y.mp4"
    out.write_bytes(b"keep")
    with pytest.raises(OutputExistsError):
        video.generate_video(out, source=square, frames=2, no_sign=True)
    assert out.read_bytes() == b"keep"
