"""Image-to-video: move a camera over a still's latent, refine each frame with the DiT, decode, write H.264 MP4."""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

import numpy as np

from provguard.errors import InputError

#: softwareAgent name and version written into manifests.
VIDEO_MODEL_NAME = "provguard-latent-video"
MODEL_VERSION = "1.0"
MOTIONS = ("pan", "zoom")
#: Frame-count, frame-rate and short-side limits.
MIN_FRAMES, MAX_FRAMES = 2, 600
MIN_FPS, MAX_FPS = 1, 60
MIN_VIDEO_SIZE, MAX_VIDEO_SIZE = 256, 720
#: The latent canvas is this much larger than a frame, so a pan never runs out of content.
CANVAS_MARGIN = 1.25
#: Widest aspect ratio kept from a source still (long side / short side).
MAX_ASPECT = 16 / 9
#: Diffusion time the camera-moved latent is noised to, and DDIM steps back to clean, per frame.
DEFAULT_STRENGTH = 0.25
DEFAULT_REFINE_STEPS = 4
#: Share of each frame's noise that is fresh (the rest is a noise field that moves with the content).
FRESH_NOISE = 0.3
#: DDIM steps for the still sampled when no source is given.
DEFAULT_STEPS = 30
#: x264 quality for the written file.
CRF = 18


def frame_shape(size: int, aspect: float) -> tuple[int, int]:
    """Frame (height, width): short side `size`, aspect clamped to MAX_ASPECT, multiples of 16."""
    aspect = min(max(aspect, 1 / MAX_ASPECT), MAX_ASPECT)
    if aspect >= 1:
        return size, round(size * aspect / 16) * 16
    return round(size / aspect / 16) * 16, size


def _canvas_grid(frame_hw: tuple[int, int]) -> tuple[int, int]:
    """Latent canvas grid (even sizes) for a frame of (height, width) pixels."""
    return tuple(2 * math.ceil(d * CANVAS_MARGIN / 16) for d in frame_hw)  # type: ignore[return-value]


def _canvas_from_source(pixels: np.ndarray, size: int) -> tuple[Any, tuple[int, int]]:
    """Cover-resize and centre-crop the still to the canvas, encode it; return the scaled latent and frame shape."""
    from PIL import Image

    from provguard.generate.autoencoder import encode_image
    from provguard.generate.image import _autoencoder

    h, w = pixels.shape[:2]
    frame = frame_shape(size, w / h)
    gh, gw = _canvas_grid(frame)
    ch, cw = gh * 8, gw * 8
    scale = max(ch / h, cw / w)
    rh, rw = max(ch, round(h * scale)), max(cw, round(w * scale))
    img = Image.fromarray(pixels).resize((rw, rh), Image.Resampling.LANCZOS)
    y, x = (rh - ch) // 2, (rw - cw) // 2
    arr = np.asarray(img)[y : y + ch, x : x + cw]
    return encode_image(_autoencoder(), arr), frame


def camera_theta(motion: str, u: float, frame_hw: tuple[int, int], canvas_hw: tuple[int, int]) -> Any:
    """Affine map (2x3, normalised coords) from frame to canvas at progress u in [0, 1]."""
    import torch

    fh, fw = frame_hw[0] / canvas_hw[0], frame_hw[1] / canvas_hw[1]
    if motion == "pan":
        s = 1.0
        cx = 0.9 * (1 - fw) * (2 * u - 1)
        cy = 0.5 * (1 - fh) * math.sin(math.pi * u)
    else:
        s = 1.0 - 0.3 * u
        cx, cy = 0.0, 0.0
    return torch.tensor([[[fw * s, 0.0, cx], [0.0, fh * s, cy]]], dtype=torch.float32)


def render_frames(canvas: Any, frame_hw: tuple[int, int], *, frames: int, motion: str, seed: int,
                  strength: float = DEFAULT_STRENGTH, refine_steps: int = DEFAULT_REFINE_STEPS) -> list[np.ndarray]:
    """Camera-move the canvas latent, noise to `strength`, DDIM back with the DiT, decode each frame to uint8 RGB."""
    import torch
    from torch.nn import functional as F

    from provguard.generate.autoencoder import decode_latent, to_pixels
    from provguard.generate.dit import add_noise, ddim_sample
    from provguard.generate.image import _autoencoder, _dit

    gen = torch.Generator().manual_seed(seed)
    lat_hw = (frame_hw[0] // 8, frame_hw[1] // 8)
    canvas_hw = (canvas.shape[-2] * 8, canvas.shape[-1] * 8)
    anchored = torch.randn(canvas.shape, generator=gen)
    out = []
    for k in range(frames):
        u = k / (frames - 1)
        grid = F.affine_grid(camera_theta(motion, u, frame_hw, canvas_hw), [1, canvas.shape[1], *lat_hw], align_corners=False)
        z = F.grid_sample(canvas, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
        moving_noise = F.grid_sample(anchored, grid, mode="nearest", padding_mode="reflection", align_corners=False)
        fresh = torch.randn(z.shape, generator=gen)
        noise = math.sqrt(1 - FRESH_NOISE**2) * moving_noise + FRESH_NOISE * fresh
        if strength > 0 and refine_steps > 0:
            z = ddim_sample(_dit(), add_noise(z, strength, noise), steps=refine_steps, t_start=strength)
        out.append(to_pixels(decode_latent(_autoencoder(), z)))
    return out


def encode_mp4(frames: list[np.ndarray], fps: int, audio: tuple[np.ndarray, int] | None = None) -> bytes:
    """Write RGB frames as H.264 (yuv420p) MP4 at fps, with an optional AAC track trimmed to the video's length."""
    import av

    h, w = frames[0].shape[:2]
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        vs.options = {"crf": str(CRF), "preset": "medium", "threads": "1"}
        astream = None
        samples = None
        if audio is not None:
            samples, rate = _check_audio(audio)
            samples = samples[: round(len(frames) / fps * rate)]
            astream = out.add_stream("aac", rate=rate, layout="stereo" if samples.shape[1] == 2 else "mono")
            astream.bit_rate = 128_000
        for index, pixels in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format="rgb24")
            frame.pts = index
            out.mux(vs.encode(frame))
        out.mux(vs.encode(None))
        if astream is not None and samples is not None and len(samples):
            aframe = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples.T), format="fltp", layout=astream.layout.name)
            aframe.sample_rate = astream.rate
            aframe.pts = 0
            out.mux(astream.encode(aframe))
            out.mux(astream.encode(None))
    return buf.getvalue()


def _check_audio(audio: tuple[np.ndarray, int]) -> tuple[np.ndarray, int]:
    """Validate (samples, rate): 1-D or frames x 1|2 channels, float in [-1, 1] or int16; return float32 2-D."""
    try:
        samples, rate = audio
    except (TypeError, ValueError):
        raise InputError("audio must be a (samples, sample_rate) pair") from None
    arr = np.asarray(samples)
    if arr.dtype == np.int16:
        arr = arr.astype(np.float32) / 32768.0
    arr = arr.astype(np.float32)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[1] not in (1, 2) or not np.isfinite(arr).all():
        raise InputError("audio must be finite samples shaped (n,) or (n, 1|2)")
    if int(rate) not in (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000):
        raise InputError(f"audio sample rate {rate} is not one AAC supports")
    return np.clip(arr, -1.0, 1.0), int(rate)


def _check_args(frames: int, fps: int, motion: str, size: int, strength: float, refine_steps: int) -> None:
    """Refuse out-of-range options."""
    if not MIN_FRAMES <= frames <= MAX_FRAMES:
        raise InputError(f"frames must be in [{MIN_FRAMES}, {MAX_FRAMES}], got {frames}")
    if not MIN_FPS <= fps <= MAX_FPS:
        raise InputError(f"fps must be in [{MIN_FPS}, {MAX_FPS}], got {fps}")
    if motion not in MOTIONS:
        raise InputError(f"motion must be one of {', '.join(MOTIONS)}, got {motion!r}")
    if size % 16 or not MIN_VIDEO_SIZE <= size <= MAX_VIDEO_SIZE:
        raise InputError(f"size must be a multiple of 16 in [{MIN_VIDEO_SIZE}, {MAX_VIDEO_SIZE}], got {size}")
    if not 0.0 <= strength <= 0.9 or not 0 <= refine_steps <= 50:
        raise InputError("strength must be in [0, 0.9] and refine steps in [0, 50]")


def make_video_frames(*, source: Path | None = None, frames: int = 24, motion: str = "pan", size: int = 256, seed: int = 0,
                      strength: float = DEFAULT_STRENGTH, refine_steps: int = DEFAULT_REFINE_STEPS,
                      sample_steps: int = DEFAULT_STEPS) -> list[np.ndarray]:
    """The frames generate_video would write (uint8 RGB), without encoding."""
    from provguard.generate.image import decode_source, sample_latents, sub_seed

    _check_args(frames, 12, motion, size, strength, refine_steps)
    if source is not None:
        canvas, frame = _canvas_from_source(decode_source(Path(source)), size)
    else:
        frame = (size, size)
        canvas = sample_latents(_canvas_grid(frame), seed=sub_seed(seed, 0), steps=sample_steps)
    return render_frames(canvas, frame, frames=frames, motion=motion, seed=sub_seed(seed, 1),
                         strength=strength, refine_steps=refine_steps)


def generate_video(output: Path, *, source: Path | None = None, frames: int = 24, fps: int = 12, motion: str = "pan",
                   size: int = 256, seed: int = 0, strength: float = DEFAULT_STRENGTH,
                   refine_steps: int = DEFAULT_REFINE_STEPS, sample_steps: int = DEFAULT_STEPS,
                   audio: tuple[np.ndarray, int] | None = None, no_sign: bool = False, force: bool = False) -> Path:
    """Make an MP4 from a still (or a fresh DiT sample) by latent camera motion + DiT refinement; signed unless no_sign."""
    from provguard.fileio import check_output_path
    from provguard.generate.image import write_output

    _check_args(frames, fps, motion, size, strength, refine_steps)
    if audio is not None:
        _check_audio(audio)
    output = Path(output)
    check_output_path(output, force, (Path(source),) if source is not None else ())
    pixels = make_video_frames(source=source, frames=frames, motion=motion, size=size, seed=seed,
                               strength=strength, refine_steps=refine_steps, sample_steps=sample_steps)
    data = encode_mp4(pixels, fps, audio)
    return write_output(data, output, generator=f"{VIDEO_MODEL_NAME}@{MODEL_VERSION}", no_sign=no_sign, force=force)
