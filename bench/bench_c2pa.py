"""Benchmark: median C2PA sign and verify time for a 1 MP JPEG and a 10 s WAV."""

from __future__ import annotations

import argparse
import io
import os
import tempfile
from pathlib import Path

import numpy as np

from bench.common import median_ms, section, table

TARGETS = {"jpeg": (30.0, 10.0)}


def _photo_1mp() -> bytes:
    """A 1 MP JPEG: a real photo from the fixtures when present, else a synthetic picture."""
    from PIL import Image

    from provguard.demo import synthetic_image

    photos = sorted((Path(__file__).resolve().parents[1] / "fixtures" / "photos").glob("*.jpg"))
    img = Image.open(photos[0]).convert("RGB") if photos else Image.fromarray(synthetic_image(0))
    img = img.resize((1155, 866))  # 1.0 MP
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def _wav_10s() -> bytes:
    """A 10 s, 44.1 kHz stereo 16-bit WAV of speech-like sound."""
    from provguard.demo import encode_wav, synthetic_speechlike

    mono = synthetic_speechlike(0, seconds=10.0, rate=44100)
    return encode_wav(np.stack([mono, mono * 0.8], axis=1), 44100)


def run(command: str) -> str:
    """Run the benchmark and return its markdown section."""
    from provguard.keys import init_dev_credentials, default_signer
    from provguard.config import load_config
    from provguard.sign import sign_bytes
    from provguard.verify import verify_bytes

    home = Path(tempfile.mkdtemp(prefix="provguard-bench-"))
    os.environ["PROVGUARD_HOME"] = str(home)
    creds = init_dev_credentials(home)
    signer = default_signer(load_config(home))
    anchors = creds.root_cert.read_bytes()
    rows = []
    for name, data in (("1 MP JPEG", _photo_1mp()), ("10 s WAV (44.1 kHz stereo)", _wav_10s())):
        signed = sign_bytes(data, title="bench", signer=signer, generator="bench@1")
        state = verify_bytes(signed, None, anchors).provenance.state
        sign_ms = median_ms(lambda: sign_bytes(data, title="bench", signer=signer, generator="bench@1"))
        verify_ms = median_ms(lambda: verify_bytes(signed, None, anchors))
        target = "sign <= 30 ms, verify <= 10 ms" if "JPEG" in name else "-"
        met = "yes" if "JPEG" not in name or (sign_ms <= 30 and verify_ms <= 10) else "NO"
        rows.append([name, f"{len(data) / 1e6:.2f} MB", f"{sign_ms:.1f}", f"{verify_ms:.1f}", state, target, met])
    body = table(["asset", "size", "sign median (ms)", "verify median (ms)", "verified as", "target", "met"], rows)
    body += (
        "\n\nsign = `provguard.sign.sign_bytes` (sniff, structure check, manifest build, ES256 signature, embed; "
        "thumbnail off); verify = `provguard.verify.verify_bytes` (size check, sniff, SHA-256, c2pa read and "
        "validate with the dev root as trust anchor). 30 repeats after 3 warm-ups, one process."
    )
    return section("C2PA sign and verify speed", command, body)


def main() -> None:
    """Print the section (and write it to --out)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    text = run("python -m bench.bench_c2pa")
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
