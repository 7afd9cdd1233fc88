"""Shipped detector weights: locate, load lazily (cached) and save them with their model cards."""

from __future__ import annotations

import json
import os
import threading
from importlib import resources
from pathlib import Path
from typing import Any

from detectors import DetectorError
from provguard.fileio import atomic_write
from provguard.statedict import decode_state, encode_half

WEIGHTS_ENV = "PROVGUARD_DETECTOR_WEIGHTS"
#: Largest weight or sidecar file read, in bytes.
MAX_WEIGHT_BYTES = 64 << 20

_CACHE: dict[tuple[str, int, int], Any] = {}
_LOCK = threading.Lock()


class MissingDetectorWeightsError(DetectorError):
    """A detector weight file is missing or unreadable; the message names the train command."""


def _check_name(filename: str) -> str:
    """Refuse names that could leave the weights directory."""
    if not filename or "/" in filename or "\\" in filename or filename.startswith("."):
        raise ValueError(f"bad weight file name {filename!r}")
    return filename


def weights_dir() -> Path:
    """The directory weights load from: $PROVGUARD_DETECTOR_WEIGHTS or the package's weights/ folder."""
    override = os.environ.get(WEIGHTS_ENV)
    if override:
        return Path(override)
    return Path(str(resources.files("detectors").joinpath("weights")))


def weights_path(filename: str) -> Path:
    """Path of a weight file (it may not exist)."""
    return weights_dir() / _check_name(filename)


def _train_hint(filename: str) -> str:
    """The command that makes a weight file."""
    kind = "audio" if filename.startswith("audio") else "image"
    return f"provguard train {kind}"


def _read(filename: str) -> tuple[bytes, tuple[str, int, int]]:
    """Read a weight file's bytes and its cache key, with a clear error when it is absent."""
    path = weights_path(filename)
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise MissingDetectorWeightsError(
            f"detector weights {path.name} are not installed at {path.parent}; train them with `{_train_hint(filename)}`"
        ) from None
    if stat.st_size > MAX_WEIGHT_BYTES:
        raise MissingDetectorWeightsError(f"detector weights {path} are larger than {MAX_WEIGHT_BYTES} bytes")
    return path.read_bytes(), (str(path), stat.st_mtime_ns, stat.st_size)


def _cached(key: tuple[str, int, int]) -> Any:
    """Return a cached object for a file version, or None."""
    with _LOCK:
        return _CACHE.get(key)


def _remember(key: tuple[str, int, int], value: Any) -> None:
    """Cache an object for a file version."""
    with _LOCK:
        _CACHE[key] = value


def load_torch_state(filename: str) -> dict[str, Any]:
    """Load a state dict (floats as float32 tensors); cached until the file changes."""
    raw_bytes, key = _read(filename)
    state = _cached(key)
    if state is None:
        try:
            state = decode_state(raw_bytes)
        except ValueError as exc:
            raise MissingDetectorWeightsError(
                f"detector weights {filename} {exc}; retrain with `{_train_hint(filename)}`"
            ) from exc
        _remember(key, state)
    return dict(state)


def load_json(filename: str) -> dict[str, Any]:
    """Load a JSON sidecar (calibration, baseline coefficients); cached until the file changes."""
    raw_bytes, key = _read(filename)
    obj = _cached(key)
    if obj is None:
        try:
            obj = json.loads(raw_bytes)
        except ValueError as exc:
            raise MissingDetectorWeightsError(f"detector file {filename} is not valid JSON ({exc})") from exc
        _remember(key, obj)
    return json.loads(json.dumps(obj))


def _target(filename: str, directory: Path | None) -> Path:
    """Where to write a weight file."""
    target = (Path(directory) / _check_name(filename)) if directory is not None else weights_path(filename)
    target.parent.mkdir(parents=True, exist_ok=True)
    return target


def save_torch_state(state: dict[str, Any], filename: str, directory: Path | None = None) -> Path:
    """Write a state dict as float16 (non-float entries unchanged) atomically; return the path."""
    target = _target(filename, directory)
    atomic_write(target, encode_half(state))
    return target


def save_json(obj: Any, filename: str, directory: Path | None = None) -> Path:
    """Write JSON atomically; return the path."""
    target = _target(filename, directory)
    atomic_write(target, (json.dumps(obj, indent=1, sort_keys=True) + "\n").encode())
    return target


def write_text(filename: str, text: str, directory: Path | None = None) -> Path:
    """Write a text file (a model card) atomically; return the path."""
    target = _target(filename, directory)
    atomic_write(target, text.encode())
    return target
