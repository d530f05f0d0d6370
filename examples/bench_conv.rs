//! One 3×3 stride-1 convolution at a time, im2col against Winograd, on the layer
//! shapes of the bundled and benchmark models: `cargo run --release --example bench_conv [runs]`
//! (median of `runs`, default 20). Built for wasm32-wasip1 and run under Node
//! (`scripts/wasi-run.mjs`), it times what the page's worker runs; the split between the two
//! kernels (`cpu_winograd::suits`) comes from these numbers (BENCHMARKS.md).
//! `bench_conv [runs] sparse` times 1×1 convolutions of inputs with a given share of nonzero
//! values instead: gemm against `cpu_sparse::conv1x1` (where `cpu_sparse::max_density` comes from).
//! `bench_conv [runs] patches` times the small unpadded inputs of an exact occlusion sweep's
//! patches (SqueezeNet's expand 3×3 layers at 32/16): im2col against Winograd with weights
//! transformed once (where `cpu_winograd::suits_transformed`'s small-plane limits come from).
//! Both tables time Winograd's F(2×2, 3×3) and F(4×4, 3×3) (where `cpu_winograd::tile_for`
//! comes from); `bench_conv [runs] one C O SIDE TILE` times one of them on one shape.
//! `bench_conv [runs] gemm` times matrix products of the convolutions' shapes: gemm's kernels
//! against `cpu_gemm`'s packed and narrow ones (where `cpu_conv::kernel_for` comes from).
//! `bench_conv [runs] packed` times the products of Winograd's frequencies over a patch's few
//! tiles: the narrow kernel, the packed one packing the weights per call, and the packed one
//! with weights packed once (where `cpu_winograd::PACKED_MAX_CHANNELS` comes from).

use std::time::Instant;

use convlens::model::cpu_conv::{ConvGeometry, im2col_conv2d};
use convlens::model::cpu_sparse;
use convlens::model::cpu_winograd::{Tile, conv3x3_transformed, transform_weights};

fn median(runs: usize, f: &dyn Fn() -> Vec<f32>) -> f64 {
    std::hint::black_box(f());
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(f());
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[runs / 2]
}

/// Two matrices `[m, k]` and `[k, n]` of spread values in [−0.5, 0.5).
fn operands([m, k, n]: [usize; 3]) -> (Vec<f32>, Vec<f32>) {
    let lhs = (0..m * k).map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5).collect();
    let rhs = (0..k * n).map(|i| ((i * 104_729) % 1000) as f32 / 1000.0 - 0.5).collect();
    (lhs, rhs)
}

/// 1×1 convolutions (SqueezeNet's conv10 and squeeze layers, ResNet-50's and MobileNetV2's
/// 1×1 layers) of inputs with a share of nonzero values: gemm against the sparse kernel.
fn sparse(runs: usize) {
    let shapes = [(512, 1000, 14), (512, 64, 14), (384, 64, 14), (256, 64, 56), (1024, 256, 14), (576, 96, 14)];
    let g = ConvGeometry { strides: [1, 1], padding: [(0, 0); 2], dilations: [1, 1], groups: 1 };
    println!("C → O, side, nonzero share: gemm ms, sparse ms, ratio (gemm / sparse)");
    for (c, o, side) in shapes {
        let weight: Vec<f32> = (0..o * c).map(|i| ((i * 104_729) % 1000) as f32 / 1000.0 - 0.5).collect();
        let wt = cpu_sparse::transpose(&weight, o, c);
        for density in [0.05, 0.1, 0.2, 0.3, 0.4, 0.5] {
            let x: Vec<f32> = (0..c * side * side)
                .map(|i| {
                    let r = ((i * 7919 + 13) % 10007) as f32 / 10007.0;
                    if r < density { r + 0.1 } else { 0.0 }
                })
                .collect();
            let dense = median(runs, &|| im2col_conv2d(&x, [1, c, side, side], &weight, [o, c, 1, 1], None, None, &g));
            let sparse = median(runs, &|| cpu_sparse::conv1x1(&x, [1, c, side, side], &wt, o, None, None));
            println!("{c:>4} → {o:>4}, {side:>3}, {density:.2}: {dense:8.3} {sparse:8.3} {:5.2}", dense / sparse);
        }
    }
}

/// Unpadded 3×3 inputs of the sizes an exact sweep's patches have (outputs two smaller each
/// way): im2col against Winograd with weights transformed once.
fn patches(runs: usize) {
    let shapes = [
        (16, 64, 14, 13),
        (16, 64, 12, 12),
        (32, 128, 12, 11),
        (32, 128, 11, 10),
        (32, 128, 10, 9),
        (32, 64, 10, 10),
        (48, 192, 12, 10),
        (48, 192, 10, 9),
        (48, 192, 8, 8),
        (64, 256, 13, 12),
        (64, 256, 11, 11),
        (64, 256, 9, 9),
        (64, 256, 7, 7),
    ];
    let g = ConvGeometry { strides: [1, 1], padding: [(0, 0); 2], dilations: [1, 1], groups: 1 };
    println!(
        "C → O, input h × w (output pixels): im2col ms; Winograd F(2×2), F(4×4) (weights transformed once) ms, ratio"
    );
    for (c, o, h, w) in shapes {
        let x: Vec<f32> = (0..c * h * w).map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5).collect();
        let weight: Vec<f32> = (0..o * c * 9).map(|i| ((i * 104_729) % 1000) as f32 / 1000.0 - 0.5).collect();
        let relu = Some([0.0, f32::INFINITY]);
        let direct = median(runs, &|| im2col_conv2d(&x, [1, c, h, w], &weight, [o, c, 3, 3], None, relu, &g));
        let u = transform_weights(&weight, o, c, Tile::Two);
        let once = median(runs, &|| conv3x3_transformed(&x, [1, c, h, w], &u, o, None, relu, g.padding));
        let u4 = transform_weights(&weight, o, c, Tile::Four);
        let four = median(runs, &|| conv3x3_transformed(&x, [1, c, h, w], &u4, o, None, relu, g.padding));
        let pixels = (h - 2) * (w - 2);
        println!(
            "{c:>4} → {o:>4}, {h:>2} × {w:>2} ({pixels:>3}): {direct:8.3} {once:8.3} {:5.2} {four:8.3} {:5.2}",
            direct / once,
            direct / four
        );
    }
}

/// One padded 3×3 convolution, `bench_conv [runs] one C O SIDE TILE` (TILE 2 or 4: Winograd
/// F(2×2) or F(4×4)), for a profile of one kernel (`WASI_PROFILE=…` before the command).
fn one(runs: usize) {
    let args: Vec<usize> = std::env::args().skip(3).filter_map(|a| a.parse().ok()).collect();
    let &[c, o, side, tile] = args.as_slice() else {
        return eprintln!("usage: bench_conv RUNS one C O SIDE TILE");
    };
    let tile = if tile == 4 { Tile::Four } else { Tile::Two };
    let x: Vec<f32> = (0..c * side * side).map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5).collect();
    let weight: Vec<f32> = (0..o * c * 9).map(|i| ((i * 104_729) % 1000) as f32 / 1000.0 - 0.5).collect();
    let u = transform_weights(&weight, o, c, tile);
    let ms = median(runs, &|| conv3x3_transformed(&x, [1, c, side, side], &u, o, None, None, [(1, 1); 2]));
    println!("{c} → {o}, {side}, {tile:?}: {ms:.3} ms");
}

/// Matrix products of the shapes the convolutions hand over (`m` outputs, depth `k`, `n`
/// columns): gemm's kernels against `cpu_gemm`'s.
fn products(runs: usize) {
    let shapes = [
        // MobileNetV2's 1×1 layers
        (24, 96, 3136),
        (144, 24, 3136),
        (32, 192, 784),
        (64, 384, 196),
        (384, 64, 196),
        (160, 960, 49),
        (960, 160, 49),
        // ResNet's 3×3 layers by im2col
        (64, 576, 3136),
        (128, 1152, 784),
        (256, 2304, 196),
        (512, 4608, 49),
        // SqueezeNet's conv10, Winograd products (one frequency)
        (1000, 512, 169),
        (64, 64, 196),
        (512, 512, 4),
        (256, 256, 16),
        (128, 128, 49),
        // an exact occlusion sweep's patches: SqueezeNet's expand 3×3 by Winograd at 13 × 13
        // (9 or 16 tiles of one frequency), its 1×1 layers over a few pixels; ResNet's 7 × 7
        // stage by im2col over a patch
        (192, 48, 9),
        (256, 64, 16),
        (64, 384, 12),
        (256, 512, 6),
        (512, 4608, 9),
        (128, 64, 2),
        // squeeze layers (few outputs) over a patch
        (16, 128, 36),
        (32, 256, 25),
        (16, 64, 49),
        (48, 384, 30),
    ];
    println!(
        "m, k, n: gemm ms, own ms, ratio (gemm / own); G multiply-adds/s; then for n < 20: narrow ms, gemm / narrow"
    );
    for (m, k, n) in shapes {
        let (lhs, rhs) = operands([m, k, n]);
        let theirs = median(runs, &|| {
            let mut dst = vec![0f32; m * n];
            // SAFETY: row-major matrices of these sizes.
            unsafe {
                gemm::gemm(
                    m,
                    n,
                    k,
                    dst.as_mut_ptr(),
                    1,
                    n as isize,
                    false,
                    lhs.as_ptr(),
                    1,
                    k as isize,
                    rhs.as_ptr(),
                    1,
                    n as isize,
                    1.0,
                    1.0,
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                )
            };
            dst
        });
        let ours = median(runs, &|| {
            let mut dst = vec![0f32; m * n];
            // SAFETY: as above.
            unsafe {
                convlens::model::cpu_gemm::gemm(dst.as_mut_ptr(), lhs.as_ptr(), rhs.as_ptr(), [m, k, n], [n, k, n])
            };
            dst
        });
        let g = |ms: f64| (m * k * n) as f64 / ms / 1e6;
        let narrow = (n < 200).then(|| {
            median(runs, &|| {
                let mut dst = vec![0f32; m * n];
                // SAFETY: as above.
                unsafe {
                    convlens::model::cpu_gemm::gemm_narrow(
                        dst.as_mut_ptr(),
                        lhs.as_ptr(),
                        rhs.as_ptr(),
                        [m, k, n],
                        [n, k, n],
                    )
                };
                dst
            })
        });
        let narrow = narrow.map_or(String::new(), |ms| format!("   {ms:8.3} {:5.2}", theirs / ms));
        println!(
            "{m:>5} {k:>5} {n:>5}: {theirs:8.3} {ours:8.3} {:5.2}   {:5.1} {:5.1}{narrow}",
            theirs / ours,
            g(theirs),
            g(ours)
        );
    }
}

/// Products `[O, C] · [C, tiles]` as Winograd's frequencies hand them over on a patch: the
/// narrow kernel, gemm's register blocks packing the weights per call, and the same with the
/// weights packed once (`cpu_gemm::gemm_packed`).
fn packed_weights(runs: usize) {
    use convlens::model::cpu_gemm::{gemm, gemm_narrow, gemm_packed, pack_lhs_all};
    println!("O, C, tiles: narrow ms, packed per call ms, packed once ms (G multiply-adds/s); narrow / packed once");
    let shapes = [
        // SqueezeNet's fire8/9 expand 3×3 (64 → 256 channels) over 4 to 49 tiles
        (256, 64, 4),
        (256, 64, 9),
        (256, 64, 12),
        (256, 64, 16),
        (256, 64, 25),
        (256, 64, 28),
        (256, 64, 36),
        (256, 64, 49),
        // fire6/7 (48 → 192), fire4/5 (32 → 128)
        (192, 48, 16),
        (192, 48, 28),
        (128, 32, 16),
        (128, 32, 28),
        // more input channels
        (128, 128, 16),
        (128, 128, 36),
        (512, 128, 16),
        (256, 256, 16),
        (256, 256, 36),
        (256, 512, 16),
    ];
    for (m, k, n) in shapes {
        let (lhs, rhs) = operands([m, k, n]);
        let once = pack_lhs_all(&lhs, k, [m, k]);
        let time = |kind: u8| {
            median(runs, &|| {
                let mut dst = vec![0f32; m * n];
                let (d, l, r) = (dst.as_mut_ptr(), lhs.as_ptr(), rhs.as_ptr());
                // SAFETY: row-major matrices of these sizes; `once` packs `lhs`.
                unsafe {
                    match kind {
                        0 => gemm_narrow(d, l, r, [m, k, n], [n, k, n]),
                        1 => gemm(d, l, r, [m, k, n], [n, k, n]),
                        _ => gemm_packed(d, &once, r, [m, k, n], [n, n]),
                    }
                };
                dst
            })
        };
        let (narrow, per_call, packed) = (time(0), time(1), time(2));
        let g = |ms: f64| (m * k * n) as f64 / ms / 1e6;
        println!(
            "{m:>5} {k:>5} {n:>5}: {narrow:7.4} ({:4.1}) {per_call:7.4} ({:4.1}) {packed:7.4} ({:4.1})  {:4.2}",
            g(narrow),
            g(per_call),
            g(packed),
            narrow / packed
        );
    }
}

fn main() {
    let runs: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(20);
    match std::env::args().nth(2).as_deref() {
        Some("sparse") => return sparse(runs),
        Some("patches") => return patches(runs),
        Some("one") => return one(runs),
        Some("gemm") => return products(runs),
        Some("packed") => return packed_weights(runs),
        _ => {}
    }
    // (input channels, output channels, side): SqueezeNet's expand 3×3 layers, Fashion-MNIST's,
    // ResNet-18's and ResNet-50's 3×3 layers.
    let shapes = [
        (16, 64, 55),
        (32, 128, 27),
        (48, 192, 13),
        (64, 256, 13),
        (32, 64, 14),
        (64, 64, 14),
        (96, 96, 14),
        (64, 64, 7),
        (64, 64, 56),
        (128, 128, 28),
        (256, 256, 14),
        (512, 512, 7),
    ];
    let g = ConvGeometry { strides: [1, 1], padding: [(1, 1); 2], dilations: [1, 1], groups: 1 };
    println!("C → O, side: im2col ms; Winograd F(2×2), F(4×4) with weights transformed once: ms, ratio");
    for (c, o, side) in shapes {
        let x: Vec<f32> = (0..c * side * side).map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5).collect();
        let weight: Vec<f32> = (0..o * c * 9).map(|i| ((i * 104_729) % 1000) as f32 / 1000.0 - 0.5).collect();
        let time = |f: &dyn Fn() -> Vec<f32>| median(runs, f);
        let direct = time(&|| im2col_conv2d(&x, [1, c, side, side], &weight, [o, c, 3, 3], None, None, &g));
        // A network's constant weights are transformed once (`exec::Network` keeps them).
        let u = transform_weights(&weight, o, c, Tile::Two);
        let two = time(&|| conv3x3_transformed(&x, [1, c, side, side], &u, o, None, None, g.padding));
        let u4 = transform_weights(&weight, o, c, Tile::Four);
        let four = time(&|| conv3x3_transformed(&x, [1, c, side, side], &u4, o, None, None, g.padding));
        println!(
            "{c:>4} → {o:>4}, {side:>3}: {direct:8.3} {two:8.3} {:5.2} {four:8.3} {:5.2}",
            direct / two,
            direct / four
        );
    }
}
