//! The CPU convolution (`model::cpu_conv`: NCHW im2col and one matrix product per image and
//! group) against Burn's own conv2d on many geometries: strides, asymmetric padding,
//! dilations, groups, 1×1 kernels, kernels as large as the padded input, batches, a fused
//! clamp; the depthwise kernel the same way; and the CPU max pool (`model::cpu_pool`) against
//! Burn's, floor and ceil mode. The integer convolution (`model::cpu_qconv`) against an exact
//! integer sum and the float kernel; the Winograd path for 3×3 stride-1 convolutions against an
//! f64 sum.

mod common;
use burn::tensor::module::{conv2d, max_pool2d};
use burn::tensor::ops::{ConvOptions, MaxPoolOptions};
use common::device;
use convlens::model::cpu_conv::{ConvGeometry, conv2d as cpu_conv2d, depthwise2d, im2col_conv2d};
use convlens::model::cpu_qconv::IntConv;
use convlens::{Tensor, TensorData};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

#[test]
fn cpu_convolution_matches_burn_on_many_geometries() {
    check_against_burn(3, false);
}

#[test]
fn cpu_depthwise_convolution_matches_burn_on_many_geometries() {
    check_against_burn(5, true);
}

/// 400 random convolutions (grouped, or depthwise with 1–2 outputs per channel) by our kernel
/// and by Burn's conv2d, each case with a bias or not and a fused clamp (a ReLU or a ReLU6-like
/// one) or not.
fn check_against_burn(seed: u64, depthwise: bool) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut checked = 0;
    while checked < 400 {
        let (groups, cg, og) = if depthwise {
            (rng.random_range(1..5), 1, rng.random_range(1..3))
        } else {
            ([1, 1, 1, 2, 3][rng.random_range(0..5)], rng.random_range(1..4), rng.random_range(1..4))
        };
        let (c, o) = (cg * groups, og * groups);
        let (n, h, w) = (rng.random_range(1..3), rng.random_range(1..14), rng.random_range(1..14));
        let (kh, kw) = (rng.random_range(1..6), rng.random_range(1..6));
        let strides = [rng.random_range(1..4), rng.random_range(1..4)];
        let dilations = [rng.random_range(1..3), rng.random_range(1..3)];
        let padding =
            [(rng.random_range(0..3), rng.random_range(0..3)), (rng.random_range(0..3), rng.random_range(0..3))];
        let fits = |d: usize, size: usize, k: usize| size + padding[d].0 + padding[d].1 >= (k - 1) * dilations[d] + 1;
        if !fits(0, h, kh) || !fits(1, w, kw) {
            continue;
        }
        let x: Vec<f32> = (0..n * c * h * w).map(|_| rng.random_range(-1.0..1.0)).collect();
        let weight: Vec<f32> = (0..o * cg * kh * kw).map(|_| rng.random_range(-1.0..1.0)).collect();
        let bias: Option<Vec<f32>> =
            rng.random_bool(0.5).then(|| (0..o).map(|_| rng.random_range(-1.0..1.0)).collect());
        let clamp = [None, Some([0.0, f32::INFINITY]), Some([-0.25f32, 0.5f32])][checked % 3];
        let g = ConvGeometry { strides, padding, dilations, groups };
        let kernel = if depthwise { depthwise2d } else { cpu_conv2d };
        let ours = kernel(&x, [n, c, h, w], &weight, [o, cg, kh, kw], bias.as_deref(), clamp, &g);

        let t = |v: &[f32], s: [usize; 4]| Tensor::<4>::from_data(TensorData::new(v.to_vec(), s), &device());
        let b = bias.as_ref().map(|b| Tensor::<1>::from_data(TensorData::new(b.clone(), [o]), &device()));
        let options = ConvOptions::new_with_padding(strides, padding, dilations, groups);
        let mut theirs = conv2d(t(&x, [n, c, h, w]), t(&weight, [o, cg, kh, kw]), b, options);
        if let Some([lo, hi]) = clamp {
            theirs = theirs.clamp(lo, hi);
        }
        let [oh, ow] = g.output([h, w], [kh, kw]);
        assert_eq!(theirs.dims(), [n, o, oh, ow], "{g:?}");
        let theirs = theirs.into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(ours.len(), theirs.len());
        let worst = ours.iter().zip(&theirs).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(worst < 1e-5, "{g:?} x {:?} w {:?}: worst difference {worst}", [n, c, h, w], [o, cg, kh, kw]);
        checked += 1;
    }
}

/// 300 random convolutions of dequantized 8-bit activations with int8 weights (one scale per
/// output channel): the integer kernel against the exact sum (in f64 from the integers) and
/// against the float kernel. Float weights are refused.
#[test]
fn row_copies_and_strided_gathers_match_plain_loops() {
    // im2col's row helpers for the value sizes it copies (i16, f32) and one more (u8), every
    // length to 40 and steps 1 to 3: the vector paths (16 bytes at a time, stride-2
    // deinterleaving) against indexing, reading from a buffer that ends at the last value read.
    fn check<T: Copy + PartialEq + std::fmt::Debug>(make: impl Fn(usize) -> T, zero: T) {
        for n in 0..=40 {
            for step in 1..=3 {
                let src: Vec<T> = (0..(n.max(1) - 1) * step + 1).map(&make).collect();
                let expected: Vec<T> = (0..n).map(|j| src[j * step]).collect();
                let mut dst = vec![zero; n + 2];
                // SAFETY: `src` holds index (n − 1)·step, `dst` n values plus two left alone.
                unsafe {
                    if step == 1 {
                        convlens::model::cpu_simd::copy_row(src.as_ptr(), dst.as_mut_ptr(), n);
                    } else {
                        convlens::model::cpu_simd::gather_row(src.as_ptr(), step, dst.as_mut_ptr(), n);
                    }
                }
                assert_eq!(&dst[..n], &expected[..], "{n} values, step {step}");
                assert_eq!(&dst[n..], &[zero, zero], "{n} values, step {step}: wrote past the end");
            }
        }
    }
    check(|i| i as i16 * 7 - 100, 0i16);
    check(|i| i as f32 * 0.5 - 3.0, 0f32);
    check(|i| (i * 3) as u8, 0u8);
}

#[test]
fn unpadded_stride_one_convolution_is_the_exact_sum() {
    // The incremental sweep's tiles: no padding, stride 1 (im2col copies blocks of rows);
    // dilations 1 and 2, square and flat kernels, two images.
    let mut rng = StdRng::seed_from_u64(29);
    for ([kh, kw], dilations, [c, h, w], o) in
        [([3, 3], [1, 1], [5, 9, 11], 7), ([3, 3], [2, 1], [3, 8, 6], 4), ([1, 3], [1, 2], [4, 5, 7], 6)]
    {
        let n = 2;
        let g = ConvGeometry { strides: [1, 1], padding: [(0, 0); 2], dilations, groups: 1 };
        let x: Vec<f32> = (0..n * c * h * w).map(|_| rng.random_range(-1.0..1.0)).collect();
        let weight: Vec<f32> = (0..o * c * kh * kw).map(|_| rng.random_range(-1.0..1.0)).collect();
        let y = im2col_conv2d(&x, [n, c, h, w], &weight, [o, c, kh, kw], None, None, &g);
        let [oh, ow] = [h - (kh - 1) * dilations[0], w - (kw - 1) * dilations[1]];
        assert_eq!(y.len(), n * o * oh * ow);
        for (i, &got) in y.iter().enumerate() {
            let (b, r, oy, ox) = (i / (o * oh * ow), i / (oh * ow) % o, i / ow % oh, i % ow);
            let mut exact = 0f64;
            for ch in 0..c {
                for ky in 0..kh {
                    for kx in 0..kw {
                        let v = x[((b * c + ch) * h + oy + ky * dilations[0]) * w + ox + kx * dilations[1]];
                        exact += v as f64 * weight[((r * c + ch) * kh + ky) * kw + kx] as f64;
                    }
                }
            }
            assert!((got as f64 - exact).abs() < 1e-5, "{kh}×{kw} {dilations:?}: output {i} {got} vs {exact}");
        }
    }
}

#[test]
fn sparse_1x1_convolution_is_the_exact_sum() {
    // Output counts that take every block width (32, 4, 1), planes with and without a
    // remainder of eight, ReLU-like inputs from 2% to 60% nonzero; against an f64 sum.
    use convlens::model::cpu_sparse::{conv1x1, transpose};
    let mut rng = StdRng::seed_from_u64(23);
    for (c, o, side, density) in [(64, 1000, 14, 0.08), (37, 37, 5, 0.3), (16, 3, 3, 0.6), (96, 70, 9, 0.02)] {
        let n = 2;
        let x: Vec<f32> = (0..n * c * side * side)
            .map(|_| if rng.random_range(0.0..1.0) < density { rng.random_range(0.0..3.0) } else { 0.0 })
            .collect();
        let weight: Vec<f32> = (0..o * c).map(|_| rng.random_range(-1.0..1.0)).collect();
        let bias: Vec<f32> = (0..o).map(|_| rng.random_range(-1.0..1.0)).collect();
        for clamp in [None, Some([0.0, 1.5])] {
            let y = conv1x1(&x, [n, c, side, side], &transpose(&weight, o, c), o, Some(&bias), clamp);
            let [lo, hi] = clamp.unwrap_or([f32::NEG_INFINITY, f32::INFINITY]);
            let p = side * side;
            for b in 0..n {
                for r in 0..o {
                    for j in 0..p {
                        let terms = (0..c).map(|k| weight[r * c + k] as f64 * x[(b * c + k) * p + j] as f64);
                        let magnitude: f64 = terms.clone().map(f64::abs).sum::<f64>() + bias[r].abs() as f64;
                        let exact = (bias[r] as f64 + terms.sum::<f64>()).clamp(lo as f64, hi as f64);
                        let got = y[(b * o + r) * p + j] as f64;
                        assert!((got - exact).abs() <= 1e-6 * magnitude.max(1.0), "{c}→{o}: {got} vs {exact}");
                    }
                }
            }
        }
    }
}

#[test]
fn plane_means_match_the_exact_mean() {
    // GlobalAveragePool's kernel on plane sizes around the vector width (and none left over).
    let mut rng = StdRng::seed_from_u64(17);
    for size in [1, 2, 3, 4, 5, 7, 8, 49, 169, 196, 1000] {
        let x: Vec<f32> = (0..3 * size).map(|_| rng.random_range(-2.0..2.0)).collect();
        let means = convlens::model::cpu_pool::plane_means(&x, size);
        assert_eq!(means.len(), 3);
        for (plane, mean) in x.chunks_exact(size).zip(means) {
            let exact = plane.iter().map(|&v| v as f64).sum::<f64>() / size as f64;
            let magnitude = plane.iter().map(|v| v.abs() as f64).sum::<f64>() / size as f64;
            assert!((mean as f64 - exact).abs() <= 1e-6 * magnitude.max(1e-3), "{size}: {mean} vs {exact}");
        }
    }
}

#[test]
fn integer_convolution_is_the_exact_sum() {
    let mut rng = StdRng::seed_from_u64(11);
    let mut checked = 0;
    while checked < 300 {
        // Channel counts that leave reduction lengths odd and even, and output channels and
        // pixels that do not fill whole register blocks; now and then a long reduction.
        let c = if checked % 7 == 0 { rng.random_range(40..50) } else { rng.random_range(1..6) };
        let o = rng.random_range(1..11);
        // Now and then a row wide enough for the vector loops of a stride-2 im2col (9+ values).
        let w_top = if checked % 5 == 0 { 40 } else { 16 };
        let (n, h, w) = (rng.random_range(1..3), rng.random_range(1..16), rng.random_range(1..w_top));
        let (kh, kw) = (rng.random_range(1..4), rng.random_range(1..4));
        let strides = [rng.random_range(1..3), rng.random_range(1..3)];
        let dilations = [rng.random_range(1..3), rng.random_range(1..3)];
        let padding =
            [(rng.random_range(0..2), rng.random_range(0..2)), (rng.random_range(0..2), rng.random_range(0..2))];
        let fits = |d: usize, size: usize, k: usize| size + padding[d].0 + padding[d].1 >= (k - 1) * dilations[d] + 1;
        if !fits(0, h, kh) || !fits(1, w, kw) {
            continue;
        }
        // uint8 activations with a zero point, dequantized as DequantizeLinear does.
        let (x_scale, zero) = (rng.random_range(0.001..0.1f32), rng.random_range(0..256) as f32);
        let qx: Vec<f32> = (0..n * c * h * w).map(|_| rng.random_range(0..256) as f32 - zero).collect();
        let x: Vec<f32> = qx.iter().map(|q| q * x_scale).collect();
        // Symmetric int8 weights; a row now and then all zero, or not using the full range.
        let k = c * kh * kw;
        let mut qw = vec![0f32; o * k];
        let mut scales = vec![0f32; o];
        for r in 0..o {
            let top = [127, 127, 100, 0][rng.random_range(0..4)];
            for v in &mut qw[r * k..(r + 1) * k] {
                *v = rng.random_range(-top..=top) as f32;
            }
            scales[r] = rng.random_range(0.0005..0.05f32);
        }
        let weight: Vec<f32> = qw.iter().enumerate().map(|(i, q)| q * scales[i / k]).collect();
        let bias: Option<Vec<f32>> =
            rng.random_bool(0.5).then(|| (0..o).map(|_| rng.random_range(-1.0..1.0)).collect());
        let clamp = [None, Some([0.0, f32::INFINITY])][checked % 2];
        let g = ConvGeometry { strides, padding, dilations, groups: 1 };
        let int = IntConv::new(&weight, [o, c, kh, kw]).expect("int8 weights are recognised");
        let ours = int.run(&x, [n, c, h, w], x_scale, bias.as_deref(), clamp, &g);
        let float = cpu_conv2d(&x, [n, c, h, w], &weight, [o, c, kh, kw], bias.as_deref(), clamp, &g);
        assert_eq!(ours.len(), float.len());

        // The exact sum from the integers, in f64.
        let [oh, ow] = g.output([h, w], [kh, kw]);
        for (i, (sum, magnitude)) in exact_sums(&qx, [n, c, h, w], &qw, [o, kh, kw], &g).into_iter().enumerate() {
            let r = i / (oh * ow) % o;
            let scaled = sum * (scales[r] as f64 * x_scale as f64);
            let add = bias.as_ref().map_or(0.0, |b| b[r] as f64);
            let want = if clamp.is_some() { (scaled + add).max(0.0) } else { scaled + add };
            // The integer sum is exact: only the final scaling and bias round. The float
            // kernel's rounding grows with the terms, not with a sum they cancel in.
            let size = scaled.abs() + add.abs() + 1e-6;
            assert!((ours[i] as f64 - want).abs() <= 1e-6 * size, "integer {} vs exact {want}", ours[i]);
            let terms = magnitude * (scales[r] as f64 * x_scale as f64) + add.abs() + 1e-6;
            assert!((float[i] as f64 - want).abs() <= 1e-5 * terms, "float {} vs exact {want}", float[i]);
        }
        checked += 1;
    }
    // Float weights, and a weight that is not finite, stay with the float kernel.
    let float: Vec<f32> = (0..2 * 3 * 3 * 3).map(|_| rng.random_range(-1.0..1.0)).collect();
    assert!(IntConv::new(&float, [2, 3, 3, 3]).is_none());
    let mut bad = vec![0.5f32; 2 * 3 * 3 * 3];
    bad[4] = f32::INFINITY;
    assert!(IntConv::new(&bad, [2, 3, 3, 3]).is_none());
}

/// 200 random 3×3 stride-1 convolutions by the Winograd kernel (`model::cpu_winograd`): odd and
/// even output sizes (partial tiles), asymmetric padding, batches, bias and clamp, against the
/// sum in f64. Its rounding is bounded by the terms' magnitude, as the direct kernel's. Which
/// convolutions `conv2d` hands to it: large enough ones with finite weights.
#[test]
fn winograd_convolution_matches_the_exact_sum() {
    use convlens::model::cpu_winograd::{Tile, conv3x3, suits};
    let mut rng = StdRng::seed_from_u64(13);
    let mut checked = 0;
    let mut worst = [0f64; 2];
    while checked < 400 {
        // Each algorithm on every other case: F(2×2, 3×3), F(4×4, 3×3).
        let tile = [Tile::Two, Tile::Four][checked % 2];
        let (c, o) = (rng.random_range(8..40), rng.random_range(8..24));
        let (n, h, w) = (rng.random_range(1..3), rng.random_range(1..20), rng.random_range(1..20));
        let padding =
            [(rng.random_range(0..3), rng.random_range(0..3)), (rng.random_range(0..3), rng.random_range(0..3))];
        if h + padding[0].0 + padding[0].1 < 3 || w + padding[1].0 + padding[1].1 < 3 {
            continue;
        }
        let g = ConvGeometry { strides: [1, 1], padding, dilations: [1, 1], groups: 1 };
        let x: Vec<f32> = (0..n * c * h * w).map(|_| rng.random_range(-1.0..1.0)).collect();
        let weight: Vec<f32> = (0..o * c * 9).map(|_| rng.random_range(-1.0..1.0)).collect();
        let bias: Option<Vec<f32>> =
            rng.random_bool(0.5).then(|| (0..o).map(|_| rng.random_range(-1.0..1.0)).collect());
        let clamp = [None, Some([0.0, f32::INFINITY]), Some([-0.25f32, 0.5f32])][checked / 2 % 3];
        let ours = conv3x3(&x, [n, c, h, w], &weight, o, bias.as_deref(), clamp, padding, tile);
        let [oh, ow] = g.output([h, w], [3, 3]);
        assert_eq!(ours.len(), n * o * oh * ow);
        for (i, (sum, magnitude)) in exact_sums(&x, [n, c, h, w], &weight, [o, 3, 3], &g).into_iter().enumerate() {
            let add = bias.as_ref().map_or(0.0, |b| b[i / (oh * ow) % o] as f64);
            let [lo, hi] = clamp.unwrap_or([f32::NEG_INFINITY, f32::INFINITY]);
            let want = (sum + add).max(lo as f64).min(hi as f64);
            let error = (ours[i] as f64 - want).abs() / (magnitude + add.abs() + 1e-6);
            worst[checked % 2] = worst[checked % 2].max(error);
            // F(4×4)'s transforms scale by up to 8 and its weights' by 1/24: more rounding.
            let bound = [1e-5, 3e-5][checked % 2];
            assert!(error <= bound, "{tile:?} {g:?} {:?} → {o}: {} vs exact {want}", [n, c, h, w], ours[i]);
        }
        checked += 1;
    }
    println!("worst error relative to the terms' magnitude, F(2×2) and F(4×4): {:e} and {:e}", worst[0], worst[1]);
    let g = ConvGeometry { strides: [1, 1], padding: [(1, 1); 2], dilations: [1, 1], groups: 1 };
    let weight = vec![0.5f32; 32 * 32 * 9];
    assert!(suits(32, 32, [27, 27], [3, 3], &g, &weight));
    assert!(!suits(32, 32, [26, 27], [3, 3], &g, &weight));
    assert!(!suits(16, 32, [27, 27], [3, 3], &g, &weight[..16 * 32 * 9]));
    assert!(!suits(32, 32, [60, 60], [3, 3], &ConvGeometry { strides: [2, 2], ..g }, &weight));
    let mut bad = weight.clone();
    bad[4] = f32::NAN;
    assert!(!suits(32, 32, [27, 27], [3, 3], &g, &bad));
    // Weights transformed once (a network's constant weights): smaller planes qualify, and
    // the result is the per-call transform's to the bit.
    use convlens::model::cpu_winograd::{conv3x3_transformed, suits_transformed, tile_for, transform_weights};
    assert!(suits_transformed(16, 64, [27, 27], [3, 3], &g));
    assert!(!suits_transformed(8, 64, [55, 55], [3, 3], &g));
    assert!(!suits_transformed(16, 64, [14, 14], [3, 3], &g));
    assert!(suits_transformed(32, 64, [14, 14], [3, 3], &g));
    assert!(suits_transformed(32, 48, [8, 8], [3, 3], &g));
    assert!(!suits_transformed(32, 48, [7, 8], [3, 3], &g));
    assert!(suits_transformed(64, 64, [7, 7], [3, 3], &g));
    assert!(!suits_transformed(64, 64, [6, 7], [3, 3], &g));
    assert!(!suits_transformed(32, 32, [27, 27], [3, 3], &ConvGeometry { strides: [2, 2], ..g }));
    let x: Vec<f32> = (0..32 * 14 * 14).map(|_| rng.random_range(-1.0..1.0)).collect();
    let weight: Vec<f32> = (0..40 * 32 * 9).map(|_| rng.random_range(-1.0..1.0)).collect();
    for tile in [Tile::Two, Tile::Four] {
        let u = transform_weights(&weight, 40, 32, tile);
        let once = conv3x3_transformed(&x, [1, 32, 14, 14], &u, 40, None, None, g.padding);
        let per_call = conv3x3(&x, [1, 32, 14, 14], &weight, 40, None, None, g.padding, tile);
        assert_eq!(
            once.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            per_call.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
    }
    assert_eq!(tile_for([12, 14]), Tile::Two);
    assert_eq!(tile_for([13, 13]), Tile::Four);
    // Through conv2d: the same values as by im2col.
    let x: Vec<f32> = (0..2 * 32 * 27 * 27).map(|_| rng.random_range(-1.0..1.0)).collect();
    let weight: Vec<f32> = (0..32 * 32 * 9).map(|_| rng.random_range(-1.0..1.0)).collect();
    let wino = cpu_conv2d(&x, [2, 32, 27, 27], &weight, [32, 32, 3, 3], None, None, &g);
    let direct = im2col_conv2d(&x, [2, 32, 27, 27], &weight, [32, 32, 3, 3], None, None, &g);
    let differ = wino.iter().zip(&direct).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    // (Sums of 288 terms up to 1 each: F(4×4)'s rounding, a few units in the last place of
    // their magnitude.)
    assert!(differ > 0.0 && differ < 5e-4, "Winograd and im2col differ by {differ}");
}

/// With the `threads` feature (`scripts/test.sh` runs this file with it too): each kernel's
/// loops in parts on the pool's threads give the same values, to the bit, as on one thread, for
/// shapes that split unevenly (im2col by columns and by rows, Winograd, depthwise, integer).
#[cfg(feature = "threads")]
#[test]
fn parallel_kernels_give_the_same_bits_as_one_thread() {
    use convlens::model::cpu_par::{set_min_parallel_work, threads};
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert_eq!(threads() > 1, cores > 1, "the pool has a thread per core");
    let mut rng = StdRng::seed_from_u64(17);
    let mut random = |len: usize| (0..len).map(|_| rng.random_range(-1.0..1.0f32)).collect::<Vec<_>>();
    let g = |s: usize, p: usize| ConvGeometry { strides: [s, s], padding: [(p, p); 2], dilations: [1, 1], groups: 1 };
    // (input dims, weight dims, stride, padding): wide outputs, tall outputs, Winograd's case.
    let cases = [
        ([2, 5, 33, 31], [19, 5, 3, 3], 1, 1),
        ([1, 70, 5, 6], [67, 70, 1, 1], 1, 0),
        ([1, 33, 29, 30], [35, 33, 3, 3], 1, 1),
        ([1, 8, 40, 41], [13, 8, 5, 5], 2, 2),
    ];
    for ([n, c, h, w], [o, cg, kh, kw], s, p) in cases {
        let (x, weight, bias) = (random(n * c * h * w), random(o * cg * kh * kw), random(o));
        let run = || cpu_conv2d(&x, [n, c, h, w], &weight, [o, cg, kh, kw], Some(&bias), Some([0.0, 6.0]), &g(s, p));
        set_min_parallel_work(usize::MAX);
        let alone = run();
        set_min_parallel_work(0);
        let parts = run();
        assert!(alone.iter().zip(&parts).all(|(a, b)| a.to_bits() == b.to_bits()), "{:?}", [n, c, h, w]);
    }
    // Depthwise, two outputs per channel, stride 2.
    let (x, weight) = (random(2 * 7 * 23 * 21), random(14 * 9));
    let dw = ConvGeometry { groups: 7, ..g(2, 1) };
    let run = || depthwise2d(&x, [2, 7, 23, 21], &weight, [14, 1, 3, 3], None, None, &dw);
    set_min_parallel_work(usize::MAX);
    let alone = run();
    set_min_parallel_work(0);
    assert_eq!(alone, run());
    // The integer kernel, 8-bit activations: a wide plane (split by column blocks) and a small
    // one with more output-channel blocks (split by those), each with a partial block of 4.
    for (o, c, [h, w]) in [(37, 11, [19, 17]), (67, 13, [5, 6])] {
        let scales: Vec<f32> = (0..o).map(|r| 0.01 + r as f32 * 1e-3).collect();
        let weight: Vec<f32> =
            (0..o * c * 9).map(|i| (((i * 7919) % 255) as f32 - 127.0) * scales[i / (c * 9)]).collect();
        let x: Vec<f32> = (0..c * h * w).map(|i| ((i * 31) % 256) as f32 * 0.02 - 2.0).collect();
        let int = IntConv::new(&weight, [o, c, 3, 3]).expect("int8 weights");
        let run = || int.run(&x, [1, c, h, w], 0.02, None, None, &g(1, 1));
        set_min_parallel_work(usize::MAX);
        let alone = run();
        set_min_parallel_work(0);
        assert_eq!(alone, run(), "{o} × {c} at {h} × {w}");
    }
    // Element-wise loops in parts: every value visited once, whatever the split.
    let mut values: Vec<f32> = (0..5001).map(|i| i as f32).collect();
    convlens::model::cpu_par::chunks_mut(&mut values, 7, |run| {
        for v in run {
            *v = *v * 2.0 + 1.0;
        }
    });
    assert!(values.iter().enumerate().all(|(i, v)| *v == i as f32 * 2.0 + 1.0));
    set_min_parallel_work(convlens::model::cpu_par::MIN_PARALLEL_WORK);
}

/// A one-group convolution without bias in f64, output by output (`[N, O, H', W']` order):
/// the sum of its terms and the sum of their magnitudes, which bounds any float rounding.
fn exact_sums(
    x: &[f32],
    [n, c, h, w]: [usize; 4],
    weight: &[f32],
    [o, kh, kw]: [usize; 3],
    g: &ConvGeometry,
) -> Vec<(f64, f64)> {
    let [oh, ow] = g.output([h, w], [kh, kw]);
    let mut sums = Vec::with_capacity(n * o * oh * ow);
    for b in 0..n {
        for r in 0..o {
            for oy in 0..oh {
                for ox in 0..ow {
                    let (mut sum, mut magnitude) = (0f64, 0f64);
                    for ch in 0..c {
                        for ky in 0..kh {
                            for kx in 0..kw {
                                let iy = (oy * g.strides[0] + ky * g.dilations[0]) as isize - g.padding[0].0 as isize;
                                let ix = (ox * g.strides[1] + kx * g.dilations[1]) as isize - g.padding[1].0 as isize;
                                if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                                    continue;
                                }
                                let xv = x[((b * c + ch) * h + iy as usize) * w + ix as usize] as f64;
                                let term = xv * weight[((r * c + ch) * kh + ky) * kw + kx] as f64;
                                sum += term;
                                magnitude += term.abs();
                            }
                        }
                    }
                    sums.push((sum, magnitude));
                }
            }
        }
    }
    sums
}

#[test]
fn cpu_max_pool_matches_burn_floor_and_ceil_mode() {
    let mut rng = StdRng::seed_from_u64(11);
    let mut checked = 0;
    while checked < 300 {
        let (n, c, h, w) =
            (rng.random_range(1..3), rng.random_range(1..4), rng.random_range(1..14), rng.random_range(1..14));
        let kernel = [rng.random_range(1..5), rng.random_range(1..5)];
        let strides = [rng.random_range(1..4), rng.random_range(1..4)];
        // ONNX: padding smaller than the kernel.
        let pad = |k: usize, rng: &mut StdRng| (rng.random_range(0..k), rng.random_range(0..k));
        let padding = [pad(kernel[0], &mut rng), pad(kernel[1], &mut rng)];
        let ceil_mode = rng.random_bool(0.5);
        if h + padding[0].0 + padding[0].1 < kernel[0] || w + padding[1].0 + padding[1].1 < kernel[1] {
            continue;
        }
        let x: Vec<f32> = (0..n * c * h * w).map(|_| rng.random_range(-1.0..1.0)).collect();
        let options = MaxPoolOptions { kernel_size: kernel, stride: strides, padding, dilation: [1, 1], ceil_mode };
        let theirs = max_pool2d(Tensor::<4>::from_data(TensorData::new(x.clone(), [n, c, h, w]), &device()), options);
        let [_, _, oh, ow] = theirs.dims();
        let ours = convlens::model::cpu_pool::max_pool2d(&x, [n, c, h, w], kernel, strides, padding, [oh, ow]);
        let theirs = theirs.into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(
            ours,
            theirs,
            "{:?} kernel {kernel:?} strides {strides:?} pads {padding:?} ceil {ceil_mode}",
            [n, c, h, w]
        );
        checked += 1;
    }
}

#[test]
fn cpu_quantization_rounds_half_to_even_and_clamps() {
    use convlens::model::cpu_simd::{dequantize, quantize};
    // Ties (x / scale + zero exactly between two integers) in both directions, values beyond
    // the int8 range, and lengths that leave a remainder after the 4-wide SIMD steps.
    let scale = 0.5f32;
    let xs: Vec<f32> = (-300..300).map(|i| i as f32 * 0.25).collect();
    for len in [xs.len(), 7, 3] {
        let mut q = xs[..len].to_vec();
        quantize(&mut q, scale, 3.0, -128.0, 127.0);
        for (x, q) in xs.iter().zip(&q) {
            let want = (x / scale + 3.0).round_ties_even().clamp(-128.0, 127.0);
            assert_eq!(*q, want, "quantize({x})");
        }
        let mut d = q.clone();
        dequantize(&mut d, scale, 3.0);
        for (q, d) in q.iter().zip(&d) {
            assert_eq!(*d, (q - 3.0) * scale);
        }
    }
    let mut ties = vec![0.5f32, 1.5, 2.5, -0.5, -1.5, -2.5];
    quantize(&mut ties, 1.0, 0.0, -128.0, 127.0);
    assert_eq!(ties, [0.0, 2.0, 2.0, -0.0, -2.0, -2.0]);
}

#[test]
fn cpu_relu_gradient_masks_like_the_rules() {
    use convlens::model::cpu_simd::relu_gradient_to;
    let x: Vec<f32> = (0..23).map(|i| (i as f32 - 11.0) * 0.5).collect();
    let g: Vec<f32> = (0..23).map(|i| ((i * 7) % 5) as f32 - 2.0).collect();
    // A ReLU, and a bounded one whose upper bound lies on one of the inputs.
    for [lo, hi] in [[0.0, f32::INFINITY], [0.0, 3.0]] {
        for guided in [false, true] {
            let ours = relu_gradient_to(&x, &g, [lo, hi], guided);
            for i in 0..x.len() {
                let pass = lo < x[i] && x[i] < hi && (!guided || g[i] > 0.0);
                assert_eq!(ours[i], if pass { g[i] } else { 0.0 }, "guided {guided}, bounds {lo}..{hi}, element {i}");
            }
        }
    }
}

/// `∂ Σ(f(x) · r) / ∂x` for a random `r`: the input gradient of `f` for an arbitrary upstream
/// gradient.
fn input_gradient(x: &[f32], dims: [usize; 4], r: &[f32], f: &dyn Fn(Tensor<4>) -> Tensor<4>) -> Vec<f32> {
    let x = Tensor::<4>::from_data(TensorData::new(x.to_vec(), dims), &device()).autodiff().require_grad();
    let y = f(x.clone());
    let r = Tensor::<4>::from_data(TensorData::new(r.to_vec(), y.dims()), &device()).autodiff();
    let grads = (y * r).sum().backward();
    x.grad(&grads).unwrap().into_data().try_to_vec::<f32>().unwrap()
}

#[test]
fn cpu_max_pool_gradients_match_burns() {
    use convlens::model::max_pool_op::{PoolWindow, window_max_pool2d};
    let mut rng = StdRng::seed_from_u64(17);
    let mut checked = 0;
    while checked < 90 {
        // Every third case wide enough for four windows at a time inside a row (the SIMD path
        // in wasm), every other one with ties (a few levels, as after a ReLU or quantization),
        // where the first maximum of a window takes the gradient.
        let wide = if checked % 3 == 0 { 30 } else { 9 };
        let (n, c, h, w) =
            (rng.random_range(1..3), rng.random_range(1..4), rng.random_range(3..12), rng.random_range(3..3 + wide));
        let ties = checked % 2 == 0;
        let x: Vec<f32> = (0..n * c * h * w)
            .map(|_| if ties { rng.random_range(0..4) as f32 * 0.5 } else { rng.random_range(-1.0..1.0) })
            .collect();
        let k = rng.random_range(1..4);
        let (stride, pad) = (rng.random_range(1..3), rng.random_range(0..k));
        let ceil_mode = rng.random_bool(0.5);
        // Max pool (symmetric padding, as the executor uses the operation).
        let out = |size: usize| {
            let span = size + 2 * pad - k;
            let o = if ceil_mode { span.div_ceil(stride) + 1 } else { span / stride + 1 };
            // ONNX: the last window must start inside the input or the left padding.
            if ceil_mode && (o - 1) * stride >= size + pad { o - 1 } else { o }
        };
        let window = PoolWindow {
            kernel: [k, k],
            strides: [stride, stride],
            padding: [pad, pad],
            ceil_mode,
            out: [out(h), out(w)],
        };
        let r: Vec<f32> = (0..n * c * out(h) * out(w)).map(|_| rng.random_range(-1.0..1.0)).collect();
        let ours = input_gradient(&x, [n, c, h, w], &r, &|t| window_max_pool2d(t, window));
        let options = MaxPoolOptions {
            kernel_size: [k, k],
            stride: [stride, stride],
            padding: [(pad, pad), (pad, pad)],
            dilation: [1, 1],
            ceil_mode,
        };
        let theirs = input_gradient(&x, [n, c, h, w], &r, &|t| max_pool2d(t, options.clone()));
        assert_eq!(ours, theirs, "max pool {window:?} on {:?}", [n, c, h, w]);

        checked += 1;
    }
}

/// The input gradient of a convolution with constant weights (`model::conv_grad_op`: Winograd's
/// adjoint, the weights' transpose for 1×1 layers, turned weights through the forward kernels
/// at stride 1, a product and col2im otherwise) against
/// Burn's conv2d with autodiff, on 300 random geometries (grouped, depthwise, strided,
/// dilated, asymmetric padding, batches) and on layers large enough for Winograd.
#[test]
fn convolution_input_gradients_match_burns() {
    use convlens::model::conv_grad_op::{BackWeights, ConvBack, with_conv_backward};
    use std::sync::Arc;
    let mut rng = StdRng::seed_from_u64(23);
    let mut cases = Vec::new();
    while cases.len() < 300 {
        let depthwise = cases.len() % 4 == 3;
        let (groups, cg, og) = if depthwise {
            (rng.random_range(2..6), 1, 1)
        } else {
            ([1, 1, 1, 2, 3][rng.random_range(0..5)], rng.random_range(1..4), rng.random_range(1..4))
        };
        let (n, h, w) = (rng.random_range(1..3), rng.random_range(1..14), rng.random_range(1..14));
        let (kh, kw) = (rng.random_range(1..6), rng.random_range(1..6));
        let strides = if rng.random_bool(0.5) { [1, 1] } else { [rng.random_range(1..4), rng.random_range(1..4)] };
        let dilations = [rng.random_range(1..3), rng.random_range(1..3)];
        let padding =
            [(rng.random_range(0..3), rng.random_range(0..3)), (rng.random_range(0..3), rng.random_range(0..3))];
        let fits = |d: usize, size: usize, k: usize| size + padding[d].0 + padding[d].1 >= (k - 1) * dilations[d] + 1;
        if fits(0, h, kh) && fits(1, w, kw) {
            cases.push((
                [n, cg * groups, h, w],
                [og * groups, cg, kh, kw],
                ConvGeometry { strides, padding, dilations, groups },
            ));
        }
    }
    let same = [(1, 1); 2];
    let plain = |groups| ConvGeometry { strides: [1, 1], padding: same, dilations: [1, 1], groups };
    cases.extend([
        ([1, 64, 14, 14], [64, 64, 3, 3], plain(1)),
        ([2, 32, 28, 28], [48, 32, 3, 3], plain(1)),
        // Planes that are not whole tiles, no padding, uneven padding.
        ([1, 40, 15, 13], [32, 40, 3, 3], plain(1)),
        ([2, 64, 9, 11], [32, 64, 3, 3], ConvGeometry { padding: [(0, 0); 2], ..plain(1) }),
        ([1, 16, 30, 29], [20, 16, 3, 3], ConvGeometry { padding: [(0, 2), (2, 1)], ..plain(1) }),
        (
            [1, 3, 40, 40],
            [64, 3, 3, 3],
            ConvGeometry { strides: [2, 2], padding: [(0, 0); 2], dilations: [1, 1], groups: 1 },
        ),
    ]);
    for (x_shape, w_shape, g) in cases {
        let [n, c, h, w] = x_shape;
        let [o, _, kh, kw] = w_shape;
        let x: Vec<f32> = (0..n * c * h * w).map(|_| rng.random_range(-1.0..1.0)).collect();
        let weight: Vec<f32> = (0..w_shape.iter().product()).map(|_| rng.random_range(-1.0..1.0)).collect();
        // Slots for Winograd's weights, as the executor gives 3×3 layers of one group.
        let forward = ([kh, kw] == [3, 3] && g.groups == 1).then(|| Arc::new(Default::default()));
        let weights =
            Arc::new(BackWeights::new(Arc::new(weight.clone()), w_shape, forward).expect("weights of their shape"));
        let [oh, ow] = g.output([h, w], [kh, kw]);
        let r: Vec<f32> = (0..n * o * oh * ow).map(|_| rng.random_range(-1.0..1.0)).collect();
        let back = ConvBack { weights, input: x_shape, geometry: g };
        let ours = input_gradient(&x, x_shape, &r, &|t| {
            let values = t.clone().inner().into_data().try_to_vec::<f32>().unwrap();
            let y = cpu_conv2d(&values, x_shape, &weight, w_shape, None, None, &g);
            let y = Tensor::<4>::from_data(TensorData::new(y, [n, o, oh, ow]), &device()).autodiff();
            with_conv_backward(t, y, back.clone())
        });
        let wt = Tensor::<4>::from_data(TensorData::new(weight.clone(), w_shape), &device()).autodiff();
        let options = ConvOptions::new_with_padding(g.strides, g.padding, g.dilations, g.groups);
        let theirs = input_gradient(&x, x_shape, &r, &|t| conv2d(t, wt.clone(), None, options.clone()));
        let scale = theirs.iter().fold(1f32, |m, v| m.max(v.abs()));
        let worst = ours.iter().zip(&theirs).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(worst <= 1e-5 * scale, "{g:?} x {x_shape:?} w {w_shape:?}: worst difference {worst} (scale {scale})");
    }
}
