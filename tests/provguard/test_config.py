"""Tests for provguard.config: home resolution, config.toml round trip and trust-anchor precedence."""

from __future__ import annotations

import datetime as dt
import os
import stat
import tomllib
from pathlib import Path

import platformdirs
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from provguard.config import (
    CONFIG_FILENAME,
    ENV_HOME,
    ENV_TRUST_ANCHORS,
    Config,
    load_config,
    provguard_home,
    render_config,
    trust_anchor_pems,
    write_config,
)
from provguard.errors import ConfigError, InputError


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Never read the developer's real home or trust anchors."""
    monkeypatch.setenv(ENV_HOME, str(tmp_path / "default-home"))
    monkeypatch.delenv(ENV_TRUST_ANCHORS, raising=False)


def _cert_pem(common_name: str) -> bytes:
    """A throwaway self-signed certificate in PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def _common_names(pem: bytes) -> list[str]:
    """The CNs of the certificates in a PEM blob, in order."""
    return [
        c.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value for c in x509.load_pem_x509_certificates(pem)
    ]


# --- home --------------------------------------------------------------------------------------------------


def test_home_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(ENV_HOME, str(tmp_path / "h"))
    assert provguard_home() == tmp_path / "h"


def test_home_defaults_to_the_user_config_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_HOME)
    assert provguard_home() == Path(platformdirs.user_config_dir("provguard")).absolute()
    monkeypatch.setenv(ENV_HOME, "  ")
    assert provguard_home() == Path(platformdirs.user_config_dir("provguard")).absolute()


def test_load_config_uses_provguard_home_when_no_home_given(tmp_path: Path) -> None:
    assert load_config().home == tmp_path / "default-home"


# --- config.toml -------------------------------------------------------------------------------------------


def test_missing_config_gives_defaults(tmp_path: Path) -> None:
    config = load_config(tmp_path)
    assert config == Config(home=tmp_path)
    assert config.store_path == tmp_path / "manifests.sqlite3"
    assert (config.signing_cert, config.signing_key, config.trust_anchors, config.watermark_key) == (None,) * 4
    assert not (tmp_path / CONFIG_FILENAME).exists()


def test_config_round_trip_with_awkward_paths(tmp_path: Path) -> None:
    home = tmp_path / "home"
    odd = tmp_path / 'dir with "quotes" \\ back\tslash é'
    config = Config(
        home=home,
        signing_cert=odd / "chain.pem",
        signing_key=tmp_path / "k.pem",
        trust_anchors=tmp_path / "anchors.pem",
        watermark_key=tmp_path / "wm.key",
        store_path=tmp_path / "elsewhere.sqlite3",
        tsa_url="http://tsa.example/ts",
    )
    path = write_config(config)
    assert path == home / CONFIG_FILENAME
    assert stat.S_IMODE(os.stat(home).st_mode) == 0o700
    parsed = tomllib.loads(path.read_text("utf-8"))
    assert parsed["signing"]["cert"] == str(odd / "chain.pem")
    assert load_config(home) == config


def test_default_store_path_is_not_written(tmp_path: Path) -> None:
    text = render_config(Config(home=tmp_path, watermark_key=tmp_path / "w"))
    assert "[store]" not in text
    assert tomllib.loads(text) == {"watermark": {"key": str(tmp_path / "w")}}


def test_relative_and_tilde_paths_are_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    (tmp_path / CONFIG_FILENAME).write_text('[signing]\ncert = "keys/c.pem"\nkey = "~/k.pem"\n')
    config = load_config(tmp_path)
    assert config.signing_cert == tmp_path / "keys" / "c.pem"
    assert config.signing_key == tmp_path / "user" / "k.pem"


def test_write_is_atomic_and_replaces(tmp_path: Path) -> None:
    write_config(Config(home=tmp_path, watermark_key=tmp_path / "a"))
    write_config(Config(home=tmp_path, watermark_key=tmp_path / "b"))
    assert load_config(tmp_path).watermark_key == tmp_path / "b"
    assert sorted(p.name for p in tmp_path.iterdir()) == [CONFIG_FILENAME]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[signing\ncert = 1", "not valid TOML"),
        ("[signing]\ncert = 3\n", "must be a non-empty string"),
        ('[signing]\ncert = ""\n', "must be a non-empty string"),
        ('[signing]\ncertificate = "x"\n', "unknown key 'certificate'"),
        ('[sigining]\ncert = "x"\n', "unknown section [sigining]"),
        ('signing = "x"\n', "must be a table"),
    ],
)
def test_malformed_config_is_a_one_line_config_error(tmp_path: Path, text: str, fragment: str) -> None:
    (tmp_path / CONFIG_FILENAME).write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    message = str(info.value)
    assert fragment in message
    assert "\n" not in message
    assert str(tmp_path / CONFIG_FILENAME) in message


def test_non_utf8_config_is_refused(tmp_path: Path) -> None:
    (tmp_path / CONFIG_FILENAME).write_bytes(b'[signing]\ncert = "\xff"\n')
    with pytest.raises(ConfigError, match="UTF-8"):
        load_config(tmp_path)


def test_home_that_is_a_file_is_refused(tmp_path: Path) -> None:
    home = tmp_path / "file"
    home.write_text("x")
    with pytest.raises(ConfigError, match="not a directory"):
        load_config(home)
    with pytest.raises(ConfigError, match="not a directory"):
        write_config(Config(home=home))


# --- trust anchors -----------------------------------------------------------------------------------------


@pytest.fixture
def anchor_files(tmp_path: Path) -> dict[str, Path]:
    """Three PEM files with distinct CNs: explicit, env and config."""
    files = {}
    for label in ("explicit", "env", "config"):
        path = tmp_path / f"{label}.pem"
        path.write_bytes(_cert_pem(label))
        files[label] = path
    return files


def test_trust_anchor_precedence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, anchor_files: dict[str, Path]
) -> None:
    config = Config(home=tmp_path, trust_anchors=anchor_files["config"])
    assert trust_anchor_pems(None, Config(home=tmp_path)) is None
    assert _common_names(trust_anchor_pems(None, config) or b"") == ["config"]
    monkeypatch.setenv(ENV_TRUST_ANCHORS, str(anchor_files["env"]))
    assert _common_names(trust_anchor_pems(None, config) or b"") == ["env"]
    assert _common_names(trust_anchor_pems(anchor_files["explicit"], config) or b"") == ["explicit"]
    monkeypatch.setenv(ENV_TRUST_ANCHORS, "")
    assert _common_names(trust_anchor_pems(None, config) or b"") == ["config"]


def test_trust_anchors_keep_every_certificate_and_drop_comments(tmp_path: Path) -> None:
    path = tmp_path / "bundle.pem"
    path.write_bytes(b"# my anchors\n" + _cert_pem("a") + b"some note\n" + _cert_pem("b"))
    pem = trust_anchor_pems(path, Config(home=tmp_path)) or b""
    assert _common_names(pem) == ["a", "b"]
    assert b"note" not in pem and b"#" not in pem


def test_bad_trust_anchor_files_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    garbage = tmp_path / "garbage.pem"
    garbage.write_bytes(b"not a certificate\n")
    broken = tmp_path / "broken.pem"
    broken.write_bytes(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    missing = tmp_path / "missing.pem"
    home = Config(home=tmp_path)
    with pytest.raises(InputError, match="no PEM certificate"):
        trust_anchor_pems(garbage, home)
    with pytest.raises(InputError, match="not a valid PEM"):
        trust_anchor_pems(broken, home)
    with pytest.raises(InputError, match="cannot read"):
        trust_anchor_pems(missing, home)
    with pytest.raises(ConfigError, match="cannot read"):
        trust_anchor_pems(None, Config(home=tmp_path, trust_anchors=missing))
    monkeypatch.setenv(ENV_TRUST_ANCHORS, str(garbage))
    with pytest.raises(ConfigError, match=ENV_TRUST_ANCHORS):
        trust_anchor_pems(None, home)
