#!/usr/bin/env python3
"""Copy the test photographs out of installed PyPI packages into testdata/.

Only real photographs of people whose licence is known are used; they come
from packages pinned in requirements.txt, never from the web.  Each photo is
converted to RGB (the grayscale cameraman is replicated to three channels),
downscaled with Lanczos to at most MAX_WIDTH pixels wide and saved as PNG so
that every decoder (Python, the Rust `image` crate) sees identical pixels.
Provenance and licences are listed in testdata/SOURCES.md.

Run verify.py --write-references afterwards to refresh the reference masks.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image

MAX_WIDTH = 384
TESTDATA = Path(__file__).resolve().parent / "testdata"


def _package_file(module: str, relative: str) -> Path:
    mod = __import__(module)
    path = Path(mod.__file__).resolve().parent / relative
    if not path.is_file():
        raise SystemExit(f"{module}: {relative} not found")
    return path


def load_photos() -> dict[str, Image.Image]:
    """name -> RGB PIL image, straight from the packages."""
    return {
        # scikit-image: NASA photo of Eileen Collins, public domain
        "astronaut": Image.open(_package_file("skimage", "data/astronaut.png")),
        # scikit-image: cameraman by Lav Varshney, CC0 (grayscale)
        "cameraman": Image.open(_package_file("skimage", "data/camera.png")),
        # matplotlib: official U.S. Navy portrait of Grace Hopper, public domain
        "grace_hopper": Image.open(
            _package_file("matplotlib", "mpl-data/sample_data/grace_hopper.jpg")
        ),
        # mahotas: portrait of the package author Luis Pedro Coelho, MIT package
        "luispedro": Image.open(_package_file("mahotas", "demos/data/luispedro.jpg")),
    }


def prepare(image: Image.Image) -> Image.Image:
    rgb = image.convert("RGB")  # L -> RGB replicates the gray channel
    if rgb.width > MAX_WIDTH:
        height = round(rgb.height * MAX_WIDTH / rgb.width)
        rgb = rgb.resize((MAX_WIDTH, height), Image.LANCZOS)
    return rgb


def main() -> int:
    TESTDATA.mkdir(exist_ok=True)
    for name, image in load_photos().items():
        out = prepare(image)
        path = TESTDATA / f"{name}.png"
        out.save(path, "PNG", optimize=True)
        arr = np.asarray(out)
        print(f"{path.name}: {out.width}x{out.height} mean {arr.mean():.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
