#!/usr/bin/env python3
"""Check the converted ONNX models against MediaPipe's own selfie segmentation.

For every photograph in testdata/*.png (see testdata/SOURCES.md) and both
models (general 256x256 = model_selection 0, landscape 256x144 = 1):

* ``full``: MediaPipe's legacy solution ``mediapipe.solutions.
  selfie_segmentation`` on the photo, mask at photo resolution, versus the
  ONNX model run by onnxruntime inside a re-implementation of MediaPipe's
  CPU pre/post-processing (ImageToTensorCalculator: warpPerspective with
  INTER_LINEAR onto the model size, uint8, /255; TensorsToSegmentation:
  cv::resize INTER_LINEAR back to the photo size).  MediaPipe's bundled
  OpenCV warps uint8 images with 1/32-pixel fixed-point interpolation;
  opencv-python 4.10 does the same (4.11+ and 5.x switched to a float
  implementation), hence the pin in requirements.txt.  With another OpenCV
  the ``full`` MAD stays well below 0.01 but single boundary pixels can
  differ by ~0.15.
* ``tensor``: the exact model-size uint8 image fed to both.  At that size
  MediaPipe's resampling is the identity, so its mask is the raw output of
  its TFLite interpreter (XNNPACK) on the same tensor the ONNX model sees:
  this isolates the conversion from any resampling difference.

Prints a table (image, model, check, MAD, max abs diff) and exits 1 if any
mean absolute difference is >= 0.01 (or a stored reference mask disagrees).

``--write-references`` stores MediaPipe's full-resolution masks as 8-bit
PNGs, testdata/<name>.mask_general.png and .mask_landscape.png
(value = round(255 * p)), for the Rust tests; without it the stored masks
are compared with a fresh MediaPipe run (tolerance: MAD < 1/255 + 0.002).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
from PIL import Image

HERE = Path(__file__).resolve().parent
TESTDATA = HERE / "testdata"
THRESHOLD = 0.01
REFERENCE_TOLERANCE = 1.0 / 255.0 + 0.002

# name -> (model_selection, onnx file, (width, height) of the model input)
MODELS = {
    "general": (0, "selfie_segmentation.onnx", (256, 256)),
    "landscape": (1, "selfie_segmentation_landscape.onnx", (256, 144)),
}


def load_rgb(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def mediapipe_mask(rgb: np.ndarray, model_selection: int) -> np.ndarray:
    """MediaPipe's mask (float32 HxW in 0..1); a fresh graph per call so no
    state carries over between images."""
    import mediapipe as mp  # imported lazily: slow and noisy

    with mp.solutions.selfie_segmentation.SelfieSegmentation(
        model_selection=model_selection
    ) as seg:
        return np.array(seg.process(rgb).segmentation_mask, dtype=np.float32)


def mediapipe_preprocess(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """ImageToTensorCalculator (OpenCV backend, whole image as ROI,
    keep_aspect_ratio=false): the image rectangle corners are mapped onto
    the tensor corners by a perspective transform and sampled with
    INTER_LINEAR, zero border, into a uint8 image of the model size."""
    h, w = rgb.shape[:2]
    dw, dh = size
    src = np.float32([[0, h], [0, 0], [w, 0], [w, h]])
    dst = np.float32([[0, dh], [0, 0], [dw, 0], [dw, dh]])
    matrix = cv2.getPerspectiveTransform(src, dst)
    return cv2.warpPerspective(
        rgb, matrix, (dw, dh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
    )


class OnnxModel:
    def __init__(self, path: Path):
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        self.session = ort.InferenceSession(
            str(path), opts, providers=["CPUExecutionProvider"]
        )

    def raw(self, model_input: np.ndarray) -> np.ndarray:
        """uint8 HxWx3 of the model size -> float32 HxW probabilities."""
        x = (model_input.astype(np.float32) / 255.0)[None]
        return self.session.run(["mask"], {"input": x})[0][0, :, :, 0]

    def full(self, rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """Photo -> mask at photo resolution, MediaPipe-style pre/post."""
        small = self.raw(mediapipe_preprocess(rgb, size))
        h, w = rgb.shape[:2]
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def reference_path(image: Path, model: str) -> Path:
    return image.with_name(f"{image.stem}.mask_{model}.png")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--write-references", action="store_true",
        help="(re)write testdata/<name>.mask_<model>.png from MediaPipe",
    )
    args = parser.parse_args(argv)

    images = sorted(p for p in TESTDATA.glob("*.png") if ".mask_" not in p.name)
    if not images:
        print("no test images in testdata/", file=sys.stderr)
        return 1
    models = {name: OnnxModel(HERE / f) for name, (_, f, _) in MODELS.items()}

    rows: list[tuple[str, str, str, float, float]] = []
    failed = False
    for image in images:
        rgb = load_rgb(image)
        for name, (selection, _, size) in MODELS.items():
            onnx_model = models[name]

            reference = mediapipe_mask(rgb, selection)
            ours = onnx_model.full(rgb, size)
            diff = np.abs(reference - ours)
            rows.append((image.stem, name, "full", float(diff.mean()), float(diff.max())))

            tensor_image = mediapipe_preprocess(rgb, size)
            reference_raw = mediapipe_mask(tensor_image, selection)
            diff = np.abs(reference_raw - onnx_model.raw(tensor_image))
            rows.append((image.stem, name, "tensor", float(diff.mean()), float(diff.max())))

            ref_png = reference_path(image, name)
            quantized = np.round(np.clip(reference, 0.0, 1.0) * 255.0).astype(np.uint8)
            if args.write_references:
                Image.fromarray(quantized, mode="L").save(ref_png, optimize=True)
            elif ref_png.is_file():
                stored = np.asarray(Image.open(ref_png), dtype=np.float32) / 255.0
                mad = float(np.abs(stored - reference).mean())
                if stored.shape != reference.shape or mad >= REFERENCE_TOLERANCE:
                    print(f"{ref_png.name}: stored mask differs from MediaPipe (MAD {mad:.5f})")
                    failed = True
            else:
                print(f"{ref_png.name}: missing (run with --write-references)")
                failed = True

    print(f"{'image':<14} {'model':<10} {'check':<7} {'MAD vs MediaPipe':>17} {'max abs diff':>13}")
    print("-" * 64)
    for image, model, check, mad, mx in rows:
        flag = "" if mad < THRESHOLD else "  FAIL"
        print(f"{image:<14} {model:<10} {check:<7} {mad:>17.2e} {mx:>13.2e}{flag}")
        failed |= mad >= THRESHOLD
    print("FAILED" if failed else f"OK: every MAD < {THRESHOLD}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
