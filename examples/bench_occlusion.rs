//! Occlusion sweep time on Burn's CPU backend (flex), every occluded image in full ("naive")
//! against incremental inference (only what each window reaches is recomputed), same
//! windows: `cargo run --release --example bench_occlusion [runs] [batch] [model.onnx] [margin,…]`,
//! median of `runs` (default 3), `batch` occluded images per pass (default 8), on the bundled
//! SqueezeNet (an empty third argument) or another model (windows scaled to its input size).
//! Each margin (default 0.3; `OcclusionParams::approximate`) adds an approximate incremental
//! sweep: its time and how far its map is from the exact one. `WINDOWS=32,64` runs only those
//! window sizes (of 16, 32, 48, 64); `NAIVE=0` skips the whole-image sweeps (their column
//! reads 0), for profiling or timing the incremental ones alone. The last line: a sweep's start
//! (`Measurer::new`, one forward pass keeping every activation) against `Measurer::reusing`
//! with the photo's activations kept, and how much they hold.

use std::time::Instant;

use convlens::image::{center_crop, decode_rgb, to_tensor};
use convlens::methods::occlusion::Measurer;
use convlens::methods::{Fill, Method, MethodError, OcclusionParams, Target};
use convlens::model::Model;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runs: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(3);
    let batch: usize = std::env::args().nth(2).and_then(|a| a.parse().ok()).unwrap_or(8);
    let device = convlens::Device::flex();
    let path = std::env::args().nth(3).filter(|a| !a.is_empty());
    let path = path.unwrap_or_else(|| "static/models/squeezenet1_1-int8.onnx".into());
    let margins: Vec<f32> =
        std::env::args().nth(4).unwrap_or_else(|| "0.3".into()).split(',').filter_map(|t| t.parse().ok()).collect();
    let (info, net) = Model::from_bytes(&std::fs::read(&path)?)?.bind(&device)?;
    let side = info.input_size;
    let crop = center_crop(
        &decode_rgb(&std::fs::read("static/samples/chelsea.png")?)?,
        info.resize_shorter as u32,
        side as u32,
    );
    let x = to_tensor(&crop, &device);
    print!("window stride positions   naive ms  incremental ms  speed-up");
    for margin in &margins {
        print!(" | margin {margin}: ms  speed-up  worst/max  corr");
    }
    println!();
    let only: Option<Vec<usize>> =
        std::env::var("WINDOWS").ok().map(|v| v.split(',').filter_map(|t| t.trim().parse().ok()).collect());
    let naive_too = std::env::var("NAIVE").map_or(true, |v| v != "0");
    for (window, stride) in [(16, 8), (32, 16), (48, 24), (64, 32)]
        .into_iter()
        .filter(|(w, _)| only.as_ref().is_none_or(|o| o.contains(w)))
        .map(|(w, s)| (w * side / 227, s * side / 227))
    {
        let time =
            |incremental: bool, approximate: Option<f32>| -> Result<(f64, Vec<f32>), Box<dyn std::error::Error>> {
                let p = OcclusionParams {
                    window: [window; 2],
                    strides: [stride; 2],
                    fill: Fill::Value(0.5),
                    batch,
                    incremental,
                    approximate,
                };
                let m = Method::Occlusion(p);
                let mut times = Vec::new();
                let mut map = Vec::new();
                for _ in 0..runs {
                    let t0 = Instant::now();
                    map = pollster::block_on(m.attribute(&net, &x, &Target::Class(285), &mut |_, _| true))?.values;
                    times.push(t0.elapsed().as_secs_f64() * 1000.0);
                }
                times.sort_by(f64::total_cmp);
                Ok((times[times.len() / 2], map))
            };
        let positions = convlens::methods::occlusion::starts(side, window, stride).len().pow(2);
        let naive = if naive_too { time(false, None)?.0 } else { 0.0 };
        let (fast, exact) = time(true, None)?;
        print!("{window:>6} {stride:>6} {positions:>9} {naive:>10.0} {fast:>15.0} {:>8.2}×", naive / fast);
        for margin in &margins {
            let (ms, map) = time(true, Some(*margin))?;
            let (worst, corr) = map_error(&exact, &map);
            print!(" | {ms:>9.0} {:>8.2}× {worst:>10.4} {corr:>6.4}", naive / ms);
        }
        println!();
    }
    // What a second sweep of the same photo saves (`Measurer::reusing`), and what keeping the
    // activations for it costs.
    let (p, cat) = (OcclusionParams::default(), Target::Class(285));
    let first = pollster::block_on(Measurer::new(&net, &x, &cat, &p))?;
    let kept = first.unmodified().cloned();
    let median = |start: &dyn Fn() -> Result<Measurer, MethodError>| -> Result<f64, MethodError> {
        let mut times = Vec::new();
        for _ in 0..runs.max(5) {
            let t0 = Instant::now();
            start()?;
            times.push(t0.elapsed().as_secs_f64() * 1000.0);
        }
        times.sort_by(f64::total_cmp);
        Ok(times[times.len() / 2])
    };
    let fresh = median(&|| pollster::block_on(Measurer::new(&net, &x, &cat, &p)))?;
    let reused = median(&|| pollster::block_on(Measurer::reusing(&net, &x, &cat, &p, kept.clone())))?;
    let mb = kept.map_or(0.0, |u| u.floats() as f64 * 4.0 / 1e6);
    println!("a sweep's start: {fresh:.2} ms, {reused:.2} ms with the photo's activations kept ({mb:.1} MB)");
    Ok(())
}

/// How far an approximate map is from the exact one: the largest difference over the exact
/// map's largest magnitude, and Pearson's correlation between the two.
fn map_error(exact: &[f32], approx: &[f32]) -> (f64, f64) {
    let scale = exact.iter().fold(0f64, |m, v| m.max(v.abs() as f64)).max(1e-12);
    let worst = exact.iter().zip(approx).fold(0f64, |m, (a, b)| m.max((a - b).abs() as f64));
    let n = exact.len() as f64;
    let mean = |v: &[f32]| v.iter().map(|x| *x as f64).sum::<f64>() / n;
    let (ma, mb) = (mean(exact), mean(approx));
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (a, b) in exact.iter().zip(approx) {
        let (da, db) = (*a as f64 - ma, *b as f64 - mb);
        sab += da * db;
        saa += da * da;
        sbb += db * db;
    }
    (worst / scale, sab / (saa * sbb).sqrt().max(1e-30))
}
