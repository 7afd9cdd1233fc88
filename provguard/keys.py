"""Signing credentials: the dev CA, PEM chains and keys, the C2PA certificate profile, and the watermark key."""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import socket
import stat
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID, ObjectIdentifier

from provguard.config import CONFIG_FILENAME, Config, ensure_home, load_config, provguard_home, write_config
from provguard.errors import CertificateProfileError, CredentialError, SigningError
from provguard.fileio import atomic_writer

# --- the C2PA certificate profile -------------------------------------------------------------------------

EKU_EMAIL_PROTECTION = "1.3.6.1.5.5.7.3.4"
EKU_DOCUMENT_SIGNING = "1.3.6.1.5.5.7.3.36"
EKU_TIME_STAMPING = "1.3.6.1.5.5.7.3.8"
EKU_OCSP_SIGNING = "1.3.6.1.5.5.7.3.9"
EKU_MS_C2PA_SIGNING = "1.3.6.1.4.1.311.76.59.1.9"
EKU_C2PA_CLAIM_SIGNING = "1.3.6.1.4.1.62558.2.1"
EKU_ANY = "2.5.29.37.0"

_EKU_NAMES: dict[str, str] = {
    EKU_EMAIL_PROTECTION: "id-kp-emailProtection",
    EKU_DOCUMENT_SIGNING: "id-kp-documentSigning",
    EKU_TIME_STAMPING: "id-kp-timeStamping",
    EKU_OCSP_SIGNING: "id-kp-OCSPSigning",
    EKU_MS_C2PA_SIGNING: "MS C2PA Signing",
    EKU_C2PA_CLAIM_SIGNING: "c2pa-kp-claimSigning",
}

ALLOWED_EKU_OIDS: tuple[str, ...] = tuple(_EKU_NAMES)
"""The EKUs a signing certificate may carry; the verifier passes them to c2pa as trust_config."""

DEV_SIGNER_EKU_OIDS: tuple[str, ...] = (EKU_EMAIL_PROTECTION, EKU_DOCUMENT_SIGNING)
"""The dev signer's EKUs: emailProtection passes c2pa-rs with or without trust_config; documentSigning states intent."""

_ALLOWED_SIGNATURE_ALGORITHMS: dict[str, str] = {
    "1.2.840.10045.4.3.2": "ecdsa-with-SHA256",
    "1.2.840.10045.4.3.3": "ecdsa-with-SHA384",
    "1.2.840.10045.4.3.4": "ecdsa-with-SHA512",
    "1.2.840.113549.1.1.11": "sha256WithRSAEncryption",
    "1.2.840.113549.1.1.12": "sha384WithRSAEncryption",
    "1.2.840.113549.1.1.13": "sha512WithRSAEncryption",
    "1.2.840.113549.1.1.10": "RSASSA-PSS",
    "1.3.101.112": "Ed25519",
}

_EC_CURVE_ALGS: dict[str, str] = {"secp256r1": "es256", "secp384r1": "es384", "secp521r1": "es512"}
_EC_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "es256": hashes.SHA256,
    "es384": hashes.SHA384,
    "es512": hashes.SHA512,
}
_PS_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "ps256": hashes.SHA256,
    "ps384": hashes.SHA384,
    "ps512": hashes.SHA512,
}
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
SIGNING_ALGS: tuple[str, ...] = ("es256", "es384", "es512", "ps256", "ps384", "ps512", "ed25519")
MIN_RSA_BITS = 2048
DEFAULT_MAX_PEM_BYTES = 1 << 20


def trust_config_text() -> str:
    """Return the c2pa `trust.trust_config` string: the allowed EKU OIDs, one per line, each after a // comment."""
    return "".join(f"//{_EKU_NAMES[oid]}\n{oid}\n" for oid in ALLOWED_EKU_OIDS)


def _utc(moment: _dt.datetime | None) -> _dt.datetime:
    """Return `moment` (naive means UTC) or now, as an aware UTC datetime."""
    if moment is None:
        return _dt.datetime.now(_dt.UTC)
    if moment.tzinfo is None:
        return moment.replace(tzinfo=_dt.UTC)
    return moment.astimezone(_dt.UTC)


def _subject(cert: x509.Certificate) -> str:
    """The certificate's subject as an RFC 4514 string."""
    return cert.subject.rfc4514_string() or "(empty subject)"


def load_certificate_chain(chain_pem: bytes) -> list[x509.Certificate]:
    """Parse a PEM chain (leaf first); CredentialError if it holds no certificate or cannot be parsed."""
    if len(chain_pem) > DEFAULT_MAX_PEM_BYTES:
        raise CredentialError(f"the certificate chain is larger than {DEFAULT_MAX_PEM_BYTES} bytes")
    if b"-----BEGIN CERTIFICATE-----" not in chain_pem:
        raise CredentialError("the certificate chain holds no PEM certificate")
    try:
        certs = x509.load_pem_x509_certificates(chain_pem)
    except ValueError as exc:
        raise CredentialError(f"the certificate chain cannot be parsed: {' '.join(str(exc).split())}") from exc
    return certs


def load_private_key(key_pem: bytes, password: bytes | None = None) -> PrivateKey:
    """Parse a PEM private key (EC, RSA or Ed25519); the error never quotes the key."""
    if len(key_pem) > DEFAULT_MAX_PEM_BYTES:
        raise CredentialError(f"the private key file is larger than {DEFAULT_MAX_PEM_BYTES} bytes")
    try:
        key = serialization.load_pem_private_key(key_pem, password=password)
    except TypeError as exc:
        raise CredentialError(f"the private key cannot be read: {exc}") from exc
    except (ValueError, UnsupportedAlgorithm):
        raise CredentialError(
            "the private key cannot be read (not a PEM private key, wrong password, or unsupported type)"
        ) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey):
        raise CertificateProfileError("key-algorithm", f"private key type {type(key).__name__} is not allowed")
    return key


def alg_for_public_key(public_key: object) -> str:
    """Return the c2pa alg for a public key (P-256 -> es256, RSA -> ps256, ...) or refuse it ('key-algorithm')."""
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        alg = _EC_CURVE_ALGS.get(public_key.curve.name)
        if alg is None:
            raise CertificateProfileError(
                "key-algorithm", f"elliptic curve {public_key.curve.name} is not allowed (P-256, P-384 or P-521)"
            )
        return alg
    if isinstance(public_key, rsa.RSAPublicKey):
        if public_key.key_size < MIN_RSA_BITS:
            raise CertificateProfileError(
                "key-algorithm", f"RSA key of {public_key.key_size} bits is too small (at least {MIN_RSA_BITS})"
            )
        return "ps256"
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return "ed25519"
    raise CertificateProfileError(
        "key-algorithm", f"public key type {type(public_key).__name__} is not allowed (EC P-256/384/521, RSA, Ed25519)"
    )


def _alg_matches_key(alg: str, public_key: object) -> bool:
    """True if a c2pa alg can be produced by the given public key's type and size."""
    natural = alg_for_public_key(public_key)
    if natural.startswith("ps"):
        return alg in _PS_HASHES
    return alg == natural


def _extension(cert: x509.Certificate, ext_type: type[x509.ExtensionType]) -> x509.ExtensionType | None:
    """Return the value of an extension, or None if the certificate lacks it."""
    try:
        return cert.extensions.get_extension_for_class(ext_type).value
    except x509.ExtensionNotFound:
        return None
    except ValueError as exc:
        raise CredentialError(f"certificate {_subject(cert)} has a malformed extension: {exc}") from exc


def _is_self_signed(cert: x509.Certificate) -> bool:
    """True if the certificate is issued by its own subject and verifies under its own key."""
    if cert.issuer != cert.subject:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def _check_chain_links(certs: list[x509.Certificate]) -> None:
    """Each certificate must be issued (name and signature) by the next one, which must be a CA."""
    for index in range(len(certs) - 1):
        child, parent = certs[index], certs[index + 1]
        where = (
            f"certificate {index + 1} ({_subject(child)}) is not issued by certificate {index + 2} ({_subject(parent)})"
        )
        if child.issuer != parent.subject:
            raise CertificateProfileError("chain", f"{where}: issuer name differs; order the PEM leaf first")
        try:
            child.verify_directly_issued_by(parent)
        except UnsupportedAlgorithm:
            pass
        except (ValueError, TypeError, InvalidSignature) as exc:
            raise CertificateProfileError("chain", f"{where}: the signature does not verify") from exc
        constraints = _extension(parent, x509.BasicConstraints)
        if constraints is None or not constraints.ca:  # type: ignore[attr-defined]
            raise CertificateProfileError("chain", f"intermediate {_subject(parent)} is not a CA certificate")


def check_certificate_profile(
    chain_pem: bytes, private_key_pem: bytes | None = None, now: _dt.datetime | None = None
) -> None:
    """Check a PEM chain (leaf first) and optional key against the C2PA profile; raise CertificateProfileError."""
    certs = load_certificate_chain(chain_pem)
    key = load_private_key(private_key_pem) if private_key_pem is not None else None
    check_certificates(certs, key, now)


def check_certificates(
    certs: list[x509.Certificate], private_key: PrivateKey | None = None, now: _dt.datetime | None = None
) -> None:
    """Check parsed certificates (leaf first) and an optional private key against the C2PA profile."""
    if not certs:
        raise CredentialError("the certificate chain is empty")
    moment = _utc(now)
    leaf = certs[0]
    for cert in certs:
        if cert.version != x509.Version.v3:
            raise CertificateProfileError("x509-v3", f"{_subject(cert)} is X.509 {cert.version.name}, not v3")
    if _is_self_signed(leaf):
        raise CertificateProfileError(
            "not-self-signed", f"the signing certificate {_subject(leaf)} is self-signed; it must be issued by a CA"
        )
    alg_for_public_key(leaf.public_key())
    for cert in certs:
        oid = cert.signature_algorithm_oid.dotted_string
        if oid not in _ALLOWED_SIGNATURE_ALGORITHMS:
            raise CertificateProfileError(
                "signature-algorithm", f"{_subject(cert)} is signed with {oid}, which the profile does not allow"
            )
    for cert in certs:
        if moment < cert.not_valid_before_utc:
            raise CertificateProfileError(
                "validity", f"{_subject(cert)} is not valid before {cert.not_valid_before_utc.isoformat()}"
            )
        if moment > cert.not_valid_after_utc:
            raise CertificateProfileError(
                "validity", f"{_subject(cert)} expired on {cert.not_valid_after_utc.isoformat()}"
            )
    constraints = _extension(leaf, x509.BasicConstraints)
    if constraints is not None and constraints.ca:  # type: ignore[attr-defined]
        raise CertificateProfileError("basic-constraints-ca", f"the signing certificate {_subject(leaf)} is a CA")
    if _extension(leaf, x509.AuthorityKeyIdentifier) is None:
        raise CertificateProfileError(
            "authority-key-identifier", f"the signing certificate {_subject(leaf)} has no authority key identifier"
        )
    usage = _extension(leaf, x509.KeyUsage)
    if usage is None or not usage.digital_signature:  # type: ignore[attr-defined]
        raise CertificateProfileError(
            "key-usage-digital-signature",
            f"the signing certificate {_subject(leaf)} lacks the digitalSignature key usage",
        )
    if usage.key_cert_sign:  # type: ignore[attr-defined]
        raise CertificateProfileError(
            "key-usage-no-cert-sign", f"the signing certificate {_subject(leaf)} has the keyCertSign key usage"
        )
    eku = _extension(leaf, x509.ExtendedKeyUsage)
    eku_oids = [oid.dotted_string for oid in eku] if eku is not None else []  # type: ignore[attr-defined]
    if EKU_ANY in eku_oids:
        raise CertificateProfileError("no-any-eku", f"the signing certificate {_subject(leaf)} has anyExtendedKeyUsage")
    if not any(oid in ALLOWED_EKU_OIDS for oid in eku_oids):
        allowed = ", ".join(f"{_EKU_NAMES[o]} ({o})" for o in ALLOWED_EKU_OIDS)
        found = ", ".join(eku_oids) if eku_oids else "none"
        raise CertificateProfileError(
            "extended-key-usage",
            f"the signing certificate {_subject(leaf)} has no allowed extended key usage "
            f"(has: {found}; allowed: {allowed})",
        )
    _check_chain_links(certs)
    if private_key is not None:
        check_key_matches(leaf, private_key)


def check_key_matches(leaf: x509.Certificate, private_key: PrivateKey) -> None:
    """Refuse a private key whose public half is not the leaf certificate's key ('key-matches-cert')."""
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if private_key.public_key().public_bytes(*spki) != leaf.public_key().public_bytes(*spki):
        raise CertificateProfileError(
            "key-matches-cert", f"the private key does not belong to the signing certificate {_subject(leaf)}"
        )


def verify_signature(leaf: x509.Certificate, alg: str, data: bytes, signature: bytes) -> bool:
    """True if `signature` (DER or raw r||s for ECDSA) over `data` verifies under the leaf's key for `alg`."""
    public_key = leaf.public_key()
    try:
        if isinstance(public_key, ec.EllipticCurvePublicKey) and alg in _EC_HASHES:
            der = _raw_to_der(signature, public_key.curve.key_size) or signature
            public_key.verify(der, data, ec.ECDSA(_EC_HASHES[alg]()))
        elif isinstance(public_key, rsa.RSAPublicKey) and alg in _PS_HASHES:
            digest = _PS_HASHES[alg]()
            public_key.verify(signature, data, _pss(digest), digest)
        elif isinstance(public_key, ed25519.Ed25519PublicKey) and alg == "ed25519":
            public_key.verify(signature, data)
        else:
            return False
    except (InvalidSignature, ValueError):
        return False
    return True


def _raw_to_der(signature: bytes, curve_bits: int) -> bytes | None:
    """Convert a raw r||s ECDSA signature to DER, or None if it is not raw-sized."""
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    size = (curve_bits + 7) // 8
    if len(signature) != 2 * size:
        return None
    return encode_dss_signature(int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big"))


def _pss(digest: hashes.HashAlgorithm) -> padding.PSS:
    """RSASSA-PSS padding as COSE PS256/384/512 use it: MGF1 with the same hash, salt = hash length."""
    return padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)


# --- signers -----------------------------------------------------------------------------------------------


@runtime_checkable
class Signer(Protocol):
    """What provguard.manifest signs with: a c2pa alg, a PEM chain (leaf first, no root) and a sign callable."""

    alg: str
    tsa_url: str | None

    def certificate_chain_pem(self) -> bytes:
        """The PEM chain: leaf first, then intermediates."""
        ...

    def sign(self, data: bytes) -> bytes:
        """Sign `data`; ECDSA signatures may be DER or raw r||s."""
        ...


def _normalise_chain(certs: list[x509.Certificate]) -> bytes:
    """Re-encode parsed certificates as one PEM blob."""
    return b"".join(cert.public_bytes(serialization.Encoding.PEM) for cert in certs)


class LocalKeySigner:
    """A signer holding a PEM private key in memory; its chain is checked against the profile when loaded."""

    def __init__(
        self,
        certificate_chain_pem: bytes,
        private_key_pem: bytes,
        tsa_url: str | None = None,
        password: bytes | None = None,
        now: _dt.datetime | None = None,
    ) -> None:
        """Load and check the chain and key; raise CertificateProfileError naming the broken rule."""
        certs = load_certificate_chain(certificate_chain_pem)
        key = load_private_key(private_key_pem, password)
        check_certificates(certs, key, now)
        self._certs = certs
        self._key = key
        self._chain_pem = _normalise_chain(certs)
        self.alg: str = alg_for_public_key(certs[0].public_key())
        self.tsa_url: str | None = tsa_url

    @classmethod
    def from_files(
        cls, cert: Path, key: Path, tsa_url: str | None = None, password: bytes | None = None
    ) -> LocalKeySigner:
        """Load a PEM chain file and a PEM key file."""
        chain_pem = _read_secretless(Path(cert), "certificate chain")
        key_pem = _read_secretless(Path(key), "private key")
        return cls(chain_pem, key_pem, tsa_url=tsa_url, password=password)

    @property
    def leaf(self) -> x509.Certificate:
        """The signing (end-entity) certificate."""
        return self._certs[0]

    def certificate_chain_pem(self) -> bytes:
        """The PEM chain: leaf first, then intermediates."""
        return self._chain_pem

    def sign(self, data: bytes) -> bytes:
        """Sign `data` (ECDSA as raw r||s, RSA as PSS, or Ed25519)."""
        key = self._key
        if isinstance(key, ec.EllipticCurvePrivateKey):
            der = key.sign(bytes(data), ec.ECDSA(_EC_HASHES[self.alg]()))
            r, s = decode_dss_signature(der)
            size = (key.curve.key_size + 7) // 8
            return r.to_bytes(size, "big") + s.to_bytes(size, "big")
        if isinstance(key, rsa.RSAPrivateKey):
            digest = _PS_HASHES[self.alg]()
            return key.sign(bytes(data), _pss(digest), digest)
        return key.sign(bytes(data))

    def __repr__(self) -> str:
        return f"LocalKeySigner(alg={self.alg!r}, subject={_subject(self.leaf)!r})"


class CallbackSigner:
    """A signer whose signature comes from a callable (a KMS or HSM client); the chain is checked at construction."""

    def __init__(
        self,
        callback: Callable[[bytes], bytes],
        certificate_chain_pem: bytes,
        alg: str = "es256",
        tsa_url: str | None = None,
        now: _dt.datetime | None = None,
    ) -> None:
        """Check the chain's profile and that `alg` fits the leaf key."""
        if not callable(callback):
            raise CredentialError("the signing callback is not callable")
        alg = alg.lower()
        if alg not in SIGNING_ALGS:
            raise CredentialError(f"unknown signing alg {alg!r} (one of {', '.join(SIGNING_ALGS)})")
        certs = load_certificate_chain(certificate_chain_pem)
        check_certificates(certs, None, now)
        if not _alg_matches_key(alg, certs[0].public_key()):
            raise CredentialError(
                f"signing alg {alg} does not fit the certificate's key "
                f"(use {alg_for_public_key(certs[0].public_key())})"
            )
        self._callback = callback
        self._certs = certs
        self._chain_pem = _normalise_chain(certs)
        self.alg: str = alg
        self.tsa_url: str | None = tsa_url

    @property
    def leaf(self) -> x509.Certificate:
        """The signing (end-entity) certificate."""
        return self._certs[0]

    def certificate_chain_pem(self) -> bytes:
        """The PEM chain: leaf first, then intermediates."""
        return self._chain_pem

    def sign(self, data: bytes) -> bytes:
        """Call the callback; its failures become SigningError."""
        try:
            signature = self._callback(bytes(data))
        except Exception as exc:  # the callback is foreign code (KMS client, HSM driver)
            raise SigningError(f"the signing callback failed: {type(exc).__name__}: {exc}") from exc
        if not isinstance(signature, bytes | bytearray | memoryview) or len(signature) == 0:
            raise SigningError("the signing callback returned no signature bytes")
        return bytes(signature)

    def __repr__(self) -> str:
        return f"CallbackSigner(alg={self.alg!r}, subject={_subject(self.leaf)!r})"


def check_signer(signer: Signer, probe: bytes = b"provguard signer self-test") -> None:
    """Sign a probe and verify it under the signer's leaf certificate ('key-matches-cert' if it fails)."""
    leaf = load_certificate_chain(signer.certificate_chain_pem())[0]
    if not verify_signature(leaf, signer.alg, probe, signer.sign(probe)):
        raise CertificateProfileError(
            "key-matches-cert", f"the signer's signature does not verify under {_subject(leaf)}"
        )


def _read_secretless(path: Path, what: str) -> bytes:
    """Read a credential file with a size limit; the error names the path, never the content."""
    try:
        with path.open("rb") as fh:
            data = fh.read(DEFAULT_MAX_PEM_BYTES + 1)
    except OSError as exc:
        raise CredentialError(f"cannot read the {what} {path}: {exc.strerror or exc}") from exc
    if len(data) > DEFAULT_MAX_PEM_BYTES:
        raise CredentialError(f"the {what} {path} is larger than {DEFAULT_MAX_PEM_BYTES} bytes")
    return data


# --- development credentials ---------------------------------------------------------------------------------

KEYS_DIRNAME = "keys"
DEV_ROOT_CERT = "dev-root-ca.pem"
DEV_SIGNING_CERT = "dev-signer-chain.pem"
DEV_SIGNING_KEY = "dev-signer.key"
WATERMARK_KEY_FILE = "watermark.key"
WATERMARK_KEY_BYTES = 32
ROOT_VALIDITY = _dt.timedelta(days=3650)
SIGNER_VALIDITY = _dt.timedelta(days=730)
BACKDATE = _dt.timedelta(minutes=10)
_DEV_ORG = "provguard development (untrusted outside this machine)"


@dataclass(frozen=True)
class DevCredentials:
    """The dev root, signer chain, signer key, watermark key and config paths; created: this call made a file."""

    home: Path
    root_cert: Path
    signing_cert: Path
    signing_key: Path
    watermark_key: Path
    config_path: Path
    created: bool


def _dev_paths(home: Path) -> DevCredentials:
    """The fixed dev credential paths under a home (created=False)."""
    keys = home / KEYS_DIRNAME
    return DevCredentials(
        home=home,
        root_cert=keys / DEV_ROOT_CERT,
        signing_cert=keys / DEV_SIGNING_CERT,
        signing_key=keys / DEV_SIGNING_KEY,
        watermark_key=keys / WATERMARK_KEY_FILE,
        config_path=home / CONFIG_FILENAME,
        created=False,
    )


def _name(common_name: str) -> x509.Name:
    """A subject with the given CN and the dev organisation."""
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64]),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, _DEV_ORG),
        ]
    )


def make_dev_credentials(now: _dt.datetime | None = None, hostname: str | None = None) -> tuple[bytes, bytes, bytes]:
    """Generate (root CA PEM, signer certificate PEM, signer PKCS#8 key PEM): P-256 keys from the OS CSPRNG."""
    moment = _utc(now)
    host = hostname if hostname is not None else (socket.gethostname() or "localhost")
    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = _name(f"provguard dev root CA ({host})")
    root_ski = x509.SubjectKeyIdentifier.from_public_key(root_key.public_key())
    root = (
        x509.CertificateBuilder()
        .subject_name(root_name)
        .issuer_name(root_name)
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(moment - BACKDATE)
        .not_valid_after(moment + ROOT_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(root_ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(root_ski), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    signer_key = ec.generate_private_key(ec.SECP256R1())
    signer = (
        x509.CertificateBuilder()
        .subject_name(_name(f"provguard dev signer ({host})"))
        .issuer_name(root_name)
        .public_key(signer_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(moment - BACKDATE)
        .not_valid_after(moment + SIGNER_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ObjectIdentifier(oid) for oid in DEV_SIGNER_EKU_OIDS]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(signer_key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(root_ski), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    key_pem = signer_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return root.public_bytes(pem), signer.public_bytes(pem), key_pem


def _check_existing_dev(paths: DevCredentials) -> None:
    """Refuse existing dev credentials that are unusable (profile, key mismatch, not issued by the dev root)."""
    chain = _read_secretless(paths.signing_cert, "dev signing certificate")
    key = _read_secretless(paths.signing_key, "dev signing key")
    root_pem = _read_secretless(paths.root_cert, "dev root certificate")
    certs = load_certificate_chain(chain)
    check_certificates(certs + load_certificate_chain(root_pem)[:1], load_private_key(key))


def _write_files(files: list[tuple[Path, bytes, int]]) -> None:
    """Write several files, each atomically (temp + rename), all temps ready before the first rename."""
    with contextlib.ExitStack() as stack:
        for path, data, mode in files:
            stack.enter_context(atomic_writer(path, mode)).write(data)


def init_dev_credentials(home: Path | None = None, force: bool = False) -> DevCredentials:
    """Create the dev root CA, ES256 signer and watermark key under home/keys and point config.toml at them."""
    home = Path(home).expanduser().absolute() if home is not None else provguard_home()
    config = load_config(home)  # a malformed config stops us before anything is written
    paths = _dev_paths(home)
    ensure_home(home)
    keys_dir = paths.root_cert.parent
    try:
        keys_dir.mkdir(mode=0o700, exist_ok=True)
        os.chmod(keys_dir, 0o700)
    except OSError as exc:
        raise CredentialError(f"cannot create the key directory {keys_dir}: {exc.strerror or exc}") from exc

    files: list[tuple[Path, bytes, int]] = []
    signing = (paths.root_cert, paths.signing_cert, paths.signing_key)
    present = [p.exists() for p in signing]
    if force or not any(present):
        root_pem, cert_pem, key_pem = make_dev_credentials()
        files += [
            (paths.signing_key, key_pem, 0o600),
            (paths.signing_cert, cert_pem, 0o644),
            (paths.root_cert, root_pem, 0o644),
        ]
    elif not all(present):
        missing = ", ".join(str(p) for p, ok in zip(signing, present, strict=True) if not ok)
        raise CredentialError(
            f"incomplete dev credentials in {keys_dir} (missing {missing}); "
            "run `provguard keys init --force` to replace them"
        )
    else:
        try:
            _check_existing_dev(paths)
        except CredentialError as exc:
            raise CredentialError(
                f"existing dev credentials in {keys_dir} are unusable ({exc}); "
                "run `provguard keys init --force` to replace them"
            ) from exc
    if force or not paths.watermark_key.exists():
        files.append((paths.watermark_key, os.urandom(WATERMARK_KEY_BYTES), 0o600))
    else:
        read_watermark_key(paths.watermark_key)
    _write_files(files)

    updated = _point_config_at(config, paths, force)
    if updated != config or not config.path.exists():
        write_config(updated)
    return replace(paths, created=bool(files))


def _point_config_at(config: Config, paths: DevCredentials, force: bool) -> Config:
    """Set the config's credential fields to the dev files, keeping fields that point elsewhere unless force."""
    wanted = {
        "signing_cert": paths.signing_cert,
        "signing_key": paths.signing_key,
        "trust_anchors": paths.root_cert,
        "watermark_key": paths.watermark_key,
    }
    if not force and config.signing_cert not in (None, paths.signing_cert):
        # the user configured their own signing credentials: keep the pair together
        wanted.pop("signing_cert")
        wanted.pop("signing_key")
    changes: dict[str, Any] = {
        name: value for name, value in wanted.items() if force or getattr(config, name) in (None, value)
    }
    return replace(config, **changes)


def ensure_dev_credentials(home: Path | None = None) -> DevCredentials:
    """Create the dev credentials only if they are missing; reuse them otherwise."""
    return init_dev_credentials(home, force=False)


def default_signer(config: Config | None = None) -> Signer:
    """Return a LocalKeySigner for the configured signing certificate and key."""
    config = config if config is not None else load_config()
    hint = "run `provguard keys init` or pass --cert and --key"
    if config.signing_cert is None or config.signing_key is None:
        raise CredentialError(f"no signing certificate and key configured in {config.path}; {hint}")
    for path in (config.signing_cert, config.signing_key):
        if not path.is_file():
            raise CredentialError(f"the configured signing file {path} does not exist; {hint}")
    return LocalKeySigner.from_files(config.signing_cert, config.signing_key, tsa_url=config.tsa_url)


def read_watermark_key(path: Path) -> bytes:
    """Read a 32-byte watermark key file, refusing one readable or writable by group or others."""
    path = Path(path)
    hint = "run `provguard keys init` to create one"
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        raise CredentialError(f"the watermark key {path} does not exist; {hint}") from None
    except OSError as exc:
        raise CredentialError(f"cannot open the watermark key {path}: {exc.strerror or exc}") from exc
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fh.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise CredentialError(f"the watermark key {path} is not a regular file")
        if info.st_mode & 0o077:
            raise CredentialError(
                f"the watermark key {path} is accessible by group or others "
                f"(mode {stat.S_IMODE(info.st_mode):04o}); run `chmod 600 {path}`"
            )
        data = fh.read(WATERMARK_KEY_BYTES + 1)
    if len(data) != WATERMARK_KEY_BYTES:
        raise CredentialError(
            f"the watermark key {path} must hold exactly {WATERMARK_KEY_BYTES} bytes "
            f"(run `provguard keys init --force` to replace it; earlier watermarks then no longer verify)"
        )
    return data


def load_watermark_key(config: Config | None = None) -> bytes:
    """Return the configured 32-byte watermark key (CredentialError if missing, wrong size or too open)."""
    config = config if config is not None else load_config()
    if config.watermark_key is None:
        raise CredentialError(f"no watermark key configured in {config.path}; run `provguard keys init`")
    return read_watermark_key(config.watermark_key)

