//! Native forward latency of the bundled SqueezeNet on Burn's CPU backend (flex):
//! `cargo run --example bench_forward [runs]`, median of `runs` (default 20) after one warm-up.
//! With `--features cpu-ndarray` it also times Burn's ndarray backend.

use std::time::Instant;

use convlens::classify::class_probabilities;
use convlens::image::{center_crop, decode_rgb};
use convlens::model::Model;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runs: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(20);
    #[allow(unused_mut)]
    let mut devices = vec![("flex", convlens::Device::flex())];
    #[cfg(feature = "cpu-ndarray")]
    #[allow(deprecated)]
    devices.push(("ndarray", convlens::Device::ndarray()));
    for (name, device) in devices {
        bench(name, device, runs)?;
    }
    Ok(())
}

fn bench(name: &str, device: convlens::Device, runs: usize) -> Result<(), Box<dyn std::error::Error>> {
    let bytes = std::fs::read("static/models/squeezenet1_1-int8.onnx")?;
    let (_, net) = Model::from_bytes(&bytes)?.bind(&device)?;
    let crop = center_crop(&decode_rgb(&std::fs::read("static/samples/coffee.png")?)?, 256, 227);
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
        "native {name} forward: median of {runs} = {:.1} ms (min {:.1}, max {:.1})",
        times[runs / 2],
        times[0],
        times[runs - 1]
    );
    Ok(())
}
