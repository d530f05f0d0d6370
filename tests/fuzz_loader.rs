//! A seeded mutation fuzzer over the model loader: bytes of real model files flipped, cut,
//! duplicated and spliced must give a typed error or a model, never a panic. Run longer with
//! `FUZZ_CASES=200000 cargo test --release --test fuzz_loader -- --nocapture`, and on other cases
//! than the suite's with `FUZZ_SEED=N` (BENCHMARKS.md, "Fuzzing", records the runs).

use convlens::model::Model;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// The generator for a test: its own fixed seed, moved by `FUZZ_SEED` when that is set.
fn rng(own: u64) -> StdRng {
    let moved = std::env::var("FUZZ_SEED").ok().and_then(|v| v.parse::<u64>().ok());
    StdRng::seed_from_u64(moved.map_or(own, |m| own ^ m.wrapping_mul(0x9E37_79B9_7F4A_7C15)))
}

fn mutate(rng: &mut StdRng, seed: &[u8]) -> Vec<u8> {
    let mut b = seed.to_vec();
    for _ in 0..rng.random_range(1..=4) {
        let n = b.len().max(1);
        match rng.random_range(0..6) {
            0 => {
                let i = rng.random_range(0..n);
                if let Some(x) = b.get_mut(i) {
                    *x ^= 1 << rng.random_range(0..8);
                }
            }
            1 => {
                let i = rng.random_range(0..n);
                if let Some(x) = b.get_mut(i) {
                    *x = [0, 1, 0x7f, 0x80, 0xff][rng.random_range(0..5)];
                }
            }
            2 => b.truncate(rng.random_range(0..n)),
            3 => {
                let (i, j) = (rng.random_range(0..n), rng.random_range(0..n));
                let (lo, hi) = (i.min(j), i.max(j).min(i.min(j) + 64));
                let chunk = b[lo.min(b.len())..hi.min(b.len())].to_vec();
                let at = rng.random_range(0..=b.len());
                b.splice(at..at, chunk);
            }
            4 => {
                let i = rng.random_range(0..n);
                let len = rng.random_range(1..=8).min(b.len().saturating_sub(i));
                b.drain(i..i + len);
            }
            _ => {
                // A varint field value made huge (absurd dims, lengths, counts).
                let i = rng.random_range(0..n);
                let huge = [0xff, 0xff, 0xff, 0xff, 0x0f];
                let end = (i + 5).min(b.len());
                b.splice(i..end, huge);
            }
        }
    }
    b
}

#[test]
fn mutated_model_files_never_panic_the_loader() {
    let seeds: Vec<Vec<u8>> = ["lenet", "squeezenet1_1", "mobilenetv3", "resnet18_int8_qdq"]
        .iter()
        .map(|n| std::fs::read(format!("tests/fixtures/zoo/{n}.onnx")).unwrap())
        .collect();
    let cases: usize = std::env::var("FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(4000);
    let mut rng = rng(11);
    let (mut loaded, mut refused) = (0usize, 0usize);
    for case in 0..cases {
        let seed = &seeds[case % seeds.len()];
        let bytes = mutate(&mut rng, seed);
        let result = std::panic::catch_unwind(|| {
            Model::from_bytes(&bytes).and_then(|m| m.bind(&convlens::Device::flex())).map(|_| ())
        });
        match result {
            Ok(Ok(())) => loaded += 1,
            Ok(Err(_)) => refused += 1,
            Err(_) => {
                std::fs::write("target/fuzz-crash.onnx", &bytes).ok();
                panic!("case {case} panicked the loader (saved to target/fuzz-crash.onnx)");
            }
        }
    }
    println!("{cases} mutated files: {loaded} loaded, {refused} refused with an error, 0 panics");
    assert_eq!(loaded + refused, cases);
    assert!(refused > cases / 10, "the mutations reach the checks ({refused} refused)");
}

/// Hostile attribute values in real graphs (huge or zero pads, kernels, strides, dilations,
/// groups, axes, perms) and a forward pass on the model's own input: an error or an output, never
/// a panic and never an unbounded allocation. `FUZZ_CASES` scales this one too.
#[test]
fn hostile_attributes_never_panic_the_forward_pass() {
    use convlens::{Device, Tensor};
    use onnx_ir::{Message, ModelProto};
    let names = ["lenet", "squeezenet1_1", "mobilenetv3", "efficientnet_lite", "resnet18_int8_qoperator", "keras_nhwc"];
    let seeds: Vec<ModelProto> = names
        .iter()
        .map(|n| ModelProto::parse_from_bytes(&std::fs::read(format!("tests/fixtures/zoo/{n}.onnx")).unwrap()).unwrap())
        .collect();
    let values: [i64; 12] = [0, 1, 2, 3, -1, -7, 31, 64, 4097, 1 << 20, 1 << 40, i64::MAX];
    let cases: usize = std::env::var("FUZZ_CASES").ok().and_then(|v| v.parse::<usize>().ok()).map_or(600, |c| c / 8);
    let mut rng = rng(5);
    let (mut ran, mut refused) = (0usize, 0usize);
    let device = Device::flex();
    for case in 0..cases {
        let mut m = seeds[case % seeds.len()].clone();
        let g = m.graph.as_mut().unwrap();
        for _ in 0..rng.random_range(1..=2) {
            let k = rng.random_range(0..g.node.len());
            let node = &mut g.node[k];
            if node.attribute.is_empty() {
                continue;
            }
            let a = rng.random_range(0..node.attribute.len());
            let attr = &mut node.attribute[a];
            let v = values[rng.random_range(0..values.len())];
            if attr.ints.is_empty() {
                attr.i = v;
                attr.f = v as f32;
            } else {
                let j = rng.random_range(0..attr.ints.len());
                attr.ints[j] = v;
                if rng.random_range(0..3) == 0 {
                    attr.ints.push(v);
                }
            }
        }
        let bytes = m.write_to_bytes().unwrap();
        let outcome = std::panic::catch_unwind(|| {
            let model = Model::from_bytes(&bytes)?;
            let side = model.info.input_size;
            let (_, net) = model.bind(&device)?;
            net.forward(Tensor::<4>::full([1, 3, side, side], 0.5, &device), &[]).map(|_| ())
        });
        match outcome {
            Ok(Ok(())) => ran += 1,
            Ok(Err(_)) => refused += 1,
            Err(_) => panic!("case {case} ({}) panicked", names[case % names.len()]),
        }
    }
    println!("hostile attributes: {cases} cases, {ran} ran, {refused} refused with an error");
    assert!(ran > 0 && refused > 0);
}

/// The image loader under the same mutations: PNG, JPEG, GIF and BMP bytes flipped, cut,
/// spliced and given huge fields decode or give a typed error, never a panic, within the
/// decoder's memory limit. `FUZZ_CASES` scales this one too.
#[test]
fn mutated_images_never_panic_the_decoder() {
    use convlens::image::decode_rgb;
    let mut seeds: Vec<Vec<u8>> = [
        "static/samples/fashion/bag.png",
        "tests/fixtures/exif-rotate-90.jpg",
        "tests/fixtures/cmyk.jpg",
        "tests/fixtures/animated.gif",
        "tests/fixtures/grey16.png",
    ]
    .iter()
    .map(|p| std::fs::read(p).unwrap())
    .collect();
    let img = image::RgbImage::from_fn(9, 7, |x, y| image::Rgb([(x * 20) as u8, (y * 30) as u8, 99]));
    let mut bmp = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut bmp), image::ImageFormat::Bmp).unwrap();
    seeds.push(bmp);
    let cases: usize = std::env::var("FUZZ_CASES").ok().and_then(|v| v.parse::<usize>().ok()).map_or(2000, |c| c / 4);
    let mut rng = rng(23);
    let (mut decoded, mut refused) = (0usize, 0usize);
    for case in 0..cases {
        let bytes = mutate(&mut rng, &seeds[case % seeds.len()]);
        match std::panic::catch_unwind(|| decode_rgb(&bytes)) {
            Ok(Ok(_)) => decoded += 1,
            Ok(Err(_)) => refused += 1,
            Err(_) => panic!("case {case}: the decoder panicked on {} bytes", bytes.len()),
        }
    }
    println!("{cases} mutated images: {decoded} decoded, {refused} refused with an error, 0 panics");
    assert!(decoded > 0 && refused > 0);
}
