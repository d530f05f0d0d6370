//! Every method of the other issues on the second bundled model: the Fashion-MNIST CNN takes
//! one grey 28×28 channel, the app feeds RGB, and each attribution method and optimization kind
//! must still run and answer sensibly.

use convlens::methods::{Method, Target};
use convlens::model::{Model, ModelInfo, Network};
use convlens::optvis::Step;
use convlens::optvis::job::{Made, Pictures, make};
use convlens::protocol::{MethodParams, OPTIMIZE_KINDS, OptimizeJob};

const FASHION: &[u8] = include_bytes!("../static/models/fashion-mnist-cnn-int8.onnx");

fn fashion() -> (ModelInfo, Network) {
    Model::from_bytes(FASHION).unwrap().bind(&convlens::Device::flex()).unwrap()
}

fn sample(name: &str) -> image::RgbImage {
    let bytes = std::fs::read(format!("static/samples/fashion/{name}.png")).unwrap();
    convlens::image::decode_rgb(&bytes).unwrap()
}

#[test]
fn every_attribution_method_runs_on_the_grey_model() {
    let (info, net) = fashion();
    let crop = convlens::image::center_crop(&sample("sneaker"), info.resize_shorter as u32, info.input_size as u32);
    assert_eq!(crop.dimensions(), (28, 28));
    let probs = pollster::block_on(convlens::classify::class_probabilities(&net, &crop)).unwrap();
    let top = convlens::classify::top_k(&probs, 1, &info);
    assert_eq!(top[0].label, "Sneaker");
    let x = convlens::image::to_tensor(&crop, net.device());
    let p = MethodParams { window: 7, stride: 7, steps: 8, samples: 4, ..MethodParams::default() };
    for name in Method::ALL_NAMES {
        for incremental in [false, true] {
            let m = Method::from_name(name, &MethodParams { incremental: Some(incremental), ..p.clone() }).unwrap();
            let a = pollster::block_on(m.attribute(&net, &x, &Target::Class(7), &mut |_, _| true))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(a.values.iter().all(|v| v.is_finite()), "{name}");
            assert!(a.values.iter().any(|v| *v != 0.0), "{name}: an all-zero map");
            let spatial: Vec<usize> = a.shape.iter().rev().take(2).copied().collect();
            assert!(spatial == [28, 28] || spatial == [3, 3] || spatial == [7, 7], "{name}: {:?}", a.shape);
        }
    }
}

#[test]
fn every_optimization_kind_runs_on_the_grey_model() {
    let (info, net) = fashion();
    let pictures = Pictures { photo: Some(sample("bag")), style: Some(sample("dress")) };
    for kind in OPTIMIZE_KINDS {
        let size = if matches!(*kind, "deepdream" | "style") { 40 } else { 0 };
        let job = OptimizeJob {
            kind: kind.to_string(),
            steps: 3,
            size,
            class: 7,
            layer: "conv2_relu".into(),
            style_layers: vec!["conv1_relu".into(), "conv2_relu".into()],
            ..OptimizeJob::default()
        };
        let made = pollster::block_on(make(&net, &info, &job, &pictures, &mut |_: &Step| true))
            .unwrap_or_else(|e| panic!("{kind}: {e}"));
        let dims = made.image().dims();
        if size == 0 {
            assert_eq!(dims[2..], [28, 28], "{kind}: the model's own size");
        } else {
            assert_eq!(dims[2..].iter().max(), Some(&40), "{kind}");
        }
        assert_eq!(matches!(made, Made::Fooled { .. }), *kind == "fool");
    }
    // Class visualization raises the class score from the grey start.
    let job = OptimizeJob { kind: "class-vis".into(), steps: 20, class: 1, ..OptimizeJob::default() };
    let mut values = Vec::new();
    pollster::block_on(make(&net, &info, &job, &Pictures::default(), &mut |s: &Step| {
        values.push(s.value);
        true
    }))
    .unwrap();
    assert!(values.last().unwrap() > values.first().unwrap(), "{values:?}");
}
