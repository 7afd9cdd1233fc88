"""The provguard home directory and its config.toml: where credentials, trust anchors and the store live."""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

from provguard.errors import ConfigError, InputError
from provguard.fileio import atomic_write

ENV_HOME = "PROVGUARD_HOME"
ENV_TRUST_ANCHORS = "PROVGUARD_TRUST_ANCHORS"
CONFIG_FILENAME = "config.toml"
STORE_FILENAME = "manifests.sqlite3"
DEFAULT_MAX_CONFIG_BYTES = 1 << 20
DEFAULT_MAX_TRUST_ANCHOR_BYTES = 16 << 20

_PEM_CERT_BEGIN = b"-----BEGIN CERTIFICATE-----"

# (section, key) in config.toml -> Config field name; every value is a string.
_FIELDS: dict[tuple[str, str], str] = {
    ("signing", "cert"): "signing_cert",
    ("signing", "key"): "signing_key",
    ("signing", "tsa_url"): "tsa_url",
    ("trust", "anchors"): "trust_anchors",
    ("watermark", "key"): "watermark_key",
    ("store", "path"): "store_path",
}
_PATH_FIELDS = frozenset(v for v in _FIELDS.values() if v != "tsa_url")


def provguard_home() -> Path:
    """Return $PROVGUARD_HOME if set, else the user's config directory for provguard."""
    env = os.environ.get(ENV_HOME, "").strip()
    if env:
        return Path(env).expanduser().absolute()
    return Path(platformdirs.user_config_dir("provguard")).absolute()


@dataclass(frozen=True)
class Config:
    """What config.toml in the home holds; every path is absolute (store_path defaults to home/manifests.sqlite3)."""

    home: Path
    signing_cert: Path | None = None
    signing_key: Path | None = None
    trust_anchors: Path | None = None
    watermark_key: Path | None = None
    store_path: Path = field(default=None)  # type: ignore[assignment]
    tsa_url: str | None = None

    def __post_init__(self) -> None:
        home = Path(self.home).expanduser().absolute()
        object.__setattr__(self, "home", home)
        for name in _PATH_FIELDS:
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, _absolute(Path(value), home))
        if self.store_path is None:
            object.__setattr__(self, "store_path", home / STORE_FILENAME)

    @property
    def path(self) -> Path:
        """The config.toml file of this home."""
        return self.home / CONFIG_FILENAME


def _absolute(path: Path, home: Path) -> Path:
    """Expand ~ and resolve a relative path against the home directory."""
    path = path.expanduser()
    return path if path.is_absolute() else (home / path).absolute()


def load_config(home: Path | None = None) -> Config:
    """Read home/config.toml; a missing file gives the defaults, a malformed one raises ConfigError."""
    home = Path(home).expanduser().absolute() if home is not None else provguard_home()
    path = home / CONFIG_FILENAME
    if home.exists() and not home.is_dir():
        raise ConfigError(f"provguard home {home} is not a directory")
    try:
        with path.open("rb") as fh:
            raw = fh.read(DEFAULT_MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        return Config(home=home)
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if len(raw) > DEFAULT_MAX_CONFIG_BYTES:
        raise ConfigError(f"{path} is larger than {DEFAULT_MAX_CONFIG_BYTES} bytes")
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path} is not UTF-8 text") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {_one_line(str(exc))}") from exc
    return Config(home=home, **_fields_from_toml(data, path))


def _fields_from_toml(data: dict[str, Any], path: Path) -> dict[str, Any]:
    """Map parsed TOML to Config keyword arguments, refusing unknown keys and wrong types."""
    known_sections = {section for section, _ in _FIELDS}
    values: dict[str, Any] = {}
    for section, table in data.items():
        if section not in known_sections:
            raise ConfigError(f"{path}: unknown section [{section}] (known: {', '.join(sorted(known_sections))})")
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: '{section}' must be a table ([{section}])")
        for key, value in table.items():
            name = _FIELDS.get((section, key))
            if name is None:
                known = sorted(k for s, k in _FIELDS if s == section)
                raise ConfigError(f"{path}: unknown key '{key}' in [{section}] (known: {', '.join(known)})")
            if not isinstance(value, str) or not value or "\x00" in value:
                raise ConfigError(f"{path}: [{section}] {key} must be a non-empty string")
            values[name] = value if name == "tsa_url" else Path(value)
    return values


def _one_line(text: str) -> str:
    """Collapse a message onto one line."""
    return " ".join(text.split())


def _toml_string(value: str) -> str:
    """Quote a string as a TOML basic string (JSON escapes are valid TOML escapes)."""
    return json.dumps(value, ensure_ascii=False)


def render_config(config: Config) -> str:
    """Return the TOML text for a Config: the fields that are set, the store path only if not the default."""
    lines = ["# provguard configuration (written by provguard; paths are absolute)"]
    current = None
    for (section, key), name in _FIELDS.items():
        value = getattr(config, name)
        if value is None or (name == "store_path" and value == config.home / STORE_FILENAME):
            continue
        if section != current:
            lines.extend(["", f"[{section}]"])
            current = section
        lines.append(f"{key} = {_toml_string(str(value))}")
    return "\n".join(lines) + "\n"


def write_config(config: Config) -> Path:
    """Write config.toml into the config's home atomically (creating the home 0700) and return its path."""
    ensure_home(config.home)
    path = config.path
    atomic_write(path, render_config(config).encode("utf-8"), mode=0o644)
    return path


def ensure_home(home: Path) -> Path:
    """Create the home directory (mode 0700) if missing; refuse a home that is not a directory."""
    home = Path(home)
    if home.exists():
        if not home.is_dir():
            raise ConfigError(f"provguard home {home} is not a directory")
        return home
    try:
        home.mkdir(parents=True, mode=0o700)
        os.chmod(home, 0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        raise ConfigError(f"cannot create provguard home {home}: {exc.strerror or exc}") from exc
    return home


def trust_anchor_pems(explicit: Path | None, config: Config) -> bytes | None:
    """Return the trust-anchor PEM: the explicit path, else $PROVGUARD_TRUST_ANCHORS, else config.trust_anchors."""
    if explicit is not None:
        return _read_anchor_pem(Path(explicit), "the trust anchors file", InputError)
    env = os.environ.get(ENV_TRUST_ANCHORS, "").strip()
    if env:
        return _read_anchor_pem(Path(env).expanduser(), f"${ENV_TRUST_ANCHORS}", ConfigError)
    if config.trust_anchors is not None:
        return _read_anchor_pem(config.trust_anchors, f"trust anchors in {config.path}", ConfigError)
    return None


def _read_anchor_pem(path: Path, origin: str, error: type[Exception]) -> bytes:
    """Read a PEM file holding at least one certificate and return its certificates re-encoded as PEM."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    try:
        with path.open("rb") as fh:
            raw = fh.read(DEFAULT_MAX_TRUST_ANCHOR_BYTES + 1)
    except OSError as exc:
        raise error(f"cannot read {origin} {path}: {exc.strerror or exc}") from exc
    if len(raw) > DEFAULT_MAX_TRUST_ANCHOR_BYTES:
        raise error(f"{origin} {path} is larger than {DEFAULT_MAX_TRUST_ANCHOR_BYTES} bytes")
    if _PEM_CERT_BEGIN not in raw:
        raise error(f"{origin} {path} holds no PEM certificate")
    try:
        certs = x509.load_pem_x509_certificates(raw)
    except ValueError as exc:
        raise error(f"{origin} {path} is not a valid PEM certificate file: {_one_line(str(exc))}") from exc
    return b"".join(cert.public_bytes(Encoding.PEM) for cert in certs)
