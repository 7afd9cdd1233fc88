"""Tests for provguard.fileio: atomic writes and output-path checks."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from provguard.errors import InputError, OutputExistsError
from provguard.fileio import atomic_write, atomic_writer, check_output_path


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_atomic_write_creates_with_the_given_mode(tmp_path: Path) -> None:
    target = tmp_path / "secret.key"
    atomic_write(target, b"abc", mode=0o600)
    assert target.read_bytes() == b"abc" and _mode(target) == 0o600
    atomic_write(target, b"replaced")
    assert target.read_bytes() == b"replaced" and _mode(target) == 0o644
    assert os.listdir(tmp_path) == ["secret.key"]


def test_failed_block_keeps_the_old_file_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    target.write_bytes(b"original")
    with pytest.raises(RuntimeError), atomic_writer(target) as fh:
        fh.write(b"half-written")
        raise RuntimeError("encoder crashed")
    assert target.read_bytes() == b"original"
    assert os.listdir(tmp_path) == ["out.bin"]


def test_interrupt_also_cleans_up(tmp_path: Path) -> None:
    target = tmp_path / "new.bin"
    with pytest.raises(KeyboardInterrupt), atomic_writer(target) as fh:
        fh.write(b"x")
        raise KeyboardInterrupt
    assert os.listdir(tmp_path) == []


def test_temp_file_lives_beside_the_output_until_rename(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    with atomic_writer(target) as fh:
        fh.write(b"data")
        names = os.listdir(tmp_path)
        assert len(names) == 1 and names[0].startswith(".out.bin.") and names[0].endswith(".tmp")
        assert not target.exists()
    assert target.read_bytes() == b"data"


def test_check_output_path_rules(tmp_path: Path) -> None:
    src = tmp_path / "in.jpg"
    src.write_bytes(b"x")
    with pytest.raises(InputError, match="input"):
        check_output_path(src, force=True, inputs=(src,))
    with pytest.raises(InputError, match="input"):
        check_output_path(tmp_path / "." / "in.jpg", force=True, inputs=(src,))
    link = tmp_path / "link.jpg"
    link.symlink_to(src)
    with pytest.raises(InputError, match="input"):
        check_output_path(link, force=True, inputs=(src,))
    with pytest.raises(InputError, match="directory"):
        check_output_path(tmp_path, force=True)
    with pytest.raises(InputError, match="does not exist"):
        check_output_path(tmp_path / "nope" / "o.jpg", force=False)
    existing = tmp_path / "existing.jpg"
    existing.write_bytes(b"y")
    with pytest.raises(OutputExistsError, match="--force"):
        check_output_path(existing, force=False, inputs=(src,))
    check_output_path(existing, force=True, inputs=(src,))
    check_output_path(tmp_path / "fresh.jpg", force=False, inputs=(src,))
