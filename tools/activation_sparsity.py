#!/usr/bin/env python3
"""How many of each 1x1 convolution's input values are nonzero, on one image?

Decides which layers the sparse 1x1 kernel (`src/model/cpu_sparse.rs`) can take: it runs the model
in onnxruntime with every 1x1 convolution's input as an extra output and prints, per layer, the
share of nonzero values and the layer's output channels. The photo is resized so that its shorter
side is the input side, centre-cropped, scaled to [0, 1]; `--imagenet` then normalizes it with
ImageNet's mean and std (for files that expect normalized input; the bundled SqueezeNet does
that itself). Needs onnxruntime (`pip install onnxruntime`).
Usage: python3 tools/activation_sparsity.py MODEL.onnx [IMAGE=static/samples/chelsea.png] [--imagenet]
"""
import sys

import numpy as np
import onnx
import onnxruntime as ort
from PIL import Image


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    path, image = args[0], (args[1] if len(args) > 1 else "static/samples/chelsea.png")
    m = onnx.load(path)
    dims = {i.name: list(i.dims) for i in m.graph.initializer}
    for n in m.graph.node:  # weights stored as int8 behind a DequantizeLinear
        if n.op_type == "DequantizeLinear" and n.input[0] in dims:
            dims[n.output[0]] = dims[n.input[0]]
    convs = [n for n in m.graph.node if n.op_type == "Conv" and dims.get(n.input[1], [0, 0, 0, 0])[2:] == [1, 1]]
    names = list(dict.fromkeys(n.input[0] for n in convs))
    for name in names:
        m.graph.output.append(onnx.helper.make_value_info(name, onnx.TypeProto()))
    session = ort.InferenceSession(m.SerializeToString())
    first = session.get_inputs()[0]
    side = first.shape[2] if isinstance(first.shape[2], int) else 224
    img = Image.open(image).convert("RGB")
    scale = side / min(img.size)
    img = img.resize((max(side, round(img.width * scale)), max(side, round(img.height * scale))), Image.BILINEAR)
    left, top = (img.width - side) // 2, (img.height - side) // 2
    x = (np.asarray(img.crop((left, top, left + side, top + side)), dtype=np.float32) / 255).transpose(2, 0, 1)[None]
    if "--imagenet" in sys.argv:
        mean = np.array([0.485, 0.456, 0.406], dtype=np.float32)[None, :, None, None]
        std = np.array([0.229, 0.224, 0.225], dtype=np.float32)[None, :, None, None]
        x = (x - mean) / std
    values = dict(zip(names, session.run(names, {first.name: x})))
    print(f"{path}: {len(convs)} 1x1 convolutions on {image}")
    print("nonzero  outputs  layer")
    for n in sorted(convs, key=lambda n: float((values[n.input[0]] != 0).mean())):
        print(f"{(values[n.input[0]] != 0).mean():7.1%}  {dims[n.input[1]][0]:7d}  {n.name or n.output[0]}")


if __name__ == "__main__":
    main()
