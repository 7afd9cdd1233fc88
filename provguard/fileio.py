"""Atomic file writing: temp file beside the destination, then rename."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from provguard.errors import InputError, OutputExistsError


def check_output_path(output: Path, force: bool, inputs: tuple[Path, ...] = ()) -> None:
    """Refuse an output that is an input, a directory, or exists without force."""
    out = output.resolve()
    for src in inputs:
        with contextlib.suppress(OSError):
            if out == src.resolve() or (output.exists() and os.path.samefile(output, src)):
                raise InputError(f"refusing to overwrite the input file {src}")
    if output.is_dir():
        raise InputError(f"output {output} is a directory")
    if output.exists() and not force:
        raise OutputExistsError(f"output {output} already exists (use --force to replace it)")
    if not output.parent.exists():
        raise InputError(f"output directory {output.parent} does not exist")


@contextlib.contextmanager
def atomic_writer(output: Path, mode: int = 0o644) -> Iterator[BinaryIO]:
    """Yield a binary temp file that replaces `output` only if the block succeeds."""
    output = Path(output)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".tmp", dir=output.parent)
    tmp = Path(tmp_name)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w+b") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, output)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def atomic_write(output: Path, data: bytes, mode: int = 0o644) -> None:
    """Write bytes to `output` atomically with the given permission bits."""
    with atomic_writer(output, mode) as fh:
        fh.write(data)
