#!/usr/bin/env python3
"""Draw the generated style image static/samples/styles/stained-glass.jpg.

A Voronoi "stained glass": 90 cells of saturated colour with dark leading between them and a
little brush-like grain. Deterministic (seed 7); the project dedicates it to the public domain
(CC0), see static/samples/styles/ATTRIBUTION.md. Needs numpy and Pillow.
"""
import argparse
import colorsys
import os

import numpy as np
from PIL import Image, ImageFilter


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", default=os.path.join(root, "static/samples/styles/stained-glass.jpg"))
    p.add_argument("--size", type=int, default=384)
    args = p.parse_args()
    rng = np.random.default_rng(7)
    n, side = 90, args.size
    seeds = rng.uniform(0, side, size=(n, 2))
    hues = rng.uniform(0, 1, size=n)
    colours = np.array([colorsys.hsv_to_rgb(h, rng.uniform(0.65, 1.0), rng.uniform(0.7, 1.0)) for h in hues])
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32)
    d = (yy[..., None] - seeds[:, 0]) ** 2 + (xx[..., None] - seeds[:, 1]) ** 2
    order = np.argsort(d, axis=2)
    nearest, second = order[..., 0], order[..., 1]
    d1 = np.sqrt(np.take_along_axis(d, nearest[..., None], 2)[..., 0])
    d2 = np.sqrt(np.take_along_axis(d, second[..., None], 2)[..., 0])
    img = colours[nearest]
    # Light falls off towards each cell's edge; the leading is where two cells nearly tie.
    img *= (0.75 + 0.25 * np.clip((d2 - d1) / 12.0, 0, 1))[..., None]
    grain = rng.normal(0, 0.04, size=(side, side, 1))
    img = np.clip(img + grain, 0, 1)
    img[(d2 - d1) < 2.2] = 0.08
    out = Image.fromarray((img * 255).astype(np.uint8)).filter(ImageFilter.SMOOTH)
    out.save(args.out, quality=88, optimize=True)
    print(f"wrote {args.out} ({os.path.getsize(args.out)} bytes)")


if __name__ == "__main__":
    main()
