"""Soft-binding recovery end to end through the CLI: sign, launder (re-encode, crop, recompress), verify."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def _cli(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    """Run the provguard CLI in a subprocess with an isolated home."""
    env = {"PROVGUARD_HOME": str(home), "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "provguard", *args], capture_output=True, text=True, env=env, timeout=120)


def _photo() -> Path:
    """A real photograph among the fixtures (coffee.jpg, 600x400)."""
    photo = FIXTURES / "photos" / "coffee.jpg"
    assert photo.exists(), f"missing fixture {photo}"
    return photo


def _launder(src: Path, dst: Path) -> None:
    """Re-encode as a platform would: centre crop to 70% of the area, then JPEG quality 75."""
    img = Image.open(src).convert("RGB")
    w, h = img.size
    side = 0.70**0.5
    cw, ch = round(w * side), round(h * side)
    left, top = (w - cw) // 2, (h - ch) // 2
    img.crop((left, top, left + cw, top + ch)).save(dst, format="JPEG", quality=75)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A provguard home with dev keys, made through the CLI."""
    proc = _cli("keys", "init", home=tmp_path / "home")
    assert proc.returncode == 0, proc.stderr
    return tmp_path / "home"


def test_laundered_photo_yields_payload_and_recovered_manifest(home: Path, tmp_path: Path) -> None:
    """The manifest is gone after laundering, but the watermark finds the stored, still-signed manifest."""
    signed, laundered = tmp_path / "signed.jpg", tmp_path / "laundered.jpg"
    proc = _cli("sign", str(_photo()), "-o", str(signed), "--generator", "refgen@1.0", home=home)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # the fresh mark read back: no warning
    payload = proc.stdout.split("watermark payload ")[1].strip(" )\n")
    _launder(signed, laundered)
    proc = _cli("verify", "--format", "json", str(signed), str(laundered), home=home)
    assert proc.returncode == 1  # the laundered copy has no manifest: a finding
    original, copy = json.loads(proc.stdout)
    assert original["provenance"]["state"] == "trusted"
    assert original["provenance"]["soft_bindings"][0]["value"] == payload
    assert copy["provenance"]["state"] == "absent"
    mark = copy["watermark"]
    assert mark["detected"] and mark["payload"] == payload and mark["p_value"] < 1e-6
    recovered = mark["recovered"]
    assert recovered["content_changed"] is True
    codes = recovered["provenance"]["failure_codes"]
    assert "assertion.dataHash.mismatch" in codes
    assert not any(code.startswith("claimSignature") for code in codes)
    assert recovered["provenance"]["software_agent"] == "refgen 1.0"
    assert recovered["provenance"]["digital_source_type"] == "trainedAlgorithmicMedia"
    text = _cli("verify", str(laundered), home=home).stdout
    assert "recovered by soft binding" in text and "content changed since it was signed" in text


def _aac(samples: np.ndarray, rate: int, path: Path, bit_rate: int, muxer: str) -> Path:
    """Mono samples as AAC in an MP4 container of the given muxer ('mp4': brand isom; 'ipod': brand M4A)."""
    import av

    with av.open(str(path), "w", format=muxer) as out:
        stream = out.add_stream("aac", rate=rate, layout="mono")
        stream.bit_rate = bit_rate
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[None, :], np.float32), format="fltp",
                                           layout="mono")
        frame.sample_rate, frame.pts = rate, 0
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def test_an_audio_only_mp4_is_signed_and_its_transcode_recovers_the_manifest(home: Path, tmp_path: Path) -> None:
    """An .mp4 of sound alone (brand isom, as FFmpeg and recorders write it) is audio/mp4: signed with the audio
    mark, and a platform's transcode (AAC 64 kbps, manifest gone) still finds the stored manifest."""
    import soundfile as sf

    from provguard.media import M4A
    from provguard.mediaio import decode_audio

    speech, rate = sf.read(FIXTURES / "speech" / "librivox_sense_and_sensibility_0870.flac", dtype="float32")
    source = _aac(speech, rate, tmp_path / "reading.mp4", 128_000, "mp4")
    signed, laundered = tmp_path / "signed.mp4", tmp_path / "laundered.m4a"
    proc = _cli("sign", str(source), "-o", str(signed), home=home)
    assert proc.returncode == 0, proc.stderr
    assert "audio/mp4" in proc.stdout and proc.stderr == ""
    payload = proc.stdout.split("watermark payload ")[1].strip(" )\n")
    _aac(decode_audio(signed.read_bytes(), M4A).samples[:, 0], rate, laundered, 64_000, "ipod")
    proc = _cli("verify", "--format", "json", str(signed), str(laundered), home=home)
    original, copy = json.loads(proc.stdout)
    assert original["provenance"]["state"] == "trusted", original
    assert copy["provenance"]["state"] == "absent"
    assert copy["watermark"]["detected"] and copy["watermark"]["payload"] == payload
    assert copy["watermark"]["recovered"]["content_changed"] is True


@pytest.mark.parametrize(("fmt", "options"), [("AVIF", {"quality": 50}), ("GIF", {})])
def test_a_photo_a_platform_serves_as_avif_or_gif_recovers_its_manifest(fmt: str, options: dict, home: Path,
                                                                         tmp_path: Path) -> None:
    """Platforms serve AVIF, and GIF (256 colours, dithered): the signed JPEG, cropped and saved so, still points to
    its manifest."""
    extension = "." + fmt.lower()
    signed, served, plain = tmp_path / "signed.jpg", tmp_path / f"served{extension}", tmp_path / f"plain{extension}"
    proc = _cli("sign", str(_photo()), "-o", str(signed), home=home)
    assert proc.returncode == 0, proc.stderr
    payload = proc.stdout.split("watermark payload ")[1].strip(" )\n")
    for src, dst in ((signed, served), (_photo(), plain)):
        img = Image.open(src)
        img.crop((30, 20, img.width - 30, img.height - 20)).save(dst, fmt, **options)
    proc = _cli("verify", "--format", "json", str(served), str(plain), home=home)
    copy, unmarked = json.loads(proc.stdout)
    assert copy["media_type"] == f"image/{fmt.lower()}" and copy["provenance"]["state"] == "absent"
    assert copy["watermark"]["detected"] and copy["watermark"]["payload"] == payload
    assert copy["watermark"]["recovered"]["content_changed"] is True
    assert unmarked["watermark"]["detected"] is False and unmarked["watermark"]["recovered"] is None


def test_a_photo_a_phone_keeps_as_heic_recovers_its_manifest(home: Path, tmp_path: Path) -> None:
    """Phones save HEIC: the signed JPEG, cropped and saved as HEIC quality 50, still points to its manifest."""
    import pillow_heif

    pillow_heif.register_heif_opener()
    signed, kept, plain = tmp_path / "signed.jpg", tmp_path / "kept.heic", tmp_path / "plain.heic"
    proc = _cli("sign", str(_photo()), "-o", str(signed), home=home)
    assert proc.returncode == 0, proc.stderr
    payload = proc.stdout.split("watermark payload ")[1].strip(" )\n")
    for src, dst in ((signed, kept), (_photo(), plain)):
        img = Image.open(src)
        img.crop((30, 20, img.width - 30, img.height - 20)).save(dst, "HEIF", quality=50)
    proc = _cli("verify", "--format", "json", str(kept), str(plain), home=home)
    copy, unmarked = json.loads(proc.stdout)
    assert copy["media_type"] == "image/heic" and copy["provenance"]["state"] == "absent"
    assert copy["watermark"]["detected"] and copy["watermark"]["payload"] == payload
    assert copy["watermark"]["recovered"]["content_changed"] is True
    assert unmarked["watermark"]["detected"] is False and unmarked["watermark"]["recovered"] is None
    assert unmarked["detection"]["score"] is not None  # the detectors read HEIC too


def _h264(frames: list[np.ndarray], path: Path, muxer: str) -> Path:
    """Frames as H.264 (CRF 23, 12 fps) in an MP4 or a QuickTime movie."""
    import av

    with av.open(str(path), "w", format=muxer) as out:
        stream = out.add_stream("libx264", rate=12)
        stream.width, stream.height, stream.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        stream.options = {"crf": "23"}
        for index, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            frame.pts = index
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def test_a_video_an_editor_saves_as_quicktime_recovers_its_manifest(home: Path, tmp_path: Path) -> None:
    """A signed MP4 re-encoded into a .mov (manifest gone) is searched for the mark like an MP4."""
    from provguard.mediaio import iter_video_frames

    pixels = np.asarray(Image.open(_photo()).convert("RGB"))
    source = _h264([pixels[20 + i : 340 + i, 30 + 2 * i : 510 + 2 * i] for i in range(24)], tmp_path / "pan.mp4", "mp4")
    signed = tmp_path / "signed.mp4"
    proc = _cli("sign", str(source), "-o", str(signed), home=home)
    assert proc.returncode == 0, proc.stderr
    payload = proc.stdout.split("watermark payload ")[1].strip(" )\n")
    movie = _h264(iter_video_frames(signed.read_bytes(), max_frames=100), tmp_path / "edited.mov", "mov")
    proc = _cli("verify", "--format", "json", str(movie), home=home)
    (report,) = json.loads(proc.stdout)
    assert report["media_type"] == "video/quicktime" and report["provenance"]["state"] == "absent"
    assert report["watermark"]["detected"] and report["watermark"]["payload"] == payload
    assert report["watermark"]["recovered"]["content_changed"] is True


def test_a_video_site_webm_and_a_voice_note_recover_their_manifests(home: Path, tmp_path: Path) -> None:
    """C2PA has no place for a manifest in WebM or Ogg; the watermark still points back to the stored one."""
    import av
    import soundfile as sf
    from scipy import signal

    from provguard.mediaio import iter_video_frames

    pixels = np.asarray(Image.open(_photo()).convert("RGB"))
    clip = _h264([pixels[20 + i : 340 + i, 30 + 2 * i : 510 + 2 * i] for i in range(24)], tmp_path / "pan.mp4", "mp4")
    speech, rate = sf.read(FIXTURES / "speech" / "librivox_sense_and_sensibility_0870.flac", dtype="float32")
    talk = tmp_path / "talk.wav"
    sf.write(talk, speech, rate, subtype="PCM_16")
    payloads = []
    for source in (clip, talk):
        proc = _cli("sign", str(source), "-o", str(tmp_path / f"signed{source.suffix}"), home=home)
        assert proc.returncode == 0, proc.stderr
        payloads.append(proc.stdout.split("watermark payload ")[1].strip(" )\n"))
    webm, voice = tmp_path / "download.webm", tmp_path / "voice-note.ogg"
    with av.open(str(webm), "w", format="webm") as out:  # a video site's VP9 download
        stream = out.add_stream("libvpx-vp9", rate=12)
        stream.width, stream.height, stream.pix_fmt, stream.options = 480, 320, "yuv420p", {"crf": "32", "b": "0"}
        for index, rgb in enumerate(iter_video_frames((tmp_path / "signed.mp4").read_bytes(), max_frames=100)):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = index
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    marked_speech, _ = sf.read(tmp_path / "signed.wav", dtype="float32")
    with av.open(str(voice), "w", format="ogg") as out:  # a messenger's voice note: Opus at 32 kbps, 48 kHz
        stream = out.add_stream("libopus", rate=48000, layout="mono")
        stream.bit_rate = 32_000
        upsampled = signal.resample_poly(marked_speech, 3, 1).astype(np.float32)
        frame = av.AudioFrame.from_ndarray(upsampled[None, :], format="flt", layout="mono")
        frame.sample_rate, frame.pts = 48000, 0
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    proc = _cli("verify", "--format", "json", str(webm), str(voice), home=home)
    reports = json.loads(proc.stdout)
    for report, payload, mime in zip(reports, payloads, ("video/webm", "audio/ogg")):
        assert report["media_type"] == mime and report["errors"] == [], report
        assert report["provenance"]["state"] == "absent"
        assert report["watermark"]["detected"] and report["watermark"]["payload"] == payload
        recovered = report["watermark"]["recovered"]
        assert recovered["content_changed"] is True
        assert not any(code.startswith("claimSignature") for code in recovered["provenance"]["failure_codes"])
    text = _cli("verify", str(voice), home=home).stdout
    assert "no place for C2PA credentials" in text and "recovered by soft binding" in text


def test_unmarked_photo_reads_not_detected(home: Path, tmp_path: Path) -> None:
    """A photo never signed carries no watermark and nothing is recovered."""
    plain = tmp_path / "plain.jpg"
    _launder(_photo(), plain)
    proc = _cli("verify", "--format", "jsonl", str(plain), home=home)
    report = json.loads(proc.stdout)
    assert report["watermark"]["detected"] is False and report["watermark"]["recovered"] is None


def test_no_watermark_flags(home: Path, tmp_path: Path) -> None:
    """--no-watermark signs without a soft binding and verify --no-watermark skips detection."""
    out = tmp_path / "nowm.jpg"
    assert _cli("sign", str(_photo()), "-o", str(out), "--no-watermark", home=home).returncode == 0
    report = json.loads(_cli("verify", "--format", "jsonl", str(out), home=home).stdout)
    assert report["provenance"]["soft_bindings"] == [] and report["watermark"]["detected"] is False
    report = json.loads(_cli("verify", "--format", "jsonl", "--no-watermark", str(out), home=home).stdout)
    assert report["watermark"] is None


def test_small_image_is_refused_with_a_hint(home: Path, tmp_path: Path) -> None:
    """An image below the watermark's minimum size is refused, not silently left unmarked."""
    small, out = tmp_path / "small.png", tmp_path / "out.png"
    Image.fromarray(np.full((100, 120, 3), 128, np.uint8)).save(small)
    proc = _cli("sign", str(small), "-o", str(out), home=home)
    assert proc.returncode == 2 and not out.exists()
    assert proc.stderr.count("\n") == 1 and "--no-watermark" in proc.stderr


def test_watermark_commands_round_trip(home: Path, tmp_path: Path) -> None:
    """watermark embed then detect recovers the given payload; an unmarked file exits 1."""
    marked = tmp_path / "marked.png"
    buf = io.BytesIO()
    Image.open(_photo()).convert("RGB").save(buf, format="PNG")
    src = tmp_path / "src.png"
    src.write_bytes(buf.getvalue())
    proc = _cli("watermark", "embed", str(src), "-o", str(marked), "--payload", "00000000deadbeef", home=home)
    assert proc.returncode == 0, proc.stderr
    proc = _cli("watermark", "detect", str(marked), str(src), home=home)
    assert proc.returncode == 1
    assert "MARKED" in proc.stdout and "00000000deadbeef" in proc.stdout and "NOT MARKED" in proc.stdout


def _speechlike(path: Path, seconds: float = 5.0) -> Path:
    """A WAV of loud, speech-band noise bursts: long enough for the audio mark."""
    import soundfile as sf

    rng = np.random.default_rng(4)
    n = int(16000 * seconds)
    envelope = 0.5 + 0.5 * np.sin(np.arange(n) * 2 * np.pi * 3 / 16000)
    sf.write(path, (0.2 * envelope * rng.standard_normal(n)).astype(np.float32), 16000, subtype="PCM_16")
    return path


def test_watermark_commands_refuse_truncated_files_in_one_line(home: Path, tmp_path: Path) -> None:
    """A WAV cut short is named as truncated by embed and detect alike (exit 2), not read as a shorter clip."""
    whole = _speechlike(tmp_path / "whole.wav").read_bytes()
    cut, out = tmp_path / "cut.wav", tmp_path / "out.wav"
    cut.write_bytes(whole[: len(whole) * 3 // 4])
    for args in (("watermark", "embed", str(cut), "-o", str(out)), ("watermark", "detect", str(cut))):
        proc = _cli(*args, home=home)
        assert proc.returncode == 2, proc.stdout + proc.stderr
        text = (proc.stdout + proc.stderr).strip()
        assert text.count("\n") == 0 and "audio/wav is truncated" in text
    assert not out.exists()


def test_watermark_embed_refuses_an_output_named_for_another_format(home: Path, tmp_path: Path) -> None:
    """A JPEG is not written under a .wav name: exit 2, one line naming the right extension, nothing written."""
    out = tmp_path / "photo.wav"
    proc = _cli("watermark", "embed", str(_photo()), "-o", str(out), home=home)
    assert proc.returncode == 2 and not out.exists()
    assert proc.stderr.count("\n") == 1 and "give it a .jpg name" in proc.stderr


def test_watermark_detect_jsonl_stays_json_for_unreadable_files(home: Path, tmp_path: Path) -> None:
    """Every line is one JSON object; an unreadable file's line names its error, so a JSONL consumer keeps parsing."""
    marked, empty = tmp_path / "marked.jpg", tmp_path / "empty.jpg"
    assert _cli("watermark", "embed", str(_photo()), "-o", str(marked), "--payload", "00000000deadbeef",
                home=home).returncode == 0
    empty.write_bytes(b"")
    proc = _cli("watermark", "detect", "--format", "jsonl", str(marked), str(empty), home=home)
    assert proc.returncode == 2
    good, bad = (json.loads(line) for line in proc.stdout.splitlines())
    assert good["detected"] is True and good["payload"] == "00000000deadbeef" and good["error"] is None
    assert bad == {"path": str(empty), "error": "file is empty"}


def _hiss(path: Path) -> Path:
    """A 4 s WAV of faint hiss (a few LSB): long enough for the audio mark, far too quiet to carry it."""
    import soundfile as sf

    samples = np.random.default_rng(3).standard_normal(64000) * 1e-4
    sf.write(path, samples.astype(np.float32), 16000, subtype="PCM_16")
    return path


@pytest.mark.parametrize("command", ["sign", "embed"])
def test_a_mark_that_does_not_read_back_is_a_warning(command: str, home: Path, tmp_path: Path) -> None:
    """The file is still written (exit 0), but the user is told, in one line, that the mark is too weak."""
    src, out = _hiss(tmp_path / "hiss.wav"), tmp_path / "out.wav"
    args = ("sign",) if command == "sign" else ("watermark", "embed")
    proc = _cli(*args, str(src), "-o", str(out), home=home)
    assert proc.returncode == 0, proc.stderr
    assert out.exists()
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("warning: ") and "does not read back" in lines[0]


def test_require_watermark_turns_the_warning_into_an_error(home: Path, tmp_path: Path) -> None:
    """With --require-watermark a mark that does not read back is exit 2, one line, and no output file."""
    src, out = _hiss(tmp_path / "hiss.wav"), tmp_path / "out.wav"
    proc = _cli("sign", str(src), "-o", str(out), "--require-watermark", home=home)
    assert proc.returncode == 2 and not out.exists()
    assert proc.stderr.count("\n") == 1 and "does not read back" in proc.stderr
    proc = _cli("sign", str(_photo()), "-o", str(tmp_path / "ok.jpg"), "--require-watermark", home=home)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
