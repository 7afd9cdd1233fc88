"""Shared fixtures: an isolated provguard home per test, dev credentials, a foreign CA, real media made on the fly."""

from __future__ import annotations

import datetime as dt
import fractions
import functools
import io
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

# tests/provguard has no __init__.py, so with `.venv/bin/pytest` (rather than `python -m pytest`) the folder would
# shadow the real package as a namespace package; put the repository root first and import the real one now.
_REPO_ROOT = str(Path(__file__).resolve().parents[1])
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)
import provguard  # noqa: E402,F401 - pins the real package before any test module imports it

#: A picture size the image watermark accepts (its short side must be at least 256 px).
WATERMARKABLE_SIZE = (320, 256)
#: Every signable format the media factory makes, by short name.
SIGNABLE_FORMATS = ("jpeg", "png", "webp", "tiff", "wav", "flac", "mp3", "m4a", "mp4")
_EXTENSIONS = {
    "jpeg": ".jpg", "png": ".png", "webp": ".webp", "tiff": ".tif",
    "wav": ".wav", "flac": ".flac", "mp3": ".mp3", "m4a": ".m4a", "mp4": ".mp4",
}
_ENV_CLEARED = ("PROVGUARD_TRUST_ANCHORS", "PROVGUARD_MAX_BYTES", "PROVGUARD_DEBUG")


@pytest.fixture(autouse=True)
def _isolated_provguard_home(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Point PROVGUARD_HOME at a fresh directory and clear provguard's other variables (never the user's own)."""
    home = tmp_path_factory.mktemp("pg-home") / "home"
    monkeypatch.setenv("PROVGUARD_HOME", str(home))
    for name in _ENV_CLEARED:
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture
def provguard_home(_isolated_provguard_home: Path) -> Path:
    """The (not yet created) provguard home of this test."""
    return _isolated_provguard_home


@pytest.fixture
def dev_credentials(provguard_home: Path):  # noqa: ANN201 - provguard.keys.DevCredentials
    """Development root CA, signer and config in this test's home; the config trusts the dev root."""
    from provguard.keys import init_dev_credentials

    return init_dev_credentials(provguard_home)


@pytest.fixture
def dev_signer(dev_credentials):  # noqa: ANN001, ANN201 - DevCredentials -> LocalKeySigner
    """A LocalKeySigner for the dev signing certificate."""
    from provguard.keys import LocalKeySigner

    return LocalKeySigner.from_files(dev_credentials.signing_cert, dev_credentials.signing_key)


@pytest.fixture
def dev_root_pem(dev_credentials) -> bytes:  # noqa: ANN001 - DevCredentials
    """The dev root CA certificate (the trust anchor) as PEM bytes."""
    return dev_credentials.root_cert.read_bytes()


# --- a second, unrelated certificate authority -----------------------------------------------------------------


@dataclass(frozen=True)
class ForeignCA:
    """A CA unrelated to the dev root, with a profile-conforming signer: PEM bytes and their files."""

    root_pem: bytes
    chain_pem: bytes
    key_pem: bytes
    root_path: Path
    chain_path: Path
    key_path: Path


def make_ca(organisation: str, profile_ok: bool = True) -> tuple[bytes, bytes, bytes]:
    """Make (root PEM, signer PEM, key PEM) for a new P-256 CA; profile_ok=False adds keyCertSign to the signer."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.timezone.utc)
    root_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    root_name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
                           x509.NameAttribute(NameOID.COMMON_NAME, f"{organisation} root")])
    leaf_name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
                           x509.NameAttribute(NameOID.COMMON_NAME, f"{organisation} signer")])
    root_ski = x509.SubjectKeyIdentifier.from_public_key(root_key.public_key())

    def usage(sign: bool, cert_sign: bool) -> x509.KeyUsage:
        return x509.KeyUsage(digital_signature=sign, content_commitment=False, key_encipherment=False,
                             data_encipherment=False, key_agreement=False, key_cert_sign=cert_sign,
                             crl_sign=cert_sign, encipher_only=False, decipher_only=False)

    root = (
        x509.CertificateBuilder().subject_name(root_name).issuer_name(root_name)
        .public_key(root_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(usage(False, True), critical=True)
        .add_extension(root_ski, critical=False)
        .sign(root_key, hashes.SHA256())
    )
    leaf = (
        x509.CertificateBuilder().subject_name(leaf_name).issuer_name(root_name)
        .public_key(leaf_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage(True, not profile_ok), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(root_ski), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    key_pem = leaf_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return root.public_bytes(pem), leaf.public_bytes(pem), key_pem


def _write_ca(directory: Path, organisation: str, profile_ok: bool) -> ForeignCA:
    """Make a CA and write its three PEM files into directory."""
    directory.mkdir(parents=True, exist_ok=True)
    root_pem, chain_pem, key_pem = make_ca(organisation, profile_ok)
    paths = directory / "root.pem", directory / "chain.pem", directory / "signer.key"
    for path, data in zip(paths, (root_pem, chain_pem, key_pem), strict=True):
        path.write_bytes(data)
    paths[2].chmod(0o600)
    return ForeignCA(root_pem, chain_pem, key_pem, *paths)


@pytest.fixture
def foreign_ca(tmp_path: Path) -> ForeignCA:
    """A second CA, unrelated to the dev root, whose signer meets the C2PA certificate profile."""
    return _write_ca(tmp_path / "foreign-ca", "Unrelated Test CA", profile_ok=True)


@pytest.fixture
def bad_profile_ca(tmp_path: Path) -> ForeignCA:
    """A CA whose signer breaks the profile: its leaf has the keyCertSign key usage."""
    return _write_ca(tmp_path / "bad-ca", "Bad Profile Test CA", profile_ok=False)


# --- real media of every signable format -------------------------------------------------------------------------


def _pixels(seed: int, size: tuple[int, int] = (96, 64)) -> np.ndarray:
    """Smooth gradient plus seeded noise, as uint8 RGB of the given (width, height)."""
    rng = np.random.default_rng(seed)
    w, h = size
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x * 255 // w, y * 255 // h, (x + y) * 255 // (w + h)], axis=-1)
    return np.clip(base + rng.integers(-20, 20, base.shape), 0, 255).astype(np.uint8)


def _tone(seed: int, rate: int, seconds: float) -> np.ndarray:
    """A seeded tone with a little noise, float32 mono."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(rate * seconds)) / rate
    freq = 220 + 40 * (seed % 7)
    return (0.3 * np.sin(2 * np.pi * freq * t) + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


def _image(fmt: str, seed: int, size: tuple[int, int] | None = None) -> bytes:
    """Encode seeded pixels (96x64 unless size is given) with PIL."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(_pixels(seed, size or (96, 64))).save(buf, format=fmt)
    return buf.getvalue()


def _soundfile(fmt: str, seed: int, size: None = None) -> bytes:
    """Encode a seeded tone with soundfile (16-bit PCM, 16 kHz, 0.5 s)."""
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, _tone(seed, 16000, 0.5), 16000, format=fmt, subtype="PCM_16")
    return buf.getvalue()


def _mp3(seed: int, size: None = None) -> bytes:
    """Encode a seeded tone as MP3 with PyAV's libmp3lame."""
    import av

    if "libmp3lame" not in av.codecs_available:
        pytest.skip("PyAV has no libmp3lame encoder")
    rate = 44100
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp3") as container:
        stream = container.add_stream("libmp3lame", rate=rate)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(_tone(seed, rate, 0.5)[None, :], format="fltp", layout="mono")
        frame.sample_rate = rate
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    return buf.getvalue()


def m4a_bytes(
    samples: np.ndarray,
    rate: int,
    encoder: str = "aac",
    tracks: int = 1,
    title: str | None = None,
    cover: bytes | None = None,
    layout: str = "mono",
) -> bytes:
    """Encode float samples ((n,) mono or (n, channels) in `layout`) as an M4A with PyAV: `tracks` copies of the track.

    With `cover` (JPEG bytes), FFmpeg's MP4 muxer stores it as iTunes cover art (moov/udta/meta/ilst/covr), the
    way music stores write it, and the file is branded 'M4A ' as theirs are; so are codecs the iPod muxer refuses.
    """
    import av

    frames = np.asarray(samples, np.float32).reshape(len(samples), -1).T  # channels x samples
    plain = cover is None and encoder in ("aac", "alac")  # what the iPod muxer takes; MP4's is branded M4A below
    buf = io.BytesIO()
    with av.open(buf, "w", format="ipod" if plain else "mp4") as container:
        if title is not None:
            container.metadata["title"] = title
        streams = [container.add_stream(encoder, rate=rate, layout=layout) for _ in range(tracks)]
        if cover is not None:
            art = container.add_stream("mjpeg")
            art.width, art.height, art.pix_fmt = 64, 64, "yuvj420p"
            art.time_base = fractions.Fraction(1, 90000)
            art.disposition = av.stream.Disposition.attached_pic
            packet = av.Packet(cover)
            packet.stream, packet.pts, packet.dts, packet.time_base = art, 0, 0, art.time_base
            container.mux(packet)
        for stream in streams:  # packed samples: PyAV cannot fill a planar frame of 8 channels (7.1)
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(frames.T).reshape(1, -1), format="flt",
                                               layout=layout)
            frame.sample_rate, frame.pts = rate, 0
            for packet in [*stream.encode(frame), *stream.encode(None)]:
                container.mux(packet)
    data = buf.getvalue()
    return data if plain else data[:8] + b"M4A " + data[12:]


def _m4a(seed: int, _size: tuple[int, int] | None = None) -> bytes:
    """A seeded tone as AAC in an M4A, with a title tag."""
    return m4a_bytes(_tone(seed, 44100, 0.5), 44100, title=f"tone {seed}")


def _h264_encoder() -> str:
    """Name an H.264 encoder PyAV has, or skip."""
    import av

    for name in ("libx264", "h264", "libopenh264"):
        if name in av.codecs_available:
            return name
    pytest.skip("PyAV has no H.264 encoder")


def _mp4(seed: int, size: tuple[int, int] | None = None) -> bytes:
    """Encode six seeded frames (64x48 unless size is given) as H.264 in MP4 with PyAV."""
    import av

    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as container:
        stream = container.add_stream(_h264_encoder(), rate=10)
        width, height = size or (64, 48)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast"}
        for index in range(6):
            frame = av.VideoFrame.from_ndarray(_pixels(seed * 100 + index, (width, height)), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buf.getvalue()


@functools.lru_cache(maxsize=64)
def make_media(fmt: str, seed: int = 0, size: tuple[int, int] | None = None) -> bytes:
    """Return real, unsigned media bytes of a signable format (same seed -> same bytes); size is (w, h) for pictures."""
    makers: dict[str, Callable[[int, tuple[int, int] | None], bytes]] = {
        "jpeg": functools.partial(_image, "JPEG"),
        "png": functools.partial(_image, "PNG"),
        "webp": functools.partial(_image, "WEBP"),
        "tiff": functools.partial(_image, "TIFF"),
        "wav": functools.partial(_soundfile, "WAV"),
        "flac": functools.partial(_soundfile, "FLAC"),
        "mp3": _mp3,
        "m4a": _m4a,
        "mp4": _mp4,
    }
    return makers[fmt](seed, size)


def extension(fmt: str) -> str:
    """The usual file extension of a factory format."""
    return _EXTENSIONS[fmt]


@pytest.fixture
def media() -> Callable[..., bytes]:
    """Factory: media(fmt, seed=0, size=None) -> bytes of a real, unsigned file (fmt in SIGNABLE_FORMATS)."""
    return make_media


@pytest.fixture
def media_file(tmp_path: Path) -> Callable[..., Path]:
    """Factory: media_file(fmt, name=None, seed=0, size=None) -> path of a real, unsigned file under tmp_path."""

    def write(fmt: str, name: str | None = None, seed: int = 0, size: tuple[int, int] | None = None) -> Path:
        path = tmp_path / (name or f"{fmt}-{seed}{_EXTENSIONS[fmt]}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(make_media(fmt, seed, size))
        return path

    return write


@pytest.fixture
def signed_file(tmp_path: Path, dev_signer) -> Callable[..., Path]:  # noqa: ANN001 - LocalKeySigner
    """Factory: signed_file(fmt, name=None, seed=0, **sign_kwargs) -> a file C2PA-signed by the dev signer, unmarked."""
    from provguard.sign import sign_bytes

    def write(fmt: str, name: str | None = None, seed: int = 0, **kwargs: object) -> Path:
        path = tmp_path / (name or f"signed-{fmt}-{seed}{_EXTENSIONS[fmt]}")
        path.parent.mkdir(parents=True, exist_ok=True)
        kwargs.setdefault("title", path.name)
        kwargs.setdefault("watermark", False)
        path.write_bytes(sign_bytes(make_media(fmt, seed), signer=dev_signer, **kwargs))  # type: ignore[arg-type]
        return path

    return write


def bmff_box(data: bytes, name: bytes) -> tuple[int, int]:
    """Return (payload start, payload end) of the first top-level ISO-BMFF box called name."""
    pos = 0
    while pos + 8 <= len(data):
        size, box = int.from_bytes(data[pos : pos + 4], "big"), data[pos + 4 : pos + 8]
        header = 8
        if size == 1:
            size, header = int.from_bytes(data[pos + 8 : pos + 16], "big"), 16
        elif size == 0:
            size = len(data) - pos
        if box == name:
            return pos + header, pos + size
        pos += size
    raise AssertionError(f"no {name!r} box")


def flip_mdat_byte(data: bytes) -> bytes:
    """Flip one bit in the middle of an MP4's mdat payload."""
    start, end = bmff_box(data, b"mdat")
    out = bytearray(data)
    out[(start + end) // 2] ^= 0x01
    return bytes(out)


def payload_draws(seed: int) -> tuple[list[int], Callable[[], int]]:
    """A stand-in for the manifest store's fresh payloads: a seeded draw, and the list of those drawn so far."""
    rng = np.random.default_rng(seed)
    drawn: list[int] = []

    def draw() -> int:
        drawn.append(int(rng.integers(0, 2**63)))
        return drawn[-1]

    return drawn, draw


@pytest.fixture
def helpers():  # noqa: ANN201 - a namespace of helper functions
    """Helpers for tests: bmff_box, flip_mdat_byte, make_ca, extension, formats, watermarkable_size, m4a,
    payload_draws."""
    import types

    return types.SimpleNamespace(bmff_box=bmff_box, flip_mdat_byte=flip_mdat_byte, make_ca=make_ca,
                                 extension=extension, formats=SIGNABLE_FORMATS,
                                 watermarkable_size=WATERMARKABLE_SIZE, m4a=m4a_bytes, payload_draws=payload_draws)
