//! Native forward latency of the bundled SqueezeNet on Burn's CPU backend (flex):
//! `cargo run --example bench_forward [runs]`, median of `runs` (default 20) after one warm-up.

use std::time::Instant;

use convlens::classify::class_probabilities;
use convlens::image::{center_crop, decode_rgb};
use convlens::model::Model;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runs: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(20);
    let bytes = std::fs::read("static/models/squeezenet1_1-int8.onnx")?;
    let (_, net) = Model::from_bytes(&bytes)?.bind(&convlens::Device::flex())?;
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
        "native flex forward: median of {runs} = {:.1} ms (min {:.1}, max {:.1})",
        times[runs / 2],
        times[0],
        times[runs - 1]
    );
    Ok(())
}
