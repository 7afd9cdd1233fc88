"""Video detection: the image detector on frames sampled across the clip, pooled over time, plus the audio track."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

import detectors
from detectors import DetectorError, DetectorResult
from provguard.errors import CorruptMediaError, InputError, MediaTooLargeError, ProvguardError
from provguard.mediaio import check_video_frame, decoder_reason, open_for_reading

#: Frames scored per video, spread evenly over its length.
DEFAULT_FRAMES = 16
#: Longest video scored, in seconds.
DEFAULT_MAX_SECONDS = 3 * 3600.0


def _read(media: Any) -> bytes:
    """Bytes of a video given as bytes or a path."""
    if isinstance(media, (bytes, bytearray, memoryview)):
        return bytes(media)
    if isinstance(media, (str, os.PathLike)):
        from provguard.media import read_media

        return read_media(Path(media))[0]
    raise InputError("a video detector takes MP4 bytes or a path")


def sample_frames(data: bytes, count: int = DEFAULT_FRAMES, max_seconds: float = DEFAULT_MAX_SECONDS) -> list[tuple[float, np.ndarray]]:
    """Decode `count` frames spread evenly over the video, with their times in seconds."""
    import av

    out: list[tuple[float, np.ndarray]] = []
    try:
        with open_for_reading(data) as src:
            if not src.streams.video:
                raise CorruptMediaError("file has no video stream")
            stream = src.streams.video[0]
            duration = float(stream.duration * stream.time_base) if stream.duration and stream.time_base else None
            if duration is None and src.duration:
                duration = src.duration / 1_000_000
            if duration is not None and duration > max_seconds:
                raise MediaTooLargeError(f"video is {duration:.0f} s, over the {max_seconds:.0f} s detection limit")
            total = stream.frames or 0
            step = max(1, total // count) if total else 1
            for index, frame in enumerate(src.decode(stream)):
                if index % step == 0:
                    check_video_frame(frame)
                    t = float(frame.time) if frame.time is not None else index / float(stream.average_rate or 25)
                    out.append((t, frame.to_ndarray(format="rgb24")))
                    if len(out) >= count:
                        break
    except av.error.FFmpegError as exc:
        raise CorruptMediaError(f"video cannot be decoded: {decoder_reason(exc)}") from exc
    if not out:
        raise CorruptMediaError("video holds no decodable frames")
    return out


def _has_audio(data: bytes) -> bool:
    """True when the container holds an audio stream."""
    import av

    try:
        with open_for_reading(data) as src:
            return bool(src.streams.audio)
    except av.error.FFmpegError:
        return False


def pool(scores: list[float]) -> float:
    """Pool frame probabilities by averaging their log-odds (a consistent fake raises the pooled score)."""
    p = np.clip(np.asarray(scores, dtype=np.float64), 1e-6, 1 - 1e-6)
    logit = float(np.mean(np.log(p / (1 - p))))
    return 1.0 / (1.0 + np.exp(-logit))


class VideoDetector:
    """Scores a video: the image detector on sampled frames (pooled), the audio detector on its soundtrack."""

    name = "video-frames"
    version = "1"
    kind = "video"

    def __init__(self, device: str | None = None, frames: int = DEFAULT_FRAMES) -> None:
        """Build lazily on the given device (the sub-detectors load their own weights)."""
        self.device = device
        self.frames = frames
        self._image: Any = None
        self._audio: Any = None

    def _image_detector(self) -> Any:
        """The frame detector, loaded on first use."""
        if self._image is None:
            self._image = detectors.load(detectors.PRIMARY["image"], device=self.device)
        return self._image

    def _audio_detector(self) -> Any:
        """The soundtrack detector, loaded on first use."""
        if self._audio is None:
            self._audio = detectors.load(detectors.PRIMARY["audio"], device=self.device)
        return self._audio

    def score(self, media: Any) -> DetectorResult:
        """P(synthetic) = the larger of the pooled frame score and the soundtrack score (either track can be fake)."""
        data = _read(media)
        sampled = sample_frames(data, self.frames)
        image = self._image_detector()
        results = image.score_many([frame for _, frame in sampled])
        regions: list[dict[str, Any]] = [
            {"track": "video", "time": round(t, 3), "score": round(float(r.score), 6)} for (t, _), r in zip(sampled, results)
        ]
        score = pool([r.score for r in results])
        if _has_audio(data):
            from detectors.inputs import as_audio

            try:
                sound = self._audio_detector().score(as_audio(data))
            except ProvguardError as exc:  # silent or unreadable soundtrack: the frames still count
                regions.append({"track": "audio", "note": str(exc)})
            else:
                regions.append({"track": "audio", "score": round(float(sound.score), 6)})
                score = max(score, float(sound.score))
        version = f"{self.version}+{image.name}-{image.version}"
        return DetectorResult(score=float(score), model=self.name, version=version, regions=regions)

    def score_many(self, media: list[Any]) -> list[DetectorResult]:
        """Score several videos one after another."""
        return [self.score(m) for m in media]


__all__ = ["VideoDetector", "DetectorError", "pool", "sample_frames"]
