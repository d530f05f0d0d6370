#!/usr/bin/env python3
"""Full-size ImageNet architectures with random weights for the model benchmark
(`node tests/browser/bench.mjs dist 5 cpu,webgpu models`): ResNet-18, ResNet-50 and MobileNetV2 at
224×224 with torchvision's layer sizes and operator patterns, fp32 (and ResNet-18 int8), and the
bundled SqueezeNet 1.1 with its int8 weights dequantized to fp32, written to
`target/bench-models/` (not committed: 14 to 100 MB each). Speed does not depend on the weights'
values, so random ones measure what trained ones would.

    python3 tools/make_bench_models.py      # needs onnx, onnxruntime and numpy
"""

import os
import sys

import numpy as np
import onnx

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_model_zoo import Builder  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "target/bench-models")


def resnet(name, bottleneck, blocks):
    b = Builder(name, 1)
    b.opset = 17
    x = b.relu(b.bn(b.conv("input", 3, 64, 7, stride=2, pad=3, bias=False), 64))
    x = b.node("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    cin = 64
    for stage, (width, n) in enumerate(zip([64, 128, 256, 512], blocks)):
        for k in range(n):
            stride = 2 if stage > 0 and k == 0 else 1
            if bottleneck:
                out = width * 4
                y = b.relu(b.bn(b.conv(x, cin, width, 1, pad=0, bias=False), width))
                y = b.relu(b.bn(b.conv(y, width, width, 3, stride=stride, bias=False), width))
                y = b.bn(b.conv(y, width, out, 1, pad=0, bias=False), out)
            else:
                out = width
                y = b.relu(b.bn(b.conv(x, cin, out, 3, stride=stride, bias=False), out))
                y = b.bn(b.conv(y, out, out, 3, bias=False), out)
            short = x if (stride == 1 and cin == out) else \
                b.bn(b.conv(x, cin, out, 1, stride=stride, pad=0, bias=False), out)
            x = b.relu(b.node("Add", [y, short]))
            cin = out
    x = b.node("Flatten", [b.node("GlobalAveragePool", [x])], axis=1)
    return b.model("input", [1, 3, 224, 224], b.gemm(x, cin, 1000), 17)


def mobilenetv2():
    b = Builder("mobilenetv2", 2)
    b.opset = 17
    x = b.relu6(b.bn(b.conv("input", 3, 32, 3, stride=2, bias=False), 32), 17)
    cin = 32
    for t, c, n, s in [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                       (6, 320, 1, 1)]:
        for k in range(n):
            stride = s if k == 0 else 1
            hidden = cin * t
            y = x
            if t != 1:
                y = b.relu6(b.bn(b.conv(y, cin, hidden, 1, pad=0, bias=False), hidden), 17)
            y = b.relu6(b.bn(b.conv(y, hidden, hidden, 3, stride=stride, groups=hidden, bias=False), hidden), 17)
            y = b.bn(b.conv(y, hidden, c, 1, pad=0, bias=False), c)
            x = b.node("Add", [x, y]) if stride == 1 and cin == c else y
            cin = c
    x = b.relu6(b.bn(b.conv(x, cin, 1280, 1, pad=0, bias=False), 1280), 17)
    x = b.node("Flatten", [b.node("GlobalAveragePool", [x])], axis=1)
    return b.model("input", [1, 3, 224, 224], b.gemm(x, 1280, 1000), 17)


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, make in [("resnet18", lambda: resnet("resnet18", False, [2, 2, 2, 2])),
                       ("resnet50", lambda: resnet("resnet50", True, [3, 4, 6, 3])),
                       ("mobilenetv2", mobilenetv2)]:
        model = make()
        path = os.path.join(OUT, f"{name}.onnx")
        onnx.save(model, path)
        params = sum(int(np.prod(t.dims)) for t in model.graph.initializer)
        print(f"{path}: {os.path.getsize(path)} bytes, {params} parameters")
    # An int8 version as onnxruntime's static QDQ quantization writes it (calibrated on two
    # inputs), the form people ship for the browser.
    from make_model_zoo import test_input
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter([{"input": test_input([1, 3, 224, 224], k)} for k in range(2)])

        def get_next(self):
            return next(self.it, None)

    # SqueezeNet 1.1 in fp32: the bundled int8 file with its weights dequantized.
    from onnx import numpy_helper
    q = onnx.load(os.path.join(ROOT, "static/models/squeezenet1_1-int8.onnx"))
    inits = {t.name: numpy_helper.to_array(t) for t in q.graph.initializer}
    keep = []
    for n in q.graph.node:
        if n.op_type == "DequantizeLinear" and n.input[0] in inits:
            w, s = inits[n.input[0]].astype(np.float32), inits[n.input[1]].astype(np.float32)
            z = inits[n.input[2]].astype(np.float32) if len(n.input) > 2 and n.input[2] else np.float32(0)
            axis = next((a.i for a in n.attribute if a.name == "axis"), 1)
            shape = [1] * w.ndim
            if s.size > 1:
                shape[axis] = s.size
            inits[n.output[0]] = (w - z.reshape(shape)) * s.reshape(shape)
        else:
            keep.append(n)
    used = {i for n in keep for i in n.input}
    del q.graph.node[:]
    q.graph.node.extend(keep)
    del q.graph.initializer[:]
    q.graph.initializer.extend(numpy_helper.from_array(v, k) for k, v in inits.items() if k in used)
    path = os.path.join(OUT, "squeezenet1_1-fp32.onnx")
    onnx.save(q, path)
    print(f"{path}: {os.path.getsize(path)} bytes")

    src, dst = os.path.join(OUT, "resnet18.onnx"), os.path.join(OUT, "resnet18_int8_qdq.onnx")
    quantize_static(src, dst, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    print(f"{dst}: {os.path.getsize(dst)} bytes")


if __name__ == "__main__":
    main()
