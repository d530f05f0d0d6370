#!/usr/bin/env python3
"""Small ONNX models of the architectures people export, with random weights, and their outputs
from onnxruntime: the fixtures of `tests/zoo.rs`.

Each model keeps the operator patterns its usual exporter emits (torch.onnx for LeNet, VGG,
ResNet, MobileNetV2 and SqueezeNet; tf2onnx for EfficientNet-Lite; MobileNetV3's hard-swish) at
a small width and a 32×32 (LeNet: 28×28 grey) input, so the files stay small. Weights are drawn
from a fixed seed; outputs come from onnxruntime's CPU provider on two fixed inputs.

    pip install onnx onnxruntime numpy
    python3 tools/make_model_zoo.py            # writes tests/fixtures/zoo/

Output: `tests/fixtures/zoo/<name>.onnx` and `tests/fixtures/zoo/reference.json`
(`{name: {"opset", "int8", "input_shape", "outputs": [[...]], "ops": [...]}}`: the first graph
output, 7 significant digits, for the two inputs of `test_input`). The `*_int8_*` models are
onnxruntime's quantization of some of them (see `QUANTIZED`): static QDQ, static integer
operators, and dynamic.
"""

import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests/fixtures/zoo")


class Builder:
    """A graph under construction: nodes, initializers, unique names, seeded weights."""

    def __init__(self, name, seed):
        self.name = name
        self.rng = np.random.default_rng(seed)
        self.nodes, self.inits, self.count = [], [], 0

    def fresh(self, stem):
        self.count += 1
        return f"{stem}_{self.count}"

    def const(self, array, stem="c"):
        name = self.fresh(stem)
        self.inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def node(self, op, inputs, stem=None, **attrs):
        out = self.fresh(stem or op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def conv(self, x, cin, cout, k, stride=1, pad=None, groups=1, bias=True, dilation=1, auto_pad=None):
        fan_in = cin // groups * k * k
        w = self.const((self.rng.standard_normal((cout, cin // groups, k, k)) * np.sqrt(2.0 / fan_in)).astype(np.float32), "w")
        inputs = [x, w]
        if bias:
            inputs.append(self.const((self.rng.standard_normal(cout) * 0.1).astype(np.float32), "b"))
        attrs = dict(kernel_shape=[k, k], strides=[stride, stride], group=groups, dilations=[dilation, dilation])
        if auto_pad:
            attrs["auto_pad"] = auto_pad
        else:
            p = (k - 1) // 2 * dilation if pad is None else pad
            attrs["pads"] = [p, p, p, p]
        return self.node("Conv", inputs, "conv", **attrs)

    def bn(self, x, c):
        g = self.const((1.0 + 0.1 * self.rng.standard_normal(c)).astype(np.float32), "gamma")
        b = self.const((0.1 * self.rng.standard_normal(c)).astype(np.float32), "beta")
        m = self.const((0.1 * self.rng.standard_normal(c)).astype(np.float32), "mean")
        v = self.const((1.0 + 0.2 * self.rng.random(c)).astype(np.float32), "var")
        return self.node("BatchNormalization", [x, g, b, m, v], "bn", epsilon=1e-3)

    def relu(self, x):
        return self.node("Relu", [x])

    def relu6(self, x, opset):
        if opset < 11:
            return self.node("Clip", [x], "relu6", min=0.0, max=6.0)
        return self.node("Clip", [x, self.const(np.float32(0.0), "lo"), self.const(np.float32(6.0), "hi")], "relu6")

    def gemm(self, x, fin, fout):
        w = self.const((self.rng.standard_normal((fout, fin)) * np.sqrt(1.0 / fin)).astype(np.float32), "fc_w")
        b = self.const((0.1 * self.rng.standard_normal(fout)).astype(np.float32), "fc_b")
        return self.node("Gemm", [x, w, b], "fc", transB=1)

    def torch_flatten(self, x):
        """x.view(x.size(0), -1) as torch.onnx exports it: Shape, Gather, Unsqueeze, Concat, Reshape."""
        shape = self.node("Shape", [x])
        n = self.node("Gather", [shape, self.const(np.array(0, np.int64), "zero")], axis=0)
        n1 = self.unsqueeze(n, [0])
        dims = self.node("Concat", [n1, self.const(np.array([-1], np.int64), "minus1")], axis=0)
        return self.node("Reshape", [x, dims])

    def unsqueeze(self, x, axes):
        if self.opset >= 13:
            return self.node("Unsqueeze", [x, self.const(np.array(axes, np.int64), "axes")])
        return self.node("Unsqueeze", [x], axes=axes)

    def model(self, x_name, shape, out, opset):
        def build(output_info):
            graph = helper.make_graph(
                self.nodes, self.name, [helper.make_tensor_value_info(x_name, TensorProto.FLOAT, shape)],
                [output_info], self.inits)
            m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="convlens-zoo")
            m.ir_version = 8 if opset <= 18 else 10
            return m

        # Declare the output with the shape that shape inference finds for it.
        probe = build(helper.make_tensor_value_info("unused", TensorProto.FLOAT, [1]))
        inferred = onnx.shape_inference.infer_shapes(probe)
        vi = next(v for v in inferred.graph.value_info if v.name == out)
        if not vi.type.tensor_type.HasField("shape"):  # behind a computed Reshape: [N, classes]
            vi = helper.make_tensor_value_info(out, TensorProto.FLOAT, ["N", "classes"])
        m = build(vi)
        onnx.checker.check_model(m, full_check=True)
        return m


def lenet(opset=11):
    b = Builder("lenet", 1)
    b.opset = opset
    x = b.relu(b.conv("input", 1, 6, 5, pad=2))
    x = b.node("MaxPool", [x], kernel_shape=[2, 2], strides=[2, 2])
    x = b.relu(b.conv(x, 6, 16, 5, pad=0))
    x = b.node("MaxPool", [x], kernel_shape=[2, 2], strides=[2, 2])
    x = b.torch_flatten(x)
    x = b.relu(b.gemm(x, 16 * 5 * 5, 48))  # LeNet-5 has 120 and 84; smaller keeps the file small
    x = b.relu(b.gemm(x, 48, 32))
    return b.model("input", [1, 1, 28, 28], b.gemm(x, 32, 10), opset)


def tinyvgg(opset=13):
    b = Builder("tinyvgg", 2)
    b.opset = opset
    x = "input"
    for cin, cout in [(3, 10), (10, 10)]:
        x = b.relu(b.conv(x, cin, cout, 3))
        x = b.relu(b.conv(x, cout, cout, 3))
        x = b.node("MaxPool", [x], kernel_shape=[2, 2], strides=[2, 2])
    x = b.node("Flatten", [x], axis=1)
    return b.model("input", [1, 3, 32, 32], b.gemm(x, 10 * 8 * 8, 10), opset)


def vgg(opset=17):
    b = Builder("vgg", 3)
    b.opset = opset
    x, cin = "input", 3
    for cout, convs in [(8, 1), (16, 1), (16, 2), (32, 2)]:
        for _ in range(convs):
            x = b.relu(b.bn(b.conv(x, cin, cout, 3, bias=False), cout))
            cin = cout
        x = b.node("MaxPool", [x], kernel_shape=[2, 2], strides=[2, 2])
    x = b.node("AveragePool", [x], kernel_shape=[2, 2], strides=[2, 2])  # torchvision's adaptive pool to 1×1
    x = b.node("Flatten", [x], axis=1)
    x = b.relu(b.gemm(x, 32, 32))
    x = b.node("Dropout", [x])
    return b.model("input", [1, 3, 32, 32], b.gemm(x, 32, 10), opset)


def resnet(opset, bottleneck, name, seed, blocks=(1, 1, 1), widths=(8, 16, 32)):
    b = Builder(name, seed)
    b.opset = opset
    x = b.relu(b.bn(b.conv("input", 3, 8, 7, stride=2, pad=3, bias=False), 8))
    x = b.node("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    cin = 8
    stages = [(cout, stride if k == 0 else 1) for cout, stride, n in zip(widths, (1, 2, 2), blocks) for k in range(n)]
    for cout, stride in stages:
        if bottleneck:
            mid, out = cout // 2, cout * 2
            y = b.relu(b.bn(b.conv(x, cin, mid, 1, bias=False), mid))
            y = b.relu(b.bn(b.conv(y, mid, mid, 3, stride=stride, bias=False), mid))
            y = b.bn(b.conv(y, mid, out, 1, bias=False), out)
        else:
            out = cout
            y = b.relu(b.bn(b.conv(x, cin, out, 3, stride=stride, bias=False), out))
            y = b.bn(b.conv(y, out, out, 3, bias=False), out)
        short = x if (stride == 1 and cin == out) else b.bn(b.conv(x, cin, out, 1, stride=stride, pad=0, bias=False), out)
        x = b.relu(b.node("Add", [y, short]))
        cin = out
    x = b.node("GlobalAveragePool", [x])
    x = b.node("Flatten", [x], axis=1)
    return b.model("input", [1, 3, 32, 32], b.gemm(x, cin, 10), opset)


def convnet_matmul(opset=20):
    """Global pooling, Squeeze and MatMul + Add: a classifier head written with `x.squeeze()`
    and a bare weight matrix."""
    b = Builder("convnet_matmul", 12)
    b.opset = opset
    x = b.relu(b.conv("input", 3, 8, 3, stride=2))
    x = b.relu(b.conv(x, 8, 16, 3, stride=2))
    x = b.node("GlobalAveragePool", [x])
    x = b.node("Squeeze", [x, b.const(np.array([2, 3], np.int64), "axes")])
    w = b.const((b.rng.standard_normal((16, 10)) * 0.25).astype(np.float32), "fc_w")
    x = b.node("Add", [b.node("MatMul", [x, w]), b.const((0.1 * b.rng.standard_normal(10)).astype(np.float32), "fc_b")])
    return b.model("input", [1, 3, 32, 32], b.node("Softmax", [x], axis=-1), opset)


def mobilenetv2(opset=11):
    b = Builder("mobilenetv2", 5)
    b.opset = opset
    x = b.relu6(b.bn(b.conv("input", 3, 8, 3, stride=2, bias=False), 8), opset)
    cin = 8
    for t, cout, stride in [(1, 8, 1), (4, 12, 2), (4, 12, 1), (4, 16, 2)]:
        hidden = cin * t
        y = x
        if t != 1:
            y = b.relu6(b.bn(b.conv(y, cin, hidden, 1, pad=0, bias=False), hidden), opset)
        y = b.relu6(b.bn(b.conv(y, hidden, hidden, 3, stride=stride, groups=hidden, bias=False), hidden), opset)
        y = b.bn(b.conv(y, hidden, cout, 1, pad=0, bias=False), cout)
        x = b.node("Add", [x, y]) if (stride == 1 and cin == cout) else y
        cin = cout
    x = b.relu6(b.bn(b.conv(x, cin, 32, 1, pad=0, bias=False), 32), opset)
    x = b.node("ReduceMean", [x], axes=[2, 3], keepdims=0) if opset < 18 else \
        b.node("ReduceMean", [x, b.const(np.array([2, 3], np.int64), "axes")], keepdims=0)
    return b.model("input", [1, 3, 32, 32], b.gemm(x, 32, 10), opset)


def efficientnet_lite(opset=13):
    """tf2onnx style: TF 'SAME' padding as explicit asymmetric Pad before strided convolutions,
    ReLU6 as Clip, depthwise convolutions, (x - 127) / 128 at the input."""
    b = Builder("efficientnet_lite", 6)
    b.opset = opset
    x = b.node("Sub", ["input", b.const(np.float32(0.498), "mean")])
    x = b.node("Div", [x, b.const(np.float32(0.502), "std")])

    def same_conv(x, cin, cout, k, stride, groups=1):
        if stride == 1:
            return b.conv(x, cin, cout, k, groups=groups, bias=False, auto_pad="SAME_UPPER")
        total = k - stride  # even input: pad (k - s) split with the extra at the end
        pads = [0, 0, total // 2, total // 2, 0, 0, total - total // 2, total - total // 2]
        x = b.node("Pad", [x, b.const(np.array(pads, np.int64), "pads")], mode="constant")
        return b.conv(x, cin, cout, k, stride=stride, pad=0, groups=groups, bias=False)

    x = b.relu6(b.bn(same_conv(x, 3, 8, 3, 2), 8), opset)
    cin = 8
    for t, cout, k, stride in [(1, 8, 3, 1), (6, 12, 3, 2), (6, 16, 5, 2), (6, 16, 5, 1)]:
        hidden = cin * t
        y = x
        if t != 1:
            y = b.relu6(b.bn(b.conv(y, cin, hidden, 1, pad=0, bias=False), hidden), opset)
        y = b.relu6(b.bn(same_conv(y, hidden, hidden, k, stride, groups=hidden), hidden), opset)
        y = b.bn(b.conv(y, hidden, cout, 1, pad=0, bias=False), cout)
        x = b.node("Add", [x, y]) if (stride == 1 and cin == cout) else y
        cin = cout
    x = b.relu6(b.bn(b.conv(x, cin, 32, 1, pad=0, bias=False), 32), opset)
    x = b.node("GlobalAveragePool", [x])
    x = b.node("Reshape", [x, b.const(np.array([-1, 32], np.int64), "shape")])
    x = b.gemm(x, 32, 10)
    return b.model("input", [1, 3, 32, 32], b.node("Softmax", [x], axis=-1), opset)


def mobilenetv3(opset=14):
    """Hard-swish and a squeeze-and-excite gate with hard-sigmoid."""
    b = Builder("mobilenetv3", 7)
    b.opset = opset
    x = b.node("HardSwish", [b.bn(b.conv("input", 3, 16, 3, stride=2, bias=False), 16)])
    y = b.node("HardSwish", [b.bn(b.conv(x, 16, 16, 3, groups=16, bias=False), 16)])
    s = b.node("GlobalAveragePool", [y])
    s = b.relu(b.conv(s, 16, 8, 1, pad=0))
    s = b.node("HardSigmoid", [b.conv(s, 8, 16, 1, pad=0)], alpha=1.0 / 6, beta=0.5)
    y = b.node("Mul", [y, s])
    y = b.bn(b.conv(y, 16, 16, 1, pad=0, bias=False), 16)
    x = b.node("Add", [x, y])
    x = b.node("GlobalAveragePool", [x])
    x = b.node("Flatten", [x], axis=1)
    x = b.gemm(x, 16, 10)
    return b.model("input", [1, 3, 32, 32], b.node("LogSoftmax", [x], axis=1), opset)


def squeezenet(version, opset, seed):
    b = Builder(f"squeezenet{version}", seed)
    b.opset = opset

    def fire(x, cin, squeeze, expand):
        sq = b.relu(b.conv(x, cin, squeeze, 1, pad=0))
        e1 = b.relu(b.conv(sq, squeeze, expand, 1, pad=0))
        e3 = b.relu(b.conv(sq, squeeze, expand, 3))
        return b.node("Concat", [e1, e3], axis=1)

    k, c0 = (7, 12) if version == "1_0" else (3, 8)
    x = b.relu(b.conv("input", 3, c0, k, stride=2, pad=0))
    x = b.node("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)
    x = fire(x, c0, 4, 8)
    x = fire(x, 16, 4, 8)
    x = b.node("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)
    x = fire(x, 16, 6, 12)
    x = b.relu(b.conv(x, 24, 10, 1, pad=0))
    x = b.node("GlobalAveragePool", [x])
    x = b.node("Flatten", [x], axis=1)
    return b.model("input", [1, 3, 32, 32], x, opset)


def keras_nhwc(opset=13):
    """tf2onnx from Keras: an NHWC input [1, 32, 32, 3], a Transpose to NCHW, convolutions, and a
    Transpose back before a Keras-style Reshape flatten of the NHWC feature map."""
    b = Builder("keras_nhwc", 11)
    b.opset = opset
    x = b.node("Transpose", ["input"], perm=[0, 3, 1, 2])
    x = b.relu6(b.bn(b.conv(x, 3, 8, 3, stride=2, bias=False), 8), opset)
    x = b.relu(b.conv(x, 8, 8, 3, groups=8))
    x = b.relu(b.conv(x, 8, 12, 1, pad=0))
    x = b.node("MaxPool", [x], kernel_shape=[2, 2], strides=[2, 2])
    x = b.node("Transpose", [x], perm=[0, 2, 3, 1])
    x = b.node("Reshape", [x, b.const(np.array([-1, 8 * 8 * 12], np.int64), "shape")])
    x = b.gemm(x, 8 * 8 * 12, 10)
    return b.model("input", [1, 32, 32, 3], b.node("Softmax", [x], axis=-1), opset)


MODELS = {
    "lenet": lambda: lenet(11),
    "tinyvgg": lambda: tinyvgg(13),
    "vgg": lambda: vgg(17),
    "resnet18": lambda: resnet(13, False, "resnet18", 4),
    "resnet34": lambda: resnet(15, False, "resnet34", 5, blocks=(3, 4, 6), widths=(8, 12, 12)),
    "resnet50": lambda: resnet(17, True, "resnet50", 8),
    "convnet_matmul": lambda: convnet_matmul(20),
    "mobilenetv2": lambda: mobilenetv2(11),
    "mobilenetv2_opset18": lambda: mobilenetv2(18),
    "efficientnet_lite": lambda: efficientnet_lite(13),
    "mobilenetv3": lambda: mobilenetv3(14),
    "squeezenet1_0": lambda: squeezenet("1_0", 12, 9),
    "squeezenet1_1": lambda: squeezenet("1_1", 21, 10),
    "keras_nhwc": lambda: keras_nhwc(13),
}


def test_input(shape, k):
    """Input `k`: element i is ((i·7919 + k·104729) mod 257) / 256, exact in float32; `tests/zoo.rs`
    computes the same numbers."""
    n = int(np.prod(shape))
    i = np.arange(n, dtype=np.int64)
    return (((i * 7919 + k * 104729) % 257) / 256).astype(np.float32).reshape(shape)


# int8 versions made by onnxruntime's quantization: (name, source, per_channel, form).
# "qdq" and "qoperator" are static (calibrated on four inputs; uint8 activations, int8 weights),
# as QuantizeLinear/DequantizeLinear pairs or as integer operators (QLinearConv, QGemm, ...);
# "dynamic" picks activation scales at run time (DynamicQuantizeLinear, ConvInteger, MatMulInteger).
QUANTIZED = [
    ("resnet18_int8_qdq", "resnet18", False, "qdq"),
    ("mobilenetv2_int8_qdq_per_channel", "mobilenetv2_opset18", True, "qdq"),
    ("efficientnet_lite_int8_qdq_per_channel", "efficientnet_lite", True, "qdq"),
    ("resnet18_int8_qoperator", "resnet18", False, "qoperator"),
    ("squeezenet1_1_int8_qoperator", "squeezenet1_1", False, "qoperator"),
    ("efficientnet_lite_int8_qoperator_per_channel", "efficientnet_lite", True, "qoperator"),
    ("mobilenetv3_int8_qoperator", "mobilenetv3", False, "qoperator"),
    ("convnet_matmul_int8_qoperator_per_channel", "convnet_matmul", True, "qoperator"),
    ("lenet_int8_dynamic", "lenet", False, "dynamic"),
    ("mobilenetv2_int8_dynamic", "mobilenetv2", False, "dynamic"),
    ("resnet50_int8_dynamic", "resnet50", False, "dynamic"),
]


def quantized(source_bytes, shape, per_channel, form):
    import tempfile
    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType, quantize_dynamic,
                                          quantize_static)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter([{"input": test_input(shape, k)} for k in range(2, 6)])

        def get_next(self):
            return next(self.it, None)

    with tempfile.TemporaryDirectory() as d:
        src, dst = os.path.join(d, "f.onnx"), os.path.join(d, "q.onnx")
        with open(src, "wb") as f:
            f.write(source_bytes)
        if form == "dynamic":
            quantize_dynamic(src, dst, per_channel=per_channel, weight_type=QuantType.QInt8)
        else:
            fmt = QuantFormat.QDQ if form == "qdq" else QuantFormat.QOperator
            quantize_static(src, dst, Reader(), quant_format=fmt, per_channel=per_channel,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
        return onnx.load(dst)


def output_step(model):
    """The quantization step of the graph output if a DequantizeLinear with one scale makes it:
    one step is the finest difference two int8 runtimes can show there."""
    out = model.graph.output[0].name
    node = next((n for n in model.graph.node if out in n.output), None)
    if node is None or node.op_type != "DequantizeLinear":
        return 0.0
    scale = next((numpy_helper.to_array(t) for t in model.graph.initializer if t.name == node.input[1]), None)
    return float(scale) if scale is not None and scale.size == 1 else 0.0


def main():
    import onnxruntime as ort
    os.makedirs(OUT, exist_ok=True)
    reference = {}
    built = {name: make() for name, make in MODELS.items()}
    for qname, source, per_channel, form in QUANTIZED:
        shape = [d.dim_value for d in built[source].graph.input[0].type.tensor_type.shape.dim]
        built[qname] = quantized(built[source].SerializeToString(), shape, per_channel, form)
    for name, model in built.items():
        data = model.SerializeToString()
        path = os.path.join(OUT, f"{name}.onnx")
        with open(path, "wb") as f:
            f.write(data)
        shape = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
        inputs = [test_input(shape, k) for k in range(2)]
        session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
        outputs = [session.run(None, {"input": x})[0] for x in inputs]
        reference[name] = {
            "opset": next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")),
            "int8": "_int8_" in name,
            "output_step": output_step(model),
            "input_shape": shape,
            "ops": sorted({n.op_type for n in model.graph.node}),
            "onnxruntime": ort.__version__,
            "outputs": [[float(f"{v:.7g}") for v in y.ravel()] for y in outputs],
        }
        print(f"{name}: opset {reference[name]['opset']}, {len(data)} bytes, output {outputs[0].shape}")
    with open(os.path.join(OUT, "reference.json"), "w") as f:
        json.dump(reference, f, separators=(",", ":"))
    print(f"onnxruntime {ort.__version__}")


if __name__ == "__main__":
    sys.exit(main())
