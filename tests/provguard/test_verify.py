"""Tests for provguard.verify: tamper and strip detection, content sniffing, bad inputs, batches and trust anchors."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import pytest

from provguard.demo import flip_media_byte
from provguard.errors import ConfigError, InputError
from provguard.report import ABSENT, INVALID, TRUSTED, VALID
from provguard.sign import sign_bytes
from provguard.verify import expand_paths, resolve_trust_anchors, verify, verify_bytes, verify_many, verify_path


def _signed(media, signer, fmt: str, seed: int = 0) -> bytes:  # noqa: ANN001 - factory, Signer
    """C2PA-sign factory media with the given signer, without a watermark."""
    return sign_bytes(media(fmt, seed), signer=signer, watermark=False, title=f"{fmt}-{seed}")


@pytest.mark.parametrize("fmt", ["jpeg", "wav"])
def test_one_flipped_media_byte_is_a_data_hash_mismatch(fmt: str, media, dev_signer, dev_root_pem: bytes) -> None:
    signed = _signed(media, dev_signer, fmt)
    tampered = flip_media_byte(signed)
    assert sum(a != b for a, b in zip(signed, tampered, strict=True)) == 1
    report = verify_bytes(tampered, None, dev_root_pem)
    assert report.errors == []
    assert report.provenance.state == INVALID
    assert "assertion.dataHash.mismatch" in report.provenance.failure_codes
    assert verify_bytes(signed, None, dev_root_pem).provenance.state == TRUSTED


def test_one_flipped_mdat_byte_is_a_bmff_hash_mismatch(media, dev_signer, dev_root_pem: bytes, helpers) -> None:  # noqa: ANN001
    signed = _signed(media, dev_signer, "mp4")
    report = verify_bytes(helpers.flip_mdat_byte(signed), None, dev_root_pem)
    assert report.errors == []
    assert report.provenance.state == INVALID
    assert "assertion.bmffHash.mismatch" in report.provenance.failure_codes


def _reencode_image(data: bytes, fmt: str) -> bytes:
    """Decode and re-encode with PIL, as a platform does."""
    from PIL import Image

    buf = io.BytesIO()
    Image.open(io.BytesIO(data)).convert("RGB").save(buf, format=fmt)
    return buf.getvalue()


def _reencode_audio(data: bytes, fmt: str) -> bytes:
    """Decode and re-encode with soundfile."""
    import soundfile as sf

    samples, rate = sf.read(io.BytesIO(data), dtype="float32")
    buf = io.BytesIO()
    sf.write(buf, samples, rate, format=fmt, subtype="PCM_16")
    return buf.getvalue()


@pytest.mark.parametrize(
    ("fmt", "reencode"),
    [("jpeg", lambda d: _reencode_image(d, "JPEG")), ("png", lambda d: _reencode_image(d, "PNG")),
     ("webp", lambda d: _reencode_image(d, "WEBP")), ("wav", lambda d: _reencode_audio(d, "WAV")),
     ("flac", lambda d: _reencode_audio(d, "FLAC"))],
)
def test_reencoding_strips_the_manifest(fmt: str, reencode, media, dev_signer, dev_root_pem: bytes) -> None:  # noqa: ANN001
    stripped = reencode(_signed(media, dev_signer, fmt))
    report = verify_bytes(stripped, None, dev_root_pem)
    assert report.errors == []
    assert report.provenance.state == ABSENT
    assert report.provenance.failure_codes == []


def test_media_type_comes_from_content_not_extension(media, dev_signer, dev_root_pem: bytes, tmp_path: Path) -> None:
    jpeg_named_png = tmp_path / "picture.png"
    jpeg_named_png.write_bytes(_signed(media, dev_signer, "jpeg"))
    wav_named_jpg = tmp_path / "sound.jpg"
    wav_named_jpg.write_bytes(_signed(media, dev_signer, "wav"))
    for path, mime in ((jpeg_named_png, "image/jpeg"), (wav_named_jpg, "audio/wav")):
        report = verify_path(path, dev_root_pem)
        assert report.errors == []
        assert report.media_type == mime
        assert report.provenance.state == TRUSTED


def test_signed_flac_is_reported_as_flac(media, dev_signer, dev_root_pem: bytes) -> None:
    report = verify_bytes(_signed(media, dev_signer, "flac"), None, dev_root_pem)
    assert report.provenance.state == TRUSTED
    assert report.media_type == "audio/flac"  # c2pa puts an ID3 tag in front; it is still a FLAC file


def test_report_fields(media, dev_signer, dev_root_pem: bytes, tmp_path: Path) -> None:
    data = _signed(media, dev_signer, "png")
    path = tmp_path / "x.png"
    path.write_bytes(data)
    report = verify_path(path, dev_root_pem)
    assert report.path == str(path)
    assert report.sha256 == hashlib.sha256(data).hexdigest()
    assert report.readable
    prov = report.provenance
    assert prov.manifest_label and prov.manifest_label.startswith("urn:")
    assert prov.issuer and prov.common_name and "signer" in prov.common_name
    assert prov.signed_at is None  # no timestamp authority was used


def test_verify_accepts_bytes_and_paths_alike(media, dev_signer, dev_credentials, tmp_path: Path) -> None:
    data = _signed(media, dev_signer, "jpeg")
    path = tmp_path / "a.jpg"
    path.write_bytes(data)
    by_bytes, by_path = verify(data, watermark=False), verify(path, watermark=False)
    assert by_bytes.path is None and by_path.path == str(path)
    assert by_bytes.provenance == by_path.provenance
    assert by_bytes.provenance.state == TRUSTED  # anchors from the config written by dev_credentials


def _bad_inputs(media, tmp_path: Path) -> dict[str, Path]:  # noqa: ANN001 - factory
    """Files and paths that cannot be verified, each with a name saying why."""
    files = {
        "empty.jpg": b"",
        "text.jpg": b"this is a text file, not a photograph\n",
        "cut.jpg": media("jpeg")[:-300],
        "cut.png": media("png")[: len(media("png")) // 2],
        "cut.wav": media("wav")[:-500],
        "cut.mp4": media("mp4")[:-500],
    }
    out = {}
    for name, data in files.items():
        out[name] = tmp_path / name
        out[name].write_bytes(data)
    (tmp_path / "adir").mkdir()
    out["adir"] = tmp_path / "adir"
    out["missing.jpg"] = tmp_path / "missing.jpg"
    return out


def test_unreadable_inputs_give_one_line_errors(media, tmp_path: Path) -> None:
    for name, path in _bad_inputs(media, tmp_path).items():
        report = verify_path(path, None)
        assert len(report.errors) == 1, name
        assert "\n" not in report.errors[0]
        assert not report.readable
        assert report.provenance.state == ABSENT, name


def test_empty_and_directory_messages(tmp_path: Path) -> None:
    (tmp_path / "empty.wav").write_bytes(b"")
    assert "empty" in verify_path(tmp_path / "empty.wav", None).errors[0]
    assert "-r" in verify_path(tmp_path, None).errors[0]


def test_size_limit_is_a_clean_per_file_error(media, dev_signer, tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    data = _signed(media, dev_signer, "jpeg")
    path = tmp_path / "big.jpg"
    path.write_bytes(data)
    monkeypatch.setenv("PROVGUARD_MAX_BYTES", "1000")
    for report in (verify_path(path, None), verify_bytes(data, "mem")):
        assert len(report.errors) == 1
        assert "limit" in report.errors[0] and "PROVGUARD_MAX_BYTES" in report.errors[0]


def test_expand_paths_walks_sorted_and_skips_hidden(tmp_path: Path) -> None:
    for rel in ("b/2.jpg", "b/1.jpg", "a.jpg", ".hidden/x.jpg", "b/.dot.jpg", "c/d/e.wav"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    walked = [p.relative_to(tmp_path).as_posix() for p in expand_paths([tmp_path], recursive=True)]
    assert walked == ["a.jpg", "b/1.jpg", "b/2.jpg", "c/d/e.wav"]
    assert list(expand_paths([tmp_path], recursive=False)) == [tmp_path]


def test_verify_many_keeps_going_past_bad_files(media, dev_signer, dev_credentials, tmp_path: Path) -> None:
    (tmp_path / "good.jpg").write_bytes(_signed(media, dev_signer, "jpeg"))
    (tmp_path / "bad.jpg").write_bytes(b"")
    (tmp_path / "plain.wav").write_bytes(media("wav"))
    reports = list(verify_many([tmp_path], recursive=True, watermark=False))
    by_name = {Path(r.path).name: r for r in reports}
    assert sorted(by_name) == ["bad.jpg", "good.jpg", "plain.wav"]
    assert by_name["good.jpg"].provenance.state == TRUSTED
    assert by_name["bad.jpg"].errors
    assert by_name["plain.wav"].provenance.state == ABSENT and not by_name["plain.wav"].errors


def _pem_file(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_trust_anchor_precedence(media, dev_signer, dev_credentials, foreign_ca, tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    signed = _signed(media, dev_signer, "jpeg")
    dev_root = dev_credentials.root_cert
    foreign_root = foreign_ca.root_path

    def state(trust_anchors=None) -> str:  # noqa: ANN001
        return verify(signed, trust_anchors=trust_anchors, watermark=False).provenance.state

    assert state() == TRUSTED  # the config names the dev root
    monkeypatch.setenv("PROVGUARD_TRUST_ANCHORS", str(foreign_root))
    assert state() == VALID  # the environment beats the config
    assert state(dev_root) == TRUSTED  # an explicit path beats the environment
    assert state(foreign_ca.root_pem) == VALID  # explicit bytes are used as they are
    monkeypatch.setenv("PROVGUARD_TRUST_ANCHORS", str(dev_root))
    assert state(foreign_root) == VALID


def test_trust_anchor_errors(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    with pytest.raises(InputError):
        resolve_trust_anchors(tmp_path / "missing.pem")
    not_pem = _pem_file(tmp_path / "notes.pem", b"hello")
    with pytest.raises(InputError, match="no PEM certificate"):
        resolve_trust_anchors(not_pem)
    monkeypatch.setenv("PROVGUARD_TRUST_ANCHORS", str(tmp_path / "missing.pem"))
    with pytest.raises(ConfigError, match="PROVGUARD_TRUST_ANCHORS"):
        resolve_trust_anchors(None)


def test_no_anchors_anywhere_gives_valid(media, foreign_ca) -> None:  # noqa: ANN001
    from provguard.keys import LocalKeySigner

    assert resolve_trust_anchors(None) is None  # the fresh home has no config yet
    signer = LocalKeySigner(foreign_ca.chain_pem, foreign_ca.key_pem)
    report = verify(_signed(media, signer, "wav"), watermark=False)
    assert report.provenance.state == VALID
    assert report.provenance.failure_codes == ["signingCredential.untrusted"]


def test_unsigned_media_of_every_format_is_absent(media) -> None:
    for fmt in ("jpeg", "png", "webp", "tiff", "wav", "flac", "mp3", "mp4"):
        report = verify_bytes(media(fmt, seed=3))
        assert report.errors == [], fmt
        assert report.provenance.state == ABSENT, fmt


def test_garbage_after_a_valid_header_is_an_error_not_a_crash() -> None:
    rng = np.random.default_rng(7)
    junk = rng.integers(0, 256, 4000, dtype=np.uint8).tobytes()
    for head in (b"\xff\xd8\xff\xe0", b"\x89PNG\r\n\x1a\n", b"RIFF\x10\x00\x00\x00WAVE", b"\x00\x00\x00\x18ftypisom"):
        report = verify_bytes(head + junk + b"\xff\xd9")
        assert report.errors or report.provenance.state in (ABSENT, INVALID)


def test_a_movie_whose_frames_cannot_be_searched_gets_a_note_not_an_error(dev_credentials) -> None:  # noqa: ANN001
    """QuickTime is searched for the mark, never written: a .mov without a picture track still verifies."""
    import av

    from provguard.verify import default_options

    buf = io.BytesIO()
    with av.open(buf, "w", format="mov") as out:
        stream = out.add_stream("aac", rate=16000, layout="mono")
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 16000), np.float32), format="fltp", layout="mono")
        frame.sample_rate, frame.pts = 16000, 0
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    report = verify_bytes(buf.getvalue(), "voice-memo.mov", options=default_options(detect=False))
    assert report.errors == [] and report.media_type == "video/quicktime"
    assert report.provenance.state == ABSENT
    assert not report.watermark.detected and "watermark not searched" in report.watermark.note


def test_a_heic_without_its_decoder_gets_a_note_not_an_error(dev_credentials, monkeypatch) -> None:  # noqa: ANN001
    """HEIC is searched, never written: without pillow-heif the file still verifies, and the note says what to add."""
    import sys

    import pillow_heif
    from PIL import Image

    from provguard.mediaio import _open_heif
    from provguard.verify import default_options

    pillow_heif.register_heif_opener()
    buf = io.BytesIO()
    Image.fromarray(np.full((300, 400, 3), 90, np.uint8)).save(buf, "HEIF", quality=60)
    monkeypatch.setitem(sys.modules, "pillow_heif", None)
    _open_heif.cache_clear()
    try:
        report = verify_bytes(buf.getvalue(), "IMG_0001.HEIC", options=default_options())
    finally:
        _open_heif.cache_clear()
    assert report.errors == [] and report.media_type == "image/heic" and report.provenance.state == ABSENT
    assert not report.watermark.detected and "pip install 'provguard[heif]'" in report.watermark.note
    assert report.detection is not None and report.detection.score is None and "provguard[heif]" in report.detection.note


def test_a_heic_with_content_credentials_verifies(dev_signer, dev_root_pem, helpers) -> None:  # noqa: ANN001
    """A phone that signs its HEIC photos (C2PA in the HEIF boxes) verifies like any signed file, and tampering shows."""
    import pillow_heif
    from PIL import Image

    from provguard.manifest import ManifestSpec, sign_into
    from provguard.media import HEIC
    from provguard.verify import VerifyOptions

    pillow_heif.register_heif_opener()
    buf = io.BytesIO()
    rng = np.random.default_rng(2)
    Image.fromarray(rng.integers(0, 255, (300, 400, 3), np.uint8)).save(buf, "HEIF", quality=70)
    signed = io.BytesIO()
    sign_into(buf.getvalue(), HEIC, ManifestSpec(title="IMG_0002.HEIC", digital_source_type="digitalCapture"),
              dev_signer, signed)
    options = VerifyOptions(trust_anchors=dev_root_pem)
    report = verify_bytes(signed.getvalue(), "IMG_0002.HEIC", options=options)
    assert report.media_type == "image/heic" and report.provenance.state == TRUSTED
    tampered = verify_bytes(helpers.flip_mdat_byte(signed.getvalue()), "IMG_0002.HEIC", options=options)
    assert tampered.provenance.state == INVALID
