"""Shipped generator weights: locate, load lazily (cached) and save as float16 state dicts."""

from __future__ import annotations

import os
import threading
from importlib import resources
from pathlib import Path
from typing import Any

from provguard.errors import ProvguardError
from provguard.fileio import atomic_write
from provguard.statedict import decode_state, encode_half

WEIGHTS_ENV = "PROVGUARD_GENERATOR_WEIGHTS"
SUFFIX = ".pt"

_CACHE: dict[tuple[str, int, int], dict[str, Any]] = {}
_LOCK = threading.Lock()


class MissingWeightsError(ProvguardError):
    """A generator weight file is not installed; the hint names the train command."""


def _file_name(name: str) -> str:
    """Return NAME.pt for a bare name, refusing path separators."""
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise ValueError(f"bad weight name {name!r}")
    return name if name.endswith(SUFFIX) else name + SUFFIX


def weights_dir() -> Path:
    """The directory weights load from: $PROVGUARD_GENERATOR_WEIGHTS or the package's weights/ folder."""
    override = os.environ.get(WEIGHTS_ENV)
    if override:
        return Path(override)
    return Path(str(resources.files("provguard.generate").joinpath("weights")))


def weights_path(name: str) -> Path:
    """Path of the weight file NAME(.pt) (it may not exist)."""
    return weights_dir() / _file_name(name)


def _train_hint(name: str) -> str:
    """The command that makes the named weights."""
    stem = _file_name(name)[: -len(SUFFIX)]
    kind = "audio" if stem in {"vocoder", "acoustic", "mel", "tts"} or "voc" in stem else "image"
    return f"provguard generate train {kind}"


def load_weights(name: str) -> dict[str, Any]:
    """Load the state dict NAME(.pt), floats as float32 tensors; cached until the file changes."""

    path = weights_path(name)
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise MissingWeightsError(
            f"generator weights {path.name} are not installed at {path.parent}; "
            f"train them with `{_train_hint(name)}`"
        ) from None
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    with _LOCK:
        cached = _CACHE.get(key)
    if cached is None:
        try:
            cached = decode_state(path.read_bytes())
        except ValueError as exc:
            raise MissingWeightsError(f"generator weights {path} {exc}; retrain with `{_train_hint(name)}`") from exc
        with _LOCK:
            _CACHE[key] = cached
    return dict(cached)


def save_weights(state: dict[str, Any], name: str, directory: Path | None = None) -> Path:
    """Write a state dict as float16 (non-float entries unchanged) to NAME.pt atomically; return the path."""
    target = (Path(directory) / _file_name(name)) if directory is not None else weights_path(name)
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(target, encode_half(state))
    return target
