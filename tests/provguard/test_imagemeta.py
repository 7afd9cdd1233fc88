"""Image metadata (XMP, IPTC, comments, PNG text such as a generator's prompt) survives a watermarking re-encode."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image, IptcImagePlugin, PngImagePlugin

from provguard.demo import synthetic_image
from provguard.imagemeta import (
    MAX_PARTS,
    jpeg_metadata,
    png_metadata,
    with_jpeg_metadata,
    with_png_metadata,
)
from provguard.media import JPEG, PNG, WEBP
from provguard.watermark.apply import detect_media, embed_media

KEY = bytes(range(32))
PAYLOAD = 0x0123456789ABCDEF
XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><dc:creator>Newsroom desk 4</dc:creator></x:xmpmeta>'


def _segment(marker: int, body: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(body) + 2) + body


def _iptc_caption(text: bytes) -> bytes:
    """An APP13 Photoshop segment holding an IPTC caption (dataset 2:120)."""
    iptc = b"\x1c\x02\x78" + struct.pack(">H", len(text)) + text
    resource = b"8BIM\x04\x04\x00\x00" + struct.pack(">I", len(iptc)) + iptc + b"\x00" * (len(iptc) & 1)
    return _segment(0xED, b"Photoshop 3.0\x00" + resource)


def _news_photo() -> bytes:
    """A JPEG with EXIF, XMP, a comment, an IPTC caption, and an old C2PA manifest and multi-picture index."""
    image = Image.fromarray(synthetic_image(3, (512, 384)))
    exif = image.getexif()
    exif[0x010F] = "Camera maker"
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=90, exif=exif.tobytes(), xmp=XMP, comment=b"shot on the harbour")
    data = buf.getvalue()
    extra = _iptc_caption(b"Boats at dawn") + _segment(0xEB, b"JP\x00\x01old manifest") + _segment(0xE2, b"MPF\x00old")
    return data[:2] + extra + data[2:]


@pytest.mark.filterwarnings("ignore:Image appears to be a malformed MPO file")  # the stale index added on purpose
def test_a_news_photo_keeps_xmp_iptc_comment_and_exif_once() -> None:
    marked = embed_media(_news_photo(), JPEG, PAYLOAD, KEY)
    out = Image.open(io.BytesIO(marked))
    assert out.info["xmp"] == XMP
    assert out.info["comment"] == b"shot on the harbour"
    assert IptcImagePlugin.getiptcinfo(out)[(2, 120)] == b"Boats at dawn"
    assert out.getexif()[0x010F] == "Camera maker"
    markers = [name for name, _ in out.applist]
    assert markers.count("APP1") == 2  # Exif and XMP, each once
    assert "APP11" not in markers  # the old manifest no longer matches the pixels
    assert not any(body.startswith(b"MPF\x00") for _, body in out.applist)
    assert detect_media(marked, JPEG, KEY).carries(PAYLOAD)


def _png_chunk(ctype: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + ctype + body + struct.pack(">I", zlib.crc32(ctype + body))


def _generated_png(*extra: bytes) -> bytes:
    """A PNG as image generators write it: the prompt in tEXt, XMP in iTXt, a compressed note in zTXt."""
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "harbour at dawn, steps 30, seed 7")
    info.add_itxt("XML:com.adobe.xmp", XMP.decode())
    info.add_text("Comment", "made by a model", zip=True)
    buf = io.BytesIO()
    Image.fromarray(synthetic_image(4, (512, 384))).save(buf, "PNG", pnginfo=info)
    data = buf.getvalue()
    return data[:-12] + b"".join(extra) + data[-12:]  # before IEND


def test_a_generated_png_keeps_its_prompt_xmp_and_notes() -> None:
    private = _png_chunk(b"prVt", b"generator state")  # ancillary, private, safe to copy
    unsafe = _png_chunk(b"prVT", b"tied to the old pixels")  # ancillary but not safe to copy
    old_manifest = _png_chunk(b"caBX", b"old manifest")
    marked = embed_media(_generated_png(private, unsafe, old_manifest), PNG, PAYLOAD, KEY)
    out = Image.open(io.BytesIO(marked))
    out.load()
    assert out.text == {"parameters": "harbour at dawn, steps 30, seed 7", "XML:com.adobe.xmp": XMP.decode(),
                        "Comment": "made by a model"}
    assert private in marked and unsafe not in marked and old_manifest not in marked
    assert detect_media(marked, PNG, KEY).carries(PAYLOAD)


def test_srgb_gives_way_to_an_icc_profile_in_the_output() -> None:
    srgb = _png_chunk(b"sRGB", b"\x00")
    fresh = _generated_png()
    with_icc = fresh[:33] + _png_chunk(b"iCCP", b"p\x00\x00" + zlib.compress(b"profile")) + fresh[33:]
    assert srgb not in with_png_metadata(with_icc, (srgb,))
    assert srgb in with_png_metadata(fresh, (srgb,))


def test_a_webp_keeps_its_xmp() -> None:
    buf = io.BytesIO()
    Image.fromarray(synthetic_image(5, (512, 384))).save(buf, "WEBP", quality=90, xmp=XMP)
    marked = embed_media(buf.getvalue(), WEBP, PAYLOAD, KEY)
    assert Image.open(io.BytesIO(marked)).info["xmp"] == XMP


def test_damaged_or_endless_metadata_is_read_only_so_far() -> None:
    cut = b"\xff\xd8" + _segment(0xED, b"Photoshop 3.0\x00caption")[:-4]
    assert jpeg_metadata(cut) == ()
    assert jpeg_metadata(b"\xff\xd8" + _segment(0xFE, b"") * (MAX_PARTS + 50)) == (_segment(0xFE, b""),) * MAX_PARTS
    assert jpeg_metadata(b"GIF89a") == () and png_metadata(b"\xff\xd8\xff") == ()
    png = _generated_png()
    assert len(png_metadata(png[: len(png) // 2])) <= 3
    assert with_jpeg_metadata(b"not a jpeg", (_segment(0xFE, b"x"),)) == b"not a jpeg"
    assert with_png_metadata(b"\x89PNG\r\n\x1a\n", (_png_chunk(b"tEXt", b"a\x00b"),)) == b"\x89PNG\r\n\x1a\n"
