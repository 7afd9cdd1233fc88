"""The manifest store: watermark payload -> signed manifest, for soft-binding recovery (SQLite)."""

from __future__ import annotations

import datetime as dt
import secrets
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from provguard.errors import StoreError

SCHEMA_VERSION = 1
#: Seconds a writer waits for another writer's lock before giving up.
DEFAULT_BUSY_TIMEOUT_S = 30.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS manifests (
    payload      TEXT PRIMARY KEY,      -- 16 hex digits, the 64-bit watermark payload
    manifest     BLOB NOT NULL,         -- the signed C2PA manifest store (JUMBF bytes)
    media_type   TEXT NOT NULL,
    asset_sha256 TEXT NOT NULL,         -- hash of the signed asset as written
    signed_at    TEXT NOT NULL,         -- UTC, ISO 8601
    signer       TEXT NOT NULL,         -- signing certificate subject
    title        TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class StoredManifest:
    """One record of the store."""

    payload: int
    manifest: bytes
    media_type: str
    asset_sha256: str
    signed_at: str
    signer: str
    title: str


def payload_hex(payload: int) -> str:
    """Format a 64-bit payload as 16 hex digits."""
    if not 0 <= payload < 2**64:
        raise StoreError(f"payload {payload} is not a 64-bit unsigned integer")
    return f"{payload:016x}"


def utc_now() -> str:
    """Return the current UTC time in ISO 8601 with seconds."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


class ManifestStore:
    """A SQLite file of signed manifests keyed by watermark payload; safe under concurrent writers (WAL)."""

    def __init__(self, path: Path, busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=busy_timeout_s, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"manifest store {self.path} cannot be opened: {exc}") from exc
        except OSError as exc:
            raise StoreError(f"manifest store {self.path} cannot be created: {exc.strerror or exc}") from exc

    def _migrate(self) -> None:
        """Create the schema or check that an existing file has a version we understand."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    self._db.execute(statement)
            row = self._db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            if row is None:
                self._db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            elif int(row[0]) > SCHEMA_VERSION:
                raise StoreError(
                    f"manifest store {self.path} has schema version {row[0]}, newer than this provguard "
                    f"understands ({SCHEMA_VERSION}); upgrade provguard"
                )
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def new_payload(self) -> int:
        """Return a random 64-bit payload not yet in the store."""
        while True:
            payload = secrets.randbits(64)
            if self.get(payload) is None:
                return payload

    def put(self, record: StoredManifest) -> None:
        """Insert a record; an existing payload is an error, never overwritten."""
        row = (
            payload_hex(record.payload),
            record.manifest,
            record.media_type,
            record.asset_sha256,
            record.signed_at,
            record.signer,
            record.title,
        )
        try:
            self._db.execute("INSERT INTO manifests VALUES (?, ?, ?, ?, ?, ?, ?)", row)
        except sqlite3.IntegrityError as exc:
            raise StoreError(f"payload {payload_hex(record.payload)} is already in the manifest store") from exc
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"manifest store {self.path} write failed: {exc}") from exc

    def get(self, payload: int) -> StoredManifest | None:
        """Return the record for a payload, or None."""
        try:
            row = self._db.execute(
                "SELECT payload, manifest, media_type, asset_sha256, signed_at, signer, title "
                "FROM manifests WHERE payload = ?",
                (payload_hex(payload),),
            ).fetchone()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"manifest store {self.path} read failed: {exc}") from exc
        if row is None:
            return None
        return StoredManifest(int(row[0], 16), bytes(row[1]), *row[2:])

    def __len__(self) -> int:
        """Number of stored manifests."""
        return int(self._db.execute("SELECT COUNT(*) FROM manifests").fetchone()[0])

    def close(self) -> None:
        """Close the database connection."""
        self._db.close()

    def __enter__(self) -> ManifestStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
