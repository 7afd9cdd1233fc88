"""WAV chunks beyond the samples (bext, iXML, cue points, INFO tags) survive a watermarking re-encode."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import soundfile as sf

from provguard.media import WAV
from provguard.mediaio import decode_audio
from provguard.watermark.apply import detect_media, embed_media
from provguard.wavchunks import MAX_CHUNKS, WavChunks, wav_chunks, with_wav_chunks

SPEECH = Path(__file__).resolve().parents[2] / "fixtures" / "speech" / "allison_vm-intro.flac"
KEY = bytes(range(32))
PAYLOAD = 0x0123456789ABCDEF


def _chunk(cid: bytes, payload: bytes) -> bytes:
    return cid + struct.pack("<I", len(payload)) + payload + b"\x00" * (len(payload) & 1)


def _chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(id, payload) of every chunk, in order."""
    out, pos = [], 12
    while pos + 8 <= len(data):
        size = struct.unpack_from("<I", data, pos + 4)[0]
        out.append((data[pos : pos + 4], data[pos + 8 : pos + 8 + size]))
        pos += 8 + size + (size & 1)
    return out


BEXT = b"Harbour interview, take 3".ljust(256, b"\x00") + b"Newsroom desk 4".ljust(32, b"\x00") + b"\x01" * 313
IXML = b"<?xml version='1.0'?><BWFXML><PROJECT>Harbour</PROJECT></BWFXML>"  # odd length: padded
CUE = struct.pack("<I", 1) + struct.pack("<II4sIII", 1, 0, b"data", 0, 0, 16000)
ADTL = b"adtl" + _chunk(b"labl", struct.pack("<I", 1) + b"Question 1\x00")
INFO = b"INFO" + _chunk(b"INAM", b"Harbour\x00") + _chunk(b"ISFT", b"Field recorder 2.1\x00")


def _broadcast_wav(trailing: bytes = b"") -> bytes:
    """A 16-bit broadcast WAV of real speech with bext, iXML, INFO before the samples and cue points after them."""
    x, rate = sf.read(SPEECH, dtype="float32")
    buf = io.BytesIO()
    sf.write(buf, x, rate, subtype="PCM_16", format="WAV")
    fresh = buf.getvalue()
    fmt, data = (c for c in _chunks(fresh) if c[0] in (b"fmt ", b"data"))
    body = (b"WAVE" + _chunk(b"bext", BEXT) + _chunk(*fmt) + _chunk(b"iXML", IXML) + _chunk(b"LIST", INFO)
            + _chunk(b"JUNK", b"\x00" * 28) + _chunk(*data) + _chunk(b"cue ", CUE) + _chunk(b"LIST", ADTL) + trailing)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def test_marking_keeps_broadcast_chunks_byte_for_byte_in_their_places() -> None:
    source = _broadcast_wav()
    marked = embed_media(source, WAV, PAYLOAD, KEY)
    ids = [cid for cid, _ in _chunks(marked)]
    assert ids == [b"fmt ", b"bext", b"iXML", b"LIST", b"data", b"cue ", b"LIST"]  # padding (JUNK) is not carried
    kept = dict(_chunks(marked)[1:4]) | {b"cue ": _chunks(marked)[5][1]}
    assert kept == {b"bext": BEXT, b"iXML": IXML, b"LIST": INFO, b"cue ": CUE}
    assert _chunks(marked)[6][1] == ADTL
    assert struct.unpack_from("<I", marked, 4)[0] == len(marked) - 8
    decoded = decode_audio(marked, WAV)
    assert decoded.samples.shape == decode_audio(source, WAV).samples.shape
    assert decoded.tags.get("title") == "Harbour"
    assert detect_media(marked, WAV, KEY).carries(PAYLOAD)


def test_an_old_manifest_and_padding_are_not_carried() -> None:
    found = wav_chunks(_broadcast_wav(trailing=_chunk(b"C2PA", b"\x07" * 40)))
    assert [raw[:4] for raw in found.before] == [b"bext", b"iXML", b"LIST"]
    assert [raw[:4] for raw in found.after] == [b"cue ", b"LIST"]


def test_a_chunk_cut_short_ends_the_walk_without_error() -> None:
    source = _broadcast_wav(trailing=b"iXML" + struct.pack("<I", 10_000) + b"<cut")
    assert [raw[:4] for raw in wav_chunks(source).after] == [b"cue ", b"LIST"]
    assert wav_chunks(b"RIFF\x00\x00") == WavChunks()
    assert wav_chunks(b"not a wav at all") == WavChunks()


def test_a_file_of_endless_empty_chunks_is_read_only_so_far() -> None:
    many = b"RIFF" + struct.pack("<I", 0) + b"WAVE" + _chunk(b"abcd", b"") * (MAX_CHUNKS + 500)
    assert len(wav_chunks(many).before) == MAX_CHUNKS


def test_an_output_without_sample_data_is_left_alone() -> None:
    odd = b"RIFF" + struct.pack("<I", 12) + b"WAVE" + _chunk(b"fmt ", b"1234")
    assert with_wav_chunks(odd, WavChunks(before=(_chunk(b"bext", b"x"),))) == odd
