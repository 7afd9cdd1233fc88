"""The demo: sign media made by the reference generator, then verify them, a tampered copy and a stripped copy."""

from __future__ import annotations

import io
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from provguard.media import JPEG, PNG, WAV, MediaKind, sniff
from provguard.report import ABSENT, INVALID, TRUSTED


@dataclass(frozen=True)
class DemoRow:
    """One line of the demo table."""

    sample: str
    variant: str
    expected: str
    state: str
    codes: str
    watermark: str = "-"
    expected_watermark: str = "-"
    detector: str = "-"

    @property
    def as_expected(self) -> bool:
        """True when the observed provenance state and watermark outcome are the expected ones."""
        return self.state == self.expected and self.watermark == self.expected_watermark


def synthetic_image(seed: int = 0, size: tuple[int, int] = (512, 384)) -> np.ndarray:
    """Make a smooth synthetic RGB picture (gradients, discs and texture) as uint8."""
    rng = np.random.default_rng(seed)
    w, h = size
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([x / w, y / h, 0.5 + 0.5 * np.sin((x + y) / 40.0)], axis=-1) * 200.0
    for _ in range(6):
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(20, 90)
        mask = (x - cx) ** 2 + (y - cy) ** 2 < r**2
        img[mask] = rng.uniform(0, 255, 3)
    img += rng.normal(0, 4, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def synthetic_speechlike(seed: int = 0, seconds: float = 4.0, rate: int = 16000) -> np.ndarray:
    """Make a voiced, speech-like float32 signal (gliding harmonics with syllable envelopes)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    f0 = 120 + 30 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    voiced = sum(np.sin(k * phase) / k for k in range(1, 12))
    envelope = np.clip(np.sin(2 * np.pi * 3.1 * t), 0, None) ** 0.5
    signal = 0.25 * voiced * envelope + 0.005 * rng.standard_normal(t.size)
    return signal.astype(np.float32)


def encode_image(pixels: np.ndarray, kind: MediaKind, quality: int = 92) -> bytes:
    """Encode RGB pixels as JPEG or PNG bytes."""
    from PIL import Image

    buf = io.BytesIO()
    if kind is JPEG:
        Image.fromarray(pixels).save(buf, format="JPEG", quality=quality)
    else:
        Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


def encode_wav(samples: np.ndarray, rate: int) -> bytes:
    """Encode float samples as 16-bit PCM WAV bytes."""
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, samples, rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def _jpeg_scan_offset(data: bytes) -> int:
    """Return an offset in the last twentieth of the last JPEG scan's entropy-coded data.

    A flipped bit there garbles only the last blocks, so the tamper is a local edit, like a retouch;
    a flip mid-scan desynchronises the Huffman stream and scrambles half the picture.
    """
    sos = data.rfind(b"\xff\xda")
    end = data.rfind(b"\xff\xd9")
    if sos < 0 or end <= sos + 16:
        raise ValueError("no JPEG scan data found")
    return end - max(8, (end - sos) // 20)


def _riff_data_offset(data: bytes) -> int:
    """Return an offset in the middle of a WAV file's data chunk."""
    pos = 12
    while pos + 8 <= len(data):
        chunk, size = data[pos : pos + 4], int.from_bytes(data[pos + 4 : pos + 8], "little")
        if chunk == b"data":
            return pos + 8 + size // 2
        pos += 8 + size + (size & 1)
    raise ValueError("no WAV data chunk found")


def flip_media_byte(data: bytes) -> bytes:
    """Flip one bit of the media data proper (not the manifest) of a JPEG or WAV file."""
    kind = sniff(data)
    if kind is JPEG:
        offset = _jpeg_scan_offset(data)
        while data[offset] in (0xFF, 0xFE, 0x00) or data[offset - 1] == 0xFF:
            offset += 1
    elif kind is WAV:
        offset = _riff_data_offset(data)
    else:
        raise ValueError(f"flip_media_byte handles JPEG and WAV, not {kind.mime}")
    out = bytearray(data)
    out[offset] ^= 0x01
    return bytes(out)


def strip_by_reencoding(data: bytes) -> bytes:
    """Decode and re-encode the media, as a social platform does, which drops the manifest."""
    kind = sniff(data)
    if kind in (JPEG, PNG):
        from PIL import Image

        pixels = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
        return encode_image(pixels, kind, quality=85)
    if kind is WAV:
        import soundfile as sf

        samples, rate = sf.read(io.BytesIO(data), dtype="float32")
        return encode_wav(samples, rate)
    raise ValueError(f"strip_by_reencoding handles JPEG, PNG and WAV, not {kind.mime}")


def generated_samples(seed: int = 0) -> dict[str, tuple[bytes, str]]:
    """Media made by the reference generator: two DiT samples and vocoded speech, with their softwareAgent."""
    from provguard.generate.audio import resynthesize, software_agent
    from provguard.generate.image import DIT_MODEL_NAME, MODEL_VERSION, sample_images

    first, second = sample_images(2, size=256, seed=seed, steps=20)
    speech, rate = resynthesize(synthetic_speechlike(seed + 3), 16000, vocoder="neural", seed=seed)
    image_agent = f"{DIT_MODEL_NAME}@{MODEL_VERSION}"
    return {
        "image.jpg": (encode_image(first, JPEG), image_agent),
        "image.png": (encode_image(second, PNG), image_agent),
        "speech.wav": (encode_wav(speech, rate), software_agent("neural")),
    }


def _codes(report) -> str:  # noqa: ANN001 - a Report
    """Summarise a report's failure codes for the table."""
    from provguard.report import all_failure_codes

    if report.errors:
        return "; ".join(report.errors)
    return ", ".join(all_failure_codes(report.provenance)) or "-"


def _detector_outcome(report) -> str:  # noqa: ANN001 - a Report
    """Summarise the detectors' calibrated P(synthetic), or '-' when nothing was scored."""
    det = report.detection
    if det is None or det.score is None:
        return "-"
    return f"{det.score:.2f}"


def _watermark_outcome(report) -> str:  # noqa: ANN001 - a Report
    """Summarise watermark evidence: recovered, found, not found or not checked."""
    mark = report.watermark
    if mark is None:
        return "-"
    if mark.recovered is not None:
        return "recovered"
    return "found" if mark.detected else "not found"


def run_demo(out_dir: Path | None = None) -> list[DemoRow]:
    """Sign generated samples and verify them with their tampered and stripped copies."""
    from provguard.keys import ensure_dev_credentials
    from provguard.sign import sign_bytes
    from provguard.verify import default_options, verify_bytes

    ensure_dev_credentials()
    options = default_options()
    anchors = options.trust_anchors
    samples = generated_samples()
    workdir = Path(out_dir) if out_dir else Path(tempfile.mkdtemp(prefix="provguard-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    rows: list[DemoRow] = []
    for name, (raw, agent) in samples.items():
        signed = sign_bytes(raw, title=name, generator=agent)
        if options.store is None:  # the first signature created the store; open it for recovery
            options = default_options()
        variants = [
            ("signed", signed, TRUSTED if anchors else "valid", "found"),
            ("stripped", strip_by_reencoding(signed), ABSENT, "recovered"),
        ]
        if not name.endswith(".png"):
            variants.insert(1, ("tampered", flip_media_byte(signed), INVALID, "recovered"))
        for variant, data, expected, expected_mark in variants:
            path = workdir / f"{variant}-{name}"
            path.write_bytes(data)
            report = verify_bytes(data, str(path), options=options)
            state = "unreadable" if report.errors else report.provenance.state
            rows.append(
                DemoRow(name, variant, expected, state, _codes(report), _watermark_outcome(report), expected_mark,
                        _detector_outcome(report))
            )
    if options.store is not None:
        options.store.close()
    return rows


def render_table(rows: list[DemoRow]) -> str:
    """Render demo rows as an aligned text table."""
    header = ("sample", "variant", "expected", "verified as", "watermark", "P(synthetic)", "codes", "")
    body = [
        (r.sample, r.variant, r.expected, r.state, r.watermark, r.detector, r.codes, "ok" if r.as_expected else "UNEXPECTED")
        for r in rows
    ]
    widths = [max(len(str(row[i])) for row in [header, *body]) for i in range(len(header))]
    lines = ["  ".join(str(cell).ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in [header, *body]]
    lines.insert(1, "  ".join("-" * w for w in widths).rstrip())
    return "\n".join(lines)
