#!/usr/bin/env python3
"""Can an exact occlusion sweep of SqueezeNet 1.1 skip more than the windows' reach, by values?

`tools/occlusion_bound.py` counts the work of the reach: per layer, the outputs a window can
change. This script asks what the values allow beyond it, for the exact 32/16 sweep of
chelsea.png on the fp32 SqueezeNet (`target/bench-models/squeezenet1_1-fp32.onnx`, made by
`tools/make_bench_models.py`), every occluded copy run through onnxruntime in full:

1. Per layer, how many outputs actually change (any channel), and the bounding box of those,
   against the reach: a plan that shrank each patch to what changed would save the difference.
2. The occluder's constant interior: outputs whose whole receptive field lies inside the grey
   window are the same for every window (one per channel), so they could be computed once;
   geometry only, the multiply-adds that would save.
3. The last convolution's input (fire9's output, after its ReLU): the share of nonzero values,
   and the share of values that differ from the unoccluded image's (a product by the
   differences instead of the values would do that much work).

Simplified: the photo is resized to 227 x 227 without a crop, windows at the far edge are cut
off there (the app shifts them inward), and the fill is the app's default grey (0.5 before the
ImageNet normalization). Usage: python3 tools/occlusion_values.py
"""
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from occlusion_bound import LAYERS, NAMES, SIDE, area, macs_per_pixel, out_size, starts, walk  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = os.path.join(ROOT, "target/bench-models/squeezenet1_1-fp32.onnx")
PHOTO = os.path.join(ROOT, "static/samples/chelsea.png")
WINDOW, STRIDE, FILL = 32, 16, 0.5
MEAN, STD = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])


def session():
    """The model with every layer's output (ReLU'd convolutions, pools, concatenations) exposed."""
    model = onnx.load(MODEL)
    taps = [n.output[0] for n in model.graph.node
            if n.op_type in ("Concat", "MaxPool") or (n.op_type == "Relu" and ("squeeze" in n.output[0] or n.output[0].startswith("conv")))]
    for name in taps:
        model.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    return ort.InferenceSession(model.SerializeToString()), taps


def normalized(pixels):
    return ((pixels - MEAN) / STD).transpose(2, 0, 1)[None].astype(np.float32)


def constant_interior(y, x):
    """Multiply-adds of outputs whose receptive field lies inside the window, per layer name."""
    n, spans, saved = SIDE, ((y, min(y + WINDOW, SIDE) - 1), (x, min(x + WINDOW, SIDE) - 1)), {}
    for name, (kind, k, s, p, cin, cout) in zip(NAMES, LAYERS):
        o = out_size(n, kind, k, s, p)
        inner = []
        for lo, hi in spans:
            if lo is None:
                inner.append((None, None))
                continue
            a, b = -(-(max(lo, 0) + p) // s), (min(hi, n - 1) + p - (k - 1)) // s
            inner.append((a, b) if a <= b else (None, None))
        spans = tuple(inner)
        if all(lo is not None for lo, _ in spans):
            saved[name] = macs_per_pixel(kind, k, cin, cout) * area(spans)
        n = o
    return saved


def main():
    if not os.path.exists(MODEL):
        sys.exit(f"{MODEL} is missing: run python3 tools/make_bench_models.py first")
    sess, taps = session()
    pixels = np.asarray(Image.open(PHOTO).convert("RGB").resize((SIDE, SIDE)), dtype=np.float32) / 255
    base = sess.run(taps, {"image": normalized(pixels)})
    changed, boxes, reach, interior = {t: 0 for t in taps}, {t: 0 for t in taps}, {}, {}
    nonzero = differ = values = 0
    windows = [(y, x) for y in starts(SIDE, WINDOW, STRIDE) for x in starts(SIDE, WINDOW, STRIDE)]
    plan = sum(macs_per_pixel(kind, k, cin, cout) * area(spans)
               for y, x in windows
               for (kind, k, _, _, cin, cout), (_, _, spans) in zip(LAYERS, walk(y, x, WINDOW)))
    for y, x in windows:
        occluded = pixels.copy()
        occluded[y:y + WINDOW, x:x + WINDOW] = FILL
        outs = sess.run(taps, {"image": normalized(occluded)})
        for t, a, b in zip(taps, base, outs):
            moved = (a[0] != b[0]).any(axis=0)
            changed[t] += int(moved.sum())
            ys, xs = np.nonzero(moved)
            boxes[t] += int((ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1)) if len(ys) else 0
        last = taps.index("fire9/concat")
        nonzero += int((outs[last] != 0).sum())
        differ += int((outs[last] != base[last]).sum())
        values += outs[last].size
        for name, n, spans in walk(y, x, WINDOW):
            reach[name] = reach.get(name, 0) + area(spans)
        for name, macs in constant_interior(y, x).items():
            interior[name] = interior.get(name, 0) + macs
    print(f"{len(windows)} windows of {WINDOW} px at stride {STRIDE}; per layer, outputs summed over the windows:")
    print(f"{'layer output':<24} {'reach':>8} {'changed':>8} {'their box':>10}")
    # The taps in graph order line up with the tool's layers, a fire module's squeeze and its concatenation.
    for t, name in zip(taps, NAMES):
        print(f"{t:<24} {reach[name]:>8} {changed[t]:>8} {boxes[t]:>10}")
    saved = sum(interior.values())
    print(f"constant interior: {saved / 1e9:.2f} G of the reach's {plan / 1e9:.1f} G multiply-adds ({100 * saved / plan:.1f}%)")
    print(f"fire9's output (conv10's input): {100 * nonzero / values:.1f}% nonzero, {100 * differ / values:.1f}% differ from the photo's")


if __name__ == "__main__":
    main()
