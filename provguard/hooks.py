"""Signing at generation time: wrap a generate function or a diffusers pipeline so every output is signed."""

from __future__ import annotations

import functools
import io
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from provguard.errors import InputError
from provguard.keys import Signer
from provguard.sign import SignedAsset, sign
from provguard.store import ManifestStore

F = TypeVar("F", bound=Callable[..., Any])

_IMAGE_FORMATS = {"png": "PNG", "jpeg": "JPEG", "jpg": "JPEG", "webp": "WEBP"}


@dataclass(frozen=True)
class SigningPolicy:
    """How generated outputs are signed: model identity, encoding and credentials."""

    generator: str
    image_format: str = "png"
    quality: int = 95
    digital_source_type: str = "trainedAlgorithmicMedia"
    watermark: bool = True
    signer: Signer | None = None
    watermark_key: bytes | None = None
    store: ManifestStore | None = None
    require_watermark: bool = False  # raise WeakWatermarkError for an output whose fresh mark does not read back
    video_fps: int = 24  # frame rate of a video output given as a bare (frames, H, W, 3) array


#: Slack allowed outside the nominal range of float images ([0, 1]) and audio ([-1, 1]) before it is an error.
_FLOAT_SLACK = 1e-3


def _as_uint8(arr: np.ndarray) -> np.ndarray:
    """An image array as uint8: uint8 as is, floats in [0, 1] scaled; anything else is refused, not guessed at."""
    if arr.dtype == np.uint8:
        return arr
    if not np.issubdtype(arr.dtype, np.floating):
        raise InputError(f"image arrays must be uint8, or float in [0, 1]; got {arr.dtype}")
    if arr.size and not np.all(np.isfinite(arr)):
        raise InputError("the image array holds NaN or infinity")
    low, high = (float(arr.min()), float(arr.max())) if arr.size else (0.0, 0.0)
    if low < -_FLOAT_SLACK or high > 1.0 + _FLOAT_SLACK:
        raise InputError(f"float image values must lie in [0, 1]; these span [{low:.3g}, {high:.3g}] "
                         "(rescale a [-1, 1] or 0-255 output first)")
    return (np.clip(arr.astype(np.float64), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def _image_bytes(image: Any, policy: SigningPolicy) -> bytes:
    """Encode a PIL image or an HxW(x3/4) array (uint8, or float in [0, 1]) in the policy's format."""
    from PIL import Image

    if isinstance(image, np.ndarray):
        image = Image.fromarray(_as_uint8(image))
    fmt = _IMAGE_FORMATS.get(policy.image_format.lower())
    if fmt is None:
        raise InputError(f"image_format must be one of {sorted(_IMAGE_FORMATS)}, got {policy.image_format!r}")
    if fmt == "JPEG" and image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    buf = io.BytesIO()
    image.save(buf, format=fmt, **({"quality": policy.quality} if fmt != "PNG" else {}))
    return buf.getvalue()


def _audio_bytes(samples: np.ndarray, rate: int) -> bytes:
    """Encode samples (float in [-1, 1], or int16 PCM), shaped (n,) or (n, channels), as 16-bit PCM WAV."""
    import soundfile as sf

    arr = np.asarray(samples)
    if arr.dtype == np.int16:
        arr = arr.astype(np.float32) / 32768.0
    elif not np.issubdtype(arr.dtype, np.floating):
        raise InputError(f"audio samples must be float in [-1, 1] or int16; got {arr.dtype}")
    if arr.ndim not in (1, 2) or arr.size == 0:
        raise InputError(f"audio samples must be a non-empty (n,) or (n, channels) array; got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise InputError("the audio samples hold NaN or infinity")
    peak = float(np.max(np.abs(arr)))
    if peak > 1.0 + _FLOAT_SLACK:
        raise InputError(f"float audio samples must lie in [-1, 1]; their peak is {peak:.3g} (normalise first)")
    if isinstance(rate, bool) or not isinstance(rate, (int, np.integer)) or not 1000 <= int(rate) <= 384_000:
        raise InputError(f"the sample rate must be a whole number of Hz from 1000 to 384000; got {rate!r}")
    buf = io.BytesIO()
    sf.write(buf, np.clip(arr, -1.0, 1.0).astype(np.float32), int(rate), format="WAV", subtype="PCM_16")
    return buf.getvalue()


#: Frame rates (frames per second) a video output may have.
_VIDEO_FPS = (1, 120)


def _is_frames(value: Any) -> bool:
    """Whether a value holds video frames: a (frames, H, W, C) array, or a list or tuple of images."""
    if isinstance(value, np.ndarray):
        return value.ndim == 4
    return isinstance(value, (list, tuple)) and bool(value) and all(
        isinstance(f, np.ndarray) or hasattr(f, "save") for f in value
    )


def _video_bytes(frames: Any, fps: Any) -> bytes:
    """Encode frames (uint8, or float in [0, 1], or PIL images) as an H.264 MP4 at fps."""
    from provguard.generate.video import encode_mp4
    from provguard.mediaio import DEFAULT_MAX_VIDEO_FRAMES, DEFAULT_MAX_VIDEO_PIXELS

    if isinstance(fps, bool) or not isinstance(fps, (int, np.integer)) or not _VIDEO_FPS[0] <= fps <= _VIDEO_FPS[1]:
        raise InputError(f"the frame rate must be a whole number from {_VIDEO_FPS[0]} to {_VIDEO_FPS[1]}; got {fps!r}")
    if len(frames) > DEFAULT_MAX_VIDEO_FRAMES:
        raise InputError(f"a video output may have at most {DEFAULT_MAX_VIDEO_FRAMES} frames; got {len(frames)}")
    pixels = [np.asarray(f.convert("RGB")) if hasattr(f, "save") else _as_uint8(np.asarray(f)) for f in frames]
    shape = pixels[0].shape
    if len(shape) != 3 or shape[2] != 3:
        raise InputError(f"video frames must be RGB, shaped (H, W, 3); got {shape}")
    if any(p.shape != shape for p in pixels):
        raise InputError("every video frame must have the same size")
    if shape[0] * shape[1] > DEFAULT_MAX_VIDEO_PIXELS:
        raise InputError(f"video frames are {shape[1]}x{shape[0]}, over the {DEFAULT_MAX_VIDEO_PIXELS}-pixel limit")
    if shape[0] % 2 or shape[1] % 2:
        raise InputError(f"H.264 needs an even width and height; the frames are {shape[1]}x{shape[0]}")
    return encode_mp4(pixels, int(fps))


def to_media_bytes(output: Any, policy: SigningPolicy) -> bytes:
    """Turn a generator's output into file bytes.

    Accepted: a PIL image or an HxW(xC) array; a video as (frames, fps) or a bare (frames, H, W, 3) array (at the
    policy's video_fps); audio as (samples, rate); bytes; or a file path.
    """
    if isinstance(output, (bytes, bytearray)):
        return bytes(output)
    if isinstance(output, (str, os.PathLike)):
        return Path(output).read_bytes()
    if isinstance(output, tuple) and len(output) == 2 and np.isscalar(output[1]):
        if _is_frames(output[0]):
            return _video_bytes(output[0], output[1])
        return _audio_bytes(output[0], output[1])
    if isinstance(output, np.ndarray) and output.ndim == 4:
        return _video_bytes(output, policy.video_fps)
    if isinstance(output, np.ndarray) or hasattr(output, "save"):
        return _image_bytes(output, policy)
    raise InputError(f"cannot sign a generator output of type {type(output).__name__}")


def sign_output(output: Any, policy: SigningPolicy, title: str = "generated") -> SignedAsset:
    """Sign one generated output in memory (watermark, then C2PA) and return the signed asset."""
    return sign(
        to_media_bytes(output, policy),
        signer=policy.signer,
        digital_source_type=policy.digital_source_type,
        generator=policy.generator,
        title=title,
        watermark=policy.watermark,
        watermark_key=policy.watermark_key,
        store=policy.store,
        require_watermark=policy.require_watermark,
    )


def signs_outputs(policy: SigningPolicy) -> Callable[[F], F]:
    """Decorate a generate function so it returns SignedAsset(s) instead of raw outputs (lists stay lists)."""

    def wrap(fn: F) -> F:
        @functools.wraps(fn)
        def inner(*args: Any, **kwargs: Any) -> Any:
            result = fn(*args, **kwargs)
            if isinstance(result, list):
                return [sign_output(item, policy, f"{fn.__name__}-{i}") for i, item in enumerate(result)]
            return sign_output(result, policy, fn.__name__)

        return inner  # type: ignore[return-value]

    return wrap


class SignedPipeline:
    """Wrap a Hugging Face diffusers pipeline: every image or video it returns is watermarked and signed.

    The result keeps the pipeline's own output object; its `.images` (or a video pipeline's `.frames`, encoded as
    MP4 at the policy's video_fps) become the watermarked pixels (decoded from the signed files) and `.signed` holds
    the signed file bytes, so saving either keeps the evidence.  diffusers itself is never imported: any callable
    returning an object with `.images` or `.frames` works.
    """

    def __init__(self, pipeline: Any, policy: SigningPolicy, save_dir: str | os.PathLike[str] | None = None) -> None:
        if not callable(pipeline):
            raise InputError("SignedPipeline needs a callable pipeline")
        self.pipeline, self.policy = pipeline, policy
        self.save_dir = Path(save_dir) if save_dir is not None else None
        self._count = 0

    def __getattr__(self, name: str) -> Any:
        """Delegate everything else (scheduler, to(), components) to the wrapped pipeline."""
        return getattr(self.pipeline, name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run the pipeline and sign every image or video it returns."""
        from PIL import Image

        result = self.pipeline(*args, **kwargs)
        images = getattr(result, "images", None)
        videos = getattr(result, "frames", None) if images is None else None
        if images is None and videos is None:
            raise InputError("the pipeline's output has no .images or .frames to sign")
        if images is not None:
            result.signed = [self._sign(image, "image") for image in images]
            result.images = [Image.open(io.BytesIO(a.data or b"")).convert("RGB") for a in result.signed]
        else:
            from provguard.mediaio import iter_video_frames

            result.signed = [self._sign((video, self.policy.video_fps), "video") for video in videos]
            result.frames = [[Image.fromarray(f) for f in iter_video_frames(a.data or b"", max_frames=len(v))]
                             for a, v in zip(result.signed, videos, strict=True)]
        return result

    def _sign(self, output: Any, kind: str) -> SignedAsset:
        """Sign one output, named by kind and a running count, and save it when a directory was given."""
        asset = sign_output(output, self.policy, f"{kind}-{self._count}")
        if self.save_dir is not None:
            from provguard.fileio import atomic_write

            fmt = self.policy.image_format.lower()
            ext = ".mp4" if kind == "video" else ".jpg" if fmt in ("jpg", "jpeg") else f".{fmt}"
            atomic_write(self.save_dir / f"{kind}-{self._count:05d}{ext}", asset.data or b"")
        self._count += 1
        return asset


def from_diffusers(
    pipeline: Any,
    generator: str | None = None,
    save_dir: str | os.PathLike[str] | None = None,
    **policy: Any,
) -> SignedPipeline:
    """Adapt a diffusers pipeline; the model name defaults to its config's _name_or_path."""
    name = generator or getattr(getattr(pipeline, "config", None), "_name_or_path", None) or type(pipeline).__name__
    return SignedPipeline(pipeline, SigningPolicy(generator=str(name), **policy), save_dir=save_dir)
