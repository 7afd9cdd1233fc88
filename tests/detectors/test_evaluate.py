"""`provguard eval`: real photos against their reconstructions, with plots, a JSON report and skipped files listed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from provguard.cli import main

PHOTOS = Path(__file__).resolve().parents[2] / "fixtures" / "photos"


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Real fixture photos, and autoencoder reconstructions of the same photos (plus one unreadable file)."""
    from provguard.generate.image import encode_still, reconstruct_image

    root = tmp_path_factory.mktemp("eval")
    real, fake = root / "real", root / "fake"
    real.mkdir()
    fake.mkdir()
    for photo in sorted(PHOTOS.glob("*.jpg"))[:4]:
        (real / photo.name).write_bytes(photo.read_bytes())
        (fake / f"{photo.stem}.png").write_bytes(encode_still(reconstruct_image(photo, seed=0), "png"))
    (fake / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    return real, fake


def test_eval_prints_metrics_and_writes_plots_and_report(folders: tuple[Path, Path], tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    real, fake = folders
    out = tmp_path / "eval"
    capsys.readouterr()
    code = main(["eval", "image", "--real", str(real), "--fake", str(fake), "--out", str(out)])
    printed = capsys.readouterr()
    assert code == 0
    assert "image-frequency" in printed.out and "AUC" in printed.out
    assert "broken.png" in printed.err
    report = json.loads((out / "report.json").read_text())
    assert set(report["metrics"]) == {"image-frequency", "image-dct-logreg", "image-spectrum"}
    assert report["metrics"]["image-frequency"]["n_real"] == 4 and report["metrics"]["image-frequency"]["n_fake"] == 4
    assert report["metrics"]["image-frequency"]["auc"] >= 0.9
    assert len(report["scores"]) == 8 and len(report["skipped"]) == 1
    for name in ("roc.png", "det.png"):
        with Image.open(out / name) as img:
            assert img.format == "PNG"


def test_eval_refuses_missing_folders_and_unknown_models(folders: tuple[Path, Path], tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    real, _ = folders
    assert main(["eval", "image", "--real", str(real), "--fake", str(tmp_path / "nope"), "--out", str(tmp_path)]) == 2
    assert "not a directory" in capsys.readouterr().err
    code = main(["eval", "image", "--real", str(real), "--fake", str(real), "--out", str(tmp_path), "--models", "nope"])
    assert code == 2 and "no detector named" in capsys.readouterr().err
