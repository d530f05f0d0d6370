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
    assert!(models.len() >= 11);
    let mut opsets = std::collections::BTreeSet::new();
    for (name, want) in models {
        let bytes = std::fs::read(format!("{ZOO}/{name}.onnx")).unwrap();
        let model = Model::from_bytes(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let output = model.graph.outputs[0].clone();
        let (_, net) = model.bind(&Device::flex()).unwrap_or_else(|e| panic!("{name}: {e}"));
        let shape: Vec<usize> =
            want["input_shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect();
        opsets.insert(want["opset"].as_u64().unwrap());
        for (k, expected) in want["outputs"].as_array().unwrap().iter().enumerate() {
            let expected: Vec<f32> = expected.as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
            let x = Tensor::<4>::from_data(
                TensorData::new(test_input(&shape, k as u64), [shape[0], shape[1], shape[2], shape[3]]),
                net.device(),
            );
            let acts = net.forward(x, &[]).unwrap_or_else(|e| panic!("{name}: {e}"));
            let got = acts.get(&output).unwrap().tensor.clone().into_data().try_to_vec::<f32>().unwrap();
            assert_eq!(got.len(), expected.len(), "{name}");
            let scale = expected.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
            let worst = got.iter().zip(&expected).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max) / scale;
            println!("{name} (opset {}) input {k}: max relative difference {worst:.2e}", want["opset"]);
            assert!(
                worst <= 1e-4,
                "{name} input {k}: relative difference {worst:.2e}\n got {got:?}\nwant {expected:?}"
            );
        }
    }
    assert!(opsets.first() <= Some(&11) && opsets.last() >= Some(&21), "opsets 11 to 21: {opsets:?}");
}
