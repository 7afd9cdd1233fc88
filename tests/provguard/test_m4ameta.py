"""An M4A's iTunes metadata (tags, cover art) survives a watermarking re-encode, byte for byte."""

from __future__ import annotations

import io
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from provguard.errors import CorruptMediaError, UnsupportedMediaError
from provguard.bmff import MAX_BOXES
from provguard.m4ameta import M4aMetadata, m4a_metadata, with_m4a_metadata
from provguard.media import M4A, sniff
from provguard.mediaio import DecodedAudio, decode_audio, encode_audio
from provguard.watermark.apply import detect_media, embed_media

SPEECH = Path(__file__).resolve().parents[2] / "fixtures" / "speech" / "librivox_sense_and_sensibility_0870.flac"
KEY = bytes(range(32))
PAYLOAD = 0x0123456789ABCDEF


def _cover() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (180, 40, 30)).save(buf, "JPEG")
    return buf.getvalue()


COVER = _cover()


def _boxes(data: bytes, start: int = 0, end: int | None = None) -> list[tuple[bytes, int, int]]:
    """(type, start, end) of the boxes in a range, read independently of the module under test."""
    end = len(data) if end is None else end
    out, pos = [], start
    while pos + 8 <= end:
        size = int.from_bytes(data[pos : pos + 4], "big")
        out.append((data[pos + 4 : pos + 8], pos, pos + size))
        pos += size
    return out


def _find(data: bytes, *path: bytes) -> tuple[int, int]:
    """(start, end) of the box at a path of types from the top level (meta's version and flags skipped)."""
    start, end, body = 0, len(data), 0
    for depth, kind in enumerate(path):
        box = next(b for b in _boxes(data, body if depth else 0, end) if b[0] == kind)
        start, end = box[1], box[2]
        body = start + (12 if kind == b"meta" else 8)
    return start, end


def _speech_m4a(**kw) -> bytes:
    from tests.conftest import m4a_bytes

    x, rate = sf.read(SPEECH, dtype="float32")
    return m4a_bytes(x, rate, title="Chapter 4", cover=COVER, **kw)


def _with_item(data: bytes, item: bytes) -> bytes:
    """The M4A with one more ilst item (and every enclosing box, up to moov, grown to fit)."""
    path = (b"moov", b"udta", b"meta", b"ilst")
    ends = [_find(data, *path[: i + 1]) for i in range(len(path))]
    ilst_end = ends[-1][1]
    out = bytearray(data[:ilst_end] + item + data[ilst_end:])
    for start, _ in ends:
        size = int.from_bytes(out[start : start + 4], "big")
        out[start : start + 4] = (size + len(item)).to_bytes(4, "big")
    return bytes(out)


def _freeform(name: bytes, value: bytes) -> bytes:
    def box(kind: bytes, payload: bytes) -> bytes:
        return (len(payload) + 8).to_bytes(4, "big") + kind + payload

    return box(b"----", box(b"mean", b"\0\0\0\0com.apple.iTunes") + box(b"name", b"\0\0\0\0" + name)
               + box(b"data", b"\0\0\0\x01\0\0\0\0" + value))


def _cover_art(data: bytes) -> bytes | None:
    with av.open(io.BytesIO(data)) as container:
        pictures = [s for s in container.streams if s.disposition & av.stream.Disposition.attached_pic]
        return bytes(next(container.demux(pictures[0]))) if pictures else None


def test_marking_keeps_cover_art_and_every_tag_byte_for_byte() -> None:
    source = _speech_m4a()
    assert sniff(source) is M4A and _cover_art(source) == COVER
    marked = embed_media(source, M4A, PAYLOAD, KEY)
    assert sniff(marked) is M4A
    udta = _find(source, b"moov", b"udta")
    assert source[slice(*udta)] in marked  # tags and cover art as the source wrote them
    assert _cover_art(marked) == COVER
    with av.open(io.BytesIO(marked)) as container:
        assert container.metadata.get("title") == "Chapter 4"
    assert detect_media(marked, M4A, KEY).carries(PAYLOAD)
    again = decode_audio(marked, M4A)
    assert abs(again.samples.shape[0] - decode_audio(source, M4A).samples.shape[0]) < 2048


def test_the_source_encoders_gapless_info_is_not_carried() -> None:
    smpb = _freeform(b"iTunSMPB", b" 00000000 00000840 000001C0 0000000000012345")
    norm = _freeform(b"iTunNORM", b" 000003E8 000003E8")
    source = _with_item(_with_item(_speech_m4a(), smpb), norm)
    assert _cover_art(source) == COVER  # the grown file is still read as it was
    marked = encode_audio(decode_audio(source, M4A), decode_audio(source, M4A).samples)
    assert b"iTunSMPB" not in marked  # its encoder delay would trim the new encoding's samples
    assert norm in marked and _cover_art(marked) == COVER


@pytest.mark.parametrize("layout", ["5.1", "7.1"])
def test_a_surround_m4a_is_marked_in_its_own_layout(layout: str) -> None:
    from tests.conftest import m4a_bytes

    x, rate = sf.read(SPEECH, dtype="float32")
    gains = (0.8, 0.8, 1.0, 0.2, 0.5, 0.5, 0.4, 0.4)[: len(av.AudioLayout(layout).channels)]
    source = m4a_bytes(np.stack([x * g for g in gains], axis=1), rate, layout=layout)
    assert decode_audio(source, M4A).samples.shape[1] == len(gains)  # 7.1 is read plane by plane: no crash
    marked = embed_media(source, M4A, PAYLOAD, KEY)
    with av.open(io.BytesIO(marked)) as container:
        assert container.streams.audio[0].layout.name == layout
        assert container.streams.audio[0].codec_context.name == "aac"
    assert detect_media(marked, M4A, KEY).carries(PAYLOAD)


def test_a_layout_the_encoder_refuses_is_a_clear_error() -> None:
    x, rate = sf.read(SPEECH, dtype="float32")
    audio = DecodedAudio(np.stack([x] * 8, axis=1), rate, M4A, codec="aac", layout="7.1(top)")  # AAC: no 7.1(top)
    with pytest.raises(UnsupportedMediaError, match=r"7\.1\(top\)"):
        encode_audio(audio, audio.samples)


def test_malformed_metadata_is_refused_not_dropped() -> None:
    source = bytearray(_speech_m4a())
    start, end = _find(bytes(source), b"moov", b"udta", b"meta", b"ilst")
    source[start : start + 4] = (end - start + 1000).to_bytes(4, "big")  # ilst overruns its parent
    audio = decode_audio(bytes(source), M4A)
    assert audio.m4a_metadata.problem
    with pytest.raises(UnsupportedMediaError, match="malformed"):
        encode_audio(audio, audio.samples)


def test_a_moov_of_endless_empty_boxes_is_read_only_so_far() -> None:
    moov_body = b"\0\0\0\x08free" * (MAX_BOXES + 10)
    data = (len(moov_body) + 8).to_bytes(4, "big") + b"moov" + moov_body
    assert m4a_metadata(data).problem and not m4a_metadata(data)


def test_metadata_is_not_written_where_it_would_move_the_sample_data() -> None:
    faststart = b"\0\0\0\x08moov" + b"\0\0\0\x0cmdat" + b"abcd"
    with pytest.raises(CorruptMediaError, match="moov"):
        with_m4a_metadata(faststart, M4aMetadata((b"\0\0\0\x08udta",)))
    assert with_m4a_metadata(faststart, M4aMetadata()) == faststart


def test_a_signed_m4a_with_cover_art_is_marked_and_verifies(dev_credentials, dev_root_pem: bytes) -> None:
    from provguard.report import TRUSTED
    from provguard.sign import sign_bytes
    from provguard.verify import verify_bytes

    signed = sign_bytes(_speech_m4a(), title="chapter4.m4a")
    assert _cover_art(signed) == COVER
    report = verify_bytes(signed, None, dev_root_pem)
    assert report.provenance.state == TRUSTED, report.provenance.failure_codes
    assert "c2pa.watermarked" in [a["action"] for a in report.provenance.actions]
    from provguard.keys import load_watermark_key

    assert detect_media(signed, M4A, load_watermark_key()).payload == int(report.provenance.soft_bindings[0].value, 16)


def test_hostile_nesting_is_carried_as_it_is_not_followed() -> None:
    nested = b""
    for _ in range(20_000):  # udta inside udta inside ...: only moov/udta/meta/ilst is ever opened
        nested = (len(nested) + 8).to_bytes(4, "big") + b"udta" + nested
    data = (len(nested) + 8).to_bytes(4, "big") + b"moov" + nested
    assert m4a_metadata(data).boxes == (nested,)


def test_the_moov_is_found_ahead_of_endless_fragments() -> None:
    trak = b"\0\0\0\x08trak"
    udta = b"\0\0\0\x10udta\0\0\0\x08free"
    data = b"\0\0\0\x20moov" + trak + udta + b"\0\0\0\x08moof" * (MAX_BOXES * 3)
    found = m4a_metadata(data)
    assert found.boxes == (udta,) and found.tracks == 1 and not found.problem
