"""Whole-file watermarking: images and MP4 video re-encoded in their own format, detection pooled over frames."""

from __future__ import annotations

import io
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from provguard.demo import synthetic_image
from provguard.media import JPEG, MP3, MP4, PNG, sniff
from provguard.mediaio import iter_video_frames, video_keyframes
from provguard.watermark.apply import algorithm_for, detect_media, embed_media

REAL_VIDEO = Path(__file__).resolve().parents[3] / "fixtures" / "video" / "vtest_30f.mp4"
REAL_PHOTO = Path(__file__).resolve().parents[3] / "fixtures" / "photos" / "seeding.jpg"
KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
PAYLOAD = 0x0123456789ABCDEF


def _moving_video(n_frames: int = 24, size: tuple[int, int] = (576, 512), seed: int = 0) -> bytes:
    """An H.264 MP4 of a synthetic scene panning right, with an AAC tone track."""
    rng = np.random.default_rng(seed)
    w, h = size
    scene = synthetic_image(seed, (w + 4 * n_frames, h))
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        video = out.add_stream("libx264", rate=12)
        video.width, video.height, video.pix_fmt = w, h, "yuv420p"
        audio = out.add_stream("aac", rate=16000, layout="mono")
        for i in range(n_frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(scene[:, 4 * i : 4 * i + w]), format="rgb24")
            frame.pts = i
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        tone = (0.1 * np.sin(np.arange(16000 * n_frames // 12) * 0.07) + 0.01 * rng.standard_normal(16000 * n_frames // 12))
        aframe = av.AudioFrame.from_ndarray(tone.astype(np.float32)[None, :], format="fltp", layout="mono")
        aframe.sample_rate, aframe.pts = 16000, 0
        out.mux(audio.encode(aframe))
        out.mux(audio.encode(None))
    return buf.getvalue()


def _reencode(data: bytes, crf: int, scale: float, upright: bool = False) -> bytes:
    """Re-encode an MP4's video as H.264 at a CRF after scaling, as a platform would (upright: rotation baked in)."""
    frames = iter_video_frames(data, max_frames=10_000, upright=upright)
    h, w = frames[0].shape[:2]
    nw, nh = int(w * scale) // 2 * 2, int(h * scale) // 2 * 2
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        video = out.add_stream("libx264", rate=12)
        video.width, video.height, video.pix_fmt = nw, nh, "yuv420p"
        video.options = {"crf": str(crf)}
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(width=nw, height=nh)
            frame.pts = i
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
    return buf.getvalue()


@pytest.fixture(scope="module")
def marked_video() -> bytes:
    """A watermarked copy of a real video clip (30 frames of a street scene)."""
    return embed_media(REAL_VIDEO.read_bytes(), MP4, PAYLOAD, KEY)


def test_video_keeps_its_audio_and_frame_count() -> None:
    """A marked MP4 still has H.264 video with every frame, and its audio track."""
    marked = embed_media(_moving_video(), MP4, PAYLOAD, KEY)
    with av.open(io.BytesIO(marked)) as container:
        kinds = sorted(s.type for s in container.streams)
        assert kinds == ["audio", "video"]
    assert len(iter_video_frames(marked, max_frames=1000)) == 24
    assert sniff(marked[:64]) is MP4


def test_video_payload_survives_crf28_and_half_scale(marked_video: bytes) -> None:
    """After an H.264 re-encode at CRF 28 and scaling to 0.5x, pooled frames yield the exact payload."""
    decision = detect_media(_reencode(marked_video, crf=28, scale=0.5), MP4, KEY)
    assert decision.detected and decision.payload == PAYLOAD and decision.p_value <= 1e-6


def _photo_pan(n_frames: int = 24, size: tuple[int, int] = (640, 448), rotation: int = 0) -> bytes:
    """An H.264 MP4 (CRF 18) of a camera panning across a real photograph, 8 px a frame (rotation: display matrix)."""
    from PIL import Image

    photo = np.asarray(Image.open(REAL_PHOTO).convert("RGB"))
    w, h = size
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        out.metadata["title"] = "Harbour, take 3"
        out.metadata["creation_time"] = "2026-05-04T10:11:12.000000Z"
        video = out.add_stream("libx264", rate=12)
        video.width, video.height, video.pix_fmt = w, h, "yuv420p"
        video.options = {"crf": "18"}
        video.metadata["language"] = "fra"
        if rotation:
            video.set_display_rotation(rotation)
        for i in range(n_frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(photo[32 : 32 + h, 8 * i : 8 * i + w]), format="rgb24")
            frame.pts = i
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
    return buf.getvalue()


def test_keyframes_are_the_intra_coded_frames() -> None:
    """video_keyframes decodes only key frames: a 24-frame clip has one, and it is the first frame."""
    data = _photo_pan()
    keys = video_keyframes(data)
    assert len(keys) == 1
    assert np.array_equal(keys[0], iter_video_frames(data, max_frames=1)[0])


def test_panning_video_payload_survives_crf28() -> None:
    """When the camera moves, a CRF 28 re-encode drops the static mark from inter frames; the key frame keeps it."""
    marked = embed_media(_photo_pan(), MP4, PAYLOAD, KEY)
    decision = detect_media(_reencode(marked, crf=28, scale=1.0), MP4, KEY)
    assert decision.detected and decision.payload == PAYLOAD and decision.p_value <= 1e-6
    assert not detect_media(_reencode(_photo_pan(), crf=28, scale=1.0), MP4, KEY).detected


def test_unmarked_and_other_key_video_read_not_detected(marked_video: bytes) -> None:
    """An unmarked video, and a marked one under another key, are not detected."""
    assert not detect_media(REAL_VIDEO.read_bytes(), MP4, KEY).detected
    assert not detect_media(marked_video, MP4, OTHER_KEY).detected


@pytest.mark.parametrize("kind", [JPEG, PNG])
def test_image_files_round_trip_in_their_own_format(kind) -> None:  # noqa: ANN001 - MediaKind
    """A JPEG stays a JPEG and a PNG a PNG, and the payload reads back."""
    from provguard.demo import encode_image

    marked = embed_media(encode_image(synthetic_image(3, (512, 384)), kind), kind, PAYLOAD, KEY)
    assert sniff(marked[:64]) is kind
    decision = detect_media(marked, kind, KEY)
    assert decision.detected and decision.payload == PAYLOAD


def test_every_family_has_an_algorithm_name() -> None:
    """Soft-binding algorithm names are distinct per family."""
    assert len({algorithm_for(k) for k in (JPEG, MP4)}) == 2


def test_frames_that_change_size_midway_are_pooled_without_error() -> None:
    """A stream that changes its frame size is read from the frames of the first size."""
    from provguard.watermark.apply import detect_video_frames

    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (288, 352, 3), dtype=np.uint8) for _ in range(3)]
    frames.insert(1, rng.integers(0, 256, (320, 352, 3), dtype=np.uint8))
    decision = detect_video_frames(frames, b"k" * 32)
    assert not decision.detected and 0.0 <= decision.p_value <= 1.0


def _saved(image: Image.Image, fmt: str, **kwargs: object) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


@pytest.mark.parametrize("kind", [JPEG, PNG])
def test_greyscale_stays_greyscale_and_carries_the_mark(kind) -> None:  # noqa: ANN001 - MediaKind
    grey = Image.fromarray(synthetic_image(5, (512, 384))).convert("L")
    marked = embed_media(_saved(grey, "JPEG" if kind is JPEG else "PNG"), kind, PAYLOAD, KEY)
    assert Image.open(io.BytesIO(marked)).mode == "L"
    assert detect_media(marked, kind, KEY).carries(PAYLOAD)


def test_palette_transparency_is_kept_as_alpha() -> None:
    rgb = Image.fromarray(synthetic_image(6, (512, 384)))
    palette = rgb.quantize(64)
    palette.info["transparency"] = 0
    marked = Image.open(io.BytesIO(embed_media(_saved(palette, "PNG", transparency=0), PNG, PAYLOAD, KEY)))
    expected = np.asarray(palette.convert("RGBA").getchannel("A"))
    assert marked.mode == "RGBA" and np.array_equal(np.asarray(marked.getchannel("A")), expected)
    assert (expected == 0).any()


@pytest.mark.parametrize(
    ("make", "kind", "reason"),
    [
        (lambda img: _saved(img.convert("CMYK"), "JPEG"), JPEG, "in CMYK mode"),
        (lambda img: _saved(Image.frombytes("I;16", img.size, (np.asarray(img.convert("L"), "<u2") * 257).tobytes()),
                            "PNG"), PNG, "with 16 bits per channel"),
        (lambda img: _saved(img.convert("1"), "PNG"), PNG, "in 1 mode"),
    ],
    ids=["cmyk-jpeg", "16-bit-png", "bilevel-png"],
)
def test_images_the_marked_copy_could_not_give_back_whole_are_refused(make, kind, reason: str) -> None:  # noqa: ANN001
    from provguard.errors import WatermarkError

    with pytest.raises(WatermarkError, match=reason):
        embed_media(make(Image.fromarray(synthetic_image(7, (512, 384)))), kind, PAYLOAD, KEY)


def _with_orientation(pixels: np.ndarray, orientation: int, fmt: str = "PNG", **kwargs: object) -> bytes:
    image = Image.fromarray(pixels)
    exif = image.getexif()
    exif[0x0112] = orientation
    return _saved(image, fmt, exif=exif.tobytes(), **kwargs)


def test_a_rotated_phone_photo_keeps_its_mark_when_a_platform_bakes_the_rotation_in() -> None:
    """The mark is laid on the picture as shown, so the upright re-encode a platform makes still carries it."""
    from PIL import ImageOps

    stored = np.asarray(Image.open(REAL_PHOTO).convert("RGB"))
    marked = embed_media(_with_orientation(stored, 6, "JPEG", quality=92), JPEG, PAYLOAD, KEY)
    assert Image.open(io.BytesIO(marked)).getexif().get(0x0112) == 6  # the file itself stays as it was stored
    assert detect_media(marked, JPEG, KEY).carries(PAYLOAD)
    baked = _saved(ImageOps.exif_transpose(Image.open(io.BytesIO(marked))), "JPEG", quality=85)
    assert detect_media(baked, JPEG, KEY).carries(PAYLOAD)


def _first_frame_rotation(data: bytes) -> int:
    with av.open(io.BytesIO(data)) as container:
        return next(container.decode(video=0)).rotation


def test_a_rotated_phone_video_keeps_its_rotation_metadata_and_mark() -> None:
    """The display matrix, title, creation time and stream language survive marking; the mark is read as shown."""
    source = _photo_pan(rotation=-90)  # stored landscape, shown portrait: a phone held upright
    marked = embed_media(source, MP4, PAYLOAD, KEY)
    assert _first_frame_rotation(marked) == _first_frame_rotation(source) == -90
    with av.open(io.BytesIO(marked)) as container:
        assert container.metadata["title"] == "Harbour, take 3"
        assert container.metadata["creation_time"].startswith("2026-05-04T10:11:12")
        assert container.streams.video[0].metadata["language"] == "fra"
        assert (container.streams.video[0].width, container.streams.video[0].height) == (640, 448)
    assert detect_media(marked, MP4, KEY).carries(PAYLOAD)


def test_a_rotated_phone_video_keeps_its_mark_when_a_platform_bakes_the_rotation_in() -> None:
    """The mark is laid on the frames as shown, so an upright re-encode at CRF 28 still carries it."""
    baked = _reencode(embed_media(_photo_pan(rotation=-90), MP4, PAYLOAD, KEY), crf=28, scale=1.0, upright=True)
    assert iter_video_frames(baked, max_frames=1)[0].shape[:2] == (640, 448)  # now stored portrait, no matrix
    assert detect_media(baked, MP4, KEY).carries(PAYLOAD)


def test_a_rotated_phone_photo_keeps_its_mark_when_a_platform_drops_the_rotation() -> None:
    """A platform that strips EXIF without turning the pixels shows the photo sideways; the mark is still read."""
    stored = np.asarray(Image.open(REAL_PHOTO).convert("RGB"))
    marked = embed_media(_with_orientation(stored, 6, "JPEG", quality=92), JPEG, PAYLOAD, KEY)
    stripped = _saved(Image.open(io.BytesIO(marked)), "JPEG", quality=85)  # no exif= given: the orientation is gone
    assert Image.open(io.BytesIO(stripped)).getexif().get(0x0112) is None
    assert detect_media(stripped, JPEG, KEY).carries(PAYLOAD)


SPEECH = Path(__file__).resolve().parents[3] / "fixtures" / "speech" / "librivox_sense_and_sensibility_0870.flac"


def _talking_video(seconds: float = 6.0, soundtrack: np.ndarray | None = None) -> bytes:
    """An H.264 MP4 of a photo pan at 12 fps with real speech (16 kHz) as its AAC soundtrack."""
    import soundfile as sf

    from provguard.generate.video import encode_mp4

    speech = sf.read(SPEECH, dtype="float32")[0][: int(seconds * 16000)] if soundtrack is None else soundtrack
    frames = iter_video_frames(_photo_pan(n_frames=int(seconds * 12)), max_frames=1000)
    return encode_mp4(frames, 12, (speech, 16000))


def test_the_soundtrack_carries_the_payload_so_ripped_audio_still_points_to_the_manifest() -> None:
    """Marking a video marks its AAC soundtrack too: the audio alone, ripped to MP3, yields the payload."""
    from provguard.mediaio import DecodedAudio, decode_audio, encode_audio
    from provguard.watermark.audio import detect_audio

    marked = embed_media(_talking_video(), MP4, PAYLOAD, KEY)
    soundtrack = decode_audio(marked, MP4)
    assert soundtrack.rate == 16000 and soundtrack.samples.shape[0] >= 6 * 16000
    ripped = encode_audio(DecodedAudio(soundtrack.samples, 16000, MP3), soundtrack.samples)  # to MP3, 192 kbps
    assert detect_media(ripped, MP3, KEY).carries(PAYLOAD)
    assert not detect_audio(decode_audio(_talking_video(), MP4).samples, 16000, KEY).detected


def test_a_video_whose_frames_lost_the_mark_is_found_by_its_soundtrack() -> None:
    import soundfile as sf

    from provguard.watermark.audio import embed_audio

    speech = sf.read(SPEECH, dtype="float32")[0][: 6 * 16000]
    video = _talking_video(soundtrack=embed_audio(speech, 16000, PAYLOAD, KEY))  # unmarked frames, marked sound
    decision = detect_media(video, MP4, KEY)
    assert decision.detected and decision.payload == PAYLOAD and decision.p_value <= 1e-6


def _video_with_soundtrack(encoder: str, rate: int, seconds: float = 6.0, layout: str = "mono") -> bytes:
    """A 12 fps H.264 photo pan with real speech, resampled to `rate`, as its soundtrack in the given audio codec
    (every channel of the layout carries the speech)."""
    import soundfile as sf
    from scipy import signal

    speech, src = sf.read(SPEECH, dtype="float32")
    speech = signal.resample_poly(speech[: int(seconds * src)], rate, src).astype(np.float32)
    frames = iter_video_frames(_photo_pan(n_frames=int(seconds * 12)), max_frames=1000)
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        vs = out.add_stream("libx264", rate=12)
        vs.width, vs.height, vs.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        stream = out.add_stream(encoder, rate=rate, layout=layout)
        for index, pixels in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            frame.pts = index
            out.mux(vs.encode(frame))
        out.mux(vs.encode(None))
        channels = len(stream.layout.channels)
        interleaved = np.repeat(speech[:, None] / channels, channels, axis=1).reshape(1, -1)  # packed: 7.1 too
        sound = av.AudioFrame.from_ndarray(np.ascontiguousarray(interleaved), format="flt", layout=layout)
        sound.sample_rate, sound.pts = rate, 0
        out.mux(stream.encode(sound))
        out.mux(stream.encode(None))
    return buf.getvalue()


def _soundtrack_codec(data: bytes) -> tuple[str, str]:
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        return stream.codec_context.name, stream.layout.name


@pytest.mark.parametrize(
    ("encoder", "rate", "layout"),
    [("libmp3lame", 44100, "mono"), ("libopus", 48000, "mono"), ("ac3", 48000, "mono"), ("flac", 44100, "mono"),
     ("aac", 48000, "5.1"), ("ac3", 48000, "5.1(side)"), ("aac", 48000, "7.1")],
)
def test_a_soundtrack_in_another_codec_is_marked_in_its_own_codec(encoder: str, rate: int, layout: str) -> None:
    """MP3, Opus, AC-3 and FLAC soundtracks, and 5.1 and 7.1 ones, carry the payload too, re-encoded as they came in."""
    from provguard.mediaio import decode_audio
    from provguard.watermark.audio import detect_audio

    video = _video_with_soundtrack(encoder, rate, layout=layout)
    marked = embed_media(video, MP4, PAYLOAD, KEY)
    assert _soundtrack_codec(marked) == _soundtrack_codec(video)
    sound = decode_audio(marked, MP4)
    assert sound.rate == rate
    assert detect_audio(sound.samples, rate, KEY).carries(PAYLOAD)
    assert not detect_audio(decode_audio(video, MP4).samples, rate, KEY).detected


def _speech_onset(data: bytes) -> float:
    """Seconds from the video's start to the first audible sample of its soundtrack, as a player times it."""
    with av.open(io.BytesIO(data)) as container:
        frames = list(container.decode(container.streams.audio[0]))
    samples = np.concatenate([f.to_ndarray()[0] for f in frames])
    return frames[0].time + int(np.argmax(np.abs(samples) > 0.02)) / frames[0].sample_rate


def _phone_clip(rotation: int = 0, voice_at: int = 0) -> bytes:
    """A 6 s photo pan with 5 s of real speech as its AAC soundtrack, starting voice_at samples (16 kHz) in."""
    import soundfile as sf

    speech = sf.read(SPEECH, dtype="float32")[0][: 5 * 16000]
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        video = out.add_stream("libx264", rate=12)
        video.width, video.height, video.pix_fmt = 640, 448, "yuv420p"
        if rotation:
            video.set_display_rotation(rotation)
        audio = out.add_stream("aac", rate=16000, layout="mono")
        for i, rgb in enumerate(iter_video_frames(_photo_pan(n_frames=72), max_frames=1000)):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = i
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        sound = av.AudioFrame.from_ndarray(speech[None, :], format="fltp", layout="mono")
        sound.sample_rate, sound.pts = 16000, voice_at
        out.mux(audio.encode(sound))
        out.mux(audio.encode(None))
    return buf.getvalue()


def test_a_soundtrack_that_starts_late_stays_in_sync_when_marked() -> None:
    source = _phone_clip(voice_at=8000)  # the voice comes in half a second after the picture
    marked = embed_media(source, MP4, PAYLOAD, KEY)
    assert abs(_speech_onset(marked) - _speech_onset(source)) < 0.002
    assert _speech_onset(source) > 0.5


def test_a_rotated_video_with_a_marked_soundtrack_keeps_its_rotation() -> None:
    """The rotation is written before the re-encoded soundtrack's first packets, which start the file."""
    from provguard.mediaio import decode_audio
    from provguard.watermark.audio import detect_audio

    marked = embed_media(_phone_clip(rotation=-90), MP4, PAYLOAD, KEY)
    assert _first_frame_rotation(marked) == -90
    assert detect_audio(decode_audio(marked, MP4).samples, 16000, KEY).carries(PAYLOAD)
    assert detect_media(marked, MP4, KEY).carries(PAYLOAD)


def test_a_soundtrack_too_short_to_mark_is_copied_as_it_was() -> None:
    from provguard.mediaio import decode_audio

    source = _talking_video(seconds=2.0)
    marked = embed_media(source, MP4, PAYLOAD, KEY)
    assert np.array_equal(decode_audio(marked, MP4).samples, decode_audio(source, MP4).samples)


def test_a_multi_picture_jpeg_is_marked_on_its_primary_picture() -> None:
    """A phone JPEG with a second picture (MPO: gain or depth map) is marked, not refused as an animation."""
    photo = Image.open(REAL_PHOTO).convert("RGB")
    mpo = _saved(photo, "MPO", save_all=True, append_images=[photo.resize((160, 120))])
    marked = embed_media(mpo, JPEG, PAYLOAD, KEY)
    assert detect_media(marked, JPEG, KEY).carries(PAYLOAD)


def test_an_m4a_voice_memo_carries_the_payload_in_aac(helpers) -> None:  # noqa: ANN001
    """M4A (AAC) speech is marked and re-encoded as M4A; the unmarked original does not read as marked."""
    import soundfile as sf

    from provguard.media import M4A

    speech, rate = sf.read(SPEECH, dtype="float32")
    memo = helpers.m4a(speech, rate)
    marked = embed_media(memo, M4A, PAYLOAD, KEY)
    assert sniff(marked) is M4A
    assert detect_media(marked, M4A, KEY).carries(PAYLOAD)
    assert not detect_media(memo, M4A, KEY).detected
