"""Tests for provguard.media: sniffing by content, size limits, safe reading and truncation checks."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest

from provguard import media
from provguard.errors import CorruptMediaError, InputError, MediaTooLargeError, UnsupportedMediaError
from provguard.media import (
    AVIF,
    DNG,
    FLAC,
    GIF,
    HEIC,
    JPEG,
    M4A,
    MKV,
    MOV,
    MP3,
    MP4,
    OGG,
    PDF,
    PNG,
    SIGNABLE,
    SVG,
    TIFF,
    WAV,
    WEBM,
    WEBP,
    check_output_name,
    check_structure,
    id3_end,
    max_bytes,
    read_media,
    sniff,
)

EXPECTED_KIND = {
    "jpeg": JPEG, "png": PNG, "webp": WEBP, "tiff": TIFF, "wav": WAV, "flac": FLAC, "mp3": MP3, "m4a": M4A, "mp4": MP4,
}


@pytest.mark.parametrize("fmt", sorted(EXPECTED_KIND))
def test_sniff_names_every_signable_format_from_content(media, fmt: str) -> None:
    data = media(fmt)
    kind = sniff(data)
    assert kind is EXPECTED_KIND[fmt]
    assert kind in SIGNABLE
    assert sniff(data[:8192]) is kind


@pytest.mark.parametrize("fmt", sorted(EXPECTED_KIND))
def test_check_structure_accepts_every_complete_file(media, fmt: str) -> None:
    data = media(fmt)
    check_structure(data, sniff(data))


def test_sniff_ignores_the_file_name(media, tmp_path: Path) -> None:
    jpeg_as_png = tmp_path / "photo.png"
    jpeg_as_png.write_bytes(media("jpeg"))
    wav_as_jpg = tmp_path / "sound.jpg"
    wav_as_jpg.write_bytes(media("wav"))
    assert read_media(jpeg_as_png)[1] is JPEG
    assert read_media(wav_as_jpg)[1] is WAV


def test_sniff_refuses_empty_and_text() -> None:
    with pytest.raises(InputError, match="empty"):
        sniff(b"")
    with pytest.raises(UnsupportedMediaError):
        sniff(b"hello, this is plain text and not a picture\n")


def test_sniff_mp3_without_id3_tag(media) -> None:
    data = media("mp3")
    assert data.startswith(b"ID3")
    raw = data[id3_end(data) :]
    assert raw[0] == 0xFF
    assert sniff(raw) is MP3


def test_sniff_looks_through_an_id3_tag_in_front_of_flac(media) -> None:
    flac = media("flac")
    payload = b"\x00" * 20000  # bigger than the usual 8 KiB head, like a C2PA manifest in a GEOB frame
    size = len(payload)
    syncsafe = bytes([(size >> 21) & 0x7F, (size >> 14) & 0x7F, (size >> 7) & 0x7F, size & 0x7F])
    tagged = b"ID3\x04\x00\x00" + syncsafe + payload + flac
    assert id3_end(tagged) == 10 + size
    assert sniff(tagged) is FLAC
    check_structure(tagged, FLAC)


def test_signed_flac_is_still_sniffed_as_flac(media, dev_signer) -> None:
    from provguard.sign import sign_bytes

    signed = sign_bytes(media("flac"), signer=dev_signer, watermark=False)
    assert signed.startswith(b"ID3")  # c2pa embeds the manifest in an ID3 tag in front of the FLAC stream
    assert sniff(signed) is FLAC


def test_id3_end_without_tag_is_zero() -> None:
    assert id3_end(b"fLaC\x00\x00") == 0
    assert id3_end(b"ID3") == 0


def test_tiff_with_dng_marker_bytes_in_pixels_is_still_tiff(media) -> None:
    data = media("tiff")
    assert sniff(data) is TIFF
    planted = data[:-64] + b"\xc6\x12\x12\xc6" * 16  # pixel bytes that look like the DNGVersion tag number
    assert sniff(planted) is TIFF


def _tiff_header(tag: int, little: bool = True) -> bytes:
    """A minimal TIFF with one IFD entry holding `tag`."""
    fmt = "<" if little else ">"
    head = (b"II*\x00" if little else b"MM\x00*") + struct.pack(fmt + "I", 8)
    return head + struct.pack(fmt + "HHHI4sI", 1, tag, 1, 4, b"\x01\x04\x00\x00", 0)


@pytest.mark.parametrize("little", [True, False])
def test_tiff_with_dng_version_tag_is_dng(little: bool) -> None:
    assert sniff(_tiff_header(50706, little)) is DNG
    assert sniff(_tiff_header(256, little)) is TIFF


@pytest.mark.parametrize(
    ("brand", "kind"),
    [(b"isom", MP4), (b"mp42", MP4), (b"avif", AVIF), (b"heic", HEIC), (b"M4A ", M4A), (b"qt  ", MOV)],
)
def test_sniff_iso_bmff_brands(brand: bytes, kind) -> None:  # noqa: ANN001 - MediaKind
    assert sniff(b"\x00\x00\x00\x18ftyp" + brand + b"\x00" * 12) is kind


def _track(handler: bytes) -> bytes:
    """A trak box whose mdia/hdlr names a handler type (version, flags and pre_defined before it)."""
    def box(kind: bytes, payload: bytes) -> bytes:
        return (len(payload) + 8).to_bytes(4, "big") + kind + payload

    return box(b"trak", box(b"mdia", box(b"hdlr", b"\0" * 8 + handler + b"\0" * 13)))


@pytest.mark.parametrize(
    ("handlers", "kind"),
    [((b"soun",), M4A), ((b"soun", b"soun"), M4A), ((b"vide", b"soun"), MP4), ((b"vide",), MP4), ((), MP4),
     ((b"soun", b"text"), M4A)],
)
def test_an_mp4_of_sound_alone_is_audio(handlers: tuple[bytes, ...], kind) -> None:
    moov_body = b"".join(_track(h) for h in handlers)
    data = b"\x00\x00\x00\x18ftypisom" + b"\x00" * 12 + (len(moov_body) + 8).to_bytes(4, "big") + b"moov" + moov_body
    assert sniff(data) is kind
    assert sniff(data[:40]) is MP4  # only the start of the file: the brand decides


def test_audio_mp4_content_may_keep_an_mp4_name() -> None:
    check_output_name("talk.mp4", M4A)
    check_output_name("talk.m4a", M4A)
    with pytest.raises(InputError, match="give it a .m4a name"):
        check_output_name("talk.wav", M4A)
    with pytest.raises(InputError, match="give it a .mp4 name"):
        check_output_name("clip.m4a", MP4)


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"GIF89a\x01\x00\x01\x00", GIF),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm", WEBM),
        (b"\x1a\x45\xdf\xa3\xa3\x42\x86\x81\x01\x42\x82\x88matroska", MKV),
        (b"OggS\x00\x02" + b"\x00" * 20 + b"OpusHead", OGG),
        (b"%PDF-1.7\n", PDF),
        (b'  <svg xmlns="http://www.w3.org/2000/svg"></svg>', SVG),
        (b'<?xml version="1.0"?>\n<svg></svg>', SVG),
        (b"RF64\xff\xff\xff\xffWAVEds64", WAV),
    ],
)
def test_sniff_other_kinds(head: bytes, kind) -> None:  # noqa: ANN001 - MediaKind
    assert sniff(head) is kind


def test_read_media_reports_missing_directory_and_special_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        read_media(tmp_path / "missing.jpg")
    with pytest.raises(InputError, match="directory"):
        read_media(tmp_path)
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="not a regular file"):
        read_media(fifo)  # must not block waiting for a writer


def test_read_media_refuses_files_over_the_limit(media, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "a.jpg"
    data = media("jpeg")
    path.write_bytes(data)
    assert read_media(path, limit=len(data)) == (data, JPEG)
    with pytest.raises(MediaTooLargeError, match="limit"):
        read_media(path, limit=len(data) - 1)
    monkeypatch.setenv("PROVGUARD_MAX_BYTES", str(len(data) - 1))
    with pytest.raises(MediaTooLargeError, match="PROVGUARD_MAX_BYTES"):
        read_media(path)


def test_max_bytes_default_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert max_bytes() == media.DEFAULT_MAX_BYTES
    monkeypatch.setenv("PROVGUARD_MAX_BYTES", "1234")
    assert max_bytes() == 1234
    for bad in ("lots", "0", "-5"):
        monkeypatch.setenv("PROVGUARD_MAX_BYTES", bad)
        with pytest.raises(InputError, match="PROVGUARD_MAX_BYTES"):
            max_bytes()


@pytest.mark.parametrize("fmt", ["jpeg", "png", "wav", "webp", "mp4"])
@pytest.mark.parametrize("keep", [0.5, 0.95])
def test_check_structure_refuses_truncated_files(media, fmt: str, keep: float) -> None:
    data = media(fmt)
    cut = data[: int(len(data) * keep)]
    with pytest.raises(CorruptMediaError, match="truncated"):
        check_structure(cut, sniff(cut))


def test_check_structure_refuses_truncated_signed_mp4(media, dev_signer) -> None:
    from provguard.sign import sign_bytes

    signed = sign_bytes(media("mp4"), signer=dev_signer, watermark=False)
    with pytest.raises(CorruptMediaError, match="truncated"):
        check_structure(signed[:-100], MP4)


def test_check_structure_refuses_truncated_flac_metadata(media) -> None:
    data = media("flac")
    with pytest.raises(CorruptMediaError, match="truncated"):
        check_structure(data[:20], FLAC)
    with pytest.raises(CorruptMediaError):
        check_structure(b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"nothing", FLAC)


def test_check_structure_refuses_tiff_with_directory_outside_the_file(media) -> None:
    data = media("tiff")
    with pytest.raises(CorruptMediaError, match="truncated"):
        check_structure(data[:8], TIFF)
    assert int.from_bytes(data[4:8], "little") + 2 <= len(data)


def test_check_structure_accepts_jpeg_with_trailing_padding(media) -> None:
    check_structure(media("jpeg") + b"\x00" * 10, JPEG)


def test_check_structure_bmff_box_sizes() -> None:
    ftyp = b"\x00\x00\x00\x10ftypisom\x00\x00\x02\x00"
    check_structure(ftyp + b"\x00\x00\x00\x00mdat" + b"x" * 50, MP4)  # size 0: runs to the end
    large = b"\x00\x00\x00\x01mdat" + (16 + 4).to_bytes(8, "big") + b"abcd"
    check_structure(ftyp + large, MP4)  # 64-bit largesize
    with pytest.raises(CorruptMediaError, match="malformed"):
        check_structure(ftyp + b"\x00\x00\x00\x04free", MP4)
    with pytest.raises(CorruptMediaError, match="truncated"):
        check_structure(ftyp + b"\x00\x07", MP4)
    with pytest.raises(CorruptMediaError, match="truncated"):
        check_structure(ftyp + b"\x00\x00\x00\x01mdat\x00", MP4)


def test_check_structure_bmff_tolerates_zero_padding_and_sanitises_names() -> None:
    ftyp = b"\x00\x00\x00\x10ftypisom\x00\x00\x02\x00"
    check_structure(ftyp + b"\x00\x00\x00", MP4)
    with pytest.raises(CorruptMediaError) as info:
        check_structure(ftyp + b"\x00\x00\x10\x00\n\r\x1b[" + b"x" * 20, MP4)
    assert "\n" not in str(info.value) and "\x1b" not in str(info.value)


def test_check_structure_riff_unknown_length_is_not_truncated(media) -> None:
    data = bytearray(media("wav"))
    data[4:8] = b"\xff\xff\xff\xff"  # what a streaming encoder writes when it cannot seek back
    check_structure(bytes(data), WAV)


def test_check_structure_jpeg_with_huge_padding_reads_as_truncated(media) -> None:
    with pytest.raises(CorruptMediaError):
        check_structure(media("jpeg") + b"\x00" * 70000, JPEG)


@pytest.mark.parametrize("name", ["out.jpg", "OUT.JPEG", "out.jpe", "out.bin", "out", "archive.tar.gz.jpg"])
def test_check_output_name_accepts_the_content_s_own_or_an_unknown_extension(name: str) -> None:
    check_output_name(Path(name), JPEG)


@pytest.mark.parametrize(("name", "kind", "hint"), [("x.wav", JPEG, ".jpg"), ("x.png", JPEG, ".jpg"), ("x.mp4", WAV, ".wav"),
                                                    ("x.mov", MP4, ".mp4"), ("x.jpg", FLAC, ".flac")])
def test_check_output_name_refuses_a_name_of_another_format(name: str, kind: media.MediaKind, hint: str) -> None:
    with pytest.raises(InputError, match=rf"content is {kind.mime}: give it a \{hint} name"):
        check_output_name(Path(name), kind)


def _pyav_bytes(fmt: str) -> bytes:
    """A short real file from PyAV: VP9 in WebM or Matroska, or Opus in Ogg."""
    import io

    import av
    import numpy as np

    buf = io.BytesIO()
    with av.open(buf, "w", format=fmt) as out:
        if fmt == "ogg":
            stream = out.add_stream("libopus", rate=48000, layout="mono")
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 48000), np.float32), format="flt", layout="mono")
            frame.sample_rate, frame.pts = 48000, 0
            out.mux(stream.encode(frame))
        else:
            stream = out.add_stream("libvpx-vp9", rate=12)
            stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
            for index in range(6):
                picture = np.random.default_rng(index).integers(0, 255, (64, 64, 3), np.uint8)
                frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
                frame.pts = index
                out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return buf.getvalue()


@pytest.mark.parametrize(("fmt", "kind"), [("webm", WEBM), ("matroska", MKV), ("ogg", OGG)])
def test_webm_matroska_and_ogg_cut_short_are_named_truncated(fmt: str, kind) -> None:  # noqa: ANN001 - MediaKind
    data = _pyav_bytes(fmt)
    assert sniff(data) is kind
    check_structure(data, kind)
    for cut in (len(data) - 5, len(data) // 2, 40):
        with pytest.raises(CorruptMediaError, match="truncated"):
            check_structure(data[:cut], kind)


def test_a_live_webm_of_unknown_length_is_not_called_truncated() -> None:
    data = bytearray(_pyav_bytes("webm"))
    header_size = data[4] & 0x7F  # the EBML header's size: a one-byte number in PyAV's files
    segment = 5 + header_size
    assert data[segment : segment + 4] == b"\x18\x53\x80\x67" and data[segment + 4] == 0x01  # 8-byte size follows
    data[segment + 4 : segment + 12] = b"\x01\xff\xff\xff\xff\xff\xff\xff"  # 'unknown': a live stream
    check_structure(bytes(data[: len(data) // 2]), WEBM)
