"""Balanced, augmented batches of patches from in-memory real and fake images, reproducible from a seed."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from detectors.image.augment import augmented_patches
from detectors.image.features import PATCH

#: Patches taken from each augmented region (amortises the JPEG/resize work).
PATCHES_PER_REGION = 4


class PatchSampler:
    """Draw half real, half fake patches (fakes split evenly over families), each region freshly augmented."""

    def __init__(self, images: list[np.ndarray], labels: list[int], families: list[str], *, seed: int,
                 augment: bool = True, patch: int = PATCH) -> None:
        self.images = images
        self.patch = patch
        self.augment = augment
        self.rng = np.random.default_rng(seed)
        self.real = [i for i, y in enumerate(labels) if y == 0]
        groups: dict[str, list[int]] = defaultdict(list)
        for i, (y, fam) in enumerate(zip(labels, families)):
            if y == 1:
                groups[fam].append(i)
        self.fake_groups = [groups[k] for k in sorted(groups)]
        if not self.real or not self.fake_groups:
            from detectors import DetectorError

            raise DetectorError("training needs both real and fake images")

    def _region(self, index: int) -> np.ndarray:
        """PATCHES_PER_REGION augmented patches from one image."""
        return augmented_patches(self.images[index], PATCHES_PER_REGION, self.rng, patch=self.patch, augment=self.augment)

    def batch(self, size: int) -> tuple[np.ndarray, np.ndarray]:
        """(patches (size, p, p, 3) uint8, labels (size,) float32), half of each class."""
        regions = max(2, size // PATCHES_PER_REGION)
        half = regions // 2
        picks = [(int(self.rng.choice(self.real)), 0) for _ in range(half)]
        for k in range(regions - half):
            group = self.fake_groups[k % len(self.fake_groups)]
            picks.append((int(self.rng.choice(group)), 1))
        patches = np.concatenate([self._region(i) for i, _ in picks])
        labels = np.repeat(np.array([y for _, y in picks], dtype=np.float32), PATCHES_PER_REGION)
        return patches, labels
