//! Native forward latency of a model on Burn's CPU backend (flex):
//! `cargo run --example bench_forward [runs] [model.onnx]`, median of `runs` (default 20) after
//! one warm-up; the model defaults to the bundled SqueezeNet. A third argument `grad` times a
//! forward and backward pass to the image instead (a saliency map's work).
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
    let grad = std::env::args().nth(3).is_some_and(|a| a == "grad");
    let pass = || {
        if grad {
            let x = convlens::image::to_tensor(&crop, net.device());
            let target = convlens::protocol::Target::Class(967);
            let rule = convlens::model::ReluRule::Standard;
            let (g, _) =
                convlens::methods::gradient::batch_gradient(&net, x, &target, rule).map_err(|e| e.to_string())?;
            pollster::block_on(convlens::classify::read_f32(g)).map(|_| ()).map_err(|e| e.to_string())
        } else {
            pollster::block_on(class_probabilities(&net, &crop)).map(|_| ()).map_err(|e| e.to_string())
        }
    };
    pass()?;
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            let _ = pass();
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    println!(
        "native {name} {} of {model}: median of {runs} = {:.2} ms (min {:.2}, max {:.1})",
        if grad { "forward+backward" } else { "forward" },
        times[runs / 2],
        times[0],
        times[runs - 1]
    );
    Ok(())
}
