//! Attribution methods on tiny nets with hand-computable answers, against a brute-force
//! occlusion, and the checks every method in the table must pass.

mod common;
use common::{Attr, OnnxBuilder, assert_close, device};
use convlens::methods::{Method, MethodError, OcclusionParams, Target};
use convlens::model::Network;
use convlens::{Tensor, TensorData};

const W1: [f32; 6] = [1.0, 2.0, 3.0, -1.0, 0.5, 0.0];
const FC: [f32; 6] = [0.5, -1.0, 2.0, 1.0, -0.5, 0.25];

/// conv 1×1 (3→2) → relu "r" → global average → flatten → gemm (2→3) "logits" → softmax "prob".
fn net() -> Network {
    OnnxBuilder::new("x")
        .f32("w", &[2, 3, 1, 1], &W1)
        .f32("fc", &[3, 2], &FC)
        .f32("fb", &[3], &[0.1, 0.0, -0.1])
        .node("Conv", &["x", "w"], "conv", vec![])
        .node("Relu", &["conv"], "r", vec![])
        .node("GlobalAveragePool", &["r"], "g", vec![])
        .node("Flatten", &["g"], "f", vec![])
        .node("Gemm", &["f", "fc", "fb"], "logits", vec![("transB", Attr::Int(1))])
        .node("Softmax", &["logits"], "prob", vec![("axis", Attr::Int(1))])
        .output("prob")
        .model()
        .bind(&device())
        .unwrap()
        .1
}

fn image() -> (Vec<f32>, Tensor<4>) {
    let x: Vec<f32> = (0..48).map(|i| ((i as f32) * 0.37).sin()).collect();
    (x.clone(), Tensor::from_data(TensorData::new(x, [1, 3, 4, 4]), &device()))
}

fn run(
    method: &Method,
    net: &Network,
    x: &Tensor<4>,
    class: usize,
) -> Result<convlens::methods::Attribution, MethodError> {
    pollster::block_on(method.attribute(net, x, &Target::Class(class), &mut |_, _| true))
}

/// conv output channel k at pixel i, computed by hand.
fn conv(x: &[f32], k: usize, i: usize) -> f32 {
    (0..3).map(|c| W1[k * 3 + c] * x[c * 16 + i]).sum()
}

#[test]
fn saliency_is_the_exact_gradient() {
    // d logit_c / d x[ch, i] = Σ_k fc[c,k] · [conv_k(i) > 0] · W1[k,ch] / 16.
    let (x, t) = image();
    let a = run(&Method::Saliency, &net(), &t, 2).unwrap();
    assert_eq!(a.shape, vec![3, 4, 4]);
    let want: Vec<f32> = (0..48)
        .map(|j| {
            let (ch, i) = (j / 16, j % 16);
            (0..2).map(|k| if conv(&x, k, i) > 0.0 { FC[2 * 2 + k] * W1[k * 3 + ch] / 16.0 } else { 0.0 }).sum()
        })
        .collect();
    assert_close(&a.values, &want, 1e-5);
    let m = a.max_abs_over_channels();
    assert_eq!(m.shape, vec![4, 4]);
    assert_close(&m.values[..1], &[want[0].abs().max(want[16].abs()).max(want[32].abs())], 1e-6);
}

#[test]
fn grad_cam_weights_channels_by_mean_gradient() {
    // At layer r: α_k = fc[c,k] / 16, cam(i) = relu(Σ_k α_k · relu(conv_k(i))).
    let (x, t) = image();
    for class in 0..3 {
        let a = run(&Method::GradCam { layer: "r".into() }, &net(), &t, class).unwrap();
        assert_eq!(a.shape, vec![4, 4]);
        let want: Vec<f32> = (0..16)
            .map(|i| (0..2).map(|k| FC[class * 2 + k] / 16.0 * conv(&x, k, i).max(0.0)).sum::<f32>().max(0.0))
            .collect();
        assert_close(&a.values, &want, 1e-5);
    }
}

fn softmax(v: &[f32]) -> Vec<f32> {
    let m = v.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let e: Vec<f32> = v.iter().map(|x| (x - m).exp()).collect();
    let s: f32 = e.iter().sum();
    e.iter().map(|x| x / s).collect()
}

fn prob(net: &Network, x: &[f32], class: usize) -> f32 {
    let t = Tensor::from_data(TensorData::new(x.to_vec(), [1, 3, 4, 4]), &device());
    let s = net.scores(t).unwrap().into_data().try_into_vec::<f32>().unwrap();
    softmax(&s)[class]
}

#[test]
fn occlusion_matches_one_window_at_a_time() {
    let net = net();
    let (x, t) = image();
    let p = OcclusionParams { window: [2, 3], strides: [1, 2], baseline: 0.25, batch: 3 };
    let a = run(&Method::Occlusion(p), &net, &t, 1).unwrap();
    assert_eq!(a.shape, vec![4, 4]);
    // Brute force: rows 0..=2 step 1, columns 0 and 1 (the last flush with the edge).
    let base = prob(&net, &x, 1);
    let (mut sum, mut n) = (vec![0f32; 16], vec![0f32; 16]);
    for y0 in 0..=2 {
        for x0 in [0, 1] {
            let mut img = x.clone();
            for c in 0..3 {
                for y in y0..y0 + 2 {
                    for xx in x0..x0 + 3 {
                        img[c * 16 + y * 4 + xx] = 0.25;
                    }
                }
            }
            let drop = base - prob(&net, &img, 1);
            for y in y0..y0 + 2 {
                for xx in x0..x0 + 3 {
                    sum[y * 4 + xx] += drop;
                    n[y * 4 + xx] += 1.0;
                }
            }
        }
    }
    let want: Vec<f32> = sum.iter().zip(&n).map(|(s, k)| s / k).collect();
    assert_close(&a.values, &want, 1e-5);
    assert!((a.score - base).abs() < 1e-6);
}

#[test]
fn occluding_everything_gives_the_full_drop_everywhere() {
    let net = net();
    let (x, t) = image();
    let p = OcclusionParams { window: [4, 4], strides: [4, 4], baseline: 0.0, batch: 1 };
    let a = run(&Method::Occlusion(p), &net, &t, 0).unwrap();
    let drop = prob(&net, &x, 0) - prob(&net, &[0.0; 48], 0);
    assert_close(&a.values, &[drop; 16], 1e-5);
}

fn table() -> Vec<Method> {
    vec![
        Method::Saliency,
        Method::Occlusion(OcclusionParams { window: [2, 2], strides: [2, 2], baseline: 0.5, batch: 2 }),
        Method::GradCam { layer: "r".into() },
    ]
}

#[test]
fn every_method_is_in_the_table_and_rejects_bad_targets() {
    let names: Vec<&str> = table().iter().map(|m| m.name()).collect();
    assert_eq!(names, Method::ALL_NAMES);
    let (_, t) = image();
    for m in table() {
        let a = run(&m, &net(), &t, 0).unwrap();
        assert!(a.values.iter().all(|v| v.is_finite()), "{}", m.name());
        assert_eq!(a.values.len(), a.shape.iter().product::<usize>(), "{}", m.name());
        assert!(matches!(run(&m, &net(), &t, 3), Err(MethodError::BadArgument(_))), "{}", m.name());
        let batch = Tensor::<4>::zeros([2, 3, 4, 4], &device());
        assert!(matches!(run(&m, &net(), &batch, 0), Err(MethodError::BadArgument(_))), "{}", m.name());
    }
    let bad = Method::GradCam { layer: "nope".into() };
    assert!(matches!(run(&bad, &net(), &t, 0), Err(MethodError::Model(_))));
    let too_big = Method::Occlusion(OcclusionParams { window: [5, 5], ..OcclusionParams::default() });
    assert!(matches!(run(&too_big, &net(), &t, 0), Err(MethodError::BadArgument(_))));
}

#[test]
fn occlusion_reports_progress_and_cancels() {
    let (_, t) = image();
    let m = Method::Occlusion(OcclusionParams { window: [1, 1], strides: [1, 1], baseline: 0.5, batch: 4 });
    let mut seen = Vec::new();
    pollster::block_on(m.attribute(&net(), &t, &Target::Class(0), &mut |done, total| {
        seen.push((done, total));
        true
    }))
    .unwrap();
    assert_eq!(seen.first(), Some(&(0, 16)));
    assert_eq!(seen.last(), Some(&(16, 16)));
    let mut calls = 0;
    let r = pollster::block_on(m.attribute(&net(), &t, &Target::Class(0), &mut |_, _| {
        calls += 1;
        calls < 2
    }));
    assert_eq!(r, Err(MethodError::Cancelled));
}

#[test]
fn squeezenet_maps_have_the_expected_shapes() {
    let bytes = std::fs::read("static/models/squeezenet1_1-int8.onnx").unwrap();
    let (_, net) = convlens::model::Model::from_bytes(&bytes).unwrap().bind(&device()).unwrap();
    let img = convlens::image::decode_rgb(&std::fs::read("static/samples/coffee.png").unwrap()).unwrap();
    let x = convlens::image::to_tensor(&convlens::image::center_crop(&img, 256, 227), &device());
    let s = run(&Method::Saliency, &net, &x, 967).unwrap();
    assert_eq!(s.shape, vec![3, 227, 227]);
    assert!(s.values.iter().any(|v| v.abs() > 0.0));
    let cam = run(&Method::GradCam { layer: "fire9/concat".into() }, &net, &x, 967).unwrap();
    assert_eq!(cam.shape, vec![14, 14]);
    assert!(cam.values.iter().any(|v| *v > 0.0), "espresso should light up somewhere");
}
