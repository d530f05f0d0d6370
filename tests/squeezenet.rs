//! The bundled int8 SqueezeNet 1.1 against an independent NumPy reference
//! (`tools/reference_forward.py`, fixtures in `tests/fixtures/`).

mod common;
use common::device;
use convlens::classify::{class_probabilities, read_f32, top_k};
use convlens::image::{center_crop, decode_rgb, to_tensor};
use convlens::model::{Model, Network};
use serde_json::Value;

const MODEL: &str = "static/models/squeezenet1_1-int8.onnx";

fn reference() -> Value {
    serde_json::from_str(&std::fs::read_to_string("tests/fixtures/squeezenet_reference.json").unwrap()).unwrap()
}

fn samples() -> Vec<Value> {
    reference()["samples"].as_array().unwrap().clone()
}

fn load() -> (convlens::model::ModelInfo, Network) {
    Model::from_bytes(&std::fs::read(MODEL).unwrap()).unwrap().bind(&device()).unwrap()
}

#[test]
fn bundled_model_decodes_into_squeezenet() {
    let (info, net) = load();
    assert_eq!(info.labels.len(), 1000);
    assert_eq!(info.labels[967], "espresso");
    assert_eq!(info.input_size, 227);
    assert_eq!(info.resize_shorter, 256);
    // 1,235,496 weights and biases, dequantized from int8.
    assert_eq!(info.parameters, 1_235_496);
    for tap in ["conv1", "pool1", "fire2/concat", "fire9/concat", "conv10", "logits", "prob"] {
        assert!(info.taps.iter().any(|t| t == tap), "missing tap {tap}");
    }
    assert!(std::fs::metadata(MODEL).unwrap().len() <= 1_500_000);
    let conv1 = &net.graph().constants;
    assert!(conv1.keys().any(|k| k.starts_with("conv1")), "conv1 weights present");
}

#[test]
fn logits_match_numpy_reference() {
    let (_, net) = load();
    let mut checked = 0;
    for s in samples() {
        let crop = image::open(format!("tests/fixtures/{}", s["crop"].as_str().unwrap())).unwrap().to_rgb8();
        let acts = net.forward(to_tensor(&crop, &device()), &["logits"]).unwrap();
        let got = pollster::block_on(read_f32(acts.get("logits").unwrap().tensor.clone())).unwrap();
        let want: Vec<f32> = s["int8_logits"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
        assert_eq!(got.len(), 1000);
        let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
        let worst = got.iter().zip(&want).map(|(g, w)| (g - w).abs()).fold(0f32, f32::max) / scale;
        assert!(worst <= 1e-3, "{}: max relative logit difference {worst}", s["file"]);
        checked += 1;
    }
    assert!(checked >= 3);
}

#[test]
fn int8_top1_equals_fp32_top1_on_every_sample_with_our_preprocessing() {
    let (info, net) = load();
    for s in samples() {
        let bytes = std::fs::read(format!("static/samples/{}", s["file"].as_str().unwrap())).unwrap();
        let crop = center_crop(&decode_rgb(&bytes).unwrap(), 256, 227);
        let probs = pollster::block_on(class_probabilities(&net, &crop)).unwrap();
        let top = top_k(&probs, 1, &info)[0].index;
        assert_eq!(top as u64, s["fp32_top1"].as_u64().unwrap(), "{}", s["file"]);
    }
}

#[test]
fn our_crop_matches_the_reference_crop() {
    for s in samples() {
        let bytes = std::fs::read(format!("static/samples/{}", s["file"].as_str().unwrap())).unwrap();
        let ours = center_crop(&decode_rgb(&bytes).unwrap(), 256, 227);
        let theirs = image::open(format!("tests/fixtures/{}", s["crop"].as_str().unwrap())).unwrap().to_rgb8();
        assert_eq!(ours.dimensions(), theirs.dimensions());
        let diff: f64 =
            ours.as_raw().iter().zip(theirs.as_raw()).map(|(a, b)| (*a as f64 - *b as f64).abs()).sum::<f64>()
                / ours.as_raw().len() as f64;
        assert!(diff < 3.0, "{}: mean absolute pixel difference {diff}", s["file"]);
    }
}

#[test]
fn coffee_is_espresso() {
    let (info, net) = load();
    let bytes = std::fs::read("static/samples/coffee.png").unwrap();
    let crop = center_crop(&decode_rgb(&bytes).unwrap(), 256, 227);
    let probs = pollster::block_on(class_probabilities(&net, &crop)).unwrap();
    let best = &top_k(&probs, 5, &info)[0];
    assert_eq!((best.index, best.label.as_str()), (967, "espresso"));
    assert!(best.prob > 0.5);
}
