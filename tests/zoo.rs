//! The architectures people export (LeNet, VGG, ResNet basic and bottleneck, MobileNetV2 and V3,
//! EfficientNet-Lite with TF padding, SqueezeNet 1.0/1.1), small and with random weights, at
//! opsets 11 to 21: our executor against onnxruntime on the same inputs
//! (`tools/make_model_zoo.py` wrote the files and onnxruntime's outputs).

use convlens::model::Model;
use convlens::{Device, Tensor, TensorData};

const ZOO: &str = "tests/fixtures/zoo";

/// The same inputs as `test_input` in tools/make_model_zoo.py.
fn test_input(shape: &[usize], k: u64) -> Vec<f32> {
    let n: usize = shape.iter().product();
    (0..n as u64).map(|i| ((i * 7919 + k * 104729) % 257) as f32 / 256.0).collect()
}

#[test]
fn every_architecture_matches_onnxruntime() {
    let reference: serde_json::Value =
        serde_json::from_slice(&std::fs::read(format!("{ZOO}/reference.json")).unwrap()).unwrap();
    let models = reference.as_object().unwrap();
    assert!(models.len() >= 15);
    let mut opsets = std::collections::BTreeSet::new();
    for (name, want) in models {
        let bytes = std::fs::read(format!("{ZOO}/{name}.onnx")).unwrap();
        let model = Model::from_bytes(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let output = model.graph.outputs[0].clone();
        let (_, net) = model.bind(&Device::flex()).unwrap_or_else(|e| panic!("{name}: {e}"));
        let shape: Vec<usize> =
            want["input_shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect();
        opsets.insert(want["opset"].as_u64().unwrap());
        // int8 files with quantized activations run their convolutions in integers on wasm;
        // natively both ways.
        let int8 = want["int8"].as_bool().unwrap_or(false);
        let mut nets = vec![net];
        if int8 && !cfg!(target_arch = "wasm32") {
            let (_, net) = Model::from_bytes(&bytes).unwrap().bind(&Device::flex()).unwrap();
            nets.push(net.with_integer_kernels(true));
        }
        let integer = nets.last().unwrap().integer_convolutions();
        println!("{name}: {integer} integer convolutions");
        if name.ends_with("_qdq") || name.contains("_qdq_") || name.contains("qoperator") {
            assert!(integer > 0, "{name}: no integer convolution");
        } else {
            assert_eq!(integer, 0, "{name}: integer convolutions in a float or dynamic file");
        }
        for (net, (k, expected)) in
            nets.iter().flat_map(|net| want["outputs"].as_array().unwrap().iter().enumerate().map(move |e| (net, e)))
        {
            let expected: Vec<f32> = expected.as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
            // The app feeds NCHW; a channels-last model gets it transposed (the same numbers).
            let nhwc = net.graph().channels_last();
            let dims =
                if nhwc { [shape[0], shape[3], shape[1], shape[2]] } else { [shape[0], shape[1], shape[2], shape[3]] };
            let mut x = Tensor::<4>::from_data(
                TensorData::new(test_input(&shape, k as u64), [shape[0], shape[1], shape[2], shape[3]]),
                net.device(),
            );
            if nhwc {
                x = x.permute([0, 3, 1, 2]);
            }
            assert_eq!(x.dims(), dims);
            let acts = net.forward(x, &[]).unwrap_or_else(|e| panic!("{name}: {e}"));
            let got = acts.get(&output).unwrap().tensor.clone().into_data().try_to_vec::<f32>().unwrap();
            assert_eq!(got.len(), expected.len(), "{name}");
            let scale = expected.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
            let worst = got.iter().zip(&expected).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max) / scale;
            println!("{name} (opset {}) input {k}: max relative difference {worst:.2e}", want["opset"]);
            // int8: onnxruntime computes in integers, we in floats (or integers) with the same
            // rounding points.
            let tolerance: f32 = if int8 { 1e-2 } else { 1e-4 };
            // A quantized output may differ by one of its steps where a value sits on a rounding edge.
            let step = want["output_step"].as_f64().unwrap_or(0.0) as f32 * 1.01 / scale;
            assert!(
                worst <= tolerance.max(step),
                "{name} input {k}: relative difference {worst:.2e}\n got {got:?}\nwant {expected:?}"
            );
            let top = |v: &[f32]| (0..v.len()).max_by(|&a, &b| v[a].total_cmp(&v[b]));
            assert_eq!(top(&got), top(&expected), "{name} input {k}: top-1");
        }
    }
    assert!(opsets.first() <= Some(&11) && opsets.last() >= Some(&21), "opsets 11 to 21: {opsets:?}");
}

/// Every attribution method and every optimization kind runs on every architecture: finite,
/// non-constant maps of the right size, images of the promised size.
#[test]
fn every_method_runs_on_every_architecture() {
    use convlens::methods::{Method, Target};
    use convlens::optvis::Step;
    use convlens::optvis::job::{Pictures, make};
    use convlens::protocol::{MethodParams, OPTIMIZE_KINDS, OptimizeJob};
    let reference: serde_json::Value =
        serde_json::from_slice(&std::fs::read(format!("{ZOO}/reference.json")).unwrap()).unwrap();
    for name in reference.as_object().unwrap().keys() {
        let model = Model::from_bytes(&std::fs::read(format!("{ZOO}/{name}.onnx")).unwrap()).unwrap();
        let convs = convlens::anatomy::conv_layers(&model.graph);
        let (info, net) = model.bind(&Device::flex()).unwrap();
        let side = info.input_size;
        let photo = image::RgbImage::from_fn(side as u32, side as u32, |x, y| {
            image::Rgb([(x * 8) as u8, (y * 8) as u8, ((x + y) * 4) as u8])
        });
        let x = convlens::image::to_tensor(&photo, net.device());
        // The top-1 class: Grad-CAM of a class with only negative evidence is rightly all zero.
        let scores = net.scores(x.clone()).unwrap().into_data().try_to_vec::<f32>().unwrap();
        let top = (0..scores.len()).max_by(|&a, &b| scores[a].total_cmp(&scores[b])).unwrap();
        let p = MethodParams { window: 8, stride: 8, steps: 4, samples: 2, ..MethodParams::default() };
        for method in Method::ALL_NAMES {
            let m = Method::from_name(method, &p).unwrap();
            let a = pollster::block_on(m.attribute(&net, &x, &Target::Class(top), &mut |_, _| true))
                .unwrap_or_else(|e| panic!("{name} {method}: {e}"));
            assert!(a.values.iter().all(|v| v.is_finite()), "{name} {method}");
            let first = a.values[0];
            assert!(a.values.iter().any(|v| *v != first), "{name} {method}: a constant map");
        }
        let pictures = Pictures { photo: Some(photo.clone()), style: Some(photo.clone()) };
        for kind in OPTIMIZE_KINDS {
            let size = if matches!(*kind, "deepdream" | "style") { side + 8 } else { 0 };
            let job = OptimizeJob {
                kind: kind.to_string(),
                steps: 2,
                size,
                class: 3,
                layer: convs[convs.len() / 2].clone(),
                style_layers: convs[..2].to_vec(),
                ..OptimizeJob::default()
            };
            let made = pollster::block_on(make(&net, &info, &job, &pictures, &mut |_: &Step| true))
                .unwrap_or_else(|e| panic!("{name} {kind}: {e}"));
            let dims = made.image().dims();
            let want = if size > 0 { size } else { side };
            assert_eq!(dims[2].max(dims[3]), want, "{name} {kind}");
        }
    }
}

/// Dynamic quantization picks each image's scale from that image alone, so a batch of perturbed
/// copies (occlusion, SmoothGrad) gives each copy what it would get by itself.
#[test]
fn dynamic_quantization_is_per_image() {
    let bytes = std::fs::read(format!("{ZOO}/mobilenetv2_int8_dynamic.onnx")).unwrap();
    let (_, net) = Model::from_bytes(&bytes).unwrap().bind(&Device::flex()).unwrap();
    let shape = [1, 3, 32, 32];
    let one = |k: u64| Tensor::<4>::from_data(TensorData::new(test_input(&shape, k), shape), net.device());
    // The second image is dimmer: its own range, hence its own scales.
    let (a, b) = (one(0), one(1).mul_scalar(0.25));
    let alone: Vec<f32> = [a.clone(), b.clone()]
        .into_iter()
        .flat_map(|x| net.scores(x).unwrap().into_data().try_to_vec::<f32>().unwrap())
        .collect();
    let both = net.scores(Tensor::cat(vec![a, b], 0)).unwrap().into_data().try_to_vec::<f32>().unwrap();
    let worst = alone.iter().zip(&both).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
    assert!(worst < 1e-5, "batched differs from alone by {worst}");
}

/// The int8 QDQ ResNet at 256 × 256, with the integer kernels on and off. Off, every 3×3
/// stride-1 convolution with 16 channels or more runs Winograd's float kernel. On, those with
/// 32 × 32 outputs still do (`cpu_winograd::beats_integers`): the same bits as off; the smaller
/// ones compute in integers: their outputs differ by the float sums' rounding only.
#[test]
fn integer_convolutions_on_large_planes_take_winograd() {
    use convlens::model::{Network, Op, Pass};
    let bytes = std::fs::read(format!("{ZOO}/resnet18_int8_qdq.onnx")).unwrap();
    let net = |integer: bool| {
        let (_, net) = Model::from_bytes(&bytes).unwrap().bind(&Device::flex()).unwrap();
        net.with_integer_kernels(integer)
    };
    let (float, mixed) = (net(false), net(true));
    assert_eq!(float.integer_convolutions(), 0);
    assert!(mixed.integer_convolutions() > 0);
    // Every 3×3 stride-1 convolution's output, with its input channels.
    let graph = float.graph();
    let convs: Vec<(&str, usize)> = graph
        .nodes
        .iter()
        .filter(|n| matches!(n.op, Op::Conv { strides: [1, 1], groups: 1, .. }))
        .filter_map(|n| {
            let w = graph.constants.get(n.inputs.get(1)?)?;
            (w.dims.len() == 4 && w.dims[2..] == [3, 3]).then_some((n.output.as_str(), w.dims[1]))
        })
        .collect();
    let taps: Vec<&str> = convs.iter().map(|c| c.0).collect();
    let shape = [1, 3, 256, 256];
    let (mut same, mut rounded) = (0, 0);
    for k in 0..2 {
        let x = Tensor::<4>::from_data(TensorData::new(test_input(&shape, k), shape), float.device());
        let run = |net: &Network| net.forward_with(x.clone(), &taps, &Pass::any_size()).unwrap();
        let (want, got) = (run(&float), run(&mixed));
        for &(tap, c) in &convs {
            let values = |acts: &convlens::model::Activations| {
                let t = acts.get(tap).unwrap().tensor.clone();
                (t.dims(), t.into_data().try_to_vec::<f32>().unwrap())
            };
            let ((dims, want), (_, got)) = (values(&want), values(&got));
            let winograd = c >= 16 && dims[1] >= 16 && dims[2] * dims[3] >= 729;
            let scale = want.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
            let worst = want.iter().zip(&got).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max) / scale;
            if winograd {
                assert_eq!(got, want, "{tap} ({dims:?}): not Winograd's float kernel");
                same += 1;
            } else {
                assert!(worst <= 1e-5, "{tap} ({dims:?}): relative difference {worst:.2e}");
                rounded += usize::from(worst > 0.0);
            }
        }
    }
    // Both kinds were there: a large plane on Winograd, and integer sums elsewhere.
    assert!(same > 0 && rounded > 0, "{same} on Winograd, {rounded} rounded differently");
}

/// BatchNormalization after a Conv is folded into the Conv's weights at load (the outputs still
/// match onnxruntime above); one that follows anything else stays.
#[test]
fn batch_norm_folds_into_the_convolution_before_it() {
    use convlens::model::Op;
    let count = |name: &str| {
        let m = Model::from_bytes(&std::fs::read(format!("{ZOO}/{name}.onnx")).unwrap()).unwrap();
        m.graph.nodes.iter().filter(|n| matches!(n.op, Op::BatchNormalization { .. })).count()
    };
    for name in ["resnet18", "resnet50", "mobilenetv2", "vgg", "efficientnet_lite"] {
        assert_eq!(count(name), 0, "{name}");
    }
    // onnxruntime's quantizers (without its pre-processing) put quantize/dequantize between them.
    assert!(count("resnet18_int8_qdq") > 0 && count("resnet18_int8_qoperator") > 0);
}
