//! Native forward latency of a model on Burn's CPU backend (flex):
//! `cargo run --example bench_forward [runs] [model.onnx]`, median of `runs` (default 20) after
//! one warm-up; the model defaults to the bundled SqueezeNet.
//! With `--features cpu-ndarray` it also times Burn's ndarray backend.

use std::time::Instant;

use convlens::classify::class_probabilities;
use convlens::image::{center_crop, decode_rgb};
use convlens::model::Model;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runs: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(20);
    let model = std::env::args().nth(2).unwrap_or_else(|| "static/models/squeezenet1_1-int8.onnx".into());
    #[allow(unused_mut)]
    let mut devices = vec![("flex", convlens::Device::flex())];
    #[cfg(feature = "cpu-ndarray")]
    #[allow(deprecated)]
    devices.push(("ndarray", convlens::Device::ndarray()));
    for (name, device) in devices {
        bench(name, device, runs, &model)?;
    }
    Ok(())
}

fn bench(name: &str, device: convlens::Device, runs: usize, model: &str) -> Result<(), Box<dyn std::error::Error>> {
    let bytes = std::fs::read(model)?;
    let (info, net) = Model::from_bytes(&bytes)?.bind(&device)?;
    let side = info.input_size as u32;
    let crop =
        center_crop(&decode_rgb(&std::fs::read("static/samples/coffee.png")?)?, info.resize_shorter as u32, side);
    pollster::block_on(class_probabilities(&net, &crop))?;
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            let _ = pollster::block_on(class_probabilities(&net, &crop));
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    println!(
        "native {name} forward of {model}: median of {runs} = {:.1} ms (min {:.1}, max {:.1})",
        times[runs / 2],
        times[0],
        times[runs - 1]
    );
    Ok(())
}
