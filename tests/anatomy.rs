//! Network anatomy: receptive fields by hand for both bundled models, filter normalization,
//! activation grids, the top-k patch search against brute force, codes and neighbours, the
//! bundled dataset, and the Fashion-MNIST model's accuracy on the whole test set.

use std::io::Read;

use convlens::anatomy::activations::{Scaling, activation_grid};
use convlens::anatomy::filters::{FilterBank, GridLook, filter_grid, normalized};
use convlens::anatomy::patches::{OUTSIDE, crop};
use convlens::anatomy::*;
use convlens::model::{Model, Network};
use convlens::render::Palette;
use convlens::{Device, Tensor, TensorData};
use image::{Rgb, RgbImage};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

const SQUEEZENET: &[u8] = include_bytes!("../static/models/squeezenet1_1-int8.onnx");
const FASHION: &[u8] = include_bytes!("../static/models/fashion-mnist-cnn-int8.onnx");
const ATLAS: &[u8] = include_bytes!("../static/datasets/fashion-mnist-test-2000.png");
const ATLAS_JSON: &[u8] = include_bytes!("../static/datasets/fashion-mnist-test-2000.json");

fn net(bytes: &[u8]) -> (convlens::model::ModelInfo, Network) {
    Model::from_bytes(bytes).unwrap().bind(&Device::flex()).unwrap()
}

/// (size, jump, offset, grid) along one axis.
fn check(fields: &std::collections::HashMap<String, Field>, layer: &str, want: (usize, usize, i64, usize)) {
    let f = fields.get(layer).unwrap_or_else(|| panic!("no field for {layer}"));
    assert!(!f.global, "{layer}");
    assert_eq!((f.size[0], f.jump[0], f.offset[0], f.grid[0]), want, "{layer} height");
    assert_eq!((f.size[1], f.jump[1], f.offset[1], f.grid[1]), want, "{layer} width");
}

#[test]
fn squeezenet_receptive_fields_by_hand() {
    let model = Model::from_bytes(SQUEEZENET).unwrap();
    let f = receptive_fields(&model.graph, 227).unwrap();
    // conv1 3×3/2; pools 3×3/2 (ceil); each fire's expand3x3 adds 2 jumps, padded by one.
    check(&f, "conv1", (3, 2, 0, 113));
    check(&f, "pool1", (7, 4, 0, 56));
    check(&f, "fire2/expand1x1", (7, 4, 0, 56));
    check(&f, "fire2/expand3x3", (15, 4, -4, 56));
    check(&f, "fire2/concat", (15, 4, -4, 56));
    check(&f, "fire3/concat", (23, 4, -8, 56));
    check(&f, "pool3", (31, 8, -8, 28));
    check(&f, "fire5/concat", (63, 8, -24, 28));
    check(&f, "pool5", (79, 16, -24, 14));
    check(&f, "fire9/concat", (207, 16, -88, 14));
    check(&f, "conv10", (207, 16, -88, 14));
    assert!(f["pool10"].global && f["logits"].global);
    // A unit's window and the part of it inside the image.
    let w = f["fire2/concat"].window(0, 0);
    assert_eq!((w.top, w.left, w.height, w.width), (-4, -4, 15, 15));
    assert_eq!(w.clipped(227, 227), (0, 0, 11, 11));
}

#[test]
fn fashion_receptive_fields_by_hand() {
    let model = Model::from_bytes(FASHION).unwrap();
    let f = receptive_fields(&model.graph, 28).unwrap();
    // 3×3 convs padded by one, 2×2/2 pools.
    check(&f, "conv1", (3, 1, -1, 28));
    check(&f, "pool1", (4, 2, -1, 14));
    check(&f, "conv2", (8, 2, -3, 14));
    check(&f, "pool2", (10, 4, -3, 7));
    check(&f, "conv3", (18, 4, -7, 7));
    check(&f, "pool3", (22, 8, -7, 3));
    assert!(f["fc1"].global && f["logits"].global);
}

#[test]
fn filter_normalization_is_exact_per_filter() {
    // Two 1-input 2×2 filters: [-1, 0, 1, 3] and a constant one.
    let bank =
        FilterBank { layer: "c".into(), dims: [2, 1, 2, 2], weights: vec![-1.0, 0.0, 1.0, 3.0, 2.0, 2.0, 2.0, 2.0] };
    assert_eq!(normalized(&bank), vec![0.0, 0.25, 0.5, 1.0, 0.5, 0.5, 0.5, 0.5]);
    let (img, cols, rows) = filter_grid(&bank, true, GridLook { zoom: 1, ..GridLook::default() });
    assert_eq!((cols, rows), (2, 1));
    // Gap 2, then filter 0's pixels: 0, 64, 128, 255.
    assert_eq!(img.get_pixel(2, 2), &Rgb([0, 0, 0]));
    assert_eq!(img.get_pixel(3, 2), &Rgb([64, 64, 64]));
    assert_eq!(img.get_pixel(3, 3), &Rgb([255, 255, 255]));
    assert_eq!(img.get_pixel(6, 2), &Rgb([128, 128, 128]));
}

#[test]
fn squeezenet_conv1_filters_are_rgb_and_deeper_ones_grey_rows() {
    let model = Model::from_bytes(SQUEEZENET).unwrap();
    let layers = conv_layers(&model.graph);
    assert_eq!(layers.first().map(String::as_str), Some("conv1"));
    assert_eq!(layers.len(), 26);
    let conv1 = filter_bank(&model.graph, "conv1").unwrap();
    assert_eq!(conv1.dims, [64, 3, 3, 3]);
    assert!(conv1.on_pixels(&model.graph));
    let (img, cols, rows) = filter_grid(&conv1, true, GridLook::default());
    assert_eq!((cols, rows), (8, 8));
    assert!(img.pixels().any(|p| p[0] != p[1] || p[1] != p[2]), "conv1 tiles are in colour");
    let deep = filter_bank(&model.graph, "fire2/expand3x3").unwrap();
    assert!(!deep.on_pixels(&model.graph));
    let (img, cols, rows) = filter_grid(&deep, false, GridLook { zoom: 2, max_filters: 4, max_inputs: 16 });
    assert_eq!((cols, rows), (16, 4));
    let background = *img.get_pixel(0, 0);
    assert!(img.pixels().all(|p| *p == background || (p[0] == p[1] && p[1] == p[2])), "deeper tiles are grey");
    assert!(matches!(filter_bank(&model.graph, "pool1"), Err(AnatomyError::NotConvolution(_))));
}

#[test]
fn activation_grid_scales_and_hit_tests() {
    // Two 2×2 channels: [0, 1, 2, 3] and [0, 0, 0, 6].
    let v = [0.0, 1.0, 2.0, 3.0, 0.0, 0.0, 0.0, 6.0];
    let (img, layout) = activation_grid(&v, 2, [2, 2], Scaling::PerTile, Palette::Viridis, 3);
    assert_eq!(layout.ranges, vec![(0.0, 3.0), (0.0, 6.0)]);
    assert_eq!(layout.maxima, vec![3.0, 6.0]);
    assert_eq!((layout.columns, layout.rows), (2, 1));
    // Per tile: both maxima get the top colour.
    let top = Rgb(Palette::Viridis.rgb(1.0));
    assert_eq!(img.get_pixel(2 + 3 + 2, 2 + 3 + 2), &top);
    assert_eq!(img.get_pixel(2 + 6 + 2 + 3 + 2, 2 + 3), &top);
    let (shared, layout) = activation_grid(&v, 2, [2, 2], Scaling::Shared, Palette::Viridis, 3);
    assert_eq!(layout.ranges, vec![(0.0, 6.0), (0.0, 6.0)]);
    assert_ne!(shared.get_pixel(2 + 3 + 2, 2 + 3 + 2), &top, "3 of 6 is not the top colour");
    // Hits: tile 1's bottom-right cell; the gap hits nothing.
    assert_eq!(layout.hit(2 + 6 + 2 + 3 + 1, 2 + 3 + 1), Some((1, 1, 1)));
    assert_eq!(layout.hit(2 + 6, 3), None);
    assert_eq!(layout.hit(0, 0), None);
}

#[test]
fn top_k_keeps_the_true_best_one_hit_per_image() {
    let mut rng = StdRng::seed_from_u64(3);
    let (n, c, h, w, k) = (40, 5, 3, 4, 6);
    let values: Vec<f32> = (0..n * c * h * w).map(|_| rng.random::<f32>() * 10.0 - 5.0).collect();
    let mut topk = TopK::new(c, k);
    for start in (0..n).step_by(7) {
        let m = 7.min(n - start);
        topk.add_batch(&values[start * c * h * w..(start + m) * c * h * w], m, [h, w], start);
    }
    for ch in 0..c {
        let mut best: Vec<(f32, usize, usize)> = (0..n)
            .map(|i| {
                let tile = &values[(i * c + ch) * h * w..(i * c + ch + 1) * h * w];
                let (p, v) = tile.iter().enumerate().fold((0, f32::MIN), |b, (p, &v)| if v > b.1 { (p, v) } else { b });
                (v, i, p)
            })
            .collect();
        best.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let got: Vec<(f32, usize, usize)> =
            topk.channel(ch).iter().map(|h| (h.value, h.image, h.y * w + h.x)).collect();
        assert_eq!(got, best[..k].to_vec(), "channel {ch}");
    }
    let most = topk.most_active(2);
    assert!(topk.channel(most[0])[0].value >= topk.channel(most[1])[0].value);
}

#[test]
fn scan_finds_the_true_top_k_through_the_network() {
    let (info, net) = net(FASHION);
    let mut rng = StdRng::seed_from_u64(5);
    let images: Vec<RgbImage> = (0..24)
        .map(|_| {
            let g: Vec<u8> = (0..28 * 28).map(|_| rng.random::<u8>()).collect();
            RgbImage::from_fn(28, 28, |x, y| Rgb([g[(y * 28 + x) as usize]; 3]))
        })
        .collect();
    let data = Dataset { name: "noise".into(), images, labels: None, classes: vec![], sources: vec![] };
    let wants = ScanWants { layer: Some(("conv2_relu".into(), 4)), codes: true, batch: 5 };
    let mut ticks = Vec::new();
    let found = pollster::block_on(scan(&net, &data, &wants, &mut |d, t| {
        ticks.push((d, t));
        true
    }))
    .unwrap();
    assert_eq!(ticks.first(), Some(&(0, 24)));
    assert_eq!(ticks.last(), Some(&(24, 24)));
    assert_eq!(found.code_layer, "fc1_relu");
    assert_eq!((found.code_dims, found.codes.len()), (128, 24 * 128));
    let (topk, map) = found.topk.unwrap();
    assert_eq!(map, [14, 14]);
    // Brute force: each image alone, channel 3.
    let mut best: Vec<(f32, usize)> = (0..24)
        .map(|i| {
            let acts = net.forward(data.batch(i..i + 1, net.device()), &["conv2_relu"]).unwrap();
            let v = acts.get("conv2_relu").unwrap().tensor.clone().slice([0..1, 3..4]).into_data();
            let m = v.try_to_vec::<f32>().unwrap().into_iter().fold(f32::MIN, f32::max);
            (m, i)
        })
        .collect();
    best.sort_by(|a, b| b.0.total_cmp(&a.0));
    assert_eq!(topk.channel(3).len(), 4);
    for (hit, want) in topk.channel(3).iter().zip(&best) {
        assert_eq!(hit.image, want.1);
        assert!((hit.value - want.0).abs() < 1e-4, "{} vs {}", hit.value, want.0);
    }
    // Cancelling stops the pass.
    let stopped = pollster::block_on(scan(&net, &data, &wants, &mut |d, _| d < 10));
    assert_eq!(stopped, Err(AnatomyError::Cancelled));
    assert_eq!(info.channels, 1);
}

#[test]
fn crops_cover_the_field_and_grey_the_outside() {
    let img = RgbImage::from_fn(10, 10, |x, y| Rgb([x as u8, y as u8, 7]));
    let field = Field { size: [4, 4], jump: [2, 2], offset: [-1, -1], grid: [5, 5], global: false };
    let c = crop(&img, &field, &Hit { value: 1.0, image: 0, y: 0, x: 2 });
    assert_eq!(c.dimensions(), (4, 4));
    assert_eq!(c.get_pixel(0, 0), &OUTSIDE, "row -1 is outside");
    assert_eq!(c.get_pixel(0, 1), &Rgb([3, 0, 7]), "column 3, row 0");
    let whole = Field { size: [10, 10], jump: [10, 10], offset: [0, 0], grid: [1, 1], global: true };
    assert_eq!(crop(&img, &whole, &Hit { value: 1.0, image: 0, y: 0, x: 0 }), img);
}

#[test]
fn penultimate_layers_and_nearest_neighbours() {
    let (_, squeeze) = net(SQUEEZENET);
    assert_eq!(penultimate_layer(squeeze.graph(), squeeze.score_name()).as_deref(), Some("fire9/concat"));
    let (_, fashion) = net(FASHION);
    assert_eq!(penultimate_layer(fashion.graph(), fashion.score_name()).as_deref(), Some("fc1_relu"));
    let rows = [0.0, 0.0, 3.0, 4.0, 1.0, 0.0, 0.0, 1.0];
    assert_eq!(nearest(&rows, 2, &[0.0, 0.0], 3), vec![(0, 0.0), (2, 1.0), (3, 1.0)]);
    assert_eq!(nearest(&rows, 2, &[3.0, 4.0], 1), vec![(1, 0.0)]);
    assert!(nearest(&rows, 2, &[1.0], 1).is_empty(), "a query of the wrong length finds nothing");
}

#[test]
fn bundled_dataset_is_class_balanced_and_matches_the_test_set() {
    let data = Dataset::from_atlas(ATLAS, ATLAS_JSON, 28).unwrap();
    assert_eq!(data.len(), 2000);
    let labels = data.labels.as_ref().unwrap();
    for c in 0..10 {
        assert_eq!(labels.iter().filter(|&&l| l == c).count(), 200, "class {c}");
    }
    assert_eq!(data.classes[0], "T-shirt/top");
    assert_eq!(data.classes[9], "Ankle boot");
    // Tile 0 is test image 0 (an ankle boot), pixel for pixel.
    let (images, test_labels) = test_set();
    assert_eq!(data.sources[0], "test image 0");
    assert_eq!(labels[0], test_labels[0] as usize);
    let tile: Vec<u8> = data.images[0].pixels().map(|p| p[0]).collect();
    assert_eq!(tile, images[..784].to_vec());
    // Resized for a model that wants another size; hostile descriptions are refused.
    assert_eq!(Dataset::from_atlas(ATLAS, ATLAS_JSON, 32).unwrap().images[5].dimensions(), (32, 32));
    assert!(matches!(Dataset::from_atlas(ATLAS, b"{}", 28), Err(AnatomyError::BadDataset(_))));
    let lying = br#"{"name":"x","tile":28,"columns":50,"count":9000,"classes":["a"],"labels":[]}"#;
    assert!(matches!(Dataset::from_atlas(ATLAS, lying, 28), Err(AnatomyError::BadDataset(_))));
    assert!(Dataset::from_atlas(b"not a png", ATLAS_JSON, 28).is_err());
}

#[test]
fn user_folders_skip_what_is_not_an_image() {
    let (info, _) = net(SQUEEZENET);
    let png = std::fs::read("static/samples/chelsea.png").unwrap();
    let files = vec![("cat.png".to_string(), png), ("notes.txt".to_string(), b"hello".to_vec())];
    let (data, skipped) = Dataset::from_files("mine", files, &info).unwrap();
    assert_eq!(data.len(), 1);
    assert_eq!(data.images[0].dimensions(), (227, 227));
    assert_eq!(skipped.len(), 1);
    assert!(skipped[0].starts_with("notes.txt: "));
    let none = Dataset::from_files("none", vec![("a.txt".into(), b"x".to_vec())], &info);
    assert!(matches!(none, Err(AnatomyError::EmptyDataset(_))));
}

fn gunzip(path: &str) -> Vec<u8> {
    let file = std::fs::File::open(path)
        .unwrap_or_else(|e| panic!("{path}: {e} (scripts/install-tools.sh installs dataset-fashion-mnist)"));
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(file).read_to_end(&mut out).unwrap();
    out
}

/// The 10,000 Fashion-MNIST test images (28×28 bytes each) and labels, from Debian's package.
fn test_set() -> (Vec<u8>, Vec<u8>) {
    let dir = "/usr/share/datasets/fashion-mnist";
    let images = gunzip(&format!("{dir}/t10k-images-idx3-ubyte.gz"));
    let labels = gunzip(&format!("{dir}/t10k-labels-idx1-ubyte.gz"));
    (images[16..].to_vec(), labels[8..].to_vec())
}

#[test]
fn fashion_model_is_at_least_90_percent_accurate_on_the_whole_test_set() {
    let (info, net) = net(FASHION);
    assert_eq!(info.labels.len(), 10);
    assert_eq!((info.input_size, info.channels), (28, 1));
    assert_eq!(info.dataset.as_deref(), Some("datasets/fashion-mnist-test-2000.png"));
    let (images, labels) = test_set();
    let n = labels.len();
    assert_eq!(n, 10_000);
    let mut right = 0;
    for start in (0..n).step_by(1000) {
        let x: Vec<f32> = images[start * 784..(start + 1000) * 784].iter().map(|&p| p as f32 / 255.0).collect();
        let scores = net.scores(Tensor::from_data(TensorData::new(x, [1000, 1, 28, 28]), net.device())).unwrap();
        let pred = scores.argmax(1).into_data().convert::<i64>().try_to_vec::<i64>().unwrap();
        right += pred.iter().zip(&labels[start..start + 1000]).filter(|(p, l)| **p == **l as i64).count();
    }
    let accuracy = right as f64 / n as f64;
    println!("Fashion-MNIST test accuracy of the shipped int8 model: {:.2}%", 100.0 * accuracy);
    assert!(accuracy >= 0.90, "accuracy {accuracy}");
    // The app feeds RGB; the grey model sees the mean, so a grey RGB image scores the same.
    let grey = Tensor::<4>::from_data(
        TensorData::new(images[..784].iter().map(|&p| p as f32 / 255.0).collect::<Vec<_>>(), [1, 1, 28, 28]),
        net.device(),
    );
    let rgb = grey.clone().repeat_dim(1, 3);
    let (a, b) = (net.scores(grey).unwrap().into_data(), net.scores(rgb).unwrap().into_data());
    for (x, y) in a.try_to_vec::<f32>().unwrap().iter().zip(b.try_to_vec::<f32>().unwrap()) {
        assert!((x - y).abs() < 1e-4, "{x} vs {y}");
    }
}
