//! The bundled EfficientNet-Lite0 (converted by tools/convert_efficientnet_lite0.py): its int8
//! file through our executor matches onnxruntime on the same input, and it names the sample
//! photos as a person would.

use convlens::model::Model;
use convlens::{Device, Tensor, TensorData};

const FILE: &[u8] = include_bytes!("../static/models/efficientnet_lite0-int8.onnx");

#[test]
fn matches_onnxruntime_and_knows_the_samples() {
    let (info, net) = Model::from_bytes(FILE).unwrap().bind(&Device::flex()).unwrap();
    assert_eq!((info.input_size, info.labels.len()), (224, 1000));
    assert_eq!(net.graph().preprocess, convlens::protocol::Preprocess::preset("efficientnet-lite").unwrap());
    // The same input as tools/make_model_zoo.py's test_input([1, 3, 224, 224], 0); onnxruntime
    // saw it after the preprocessing, which our network applies itself.
    let x: Vec<f32> = (0..3 * 224 * 224u64).map(|i| ((i * 7919) % 257) as f32 / 256.0).collect();
    let x = Tensor::<4>::from_data(TensorData::new(x, [1, 3, 224, 224]), net.device());
    let got = net.scores(x).unwrap().into_data().try_to_vec::<f32>().unwrap();
    let reference: serde_json::Value =
        serde_json::from_slice(&std::fs::read("tests/fixtures/efficientnet_lite0_reference.json").unwrap()).unwrap();
    let want: Vec<f32> = reference["logits"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
    let worst = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max) / scale;
    assert!(worst < 1e-4, "relative difference {worst:.2e}");
    // Samples: espresso, a cat, a missile.
    for (file, classes) in [("coffee.png", &[967][..]), ("chelsea.png", &[281, 282, 285]), ("rocket.jpg", &[657, 744])]
    {
        let img = convlens::image::decode_rgb(&std::fs::read(format!("static/samples/{file}")).unwrap()).unwrap();
        let crop = convlens::image::center_crop(&img, info.resize_shorter as u32, info.input_size as u32);
        let probs = pollster::block_on(convlens::classify::class_probabilities(&net, &crop)).unwrap();
        let top = convlens::classify::top_k(&probs, 1, &info)[0].index;
        assert!(classes.contains(&top), "{file}: {top} ({})", info.label(top));
    }
}
