//! Network-anatomy timings natively: the bundled 2,000-image dataset through each bundled model
//! (batched; SqueezeNet sees the tiles resized to 227 px), the max-activating-patch search, the
//! codes pass, and t-SNE of 2,000 codes.
//!
//! ```sh
//! cargo run --release --example bench_anatomy                 # CPU (Burn flex)
//! cargo run --release --features wgpu --example bench_anatomy -- gpu   # burn-wgpu
//! ```

use std::time::Instant;

use convlens::anatomy::tsne::{Tsne, TsneParams, knn_accuracy, pca};
use convlens::anatomy::{Dataset, ScanWants, scan};
use convlens::model::Model;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let gpu = std::env::args().nth(1).as_deref() == Some("gpu");
    #[cfg(feature = "wgpu")]
    let device =
        if gpu { pollster::block_on(convlens::Device::wgpu_options().init_async())? } else { convlens::Device::flex() };
    #[cfg(not(feature = "wgpu"))]
    let device = {
        assert!(!gpu, "build with --features wgpu for the GPU");
        convlens::Device::flex()
    };
    let atlas = std::fs::read("static/datasets/fashion-mnist-test-2000.png")?;
    let meta = std::fs::read("static/datasets/fashion-mnist-test-2000.json")?;
    println!("device: {}", if gpu { "burn-wgpu" } else { "Burn flex (CPU)" });
    for (name, file, layer, batch) in [
        ("Fashion-MNIST CNN", "static/models/fashion-mnist-cnn-int8.onnx", "conv3_relu", 250),
        ("SqueezeNet 1.1", "static/models/squeezenet1_1-int8.onnx", "fire5/concat", 25),
    ] {
        let (info, net) = Model::from_bytes(&std::fs::read(file)?)?.bind(&device)?;
        let data = Dataset::from_atlas(&atlas, &meta, info.input_size)?;
        // Warm-up (kernel compilation on the GPU).
        let warm = ScanWants { layer: None, codes: true, batch };
        let small = Dataset { images: data.images[..batch].to_vec(), ..data.clone() };
        pollster::block_on(scan(&net, &small, &warm, &mut |_, _| true))?;

        let t0 = Instant::now();
        let found = pollster::block_on(scan(&net, &data, &warm, &mut |_, _| true))?;
        let codes_s = t0.elapsed().as_secs_f64();
        let t0 = Instant::now();
        let wants = ScanWants { layer: Some((layer.to_string(), 9)), codes: false, batch };
        pollster::block_on(scan(&net, &data, &wants, &mut |_, _| true))?;
        let patches_s = t0.elapsed().as_secs_f64();
        println!(
            "{name}: 2000 images (batch {batch}) to {} codes in {codes_s:.2} s ({:.2} ms/image); top-9 patches of {layer}: {patches_s:.2} s",
            found.code_layer,
            1000.0 * codes_s / 2000.0
        );

        let labels = data.labels.clone().unwrap_or_default();
        let t0 = Instant::now();
        let reduced = pca(&found.codes, data.len(), found.code_dims, 50)?;
        let pca_s = t0.elapsed().as_secs_f64();
        let t0 = Instant::now();
        let mut t = Tsne::new(&found.codes, data.len(), found.code_dims, TsneParams::default())?;
        let setup_s = t0.elapsed().as_secs_f64();
        while !t.is_done() {
            t.step(50);
        }
        let tsne_s = t0.elapsed().as_secs_f64();
        println!(
            "  PCA {}→50: {pca_s:.2} s; t-SNE 1000 iterations: {tsne_s:.2} s (setup {setup_s:.2} s), KL {:.3}; 5-NN accuracy: codes {:.3}, PCA-50 {:.3}, map {:.3}",
            found.code_dims,
            t.kl_divergence(),
            knn_accuracy(&found.codes, found.code_dims, &labels, 5),
            knn_accuracy(&reduced, reduced.len() / data.len(), &labels, 5),
            knn_accuracy(t.embedding(), 2, &labels, 5)
        );
    }
    Ok(())
}
