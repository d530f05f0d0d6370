#!/usr/bin/env python3
"""Copy the sample photos from a scikit-image wheel into static/samples/.

The photos are public domain / CC0 (see static/samples/ATTRIBUTION.md). Files are
copied byte for byte, except astronaut.png (~790 KB), which is re-encoded as a
quality-90 JPEG (astronaut.jpg) when that is smaller, to keep the web app light.
The CC0 textures brick, gravel and grass become neural-style samples in styles/:
resized to 384x384 (Lanczos) and saved as quality-88 grey JPEGs.
"""

import argparse
import io
import os
import zipfile

from PIL import Image

SAMPLES = ["chelsea.png", "coffee.png", "astronaut.png", "rocket.jpg", "horse.png",
           "hubble_deep_field.jpg"]
REENCODE = {"astronaut.png": "astronaut.jpg"}  # PNG -> JPEG q90 if smaller
STYLES = ["brick.png", "gravel.png", "grass.png"]


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--wheel", required=True, help="scikit_image-0.26.0-*.whl")
    p.add_argument("--out", default=os.path.join(root, "static/samples"))
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)

    with zipfile.ZipFile(args.wheel) as whl:
        for name in SAMPLES:
            data = whl.read(f"skimage/data/{name}")
            if name in REENCODE:
                buf = io.BytesIO()
                Image.open(io.BytesIO(data)).convert("RGB").save(buf, "JPEG", quality=90)
                if buf.tell() < len(data):
                    print(f"{name}: {len(data)} B -> {REENCODE[name]} (JPEG q90) {buf.tell()} B")
                    stale = os.path.join(args.out, name)
                    if os.path.exists(stale):
                        os.remove(stale)  # keep the directory idempotent
                    name, data = REENCODE[name], buf.getvalue()
            with open(os.path.join(args.out, name), "wb") as f:
                f.write(data)
            print(f"wrote {name}: {len(data)} B")
        os.makedirs(os.path.join(args.out, "styles"), exist_ok=True)
        for name in STYLES:
            img = Image.open(io.BytesIO(whl.read(f"skimage/data/{name}"))).convert("L")
            out = os.path.join(args.out, "styles", name.replace(".png", ".jpg"))
            img.resize((384, 384), Image.LANCZOS).save(out, quality=88, optimize=True)
            print(f"wrote styles/{os.path.basename(out)}: {os.path.getsize(out)} B")


if __name__ == "__main__":
    main()
