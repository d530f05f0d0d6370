//! The WebGPU path natively (burn-wgpu on Vulkan/Metal/DX12), for machines with a real GPU:
//! forward latency, gradient maps and an occlusion sweep (naive and incremental), each checked
//! against Burn's CPU backend. `cargo run --release --features wgpu --example bench_gpu`.

use std::time::Instant;

use convlens::classify::read_f32;
use convlens::image::{center_crop, decode_rgb, to_tensor};
use convlens::methods::{Fill, Method, MethodParams, OcclusionParams, Target};
use convlens::model::Model;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let gpu = pollster::block_on(convlens::Device::wgpu_options().init_async())?;
    let cpu = convlens::Device::flex();
    let bytes = std::fs::read("static/models/squeezenet1_1-int8.onnx")?;
    let crop = center_crop(&decode_rgb(&std::fs::read("static/samples/chelsea.png")?)?, 256, 227);
    let (_, g) = Model::from_bytes(&bytes)?.bind(&gpu)?;
    let (_, c) = Model::from_bytes(&bytes)?.bind(&cpu)?;
    let (xg, xc) = (to_tensor(&crop, &gpu), to_tensor(&crop, &cpu));

    // Forward: batch 1, median of 20 after a warm-up, each read back to the host.
    let scores = |x: &convlens::Tensor<4>, net: &convlens::model::Network| {
        pollster::block_on(read_f32(net.scores(x.clone()).unwrap()))
    };
    let want = scores(&xc, &c)?;
    let got = scores(&xg, &g)?;
    let diff = |a: &[f32], b: &[f32]| {
        let scale = b.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-12);
        a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max) / scale
    };
    println!("logits GPU vs CPU: max difference {:.2e} of the largest", diff(&got, &want));
    let times: Vec<f64> = (0..20)
        .map(|_| {
            let t0 = Instant::now();
            scores(&xg, &g).unwrap();
            t0.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    println!("forward (batch 1, read back): median {:.2} ms", median(times));

    let target = Target::Class(285);
    for name in ["saliency", "guided-backprop", "deconvnet", "grad-cam", "integrated-gradients", "smoothgrad"] {
        let m = Method::from_name(name, &MethodParams::default())?;
        let run = |x: &convlens::Tensor<4>, net: &convlens::model::Network| {
            pollster::block_on(m.attribute(net, x, &target, &mut |_, _| true)).unwrap()
        };
        let reference = run(&xc, &c);
        let mut times = Vec::new();
        let mut last = None;
        for _ in 0..5 {
            let t0 = Instant::now();
            last = Some(run(&xg, &g));
            times.push(t0.elapsed().as_secs_f64() * 1000.0);
        }
        let a = last.unwrap();
        println!("{name}: median {:.1} ms, GPU vs CPU {:.2e}", median(times), diff(&a.values, &reference.values));
    }
    for incremental in [false, true] {
        let p = OcclusionParams {
            window: [32; 2],
            strides: [16; 2],
            fill: Fill::Value(0.5),
            batch: 32,
            incremental,
            approximate: None,
        };
        let m = Method::Occlusion(p);
        pollster::block_on(m.attribute(&g, &xg, &target, &mut |_, _| true))?;
        let t0 = Instant::now();
        let a = pollster::block_on(m.attribute(&g, &xg, &target, &mut |_, _| true))?;
        let ms = t0.elapsed().as_secs_f64() * 1000.0;
        let r = pollster::block_on(m.attribute(&c, &xc, &target, &mut |_, _| true))?;
        println!(
            "occlusion 32/16 (196 windows, batch 32) incremental={incremental}: {ms:.0} ms, GPU vs CPU {:.2e}",
            diff(&a.values, &r.values)
        );
    }
    Ok(())
}
