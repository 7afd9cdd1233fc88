"""Decode media to arrays and re-encode it in its own format, within size limits."""

from __future__ import annotations

import io
import re
import struct
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from provguard.errors import CorruptMediaError, MediaTooLargeError, UnsupportedMediaError
from provguard.flacblocks import FlacBlocks, flac_blocks, with_flac_blocks
from provguard.imagemeta import jpeg_metadata, png_metadata, with_jpeg_metadata, with_png_metadata
from provguard.m4ameta import M4aMetadata, m4a_metadata, with_m4a_metadata
from provguard.media import DEFAULT_MAX_PIXELS, FLAC, HEIC, JPEG, M4A, MP3, MP4, OGG, PNG, TIFF, WAV, WEBP, MediaKind, id3_end
from provguard.mpo import ExtraPictures, extra_pictures, with_extra_pictures
from provguard.orientation import from_display, matrix_orientation, to_display
from provguard.wavchunks import WavChunks, wav_chunks, with_wav_chunks

#: Longest audio decoded into memory, in seconds.
DEFAULT_MAX_AUDIO_SECONDS = 3 * 3600
#: Most audio samples (frames x channels) decoded into memory: 3 hours of 48 kHz stereo. A few megabytes of FLAC
#: silence can declare hours of 8-channel 192 kHz audio.
DEFAULT_MAX_AUDIO_SAMPLES = DEFAULT_MAX_AUDIO_SECONDS * 48_000 * 2
#: Most video frames re-encoded when watermarking (about 10 minutes at 30 fps).
DEFAULT_MAX_VIDEO_FRAMES = 18_000
#: Largest video frame decoded (pixels): 8K UHD. A few kilobytes of H.264 can declare far larger all-black frames.
DEFAULT_MAX_VIDEO_PIXELS = 7680 * 4320
#: Most memory (bytes of RGB) that decoded frames held at once may take; fewer frames are kept from larger videos.
DEFAULT_FRAME_BUFFER_BYTES = 1 << 30


@dataclass
class DecodedImage:
    """RGB pixels plus what is needed to re-encode them like the original."""

    pixels: np.ndarray
    kind: MediaKind
    save_args: dict[str, Any] = field(default_factory=dict)
    alpha: np.ndarray | None = None
    frames: int = 1  # animation frames or pages; pixels hold the first
    mode: str = "RGB"  # the file's own pixel mode (Pillow's name: L, RGB, CMYK, I;16, ...)
    bits: int = 8  # bits per channel in the file; pixels hold 8
    orientation: int = 1  # EXIF orientation (1-8): how a viewer turns the stored pixels for display
    metadata: tuple[bytes, ...] = ()  # JPEG segments or PNG chunks the encoder would drop (XMP, IPTC, text, ...)
    extra_pictures: ExtraPictures = field(default_factory=ExtraPictures)  # an MPO's gain or depth map, as stored


@dataclass
class DecodedAudio:
    """Float samples (frames x channels) plus what is needed to re-encode them like the original."""

    samples: np.ndarray
    rate: int
    kind: MediaKind
    subtype: str | None = None
    bit_rate: int | None = None
    tags: dict[str, str] = field(default_factory=dict)  # WAV, FLAC and M4A text tags (title, artist, ...)
    codec: str | None = None  # decoder name of a PyAV-decoded track (aac, alac, mp3float, ...)
    layout: str = ""  # a PyAV-decoded track's channel layout (mono, stereo, 5.1, ...)
    id3: tuple[bytes, bytes] = (b"", b"")  # an MP3's ID3v2 tag and ID3v1 trailer, kept byte for byte
    wav_chunks: WavChunks = field(default_factory=WavChunks)  # a WAV's other chunks (bext, iXML, cue, INFO, ...)
    flac_blocks: FlacBlocks = field(default_factory=FlacBlocks)  # a FLAC's pictures, cue sheet and tags as written
    m4a_metadata: M4aMetadata = field(default_factory=M4aMetadata)  # an M4A's tags and cover art as written


def decode_image(data: bytes, kind: MediaKind, max_pixels: int = DEFAULT_MAX_PIXELS) -> DecodedImage:
    """Decode an image to uint8 RGB, keeping quantisation tables and metadata for re-encoding."""
    from PIL import Image

    if kind is HEIC:
        _open_heif()
    # Pillow's own bomb check, for this call only
    previous_limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, max_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            if img.width * img.height > max_pixels:
                raise MediaTooLargeError(f"image is {img.width}x{img.height}, over the {max_pixels}-pixel limit")
            img.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise MediaTooLargeError(f"image is over the {max_pixels}-pixel limit") from exc
    except MediaTooLargeError:
        raise
    except Image.UnidentifiedImageError as exc:  # its text names the in-memory buffer object: no use to a reader
        raise CorruptMediaError(f"image cannot be decoded: the decoder does not accept this {kind.mime} content") from exc
    except (OSError, SyntaxError, ValueError, RuntimeError) as exc:  # RuntimeError: Pillow's AVIF decoder
        raise CorruptMediaError(f"image cannot be decoded: {decoder_reason(exc)}") from exc
    finally:
        Image.MAX_IMAGE_PIXELS = previous_limit  # a caller's smaller limit must not stay on for the whole process
    args: dict[str, Any] = {}
    for key in ("icc_profile", "exif", "dpi"):
        if img.info.get(key):
            args[key] = img.info[key]
    if kind is JPEG:
        args["qtables"] = getattr(img, "quantization", None) or None
        args["subsampling"] = _jpeg_subsampling(img)
        args = {k: v for k, v in args.items() if v is not None}
        if "qtables" not in args:
            args["quality"] = 95
    elif kind is WEBP:
        if img.info.get("xmp"):
            args["xmp"] = img.info["xmp"]
        args["lossless"] = b"VP8L" in data[12:16]
        args["quality"] = 100 if args["lossless"] else 92
    elif kind is TIFF:
        args["compression"] = img.info.get("compression", "raw")
        args["tiffinfo"] = _tiff_descriptive_tags(img)
    mode, frames = img.mode, int(getattr(img, "n_frames", 1))
    orientation = _orientation(img)
    if mode in ("P", "PA"):  # a palette's transparency lives in img.info: keep it as an alpha channel
        img = img.convert("RGBA" if mode == "PA" or "transparency" in img.info else "RGB")
    alpha = np.asarray(img.getchannel("A")) if "A" in img.getbands() else None
    pixels = np.asarray(img.convert("RGB"))
    metadata = jpeg_metadata(data) if kind is JPEG else png_metadata(data) if kind is PNG else ()
    bits = _bits_per_channel(img, data, kind)
    extras = extra_pictures(data) if kind is JPEG else ExtraPictures()
    return DecodedImage(pixels, kind, args, alpha, frames, mode, bits, orientation, metadata, extras)


@lru_cache(maxsize=1)
def _open_heif() -> None:
    """Teach Pillow HEIC/HEIF, the format phones save photos in (pillow-heif, the `heif` extra).

    pillow-heif decodes the primary picture with its rotation and mirroring applied (and resets the EXIF
    orientation to 1), so the pixels come out as displayed; 10- and 12-bit pictures come out as 8 bits.
    """
    try:
        import pillow_heif
    except ImportError as exc:
        raise UnsupportedMediaError(
            "HEIC/HEIF pictures need pillow-heif to be decoded: pip install 'provguard[heif]'"
        ) from exc
    pillow_heif.register_heif_opener()


#: TIFF tags that describe the picture (caption, names, dates, rights) as text, then XMP and IPTC as bytes.
_TIFF_TEXT_TAGS = (269, 270, 271, 272, 285, 305, 306, 315, 316, 33432)
_TIFF_BYTES_TAGS = (700, 33723)


def _tiff_descriptive_tags(img: Any) -> dict[int, str | bytes]:
    """The descriptive tags of a TIFF, for its re-encode (Pillow writes only the ones it is given)."""
    tags: dict[int, str | bytes] = {}
    for tag in _TIFF_TEXT_TAGS + _TIFF_BYTES_TAGS:
        try:
            value = img.tag_v2.get(tag)
        except (OSError, SyntaxError, ValueError, TypeError, struct.error):  # a damaged entry is left out
            continue
        if isinstance(value, str if tag in _TIFF_TEXT_TAGS else bytes) and value:
            tags[tag] = value
    return tags


def _orientation(img: Any) -> int:
    """The EXIF orientation tag (1-8), 1 when absent or unreadable."""
    try:
        value = img.getexif().get(0x0112, 1)
    except (OSError, SyntaxError, ValueError, TypeError):
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _bits_per_channel(img: Any, data: bytes, kind: MediaKind) -> int:
    """Bits per channel stored in the file (Pillow opens 16-bit RGB PNG and TIFF as 8-bit RGB without a word)."""
    if img.mode in ("I", "F") or img.mode.startswith("I;16"):
        return 16 if img.mode.startswith("I;16") else 32
    if kind is PNG and len(data) > 24:
        return max(8, data[24])  # IHDR bit depth
    if kind is TIFF:
        bits = img.tag_v2.get(258, (8,))
        return max(8, *(bits if isinstance(bits, tuple) else (bits,)))
    return 8


def _jpeg_subsampling(img: Any) -> int | None:
    """Return PIL's subsampling code of a JPEG (0=4:4:4, 1=4:2:2, 2=4:2:0) or None."""
    try:
        from PIL import JpegImagePlugin

        return int(JpegImagePlugin.get_sampling(img))
    except (AttributeError, ValueError, TypeError):
        return None


def encode_image(image: DecodedImage, pixels: np.ndarray) -> bytes:
    """Encode new pixels in the original's format with its quantisation, profile and alpha."""
    from PIL import Image

    out = Image.fromarray(np.ascontiguousarray(pixels, dtype=np.uint8))
    if image.mode in ("L", "LA"):  # greyscale stays greyscale (a mark added to R, G and B alike keeps them equal)
        out = out.convert("L")
    if image.alpha is not None and image.kind in (PNG, WEBP, TIFF):
        out.putalpha(Image.fromarray(image.alpha))
    fmt = {JPEG: "JPEG", PNG: "PNG", WEBP: "WEBP", TIFF: "TIFF"}.get(image.kind)
    if fmt is None:
        raise UnsupportedMediaError(f"cannot re-encode {image.kind.mime} images")
    buf = io.BytesIO()
    args = dict(image.save_args)
    if fmt == "JPEG" and args.get("subsampling") is None:
        args.pop("subsampling", None)
    out.save(buf, format=fmt, **args)
    if image.kind is JPEG:
        return with_extra_pictures(with_jpeg_metadata(buf.getvalue(), image.metadata), image.extra_pictures)
    if image.kind is PNG:
        return with_png_metadata(buf.getvalue(), image.metadata)
    return buf.getvalue()


def _check_samples(frames: int, channels: int, rate: int, max_samples: int = DEFAULT_MAX_AUDIO_SAMPLES) -> None:
    """Refuse audio whose samples (frames x channels) exceed the in-memory limit."""
    if frames * channels > max_samples:
        raise MediaTooLargeError(
            f"audio is {frames * channels} samples ({channels} channels at {rate} Hz), over the {max_samples}-sample limit"
        )


def decode_audio(data: bytes, kind: MediaKind, max_seconds: float = DEFAULT_MAX_AUDIO_SECONDS) -> DecodedAudio:
    """Decode WAV, FLAC, MP3 or an MP4's audio track to float32 frames x channels."""
    if kind in (WAV, FLAC):
        import soundfile as sf

        try:
            with sf.SoundFile(io.BytesIO(data)) as fh:
                if fh.frames > max_seconds * fh.samplerate:
                    raise MediaTooLargeError(f"audio is {fh.frames / fh.samplerate:.0f} s, over the {max_seconds:.0f} s limit")
                _check_samples(fh.frames, fh.channels, fh.samplerate)
                samples = fh.read(dtype="float32", always_2d=True)
                return DecodedAudio(
                    samples, fh.samplerate, kind, subtype=fh.subtype, tags=fh.copy_metadata(),
                    wav_chunks=wav_chunks(data) if kind is WAV else WavChunks(),
                    flac_blocks=flac_blocks(data) if kind is FLAC else FlacBlocks(),
                )
        except (RuntimeError, sf.LibsndfileError) as exc:
            raise CorruptMediaError(f"audio cannot be decoded: {decoder_reason(exc)}") from exc
    if kind in (MP3, MP4, M4A, OGG):  # an MP4's (or an Ogg's) first audio track
        return _decode_with_av(data, kind, max_seconds)
    raise UnsupportedMediaError(f"cannot decode {kind.mime} audio")


def open_for_reading(data: bytes) -> Any:
    """Open media bytes with PyAV; metadata text that is not valid UTF-8 is replaced, not fatal (hostile tags)."""
    import av

    return av.open(io.BytesIO(data), metadata_errors="replace")


_OPENING = re.compile(r"Error opening <[^>]*>: ")
_OBJECT_REPR = re.compile(r" ?<[\w.]+ object at 0x[0-9a-fA-F]+>")


def decoder_reason(exc: Exception) -> str:
    """A decoder's reason in its own words, without the errno, '<none>' name or buffer-object repr its wrapper adds."""
    text = str(getattr(exc, "strerror", None) or exc)
    return _OBJECT_REPR.sub("", _OPENING.sub("", text))


def decode_audio_head(data: bytes, kind: MediaKind, seconds: float) -> DecodedAudio:
    """Decode the first `seconds` of an MP3's or MP4's audio (what detection needs: the mark repeats throughout)."""
    return _decode_with_av(data, kind, seconds, truncate=True)


def _decode_with_av(data: bytes, kind: MediaKind, max_seconds: float, truncate: bool = False) -> DecodedAudio:
    """Decode compressed audio through PyAV to float32 frames x channels (truncate: stop at max_seconds)."""
    import av

    chunks: list[np.ndarray] = []
    try:
        with open_for_reading(data) as container:
            if not container.streams.audio:
                raise CorruptMediaError("file has no audio stream")
            stream = container.streams.audio[0]
            rate = stream.codec_context.sample_rate
            bit_rate = stream.codec_context.bit_rate or None
            codec, layout = stream.codec_context.name, stream.layout.name
            tags = {k: v for k, v in container.metadata.items() if k not in _MUXER_OWN_TAGS} if kind is M4A else {}
            total = 0
            channels = 0
            for frame in container.decode(stream):
                if frame.sample_rate != rate:
                    raise CorruptMediaError(f"audio changes its sample rate mid-stream ({rate} -> {frame.sample_rate} Hz)")
                arr = audio_frame_samples(frame)
                channels = channels or arr.shape[1]
                if arr.shape[1] != channels:  # a stream that changes its layout keeps the first one's channel count
                    arr = np.repeat(arr.mean(axis=1, keepdims=True), channels, axis=1)
                chunks.append(_as_unit_float(arr))
                total += arr.shape[0]
                if total > max_seconds * rate:
                    if truncate:
                        break
                    raise MediaTooLargeError(f"audio is longer than the {max_seconds:.0f} s limit")
                _check_samples(total, channels, rate)
    except av.error.FFmpegError as exc:
        raise CorruptMediaError(f"audio cannot be decoded: {decoder_reason(exc)}") from exc
    if not chunks:
        raise CorruptMediaError("audio holds no decodable frames")
    trailer = data[-128:] if data[-128:-125] == b"TAG" else b""
    return DecodedAudio(np.concatenate(chunks), rate, kind, bit_rate=bit_rate, tags=tags, codec=codec,
                        layout=layout, id3=(data[: id3_end(data)], trailer),
                        m4a_metadata=m4a_metadata(data) if kind is M4A and not truncate else M4aMetadata())


#: numpy dtypes of PyAV's sample formats (planar ones end in "p").
_SAMPLE_DTYPES = {"u8": "u1", "s16": "<i2", "s32": "<i4", "s64": "<i8", "flt": "<f4", "dbl": "<f8"}


def audio_frame_samples(frame: Any) -> np.ndarray:
    """A decoded audio frame's samples as frames x channels, in its own dtype.

    Planar frames are read one channel plane at a time: PyAV lists a ninth plane for eight channels (7.1), and its
    own to_ndarray reads it past the frame's memory.
    """
    channels, name = len(frame.layout.channels), frame.format.name
    if name.removesuffix("p") not in _SAMPLE_DTYPES:
        raise CorruptMediaError(f"audio decodes to an unknown sample format ({name})")
    dtype = np.dtype(_SAMPLE_DTYPES[name.removesuffix("p")])
    if frame.format.is_planar:
        planes = [np.frombuffer(frame.planes[c], dtype, count=frame.samples) for c in range(channels)]
        return np.stack(planes, axis=1)
    return np.frombuffer(frame.planes[0], dtype, count=frame.samples * channels).reshape(-1, channels)


def _as_unit_float(arr: np.ndarray) -> np.ndarray:
    """Decoded samples as float32 in [-1, 1]: integer formats (FLAC, ALAC, PCM tracks decode to them) are scaled."""
    if arr.dtype.kind == "f":
        return arr.astype(np.float32, copy=False)
    if arr.dtype.kind == "u":  # unsigned: silence sits at mid-range
        half = float(1 << (8 * arr.dtype.itemsize - 1))
        return ((arr.astype(np.float64) - half) / half).astype(np.float32)
    return (arr.astype(np.float64) / float(1 << (8 * arr.dtype.itemsize - 1))).astype(np.float32)


def encode_audio(audio: DecodedAudio, samples: np.ndarray) -> bytes:
    """Encode new samples in the original's format (same rate, subtype or bit rate)."""
    samples = np.clip(samples, -1.0, 1.0).astype(np.float32)
    if audio.kind in (WAV, FLAC):
        import soundfile as sf

        buf = io.BytesIO()
        fmt = "WAV" if audio.kind is WAV else "FLAC"
        with sf.SoundFile(buf, "w", audio.rate, samples.shape[1], subtype=audio.subtype, format=fmt) as out:
            if not (audio.wav_chunks or audio.flac_blocks.has_tags):  # else the tags travel byte for byte
                for name, value in audio.tags.items():
                    setattr(out, name, value)
            out.write(samples)
        return with_flac_blocks(with_wav_chunks(buf.getvalue(), audio.wav_chunks), audio.flac_blocks)
    if audio.kind is MP3:
        encoded = _encode_mp3(samples, audio.rate, audio.bit_rate or 192_000)
        head, trailer = audio.id3
        return (head + encoded[id3_end(encoded) :] + trailer) if head or trailer else encoded
    if audio.kind is M4A:
        return _encode_m4a(samples, audio)
    raise UnsupportedMediaError(f"cannot encode {audio.kind.mime} audio")


#: Container tags an MP4 muxer writes itself: not carried over from the source.
_MUXER_OWN_TAGS = ("major_brand", "minor_version", "compatible_brands", "encoder", "creation_time")


def _encode_m4a(samples: np.ndarray, audio: DecodedAudio) -> bytes:
    """Encode float frames x channels as an M4A (or an MP4 of sound alone) like the original: in its own codec (AAC,
    ALAC, FLAC, Opus, MP3, AC-3; AAC for others), channel layout and bit rate.

    The iTunes metadata (every tag, cover art, lyrics) is carried byte for byte, less the source encoder's gapless
    info; an M4A with a second track (a chapter track, another language), unreadable metadata, or a channel layout
    the encoder does not take is refused rather than written without them.
    """
    import av

    meta = audio.m4a_metadata
    if meta.problem:
        raise UnsupportedMediaError(f"M4A metadata is malformed ({meta.problem}): a re-encoded copy would lose it")
    if meta.tracks > 1:
        raise UnsupportedMediaError("M4A with more than one track: a re-encoded copy would drop the others")
    channels = samples.shape[1]
    layout = audio.layout if audio.layout and channels > 2 else ("stereo" if channels == 2 else "mono")
    encoder = SOUNDTRACK_ENCODERS.get(audio.codec or "", "aac")
    if not _encoder_takes(encoder, audio.rate, layout):
        shape = layout if layout.endswith("channels") else f"{layout} ({channels} channels)"
        raise UnsupportedMediaError(f"M4A in {shape} at {audio.rate} Hz: the {encoder} encoder does not take it")
    buf = io.BytesIO()
    with av.open(buf, "w", format="ipod" if encoder in ("aac", "alac") else "mp4") as out:
        for name, value in ({} if meta else audio.tags).items():
            out.metadata[name] = value
        stream = out.add_stream(encoder, rate=audio.rate, layout=layout)
        if encoder not in _LOSSLESS_ENCODERS:
            stream.bit_rate = audio.bit_rate or 128_000
        _mux_audio(out, stream, samples)
    return with_m4a_metadata(buf.getvalue(), meta)


def _encode_mp3(samples: np.ndarray, rate: int, bit_rate: int) -> bytes:
    """Encode float frames x channels as MP3 through PyAV (libmp3lame)."""
    import av

    buf = io.BytesIO()
    channels = samples.shape[1]
    with av.open(buf, "w", format="mp3") as out:
        stream = out.add_stream("libmp3lame", rate=rate, layout="stereo" if channels == 2 else "mono")
        stream.bit_rate = bit_rate
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples.T), format="fltp", layout=stream.layout.name)
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()


def check_video_frame(frame: Any, max_pixels: int = DEFAULT_MAX_VIDEO_PIXELS) -> None:
    """Refuse a decoded video frame over the pixel limit before it is converted to RGB."""
    if frame.width * frame.height > max_pixels:
        raise MediaTooLargeError(f"video frames are {frame.width}x{frame.height}, over the {max_pixels}-pixel limit")


def display_matrix(frame: Any) -> list[int] | None:
    """A decoded video frame's display matrix (9 ints, FFmpeg's layout), or None when the stream has none."""
    try:
        side = frame.side_data.get("DISPLAYMATRIX")
    except (AttributeError, KeyError, TypeError, ValueError):  # a PyAV without frame side data, or an odd entry
        return None
    raw = bytes(side) if side is not None else b""
    return [int(v) for v in np.frombuffer(raw, "<i4")] if len(raw) == 36 else None


def _first_display_matrix(data: bytes) -> list[int] | None:
    """The display matrix of a video's first frame (its stream's rotation), read in a pass of its own."""
    with open_for_reading(data) as probe:
        frame = next(probe.decode(video=0), None)
        return display_matrix(frame) if frame is not None else None


#: Container metadata the MP4 muxer writes itself; everything else (title, comment, creation time, ...) is copied.
_MUXER_METADATA = frozenset({"major_brand", "minor_version", "compatible_brands", "encoder"})


def _copy_metadata(source: Any, target: Any, skip: frozenset[str] = frozenset()) -> None:
    """Copy a container's or stream's text metadata to the output, leaving out what the muxer writes itself."""
    for name, value in dict(source.metadata).items():
        if name not in skip and isinstance(value, str):
            target.metadata[name] = value


def transform_video(
    data: bytes,
    frame_fn: Callable[[np.ndarray, int], np.ndarray],
    max_frames: int = DEFAULT_MAX_VIDEO_FRAMES,
    crf: int = 18,
    max_pixels: int = DEFAULT_MAX_VIDEO_PIXELS,
    on_frame: Callable[[int, int], None] | None = None,
    *,
    upright: bool = False,
    audio_fn: Callable[[np.ndarray, int], np.ndarray | None] | None = None,
) -> bytes:
    """Re-encode an MP4's video as H.264 with each RGB frame passed through frame_fn; audio is copied.

    The display matrix (a phone's rotation) and the container's and streams' text metadata are carried over.
    With upright, frame_fn is given each frame as a player displays it and returns it that way.  With audio_fn, an
    audio track in one of SOUNDTRACK_ENCODERS' codecs is decoded, passed through it (samples x channels, rate) and
    re-encoded in its codec, layout and bit rate; where it returns None the track is copied as it was.
    on_frame(done, total) is called after every frame (total is the container's frame count, 0 when unknown).
    """
    import av

    if not data[4:8] == b"ftyp":
        raise UnsupportedMediaError("video watermarking handles MP4 files")
    out_buf = io.BytesIO()
    try:
        with open_for_reading(data) as src, av.open(out_buf, "w", format="mp4") as dst:
            if not src.streams.video:
                raise CorruptMediaError("MP4 has no video stream")
            vin = src.streams.video[0]
            rate = vin.average_rate or vin.guessed_rate or 25
            _copy_metadata(src, dst, _MUXER_METADATA)
            vout = dst.add_stream("libx264", rate=rate)
            vout.width, vout.height = vin.codec_context.width, vin.codec_context.height
            vout.pix_fmt = "yuv420p"
            vout.options = {"crf": str(crf), "preset": "medium"}
            _copy_metadata(vin, vout)
            matrix = _first_display_matrix(data)  # set before anything is muxed: the header is written then
            if matrix is not None:
                vout.set_display_matrix(matrix)
            orientation = matrix_orientation(matrix) if upright else 1
            ain = src.streams.audio[0] if src.streams.audio else None
            new_audio = _new_audio_track(data, ain, audio_fn)
            if new_audio is not None:
                aout = dst.add_stream(new_audio.codec, rate=new_audio.rate, layout=new_audio.layout)
                if new_audio.bit_rate is not None:
                    aout.bit_rate = new_audio.bit_rate
                _copy_metadata(ain, aout)
                _mux_audio(dst, aout, new_audio.samples, new_audio.start)
                ain = None  # the source's audio packets are not copied
            elif ain is not None:
                aout = dst.add_stream_from_template(ain)
                _copy_metadata(ain, aout)
            streams = [vin] + ([ain] if ain is not None else [])
            count = 0
            for packet in src.demux(*streams):
                if packet.stream is ain:
                    if packet.dts is not None:
                        packet.stream = aout
                        dst.mux(packet)
                    continue
                for frame in packet.decode():
                    count += 1
                    if count > max_frames:
                        raise MediaTooLargeError(f"video has more than {max_frames} frames")
                    check_video_frame(frame, max_pixels)
                    rgb = to_display(frame.to_ndarray(format="rgb24"), orientation)
                    marked = from_display(frame_fn(rgb, count - 1), orientation)
                    new = av.VideoFrame.from_ndarray(marked, format="rgb24")
                    new.pts, new.time_base = frame.pts, frame.time_base
                    dst.mux(vout.encode(new))
                    if on_frame is not None:
                        on_frame(count, vin.frames or 0)
            dst.mux(vout.encode(None))
    except av.error.FFmpegError as exc:
        raise CorruptMediaError(f"video cannot be decoded: {decoder_reason(exc)}") from exc
    return out_buf.getvalue()


#: Soundtrack codecs that transform_video re-encodes in their own codec (decoder name -> encoder name), and the
#: lossless ones among them (no bit rate).  Other tracks are copied as stored.
SOUNDTRACK_ENCODERS = {
    "aac": "aac", "mp3": "libmp3lame", "mp3float": "libmp3lame", "opus": "libopus", "ac3": "ac3", "eac3": "eac3",
    "flac": "flac", "alac": "alac",
}
_LOSSLESS_ENCODERS = ("flac", "alac")
#: Most channels a re-encoded soundtrack may have (7.1); within that, _encoder_takes decides (MP3: stereo at most).
_MAX_SOUNDTRACK_CHANNELS = 8


@dataclass(frozen=True)
class _AudioTrack:
    """Samples (frames x channels, float32) to encode as an MP4's audio track, in the source track's codec."""

    samples: np.ndarray
    rate: int
    bit_rate: int | None  # None for a lossless codec
    codec: str = "aac"  # encoder name
    layout: str = "mono"  # channel layout, as the source track's
    start: int = 0  # where the track starts, in samples (a soundtrack may start after the picture)


def _new_audio_track(
    data: bytes, ain: Any, audio_fn: Callable[[np.ndarray, int], np.ndarray | None] | None
) -> _AudioTrack | None:
    """The audio track transformed by audio_fn, or None where it is copied as it is (no function, a codec outside
    SOUNDTRACK_ENCODERS, more channels than its encoder takes, or None back)."""
    if audio_fn is None or ain is None:
        return None
    encoder = SOUNDTRACK_ENCODERS.get(ain.codec_context.name)
    channels = ain.codec_context.channels
    if encoder is None or not 1 <= channels <= _MAX_SOUNDTRACK_CHANNELS:
        return None
    if not _encoder_takes(encoder, ain.rate, ain.layout.name):
        return None
    try:
        track = _decode_with_av(data, MP4, DEFAULT_MAX_AUDIO_SECONDS)
    except (CorruptMediaError, MediaTooLargeError):  # a track that cannot be read whole is copied, not lost
        return None
    new = audio_fn(track.samples, track.rate)
    if new is None:
        return None
    start = max(0, round(float(ain.start_time * ain.time_base) * track.rate)) if ain.start_time else 0
    bit_rate = None if encoder in _LOSSLESS_ENCODERS else track.bit_rate or 128_000
    return _AudioTrack(np.asarray(new, np.float32), track.rate, bit_rate, encoder, ain.layout.name, start)


def _encoder_takes(encoder: str, rate: int, layout: str) -> bool:
    """Whether the encoder takes this rate and channel layout: one second of silence is encoded to find out."""
    import av

    try:
        with av.open(io.BytesIO(), "w", format="mp4") as scratch:
            stream = scratch.add_stream(encoder, rate=rate, layout=layout)
            _mux_audio(scratch, stream, np.zeros((rate, len(stream.layout.channels)), np.float32))
    except (av.error.FFmpegError, ValueError, IndexError):  # PyAV reports a refused layout in these three ways
        return False
    return True


def _mux_audio(dst: Any, stream: Any, samples: np.ndarray, first: int = 0) -> None:
    """Encode float samples (frames x channels) into an audio stream of an open output, in 1 s frames from `first`."""
    import av

    step = int(stream.rate)
    clipped = np.clip(samples, -1.0, 1.0)
    for start in range(0, clipped.shape[0], step):
        # packed (interleaved) float: PyAV gives a planar frame of 8 channels a ninth plane and cannot fill it
        piece = np.ascontiguousarray(clipped[start : start + step], np.float32).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(piece, format="flt", layout=stream.layout.name)
        frame.sample_rate, frame.pts = stream.rate, first + start
        dst.mux(stream.encode(frame))
    dst.mux(stream.encode(None))


def video_keyframes(data: bytes, max_frames: int = 8, *, upright: bool = False) -> list[np.ndarray]:
    """Decode up to max_frames intra-coded (key) RGB frames of a video, skipping the frames between them."""
    return iter_video_frames(data, max_frames=max_frames, keyframes_only=True, upright=upright)


def iter_video_frames(
    data: bytes,
    every: int = 1,
    max_frames: int = 300,
    *,
    keyframes_only: bool = False,
    max_pixels: int = DEFAULT_MAX_VIDEO_PIXELS,
    max_bytes: int = DEFAULT_FRAME_BUFFER_BYTES,
    upright: bool = False,
) -> list[np.ndarray]:
    """Decode up to max_frames RGB frames of a video, keeping every `every`-th (of the key frames alone if asked).

    Frames over max_pixels are refused; no more frames are kept than fit in max_bytes (at least one).  With upright,
    frames are turned as a player displays them (the stream's display matrix).
    """
    import av

    frames: list[np.ndarray] = []
    try:
        with open_for_reading(data) as src:
            if not src.streams.video:
                raise CorruptMediaError("file has no video stream")
            stream = src.streams.video[0]
            orientation: int | None = None
            if keyframes_only:  # the decoder skips the frames between key frames: cheap on long videos
                stream.codec_context.skip_frame = "NONKEY"
            for index, frame in enumerate(src.decode(stream)):
                if index % every == 0:
                    check_video_frame(frame, max_pixels)
                    if frames and (len(frames) + 1) * frame.width * frame.height * 3 > max_bytes:
                        break
                    if orientation is None:  # the stream's rotation, as its first frame carries it
                        orientation = matrix_orientation(display_matrix(frame)) if upright else 1
                    frames.append(to_display(frame.to_ndarray(format="rgb24"), orientation))
                    if len(frames) >= max_frames:
                        break
    except av.error.FFmpegError as exc:
        raise CorruptMediaError(f"video cannot be decoded: {decoder_reason(exc)}") from exc
    return frames
