//! Occlusion sweep time on Burn's CPU backend (flex), every occluded image in full ("naive")
//! against incremental inference (only what each window reaches is recomputed), same
//! windows: `cargo run --release --example bench_occlusion [runs] [batch] [model.onnx]`, median
//! of `runs` (default 3), `batch` occluded images per pass (default 8), on the bundled SqueezeNet
//! or another model (windows scaled to its input size).

use std::time::Instant;

use convlens::image::{center_crop, decode_rgb, to_tensor};
use convlens::methods::{Fill, Method, OcclusionParams, Target};
use convlens::model::Model;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runs: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(3);
    let batch: usize = std::env::args().nth(2).and_then(|a| a.parse().ok()).unwrap_or(8);
    let device = convlens::Device::flex();
    let path = std::env::args().nth(3).unwrap_or_else(|| "static/models/squeezenet1_1-int8.onnx".into());
    let (info, net) = Model::from_bytes(&std::fs::read(&path)?)?.bind(&device)?;
    let side = info.input_size;
    let crop = center_crop(
        &decode_rgb(&std::fs::read("static/samples/chelsea.png")?)?,
        info.resize_shorter as u32,
        side as u32,
    );
    let x = to_tensor(&crop, &device);
    println!("window stride positions   naive ms  incremental ms  speed-up");
    for (window, stride) in [(16, 8), (32, 16), (48, 24), (64, 32)].map(|(w, s)| (w * side / 227, s * side / 227)) {
        let time = |incremental: bool| -> Result<f64, Box<dyn std::error::Error>> {
            let p = OcclusionParams {
                window: [window; 2],
                strides: [stride; 2],
                fill: Fill::Value(0.5),
                batch,
                incremental,
            };
            let m = Method::Occlusion(p);
            let mut times = Vec::new();
            for _ in 0..runs {
                let t0 = Instant::now();
                pollster::block_on(m.attribute(&net, &x, &Target::Class(285), &mut |_, _| true))?;
                times.push(t0.elapsed().as_secs_f64() * 1000.0);
            }
            times.sort_by(f64::total_cmp);
            Ok(times[times.len() / 2])
        };
        let positions = convlens::methods::occlusion::starts(side, window, stride).len().pow(2);
        let (naive, fast) = (time(false)?, time(true)?);
        println!("{window:>6} {stride:>6} {positions:>9} {naive:>10.0} {fast:>15.0} {:>8.2}×", naive / fast);
    }
    Ok(())
}
