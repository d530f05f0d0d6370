//! Attribution methods on tiny nets with hand-computable answers, against a brute-force
//! occlusion, and the checks every method in the table must pass.

mod common;
use common::{Attr, OnnxBuilder, assert_close, device};
use convlens::methods::occlusion::fill_image;
use convlens::methods::{Fill, Method, MethodError, MethodParams, OcclusionParams, Target};
use convlens::model::Network;
use convlens::{Tensor, TensorData};

const W1: [f32; 6] = [1.0, 2.0, 3.0, -1.0, 0.5, 0.0];
const FC: [f32; 6] = [0.5, -1.0, 2.0, 1.0, -0.5, 0.25];

/// conv 1×1 (3→2) → relu "r" → global average → flatten → gemm (2→3) "logits" → softmax "prob".
fn net() -> Network {
    builder(true)
}

/// The same net without its ReLU: the score is linear in the image.
fn linear_net() -> Network {
    builder(false)
}

fn builder(with_relu: bool) -> Network {
    let relu = if with_relu { "Relu" } else { "Identity" };
    tail(head().node(relu, &["conv"], "r", vec![]))
}

/// The net with a bounded ReLU, `Clip(0, CLIP)`, where the ReLU was.
fn clip_net() -> Network {
    tail(head().f32("lo", &[], &[0.0]).f32("hi", &[], &[CLIP]).node("Clip", &["conv", "lo", "hi"], "r", vec![]))
}

const CLIP: f32 = 0.8;

fn head() -> OnnxBuilder {
    OnnxBuilder::new("x").f32("w", &[2, 3, 1, 1], &W1).f32("fc", &[3, 2], &FC).f32("fb", &[3], &[0.1, 0.0, -0.1]).node(
        "Conv",
        &["x", "w"],
        "conv",
        vec![],
    )
}

fn tail(b: OnnxBuilder) -> Network {
    b.node("GlobalAveragePool", &["r"], "g", vec![])
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
    run_on(method, net, x, &Target::Class(class))
}

fn run_on(
    method: &Method,
    net: &Network,
    x: &Tensor<4>,
    target: &Target,
) -> Result<convlens::methods::Attribution, MethodError> {
    pollster::block_on(method.attribute(net, x, target, &mut |_, _| true))
}

fn method(name: &str) -> Method {
    Method::from_name(name, &MethodParams::default()).unwrap()
}

/// The gradient reaching the image through the conv when channel k passes `g_k` back.
fn through_conv(g: impl Fn(usize, usize) -> f32) -> Vec<f32> {
    (0..48).map(|j| (0..2).map(|k| g(k, j % 16) * W1[k * 3 + j / 16]).sum()).collect()
}

/// conv output channel k at pixel i, computed by hand.
fn conv(x: &[f32], k: usize, i: usize) -> f32 {
    (0..3).map(|c| W1[k * 3 + c] * x[c * 16 + i]).sum()
}

#[test]
fn saliency_is_the_exact_gradient() {
    // d logit_c / d x[ch, i] = Σ_k fc[c,k] · [conv_k(i) > 0] · W1[k,ch] / 16.
    let (x, t) = image();
    let a = run(&method("saliency"), &net(), &t, 2).unwrap();
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
fn guided_backprop_and_deconvnet_follow_their_relu_rules() {
    // The gradient reaching relu channel k is fc[c,k]/16 at every pixel. Guided backprop passes
    // it where the forward input was positive and the gradient is positive; deconvnet where
    // the gradient is positive, whatever the input.
    let (x, t) = image();
    for class in 0..3 {
        let fc = |k: usize| FC[class * 2 + k] / 16.0;
        let guided = through_conv(|k, i| if conv(&x, k, i) > 0.0 && fc(k) > 0.0 { fc(k) } else { 0.0 });
        let deconv = through_conv(|k, _| fc(k).max(0.0));
        let saliency = through_conv(|k, i| if conv(&x, k, i) > 0.0 { fc(k) } else { 0.0 });
        assert_close(&run(&method("guided-backprop"), &net(), &t, class).unwrap().values, &guided, 1e-6);
        assert_close(&run(&method("deconvnet"), &net(), &t, class).unwrap().values, &deconv, 1e-6);
        assert_close(&run(&method("saliency"), &net(), &t, class).unwrap().values, &saliency, 1e-6);
    }
    // The rule changes only the backward pass: the explained score is the same.
    let scores: Vec<f32> = ["saliency", "guided-backprop", "deconvnet"]
        .iter()
        .map(|m| run(&method(m), &net(), &t, 1).unwrap().score)
        .collect();
    assert!(scores.windows(2).all(|p| p[0] == p[1]), "{scores:?}");
}

#[test]
fn bounded_relus_follow_the_relu_rules() {
    // Through Clip(0, CLIP) the derivative passes where 0 < conv < CLIP (PyTorch's hardtanh);
    // guided backprop gates it by the gradient's sign as at a ReLU, deconvnet passes the positive
    // gradient whatever the input.
    let (x, t) = image();
    let inside = |k: usize, i: usize| {
        let v = conv(&x, k, i);
        0.0 < v && v < CLIP
    };
    let clipped = (0..2).flat_map(|k| (0..16).map(move |i| (k, i))).filter(|&(k, i)| conv(&x, k, i) >= CLIP).count();
    let negative = (0..2).flat_map(|k| (0..16).map(move |i| (k, i))).filter(|&(k, i)| conv(&x, k, i) <= 0.0).count();
    assert!(clipped > 0 && negative > 0, "both bounds must matter: {clipped} clipped, {negative} negative");
    for class in 0..3 {
        let fc = |k: usize| FC[class * 2 + k] / 16.0;
        let saliency = through_conv(|k, i| if inside(k, i) { fc(k) } else { 0.0 });
        let guided = through_conv(|k, i| if inside(k, i) && fc(k) > 0.0 { fc(k) } else { 0.0 });
        let deconv = through_conv(|k, _| fc(k).max(0.0));
        assert_close(&run(&method("saliency"), &clip_net(), &t, class).unwrap().values, &saliency, 1e-6);
        assert_close(&run(&method("guided-backprop"), &clip_net(), &t, class).unwrap().values, &guided, 1e-6);
        assert_close(&run(&method("deconvnet"), &clip_net(), &t, class).unwrap().values, &deconv, 1e-6);
    }
}

#[test]
fn channel_targets_explain_a_neuron() {
    // Target r[k]: mean over pixels of relu(conv_k); d/dx[ch,i] = [conv_k(i) > 0] W1[k,ch] / 16.
    let (x, t) = image();
    for k in 0..2 {
        let target = Target::Channel { layer: "r".into(), channel: k };
        let a = run_on(&method("saliency"), &net(), &t, &target).unwrap();
        let want = through_conv(|j, i| if j == k && conv(&x, k, i) > 0.0 { 1.0 / 16.0 } else { 0.0 });
        assert_close(&a.values, &want, 1e-6);
        let mean = (0..16).map(|i| conv(&x, k, i).max(0.0)).sum::<f32>() / 16.0;
        assert!((a.score - mean).abs() < 1e-5);
    }
    let missing = Target::Channel { layer: "r".into(), channel: 2 };
    assert!(matches!(run_on(&method("saliency"), &net(), &t, &missing), Err(MethodError::BadArgument(_))));
    let unknown = Target::Channel { layer: "nope".into(), channel: 0 };
    assert!(matches!(run_on(&method("grad-cam"), &net(), &t, &unknown), Err(MethodError::Model(_))));
}

#[test]
fn integrated_gradients_are_complete() {
    // Σ attributions = score(x) − score(baseline), up to quadrature error (1%).
    let (x, t) = image();
    for (baseline, class) in [(0.0, 0), (0.5, 1), (-0.3, 2)] {
        let p = MethodParams { baseline, steps: 128, ..MethodParams::default() };
        let a = run(&Method::from_name("integrated-gradients", &p).unwrap(), &net(), &t, class).unwrap();
        let logit = |img: &[f32]| {
            let t = Tensor::from_data(TensorData::new(img.to_vec(), [1, 3, 4, 4]), &device());
            net().scores(t).unwrap().into_data().try_into_vec::<f32>().unwrap()[class]
        };
        let want = logit(&x) - logit(&[baseline; 48]);
        let got: f32 = a.values.iter().sum();
        assert!((got - want).abs() <= 0.01 * want.abs().max(1e-3), "baseline {baseline}: {got} vs {want}");
        assert!((a.score - logit(&x)).abs() < 1e-5);
    }
    // On a linear model IG is exact: (x − x′) · gradient.
    let a = run(&method("integrated-gradients"), &linear_net(), &t, 0).unwrap();
    let g = run(&method("saliency"), &linear_net(), &t, 0).unwrap();
    let want: Vec<f32> = x.iter().zip(&g.values).map(|(x, g)| x * g).collect();
    assert_close(&a.values, &want, 1e-5);
}

#[test]
fn smoothgrad_averages_noisy_gradients() {
    let (_, t) = image();
    let params = |sigma: f32, seed: u64| MethodParams { sigma, seed, samples: 10, ..MethodParams::default() };
    let smooth = |sigma, seed, net: &Network| {
        run(&Method::from_name("smoothgrad", &params(sigma, seed)).unwrap(), net, &t, 1).unwrap().values
    };
    // No noise: exactly the gradient. A linear model: the gradient whatever the noise.
    let g = run(&method("saliency"), &net(), &t, 1).unwrap().values;
    assert_close(&smooth(0.0, 0, &net()), &g, 1e-6);
    let lg = run(&method("saliency"), &linear_net(), &t, 1).unwrap().values;
    assert_close(&smooth(0.5, 3, &linear_net()), &lg, 1e-5);
    // With noise through the ReLU the map changes, reproducibly for one seed.
    let a = smooth(0.5, 7, &net());
    assert_eq!(a, smooth(0.5, 7, &net()));
    assert_ne!(a, smooth(0.5, 8, &net()));
    assert_ne!(a, g);
    // The smoothed rule is a parameter.
    let p = MethodParams { smooth: "guided-backprop".into(), sigma: 0.0, ..MethodParams::default() };
    let guided = run(&method("guided-backprop"), &net(), &t, 1).unwrap().values;
    assert_close(&run(&Method::from_name("smoothgrad", &p).unwrap(), &net(), &t, 1).unwrap().values, &guided, 1e-6);
}

#[test]
fn guided_grad_cam_is_guided_backprop_times_the_map() {
    // Layer r has the input's 4×4 grid, so the upsampled map is the map itself.
    let (_, t) = image();
    let p = MethodParams { layer: Some("r".into()), ..MethodParams::default() };
    for class in 0..3 {
        let cam = run(&Method::from_name("grad-cam", &p).unwrap(), &net(), &t, class).unwrap().values;
        let guided = run(&method("guided-backprop"), &net(), &t, class).unwrap().values;
        let a = run(&Method::from_name("guided-grad-cam", &p).unwrap(), &net(), &t, class).unwrap();
        assert_eq!(a.shape, vec![3, 4, 4]);
        let want: Vec<f32> = guided.iter().enumerate().map(|(j, g)| g * cam[j % 16]).collect();
        assert_close(&a.values, &want, 1e-6);
    }
}

#[test]
fn bilinear_upsampling_keeps_constants_and_interpolates_between_centres() {
    use convlens::methods::gradcam::upsample_bilinear;
    assert_eq!(upsample_bilinear(&[2.0; 4], 2, 2, 5, 3), vec![2.0; 15]);
    // A 1×2 map [0, 1] to 1×4: centres at 0.25 and 0.75 of the width.
    assert_close(&upsample_bilinear(&[0.0, 1.0], 1, 2, 1, 4), &[0.0, 0.25, 0.75, 1.0], 1e-6);
}

#[test]
fn grad_cam_weights_channels_by_mean_gradient() {
    // At layer r: α_k = fc[c,k] / 16, cam(i) = relu(Σ_k α_k · relu(conv_k(i))).
    let (x, t) = image();
    for class in 0..3 {
        let a = run(&Method::GradCam { layer: Some("r".into()), guided: false }, &net(), &t, class).unwrap();
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
    for incremental in [false, true] {
        for fill in [Fill::Value(0.25), Fill::Mean, Fill::Blur] {
            let p = OcclusionParams { window: [2, 3], strides: [1, 2], fill, batch: 3, incremental, approximate: None };
            let a = run(&Method::Occlusion(p), &net, &t, 1).unwrap();
            assert_eq!(a.shape, vec![4, 4]);
            assert_close(&a.values, &brute_force_occlusion(&net, &x, fill), 1e-5);
            assert!((a.score - prob(&net, &x, 1)).abs() < 1e-6);
        }
    }
}

/// An incremental sweep hands its unoccluded activations to the caller to keep, and the next
/// sweep of the same image and fill takes them (another class and window: the map it would
/// make from scratch); another fill or another image builds its own, and a whole-image sweep
/// neither takes nor keeps any.
#[test]
fn sweeps_of_one_image_share_its_unoccluded_activations() {
    use convlens::methods::occlusion::Unmodified;
    use std::rc::Rc;
    struct Keeper(Option<Rc<Unmodified>>);
    impl convlens::methods::Progress for Keeper {
        fn tick(&mut self, _: usize, _: usize) -> std::pin::Pin<Box<dyn std::future::Future<Output = bool> + '_>> {
            Box::pin(std::future::ready(true))
        }
        fn kept_unmodified(&mut self) -> Option<Rc<Unmodified>> {
            self.0.clone()
        }
        fn keep_unmodified(&mut self, _: Fill, unmodified: Rc<Unmodified>) {
            self.0 = Some(unmodified);
        }
    }
    let net = net();
    let (_, t) = image();
    let mut keeper = Keeper(None);
    let mut sweep = |p: &OcclusionParams, x: &Tensor<4>, class: usize| {
        let method = Method::Occlusion(p.clone());
        let kept = pollster::block_on(method.attribute(&net, x, &Target::Class(class), &mut keeper)).unwrap();
        assert_eq!(kept, run(&method, &net, x, class).unwrap(), "{p:?}, class {class}");
        keeper.0.clone()
    };
    let p = OcclusionParams { window: [2, 3], strides: [1, 2], batch: 3, ..Default::default() };
    let first = sweep(&p, &t, 1).expect("an incremental sweep keeps its activations");
    let q = OcclusionParams { window: [3, 3], strides: [1, 1], ..p.clone() };
    let second = sweep(&q, &t, 2).unwrap();
    assert!(Rc::ptr_eq(&first, &second), "the same image and fill: taken, not built again");
    let blur = OcclusionParams { fill: Fill::Blur, ..p.clone() };
    let blurred = sweep(&blur, &t, 1).unwrap();
    assert!(!Rc::ptr_eq(&first, &blurred), "another fill: built anew");
    let other = t.clone().mul_scalar(0.5);
    let other_kept = sweep(&blur, &other, 0).unwrap();
    assert!(!Rc::ptr_eq(&blurred, &other_kept), "another image: built anew");
    let whole = OcclusionParams { incremental: false, ..blur };
    assert!(Rc::ptr_eq(&sweep(&whole, &other, 1).unwrap(), &other_kept), "a whole-image sweep keeps nothing");
}

#[test]
fn fills_are_grey_mean_or_a_blur() {
    let (x, _) = image();
    assert_eq!(fill_image(&x, [3, 4, 4], Fill::Value(0.5)), vec![0.5; 48]);
    let mean = fill_image(&x, [3, 4, 4], Fill::Mean);
    assert_eq!((mean[0], mean[16], mean[47]), (0.485, 0.456, 0.406));
    // A blur keeps each channel's average roughly and lowers its spread.
    let blur = fill_image(&x, [3, 4, 4], Fill::Blur);
    let spread = |v: &[f32]| v.iter().fold(f32::MIN, |a, b| a.max(*b)) - v.iter().fold(f32::MAX, |a, b| a.min(*b));
    for c in 0..3 {
        assert!(spread(&blur[c * 16..(c + 1) * 16]) < spread(&x[c * 16..(c + 1) * 16]));
    }
    assert_eq!(fill_image(&[0.3; 48], [3, 4, 4], Fill::Blur), vec![0.3; 48]);
}

/// One window at a time, Captum's way: rows 0..=2 step 1; columns 0 and 2, the window at
/// column 2 cut off by the border after two columns.
fn brute_force_occlusion(net: &Network, x: &[f32], fill: Fill) -> Vec<f32> {
    let fill = fill_image(x, [3, 4, 4], fill);
    let base = prob(net, x, 1);
    let (mut sum, mut n) = (vec![0f32; 16], vec![0f32; 16]);
    for y0 in 0..=2 {
        for x0 in [0, 2] {
            let mut img = x.to_vec();
            for c in 0..3 {
                for y in y0..y0 + 2 {
                    for xx in x0..(x0 + 3).min(4) {
                        img[c * 16 + y * 4 + xx] = fill[c * 16 + y * 4 + xx];
                    }
                }
            }
            let drop = base - prob(net, &img, 1);
            for y in y0..y0 + 2 {
                for xx in x0..(x0 + 3).min(4) {
                    sum[y * 4 + xx] += drop;
                    n[y * 4 + xx] += 1.0;
                }
            }
        }
    }
    sum.iter().zip(&n).map(|(s, k)| s / k).collect()
}

#[test]
fn occluding_everything_gives_the_full_drop_everywhere() {
    let net = net();
    let (x, t) = image();
    let p = OcclusionParams { window: [4, 4], strides: [4, 4], fill: Fill::Value(0.0), batch: 1, ..Default::default() };
    let a = run(&Method::Occlusion(p), &net, &t, 0).unwrap();
    let drop = prob(&net, &x, 0) - prob(&net, &[0.0; 48], 0);
    assert_close(&a.values, &[drop; 16], 1e-5);
}

/// Every method, with parameters that fit the 4×4 test image.
fn table() -> Vec<Method> {
    let p = MethodParams { window: 2, stride: 2, steps: 4, samples: 3, layer: Some("r".into()), ..Default::default() };
    Method::ALL_NAMES.iter().map(|name| Method::from_name(name, &p).unwrap()).collect()
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
    let bad = Method::GradCam { layer: Some("nope".into()), guided: false };
    assert!(matches!(run(&bad, &net(), &t, 0), Err(MethodError::Model(_))));
    let too_big = Method::Occlusion(OcclusionParams { window: [5, 5], ..OcclusionParams::default() });
    assert!(matches!(run(&too_big, &net(), &t, 0), Err(MethodError::BadArgument(_))));
}

#[test]
fn occlusion_reports_progress_and_cancels() {
    let (_, t) = image();
    let m = Method::Occlusion(OcclusionParams {
        window: [1, 1],
        strides: [1, 1],
        fill: Fill::Value(0.5),
        batch: 4,
        ..Default::default()
    });
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
    let s = run(&method("saliency"), &net, &x, 967).unwrap();
    assert_eq!(s.shape, vec![3, 227, 227]);
    assert!(s.values.iter().any(|v| v.abs() > 0.0));
    let cam = run(&Method::GradCam { layer: Some("fire9/concat".into()), guided: false }, &net, &x, 967).unwrap();
    assert_eq!(cam.shape, vec![14, 14]);
    assert!(cam.values.iter().any(|v| *v > 0.0), "espresso should light up somewhere");
}

#[test]
fn sanity_check_randomizes_the_top_layers_only() {
    let net = net();
    assert_eq!(net.weight_layers(), vec!["logits".to_string(), "conv".to_string()]);
    let (_, t) = image();
    let acts = |n: &Network, name: &str| {
        n.forward(t.clone(), &[name])
            .unwrap()
            .get(name)
            .unwrap()
            .tensor
            .clone()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap()
    };
    let same = net.randomized(0, 1).unwrap();
    assert_eq!(acts(&same, "logits"), acts(&net, "logits"));
    // The top layer random: the layers below are untouched, the scores and the map change.
    let top = net.randomized(1, 1).unwrap();
    assert_eq!(acts(&top, "r"), acts(&net, "r"));
    assert_ne!(acts(&top, "logits"), acts(&net, "logits"));
    assert_eq!(acts(&top, "logits"), acts(&net.randomized(1, 1).unwrap(), "logits"), "a seed gives one copy");
    let map = |n: &Network| run(&method("saliency"), n, &t, 0).unwrap().values;
    assert_ne!(map(&top), map(&net));
    // Cascading further down changes the lower layer too.
    assert_ne!(acts(&net.randomized(2, 1).unwrap(), "r"), acts(&net, "r"));
}

#[test]
fn occlusion_previews_a_coarse_pass_first() {
    // 4×4 windows of one pixel: the coarse pass is every other window, i.e. stride 2.
    struct Recorder(Vec<Vec<f32>>, Vec<usize>);
    impl convlens::methods::Progress for Recorder {
        fn tick(&mut self, done: usize, _: usize) -> std::pin::Pin<Box<dyn std::future::Future<Output = bool> + '_>> {
            self.1.push(done);
            Box::pin(std::future::ready(true))
        }
        fn preview(&mut self, map: &convlens::methods::Attribution) {
            self.0.push(map.values.clone());
        }
    }
    let (_, t) = image();
    let params = |stride| OcclusionParams { window: [1, 1], strides: [stride; 2], batch: 3, ..Default::default() };
    let mut rec = Recorder(Vec::new(), Vec::new());
    let full =
        pollster::block_on(Method::Occlusion(params(1)).attribute(&net(), &t, &Target::Class(2), &mut rec)).unwrap();
    assert_eq!(rec.0.len(), 1, "one preview");
    let coarse = run(&Method::Occlusion(params(2)), &net(), &t, 2).unwrap();
    assert_close(&rec.0[0], &coarse.values, 1e-6);
    assert_eq!(rec.1.first(), Some(&0));
    assert_eq!(rec.1.last(), Some(&16));
    assert!(rec.1.windows(2).all(|w| w[0] <= w[1]), "progress only grows: {:?}", rec.1);
    // The final map is the full-stride one, whatever the order.
    let plain =
        pollster::block_on(Method::Occlusion(params(1)).attribute(&net(), &t, &Target::Class(2), &mut |_, _| true))
            .unwrap();
    assert_eq!(full, plain);
}
