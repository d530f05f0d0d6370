#!/usr/bin/env python3
"""Independent float64 NumPy reference for three attribution maps of SqueezeNet v1.1 (int8).

Writes tests/fixtures/squeezenet_attribution.json, which the Rust tests use to check the
Burn implementation. No autodiff framework is used: the backward passes below are written
by hand, and the saliency map is checked against central finite differences.

Model and input follow tools/reference_forward.py: dequantised weights of
static/models/squeezenet1_1-int8.onnx, input = the 227x227 crop as RGB / 255 in CHW
layout, 3x3/2 max pools with ceil_mode (Caffe rounding). Target class c = top-1 class
of that forward pass; score = logits[c], where logits is the output of the global
average pool after conv10 + ReLU (graph output "logits"; "prob" = softmax(logits)).

  saliency         d logits[c] / d input, shape [3, 227, 227].
                   ReLU backward passes the gradient where the forward input is > 0.
                   Max pool backward routes each window's gradient to its argmax (first
                   maximum in row-major window order); overlapping windows accumulate.
                   Ties are real here: conv1 (int8 weights, 8-bit pixels) outputs lie
                   on a lattice, and ~80 pool1 windows have EXACTLY equal maxima; they
                   are resolved by that first-in-window rule, not by rounding noise.
  guided_backprop  Same, but every ReLU (conv10's included) passes the gradient only
                   where forward input > 0 AND incoming gradient > 0.
  occlusion        32x32 window, stride 16 in both axes, all 3 channels set to 0.5.
                   Window starts per axis as in Captum: k * 16 for k = 0..ceil(195/16),
                   i.e. 0, 16, ..., 208, the last window cut off at the border -> 14
                   starts, 196 windows. Value per pixel = mean over the windows covering it
                   of (p_base - p_occluded), p = softmax(logits)[c]; uncovered pixels -> 0.
                   Shape [227, 227].

Each map is stored as summary statistics over the whole map (abs_max, abs_sum, sum) plus
values at 2000 distinct flat (row-major) indices drawn with np.random.default_rng(0)
(a fresh generator per map, choice without replacement) together with the flat argmax
of |map|, sorted ascending. Floats are written with 7 significant digits.
"""

import argparse
import json
import os
import sys
import time

import numpy as np
import onnx
from numpy.lib.stride_tricks import sliding_window_view
from onnx import numpy_helper
from PIL import Image

TOOLS = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, TOOLS)
sys.dont_write_bytecode = True  # no tools/__pycache__ from these imports
import reference_forward as rf  # noqa: E402  (params_from_onnx, squeezenet, softmax)

ROOT = os.path.dirname(TOOLS)
N_SAMPLES = 2000
# conv1 has int8 weights and 8-bit pixels, so its outputs lie on a per-channel lattice
# bias + scale/255 * integer, and pool1 windows often hold EXACTLY equal maxima that
# rounding noise would break arbitrarily. Values within TIE_REL * max|x| of the window
# max are treated as tied (float64 noise ~1e-15 of max|x|, the smallest lattice step
# ~6e-6; check_pool1_ties verifies the resulting ties against exact integer arithmetic).
TIE_REL = 1e-9
POOL_K, POOL_S = 3, 2

# --------------------------------------------------------------------------- layers
# Activations are (C, N, H, W) float64 arrays: channels first, then the batch, so that
# every convolution is one matrix product (O, C*kh*kw) @ (C*kh*kw, N*Ho*Wo).


def conv_fwd(x, w, b, stride=1, pad=0):
    """Cross-correlation like ONNX Conv. x: (C, N, H, W); w: (O, C, kh, kw); b: (O,)."""
    O, C, kh, kw = w.shape
    N = x.shape[1]
    if pad:
        x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    if kh == kw == 1 and stride == 1:
        Ho, Wo = x.shape[2:]
        cols = x.reshape(C, -1)
    else:
        # win[c, n, i, j, u, v] = x[c, n, i*stride + u, j*stride + v]
        win = sliding_window_view(x, (kh, kw), axis=(2, 3))[:, :, ::stride, ::stride]
        Ho, Wo = win.shape[2:4]
        cols = win.transpose(0, 4, 5, 1, 2, 3).reshape(C * kh * kw, -1)  # rows (c, u, v)
    y = w.reshape(O, -1) @ cols
    return y.reshape(O, N, Ho, Wo) + b[:, None, None, None]


def conv_bwd(g, w, in_hw, stride=1, pad=0):
    """Gradient w.r.t. the conv input. g: (O, N, Ho, Wo) -> (C, N, H, W)."""
    O, C, kh, kw = w.shape
    _, N, Ho, Wo = g.shape
    H, W = in_hw
    gcols = (w.reshape(O, -1).T @ g.reshape(O, -1)).reshape(C, kh, kw, N, Ho, Wo)
    gx = np.zeros((C, N, H + 2 * pad, W + 2 * pad), dtype=g.dtype)
    for u in range(kh):
        for v in range(kw):
            # output (i, j) read padded input (i*stride + u, j*stride + v)
            gx[:, :, u:u + stride * (Ho - 1) + 1:stride,
               v:v + stride * (Wo - 1) + 1:stride] += gcols[:, u, v]
    return gx[:, :, pad:pad + H, pad:pad + W]


def relu_bwd(g, x, guided):
    """x: the ReLU's forward input. Guided backprop also drops negative gradients."""
    mask = x > 0
    if guided:
        mask = mask & (g > 0)
    return np.where(mask, g, g.dtype.type(0))


def pool_out_len(n, k=POOL_K, s=POOL_S):
    """Output length with Caffe / ONNX ceil_mode rounding (last window starts inside)."""
    o = -(-(n - k) // s) + 1
    return o - 1 if (o - 1) * s >= n else o


def maxpool_fwd(x, k=POOL_K, s=POOL_S, tie_rel=None, last=False):
    """Ceil-mode max pool, no padding. Returns (y, argmax inside each k*k window, #ties).

    The argmax is the FIRST window element (row-major (u, v) order) within
    tie_rel * max|x| of the window maximum: values that are mathematically equal but
    differ by rounding noise count as tied (see TIE_REL).
    """
    tie_rel = TIE_REL if tie_rel is None else tie_rel
    C, N, H, W = x.shape
    ho, wo = pool_out_len(H), pool_out_len(W)
    # -inf beyond the bottom/right edge: partial windows take the max of real pixels only.
    xp = np.full((C, N, (ho - 1) * s + k, (wo - 1) * s + k), -np.inf, dtype=x.dtype)
    xp[:, :, :H, :W] = x
    win = sliding_window_view(xp, (k, k), axis=(2, 3))[:, :, ::s, ::s]
    win = win.reshape(C, N, ho, wo, k * k)
    y = win.max(axis=-1)
    top = win >= (y - tie_rel * np.abs(x).max())[..., None]
    arg = top.argmax(axis=-1)  # first True
    if last:  # the last tied element instead: shows which pixels depend on the tie rule
        arg = k * k - 1 - top[..., ::-1].argmax(axis=-1)
    ties = int(((top.sum(axis=-1) > 1) & (y > 0)).sum())  # y > 0: gradient can flow
    return y, arg, ties


def maxpool_bwd(g, arg, in_hw, k=POOL_K, s=POOL_S):
    """Route each window's gradient to its argmax; overlapping windows accumulate."""
    C, N, ho, wo = g.shape
    H, W = in_hw
    gx = np.zeros((C, N, (ho - 1) * s + k, (wo - 1) * s + k), dtype=g.dtype)
    for q in range(k * k):
        u, v = divmod(q, k)
        routed = np.where(arg == q, g, g.dtype.type(0))
        gx[:, :, u:u + s * (ho - 1) + 1:s, v:v + s * (wo - 1) + 1:s] += routed
    assert not gx[:, :, H:, :].any() and not gx[:, :, :, W:].any()  # never a padded cell
    return gx[:, :, :H, :W]


# --------------------------------------------------------------------------- network

def forward(x, P, tape=None, tie_rel=None, last=False):
    """SqueezeNet v1.1 on a batch. x: (3, N, 227, 227) -> logits (N, 1000).

    With tape (a dict), stores what the backward pass needs: ReLU inputs, pool argmaxes,
    layer input sizes. tie_rel: optional {pool name: tie tolerance} (default TIE_REL).
    """
    tie_rel = tie_rel or {}

    def keep(name, value):
        if tape is not None:
            tape[name] = value

    keep("image_hw", x.shape[2:])
    z = conv_fwd(x, *P["conv1"], stride=2)
    keep("conv1", z)
    z = np.maximum(z, 0.0)
    keep("pool1_hw", z.shape[2:])
    h, arg, ties = maxpool_fwd(z, tie_rel=tie_rel.get("pool1"), last=last)
    keep("pool1_arg", arg)
    keep("pool1_ties", ties)
    for i in range(2, 10):
        f = f"fire{i}"
        keep(f + "/in_hw", h.shape[2:])
        zs = conv_fwd(h, *P[f + "/squeeze1x1"])
        keep(f + "/squeeze1x1", zs)
        s = np.maximum(zs, 0.0)
        z1 = conv_fwd(s, *P[f + "/expand1x1"])
        z3 = conv_fwd(s, *P[f + "/expand3x3"], pad=1)
        keep(f + "/expand1x1", z1)
        keep(f + "/expand3x3", z3)
        h = np.concatenate([np.maximum(z1, 0.0), np.maximum(z3, 0.0)])  # expand1x1 first
        if i in (3, 5):
            pool = "pool3" if i == 3 else "pool5"
            keep(pool + "_hw", h.shape[2:])
            h, arg, ties = maxpool_fwd(h, tie_rel=tie_rel.get(pool), last=last)
            keep(pool + "_arg", arg)
            keep(pool + "_ties", ties)
    keep("conv10_in_hw", h.shape[2:])
    z = conv_fwd(h, *P["conv10"])  # dropout before conv10: identity at inference
    keep("conv10", z)
    return np.maximum(z, 0.0).mean(axis=(2, 3)).T  # global average pool + flatten


def backward(tape, P, cls, guided):
    """d logits[cls] / d image for a batch of one (from a forward tape) -> (3, H, W)."""
    def relu(g, name):
        return relu_bwd(g, tape[name], guided)

    z10 = tape["conv10"]
    O, N, H, W = z10.shape
    assert N == 1
    g = np.zeros_like(z10)
    g[cls] = 1.0 / (H * W)                          # global average pool
    g = relu(g, "conv10")
    g = conv_bwd(g, P["conv10"][0], tape["conv10_in_hw"])
    for i in range(9, 1, -1):
        f = f"fire{i}"
        if i in (3, 5):
            pool = "pool3" if i == 3 else "pool5"
            g = maxpool_bwd(g, tape[pool + "_arg"], tape[pool + "_hw"])
        n1 = P[f + "/expand1x1"][0].shape[0]
        g1 = relu(g[:n1], f + "/expand1x1")      # concat: split channels
        g3 = relu(g[n1:], f + "/expand3x3")
        hw = tape[f + "/in_hw"]
        gs = (conv_bwd(g1, P[f + "/expand1x1"][0], hw)
              + conv_bwd(g3, P[f + "/expand3x3"][0], hw, pad=1))  # squeeze output fans out
        gs = relu(gs, f + "/squeeze1x1")
        g = conv_bwd(gs, P[f + "/squeeze1x1"][0], hw)
    g = maxpool_bwd(g, tape["pool1_arg"], tape["pool1_hw"])
    g = relu(g, "conv1")
    g = conv_bwd(g, P["conv1"][0], tape["image_hw"], stride=2)
    return g[:, 0]


def logits_one(img, P):
    return forward(img[:, None], P)[0]


# --------------------------------------------------------------------------- occlusion

def window_starts(n, win, stride):
    # Captum's Occlusion: ceil((n - win) / stride) + 1 starts, k * stride; the last window
    # may run past the far edge and is cut off there (NumPy slicing clips it).
    return [k * stride for k in range(-(-(n - win) // stride) + 1)]


def occlusion(img, P, cls, p_base, win, stride, baseline, batch):
    _, H, W = img.shape
    ys, xs = window_starts(H, win, stride), window_starts(W, win, stride)
    boxes = [(y, x) for y in ys for x in xs]
    total = np.zeros((H, W))
    count = np.zeros((H, W))
    for k in range(0, len(boxes), batch):
        chunk = boxes[k:k + batch]
        xb = np.repeat(img[:, None], len(chunk), axis=1)
        for n, (y, x) in enumerate(chunk):
            xb[:, n, y:y + win, x:x + win] = baseline
        lg = forward(xb, P)
        e = np.exp(lg - lg.max(axis=1, keepdims=True))
        p = e[:, cls] / e.sum(axis=1)
        for n, (y, x) in enumerate(chunk):
            total[y:y + win, x:x + win] += p_base - p[n]
            count[y:y + win, x:x + win] += 1
    out = np.divide(total, count, out=np.zeros_like(total), where=count > 0)
    return out, len(ys), len(xs)


# --------------------------------------------------------------------------- diagnostics

def pool_inputs(tape):
    cat = {i: np.concatenate([tape[f"fire{i}/expand1x1"], tape[f"fire{i}/expand3x3"]])
           for i in (3, 5)}
    return {"pool1": np.maximum(tape["conv1"], 0.0),
            "pool3": np.maximum(cat[3], 0.0), "pool5": np.maximum(cat[5], 0.0)}


def pool_windows(x, fill):
    C, N, H, W = x.shape
    ho, wo = pool_out_len(H), pool_out_len(W)
    xp = np.full((C, N, (ho - 1) * POOL_S + POOL_K, (wo - 1) * POOL_S + POOL_K), fill,
                 dtype=x.dtype)
    xp[:, :, :H, :W] = x
    win = sliding_window_view(xp, (POOL_K, POOL_K), axis=(2, 3))[:, :, ::POOL_S, ::POOL_S]
    return win.reshape(C, N, ho, wo, POOL_K * POOL_K)


def margins(tape):
    """How far the forward pass is from its kinks, relative to each layer's max|x|.

    relu: smallest |ReLU input|. pool: smallest gap between a window's maximum and its
    best non-tied runner-up (windows with a positive max). A float32 forward whose
    relative error stays well below these picks the same masks and pool winners.
    """
    relu = min(float(np.abs(z).min() / np.abs(z).max()) for z in tape.values()
               if isinstance(z, np.ndarray) and z.dtype.kind == "f")
    pool = {}
    for name, x in pool_inputs(tape).items():
        win = pool_windows(x, -np.inf)
        y = win.max(axis=-1)
        tol = TIE_REL * np.abs(x).max()
        runner = np.where(win < (y - tol)[..., None], win, -np.inf).max(axis=-1)
        ok = (y > 0) & np.isfinite(runner)
        pool[name] = float(((y - runner)[ok]).min() / np.abs(x).max())
    return relu, pool


def check_pool1_ties(model, pixels, tape):
    """Recompute conv1 exactly in integers (int8 weights x uint8 pixels) and check that
    the pool1 winners chosen with TIE_REL are the first EXACT maxima of each window."""
    init = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    assert not init["conv1.weight_zero_point"].any()
    q = init["conv1.weight_q"].astype(np.int64)                      # (64, 3, 3, 3)
    k = pixels.astype(np.int64)                                      # (3, 227, 227)
    win = sliding_window_view(k, (3, 3), axis=(1, 2))[:, ::2, ::2]   # conv1: stride 2
    n = np.einsum("ocuv,cijuv->oij", q, win)[:, None]   # conv1 = bias + scale/255 * n
    low = np.iinfo(np.int64).min
    w = pool_windows(np.where(tape["conv1"] > 0, n, low), low)
    y = w.max(axis=-1)
    top = w == y[..., None]
    pos = y > low
    assert (top.argmax(axis=-1) == tape["pool1_arg"])[pos].all(), "pool1 tie handling"
    exact_ties = int(((top.sum(axis=-1) > 1) & pos).sum())
    assert exact_ties == tape["pool1_ties"], (exact_ties, tape["pool1_ties"])
    return exact_ties


# --------------------------------------------------------------------------- output

def g7(v):
    return float(f"{float(v):.7g}")


def summarise(m, extra=None):
    flat = m.ravel()
    rng = np.random.default_rng(0)
    idx = set(rng.choice(flat.size, size=N_SAMPLES, replace=False).tolist())
    idx.add(int(np.argmax(np.abs(flat))))
    idx = sorted(idx)
    d = {"shape": list(m.shape)}
    d.update(extra or {})
    d.update({"abs_max": g7(np.abs(flat).max()), "abs_sum": g7(np.abs(flat).sum()),
              "sum": g7(flat.sum()), "indices": idx, "values": [g7(flat[i]) for i in idx]})
    return d


def dump(obj, f):
    """JSON with one key per line and every list on a single line (keeps the file small)."""
    def enc(v, depth):
        if isinstance(v, dict):
            pad = " " * (depth + 1)
            items = [f"{pad}{json.dumps(k)}: {enc(x, depth + 1)}" for k, x in v.items()]
            return "{\n" + ",\n".join(items) + "\n" + " " * depth + "}"
        return json.dumps(v, separators=(",", ":"))
    f.write(enc(obj, 0) + "\n")


# --------------------------------------------------------------------------- main

def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default=os.path.join(ROOT, "static/models/squeezenet1_1-int8.onnx"))
    p.add_argument("--crop", default=os.path.join(ROOT, "tests/fixtures/crops/chelsea.png"))
    p.add_argument("--out", default=os.path.join(ROOT, "tests/fixtures/squeezenet_attribution.json"))
    p.add_argument("--window", type=int, default=32)
    p.add_argument("--stride", type=int, default=16)
    p.add_argument("--baseline", type=float, default=0.5)
    p.add_argument("--batch", type=int, default=14, help="images per occlusion forward")
    p.add_argument("--fd-pixels", type=int, default=20, help="random pixels for the FD check")
    args = p.parse_args()
    t0 = time.time()

    model = onnx.load(args.model)
    labels = json.loads({m.key: m.value for m in model.metadata_props}["convlens.labels"])
    P = rf.params_from_onnx(model)
    pixels = np.asarray(Image.open(args.crop).convert("RGB")).transpose(2, 0, 1)  # uint8
    assert pixels.shape == (3, 227, 227), pixels.shape
    img = pixels / 255.0  # (3, 227, 227) float64 RGB in [0, 1]

    # Forward, cross-checked against the single-image forward of reference_forward.py.
    tape = {}
    logits = forward(img[:, None], P, tape)[0]
    ref_logits, _ = rf.squeezenet(img, P)
    fwd_diff = np.abs(logits - ref_logits).max() / np.abs(ref_logits).max()
    assert fwd_diff < 1e-12, fwd_diff
    cls = int(np.argmax(logits))
    p_base = rf.softmax(logits)[cls]
    exact_ties = check_pool1_ties(model, pixels, tape)

    # Gradients.
    sal = backward(tape, P, cls, guided=False)
    gbp = backward(tape, P, cls, guided=True)
    # At an exact tie the gradient is not unique (any tied element is a valid subgradient
    # route, and a float32 forward breaks ties by rounding noise). Rerun with the LAST tied
    # element and record the pixels whose value depends on the choice.
    tape_last = {}
    forward(img[:, None], P, tape_last, last=True)
    tie_dependent = {}
    for name, g, m in (("saliency", False, sal), ("guided_backprop", True, gbp)):
        other = backward(tape_last, P, cls, guided=g)
        tie_dependent[name] = np.flatnonzero(np.abs(other - m) > 1e-9 * np.abs(m).max())

    # Finite-difference check of the saliency. The net is piecewise linear, so a
    # difference quotient is exact up to rounding unless a kink (ReLU at 0, pool winner
    # change) lies within eps. When the left and right quotients disagree, eps is
    # shrunk; a pixel whose quotients still disagree at 1e-8 sits ON a kink (e.g. it
    # feeds an exactly tied pool1 window) and is reported instead of compared.
    rng = np.random.default_rng(1)
    scale = np.abs(sal).max()
    f0 = logits[cls]
    fd_rows, fd_err, kinks = [], 0.0, 0
    picks = [tuple(int(v) for v in np.unravel_index(np.argmax(np.abs(sal)), sal.shape))]
    picks += [tuple(int(rng.integers(n)) for n in sal.shape) for _ in range(args.fd_pixels)]
    for c, y, x in picks:
        for eps in (1e-6, 1e-7, 1e-8):
            xp, xm = img.copy(), img.copy()
            xp[c, y, x] += eps
            xm[c, y, x] -= eps
            right = (logits_one(xp, P)[cls] - f0) / eps
            left = (f0 - logits_one(xm, P)[cls]) / eps
            if abs(right - left) <= 1e-6 * scale:
                break
        else:
            kinks += 1
            fd_rows.append((c, y, x, eps, sal[c, y, x], (right + left) / 2, None))
            continue
        err = abs((right + left) / 2 - sal[c, y, x]) / scale
        fd_err = max(fd_err, err)
        fd_rows.append((c, y, x, eps, sal[c, y, x], (right + left) / 2, err))

    # Occlusion.
    t_occ = time.time()
    occ, ny, nx = occlusion(img, P, cls, p_base, args.window, args.stride, args.baseline, args.batch)
    t_occ = time.time() - t_occ

    # Sensitivity to float32: rerun forward + backward with everything cast to float32,
    # pool1 ties detected within 1e-6 * max|x| (float32 noise is ~1e-7, the smallest
    # conv1 lattice step ~6e-6 of max|x|), pool3/pool5 with a strict first argmax.
    relu_margin, pool_margin = margins(tape)
    P32 = {k: (w.astype(np.float32), b.astype(np.float32)) for k, (w, b) in P.items()}
    tape32 = {}
    forward(img.astype(np.float32)[:, None], P32, tape32,
            tie_rel={"pool1": 1e-6, "pool3": 0.0, "pool5": 0.0})
    f32_diff = {name: float(np.abs(backward(tape32, P32, cls, guided=g) - m).max()
                            / np.abs(m).max())
                for name, g, m in (("saliency", False, sal), ("guided_backprop", True, gbp))}

    out = {
        "note": ("Attribution maps for SqueezeNet v1.1 (int8 ONNX model, dequantised weights) "
                 "from an independent float64 NumPy implementation with hand-written backward "
                 "passes. Input = crop as RGB/255, CHW, batch 1. class = top-1 of the forward; "
                 "logit = logits[class] (global average pool of conv10+ReLU, pre-softmax); "
                 "probability = softmax(logits)[class]. saliency = d logits[class]/d input "
                 "(ReLU passes grad where its input > 0; ceil-mode 3x3/2 max pools route grad "
                 "to the first maximum in row-major window order, overlaps accumulate; "
                 "conv1 outputs lie on a lattice bias + scale/255 * integer, so "
                 f"{exact_ties} pool1 windows hold EXACTLY tied positive maxima (verified in "
                 "integer arithmetic): "
                 "the first of them gets the gradient, not whichever rounding noise favours). "
                 "guided_backprop = same with every ReLU (conv10's included) also requiring "
                 "grad > 0. occlusion: window x window squares (all 3 channels) set to "
                 "baseline, starts k*stride for k = 0..ceil((227-window)/stride) as in Captum, the "
                 "last window cut off at the border (14 x 14 = 196 windows for 32/16); value = mean over "
                 "covering windows of p_base - p_occluded, p = softmax(logits)[class], "
                 "uncovered pixels 0. indices: flat row-major indices, 2000 drawn with "
                 "np.random.default_rng(0).choice(size, 2000, replace=False) (fresh generator "
                 "per map) plus argmax|map|, sorted; values: the map there. abs_max, abs_sum, "
                 "sum: over the whole map. Floats rounded to 7 significant digits."),
        "command": "python3 tools/reference_attribution.py",
        "crop": os.path.relpath(args.crop, os.path.join(ROOT, "tests/fixtures")),
        "class": cls,
        "label": labels[cls],
        "logit": g7(logits[cls]),
        "probability": g7(p_base),
        "saliency": summarise(sal, {"tie_dependent": tie_dependent["saliency"].tolist()}),
        "guided_backprop": summarise(gbp, {"tie_dependent": tie_dependent["guided_backprop"].tolist()}),
        "occlusion": summarise(occ, {"window": args.window, "stride": args.stride,
                                     "baseline": args.baseline}),
    }
    with open(args.out, "w", encoding="utf-8") as f:
        dump(out, f)

    print(f"class {cls} ({labels[cls]}), logit {logits[cls]:.7g}, prob {p_base:.7g}")
    print(f"forward vs reference_forward.squeezenet: max rel diff {fwd_diff:.1e}")
    print(f"pool1 windows with exactly tied positive maxima (checked in integers): {exact_ties}"
          f"; pool3/pool5: {tape['pool3_ties']}/{tape['pool5_ties']}")
    print("saliency vs central differences (error relative to abs_max):")
    for c, y, x, eps, a, fd, err in fd_rows:
        tail = "on a kink, skipped" if err is None else f"err {err:.1e}"
        print(f"  [{c},{y:3d},{x:3d}] eps {eps:.0e} analytic {a: .9e}  fd {fd: .9e}  {tail}")
    print(f"  max err {fd_err:.1e} over {len(fd_rows) - kinks} pixels ({kinks} on a kink)")
    for name, m in (("saliency", sal), ("guided_backprop", gbp), ("occlusion", occ)):
        print(f"{name:<16} abs_max {np.abs(m).max():.7g}  abs_sum {np.abs(m).sum():.7g}  "
              f"sum {m.sum():.7g}")
    print(f"occlusion: {ny}x{nx} windows, {t_occ:.1f}s")
    print("pixels whose gradient depends on the tie rule: " + ", ".join(f"{k} {len(v)}" for k, v in tie_dependent.items()))
    print(f"kink margins (relative to layer max): ReLU inputs {relu_margin:.1e}, pool "
          + ", ".join(f"{k} {v:.1e}" for k, v in pool_margin.items()))
    print("float32 rerun, max |f32 - f64| / abs_max: "
          + ", ".join(f"{k} {v:.1e}" for k, v in f32_diff.items()))
    print(f"wrote {os.path.relpath(args.out, ROOT)} ({os.path.getsize(args.out)} bytes) "
          f"in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
