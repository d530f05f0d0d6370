//! Each operator on a tiny known-answer case, worked out by hand in the comments.

mod common;
use common::{Attr, OnnxBuilder, arange, assert_close, run};

const ONES9: [f32; 9] = [1.0; 9];

#[test]
fn conv_valid_sums_windows_of_arange() {
    // arange(16) as 4×4; 3×3 ones kernel: 0+1+2+4+5+6+8+9+10 = 45, then +9 per column, +36 per row; bias 1.
    let m = OnnxBuilder::new("x")
        .f32("w", &[1, 1, 3, 3], &ONES9)
        .f32("b", &[1], &[1.0])
        .node("Conv", &["x", "w", "b"], "y", vec![])
        .output("y")
        .model();
    let (shape, y) = run(m, [1, 1, 4, 4], arange(16), "y");
    assert_eq!(shape, vec![1, 1, 2, 2]);
    assert_close(&y, &[46.0, 55.0, 82.0, 91.0], 1e-6);
}

#[test]
fn conv_padded_strided() {
    // pad 1, stride 2: corners see 0+1+4+5 = 10, 1+2+3+5+6+7 = 24, 4+5+8+9+12+13 = 51, 5+6+7+9+10+11+13+14+15 = 90.
    let m = OnnxBuilder::new("x")
        .f32("w", &[1, 1, 3, 3], &ONES9)
        .node(
            "Conv",
            &["x", "w"],
            "y",
            vec![("pads", Attr::Ints(vec![1, 1, 1, 1])), ("strides", Attr::Ints(vec![2, 2]))],
        )
        .output("y")
        .model();
    let (shape, y) = run(m, [1, 1, 4, 4], arange(16), "y");
    assert_eq!(shape, vec![1, 1, 2, 2]);
    assert_close(&y, &[10.0, 24.0, 51.0, 90.0], 1e-6);
}

#[test]
fn conv_same_upper_keeps_size() {
    let m = OnnxBuilder::new("x")
        .f32("w", &[1, 1, 3, 3], &ONES9)
        .node("Conv", &["x", "w"], "y", vec![("auto_pad", Attr::Str("SAME_UPPER"))])
        .output("y")
        .model();
    let (shape, y) = run(m, [1, 1, 4, 4], arange(16), "y");
    assert_eq!(shape, vec![1, 1, 4, 4]);
    assert_close(&y[..2], &[10.0, 18.0], 1e-6); // 0+1+4+5, 0+1+2+4+5+6
}

#[test]
fn depthwise_conv_scales_each_channel() {
    let m = OnnxBuilder::new("x")
        .f32("w", &[2, 1, 1, 1], &[2.0, 3.0])
        .node("Conv", &["x", "w"], "y", vec![("group", Attr::Int(2))])
        .output("y")
        .model();
    let (_, y) = run(m, [1, 2, 2, 2], arange(8), "y");
    assert_close(&y, &[0.0, 2.0, 4.0, 6.0, 12.0, 15.0, 18.0, 21.0], 1e-6);
}

#[test]
fn dequantize_linear_per_channel_feeds_conv() {
    // int8 [10, -20] × scales [0.5, 0.1] = weights [5, -2].
    let m = OnnxBuilder::new("x")
        .i8("q", &[2, 1, 1, 1], &[10, -20])
        .f32("s", &[2], &[0.5, 0.1])
        .i8("z", &[2], &[0, 0])
        .node("DequantizeLinear", &["q", "s", "z"], "w", vec![("axis", Attr::Int(0))])
        .node("Conv", &["x", "w"], "y", vec![])
        .output("y")
        .model();
    let (_, y) = run(m, [1, 1, 2, 2], arange(4), "y");
    assert_close(&y, &[0.0, 5.0, 10.0, 15.0, 0.0, -2.0, -4.0, -6.0], 1e-6);
}

#[test]
fn relu_sigmoid_leaky_clip() {
    let x = vec![-2.0, -0.5, 0.0, 3.0];
    let m = OnnxBuilder::new("x").node("Relu", &["x"], "y", vec![]).output("y").model();
    assert_close(&run(m, [1, 1, 2, 2], x.clone(), "y").1, &[0.0, 0.0, 0.0, 3.0], 0.0);
    let m = OnnxBuilder::new("x").node("LeakyRelu", &["x"], "y", vec![("alpha", Attr::Float(0.1))]).output("y").model();
    assert_close(&run(m, [1, 1, 2, 2], x.clone(), "y").1, &[-0.2, -0.05, 0.0, 3.0], 1e-6);
    let m = OnnxBuilder::new("x").node("Sigmoid", &["x"], "y", vec![]).output("y").model();
    assert_close(&run(m, [1, 1, 2, 2], vec![0.0; 4], "y").1, &[0.5; 4], 1e-6);
    let m = OnnxBuilder::new("x")
        .f32("lo", &[], &[-1.0])
        .f32("hi", &[], &[1.0])
        .node("Clip", &["x", "lo", "hi"], "y", vec![])
        .output("y")
        .model();
    assert_close(&run(m, [1, 1, 2, 2], x, "y").1, &[-1.0, -0.5, 0.0, 1.0], 0.0);
}

#[test]
fn max_pool_ceil_mode_adds_partial_windows() {
    let pool = |ceil| {
        OnnxBuilder::new("x")
            .node(
                "MaxPool",
                &["x"],
                "y",
                vec![
                    ("kernel_shape", Attr::Ints(vec![3, 3])),
                    ("strides", Attr::Ints(vec![2, 2])),
                    ("ceil_mode", Attr::Int(ceil)),
                ],
            )
            .output("y")
            .model()
    };
    let (shape, y) = run(pool(0), [1, 1, 4, 4], arange(16), "y");
    assert_eq!(shape, vec![1, 1, 1, 1]);
    assert_close(&y, &[10.0], 0.0);
    let (shape, y) = run(pool(1), [1, 1, 4, 4], arange(16), "y");
    assert_eq!(shape, vec![1, 1, 2, 2]);
    assert_close(&y, &[10.0, 11.0, 14.0, 15.0], 0.0);
}

#[test]
fn average_pools() {
    let m = OnnxBuilder::new("x")
        .node(
            "AveragePool",
            &["x"],
            "y",
            vec![("kernel_shape", Attr::Ints(vec![2, 2])), ("strides", Attr::Ints(vec![2, 2]))],
        )
        .output("y")
        .model();
    assert_close(&run(m, [1, 1, 4, 4], arange(16), "y").1, &[2.5, 4.5, 10.5, 12.5], 1e-6);
    let m = OnnxBuilder::new("x").node("GlobalAveragePool", &["x"], "y", vec![]).output("y").model();
    let (shape, y) = run(m, [1, 2, 2, 2], arange(8), "y");
    assert_eq!(shape, vec![1, 2, 1, 1]);
    assert_close(&y, &[1.5, 5.5], 1e-6);
}

#[test]
fn concat_flatten_reshape_softmax() {
    let m = OnnxBuilder::new("x")
        .node("Relu", &["x"], "r", vec![])
        .node("Concat", &["x", "r"], "c", vec![("axis", Attr::Int(1))])
        .node("Flatten", &["c"], "f", vec![])
        .output("f")
        .model();
    let (shape, f) = run(m, [1, 1, 1, 2], vec![-1.0, 2.0], "f");
    assert_eq!(shape, vec![1, 4]);
    assert_close(&f, &[-1.0, 2.0, 0.0, 2.0], 0.0);

    let m =
        OnnxBuilder::new("x").i64("s", &[3], &[0, 4, -1]).node("Reshape", &["x", "s"], "y", vec![]).output("y").model();
    let (shape, _) = run(m, [1, 1, 4, 4], arange(16), "y");
    assert_eq!(shape, vec![1, 4, 4]);

    let m = OnnxBuilder::new("x")
        .node("Flatten", &["x"], "f", vec![])
        .node("Softmax", &["f"], "p", vec![("axis", Attr::Int(1))])
        .output("p")
        .model();
    let (_, p) = run(m, [1, 3, 1, 1], vec![1.0, 2.0, 3.0], "p");
    assert_close(&p, &[0.090_030_57, 0.244_728_48, 0.665_240_94], 1e-5);
}

#[test]
fn gemm_with_transposed_weights_and_bias() {
    // [1,2,3] · [[1,0,1],[0,1,0]]ᵀ = [4, 2]; ×2 + [0.5, -0.5] = [8.5, 3.5].
    let m = OnnxBuilder::new("x")
        .f32("w", &[2, 3], &[1.0, 0.0, 1.0, 0.0, 1.0, 0.0])
        .f32("b", &[2], &[0.5, -0.5])
        .node("Flatten", &["x"], "f", vec![])
        .node("Gemm", &["f", "w", "b"], "y", vec![("transB", Attr::Int(1)), ("alpha", Attr::Float(2.0))])
        .output("y")
        .model();
    let (shape, y) = run(m, [1, 3, 1, 1], vec![1.0, 2.0, 3.0], "y");
    assert_eq!(shape, vec![1, 2]);
    assert_close(&y, &[8.5, 3.5], 1e-6);
}

#[test]
fn add_broadcasts_and_batch_norm() {
    let m = OnnxBuilder::new("x")
        .f32("c", &[2, 1, 1], &[10.0, 20.0])
        .node("Add", &["x", "c"], "y", vec![])
        .output("y")
        .model();
    let (shape, y) = run(m, [1, 2, 1, 2], arange(4), "y");
    assert_eq!(shape, vec![1, 2, 1, 2]);
    assert_close(&y, &[10.0, 11.0, 22.0, 23.0], 0.0);

    // (x - mean) / sqrt(var) * scale + bias per channel.
    let m = OnnxBuilder::new("x")
        .f32("g", &[2], &[1.0, 2.0])
        .f32("b", &[2], &[0.0, 1.0])
        .f32("m", &[2], &[1.0, 2.0])
        .f32("v", &[2], &[4.0, 1.0])
        .node("BatchNormalization", &["x", "g", "b", "m", "v"], "y", vec![("epsilon", Attr::Float(0.0))])
        .output("y")
        .model();
    assert_close(&run(m, [1, 2, 1, 2], arange(4), "y").1, &[-0.5, 0.0, 1.0, 3.0], 1e-6);
}

#[test]
fn dropout_is_identity_and_taps_are_kept() {
    let m = OnnxBuilder::new("x")
        .node("Relu", &["x"], "a", vec![])
        .node("Dropout", &["a"], "b", vec![])
        .node("Sigmoid", &["b"], "y", vec![])
        .output("y")
        .model();
    assert_eq!(m.info.taps, vec!["a", "b", "y"]);
    let (_, a) = run(m, [1, 1, 1, 2], vec![-1.0, 1.0], "b");
    assert_close(&a, &[0.0, 1.0], 0.0);
}

#[test]
fn hard_swish_hard_sigmoid_log_softmax() {
    // x = -4, -1, 0, 2: hard-swish x·clip(x/6 + 1/2, 0, 1) = 0, -1/3, 0, 5/3;
    // hard-sigmoid with alpha 0.25, beta 0.5: clip(x/4 + 1/2) = 0, 0.25, 0.5, 1.
    let x = vec![-4.0, -1.0, 0.0, 2.0];
    let m = OnnxBuilder::new("x").node("HardSwish", &["x"], "y", vec![]).output("y").model();
    assert_close(&run(m, [1, 4, 1, 1], x.clone(), "y").1, &[0.0, -1.0 / 3.0, 0.0, 5.0 / 3.0], 1e-6);
    let m = OnnxBuilder::new("x")
        .node("HardSigmoid", &["x"], "y", vec![("alpha", Attr::Float(0.25)), ("beta", Attr::Float(0.5))])
        .output("y")
        .model();
    assert_close(&run(m, [1, 4, 1, 1], x, "y").1, &[0.0, 0.25, 0.5, 1.0], 1e-6);
    // log-softmax of (0, ln 3) over a flattened pair: ln(1/4), ln(3/4).
    let m = OnnxBuilder::new("x")
        .node("Flatten", &["x"], "f", vec![])
        .node("LogSoftmax", &["f"], "y", vec![("axis", Attr::Int(1))])
        .output("y")
        .model();
    let (shape, y) = run(m, [1, 2, 1, 1], vec![0.0, 3f32.ln()], "y");
    assert_eq!(shape, vec![1, 2]);
    assert_close(&y, &[0.25f32.ln(), 0.75f32.ln()], 1e-6);
}

#[test]
fn reduce_mean_keeps_or_drops_axes() {
    // arange(8) as [1, 2, 2, 2]: channel means 1.5 and 5.5.
    let keep = OnnxBuilder::new("x")
        .node("ReduceMean", &["x"], "y", vec![("axes", Attr::Ints(vec![2, 3]))])
        .output("y")
        .model();
    let (shape, y) = run(keep, [1, 2, 2, 2], arange(8), "y");
    assert_eq!(shape, vec![1, 2, 1, 1]);
    assert_close(&y, &[1.5, 5.5], 1e-6);
    // Opset 18 style: axes as a constant input, keepdims 0.
    let drop = OnnxBuilder::new("x")
        .i64("axes", &[2], &[-1, -2])
        .node("ReduceMean", &["x", "axes"], "y", vec![("keepdims", Attr::Int(0))])
        .output("y")
        .model();
    let (shape, y) = run(drop, [1, 2, 2, 2], arange(8), "y");
    assert_eq!(shape, vec![1, 2]);
    assert_close(&y, &[1.5, 5.5], 1e-6);
}

#[test]
fn pad_constant_reflect_edge() {
    // arange(4) as 2×2 = [[0, 1], [2, 3]], one column on the left.
    let pads = [0, 0, 0, 1, 0, 0, 0, 0];
    for (mode, want) in [
        ("constant", [9.0, 0.0, 1.0, 9.0, 2.0, 3.0]),
        ("reflect", [1.0, 0.0, 1.0, 3.0, 2.0, 3.0]),
        ("edge", [0.0, 0.0, 1.0, 2.0, 2.0, 3.0]),
    ] {
        let m = OnnxBuilder::new("x")
            .i64("pads", &[8], &pads)
            .f32("v", &[], &[9.0])
            .node("Pad", &["x", "pads", "v"], "y", vec![("mode", Attr::Str(mode))])
            .output("y")
            .model();
        let (shape, y) = run(m, [1, 1, 2, 2], arange(4), "y");
        assert_eq!(shape, vec![1, 1, 2, 3], "{mode}");
        assert_close(&y, &want, 1e-6);
    }
    // Padding the batch or channel axes is refused with a message.
    let m = OnnxBuilder::new("x")
        .i64("pads", &[8], &[0, 1, 0, 0, 0, 0, 0, 0])
        .node("Pad", &["x", "pads"], "y", vec![])
        .output("y")
        .model();
    let (_, net) = m.bind(&common::device()).unwrap();
    let x = convlens::Tensor::<4>::from_data(convlens::TensorData::new(arange(4), [1, 1, 2, 2]), net.device());
    let e = net.forward(x, &["y"]).unwrap_err().to_string();
    assert!(e.contains("only padding of height and width"), "{e}");
}

#[test]
fn torch_flatten_shape_arithmetic_keeps_the_batch() {
    // x.view(x.size(0), -1): Shape → Gather(0) → Unsqueeze → Concat([-1]) → Reshape.
    let build = |index: i64| {
        OnnxBuilder::new("x")
            .i64("zero", &[], &[index])
            .i64("axes", &[1], &[0])
            .i64("minus1", &[1], &[-1])
            .node("Shape", &["x"], "s", vec![])
            .node("Gather", &["s", "zero"], "n", vec![("axis", Attr::Int(0))])
            .node("Unsqueeze", &["n", "axes"], "n1", vec![])
            .node("Concat", &["n1", "minus1"], "dims", vec![("axis", Attr::Int(0))])
            .node("Reshape", &["x", "dims"], "y", vec![])
            .output("y")
    };
    let (shape, y) = run(build(0).model(), [3, 2, 2, 1], arange(12), "y");
    assert_eq!(shape, vec![3, 4], "the batch of 3 is kept");
    assert_close(&y, &arange(12), 0.0);
    // Any other dimension of an image's shape depends on the image: refused at load, by name.
    let e = convlens::model::Model::from_bytes(&build(1).bytes()).unwrap_err().to_string();
    assert!(e.contains("'n'") && e.contains("only the batch size"), "{e}");
}

#[test]
fn preprocessing_from_metadata_or_preset() {
    use convlens::protocol::Preprocess;
    // An identity 1×1 convolution shows what the network receives.
    let mut w = vec![0.0f32; 9];
    for c in 0..3 {
        w[c * 3 + c] = 1.0;
    }
    let build = |meta: &[(&str, &str)]| {
        let mut m = OnnxBuilder::new("x")
            .f32("w", &[3, 3, 1, 1], &w)
            .node("Conv", &["x", "w"], "y", vec![])
            .output("y")
            .model();
        for (k, v) in meta {
            m.graph.metadata.insert(k.to_string(), v.to_string());
        }
        m
    };
    let pixel = vec![0.2, 0.4, 0.6]; // R, G, B of one pixel
    let (_, y) = run(build(&[]), [1, 3, 1, 1], pixel.clone(), "y");
    assert_close(&y, &pixel, 1e-6);
    // Metadata is read at parse time; here the parsed graph gets what a file's metadata gives.
    let mut m = build(&[]);
    m.graph.preprocess = Preprocess::preset("imagenet").unwrap();
    let (_, y) = run(m, [1, 3, 1, 1], pixel.clone(), "y");
    assert_close(&y, &[(0.2 - 0.485) / 0.229, (0.4 - 0.456) / 0.224, (0.6 - 0.406) / 0.225], 1e-5);
    let mut m = build(&[]);
    m.graph.preprocess = Preprocess::preset("caffe").unwrap();
    let (_, y) = run(m, [1, 3, 1, 1], pixel, "y");
    assert_close(&y, &[153.0 - 103.939, 102.0 - 116.779, 51.0 - 123.68], 1e-3);
    assert!(Preprocess::preset("nope").is_none());
}

#[test]
fn preprocessing_metadata_is_parsed_and_checked() {
    use convlens::model::Model;
    use convlens::protocol::Preprocess;
    use onnx_ir::{Message, ModelProto};
    // onnx-ir does not export the metadata entry type: copy one from the bundled model.
    let squeezenet =
        ModelProto::parse_from_bytes(&std::fs::read("static/models/squeezenet1_1-int8.onnx").unwrap()).unwrap();
    let template = squeezenet.metadata_props[0].clone();
    let with = |pairs: &[(&str, &str)]| {
        let bytes = OnnxBuilder::new("x").node("Relu", &["x"], "y", vec![]).output("y").bytes();
        let mut m = ModelProto::parse_from_bytes(&bytes).unwrap();
        for (k, v) in pairs {
            let mut e = template.clone();
            e.key = k.to_string();
            e.value = v.to_string();
            m.metadata_props.push(e);
        }
        Model::from_bytes(&m.write_to_bytes().unwrap())
    };
    assert_eq!(with(&[]).unwrap().graph.preprocess, Preprocess::NONE);
    assert_eq!(
        with(&[("convlens.preprocess", "imagenet")]).unwrap().graph.preprocess,
        Preprocess::preset("imagenet").unwrap()
    );
    let p = with(&[
        ("convlens.mean", "[1, 2, 3]"),
        ("convlens.std", "[2, 2, 2]"),
        ("convlens.scale", "255"),
        ("convlens.channel_order", "BGR"),
    ])
    .unwrap()
    .graph
    .preprocess;
    assert_eq!(p, Preprocess { scale: 255.0, mean: [1.0, 2.0, 3.0], std: [2.0; 3], bgr: true });
    for bad in [
        ("convlens.preprocess", "magic"),
        ("convlens.std", "[1, 0, 1]"),
        ("convlens.mean", "[1, 2]"),
        ("convlens.scale", "-1"),
    ] {
        let e = with(&[bad]).unwrap_err().to_string();
        assert!(e.contains(bad.0), "{e}");
    }
}

#[test]
fn transpose_reorders_axes() {
    // arange(6) as [1, 2, 3, 1] (N, H, W, C) to NCHW [1, 1, 2, 3]: the same numbers; then a 2-D
    // transpose of the flattened [1, 6] gives [6, 1].
    let m = OnnxBuilder::new("x")
        .node("Transpose", &["x"], "t", vec![("perm", Attr::Ints(vec![0, 3, 1, 2]))])
        .node("Flatten", &["t"], "f", vec![])
        .node("Transpose", &["f"], "y", vec![])
        .output("y")
        .model();
    let (shape, y) = run(m, [1, 2, 3, 1], arange(6), "y");
    assert_eq!(shape, vec![6, 1]);
    assert_close(&y, &arange(6), 0.0);
    // [1, 2, 2, 1] → perm [0, 2, 1, 3] swaps H and W: [[0, 1], [2, 3]] → [[0, 2], [1, 3]].
    let m = OnnxBuilder::new("x")
        .node("Transpose", &["x"], "y", vec![("perm", Attr::Ints(vec![0, 2, 1, 3]))])
        .output("y")
        .model();
    assert_close(&run(m, [1, 2, 2, 1], arange(4), "y").1, &[0.0, 2.0, 1.0, 3.0], 0.0);
}
