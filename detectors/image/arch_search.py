"""Choose the CNN backbone by measurement: brief equal-step training of candidate timm models, validation AUC
(clean, JPEG q75, resize 0.5x), parameters and CPU patch throughput. Run: python -m detectors.image.arch_search"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

CANDIDATES = ("mobilenetv3_small_050", "lcnet_050", "test_convnext")
ARCH_FILE = "image-frequency-arch.json"


def patch_throughput(model: Any, n: int = 64, repeats: int = 5) -> float:
    """Patches per second through the network (log-DCT excluded), batch n, current torch threads."""
    import torch

    x = torch.randn(n, 3, 64, 64)
    with torch.inference_mode():
        model(x)
        start = time.perf_counter()
        for _ in range(repeats):
            model(x)
    return n * repeats / (time.perf_counter() - start)


def compare(steps: int, seed: int = 0, progress: Any = print) -> list[dict[str, Any]]:
    """Train each candidate for `steps` steps on the train split, calibrate and score on the val split."""
    import torch

    from detectors.calibration import Calibrator
    from detectors.image.cnn import FrequencyCNNDetector
    from detectors.image.evaluate import evaluate, raw_scores
    from detectors.image.fit import fit_cnn
    from detectors.image.sampling import PatchSampler
    from detectors.image.train import load_set

    torch.set_num_threads(1)
    train = load_set("train", ("recon", "sample"))
    val = load_set("val", ("recon", "sample"))
    rows = []
    for arch in CANDIDATES:
        sampler = PatchSampler(train.images, train.labels, train.families, seed=seed)
        fit = fit_cnn(sampler, arch=arch, steps=steps, seed=seed, progress=progress)
        det = FrequencyCNNDetector.from_parts(fit.model, None)
        det.calibrator = Calibrator.fit(raw_scores(det, val.images), val.labels)
        res = evaluate({arch: det}, val.images, val.labels)
        rows.append({"arch": arch, "params": int(sum(p.numel() for p in fit.model.backbone.parameters())),
                     "steps": fit.steps, "train_seconds": round(fit.seconds, 1),
                     "val_auc": {c: round(res[c][arch]["auc"], 4) for c in res},
                     "patches_per_s_1thread": round(patch_throughput(fit.model), 1)})
        progress(json.dumps(rows[-1]))
    return rows


def main() -> None:
    """Run the comparison and write the JSON next to the weights."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--out", type=Path, default=None, help="directory (default: the package weights dir)")
    args = parser.parse_args()
    from detectors.weights import save_json

    rows = compare(args.steps)
    save_json({"steps": args.steps, "candidates": rows,
               "command": f"python -m detectors.image.arch_search --steps {args.steps}"}, ARCH_FILE, args.out)


if __name__ == "__main__":
    main()
