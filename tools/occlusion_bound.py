#!/usr/bin/env python3
"""How fast can an exact incremental occlusion sweep of SqueezeNet 1.1 be, in multiply-adds?

Counts the convolutions' multiply-adds of a sweep over a 227x227 input: every occluded copy in
full ("whole images"), against the plan `src/model/incremental.rs` follows (per layer, the
outputs each window can reach; one patch size per batch, the largest of its copies; a batch
assembled in full from the first layer where its patch would cover over 70% of the layer;
windows in the order `positions()` gives them, coarse pass first, 8 per batch), and against
the best any exact per-window plan can do (each window alone, never assembled), which is the
plan of the app's exact sweeps on the CPU for SqueezeNet: there a window's copy is assembled in
full only at a pool, a depthwise convolution or a residual sum (`DENSE_SHARE` in
incremental.rs), and SqueezeNet's pools come before any window's reach is that large. Geometry only:
no weights, no timing. Simplified where it hardly matters: a window at the far edge is cut
there (the app shifts it inward, same size), and a fire module's 1x1 expand is counted over its
3x3 sibling's patch. The last lines: how far a 32-pixel window reaches in the last layer, and
where windows run alone at 32/16 are assembled in full (a fire module's concatenation follows its
3x3 expand; by the batches' 70% rule, and by the rule for windows alone). Usage: python3
tools/occlusion_bound.py [batch=8]
"""
import math
import sys

SIDE = 227
DENSE_SHARE = 0.7


def fire(cin, squeeze, expand):
    # squeeze 1x1, then the 1x1 and 3x3 expands side by side (their outputs concatenated)
    return [("conv", 1, 1, 0, cin, squeeze), ("expand", 3, 1, 1, squeeze, expand)]


# (kind, kernel, stride, padding, in channels, out channels)
LAYERS = (
    [("conv", 3, 2, 0, 3, 64), ("pool", 3, 2, 0, 64, 64)]
    + fire(64, 16, 64) + fire(128, 16, 64) + [("pool", 3, 2, 0, 128, 128)]
    + fire(128, 32, 128) + fire(256, 32, 128) + [("pool", 3, 2, 0, 256, 256)]
    + fire(256, 48, 192) + fire(384, 48, 192) + fire(384, 64, 256) + fire(512, 64, 256)
    + [("conv", 1, 1, 0, 512, 1000)]
)


# Each layer's name in SqueezeNet 1.1 (a fire module's expand stands for both of its expands).
NAMES = ["conv1", "pool1"] + [f"fire{i}/{part}" for i in (2, 3) for part in ("squeeze", "expand")] + ["pool3"] \
    + [f"fire{i}/{part}" for i in (4, 5) for part in ("squeeze", "expand")] + ["pool5"] \
    + [f"fire{i}/{part}" for i in (6, 7, 8, 9) for part in ("squeeze", "expand")] + ["conv10"]


def out_size(n, kind, k, s, p):
    # SqueezeNet's max pools round up (ceil_mode)
    return math.ceil((n - k) / s) + 1 if kind == "pool" else (n + 2 * p - k) // s + 1


def affected(a, length, reach, s, p, out):
    """The outputs (inclusive span) that inputs [a, a + length) can change (as in incremental.rs)."""
    lo = min(-(-max(a + p - reach, 0) // s), out - 1)
    hi = max(min((a + length - 1 + p) // s, out - 1), lo)
    return lo, hi


def macs_per_pixel(kind, k, cin, cout):
    if kind == "conv":
        return cin * cout * k * k
    if kind == "expand":
        return cin * cout * (1 + 9)
    return 0


def starts(size, window, stride):
    return [k * stride for k in range(0, -(-(size - window) // stride) + 1) if k * stride < size]


def positions(window, stride):
    s = starts(SIDE, window, stride)
    coarse = [(y, x) for i, y in enumerate(s) for j, x in enumerate(s) if i % 2 == 0 and j % 2 == 0]
    fine = [(y, x) for i, y in enumerate(s) for j, x in enumerate(s) if not (i % 2 == 0 and j % 2 == 0)]
    return [coarse, fine] if len(s) ** 2 >= 16 else [coarse + fine]


def sweep(window, stride, batch, dense_share):
    whole = plan = 0
    for part in positions(window, stride):
        for b in range(0, len(part), batch):
            copies = part[b:b + batch]
            n = SIDE
            spans = [((y, min(y + window, SIDE) - 1), (x, min(x + window, SIDE) - 1)) for y, x in copies]
            dense = False
            for kind, k, s, p, cin, cout in LAYERS:
                o = out_size(n, kind, k, s, p)
                per_pixel = macs_per_pixel(kind, k, cin, cout)
                whole += per_pixel * o * o * len(copies)
                if not dense:
                    spans = [tuple(affected(sp[d][0], sp[d][1] - sp[d][0] + 1, k - 1, s, p, o) for d in (0, 1))
                             for sp in spans]
                    size = [max(t[d][1] - t[d][0] + 1 for t in spans) for d in (0, 1)]
                    dense = size[0] * size[1] > dense_share * o * o
                plan += per_pixel * (o * o if dense else size[0] * size[1]) * len(copies)
                n = o
    return whole, plan


def walk(y, x, window):
    """Layer by layer, for a window at (y, x): the layer's name, its side and the outputs the window can change."""
    n, spans = SIDE, ((y, min(y + window, SIDE) - 1), (x, min(x + window, SIDE) - 1))
    for name, (kind, k, s, p, _, _) in zip(NAMES, LAYERS):
        n = out_size(n, kind, k, s, p)
        spans = tuple(affected(spans[d][0], spans[d][1] - spans[d][0] + 1, k - 1, s, p, n) for d in (0, 1))
        yield name, n, spans


def area(spans):
    return (spans[0][1] - spans[0][0] + 1) * (spans[1][1] - spans[1][0] + 1)


def first_dense(window, stride, pools_only):
    """Windows run alone: how many are assembled in full at each layer (None: never, before the
    global pool), by the 70% rule at every layer or (pools_only) only at the max pools."""
    counts = {}
    for part in positions(window, stride):
        for y, x in part:
            at = next((name for name, n, spans in walk(y, x, window)
                       if (name.startswith("pool") or not pools_only) and area(spans) > DENSE_SHARE * n * n), None)
            counts[at] = counts.get(at, 0) + 1
    return counts


def reach(y, x, window):
    """The outputs a window at (y, x) can change in the last layer (14x14 at 227 pixels): their count."""
    *_, (_, n, spans) = walk(y, x, window)
    return area(spans), n * n


def main():
    batch = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    print("window/stride  windows  whole images  exact plan (batch %d)  each window alone, never dense" % batch)
    for window, stride in [(16, 8), (32, 16), (48, 24), (64, 32)]:
        count = sum(len(p) for p in positions(window, stride))
        whole, plan = sweep(window, stride, batch, DENSE_SHARE)
        _, alone = sweep(window, stride, 1, 2.0)
        print(f"{window:>6}/{stride:<6} {count:>8} {whole / 1e9:>10.1f} G {plan / 1e9:>10.1f} G ({whole / plan:.2f}x)"
              f" {alone / 1e9:>10.1f} G ({whole / alone:.2f}x)")
    corner, whole_map = reach(0, 0, 32)
    middle, _ = reach(96, 112, 32)
    print(f"a 32-pixel window reaches {corner} of the last layer's {whole_map} positions in a corner,"
          f" {middle} in the middle")
    print("32/16, each window alone, assembled in full at (70% rule at every layer):", first_dense(32, 16, False))
    print("32/16, each window alone, assembled in full at (the app's rule: pools only):", first_dense(32, 16, True))


if __name__ == "__main__":
    main()
