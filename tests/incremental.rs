//! Incremental occlusion (only the region a window can reach is recomputed) gives the same
//! maps as running every occluded image in full, on the bundled SqueezeNet and on small nets
//! with padded, strided and dilated convolutions, ceil-mode pooling and residual sums.

mod common;
use common::{Attr, OnnxBuilder, device};
use convlens::methods::{Fill, Method, OcclusionParams, Target};
use convlens::model::{Model, Network};
use convlens::{Tensor, TensorData};

fn sweep(net: &Network, x: &Tensor<4>, target: &Target, p: OcclusionParams) -> Vec<f32> {
    pollster::block_on(Method::Occlusion(p).attribute(net, x, target, &mut |_, _| true)).unwrap().values
}

fn assert_same(net: &Network, x: &Tensor<4>, target: &Target, p: OcclusionParams) {
    let naive = sweep(net, x, target, OcclusionParams { incremental: false, ..p.clone() });
    let fast = sweep(net, x, target, OcclusionParams { incremental: true, ..p.clone() });
    let scale = naive.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-12);
    let worst = naive.iter().zip(&fast).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(worst <= 1e-5 * scale.max(1.0), "{p:?} {target:?}: worst difference {worst} (scale {scale})");
    assert!(naive.iter().any(|v| *v != 0.0), "{p:?}: the map is not empty");
}

/// The bundled SqueezeNet and the cat photo's crop.
fn squeezenet_on_chelsea() -> (Network, Tensor<4>) {
    let (_, net) = Model::from_bytes(&std::fs::read("static/models/squeezenet1_1-int8.onnx").unwrap())
        .unwrap()
        .bind(&device())
        .unwrap();
    let crop = image::open("tests/fixtures/crops/chelsea.png").unwrap().to_rgb8();
    let x = convlens::image::to_tensor(&crop, &device());
    (net, x)
}

/// [`squeezenet_on_chelsea`] with every activation kept, for windows filled with the mean.
fn squeezenet_kept_with_mean_fill() -> (Network, convlens::methods::occlusion::Unmodified) {
    use convlens::methods::occlusion::{Unmodified, fill_image};
    let (net, x) = squeezenet_on_chelsea();
    let [_, c, h, w] = x.dims();
    let pixels = x.to_data().try_to_vec::<f32>().unwrap();
    let fill = fill_image(&pixels, [c, h, w], Fill::Mean);
    let base = Unmodified::new(&net, &x, &fill).unwrap().expect("SqueezeNet is NCHW");
    (net, base)
}

#[test]
fn squeezenet_incremental_equals_naive() {
    let (net, x) = squeezenet_on_chelsea();
    let cat = Target::Class(285);
    for (window, stride, fill) in [(32, 48, Fill::Value(0.5)), (20, 70, Fill::Blur), (57, 85, Fill::Mean)] {
        let p = OcclusionParams {
            window: [window; 2],
            strides: [stride; 2],
            fill,
            batch: 4,
            incremental: true,
            approximate: None,
        };
        assert_same(&net, &x, &cat, p);
    }
    let neuron = Target::Channel { layer: "fire4/concat".into(), channel: 5 };
    assert_same(&net, &x, &neuron, OcclusionParams { window: [24; 2], strides: [60; 2], ..Default::default() });
}

#[test]
fn tricky_geometry_incremental_equals_naive() {
    // conv 3×3 pad 1 → relu → conv 3×3 stride 2 dilation 2 pad 2 → relu "a"; conv 1×1 on "a" → "b";
    // "a" + "b" (a residual sum) → max pool 3×3 stride 2 ceil → global average → gemm.
    let w1: Vec<f32> = (0..4 * 3 * 9).map(|i| ((i * 7 % 11) as f32 - 5.0) / 10.0).collect();
    let w2: Vec<f32> = (0..4 * 4 * 9).map(|i| ((i * 5 % 13) as f32 - 6.0) / 12.0).collect();
    let w3: Vec<f32> = (0..16).map(|i| ((i * 3 % 7) as f32 - 3.0) / 4.0).collect();
    let fc: Vec<f32> = (0..12).map(|i| (i as f32 - 5.5) / 6.0).collect();
    let ints = |v: &[i64]| Attr::Ints(v.to_vec());
    let net = OnnxBuilder::new("x")
        .f32("w1", &[4, 3, 3, 3], &w1)
        .f32("w2", &[4, 4, 3, 3], &w2)
        .f32("w3", &[4, 4, 1, 1], &w3)
        .f32("fc", &[3, 4], &fc)
        .node("Conv", &["x", "w1"], "c1", vec![("pads", ints(&[1, 1, 1, 1]))])
        .node("Relu", &["c1"], "r1", vec![])
        .node(
            "Conv",
            &["r1", "w2"],
            "c2",
            vec![("pads", ints(&[2, 2, 2, 2])), ("strides", ints(&[2, 2])), ("dilations", ints(&[2, 2]))],
        )
        .node("Relu", &["c2"], "a", vec![])
        .node("Conv", &["a", "w3"], "b", vec![])
        .node("Add", &["a", "b"], "s", vec![])
        .node(
            "MaxPool",
            &["s"],
            "p",
            vec![("kernel_shape", ints(&[3, 3])), ("strides", ints(&[2, 2])), ("ceil_mode", Attr::Int(1))],
        )
        .classifier("p", "fc");
    let (h, w) = (23, 29);
    let pixels: Vec<f32> = (0..3 * h * w).map(|i| ((i as f32) * 0.61).sin()).collect();
    let x = Tensor::<4>::from_data(TensorData::new(pixels, [1, 3, h, w]), &device());
    for (window, strides) in [([3, 3], [2, 2]), ([5, 2], [4, 3]), ([1, 1], [5, 7]), ([7, 9], [6, 8])] {
        for class in 0..3 {
            let p = OcclusionParams {
                window,
                strides,
                fill: Fill::Value(0.3),
                batch: 5,
                incremental: true,
                approximate: None,
            };
            assert_same(&net, &x, &Target::Class(class), p);
        }
    }
}

#[test]
fn zoo_incremental_equals_naive_relu6_depthwise_and_int8() {
    // ReLU6 as Clip with bound inputs, depthwise convolutions, per-channel and per-tensor int8
    // activations (Q/DQ pairs) and residual sums: all carried as patches.
    for name in [
        "mobilenetv2",
        "mobilenetv2_opset18",
        "mobilenetv2_int8_qdq_per_channel",
        "efficientnet_lite_int8_qdq_per_channel",
        "resnet18_int8_qdq",
    ] {
        let bytes = std::fs::read(format!("tests/fixtures/zoo/{name}.onnx")).unwrap();
        let (info, net) = Model::from_bytes(&bytes).unwrap().bind(&device()).unwrap();
        let side = info.input_size;
        let pixels: Vec<f32> = (0..3 * side * side).map(|i| 0.5 + 0.4 * ((i as f32) * 0.37).sin()).collect();
        let x = Tensor::<4>::from_data(TensorData::new(pixels, [1, 3, side, side]), &device());
        let window = (side / 6).max(2);
        let p = OcclusionParams {
            window: [window; 2],
            strides: [window; 2],
            fill: Fill::Value(0.5),
            batch: 4,
            incremental: true,
            approximate: None,
        };
        eprintln!("{name}: {side}×{side}, window {window}");
        assert_same(&net, &x, &Target::Class(1), p);
    }
}

/// "Best for this device": incremental on the CPU for ImageNet-sized inputs, whole images for
/// the 28×28 Fashion-MNIST net (where incremental was slower) and on a GPU.
#[test]
fn the_default_sweep_depends_on_device_and_input_size() {
    use convlens::methods::occlusion::incremental_by_default;
    assert!(incremental_by_default(true, 227));
    assert!(incremental_by_default(true, 224));
    assert!(!incremental_by_default(true, 28));
    assert!(!incremental_by_default(false, 227));
}

/// The approximate sweep (each layer's recomputed region capped): with a margin of the whole
/// input nothing is cut and the map is the exact one; with the page's margin on SqueezeNet the
/// map differs (the cap did cut) yet stays close: correlated ≥ 0.95 with the exact map, its
/// largest difference under 40% of the exact map's peak, and where it peaks the exact map is
/// within 80% of its own peak.
#[test]
fn squeezenet_approximate_sweep_is_close_to_exact() {
    use convlens::methods::occlusion::APPROXIMATE_MARGIN;
    let (net, x) = squeezenet_on_chelsea();
    let cat = Target::Class(285);
    let p = OcclusionParams { window: [32; 2], strides: [28; 2], batch: 8, ..Default::default() };
    let exact = sweep(&net, &x, &cat, p.clone());
    assert_same(&net, &x, &cat, OcclusionParams { approximate: Some(1.0), ..p.clone() });
    let approx = sweep(&net, &x, &cat, OcclusionParams { approximate: Some(APPROXIMATE_MARGIN), ..p });
    let peak = exact.iter().fold(0f32, |m, v| m.max(v.abs()));
    let worst = exact.iter().zip(&approx).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(worst > 1e-4 * peak, "the cap cut nothing: worst difference {worst}");
    assert!(worst < 0.4 * peak, "worst difference {worst} against a peak of {peak}");
    let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len() as f32;
    let (ma, mb) = (mean(&exact), mean(&approx));
    let dot = |f: &dyn Fn(f32, f32) -> f32| exact.iter().zip(&approx).map(|(a, b)| f(*a - ma, *b - mb)).sum::<f32>();
    let corr = dot(&|a, b| a * b) / (dot(&|a, _| a * a) * dot(&|_, b| b * b)).sqrt();
    assert!(corr >= 0.95, "correlation {corr}");
    let argmax = |v: &[f32]| (0..v.len()).max_by(|&i, &j| v[i].total_cmp(&v[j])).unwrap();
    let (top, found) = (exact[argmax(&exact)], exact[argmax(&approx)]);
    eprintln!("worst {worst} (peak {peak}), correlation {corr}, exact map at the approximate peak {found} of {top}");
    assert!(found >= 0.8 * top, "where the approximate map peaks, the exact map has {found} of {top}");
}

#[test]
fn approximate_share_out_of_range_is_refused() {
    use convlens::methods::Method;
    use convlens::protocol::MethodParams;
    for bad in [0.0, -0.5, 1.5, f32::NAN] {
        let p = MethodParams { approximate: Some(bad), ..MethodParams::default() };
        assert!(Method::from_name("occlusion", &p).is_err(), "{bad}");
    }
    let p = MethodParams { approximate: Some(0.3), ..MethodParams::default() };
    assert!(Method::from_name("occlusion", &p).is_ok());
}

/// The live occluder's probes on the CPU: the scores of one filled square from the kept
/// activations equal a whole forward pass of the painted image.
#[test]
fn a_probe_from_kept_activations_equals_a_whole_pass() {
    use convlens::methods::occlusion::{Unmodified, fill_image, paint};
    let (net, x) = squeezenet_on_chelsea();
    let [_, c, h, w] = x.dims();
    let pixels = x.to_data().try_to_vec::<f32>().unwrap();
    let fill = fill_image(&pixels, [c, h, w], Fill::Value(0.5));
    let base = Unmodified::new(&net, &x, &fill).unwrap().expect("SqueezeNet is NCHW");
    for (at, size) in [([0, 0], 48), ([100, 61], 48), ([200, 220], 27), ([90, 90], 1)] {
        let fast = base.scores(&net, at, [size; 2]).unwrap().into_data().try_to_vec::<f32>().unwrap();
        let mut img = pixels.clone();
        paint(&mut img, &fill, [c, h, w], (at[0], at[1]), [size; 2]);
        let whole = net.scores(Tensor::<4>::from_data(TensorData::new(img, [1, c, h, w]), &device())).unwrap();
        let whole = whole.into_data().try_to_vec::<f32>().unwrap();
        let scale = whole.iter().fold(0f32, |m, v| m.max(v.abs()));
        let worst = whole.iter().zip(&fast).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(worst <= 1e-5 * scale, "{at:?} {size}: worst difference {worst} (scale {scale})");
    }
}

/// Batches of windows run side by side (each layer for every batch in turn) give each batch's
/// values to the bit, as one call per batch does: windows alone, a batch of two, exact and
/// approximate.
#[test]
fn batches_side_by_side_equal_one_call_each() {
    let (net, base) = squeezenet_kept_with_mean_fill();
    let groups: [&[[usize; 2]]; 4] = [&[[0, 0]], &[[96, 112]], &[[195, 16], [48, 195]], &[[112, 112]]];
    for cap in [None, Some(0.45)] {
        for name in [net.score_name(), "fire5/concat"] {
            let together = base.occluded_groups(&net, &groups, [32, 32], name, cap).unwrap();
            assert_eq!(together.len(), groups.len());
            for (group, value) in groups.iter().zip(together) {
                let one = base.occluded(&net, group, [32, 32], name, cap).unwrap();
                assert_eq!(value.shape, one.shape);
                let bits = |v: convlens::model::Value| {
                    v.tensor.into_data().try_to_vec::<f32>().unwrap().iter().map(|f| f.to_bits()).collect::<Vec<_>>()
                };
                assert!(bits(value) == bits(one), "{group:?} at {name} (cap {cap:?}): not the same bits");
            }
        }
    }
}

/// Sweeps on the CPU run each window alone; a batch of windows (as on a GPU, where the copies
/// share one patch size per layer, the largest) gives the same scores, windows near the edges
/// and in the middle mixed, exact and approximate.
#[test]
fn a_batch_of_windows_equals_each_window_alone() {
    let (net, base) = squeezenet_kept_with_mean_fill();
    let at = [[0, 0], [96, 112], [195, 16], [48, 195], [112, 112]];
    for cap in [None, Some(0.45)] {
        let batch = base.occluded(&net, &at, [32, 32], net.score_name(), cap).unwrap();
        let batch = batch.tensor.into_data().try_to_vec::<f32>().unwrap();
        let classes = batch.len() / at.len();
        for (r, corner) in at.iter().enumerate() {
            let alone = base.occluded(&net, &[*corner], [32, 32], net.score_name(), cap).unwrap();
            let alone = alone.tensor.into_data().try_to_vec::<f32>().unwrap();
            let row = &batch[r * classes..(r + 1) * classes];
            let scale = alone.iter().fold(0f32, |m, v| m.max(v.abs()));
            let worst = alone.iter().zip(row).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
            if cap.is_none() {
                assert!(worst <= 1e-5 * scale, "{corner:?}: worst difference {worst} (scale {scale})");
            } else {
                // Approximate: in a batch, a copy whose own reach is smaller than the batch's
                // largest recomputes more of each layer than alone (up to the cap), so it is a
                // little closer to exact (measured: at most 1.5% of the largest score).
                assert!(worst <= 0.05 * scale, "{corner:?} approximate: worst difference {worst} (scale {scale})");
            }
        }
    }
}
