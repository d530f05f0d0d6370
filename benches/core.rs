//! The core's hot paths on the CPU backend (Burn flex), so regressions show:
//! `cargo bench --bench core` (criterion; `-- --quick` for a fast pass). Browser and peer
//! numbers live in `tests/browser/bench.mjs` and BENCHMARKS.md.

use convlens::image::{center_crop, decode_rgb, to_tensor};
use convlens::methods::{Method, MethodParams, Target};
use convlens::model::{Model, Network};
use convlens::render::{Palette, Scale, heatmap};
use convlens::{Device, Tensor};
use criterion::{Criterion, criterion_group, criterion_main};

fn squeezenet() -> (Network, Tensor<4>) {
    let bytes = std::fs::read("static/models/squeezenet1_1-int8.onnx").unwrap();
    let (_, net) = Model::from_bytes(&bytes).unwrap().bind(&Device::flex()).unwrap();
    let crop = center_crop(&decode_rgb(&std::fs::read("static/samples/coffee.png").unwrap()).unwrap(), 256, 227);
    let x = to_tensor(&crop, net.device());
    (net, x)
}

fn loading(c: &mut Criterion) {
    let mut g = c.benchmark_group("load");
    g.sample_size(10);
    for file in ["static/models/squeezenet1_1-int8.onnx", "static/models/efficientnet_lite0-int8.onnx"] {
        let bytes = std::fs::read(file).unwrap();
        g.bench_function(file.rsplit('/').next().unwrap(), |b| {
            b.iter(|| Model::from_bytes(&bytes).unwrap().bind(&Device::flex()).unwrap())
        });
    }
    g.finish();
}

fn forward(c: &mut Criterion) {
    let (net, x) = squeezenet();
    let mut g = c.benchmark_group("squeezenet");
    g.sample_size(20);
    g.bench_function("forward", |b| b.iter(|| net.scores(x.clone()).unwrap().into_data().try_to_vec::<f32>().unwrap()));
    let p = MethodParams { window: 64, stride: 32, incremental: Some(true), ..MethodParams::default() };
    for name in ["saliency", "guided-backprop", "grad-cam", "occlusion"] {
        let m = Method::from_name(name, &p).unwrap();
        g.bench_function(name, |b| {
            b.iter(|| pollster::block_on(m.attribute(&net, &x, &Target::Class(967), &mut |_, _| true)).unwrap())
        });
    }
    g.finish();
}

fn rendering(c: &mut Criterion) {
    let values: Vec<f32> = (0..227 * 227).map(|i| ((i * 7919) % 1000) as f32 / 999.0 - 0.3).collect();
    c.bench_function("heatmap 227×227", |b| b.iter(|| heatmap(&values, 227, 227, Scale::Signed, Palette::Turbo, 227)));
}

criterion_group!(benches, loading, forward, rendering);
criterion_main!(benches);
