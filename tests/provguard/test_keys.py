"""Tests for provguard.keys: the C2PA certificate profile, signers (with real c2pa-python) and dev credentials."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import c2pa
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID, ObjectIdentifier
from PIL import Image

import provguard.keys as keys
from provguard.config import ENV_HOME, ENV_TRUST_ANCHORS, Config, load_config, write_config
from provguard.errors import CertificateProfileError, ConfigError, CredentialError, SigningError
from provguard.keys import (
    ALLOWED_EKU_OIDS,
    DEV_SIGNER_EKU_OIDS,
    CallbackSigner,
    LocalKeySigner,
    Signer,
    check_certificate_profile,
    check_signer,
    default_signer,
    ensure_dev_credentials,
    init_dev_credentials,
    load_watermark_key,
    trust_config_text,
)

NOW = dt.datetime.now(dt.UTC)
EMAIL = "1.3.6.1.5.5.7.3.4"
PEM = serialization.Encoding.PEM


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Never touch the developer's real provguard home."""
    monkeypatch.setenv(ENV_HOME, str(tmp_path / "default-home"))
    monkeypatch.delenv(ENV_TRUST_ANCHORS, raising=False)


# --- certificate factory -----------------------------------------------------------------------------------


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _ku(digital_signature: bool = True, key_cert_sign: bool = False, crl_sign: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=key_cert_sign,
        crl_sign=crl_sign,
        encipher_only=False,
        decipher_only=False,
    )


@dataclass
class CA:
    """A test CA: its key and certificate."""

    key: Any
    cert: x509.Certificate

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(PEM)


def make_ca(cn: str = "test root", issuer: CA | None = None, key: Any = None) -> CA:
    """A CA certificate, self-signed unless an issuer is given."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(issuer.cert.subject if issuer else _name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_ku(False, True, True), critical=True)
        .add_extension(ski, critical=False)
    )
    signing_key = issuer.key if issuer else key
    return CA(key, builder.sign(signing_key, hashes.SHA256()))


@dataclass
class LeafSpec:
    """How to build a test end-entity certificate; the defaults meet the profile."""

    key: Any = None
    ekus: tuple[str, ...] = (EMAIL,)
    key_usage: x509.KeyUsage | None = field(default_factory=_ku)
    aki: bool = True
    ca: bool = False
    self_signed: bool = False
    not_before: dt.datetime = NOW - dt.timedelta(days=1)
    not_after: dt.datetime = NOW + dt.timedelta(days=30)
    hash_alg: Any = hashes.SHA256


def make_leaf(issuer: CA, spec: LeafSpec | None = None) -> tuple[Any, x509.Certificate]:
    """An end-entity certificate and its key, built from a LeafSpec."""
    spec = spec or LeafSpec()
    key = spec.key or ec.generate_private_key(ec.SECP256R1())
    subject = _name("test signer")
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject if spec.self_signed else issuer.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(spec.not_before)
        .not_valid_after(spec.not_after)
        .add_extension(x509.BasicConstraints(ca=spec.ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if spec.key_usage is not None:
        builder = builder.add_extension(spec.key_usage, critical=True)
    if spec.ekus:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ObjectIdentifier(o) for o in spec.ekus]), critical=False)
    if spec.aki:
        aki_key = key.public_key() if spec.self_signed else issuer.key.public_key()
        builder = builder.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(aki_key), critical=False)
    signer = key if spec.self_signed else issuer.key
    algorithm = None if isinstance(signer, ed25519.Ed25519PrivateKey) else spec.hash_alg()
    return key, builder.sign(signer, algorithm)


def key_pem(key: Any) -> bytes:
    return key.private_bytes(PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def _der_len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _tlv(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + _der_len(len(body)) + body


def _read_tlv(buf: bytes, i: int) -> tuple[bytes, int]:
    """Return (the whole TLV at i, the offset after it)."""
    length, j = buf[i + 1], i + 2
    if length & 0x80:
        n = length & 0x7F
        length, j = int.from_bytes(buf[j : j + n], "big"), j + n
    return buf[i : j + length], j + length


def as_version1(cert: x509.Certificate, issuer_key: Any) -> x509.Certificate:
    """Re-sign a certificate with the version field removed (X.509 v1), keeping everything else."""
    der = cert.public_bytes(serialization.Encoding.DER)
    outer, _ = _read_tlv(der, 0)
    body = outer[2 + (outer[1] & 0x7F if outer[1] & 0x80 else 0) :]
    tbs, end = _read_tlv(body, 0)
    sig_alg, _ = _read_tlv(body, end)
    tbs_body = tbs[2 + (tbs[1] & 0x7F if tbs[1] & 0x80 else 0) :]
    assert tbs_body[:5] == bytes.fromhex("a003020102")  # [0] EXPLICIT INTEGER 2 (v3)
    new_tbs = _tlv(0x30, tbs_body[5:])
    signature = issuer_key.sign(new_tbs, ec.ECDSA(hashes.SHA256()))
    return x509.load_der_x509_certificate(_tlv(0x30, new_tbs + sig_alg + _tlv(0x03, b"\x00" + signature)))


@pytest.fixture(scope="module")
def root() -> CA:
    return make_ca()


# --- real c2pa-python ---------------------------------------------------------------------------------------

MANIFEST = {
    "claim_generator_info": [{"name": "provguard-test", "version": "0"}],
    "title": "t.jpg",
    "assertions": [
        {
            "label": "c2pa.actions",
            "data": {
                "actions": [
                    {
                        "action": "c2pa.created",
                        "digitalSourceType": "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia",
                    }
                ]
            },
        }
    ],
}


def c2pa_settings(anchors_pem: bytes | None) -> dict[str, Any]:
    """The c2pa Context dict provguard uses: anchors + our EKU list, no network, no thumbnail."""
    settings: dict[str, Any] = {
        "verify": {"remote_manifest_fetch": False, "ocsp_fetch": False},
        "builder": {"thumbnail": {"enabled": False}},
    }
    if anchors_pem is not None:
        settings["trust"] = {"trust_anchors": anchors_pem.decode("ascii"), "trust_config": trust_config_text()}
    return settings


@pytest.fixture(scope="module")
def jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (30, 120, 200)).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def c2pa_sign(signer: Signer, jpeg: bytes, anchors_pem: bytes | None = None) -> bytes:
    """Sign a JPEG through c2pa-python's callback signer with our Signer."""
    c2pa_signer = c2pa.Signer.from_callback(
        signer.sign,
        c2pa.C2paSigningAlg[signer.alg.upper()],
        signer.certificate_chain_pem().decode("ascii"),
        signer.tsa_url,
    )
    builder = c2pa.Builder(MANIFEST, context=c2pa.Context.from_dict(c2pa_settings(anchors_pem)))
    out = io.BytesIO()
    builder.sign(c2pa_signer, "image/jpeg", io.BytesIO(jpeg), out)
    return out.getvalue()


def c2pa_read(signed: bytes, anchors_pem: bytes | None) -> tuple[str, list[str]]:
    """Read with c2pa-python: (validation state, failure codes of the active manifest)."""
    reader = c2pa.Reader("image/jpeg", io.BytesIO(signed), context=c2pa.Context.from_dict(c2pa_settings(anchors_pem)))
    results = reader.get_validation_results() or {}
    failures = results.get("activeManifest", {}).get("failure", [])
    manifest = json.loads(reader.json())
    assert manifest["active_manifest"]
    return reader.get_validation_state(), [f["code"] for f in failures]


@pytest.fixture
def dev(tmp_path: Path) -> keys.DevCredentials:
    return init_dev_credentials(tmp_path / "home")


def test_dev_signer_reads_trusted_with_the_dev_root_and_untrusted_without(
    dev: keys.DevCredentials, jpeg: bytes
) -> None:
    signer = default_signer(load_config(dev.home))
    root_pem = dev.root_cert.read_bytes()
    signed = c2pa_sign(signer, jpeg, root_pem)
    assert c2pa_read(signed, root_pem) == ("Trusted", [])
    state, failures = c2pa_read(signed, None)
    assert state == "Valid"
    assert "signingCredential.untrusted" in failures


def test_another_root_does_not_make_the_dev_signer_trusted(dev: keys.DevCredentials, jpeg: bytes, root: CA) -> None:
    signed = c2pa_sign(default_signer(load_config(dev.home)), jpeg)
    state, failures = c2pa_read(signed, root.pem)
    assert state == "Valid"
    assert "signingCredential.untrusted" in failures


def test_tampered_pixels_are_invalid(dev: keys.DevCredentials, jpeg: bytes) -> None:
    signed = bytearray(c2pa_sign(default_signer(load_config(dev.home)), jpeg))
    signed[-10] ^= 0xFF  # inside the entropy-coded scan data, before EOI
    state, failures = c2pa_read(bytes(signed), dev.root_cert.read_bytes())
    assert state == "Invalid"
    assert "assertion.dataHash.mismatch" in failures


def test_callback_signer_with_the_dev_key_reads_trusted(dev: keys.DevCredentials, jpeg: bytes) -> None:
    private_key = serialization.load_pem_private_key(dev.signing_key.read_bytes(), None)
    calls: list[int] = []

    def kms_sign(data: bytes) -> bytes:  # DER ECDSA, as most KMS APIs return it
        calls.append(len(data))
        return private_key.sign(data, ec.ECDSA(hashes.SHA256()))  # type: ignore[union-attr, call-arg]

    signer = CallbackSigner(kms_sign, dev.signing_cert.read_bytes(), alg="es256")
    check_signer(signer)
    root_pem = dev.root_cert.read_bytes()
    assert c2pa_read(c2pa_sign(signer, jpeg, root_pem), root_pem) == ("Trusted", [])
    assert len(calls) >= 2  # the self-test and c2pa's claim signature


@pytest.mark.parametrize(
    ("make_key", "alg"),
    [
        (lambda: ec.generate_private_key(ec.SECP384R1()), "es384"),
        (lambda: ec.generate_private_key(ec.SECP521R1()), "es512"),
        (lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048), "ps256"),
        (lambda: ed25519.Ed25519PrivateKey.generate(), "ed25519"),
    ],
    ids=["es384", "es512", "ps256", "ed25519"],
)
def test_other_key_types_through_an_intermediate_read_trusted(
    root: CA, jpeg: bytes, tmp_path: Path, make_key: Callable[[], Any], alg: str
) -> None:
    intermediate = make_ca("test intermediate", issuer=root)
    leaf_key, leaf = make_leaf(intermediate, LeafSpec(key=make_key()))
    (tmp_path / "chain.pem").write_bytes(leaf.public_bytes(PEM) + intermediate.pem)
    (tmp_path / "key.pem").write_bytes(key_pem(leaf_key))
    signer = LocalKeySigner.from_files(tmp_path / "chain.pem", tmp_path / "key.pem")
    assert signer.alg == alg
    assert len(x509.load_pem_x509_certificates(signer.certificate_chain_pem())) == 2
    check_signer(signer)
    assert c2pa_read(c2pa_sign(signer, jpeg, root.pem), root.pem) == ("Trusted", [])


def test_trust_config_lists_every_allowed_eku_and_c2pa_accepts_it(root: CA, jpeg: bytes) -> None:
    lines = trust_config_text().splitlines()
    assert [line for line in lines if not line.startswith("//")] == list(ALLOWED_EKU_OIDS)
    assert "1.3.6.1.4.1.62558.2.1" in ALLOWED_EKU_OIDS and EMAIL in ALLOWED_EKU_OIDS
    # a claimSigning-only certificate is accepted by c2pa-rs only through this trust_config
    leaf_key, leaf = make_leaf(root, LeafSpec(ekus=("1.3.6.1.4.1.62558.2.1",)))
    signer = LocalKeySigner(leaf.public_bytes(PEM), key_pem(leaf_key))
    assert c2pa_read(c2pa_sign(signer, jpeg, root.pem), root.pem) == ("Trusted", [])


def test_dev_signer_eku_is_email_protection_plus_document_signing(dev: keys.DevCredentials) -> None:
    leaf = x509.load_pem_x509_certificates(dev.signing_cert.read_bytes())[0]
    ekus = [o.dotted_string for o in leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value]
    assert ekus == list(DEV_SIGNER_EKU_OIDS) == [EMAIL, "1.3.6.1.5.5.7.3.36"]


# --- the certificate profile ------------------------------------------------------------------------------


def test_a_good_chain_passes(root: CA) -> None:
    leaf_key, leaf = make_leaf(root)
    check_certificate_profile(leaf.public_bytes(PEM), key_pem(leaf_key))
    check_certificate_profile(leaf.public_bytes(PEM) + root.pem)


def _break(rule: str, root: CA) -> tuple[bytes, bytes | None]:
    """A (chain PEM, key PEM) that breaks exactly the named rule."""
    other_curve = ec.generate_private_key(ec.SECP256K1())
    small_rsa = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    cases: dict[str, LeafSpec] = {
        "authority-key-identifier": LeafSpec(aki=False),
        "key-usage-digital-signature": LeafSpec(key_usage=_ku(digital_signature=False, crl_sign=True)),
        "key-usage-no-cert-sign": LeafSpec(key_usage=_ku(key_cert_sign=True)),
        "extended-key-usage": LeafSpec(ekus=("1.3.6.1.5.5.7.3.1",)),  # serverAuth only
        "no-any-eku": LeafSpec(ekus=(EMAIL, "2.5.29.37.0")),
        "not-self-signed": LeafSpec(self_signed=True),
        "key-algorithm": LeafSpec(key=other_curve),
        "key-algorithm-rsa": LeafSpec(key=small_rsa),
        "validity": LeafSpec(not_before=NOW - dt.timedelta(days=30), not_after=NOW - dt.timedelta(days=1)),
        "validity-future": LeafSpec(not_before=NOW + dt.timedelta(days=1)),
        "basic-constraints-ca": LeafSpec(ca=True),
        "signature-algorithm": LeafSpec(hash_alg=hashes.SHA224),
    }
    if rule == "x509-v3":
        leaf_key, leaf = make_leaf(root)
        return as_version1(leaf, root.key).public_bytes(PEM), key_pem(leaf_key)
    if rule == "chain":
        intermediate = make_ca("test intermediate", issuer=root)
        leaf_key, leaf = make_leaf(intermediate)
        return leaf.public_bytes(PEM) + root.pem + intermediate.pem, key_pem(leaf_key)  # wrong order
    if rule == "chain-signature":
        impostor = make_ca("test root")  # same name as the real issuer, another key
        _, leaf = make_leaf(root)
        return leaf.public_bytes(PEM) + impostor.pem, None
    if rule == "key-matches-cert":
        _, leaf = make_leaf(root)
        return leaf.public_bytes(PEM), key_pem(ec.generate_private_key(ec.SECP256R1()))
    leaf_key, leaf = make_leaf(root, cases[rule])
    return leaf.public_bytes(PEM), key_pem(leaf_key)


RULE_CASES = [
    ("x509-v3", "x509-v3"),
    ("authority-key-identifier", "authority-key-identifier"),
    ("key-usage-digital-signature", "key-usage-digital-signature"),
    ("key-usage-no-cert-sign", "key-usage-no-cert-sign"),
    ("extended-key-usage", "extended-key-usage"),
    ("no-any-eku", "no-any-eku"),
    ("not-self-signed", "not-self-signed"),
    ("key-algorithm", "key-algorithm"),
    ("key-algorithm-rsa", "key-algorithm"),
    ("validity", "validity"),
    ("validity-future", "validity"),
    ("basic-constraints-ca", "basic-constraints-ca"),
    ("signature-algorithm", "signature-algorithm"),
    ("chain", "chain"),
    ("chain-signature", "chain"),
    ("key-matches-cert", "key-matches-cert"),
]


@pytest.mark.parametrize(("case", "rule"), RULE_CASES, ids=[c for c, _ in RULE_CASES])
def test_each_profile_rule_is_named_when_broken(root: CA, case: str, rule: str) -> None:
    chain_pem, private_pem = _break(case, root)
    with pytest.raises(CertificateProfileError) as info:
        check_certificate_profile(chain_pem, private_pem)
    assert info.value.rule == rule
    assert f"'{rule}'" in str(info.value)
    if private_pem is not None:  # the same refusal when a signer is loaded
        with pytest.raises(CertificateProfileError) as loaded:
            LocalKeySigner(chain_pem, private_pem)
        assert loaded.value.rule == rule
    if rule != "key-matches-cert" and case != "key-algorithm-rsa":
        with pytest.raises(CertificateProfileError) as callback:
            CallbackSigner(lambda data: b"x", chain_pem, alg="es256")
        assert callback.value.rule == rule


def test_missing_key_usage_and_eku_are_refused(root: CA) -> None:
    _, no_ku = make_leaf(root, LeafSpec(key_usage=None))
    _, no_eku = make_leaf(root, LeafSpec(ekus=()))
    with pytest.raises(CertificateProfileError, match="key-usage-digital-signature"):
        check_certificate_profile(no_ku.public_bytes(PEM))
    with pytest.raises(CertificateProfileError, match="has: none"):
        check_certificate_profile(no_eku.public_bytes(PEM))


def test_validity_is_checked_at_the_given_time(root: CA) -> None:
    leaf_key, leaf = make_leaf(root)
    chain = leaf.public_bytes(PEM)
    check_certificate_profile(chain, now=NOW.replace(tzinfo=None))  # naive means UTC
    with pytest.raises(CertificateProfileError, match="expired"):
        check_certificate_profile(chain, now=NOW + dt.timedelta(days=31))
    with pytest.raises(CertificateProfileError, match="not valid before"):
        LocalKeySigner(chain, key_pem(leaf_key), now=NOW - dt.timedelta(days=2))


def test_c2pa_rs_refuses_what_we_refuse_but_says_less(root: CA, jpeg: bytes) -> None:
    """Our message names the rule; c2pa-rs alone only reports an invalid certificate."""
    leaf_key, leaf = make_leaf(root, LeafSpec(aki=False))
    with pytest.raises(CertificateProfileError, match="authority-key-identifier"):
        LocalKeySigner(leaf.public_bytes(PEM), key_pem(leaf_key))

    class Unchecked:
        alg, tsa_url = "es256", None

        def certificate_chain_pem(self) -> bytes:
            return leaf.public_bytes(PEM)

        def sign(self, data: bytes) -> bytes:
            return leaf_key.sign(data, ec.ECDSA(hashes.SHA256()))

    with pytest.raises(c2pa.C2paError) as info:
        c2pa_sign(Unchecked(), jpeg, root.pem)
    assert "authority" not in str(info.value).lower()


def test_unparsable_inputs_are_credential_errors(root: CA) -> None:
    with pytest.raises(CredentialError, match="no PEM certificate"):
        check_certificate_profile(b"hello")
    with pytest.raises(CredentialError, match="cannot be parsed"):
        check_certificate_profile(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    leaf_key, leaf = make_leaf(root)
    secret = key_pem(leaf_key)
    with pytest.raises(CredentialError) as info:
        LocalKeySigner(leaf.public_bytes(PEM), secret[:60] + secret[70:])
    assert secret[30:60].decode() not in str(info.value)  # never echo key material


def test_encrypted_key_needs_its_password(root: CA) -> None:
    leaf_key, leaf = make_leaf(root)
    encrypted = leaf_key.private_bytes(
        PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"pw")
    )
    assert LocalKeySigner(leaf.public_bytes(PEM), encrypted, password=b"pw").alg == "es256"
    with pytest.raises(CredentialError):
        LocalKeySigner(leaf.public_bytes(PEM), encrypted)


# --- signers -----------------------------------------------------------------------------------------------


def test_local_signer_produces_raw_ecdsa_that_verifies(root: CA) -> None:
    leaf_key, leaf = make_leaf(root)
    signer = LocalKeySigner(leaf.public_bytes(PEM) + b"\n", key_pem(leaf_key), tsa_url="http://tsa.example")
    signature = signer.sign(b"payload")
    assert len(signature) == 64
    assert keys.verify_signature(leaf, "es256", b"payload", signature)
    assert not keys.verify_signature(leaf, "es256", b"payload2", signature)
    assert isinstance(signer, Signer)
    assert signer.tsa_url == "http://tsa.example"
    assert signer.certificate_chain_pem() == leaf.public_bytes(PEM)
    assert "PRIVATE" not in repr(signer)


def test_callback_signer_checks_alg_and_wraps_failures(root: CA) -> None:
    _, leaf = make_leaf(root)
    chain = leaf.public_bytes(PEM)
    with pytest.raises(CredentialError, match="does not fit"):
        CallbackSigner(lambda d: b"", chain, alg="es384")
    with pytest.raises(CredentialError, match="unknown signing alg"):
        CallbackSigner(lambda d: b"", chain, alg="hs256")

    def broken(data: bytes) -> bytes:
        raise RuntimeError("kms unavailable")

    with pytest.raises(SigningError, match="kms unavailable"):
        CallbackSigner(broken, chain).sign(b"x")
    with pytest.raises(SigningError, match="no signature"):
        CallbackSigner(lambda d: None, chain).sign(b"x")  # type: ignore[arg-type, return-value]


def test_check_signer_catches_a_callback_with_the_wrong_key(root: CA) -> None:
    _, leaf = make_leaf(root)
    wrong = ec.generate_private_key(ec.SECP256R1())
    signer = CallbackSigner(lambda d: wrong.sign(d, ec.ECDSA(hashes.SHA256())), leaf.public_bytes(PEM))
    with pytest.raises(CertificateProfileError) as info:
        check_signer(signer)
    assert info.value.rule == "key-matches-cert"


# --- dev credentials -----------------------------------------------------------------------------------------


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_init_writes_profile_conformant_credentials_with_private_modes(dev: keys.DevCredentials) -> None:
    assert dev.created
    assert _mode(dev.home) == 0o700 and _mode(dev.signing_key.parent) == 0o700
    assert _mode(dev.signing_key) == 0o600 and _mode(dev.watermark_key) == 0o600
    assert len(dev.watermark_key.read_bytes()) == 32
    chain = dev.signing_cert.read_bytes()
    check_certificate_profile(chain, dev.signing_key.read_bytes())
    check_certificate_profile(chain + dev.root_cert.read_bytes())
    leaf = x509.load_pem_x509_certificates(chain)
    assert len(leaf) == 1  # the leaf only; the root is the trust anchor
    root_cert = x509.load_pem_x509_certificate(dev.root_cert.read_bytes())
    assert root_cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert leaf[0].subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == (
        "provguard development (untrusted outside this machine)"
    )
    assert str(leaf[0].subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value).startswith(
        "provguard dev signer ("
    )
    assert isinstance(leaf[0].public_key(), ec.EllipticCurvePublicKey)
    assert leaf[0].public_key().curve.name == "secp256r1"  # type: ignore[union-attr]
    lifetime = leaf[0].not_valid_after_utc - leaf[0].not_valid_before_utc
    assert dt.timedelta(days=700) < lifetime < dt.timedelta(days=740)
    config = load_config(dev.home)
    assert (config.signing_cert, config.signing_key, config.trust_anchors, config.watermark_key) == (
        dev.signing_cert,
        dev.signing_key,
        dev.root_cert,
        dev.watermark_key,
    )
    assert dev.config_path == config.path


def test_init_uses_provguard_home_by_default(tmp_path: Path) -> None:
    creds = ensure_dev_credentials()
    assert creds.home == tmp_path / "default-home"
    assert default_signer().alg == "es256"
    assert load_watermark_key() == creds.watermark_key.read_bytes()


def test_init_is_idempotent_and_force_replaces(dev: keys.DevCredentials) -> None:
    files = (dev.root_cert, dev.signing_cert, dev.signing_key, dev.watermark_key, dev.config_path)
    before = [p.read_bytes() for p in files]
    again = init_dev_credentials(dev.home)
    assert not again.created
    assert again == keys.DevCredentials(**{**dev.__dict__, "created": False})
    assert [p.read_bytes() for p in files] == before
    assert not ensure_dev_credentials(dev.home).created

    forced = init_dev_credentials(dev.home, force=True)
    assert forced.created
    after = [p.read_bytes() for p in files[:4]]
    assert all(a != b for a, b in zip(after, before[:4], strict=True))
    assert _mode(dev.signing_key) == 0o600 and _mode(dev.watermark_key) == 0o600
    check_certificate_profile(dev.signing_cert.read_bytes(), dev.signing_key.read_bytes())
    assert sorted(p.name for p in dev.signing_key.parent.iterdir()) == sorted(p.name for p in files[:4])


def test_force_that_fails_midway_leaves_the_old_files(
    dev: keys.DevCredentials, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = (dev.root_cert, dev.signing_cert, dev.signing_key, dev.watermark_key)
    before = [p.read_bytes() for p in files]
    real_writer = keys.atomic_writer

    def failing_writer(path: Path, mode: int = 0o644):  # type: ignore[no-untyped-def]
        if path.name == keys.WATERMARK_KEY_FILE:
            raise OSError(28, "No space left on device")
        return real_writer(path, mode)

    monkeypatch.setattr(keys, "atomic_writer", failing_writer)
    with pytest.raises(OSError):
        init_dev_credentials(dev.home, force=True)
    assert [p.read_bytes() for p in files] == before
    assert sorted(p.name for p in dev.signing_key.parent.iterdir()) == sorted(p.name for p in files)


def test_incomplete_or_broken_dev_credentials_need_force(dev: keys.DevCredentials) -> None:
    dev.signing_key.write_bytes(key_pem(ec.generate_private_key(ec.SECP256R1())))
    with pytest.raises(CredentialError, match=r"key-matches-cert.*--force"):
        init_dev_credentials(dev.home)
    dev.signing_key.unlink()
    with pytest.raises(CredentialError, match=r"incomplete.*--force"):
        init_dev_credentials(dev.home)
    assert init_dev_credentials(dev.home, force=True).created


def test_init_keeps_a_watermark_key_that_exists(tmp_path: Path) -> None:
    home = tmp_path / "h"
    (home / "keys").mkdir(parents=True)
    wm = home / "keys" / keys.WATERMARK_KEY_FILE
    wm.write_bytes(bytes(range(32)))
    wm.chmod(0o600)
    creds = init_dev_credentials(home)
    assert creds.created
    assert load_watermark_key(load_config(home)) == bytes(range(32))


def test_init_keeps_the_users_own_signing_credentials_unless_forced(tmp_path: Path, root: CA) -> None:
    home = tmp_path / "h"
    mine = Config(home=home, signing_cert=tmp_path / "mine.pem", signing_key=tmp_path / "mine.key")
    write_config(mine)
    creds = init_dev_credentials(home)
    config = load_config(home)
    assert (config.signing_cert, config.signing_key) == (mine.signing_cert, mine.signing_key)
    assert config.trust_anchors == creds.root_cert and config.watermark_key == creds.watermark_key
    init_dev_credentials(home, force=True)
    assert load_config(home).signing_cert == creds.signing_cert


def test_default_signer_without_credentials_hints_at_keys_init(tmp_path: Path) -> None:
    with pytest.raises(CredentialError, match="provguard keys init"):
        default_signer(Config(home=tmp_path))
    with pytest.raises(CredentialError, match=r"does not exist.*provguard keys init"):
        default_signer(Config(home=tmp_path, signing_cert=tmp_path / "c", signing_key=tmp_path / "k"))


def test_watermark_key_must_be_private_and_32_bytes(dev: keys.DevCredentials, tmp_path: Path) -> None:
    config = load_config(dev.home)
    key = load_watermark_key(config)
    assert len(key) == 32 and key == dev.watermark_key.read_bytes()
    dev.watermark_key.chmod(0o640)
    with pytest.raises(CredentialError, match="chmod 600"):
        load_watermark_key(config)
    dev.watermark_key.chmod(0o604)
    with pytest.raises(CredentialError, match="chmod 600"):
        load_watermark_key(config)
    dev.watermark_key.chmod(0o600)
    dev.watermark_key.write_bytes(key + b"\n")
    with pytest.raises(CredentialError, match="exactly 32 bytes"):
        load_watermark_key(config)
    with pytest.raises(CredentialError, match="provguard keys init"):
        load_watermark_key(Config(home=tmp_path))
    with pytest.raises(CredentialError, match="does not exist"):
        load_watermark_key(Config(home=tmp_path, watermark_key=tmp_path / "nope"))


def test_init_refuses_an_open_watermark_key(dev: keys.DevCredentials) -> None:
    dev.watermark_key.chmod(0o644)
    with pytest.raises(CredentialError, match="chmod 600"):
        init_dev_credentials(dev.home)


def test_init_stops_on_a_malformed_config_before_writing(tmp_path: Path) -> None:
    home = tmp_path / "h"
    home.mkdir()
    (home / "config.toml").write_text("[signing\n")
    with pytest.raises(ConfigError):
        init_dev_credentials(home)
    assert not (home / "keys").exists()
