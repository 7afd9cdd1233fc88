"""Tests for provguard.mediaio: undecodable, hostile and oversized media is refused in one line, or read safely."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from provguard.errors import CorruptMediaError, MediaTooLargeError
from provguard.media import MP3, id3_end
from provguard.mediaio import decode_audio, iter_video_frames, transform_video

_JUNK = np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes()


@pytest.mark.parametrize(
    ("decode", "family"),
    [
        (lambda: iter_video_frames(b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + _JUNK), "video"),
        (lambda: decode_audio(b"ID3\x03\x00\x00\x00\x00\x00\x00\xff\xfb" + _JUNK, MP3), "audio"),
    ],
)
def test_ffmpeg_errors_read_as_ffmpeg_s_own_words(decode: Callable[[], object], family: str) -> None:
    """PyAV's errno and '<none>' file name stay out of the one-line message."""
    with pytest.raises(CorruptMediaError) as caught:
        decode()
    message = str(caught.value)
    assert message.startswith(f"{family} cannot be decoded: ") and "Errno" not in message and "<none>" not in message


def _with_bad_utf8_tag(data: bytes, marker: bytes) -> bytes:
    """The file with the first byte of a metadata text replaced by one that cannot start UTF-8."""
    at = data.index(marker)
    return data[:at] + b"\xc5" + data[at + 1 :]


def test_metadata_that_is_not_utf8_does_not_stop_decoding(media: Callable[..., bytes]) -> None:
    """A hostile or sloppy tag (the ID3 encoder text, the MP4 brands) is replaced, and the media still decodes."""
    audio = decode_audio(_with_bad_utf8_tag(media("mp3"), b"Lavf"), MP3)
    assert audio.samples.shape[0] > 1000 and audio.rate > 0
    frames = iter_video_frames(_with_bad_utf8_tag(media("mp4"), b"isomiso2"), max_frames=2)
    assert len(frames) == 2 and frames[0].ndim == 3


def test_mp3_that_turns_stereo_mid_stream_keeps_its_first_channel_count() -> None:
    """Frames after a layout change are mixed to the first frames' channel count instead of failing to stack."""
    from provguard.mediaio import DecodedAudio, encode_audio

    t = np.arange(22050) / 22050.0
    tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    mono = encode_audio(DecodedAudio(tone[:, None], 22050, MP3), tone[:, None])
    stereo = encode_audio(DecodedAudio(np.stack([tone, tone], 1), 22050, MP3), np.stack([tone, tone], 1))
    audio = decode_audio(mono + stereo[id3_end(stereo):], MP3)
    assert audio.samples.shape[1] == 1 and audio.samples.shape[0] > 1.5 * 22050
    assert abs(float(np.sqrt(np.mean(audio.samples[-5000:] ** 2))) - 0.3 / np.sqrt(2)) < 0.05  # still the tone


_VIDEO = Path(__file__).resolve().parents[2] / "fixtures" / "video" / "vtest_30f.mp4"


def test_video_frames_over_the_pixel_limit_are_refused_before_conversion() -> None:
    """A few kilobytes of H.264 can declare huge frames: decoding and re-encoding refuse them with the size."""
    data = _VIDEO.read_bytes()
    with pytest.raises(MediaTooLargeError, match=r"video frames are 768x576, over the 100000-pixel limit"):
        iter_video_frames(data, max_pixels=100_000)
    with pytest.raises(MediaTooLargeError, match="100000-pixel limit"):
        transform_video(data, lambda frame, _index: frame, max_pixels=100_000)


def test_decoded_frames_stay_within_the_memory_budget() -> None:
    """No more frames are kept than fit the byte budget, but always at least one."""
    data = _VIDEO.read_bytes()
    frame_bytes = 768 * 576 * 3
    assert len(iter_video_frames(data, max_frames=20)) == 20
    assert len(iter_video_frames(data, max_frames=20, max_bytes=5 * frame_bytes)) == 5
    assert len(iter_video_frames(data, max_frames=20, max_bytes=1)) == 1


def test_audio_declaring_too_many_samples_is_refused_before_decoding() -> None:
    """A small FLAC whose header claims 3 hours of 655 kHz audio is refused by its sample count, not its length."""
    import io

    import soundfile as sf

    from provguard.media import FLAC

    buf = io.BytesIO()
    sf.write(buf, np.zeros((48000, 2), np.float32), 48000, format="FLAC")
    data = bytearray(buf.getvalue())
    rate, claimed = 655350, 10_000 * 655350  # under the 3 h limit, far over the sample limit
    info = (rate << 44) | (1 << 41) | (15 << 36) | claimed  # STREAMINFO: rate, channels - 1, bits - 1, total frames
    data[18:26] = info.to_bytes(8, "big")
    with pytest.raises(MediaTooLargeError, match=r"2 channels at 655350 Hz\), over the 1036800000-sample limit"):
        decode_audio(bytes(data), FLAC)


def test_transform_video_reports_every_frame_with_the_total() -> None:
    calls: list[tuple[int, int]] = []
    transform_video(_VIDEO.read_bytes(), lambda frame, _index: frame, on_frame=lambda done, total: calls.append((done, total)))
    assert calls == [(i, 30) for i in range(1, 31)]


def test_libsndfile_errors_name_no_buffer_object(media: Callable[..., bytes]) -> None:
    """A WAV header with zero channels reads as libsndfile's reason alone."""
    from provguard.media import WAV

    data = bytearray(media("wav"))
    fmt = data.index(b"fmt ")
    data[fmt + 10 : fmt + 12] = b"\x00\x00"  # channel count
    with pytest.raises(CorruptMediaError) as caught:
        decode_audio(bytes(data), WAV)
    assert str(caught.value) == "audio cannot be decoded: Channel count is zero."


@pytest.mark.parametrize("fmt", ["WAV", "FLAC"])
def test_re_encoded_wav_and_flac_keep_their_text_tags(fmt: str) -> None:
    import io

    import soundfile as sf

    from provguard.media import FLAC, WAV
    from provguard.mediaio import encode_audio

    buf = io.BytesIO()
    with sf.SoundFile(buf, "w", 16000, 1, format=fmt, subtype="PCM_16") as out:
        out.title, out.artist = "A title", "An artist"
        out.write(np.zeros(16000, np.float32))
    audio = decode_audio(buf.getvalue(), WAV if fmt == "WAV" else FLAC)
    again = encode_audio(audio, audio.samples + 0.01)
    with sf.SoundFile(io.BytesIO(again)) as fh:
        assert (fh.title, fh.artist) == ("A title", "An artist")


def test_re_encoded_mp3_keeps_its_id3_tag_byte_for_byte() -> None:
    """Title, artist and anything else in the ID3v2 tag (cover art included) come back unchanged."""
    import io

    import av

    from provguard.mediaio import encode_audio

    buf = io.BytesIO()
    t = np.arange(32000) / 16000.0
    with av.open(buf, "w", format="mp3") as out:
        out.metadata["title"], out.metadata["artist"] = "A title", "An artist"
        stream = out.add_stream("libmp3lame", rate=16000, layout="mono")
        frame = av.AudioFrame.from_ndarray((0.2 * np.sin(2 * np.pi * 300 * t)).astype(np.float32)[None, :],
                                           format="fltp", layout="mono")
        frame.sample_rate = 16000
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
    original = buf.getvalue()
    audio = decode_audio(original, MP3)
    again = encode_audio(audio, audio.samples * 0.9)
    assert again[: id3_end(again)] == original[: id3_end(original)]
    with av.open(io.BytesIO(again)) as container:
        assert container.metadata["title"] == "A title" and container.metadata["artist"] == "An artist"
    assert decode_audio(again, MP3).samples.shape[0] > 30000


def test_a_tiff_keeps_its_caption_rights_xmp_and_iptc_when_marked() -> None:
    from PIL import Image, TiffImagePlugin

    from provguard.demo import synthetic_image
    from provguard.media import TIFF
    from provguard.watermark.apply import detect_media, embed_media

    tags = {270: "Boats at dawn", 315: "Newsroom desk 4", 33432: "(c) 2026 Agency", 306: "2026:05:04 10:11:12",
            700: b"<x:xmpmeta/>", 33723: b"\x1c\x02\x78\x00\x05hello\x00\x00\x00"}
    ifd = TiffImagePlugin.ImageFileDirectory_v2()
    for tag, value in tags.items():
        ifd[tag] = value
    buf = io.BytesIO()
    Image.fromarray(synthetic_image(6, (384, 320))).save(buf, "TIFF", tiffinfo=ifd, compression="tiff_lzw")
    key = bytes(range(32))
    marked = embed_media(buf.getvalue(), TIFF, 42, key)
    out = Image.open(io.BytesIO(marked))
    assert {tag: out.tag_v2.get(tag) for tag in tags} == tags
    assert out.info["compression"] == "tiff_lzw"
    assert detect_media(marked, TIFF, key).carries(42)


def test_decode_audio_head_stops_early_instead_of_refusing() -> None:
    """Detection reads a long soundtrack's first minute; decoding the whole of it is neither needed nor refused."""
    from provguard.demo import synthetic_speechlike
    from provguard.generate.video import encode_mp4
    from provguard.media import MP4
    from provguard.mediaio import decode_audio_head

    frames = [np.full((64, 64, 3), v, np.uint8) for v in range(0, 240, 4)]  # 60 frames at 10 fps: 6 s
    data = encode_mp4(frames, 10, (synthetic_speechlike(1, seconds=6.0), 16000))
    head = decode_audio_head(data, MP4, 2.0)
    assert 2.0 <= head.samples.shape[0] / head.rate < 2.2
    with pytest.raises(MediaTooLargeError):
        decode_audio(data, MP4, max_seconds=2.0)


@pytest.mark.parametrize(("encoder", "sample_format"), [("flac", "s16"), ("alac", "s32p"), ("pcm_s16le", "s16")])
def test_integer_soundtracks_decode_to_unit_floats(encoder: str, sample_format: str) -> None:
    """An MP4 whose audio decodes to integers (FLAC, ALAC, PCM) reads back at its own level, not in integer units."""
    import av

    from provguard.media import MP4

    rate = 44100
    tone = (0.5 * np.sin(2 * np.pi * 440 * np.arange(rate) / rate)).astype(np.float32)
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        stream = out.add_stream(encoder, rate=rate, layout="mono")
        if stream.codec_context.format.name != sample_format:
            stream.codec_context.format = sample_format
        frame = av.AudioFrame.from_ndarray(tone[None, :], format="fltp", layout="mono")
        frame.sample_rate, frame.pts = rate, 0
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    samples = decode_audio(buf.getvalue(), MP4).samples
    assert samples.dtype == np.float32
    assert np.max(np.abs(samples)) == pytest.approx(0.5, abs=0.01)


def _tone(seconds: float = 1.0, rate: int = 44100) -> np.ndarray:
    return (0.3 * np.sin(2 * np.pi * 440 * np.arange(int(seconds * rate)) / rate)).astype(np.float32)


@pytest.mark.parametrize("encoder", ["aac", "alac"])
def test_m4a_is_re_encoded_as_m4a_in_its_codec_with_its_tags(encoder: str, helpers) -> None:  # noqa: ANN001
    import av

    from provguard.media import M4A, sniff
    from provguard.mediaio import encode_audio

    source = helpers.m4a(_tone(), 44100, encoder, title="Field recording")
    audio = decode_audio(source, M4A)
    out = encode_audio(audio, audio.samples * 0.5)
    assert sniff(out) is M4A
    with av.open(io.BytesIO(out)) as container:
        assert container.metadata.get("title") == "Field recording"
        assert container.streams.audio[0].codec_context.name == encoder
    again = decode_audio(out, M4A)
    assert again.rate == 44100 and abs(again.samples.shape[0] - audio.samples.shape[0]) < 2048
    rms = float(np.sqrt(np.mean(again.samples**2)))
    assert rms == pytest.approx(0.5 * float(np.sqrt(np.mean(audio.samples**2))), rel=0.05)  # the new samples, not the old


def test_m4a_with_a_second_track_is_refused_not_re_encoded_without_it(helpers) -> None:  # noqa: ANN001
    from provguard.errors import UnsupportedMediaError
    from provguard.media import M4A
    from provguard.mediaio import encode_audio

    audio = decode_audio(helpers.m4a(_tone(), 44100, tracks=2), M4A)
    with pytest.raises(UnsupportedMediaError, match="more than one track"):
        encode_audio(audio, audio.samples)


def test_a_garbled_avif_is_a_corrupt_media_error() -> None:
    """Pillow's AVIF decoder reports broken pictures with RuntimeError: one line, not an internal error."""
    from PIL import Image

    from provguard.media import AVIF
    from provguard.mediaio import decode_image

    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)).save(buf, "AVIF", quality=50)
    data = bytearray(buf.getvalue())
    start = data.find(b"mdat") + 8
    data[start : start + 200] = bytes(b ^ 0x5A for b in data[start : start + 200])
    with pytest.raises(CorruptMediaError, match="image cannot be decoded"):
        decode_image(bytes(data), AVIF)


def _heic(pixels: np.ndarray, quality: int = 80, orientation: int = 1) -> bytes:
    """Pixels as a HEIC picture written by pillow-heif (libheif + x265), with an EXIF orientation."""
    import pillow_heif
    from PIL import Image

    pillow_heif.register_heif_opener()
    exif = Image.Exif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "HEIF", quality=quality, exif=exif.tobytes())
    return buf.getvalue()


def test_a_heic_photo_decodes_as_displayed() -> None:
    """A phone's HEIC (turned a quarter by its orientation) comes out turned, with nothing left to turn."""
    from provguard.media import HEIC, sniff
    from provguard.mediaio import decode_image

    pixels = np.zeros((96, 160, 3), np.uint8)
    pixels[:, :80] = (220, 40, 40)  # the left half red, the right half dark
    data = _heic(pixels, quality=90, orientation=6)  # 6: shown turned 90 degrees clockwise
    assert sniff(data) is HEIC
    image = decode_image(data, HEIC)
    assert image.pixels.shape == (160, 96, 3) and image.orientation == 1
    assert image.pixels[:80, :, 0].mean() > 150 > image.pixels[80:, :, 0].mean()  # the red half is now on top


def test_heic_over_the_pixel_limit_is_refused_before_decoding() -> None:
    from provguard.media import HEIC
    from provguard.mediaio import decode_image

    data = _heic(np.full((64, 96, 3), 128, np.uint8))
    with pytest.raises(MediaTooLargeError, match="5000-pixel limit"):
        decode_image(data, HEIC, max_pixels=5000)


def test_heic_without_pillow_heif_is_refused_with_the_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from provguard.errors import UnsupportedMediaError
    from provguard.media import HEIC
    from provguard.mediaio import _open_heif, decode_image

    data = _heic(np.full((64, 96, 3), 128, np.uint8))
    monkeypatch.setitem(sys.modules, "pillow_heif", None)  # import pillow_heif now raises ImportError
    _open_heif.cache_clear()
    try:
        with pytest.raises(UnsupportedMediaError, match=r"pip install 'provguard\[heif\]'"):
            decode_image(data, HEIC)
    finally:
        _open_heif.cache_clear()


def test_a_pixel_limit_applies_to_its_own_call_only() -> None:
    """decode_image's limit is Pillow's bomb limit while it runs, and Pillow's own setting comes back after."""
    from PIL import Image

    from provguard.media import PNG
    from provguard.mediaio import decode_image

    buf = io.BytesIO()
    Image.fromarray(np.zeros((64, 96, 3), np.uint8)).save(buf, "PNG")
    before = Image.MAX_IMAGE_PIXELS
    with pytest.raises(MediaTooLargeError):
        decode_image(buf.getvalue(), PNG, max_pixels=5000)
    assert decode_image(buf.getvalue(), PNG).pixels.shape == (64, 96, 3)
    assert Image.MAX_IMAGE_PIXELS == before
