"""The SQLite manifest store: round trip, no overwrite, schema version, concurrent writers."""

from __future__ import annotations

import multiprocessing
import sqlite3
from pathlib import Path

import pytest

from provguard.errors import StoreError
from provguard.store import ManifestStore, StoredManifest, utc_now


def _record(payload: int, manifest: bytes = b"jumbf") -> StoredManifest:
    return StoredManifest(payload, manifest, "image/jpeg", "ab" * 32, utc_now(), "CN=test", "t.jpg")


def test_round_trip_survives_reopening(tmp_path: Path) -> None:
    """A record written is read back identically from a new connection."""
    path = tmp_path / "store.sqlite3"
    with ManifestStore(path) as store:
        payload = store.new_payload()
        store.put(_record(payload, b"\x00\x01manifest"))
    with ManifestStore(path) as store:
        got = store.get(payload)
        assert (got.media_type, got.title, got.signer) == ("image/jpeg", "t.jpg", "CN=test")
        assert got.manifest == b"\x00\x01manifest" and got.payload == payload
        assert store.get(payload ^ 1) is None
        assert len(store) == 1


def test_existing_payload_is_never_overwritten(tmp_path: Path) -> None:
    """Putting the same payload twice raises and keeps the first record."""
    with ManifestStore(tmp_path / "s.sqlite3") as store:
        store.put(_record(7, b"first"))
        with pytest.raises(StoreError, match="already in the manifest store"):
            store.put(_record(7, b"second"))
        assert store.get(7).manifest == b"first"


def test_payload_range_is_checked(tmp_path: Path) -> None:
    """Payloads outside 64 bits are refused."""
    with ManifestStore(tmp_path / "s.sqlite3") as store, pytest.raises(StoreError):
        store.put(_record(2**64))


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    """A store written by a newer provguard is refused with a hint."""
    path = tmp_path / "s.sqlite3"
    ManifestStore(path).close()
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="newer"):
        ManifestStore(path)


def test_garbage_file_is_a_store_error(tmp_path: Path) -> None:
    """A file that is not SQLite gives a StoreError, not a sqlite3 exception."""
    path = tmp_path / "s.sqlite3"
    path.write_bytes(b"not a database" * 100)
    with pytest.raises(StoreError):
        ManifestStore(path)


def _writer(path: str, start: int, count: int) -> None:
    with ManifestStore(Path(path)) as store:
        for i in range(start, start + count):
            store.put(_record(i))


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    """Four processes writing at once all land their records."""
    path = tmp_path / "s.sqlite3"
    ManifestStore(path).close()
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(path), k * 1000, 50)) for k in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    with ManifestStore(path) as store:
        assert len(store) == 200
