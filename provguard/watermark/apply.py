"""Watermark whole media files: decode, mark or detect per family, re-encode in the same format."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from provguard.errors import (
    AudioTooShortError,
    CorruptMediaError,
    MediaTooLargeError,
    UnsupportedMediaError,
    WatermarkError,
)
from provguard.media import JPEG, MKV, MOV, MP4, WEBM, MediaKind
from provguard.mediaio import (
    DecodedImage,
    decode_audio,
    decode_audio_head,
    decode_image,
    encode_audio,
    encode_image,
    iter_video_frames,
    transform_video,
    video_keyframes,
)
from provguard.orientation import from_display, to_display
from provguard.watermark.payload import DEFAULT_FPR, PayloadDecision

#: Soft-binding algorithm names written into manifests, per media family.
ALGORITHMS = {
    "image": "io.provguard.watermark.image.1",
    "audio": "io.provguard.watermark.audio.1",
    "video": "io.provguard.watermark.video.1",
}
#: Frames sampled from a video for detection.
VIDEO_DETECT_FRAMES = 48
#: Key (intra-coded) frames examined one by one: a re-encode keeps the mark best there when the content moves.
VIDEO_DETECT_KEYFRAMES = 4
#: Seconds of an MP4's soundtrack decoded to look for the audio mark when the frames do not show the image mark.
SOUNDTRACK_DETECT_SECONDS = 60.0


def algorithm_for(kind: MediaKind) -> str:
    """Return the soft-binding algorithm name for a media kind."""
    try:
        return ALGORITHMS[kind.family]
    except KeyError:
        raise UnsupportedMediaError(f"{kind.mime} cannot carry a provguard watermark") from None


def embed_media(
    data: bytes, kind: MediaKind, payload: int, key: bytes, on_frame: Callable[[int, int], None] | None = None
) -> bytes:
    """Return the media re-encoded in its own format with the payload watermarked in (on_frame: video progress)."""
    if kind.family == "image":
        from provguard.watermark.image import embed_image

        return _mark_image(data, kind, lambda upright: (embed_image(upright, payload, key), payload))[0]
    if kind.family == "audio":
        from provguard.watermark.audio import embed_audio

        audio = decode_audio(data, kind)
        return encode_audio(audio, embed_audio(audio.samples, audio.rate, payload, key))
    if kind is MP4:
        from provguard.watermark.audio import MIN_SECONDS, embed_audio
        from provguard.watermark.image import embed_image

        def mark_audio(samples: np.ndarray, rate: int) -> np.ndarray | None:
            """The soundtrack carries the payload too, so audio ripped from the video still points to its manifest."""
            return embed_audio(samples, rate, payload, key) if samples.shape[0] >= MIN_SECONDS * rate else None

        # as for images, the mark goes on the picture as displayed (a phone video's rotation)
        return transform_video(
            data, lambda frame, _index: embed_image(frame, payload, key), on_frame=on_frame, upright=True,
            audio_fn=mark_audio,
        )
    raise UnsupportedMediaError(f"{kind.mime} cannot carry a provguard watermark")


def embed_media_choosing(
    data: bytes, kind: MediaKind, new_payload: Callable[[], int], key: bytes,
    on_frame: Callable[[int, int], None] | None = None,
) -> tuple[bytes, int]:
    """embed_media with a fresh payload from new_payload: for a still image or a short clip, the one it carries best.

    See embed_image_best and embed_audio_best. A video takes the first payload drawn: a retry would re-encode every
    frame, and its frames already pool their evidence.
    """
    if kind.family == "image":
        from provguard.watermark.image import embed_image_best

        return _mark_image(data, kind, lambda upright: embed_image_best(upright, key, new_payload))
    if kind.family == "audio":
        from provguard.watermark.audio import embed_audio_best

        audio = decode_audio(data, kind)
        marked, payload = embed_audio_best(audio.samples, audio.rate, key, new_payload)
        return encode_audio(audio, marked), payload
    payload = new_payload()
    return embed_media(data, kind, payload, key, on_frame), payload


def _mark_image(
    data: bytes, kind: MediaKind, mark: Callable[[np.ndarray], tuple[np.ndarray, int]]
) -> tuple[bytes, int]:
    """Decode a still image, mark the picture as displayed, and re-encode it in its own format: (bytes, payload)."""
    image = decode_image(data, kind)
    _check_markable(image)
    # the mark goes on the picture as displayed, so it survives a platform that bakes the orientation in
    upright, payload = mark(to_display(image.pixels, image.orientation))
    return encode_image(image, from_display(upright, image.orientation)), payload


def _check_markable(image: DecodedImage) -> None:
    """Refuse an image that the marked re-encode could not give back whole (frames, bit depth or colour model)."""
    kind = image.kind.mime
    # re-encoding would keep the first frame alone; a JPEG's extra pictures (MPO: a phone's gain map or depth map)
    # are not what is shown: the primary picture is marked and they are carried as stored (provguard.mpo)
    if image.frames > 1 and image.kind is not JPEG:
        raise WatermarkError(f"{kind} with {image.frames} frames (an animation or pages): the image watermark marks "
                             "still images only")
    if image.bits > 8:
        raise WatermarkError(f"{kind} with {image.bits} bits per channel: the marked copy would have 8")
    if image.mode not in ("RGB", "RGBA", "L", "LA", "P", "PA"):
        raise WatermarkError(f"{kind} in {image.mode} mode: the image watermark marks RGB and greyscale images only; "
                             "convert it to RGB first")


def detect_media(data: bytes, kind: MediaKind, key: bytes, fpr: float = DEFAULT_FPR) -> PayloadDecision:
    """Detect the watermark of any supported media file; the p-value covers every hypothesis tried."""
    if kind.family == "image":
        from provguard.watermark.image import detect_image

        image = decode_image(data, kind)
        return detect_image(to_display(image.pixels, image.orientation), key, fpr)
    if kind.family == "audio":
        from provguard.watermark.audio import detect_audio

        audio = decode_audio(data, kind)
        return detect_audio(audio.samples, audio.rate, key, fpr)
    if kind in (MP4, MOV, WEBM, MKV):  # a signed MP4 may come back from an editor, a phone or a video site as these
        return _detect_mp4(data, key, fpr)
    raise UnsupportedMediaError(f"{kind.mime} cannot carry a provguard watermark")


def _detect_mp4(data: bytes, key: bytes, fpr: float) -> PayloadDecision:
    """Read the frames, then the soundtrack where the frames say nothing; the p-value counts both readings."""
    frames = iter_video_frames(data, every=1, max_frames=VIDEO_DETECT_FRAMES, upright=True)
    best = detect_video_frames(frames, key, fpr / 2, video_keyframes(data, VIDEO_DETECT_KEYFRAMES, upright=True))
    if not best.detected:
        sound = _soundtrack_decision(data, key, fpr / 2)
        if sound is not None and sound.p_value < best.p_value:
            best = sound
    p_value = min(1.0, best.p_value * 2)
    return PayloadDecision(best.detected, best.payload, best.bit_errors, best.n_bits, p_value)


def _soundtrack_decision(data: bytes, key: bytes, fpr: float) -> PayloadDecision | None:
    """The audio watermark read from an MP4's audio track; None without a readable track of at least MIN_SECONDS."""
    from provguard.watermark.audio import detect_audio

    try:
        audio = decode_audio_head(data, MP4, SOUNDTRACK_DETECT_SECONDS)
        return detect_audio(audio.samples, audio.rate, key, fpr)
    except (AudioTooShortError, CorruptMediaError, MediaTooLargeError):  # none, too short, unreadable or too long
        return None


def _frame_mean(frames: list[np.ndarray]) -> np.ndarray:
    """Pixel-wise mean of equally sized RGB frames, as uint8 (summed in place: no stacked copy of them all)."""
    total = np.zeros(frames[0].shape, np.float32)
    for frame in frames:
        total += frame
    return (total / len(frames)).round().astype(np.uint8)


def detect_video_frames(
    frames: list[np.ndarray], key: bytes, fpr: float = DEFAULT_FPR, keyframes: list[np.ndarray] | None = None
) -> PayloadDecision:
    """Pool frames and try key frames; the p-value is Bonferroni over every image tried.

    The mean of the frames adds up the mark (every frame carries the same pattern) while moving content averages
    out; the middle frame is a fallback.  When the content moves, a re-encoder's inter frames follow the content
    and drop the static mark, but its key frames are coded whole and keep it, so each key frame is tried too, and
    their mean when there are several.
    """
    from provguard.watermark.image import detect_image

    if not frames:
        raise UnsupportedMediaError("video has no frames to examine")
    frames = [f for f in frames if f.shape == frames[0].shape]  # a stream may change its frame size midway
    tries = [_frame_mean(frames), frames[len(frames) // 2]]
    keys = [k for k in (keyframes or []) if k.shape == frames[0].shape]
    tries += keys
    if len(keys) > 1:
        tries.append(_frame_mean(keys))
    stop_at = fpr / len(tries)
    best: PayloadDecision | None = None
    for image in tries:
        d = detect_image(image, key, stop_at)
        if best is None or d.p_value < best.p_value:
            best = d
        if best.detected:  # already significant after the correction for every try: the rest cannot change that
            break
    assert best is not None
    p_value = min(1.0, best.p_value * len(tries))
    return PayloadDecision(best.detected, best.payload, best.bit_errors, best.n_bits, p_value)
