//! Trains the bundled Fashion-MNIST CNN with Burn on the CPU and writes its float weights as
//! JSON; `tools/export_fashion_mnist.py` turns them into the shipped int8 ONNX file.
//!
//! ```sh
//! cargo run --release --example train_fashion_mnist -- [--epochs 10] [--seed 7] [--out target/fashion-mnist-weights.json]
//! ```
//!
//! Data: Debian's `dataset-fashion-mnist` (`/usr/share/datasets/fashion-mnist/*.gz`, IDX).
//! Architecture (input `[N, 1, 28, 28]`, grey in [0, 1], white garment on black):
//! conv1 3×3×32 → ReLU → max-pool 2 → conv2 3×3×64 → ReLU → max-pool 2 →
//! conv3 3×3×64 → ReLU → max-pool 2 (7 → 3) → flatten 576 → fc1 128 → ReLU → fc2 10.

use std::io::Read;
use std::time::Instant;

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d, Relu};
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

const DATA_DIR: &str = "/usr/share/datasets/fashion-mnist";
const SIDE: usize = 28;
const PIXELS: usize = SIDE * SIDE;

#[derive(Module, Debug)]
struct Net {
    conv1: Conv2d,
    conv2: Conv2d,
    conv3: Conv2d,
    pool: MaxPool2d,
    fc1: Linear,
    fc2: Linear,
    relu: Relu,
}

impl Net {
    fn new(device: &Device) -> Self {
        let conv = |i, o| Conv2dConfig::new([i, o], [3, 3]).with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1));
        Self {
            conv1: conv(1, 32).init(device),
            conv2: conv(32, 64).init(device),
            conv3: conv(64, 64).init(device),
            pool: MaxPool2dConfig::new([2, 2]).init(),
            fc1: LinearConfig::new(576, 128).init(device),
            fc2: LinearConfig::new(128, 10).init(device),
            relu: Relu::new(),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let x = self.pool.forward(self.relu.forward(self.conv1.forward(x))); // [N, 32, 14, 14]
        let x = self.pool.forward(self.relu.forward(self.conv2.forward(x))); // [N, 64, 7, 7]
        let x = self.pool.forward(self.relu.forward(self.conv3.forward(x))); // [N, 64, 3, 3]
        let x: Tensor<2> = x.flatten(1, 3); // [N, 576]
        let x = self.relu.forward(self.fc1.forward(x)); // [N, 128]
        self.fc2.forward(x) // [N, 10]
    }
}

fn read_gz(name: &str) -> Vec<u8> {
    let path = format!("{DATA_DIR}/{name}");
    let file = std::fs::File::open(&path)
        .unwrap_or_else(|e| panic!("{path}: {e} (install the Debian package dataset-fashion-mnist)"));
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(file).read_to_end(&mut bytes).unwrap_or_else(|e| panic!("{path}: {e}"));
    bytes
}

/// IDX images (magic 2051) and labels (magic 2049).
fn load(split: &str) -> (Vec<u8>, Vec<u8>) {
    let images = read_gz(&format!("{split}-images-idx3-ubyte.gz"));
    let labels = read_gz(&format!("{split}-labels-idx1-ubyte.gz"));
    assert_eq!(&images[..4], &[0, 0, 8, 3], "image file magic");
    assert_eq!(&labels[..4], &[0, 0, 8, 1], "label file magic");
    (images[16..].to_vec(), labels[8..].to_vec())
}

fn batch(images: &[u8], labels: &[u8], order: &[usize], flip: &[bool], device: &Device) -> (Tensor<4>, Tensor<1, Int>) {
    let mut x = Vec::with_capacity(order.len() * PIXELS);
    for (&i, &f) in order.iter().zip(flip) {
        let img = &images[i * PIXELS..(i + 1) * PIXELS];
        for row in 0..SIDE {
            for col in 0..SIDE {
                let c = if f { SIDE - 1 - col } else { col };
                x.push(img[row * SIDE + c] as f32 / 255.0);
            }
        }
    }
    let y: Vec<i64> = order.iter().map(|&i| labels[i] as i64).collect();
    (
        Tensor::from_data(TensorData::new(x, [order.len(), 1, SIDE, SIDE]), device),
        Tensor::from_data(TensorData::new(y, [order.len()]), device),
    )
}

fn accuracy(net: &Net, images: &[u8], labels: &[u8], device: &Device) -> f64 {
    let n = labels.len();
    let mut right = 0usize;
    for start in (0..n).step_by(500) {
        let order: Vec<usize> = (start..(start + 500).min(n)).collect();
        let (x, y) = batch(images, labels, &order, &vec![false; order.len()], device);
        let pred = net.forward(x).argmax(1).flatten::<1>(0, 1);
        right += pred.equal(y).int().sum().into_scalar::<i64>() as usize;
    }
    right as f64 / n as f64
}

fn tensor_json(t: TensorData) -> serde_json::Value {
    serde_json::json!({ "shape": t.shape().to_vec(), "values": t.try_to_vec::<f32>().unwrap_or_default() })
}

fn main() {
    let mut epochs = 10usize;
    let mut seed = 7u64;
    let mut out = "target/fashion-mnist-weights.json".to_string();
    let mut limit = usize::MAX;
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let v = it.next().cloned().unwrap_or_default();
        match a.as_str() {
            "--epochs" => epochs = v.parse().expect("--epochs N"),
            "--seed" => seed = v.parse().expect("--seed N"),
            "--out" => out = v,
            "--limit-batches" => limit = v.parse().expect("--limit-batches N"),
            other => panic!("unknown argument {other}"),
        }
    }

    let (train_x, train_y) = load("train");
    let (test_x, test_y) = load("t10k");
    println!("train {} images, test {} images", train_y.len(), test_y.len());

    let device = Device::flex().autodiff();
    burn::tensor::Tensor::<1>::zeros([1], &device); // touch the device before seeding
    device.seed(seed);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut net = Net::new(&device);
    let mut optim = AdamConfig::new().init();
    let loss_fn = CrossEntropyLossConfig::new().init(&device);
    let batch_size = 128;
    let steps_per_epoch = train_y.len().div_ceil(batch_size);
    let total_steps = epochs * steps_per_epoch;
    let started = Instant::now();
    let mut step = 0usize;
    for epoch in 0..epochs {
        let mut order: Vec<usize> = (0..train_y.len()).collect();
        order.shuffle(&mut rng);
        let flips: Vec<bool> = (0..order.len()).map(|_| rand::RngExt::random_bool(&mut rng, 0.5)).collect();
        let mut loss_sum = 0.0f64;
        let mut batches = 0usize;
        for (chunk, flip) in order.chunks(batch_size).zip(flips.chunks(batch_size)).take(limit) {
            // Cosine learning-rate schedule from 2e-3 to 5e-5.
            let t = step as f64 / total_steps.max(1) as f64;
            let lr = 5e-5 + 0.5 * (2e-3 - 5e-5) * (1.0 + (std::f64::consts::PI * t).cos());
            let (x, y) = batch(&train_x, &train_y, chunk, flip, &device);
            let loss = loss_fn.forward(net.forward(x), y);
            loss_sum += loss.clone().into_scalar::<f32>() as f64;
            let grads = GradientsParams::from_grads(loss.backward(), &net);
            net = optim.step(lr, net, grads);
            step += 1;
            batches += 1;
        }
        let acc = accuracy(&net.valid(), &test_x, &test_y, &device.clone().inner());
        println!(
            "epoch {} loss {:.4} test accuracy {:.2}% ({:.0} s)",
            epoch + 1,
            loss_sum / batches.max(1) as f64,
            100.0 * acc,
            started.elapsed().as_secs_f64()
        );
    }
    let valid = net.valid();
    let inner = device.clone().inner();
    let acc = accuracy(&valid, &test_x, &test_y, &inner);
    let mut weights = serde_json::Map::new();
    for (name, conv) in [("conv1", &valid.conv1), ("conv2", &valid.conv2), ("conv3", &valid.conv3)] {
        weights.insert(format!("{name}.weight"), tensor_json(conv.weight.val().into_data()));
        if let Some(b) = &conv.bias {
            weights.insert(format!("{name}.bias"), tensor_json(b.val().into_data()));
        }
    }
    for (name, fc) in [("fc1", &valid.fc1), ("fc2", &valid.fc2)] {
        // Burn's Linear stores [in, out]; ONNX Gemm with transB=0 takes the same layout.
        weights.insert(format!("{name}.weight"), tensor_json(fc.weight.val().into_data()));
        if let Some(b) = &fc.bias {
            weights.insert(format!("{name}.bias"), tensor_json(b.val().into_data()));
        }
    }
    let doc = serde_json::json!({
        "test_accuracy": acc,
        "epochs": epochs,
        "seed": seed,
        "seconds": started.elapsed().as_secs_f64(),
        "weights": weights,
    });
    if let Some(dir) = std::path::Path::new(&out).parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    std::fs::write(&out, serde_json::to_string(&doc).expect("json")).expect("write weights");
    println!("float test accuracy {:.2}%, {:.0} s; wrote {out}", 100.0 * acc, started.elapsed().as_secs_f64());
}
