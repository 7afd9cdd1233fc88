"""Benchmark: the image detectors (shipped weights) on the corpus TEST split, which no model saw.

Rows = conditions, columns = the three detectors (AUC / AP / accuracy at the calibrated 0.5 threshold):
reference fakes (autoencoder reconstructions + DiT samples) clean, after JPEG q75 and after resizing to 0.5x (both
classes degraded alike), each fake family alone, and leave-one-generator-out (LOGO): for recon and sample, all three
detectors are retrained here on the other family only (the CNN with a reduced step budget, printed) and tested on the
held-out one; video frames are never in any training set, so the shipped models give that row. Speed: images per
second at 1 MP on the torch threads given. ROC plots go to docs/.

Run: python -m bench.bench_detect_image --out FILE [--corpus DIR] [--logo-steps N] [--threads T] [--docs DIR]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import emit, section, table

NAMES = ("image-frequency", "image-dct-logreg", "image-spectrum")
SHORT = {"image-frequency": "frequency CNN", "image-dct-logreg": "log-DCT + LR", "image-spectrum": "spectrum + LR"}


def _cell(m: dict[str, Any]) -> str:
    """AUC / AP / accuracy."""
    return f"{m['auc']:.3f} / {m['ap']:.3f} / {m['accuracy']:.3f}"


def _row(label: str, res: dict[str, dict[str, Any]]) -> list[object]:
    """A table row: label, counts, one cell per detector."""
    first = res[NAMES[0]]
    return [label, f"{first['n_real']} / {first['n_fake']}", *(_cell(res[n]) for n in NAMES)]


def _speed(dets: dict[str, Any], photo: np.ndarray, repeats: int = 20) -> list[list[object]]:
    """Images per second at 1 MP (1000x1000) from pixels and from JPEG bytes, per detector."""
    from detectors.image.augment import resize

    scale = 1000 / min(photo.shape[:2])
    px = np.ascontiguousarray(resize(photo, scale, "bicubic")[:1000, :1000]) if scale > 1 else photo[:1000, :1000]
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(px).save(buf, format="JPEG", quality=90)
    data = buf.getvalue()
    rows = []
    for name in NAMES:
        det = dets[name]
        det.score(px)
        start = time.perf_counter()
        for _ in range(repeats):
            det.score(px)
        arr = repeats / (time.perf_counter() - start)
        start = time.perf_counter()
        for _ in range(repeats):
            det.score(data)
        enc = repeats / (time.perf_counter() - start)
        rows.append([SHORT[name], f"{px.shape[1]}x{px.shape[0]}", f"{arr:.1f}", f"{enc:.1f}",
                     len(det.score(px).regions)])
    return rows


def _logo(family: str, train: Any, val: Any, test: Any, steps: int, seed: int) -> dict[str, Any]:
    """Retrain all three detectors without `family`, test on real vs `family` (clean and JPEG q75)."""
    from detectors.image.evaluate import evaluate
    from detectors.image.train import train_models

    keep = tuple(f for f in ("recon", "sample") if f != family)
    dets, info = train_models(train.only(keep), val.only(keep), seed=seed, steps=steps, max_seconds=None)
    held = test.only((family,))
    return {"results": evaluate(dets, held.images, held.labels, ("clean", "jpeg75")), "info": info}


def main() -> int:
    """Run the benchmark and write markdown."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--corpus", type=Path, default=None, help="corpus directory (default: the user data dir)")
    parser.add_argument("--logo-steps", type=int, default=800, help="CNN steps for each leave-one-out retraining")
    parser.add_argument("--threads", type=int, default=2, help="torch threads for scoring and speed")
    parser.add_argument("--docs", type=Path, default=Path("docs"), help="where the ROC plots go")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import torch

    import detectors
    from detectors.image.evaluate import evaluate
    from detectors.image.train import load_set
    from detectors.metrics import write_roc_png
    from detectors.weights import load_json

    torch.set_num_threads(args.threads)
    dets = {n: detectors.load(n) for n in NAMES}
    test = load_set("test", ("recon", "sample", "video"), corpus_dir=args.corpus)
    ref = test.only(("recon", "sample"))
    header = ["test set / condition", "real / fake", *(f"{SHORT[n]} AUC / AP / acc" for n in NAMES)]
    rows: list[list[object]] = []
    by_cond = evaluate(dets, ref.images, ref.labels)
    for cond, label in (("clean", "reference fakes, clean"), ("jpeg75", "reference fakes, JPEG q75"),
                        ("resize0.5", "reference fakes, resize 0.5x")):
        rows.append(_row(label, by_cond[cond]))
    fam_res = {}
    for fam in ("recon", "sample", "video"):
        sub = test.only((fam,))
        fam_res[fam] = evaluate(dets, sub.images, sub.labels, ("clean", "jpeg75"))
        if fam != "video":  # video is never trained on: it gets the LOGO rows below
            rows.append(_row(f"{fam} only, clean", fam_res[fam]["clean"]))
    rows.append(_row("LOGO: video frames held out (no model trained on video), clean", fam_res["video"]["clean"]))
    rows.append(_row("LOGO: video frames held out, JPEG q75", fam_res["video"]["jpeg75"]))

    torch.set_num_threads(1)
    train = load_set("train", ("recon", "sample"), corpus_dir=args.corpus)
    val = load_set("val", ("recon", "sample"), corpus_dir=args.corpus)
    logo_info = {}
    for fam, other in (("recon", "samples"), ("sample", "reconstructions")):
        start = time.perf_counter()
        out = _logo(fam, train, val, test, args.logo_steps, args.seed)
        logo_info[fam] = round(time.perf_counter() - start)
        rows.append(_row(f"LOGO: {fam} held out (trained on {other} only), clean", out["results"]["clean"]))
        rows.append(_row(f"LOGO: {fam} held out (trained on {other} only), JPEG q75", out["results"]["jpeg75"]))
    torch.set_num_threads(args.threads)

    args.docs.mkdir(parents=True, exist_ok=True)
    y = np.asarray(ref.labels)
    plots = []
    for cond, fname in (("clean", "detect_image_roc.png"), ("jpeg75", "detect_image_roc_jpeg75.png"),
                        ("resize0.5", "detect_image_roc_resize05.png")):
        curves = {SHORT[n]: (y, by_cond[cond][n]["raw"]) for n in NAMES}
        plots.append(write_roc_png(args.docs / fname, curves, f"Image detectors, test split, reference fakes, {cond}"))

    speed = _speed(dets, test.images[int(np.argmax([px.size for px in test.images]))])
    meta = load_json("image-frequency.json")
    tr = meta["training"]
    cnn = tr["image-frequency"]
    counts = ", ".join(f"{f} {test.families.count(f)}" for f in ("real", "recon", "sample", "video"))
    intro = (f"Test split: {len(test.images)} images ({counts}); real = crops (at most 512 px) of the corpus test "
             "photos, recon = their autoencoder reconstructions, sample = DiT samples (256 px), video = image-to-video "
             "frames (256 px, raw frames before H.264; 3 per clip, clips from the test photos and DiT samples). "
             "Degradations hit both classes alike. Cells: AUC / AP of the raw pooled logit (calibration is monotone "
             "but clips to [1e-4, 1 - 1e-4], which would tie confident scores) / accuracy at the calibrated 0.5 "
             "threshold.")
    logo = (f"LOGO retraining: all three detectors retrained with the shipped recipe on the other family only, the CNN "
            f"for {args.logo_steps} steps (the shipped CNN had {cnn['steps']}); wall time "
            f"{', '.join(f'{k} held out {v} s' for k, v in logo_info.items())} on 1 thread.")
    shipped = (f"Shipped CNN: timm `{cnn['arch']}`, {cnn['params']:,} parameters, {cnn['steps']} steps of "
               f"{cnn['batch']} patches in {cnn['seconds'] / 60:.1f} min; whole training run "
               f"{tr['total_seconds'] / 60:.1f} min on {tr['threads']} thread(s) ({tr['date']}).")
    speed_head = f"Speed, {args.threads} torch threads (score() on a 1 MP image; the grid caps the patches scored):"
    body = [
        intro, "", table(header, rows), "", logo, "", speed_head, "",
        table(["detector", "image", "images/s from pixels", "images/s from JPEG bytes", "patches scored"], speed),
        "", shipped, "", "Plots: " + ", ".join(f"`{p.as_posix()}`" for p in plots),
    ]
    cmd = f"python -m bench.bench_detect_image --out FILE --logo-steps {args.logo_steps} --threads {args.threads}"
    text = section("Image detectors (frequency CNN and baselines)", cmd, "\n".join(body))
    emit(text, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
