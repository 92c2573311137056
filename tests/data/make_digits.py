"""Regenerate tests/data/digits/: a few known images from scikit-learn's bundled `digits`.

Each image is one sample of the held-out split of examples/train.py, written as a PNG with the
ink bright on black (pixel = value * 255 / 16, like MNIST), plus a 4x nearest-neighbour upscale
of one of them to exercise resizing. `expected.json` maps file name to the true label and the
dataset index. Run: `.venv/bin/python -m tests.data.make_digits` (needs the `train` extra).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits

HERE = Path(__file__).resolve().parent / "digits"
# Dataset indices of unambiguous samples (held out in examples/train.py, classified with
# probability > 0.9 by the example model).
PICKS = {0: 458, 3: 1170, 7: 173}


def to_png_pixels(features: np.ndarray) -> np.ndarray:
    return np.rint(features.reshape(8, 8) * 255.0 / 16.0).astype(np.uint8)


def main() -> None:
    digits = load_digits()
    HERE.mkdir(exist_ok=True)
    expected: dict[str, dict[str, int]] = {}
    for label, index in PICKS.items():
        if int(digits.target[index]) != label:
            raise SystemExit(f"dataset index {index} is a {digits.target[index]}, not {label}")
        pixels = to_png_pixels(digits.data[index])
        name = f"digit-{label}.png"
        Image.fromarray(pixels).save(HERE / name, optimize=True)
        expected[name] = {"label": label, "index": index}
    big = Image.open(HERE / "digit-7.png").resize((32, 32), Image.Resampling.NEAREST)
    big.save(HERE / "digit-7-32px.png", optimize=True)
    expected["digit-7-32px.png"] = {"label": 7, "index": PICKS[7]}
    (HERE / "expected.json").write_text(json.dumps(expected, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
