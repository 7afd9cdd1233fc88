"""Tests for provguard.sign: every format round-trips through real c2pa signing, outputs are safe and atomic."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from provguard import __version__
from provguard.errors import (
    CorruptMediaError,
    InputError,
    OutputExistsError,
    SigningError,
    TimestampAuthorityError,
    UnsupportedMediaError,
    WatermarkError,
    WeakWatermarkError,
)
from provguard.keys import CallbackSigner, LocalKeySigner, make_dev_credentials
from provguard.report import ABSENT, INVALID, TRUSTED, VALID
from provguard.sign import parse_generator, sign, sign_bytes
from provguard.verify import verify, verify_bytes

FORMATS = ("jpeg", "png", "webp", "tiff", "wav", "flac", "mp3", "m4a", "mp4")
MIME = {
    "jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp", "tiff": "image/tiff",
    "wav": "audio/wav", "flac": "audio/flac", "mp3": "audio/mpeg", "m4a": "audio/mp4", "mp4": "video/mp4",
}
UNREACHABLE_TSA = "http://127.0.0.1:9/"


def _dir_listing(directory: Path) -> set[str]:
    """Names in a directory, hidden temp files included."""
    return set(os.listdir(directory))


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_every_format(fmt: str, media_file, dev_signer, dev_root_pem: bytes, tmp_path: Path) -> None:
    source = media_file(fmt)
    before = hashlib.sha256(source.read_bytes()).hexdigest()
    out = tmp_path / f"signed{source.suffix}"
    result = sign(source, out, signer=dev_signer, watermark=False, generator="test-model@2.1",
                  title="A generated sample")
    assert hashlib.sha256(source.read_bytes()).hexdigest() == before, "the input must never be modified"
    assert result.path == out and result.media_type == MIME[fmt]

    trusted = verify(out, trust_anchors=dev_root_pem, watermark=False)
    assert trusted.errors == []
    prov = trusted.provenance
    assert prov.state == TRUSTED, prov.failure_codes
    assert prov.failure_codes == []
    assert prov.digital_source_type == "trainedAlgorithmicMedia"
    assert prov.software_agent == "test-model 2.1"
    assert prov.claim_generator is not None
    assert "provguard" in prov.claim_generator and __version__ in prov.claim_generator
    assert prov.title == "A generated sample"
    assert prov.signature_alg == "es256"
    assert [a["action"] for a in prov.actions] == ["c2pa.created"]

    anonymous = verify_bytes(out.read_bytes(), str(out), trust_anchors=None)
    assert anonymous.provenance.state == VALID
    assert anonymous.provenance.failure_codes == ["signingCredential.untrusted"]


def test_signed_asset_size_is_the_written_size(media_file, dev_signer, tmp_path: Path) -> None:
    out = tmp_path / "out.jpg"
    result = sign(media_file("jpeg"), out, signer=dev_signer, watermark=False)
    assert result.size == out.stat().st_size > 0


def test_sign_bytes_and_sign_without_output_return_bytes(media, media_file, dev_signer, dev_root_pem: bytes) -> None:
    signed = sign_bytes(media("png"), signer=dev_signer, watermark=False)
    report = verify_bytes(signed, None, dev_root_pem)
    assert report.provenance.state == TRUSTED
    assert report.provenance.title == "untitled"
    source = media_file("png", name="named.png")
    result = sign(source, signer=dev_signer, watermark=False)
    assert result.path is None and result.data is not None and result.size == len(result.data)
    assert verify_bytes(result.data, None, dev_root_pem).provenance.title == "named.png"


def test_default_title_is_the_output_name(media_file, dev_signer, tmp_path: Path) -> None:
    out = tmp_path / "my-output.wav"
    sign(media_file("wav"), out, signer=dev_signer, watermark=False)
    assert verify(out, watermark=False).provenance.title == "my-output.wav"


def test_default_signer_comes_from_the_config(media, dev_credentials) -> None:
    signed = sign_bytes(media("jpeg"), watermark=False)
    assert verify(signed, watermark=False).provenance.state == TRUSTED  # the config's anchors are the dev root


def test_generator_without_version(media, dev_signer) -> None:
    report = verify_bytes(sign_bytes(media("jpeg"), signer=dev_signer, watermark=False, generator="diffusion-x"))
    assert report.provenance.software_agent == "diffusion-x"


@pytest.mark.parametrize(
    ("text", "expected"),
    [(None, (None, None)), ("", (None, None)), ("m", ("m", None)), ("m@1.2", ("m", "1.2")),
     (" Model X @ 3 ", ("Model X", "3")), ("m@", ("m", None))],
)
def test_parse_generator(text: str | None, expected: tuple[str | None, str | None]) -> None:
    assert parse_generator(text) == expected


def test_parse_generator_needs_a_name() -> None:
    with pytest.raises(InputError, match="NAME"):
        parse_generator("@1.0")


def test_digital_capture_source_type(media, dev_signer) -> None:
    signed = sign_bytes(media("jpeg"), signer=dev_signer, watermark=False, digital_source_type="digitalCapture")
    report = verify_bytes(signed)
    assert report.provenance.digital_source_type == "digitalCapture"


def test_unknown_source_type_is_refused_and_writes_nothing(media_file, dev_signer, tmp_path: Path) -> None:
    source = media_file("jpeg")
    before = _dir_listing(tmp_path)
    with pytest.raises(InputError, match="digital source type"):
        sign(source, tmp_path / "out.jpg", signer=dev_signer, watermark=False, digital_source_type="madeUp")
    assert _dir_listing(tmp_path) == before


def test_an_output_named_for_another_format_is_refused_and_writes_nothing(media_file, dev_signer, tmp_path: Path) -> None:
    source = media_file("jpeg")
    before = _dir_listing(tmp_path)
    with pytest.raises(InputError, match=r"named as audio/wav, but the content is image/jpeg: give it a \.jpg name"):
        sign(source, tmp_path / "out.wav", signer=dev_signer, watermark=False)
    assert _dir_listing(tmp_path) == before
    assert sign(source, tmp_path / "out.jpeg", signer=dev_signer, watermark=False).path.exists()


def test_signing_a_video_reports_each_watermarked_frame(media_file, dev_signer, tmp_path: Path) -> None:
    """on_frame follows the video's watermarking frame by frame; other media call it never."""
    calls: list[tuple[int, int]] = []
    sign(media_file("mp4", size=(320, 256)), tmp_path / "out.mp4", signer=dev_signer,
         on_frame=lambda d, t: calls.append((d, t)))
    assert calls and [d for d, _ in calls] == list(range(1, len(calls) + 1)) and calls[-1][1] == len(calls)
    sign(media_file("png", size=(320, 256)), tmp_path / "out.png", signer=dev_signer, on_frame=lambda d, t: calls.append((d, t)),
         check_watermark=False)
    assert calls[-1][0] == len(calls)  # nothing added for the image


@pytest.mark.parametrize("fmt", ["WEBP", "PNG"])
def test_an_animation_is_not_flattened_by_the_watermark(fmt: str, dev_signer, tmp_path: Path) -> None:  # noqa: ANN001
    """Marking would keep one frame of five: refused, naming --no-watermark, which signs all five frames."""
    import io

    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    frames = [Image.fromarray(rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)) for _ in range(5)]
    buf = io.BytesIO()
    frames[0].save(buf, format=fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)
    source = tmp_path / f"anim.{fmt.lower()}"
    source.write_bytes(buf.getvalue())
    before = _dir_listing(tmp_path)
    with pytest.raises(WatermarkError, match=r"with 5 frames \(an animation or pages\).*--no-watermark"):
        sign(source, tmp_path / f"out.{fmt.lower()}", signer=dev_signer)
    assert _dir_listing(tmp_path) == before
    out = sign(source, tmp_path / f"out.{fmt.lower()}", signer=dev_signer, watermark=False).path
    assert Image.open(out).n_frames == 5


def test_unreachable_tsa_fails_cleanly(media_file, dev_credentials, tmp_path: Path) -> None:
    source = media_file("jpeg")
    signer = LocalKeySigner.from_files(dev_credentials.signing_cert, dev_credentials.signing_key,
                                       tsa_url=UNREACHABLE_TSA)
    before = _dir_listing(tmp_path)
    with pytest.raises(TimestampAuthorityError, match="timestamp authority"):
        sign(source, tmp_path / "out.jpg", signer=signer, watermark=False)
    assert _dir_listing(tmp_path) == before, "no output and no temp file may be left behind"


def test_failing_signer_leaves_nothing_behind(media_file, dev_signer, tmp_path: Path) -> None:
    def broken(_: bytes) -> bytes:
        raise RuntimeError("the KMS is down")

    signer = CallbackSigner(broken, dev_signer.certificate_chain_pem(), "es256")
    source = media_file("wav")
    before = _dir_listing(tmp_path)
    with pytest.raises(SigningError):
        sign(source, tmp_path / "out.wav", signer=signer, watermark=False)
    assert _dir_listing(tmp_path) == before


def test_never_overwrites_the_input(media_file, dev_signer, tmp_path: Path) -> None:
    source = media_file("jpeg")
    data = source.read_bytes()
    with pytest.raises(InputError, match="input"):
        sign(source, source, signer=dev_signer, watermark=False)
    with pytest.raises(InputError, match="input"):
        sign(source, source, signer=dev_signer, watermark=False, force=True)
    alias = tmp_path / "sub" / ".." / source.name
    (tmp_path / "sub").mkdir()
    with pytest.raises(InputError, match="input"):
        sign(source, alias, signer=dev_signer, watermark=False, force=True)
    link = tmp_path / "hardlink.jpg"
    os.link(source, link)
    with pytest.raises(InputError, match="input"):
        sign(source, link, signer=dev_signer, watermark=False, force=True)
    assert source.read_bytes() == data


def test_existing_output_needs_force(media_file, dev_signer, tmp_path: Path) -> None:
    source = media_file("png")
    out = tmp_path / "out.png"
    out.write_bytes(b"precious")
    with pytest.raises(OutputExistsError, match="--force"):
        sign(source, out, signer=dev_signer, watermark=False)
    assert out.read_bytes() == b"precious"
    sign(source, out, signer=dev_signer, watermark=False, force=True)
    assert verify(out, watermark=False).provenance.state in (VALID, TRUSTED)


def test_output_directory_problems(media_file, dev_signer, tmp_path: Path) -> None:
    source = media_file("png")
    with pytest.raises(InputError, match="does not exist"):
        sign(source, tmp_path / "missing" / "out.png", signer=dev_signer, watermark=False)
    (tmp_path / "adir").mkdir()
    with pytest.raises(InputError, match="directory"):
        sign(source, tmp_path / "adir", signer=dev_signer, watermark=False, force=True)


def test_unsignable_and_broken_inputs(media, dev_signer, tmp_path: Path) -> None:
    gif = tmp_path / "a.gif"
    gif.write_bytes(b"GIF89a\x01\x00\x01\x00\x00\x00\x00;")
    with pytest.raises(UnsupportedMediaError, match="cannot sign image/gif"):
        sign(gif, tmp_path / "b.gif", signer=dev_signer, watermark=False)
    with pytest.raises(UnsupportedMediaError, match="cannot sign image/gif"):  # not "give it a .gif name"
        sign(gif, tmp_path / "b.jpg", signer=dev_signer, watermark=False)
    text = tmp_path / "notes.jpg"
    text.write_text("just words\n")
    with pytest.raises(UnsupportedMediaError):
        sign(text, tmp_path / "out.jpg", signer=dev_signer, watermark=False)
    truncated = tmp_path / "cut.jpg"
    truncated.write_bytes(media("jpeg")[:-200])
    with pytest.raises(CorruptMediaError, match="truncated"):
        sign(truncated, tmp_path / "out.jpg", signer=dev_signer, watermark=False)
    with pytest.raises(InputError, match="no such file"):
        sign(tmp_path / "missing.jpg", tmp_path / "out.jpg", signer=dev_signer, watermark=False)
    assert not (tmp_path / "out.jpg").exists() and not (tmp_path / "b.gif").exists()


def test_sign_respects_the_size_limit(media_file, dev_signer, tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    source = media_file("jpeg")
    monkeypatch.setenv("PROVGUARD_MAX_BYTES", "100")
    with pytest.raises(InputError, match="limit"):
        sign(source, tmp_path / "out.jpg", signer=dev_signer, watermark=False)


def test_unrelated_ca_is_valid_not_trusted(media, foreign_ca, dev_root_pem: bytes) -> None:
    signer = LocalKeySigner(foreign_ca.chain_pem, foreign_ca.key_pem)
    signed = sign_bytes(media("jpeg"), signer=signer, watermark=False)
    under_dev_root = verify_bytes(signed, None, dev_root_pem).provenance
    assert under_dev_root.state == VALID
    assert "signingCredential.untrusted" in under_dev_root.failure_codes
    assert under_dev_root.issuer == "Unrelated Test CA"
    under_own_root = verify_bytes(signed, None, foreign_ca.root_pem).provenance
    assert under_own_root.state == TRUSTED


def test_lookalike_ca_with_the_same_names_is_not_trusted(media, dev_credentials, dev_root_pem: bytes) -> None:
    import socket

    host = socket.gethostname() or "localhost"
    _, impostor_chain, impostor_key = make_dev_credentials(hostname=host)  # same subject names, other keys
    signed = sign_bytes(media("jpeg"), signer=LocalKeySigner(impostor_chain, impostor_key), watermark=False)
    assert verify_bytes(signed, None, dev_root_pem).provenance.state == VALID


def test_parent_is_recorded_as_an_ingredient(signed_file, media, dev_signer, dev_root_pem: bytes) -> None:
    parent = signed_file("jpeg", name="parent.jpg", generator="base-model@1")
    child = sign_bytes(media("png", seed=5), signer=dev_signer, watermark=False, parent=parent, generator="editor@2")
    prov = verify_bytes(child, None, dev_root_pem).provenance
    assert prov.state == TRUSTED
    assert [a["action"] for a in prov.actions] == ["c2pa.opened", "c2pa.edited"]
    assert prov.software_agent == "editor 2"
    (ingredient,) = prov.ingredients
    assert ingredient.title == "parent.jpg"
    assert ingredient.relationship == "parentOf"
    assert ingredient.media_type == "image/jpeg"
    assert ingredient.issuer == prov.issuer
    assert ingredient.digital_source_type == "trainedAlgorithmicMedia"
    assert "assertion.dataHash.mismatch" not in ingredient.failure_codes
    assert ingredient.state in (VALID, TRUSTED)


def test_parent_signed_by_a_trusted_signer_is_trusted(signed_file, media, dev_signer, dev_root_pem: bytes) -> None:
    parent = signed_file("jpeg", name="parent.jpg")
    child = sign_bytes(media("png", seed=5), signer=dev_signer, watermark=False, parent=parent)
    prov = verify_bytes(child, None, dev_root_pem).provenance
    (ingredient,) = prov.ingredients
    # c2pa reports the parent's signer as trusted in ingredientDeltas; the recorded (signing-time) 'untrusted'
    # must not survive once the verifier's own anchors trust it.
    assert ingredient.failure_codes == []
    assert ingredient.state == TRUSTED


def test_tampered_parent_fails_inside_ingredients_only(signed_file, media, dev_signer, dev_root_pem: bytes) -> None:
    from provguard.demo import flip_media_byte

    parent = signed_file("jpeg", name="parent.jpg")
    parent.write_bytes(flip_media_byte(parent.read_bytes()))
    assert verify(parent, watermark=False).provenance.state == INVALID
    child = sign_bytes(media("png", seed=6), signer=dev_signer, watermark=False, parent=parent)
    prov = verify_bytes(child, None, dev_root_pem).provenance
    assert prov.state == TRUSTED  # c2pa keeps the top level fine ...
    assert prov.failure_codes == []
    (ingredient,) = prov.ingredients
    assert ingredient.state == INVALID  # ... and reports the parent's tampering inside the ingredient
    assert "assertion.dataHash.mismatch" in ingredient.failure_codes


def test_unsigned_parent_is_an_absent_ingredient(media_file, media, dev_signer) -> None:
    parent = media_file("wav", name="raw.wav")
    prov = verify_bytes(sign_bytes(media("wav", seed=2), signer=dev_signer, watermark=False, parent=parent)).provenance
    (ingredient,) = prov.ingredients
    assert ingredient.state == ABSENT and ingredient.title == "raw.wav" and ingredient.failure_codes == []


def test_missing_parent_is_an_input_error(media, dev_signer, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        sign_bytes(media("jpeg"), signer=dev_signer, watermark=False, parent=tmp_path / "nope.jpg")


def test_default_signing_watermarks_then_signs(media, dev_credentials, dev_root_pem: bytes, helpers) -> None:  # noqa: ANN001
    signed = sign_bytes(media("jpeg", size=helpers.watermarkable_size), title="wm.jpg")
    prov = verify_bytes(signed, None, dev_root_pem).provenance
    assert prov.state == TRUSTED, prov.failure_codes  # the hard binding covers the watermarked pixels
    assert "c2pa.watermarked" in [a["action"] for a in prov.actions]
    assert len(prov.soft_bindings) == 1 and prov.soft_bindings[0].value
    # the watermark action's softwareAgent is provguard itself: it must not pass for the generating model
    assert prov.software_agent is None
    assert prov.digital_source_type == "trainedAlgorithmicMedia"


def test_ingredients_are_walked_recursively(signed_file, media, dev_signer, dev_root_pem: bytes, tmp_path) -> None:  # noqa: ANN001
    grandparent = signed_file("jpeg", name="grandparent.jpg", generator="base@1")
    parent = tmp_path / "parent.png"
    parent.write_bytes(sign_bytes(media("png", seed=8), signer=dev_signer, watermark=False, parent=grandparent,
                                  title="parent.png"))
    child = sign_bytes(media("webp", seed=9), signer=dev_signer, watermark=False, parent=parent)
    prov = verify_bytes(child, None, dev_root_pem).provenance
    assert prov.state == TRUSTED
    (first,) = prov.ingredients
    assert first.title == "parent.png" and first.state == TRUSTED
    (second,) = first.ingredients
    assert second.title == "grandparent.jpg" and second.relationship == "parentOf"
    assert second.state == TRUSTED and second.digital_source_type == "trainedAlgorithmicMedia"


def _quiet_hiss_wav(seconds: float = 4.0, rate: int = 16000) -> bytes:
    """A WAV of faint hiss (a few LSB): long enough for the audio mark, far too quiet to hide it."""
    import io

    import numpy as np
    import soundfile as sf

    buf = io.BytesIO()
    samples = np.random.default_rng(3).standard_normal(int(seconds * rate)) * 1e-4
    sf.write(buf, samples.astype(np.float32), rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def test_signing_reads_the_fresh_watermark_back(dev_credentials) -> None:  # noqa: ANN001
    photo = Path(__file__).resolve().parents[2] / "fixtures" / "photos" / "coffee.jpg"  # a real scene, 600x400
    asset = sign(photo.read_bytes(), title="coffee.jpg")
    assert asset.watermark_check is not None and asset.watermark_check.detected
    assert asset.watermark_reads_back is True


def test_a_mark_too_weak_to_read_back_is_reported(dev_credentials) -> None:  # noqa: ANN001
    asset = sign(_quiet_hiss_wav(), title="hiss.wav")
    assert asset.watermark_payload is not None  # still marked, stored and signed
    assert asset.watermark_reads_back is False


def test_no_readback_without_a_watermark_or_when_not_asked(media, dev_credentials, helpers) -> None:  # noqa: ANN001
    data = media("jpeg", size=helpers.watermarkable_size)
    assert sign(data, watermark=False).watermark_reads_back is None
    unchecked = sign(data, check_watermark=False)
    assert unchecked.watermark_check is None and unchecked.watermark_reads_back is None


def test_a_required_mark_that_does_not_read_back_fails_and_writes_nothing(dev_credentials, tmp_path: Path) -> None:  # noqa: ANN001
    out = tmp_path / "hiss-signed.wav"
    with pytest.raises(WeakWatermarkError, match="does not read back"):
        sign(_quiet_hiss_wav(), out, require_watermark=True)
    assert _dir_listing(tmp_path) == set()


def test_requiring_a_mark_with_watermarking_off_is_an_input_error(media, dev_credentials) -> None:  # noqa: ANN001
    with pytest.raises(InputError, match="no-watermark"):
        sign(media("wav"), watermark=False, require_watermark=True)
