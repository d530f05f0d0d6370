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
