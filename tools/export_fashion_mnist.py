#!/usr/bin/env python3
"""Export the trained Fashion-MNIST CNN as an int8 ONNX model, and its bundled dataset.

Inputs
------
* the float weights written by ``cargo run --release --features train --example
  train_fashion_mnist`` (JSON: ``weights`` maps ``conv1.weight`` ... ``fc2.bias`` to
  ``{"shape", "values"}``; Burn's Linear weights are ``[in, out]``);
* Debian's ``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist``, MIT/Expat,
  Zalando SE 2017) for the bundled test subset.

Outputs
-------
* ``static/models/fashion-mnist-cnn-int8.onnx``: opset 13, input ``image`` float32
  ``[1, 1, 28, 28]``, grey in [0, 1] (white garment on black, as in the dataset);
  outputs ``prob`` (softmax) and ``logits``. Per-output-channel symmetric int8 weights in
  QDQ form (``<layer>.weight_q`` -> ``DequantizeLinear(axis=0)`` -> ``<layer>.weight``),
  float32 biases, exactly as for SqueezeNet (see ``convert_squeezenet.py``). Metadata:
  ``convlens.labels`` in the dataset's label order, ``convlens.name``,
  ``convlens.input_size`` = 28, ``convlens.resize_shorter`` = 28,
  ``convlens.input_range`` = grey01, ``convlens.dataset`` (the bundled subset's path,
  relative to the site root).
* ``static/datasets/fashion-mnist-test-2000.png``: the first 200 test images of each
  class (in test-set order), 28x28 grey tiles in a 50-column atlas, row-major in that
  order; ``static/datasets/fashion-mnist-test-2000.json``: ``labels`` and ``test_index``
  per tile, the class names, and the tile geometry.
* ``static/datasets/LICENSE-fashion-mnist.txt``; ``static/samples/fashion/*.png``: the
  first test image of six classes, as sample pictures.

Node naming (the app's layer names): conv1, conv1_relu, pool1, conv2, conv2_relu, pool2,
conv3, conv3_relu, pool3, flatten, fc1, fc1_relu, logits, prob.
"""

import argparse
import gzip
import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from convert_squeezenet import quantize_per_channel  # noqa: E402

DATA_DIR = "/usr/share/datasets/fashion-mnist"
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
PER_CLASS = 200
COLUMNS = 50
DATASET_PATH = "datasets/fashion-mnist-test-2000.png"


def read_idx(name):
    with gzip.open(os.path.join(DATA_DIR, name), "rb") as f:
        data = f.read()
    magic = int.from_bytes(data[:4], "big")
    if magic == 2051:
        n, h, w = (int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(3))
        return np.frombuffer(data, np.uint8, offset=16).reshape(n, h, w)
    assert magic == 2049, f"{name}: bad magic {magic}"
    return np.frombuffer(data, np.uint8, offset=8)


def build_model(weights):
    nodes, inits = [], []

    def w(name):
        t = weights[name]
        return np.asarray(t["values"], np.float32).reshape(t["shape"])

    def dequantized(layer, weight_oi):
        q, scale = quantize_per_channel(weight_oi if weight_oi.ndim == 4 else weight_oi[:, :, None, None])
        q = q.reshape(weight_oi.shape)
        inits.extend([
            numpy_helper.from_array(q, f"{layer}.weight_q"),
            numpy_helper.from_array(scale, f"{layer}.weight_scale"),
            numpy_helper.from_array(np.zeros(len(scale), np.int8), f"{layer}.weight_zero_point"),
            numpy_helper.from_array(w(f"{layer}.bias"), f"{layer}.bias"),
        ])
        nodes.append(helper.make_node(
            "DequantizeLinear", [f"{layer}.weight_q", f"{layer}.weight_scale", f"{layer}.weight_zero_point"],
            [f"{layer}.weight"], name=f"{layer}.weight", axis=0))
        return f"{layer}.weight"

    def conv_block(layer, x, pool):
        wname = dequantized(layer, w(f"{layer}.weight"))
        nodes.append(helper.make_node("Conv", [x, wname, f"{layer}.bias"], [layer], name=layer,
                                      kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1]))
        nodes.append(helper.make_node("Relu", [layer], [f"{layer}_relu"], name=f"{layer}_relu"))
        nodes.append(helper.make_node("MaxPool", [f"{layer}_relu"], [pool], name=pool,
                                      kernel_shape=[2, 2], strides=[2, 2], pads=[0, 0, 0, 0]))
        return pool

    def dense(layer, x, out):
        # Burn stores [in, out]; Gemm with transB=1 takes [out, in], quantised per output row.
        wname = dequantized(layer, np.ascontiguousarray(w(f"{layer}.weight").T))
        nodes.append(helper.make_node("Gemm", [x, wname, f"{layer}.bias"], [out], name=out, transB=1))
        return out

    x = conv_block("conv1", "image", "pool1")
    x = conv_block("conv2", x, "pool2")
    x = conv_block("conv3", x, "pool3")
    nodes.append(helper.make_node("Flatten", [x], ["flatten"], name="flatten", axis=1))
    x = dense("fc1", "flatten", "fc1")
    nodes.append(helper.make_node("Relu", [x], ["fc1_relu"], name="fc1_relu"))
    dense("fc2", "fc1_relu", "logits")
    nodes.append(helper.make_node("Softmax", ["logits"], ["prob"], name="prob", axis=1))

    graph = helper.make_graph(
        nodes, "fashion_mnist_cnn",
        inputs=[helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 1, 28, 28])],
        outputs=[helper.make_tensor_value_info("prob", TensorProto.FLOAT, [1, 10]),
                 helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 10])],
        initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                              producer_name="convlens-tools", producer_version="1", ir_version=8)
    model.doc_string = (
        "A small CNN trained by convlens on Fashion-MNIST (Zalando SE, MIT) with Burn "
        "(examples/train_fashion_mnist.rs); input is grey in [0,1], white garment on black; "
        "int8 per-channel weights (QDQ).")
    helper.set_model_props(model, {
        "convlens.labels": json.dumps(CLASSES, separators=(",", ":")),
        "convlens.name": "Fashion-MNIST CNN (int8)",
        "convlens.input_size": "28",
        "convlens.resize_shorter": "28",
        "convlens.input_range": "grey01",
        "convlens.dataset": DATASET_PATH,
    })
    return onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)


def conv3x3(x, k, bias):
    """3x3 convolution, padding 1, stride 1: x [n, c, h, w], k [o, c, 3, 3]."""
    n, c, h, wd = x.shape
    p = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    cols = np.stack([p[:, :, i:i + h, j:j + wd] for i in range(3) for j in range(3)], axis=2)
    return np.einsum("nckhw,ock->nohw", cols, k.reshape(k.shape[0], k.shape[1], 9)) + bias[None, :, None, None]


def pool(x):
    """2x2 max-pool, stride 2 (floor)."""
    n, c, h, wd = x.shape
    h2, w2 = h // 2, wd // 2
    return x[:, :, :2 * h2, :2 * w2].reshape(n, c, h2, 2, w2, 2).max(axis=(3, 5))


def forward(layers, x):
    """The network in NumPy: `layers` maps conv1..fc2 to (weight, bias) with dense weights as
    [out, in]; x is [n, 1, 28, 28] in [0, 1]. Returns (fc1_relu codes, logits)."""
    for layer in ["conv1", "conv2", "conv3"]:
        x = pool(np.maximum(conv3x3(x, *layers[layer]), 0))
    k, b = layers["fc1"]
    codes = np.maximum(x.reshape(x.shape[0], -1) @ k.T + b, 0)
    k, b = layers["fc2"]
    return codes, codes @ k.T + b


def reference_accuracy(weights, images, labels):
    """Float forward in NumPy with the int8-rounded weights: the accuracy the app should see."""
    def q(name):
        t = weights[name]
        a = np.asarray(t["values"], np.float32).reshape(t["shape"])
        flat = a.reshape(a.shape[0], -1) if name.startswith("conv") else a.T
        qq, s = quantize_per_channel(flat[:, :, None, None])
        deq = qq.reshape(flat.shape).astype(np.float32) * s[:, None]
        return deq.reshape(a.shape) if name.startswith("conv") else deq

    layers = {l: (q(f"{l}.weight"), np.asarray(weights[f"{l}.bias"]["values"], np.float32))
              for l in ["conv1", "conv2", "conv3", "fc1", "fc2"]}
    right = 0
    for s in range(0, len(labels), 500):
        _, logits = forward(layers, images[s:s + 500, None].astype(np.float32) / 255.0)
        right += int((logits.argmax(1) == labels[s:s + 500]).sum())
    return right / len(labels)


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--weights", default=os.path.join(root, "target/fashion-mnist-weights.json"))
    p.add_argument("--out", default=os.path.join(root, "static/models/fashion-mnist-cnn-int8.onnx"))
    p.add_argument("--dataset-dir", default=os.path.join(root, "static/datasets"))
    args = p.parse_args()

    with open(args.weights) as f:
        doc = json.load(f)
    weights = doc["weights"]
    model = build_model(weights)
    onnx.checker.check_model(model, full_check=True)
    data = model.SerializeToString()
    with open(args.out, "wb") as f:
        f.write(data)
    print(f"wrote {args.out}: {len(data)} bytes; float accuracy {100 * doc['test_accuracy']:.2f}% "
          f"after {doc['epochs']} epochs ({doc['seconds']:.0f} s)")

    images, labels = read_idx("t10k-images-idx3-ubyte.gz"), read_idx("t10k-labels-idx1-ubyte.gz")
    print(f"int8 reference accuracy on the 10,000 test images: "
          f"{100 * reference_accuracy(weights, images, labels):.2f}%")

    picked = sorted(i for c in range(10) for i in np.flatnonzero(labels == c)[:PER_CLASS])
    rows = -(-len(picked) // COLUMNS)
    atlas = np.zeros((rows * 28, COLUMNS * 28), np.uint8)
    for k, i in enumerate(picked):
        r, c = divmod(k, COLUMNS)
        atlas[r * 28:(r + 1) * 28, c * 28:(c + 1) * 28] = images[i]
    os.makedirs(args.dataset_dir, exist_ok=True)
    png = os.path.join(args.dataset_dir, os.path.basename(DATASET_PATH))
    Image.fromarray(atlas, mode="L").save(png, optimize=True)
    meta = {
        "name": "Fashion-MNIST test subset (200 per class)",
        "tile": 28, "columns": COLUMNS, "count": len(picked),
        "classes": CLASSES,
        "labels": [int(labels[i]) for i in picked],
        "test_index": [int(i) for i in picked],
    }
    with open(png[:-4] + ".json", "w") as f:
        json.dump(meta, f, separators=(",", ":"))
    print(f"wrote {png}: {os.path.getsize(png)} bytes, {len(picked)} images")
    # A few test images as sample pictures for the page (28x28 grey PNG, first of each class).
    samples_dir = os.path.join(root, "static/samples/fashion")
    os.makedirs(samples_dir, exist_ok=True)
    for c, name in [(7, "sneaker"), (1, "trouser"), (8, "bag"), (3, "dress"), (9, "ankle-boot"), (6, "shirt")]:
        i = int(np.flatnonzero(labels == c)[0])
        Image.fromarray(images[i], mode="L").save(os.path.join(samples_dir, f"{name}.png"), optimize=True)
    with open("/usr/share/doc/dataset-fashion-mnist/copyright") as f:
        text = f.read()
    with open(os.path.join(args.dataset_dir, "LICENSE-fashion-mnist.txt"), "w") as f:
        f.write("Fashion-MNIST, Copyright 2017 Zalando SE (https://github.com/zalandoresearch/fashion-mnist),\n"
                "as packaged by Debian (dataset-fashion-mnist). Its copyright file follows.\n\n" + text)


if __name__ == "__main__":
    sys.exit(main())
