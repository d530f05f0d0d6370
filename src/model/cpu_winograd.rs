//! 3×3 stride-1 convolutions by Winograd's minimal filtering F(2×2, 3×3) (Lavin and Gray,
//! "Fast Algorithms for Convolutional Neural Networks", 2015). Each 2×2 block of outputs
//! ("tile") is computed from the 4×4 input patch under it: the patch and the 3×3 kernel are
//! each carried into a 4×4 transform domain (`V = Bᵀ d B`, `U = G g Gᵀ`), multiplied element by
//! element and summed over the input channels, and carried back (`Y = Aᵀ M A`). The sum over
//! channels for each of the 16 transform positions is one matrix product `[O, C] · [C, tiles]`,
//! so the products do 16 multiply-adds per tile and channel pair where im2col does 36: 2.25×
//! fewer. The transforms are additions only (and halvings of the weights), cheap beside the
//! products once there are a few channels each way ([`suits`]). Output planes from 13 × 13 on
//! take F(4×4, 3×3) instead ([`tile_for`]; its transforms in [`super::cpu_winograd4`]): 36
//! multiply-adds per tile and channel pair for 16 outputs, the same driver.
//!
//! Rounding differs from the direct sum by a few units in the last place of the terms'
//! magnitude (`tests/cpu_conv.rs` bounds it against an f64 sum). Infinite or NaN weights would
//! spread into neighbouring outputs through the transforms; such layers keep the direct kernel.

use super::cpu_conv::{ConvGeometry, product_alone};
use super::cpu_par::{SharedMut, for_each, parts};
use super::cpu_winograd4;

/// Fewer channels than this on either side, and the 16 products (each as long as the input
/// channels) run too short for gemm's kernels to pay back the transforms: with im2col over raw
/// pointers, 16 → 64 channels at 55 × 55 and 32 → 64 at 14 × 14 were 0.7–1.0× and 0.6× in wasm
/// (`examples/bench_conv.rs`, BENCHMARKS.md).
const MIN_CHANNELS: usize = 32;

/// Output planes smaller than this (27 × 27): the weights' transform, done per call, and the
/// products over few tiles cost more than the 2.25× fewer multiply-adds save (256 → 256 at
/// 14 × 14 0.86×, 7 × 7 planes 0.3–0.4×; 64 → 64 at 56 × 56 1.8×, 128 → 128 at 28 × 28 1.5×).
const MIN_OUTPUT_PIXELS: usize = 729;

/// With the weights transformed once per layer ([`suits_transformed`]) only the products
/// count: `examples/bench_conv.rs` in wasm (im2col time / Winograd time) gave 16 → 64 at
/// 55 × 55 1.85×, 32 → 128 at 27 × 27 1.18×, but 32 → 64 at 14 × 14 0.89× and 48 → 192 at
/// 13 × 13 0.92×; with 64 input channels or more even small planes gain (64 → 64 at 7 × 7
/// 1.45×, 512 → 512 at 7 × 7 1.47×, 256 → 256 at 14 × 14 1.82×). Since the output transform
/// runs over all tiles at once (no tail per row of tiles), small planes gain from 32 channels
/// on as well (the same comparison on an exact occlusion sweep's patch sizes, `bench_conv
/// [runs] patches` and a local variant of it: 32 → 128 at
/// 9 × 8 outputs 1.10×, at 10 × 9 1.37×; 48 → 192 at 8 × 7 1.20×, at 13 × 13 1.28×; 32 → 64 at
/// 14 × 14 1.22×; but 32 → 128 at 8 × 7 0.96×, 16 → 64 at 10 × 10 0.77×). Hence: at least 16
/// channels each way and 27 × 27 outputs, at least 32 and 64 outputs, or at least 64 input
/// channels and 7 × 7 outputs.
const TRANSFORMED_MIN_CHANNELS: usize = 16;
const TRANSFORMED_MIN_PIXELS: usize = 729;
const TRANSFORMED_MID_CHANNELS: usize = 32;
const TRANSFORMED_MID_MIN_PIXELS: usize = 64;
const TRANSFORMED_DEEP_CHANNELS: usize = 64;
const TRANSFORMED_DEEP_MIN_PIXELS: usize = 49;

/// Whether [`conv3x3`] computes this convolution of a `c × h × w` input into `o` channels: 3×3,
/// stride 1, no dilation, one group, enough channels and output pixels, finite weights.
pub fn suits(c: usize, o: usize, hw: [usize; 2], kernel: [usize; 2], g: &ConvGeometry, weight: &[f32]) -> bool {
    fits(kernel, g)
        && c.min(o) >= MIN_CHANNELS
        && g.output(hw, kernel).iter().product::<usize>() >= MIN_OUTPUT_PIXELS
        && weight.iter().all(|v| v.is_finite())
}

/// [`suits`] for weights transformed once ([`transform_weights`], then
/// [`conv3x3_transformed`]): a model's constant weights, kept by the network. The caller
/// checks that they are finite.
pub fn suits_transformed(c: usize, o: usize, hw: [usize; 2], kernel: [usize; 2], g: &ConvGeometry) -> bool {
    // The geometry first: `output` assumes a stride-1, undilated 3×3 window (a file's strides
    // and dilations can be anything).
    if !fits(kernel, g) || c.min(o) < TRANSFORMED_MIN_CHANNELS {
        return false;
    }
    let pixels = g.output(hw, kernel).iter().product::<usize>();
    pixels >= TRANSFORMED_MIN_PIXELS
        || (c.min(o) >= TRANSFORMED_MID_CHANNELS && pixels >= TRANSFORMED_MID_MIN_PIXELS)
        || (c >= TRANSFORMED_DEEP_CHANNELS && pixels >= TRANSFORMED_DEEP_MIN_PIXELS)
}

/// 3×3, stride 1, no dilation, one group.
fn fits(kernel: [usize; 2], g: &ConvGeometry) -> bool {
    kernel == [3, 3] && g.strides == [1, 1] && g.dilations == [1, 1] && g.groups == 1
}

/// Output planes from this size (27 × 27) on take Winograd's float kernel (F(4×4, 3×3), a
/// quarter of the multiply-adds) over the integer one ([`super::cpu_qconv`], about 1.7× the
/// float kernel's rate in wasm) for convolutions that could take either: the int8 QDQ
/// ResNet-18 under WASI (`bench_forward`) ran 52 → 44 ms with its 56 × 56 and 28 × 28 layers
/// on Winograd, and no faster with the 14 × 14 (256 channels) or 7 × 7 (512) ones as well,
/// whose transformed weights would cost 28 and 50 MB (BENCHMARKS.md).
const BEATS_INTEGERS_MIN_PIXELS: usize = 729;

/// Whether [`conv3x3_transformed`] beats the integer kernel on an output plane of `[h, w]`.
pub fn beats_integers([h, w]: [usize; 2]) -> bool {
    h * w >= BEATS_INTEGERS_MIN_PIXELS
}

/// Which of Winograd's algorithms: F(2×2, 3×3) (this file's transforms) or F(4×4, 3×3)
/// ([`super::cpu_winograd4`]), by the side of the output block each tile computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tile {
    Two = 0,
    Four = 1,
}

impl Tile {
    /// Outputs per tile side.
    fn side(self) -> usize {
        match self {
            Tile::Two => 2,
            Tile::Four => 4,
        }
    }

    /// Transform positions: the products per channel pair and tile.
    fn positions(self) -> usize {
        (self.side() + 2) * (self.side() + 2)
    }
}

/// Output planes from this size (13 × 13) on take F(4×4, 3×3). In wasm (`bench_conv`, medians,
/// two runs; time with F(2×2) / time with F(4×4)): 64 → 64 at 56 × 56 1.6×, 128 → 128 at
/// 28 × 28 1.5×, 16 → 64 at 55 × 55 1.3–1.6×, 64 → 256 at 13 × 13 1.1–1.6×, 256 → 256 at 14 × 14
/// 1.1×; at 7 × 7 about even (the tiles cover 8 × 8 either way) and on an occlusion sweep's small
/// patches mostly slower (a 4 × 4 tile wastes more of a patch's edge, and the products run over
/// fewer tiles).
const FOUR_MIN_PIXELS: usize = 169;

/// The algorithm for an output plane of `[h, w]`.
pub fn tile_for([h, w]: [usize; 2]) -> Tile {
    if h * w >= FOUR_MIN_PIXELS { Tile::Four } else { Tile::Two }
}

/// A layer's weights in one algorithm's transform domain ([`transform_weights`]).
#[derive(Clone, Debug)]
pub struct Transformed {
    pub tile: Tile,
    /// `[positions, O, C]`, each position's `[O, C]` as its product takes it.
    pub u: Weights,
}

/// The transformed weights' layout.
#[derive(Clone, Debug)]
pub enum Weights {
    /// Row-major, for [`product_alone`].
    Rows(Vec<f32>),
    /// In wasm, for layers of at most [`PACKED_MAX_CHANNELS`] input channels: packed once for
    /// [`super::cpu_gemm::gemm_packed`] ([`super::cpu_gemm::pack_lhs_all`], one position after
    /// another).
    Packed(Vec<f32>),
}

/// Input channels up to which, in wasm, a layer's transformed weights are kept packed
/// ([`Weights::Packed`]) and its products run the packed register blocks
/// ([`super::cpu_gemm::gemm_packed`]) instead of [`product_alone`], which packs the weights on
/// every call or, for few tiles, takes the narrow kernel's dot products. On the shapes of an
/// exact occlusion sweep's patches under WASI (`bench_conv 400 packed`, narrow ms / packed-once
/// ms): `[O, C] · [C, tiles]` of 256 × 64 by 12, 16, 28, 49 tiles 1.10, 1.37, 1.25, 1.24×;
/// 192 × 48 by 16, 28 1.48, 1.34×; 128 × 32 by 16, 28 1.69, 1.53×; 128 × 128 by 16, 36 1.21,
/// 1.09×; 512 × 128 by 16 1.19×. With more channels nothing is gained (256 × 256 by 16, 36 1.05,
/// 0.99×; 256 × 512 by 16 1.03×). With 9 tiles or fewer the packed blocks lose (256 × 64 by 9
/// 0.81×, by 4 0.92×: a panel of 4 columns has too few sums in flight), but only planes of at
/// most 6 × 6 outputs have so few, and keeping the weights in both layouts would double their
/// memory (12.7 MB more per worker for SqueezeNet), so a packed layer packs for every plane.
/// With relaxed SIMD (fused multiply-adds) the packed blocks gain with every width measured
/// (256 × 256 by 16, 36 1.21, 1.11×; 256 × 512 by 16 1.15×; `bench_conv` built with the
/// feature): that build packs layers of up to 512 input channels (ResNet-18's forward pass under
/// WASI 46.5 → 39.4 ms, ResNet-50's 142 → 134 ms).
pub const PACKED_MAX_CHANNELS: usize = if cfg!(feature = "relaxed-simd") { 512 } else { 128 };

/// `x` (`[N, C, H, W]`) convolved with the 3×3 `weight` (`[O, C, 3, 3]`) at stride 1 with
/// `padding` ((before, after) per axis), plus `bias`, then clamped to `clamp`: the same result
/// as [`super::cpu_conv::conv2d`] up to rounding, `[N, O, H', W']`.
#[inline(never)]
#[allow(clippy::too_many_arguments)]
pub fn conv3x3(
    x: &[f32],
    [n, c, h, w]: [usize; 4],
    weight: &[f32],
    o: usize,
    bias: Option<&[f32]>,
    clamp: Option<[f32; 2]>,
    padding: [(usize, usize); 2],
    tile: Tile,
) -> Vec<f32> {
    let u = transform_weights(weight, o, c, tile);
    conv3x3_transformed(x, [n, c, h, w], &u, o, bias, clamp, padding)
}

/// `weight` (`[O, C, 3, 3]`) carried into `tile`'s transform domain.
pub fn transform_weights(weight: &[f32], o: usize, c: usize, tile: Tile) -> Transformed {
    let u = match tile {
        Tile::Two => transform_weights_2x2(weight, o, c),
        Tile::Four => cpu_winograd4::transform_weights(weight, o, c),
    };
    let u = if cfg!(target_arch = "wasm32") && c <= PACKED_MAX_CHANNELS {
        let (positions, step) = (tile.positions(), o * c);
        Weights::Packed(
            (0..positions).flat_map(|xi| super::cpu_gemm::pack_lhs_all(&u[xi * step..][..step], c, [o, c])).collect(),
        )
    } else {
        Weights::Rows(u)
    };
    Transformed { tile, u }
}

/// [`conv3x3`] with the weights already transformed by [`transform_weights`] (`t`).
#[inline(never)]
pub fn conv3x3_transformed(
    x: &[f32],
    [n, c, h, w]: [usize; 4],
    t: &Transformed,
    o: usize,
    bias: Option<&[f32]>,
    clamp: Option<[f32; 2]>,
    padding: [(usize, usize); 2],
) -> Vec<f32> {
    let tile = t.tile;
    let (side, positions) = (tile.side(), tile.positions());
    // Each position's weights: `[O, C]`, packed ones padded to whole blocks of rows.
    let (all, step) = match &t.u {
        Weights::Rows(u) => (u, o * c),
        Weights::Packed(u) => (u, super::cpu_gemm::packed_len([o, c])),
    };
    assert_eq!(all.len(), positions * step, "transformed weights for {o} × {c} channels");
    let [(top, bottom), (left, right)] = padding;
    let (oh, ow) = (h + top + bottom - 2, w + left + right - 2);
    let (th, tw) = (oh.div_ceil(side), ow.div_ceil(side));
    let tiles = th * tw;
    // Each stage runs in parts on the pool's threads (model::cpu_par), one scratch buffer set
    // per part: the input channels' transforms, the products, the output channels'.
    // One input plane with its padding, large enough for whole tiles: the parts outside the
    // image stay zero from the first fill, the image part is overwritten per channel.
    let (ph, pw) = (side * th + 2, side * tw + 2);
    let mut v = vec![0f32; positions * c * tiles];
    // (Three values more: the output transform reads whole vectors past the last tile.)
    let mut m = vec![0f32; positions * o * tiles + 3];
    let mut out = vec![0f32; n * o * oh * ow];
    let [lo, hi] = clamp.unwrap_or([f32::NEG_INFINITY, f32::INFINITY]);
    let (inputs, outputs, products) = (parts(c, 1), parts(o, 1), parts(positions, 1));
    for b in 0..n {
        let vs = SharedMut(v.as_mut_ptr());
        for_each(inputs.len(), positions * c * tiles, |p| {
            let mut plane = vec![0f32; ph * pw];
            let mut rows = vec![0f32; (side + 2) * cpu_winograd4::rows_stride(pw)];
            for ch in inputs[p].clone() {
                let input = &x[(b * c + ch) * h * w..][..h * w];
                for (y, line) in input.chunks_exact(w).enumerate() {
                    plane[(y + top) * pw + left..][..w].copy_from_slice(line);
                }
                let (at, len) = (ch * tiles, positions * c * tiles);
                // SAFETY: channel ch writes only v[ξ · c·tiles + ch·tiles + t] for t < tiles,
                // within `v`; no other channel, so no other part, writes those.
                unsafe {
                    match tile {
                        Tile::Two => transform_input(&plane, pw, [th, tw], &mut rows, vs, at, len, c * tiles),
                        Tile::Four => {
                            cpu_winograd4::transform_input(&plane, pw, [th, tw], &mut rows, vs, at, len, c * tiles)
                        }
                    }
                };
            }
        });
        let ms = SharedMut(m.as_mut_ptr());
        for_each(products.len(), positions * o * c * tiles, |p| {
            for xi in products[p].clone() {
                // SAFETY: position ξ's product is its own span of `m`.
                let dst = unsafe { ms.slice(xi * o * tiles, o * tiles) };
                let (rhs, weights) = (&v[xi * c * tiles..][..c * tiles], xi * step..(xi + 1) * step);
                match &t.u {
                    // SAFETY: `dst` holds o × tiles values and `rhs` c × tiles; position ξ's
                    // packed weights are `[O, C]`'s (the assert above).
                    Weights::Packed(u) => unsafe {
                        super::cpu_gemm::gemm_packed(
                            dst.as_mut_ptr(),
                            &u[weights],
                            rhs.as_ptr(),
                            [o, c, tiles],
                            [tiles, tiles],
                        )
                    },
                    Weights::Rows(u) => product_alone(dst, &u[weights], rhs, [o, c, tiles]),
                }
            }
        });
        let image = SharedMut(out[b * o * oh * ow..].as_mut_ptr());
        for_each(outputs.len(), positions * o * tiles, |p| {
            // (Four values more: F(4×4) reads whole vectors past its last run.)
            let mut blocks = vec![0f32; side * side * tiles.next_multiple_of(4) + 4];
            for r in outputs[p].clone() {
                // SAFETY: output channel r's plane of image b, written by this part alone.
                let plane_out = unsafe { image.slice(r * oh * ow, oh * ow) };
                let add = bias.map_or(0.0, |b| b[r]);
                let (m, stride) = (&m[r * tiles..], o * tiles);
                match tile {
                    Tile::Two => transform_output(m, stride, [th, tw], [oh, ow], &mut blocks, plane_out, add, [lo, hi]),
                    Tile::Four => cpu_winograd4::transform_output(
                        m,
                        stride,
                        [th, tw],
                        [oh, ow],
                        &mut blocks,
                        plane_out,
                        add,
                        [lo, hi],
                    ),
                }
            }
        });
    }
    out
}

/// The gradient to the input `x` (`[N, C, H, W]`) of [`conv3x3_transformed`]`(x, …, t, o, None,
/// None, padding)` from the gradient to its output, `dy` (`[N, O, H', W']`): the same algorithm
/// run backwards (its adjoint), on the forward pass's transformed weights, so that a backward
/// pass keeps no weights of its own. Per tile, `A dy Aᵀ` carries the output gradient into the
/// transform domain; each position's product by `Uᵀ` (`[C, O] · [O, tiles]`, the forward's
/// `[O, C]` read transposed where it lies) sums over the output channels; `B M Bᵀ` carries each
/// input channel's sums back to its patch, and the patches, which overlap by two rows and
/// columns, are added onto the padded plane, whose image part is the gradient.
pub fn conv3x3_transformed_input_gradient(
    dy: &[f32],
    [n, o, oh, ow]: [usize; 4],
    t: &Transformed,
    c: usize,
    [h, w]: [usize; 2],
    padding: [(usize, usize); 2],
) -> Vec<f32> {
    let tile = t.tile;
    let (side, positions) = (tile.side(), tile.positions());
    let (all, step) = match &t.u {
        Weights::Rows(u) => (u, o * c),
        Weights::Packed(u) => (u, super::cpu_gemm::packed_len([o, c])),
    };
    assert_eq!(all.len(), positions * step, "transformed weights for {o} × {c} channels");
    let [(top, bottom), (left, right)] = padding;
    assert_eq!([oh, ow], [h + top + bottom - 2, w + left + right - 2], "a 3×3 convolution's output");
    assert_eq!(dy.len(), n * o * oh * ow, "output gradient of the convolution's output size");
    let (th, tw) = (oh.div_ceil(side), ow.div_ceil(side));
    let tiles = th * tw;
    let (ph, pw) = (side * th + 2, side * tw + 2);
    let mut v = vec![0f32; positions * o * tiles];
    let mut m = vec![0f32; positions * c * tiles];
    let mut dx = vec![0f32; n * c * h * w];
    let (inputs, outputs, products) = (parts(c, 1), parts(o, 1), parts(positions, 1));
    for b in 0..n {
        let vs = SharedMut(v.as_mut_ptr());
        for_each(outputs.len(), positions * o * tiles, |p| {
            let mut rows = vec![0f32; 6 * side * tw];
            for r in outputs[p].clone() {
                let plane = &dy[(b * o + r) * oh * ow..][..oh * ow];
                // SAFETY: output channel r writes only v[ξ · o·tiles + r·tiles + t], within
                // `v`; no other part writes those.
                unsafe {
                    match tile {
                        Tile::Two => {
                            adjoint_output::<F2>(plane, [oh, ow], [th, tw], &mut rows, vs, r * tiles, o * tiles)
                        }
                        Tile::Four => {
                            adjoint_output::<F4>(plane, [oh, ow], [th, tw], &mut rows, vs, r * tiles, o * tiles)
                        }
                    }
                }
            }
        });
        let ms = SharedMut(m.as_mut_ptr());
        for_each(products.len(), positions * o * c * tiles, |p| {
            for xi in products[p].clone() {
                // SAFETY: position ξ's product is its own span of `m`.
                let dst = unsafe { ms.slice(xi * c * tiles, c * tiles) };
                let rhs = &v[xi * o * tiles..][..o * tiles];
                let weights = &all[xi * step..][..step];
                match &t.u {
                    Weights::Rows(_) => super::cpu_conv::product_transposed_alone(dst, weights, rhs, [c, o, tiles]),
                    // SAFETY: `dst` holds c × tiles values and `rhs` o × tiles; position ξ's
                    // packed weights are `[O, C]`'s (the assert above).
                    Weights::Packed(_) => unsafe {
                        let lhs = super::cpu_gemm::Lhs::PackedTransposed { packed: weights.as_ptr(), shape: [o, c] };
                        super::cpu_gemm::gemm_from(dst.as_mut_ptr(), lhs, rhs.as_ptr(), [c, o, tiles], [tiles, tiles])
                    },
                }
            }
        });
        let image = SharedMut(dx[b * c * h * w..].as_mut_ptr());
        for_each(inputs.len(), positions * c * tiles, |p| {
            let mut plane = vec![0f32; ph * pw];
            let mut rows = vec![0f32; 6 * pw];
            for ch in inputs[p].clone() {
                let sums = &m[ch * tiles..];
                match tile {
                    Tile::Two => adjoint_input::<F2>(sums, c * tiles, [th, tw], &mut rows, &mut plane, pw),
                    Tile::Four => adjoint_input::<F4>(sums, c * tiles, [th, tw], &mut rows, &mut plane, pw),
                }
                // SAFETY: input channel ch's plane of image b, written by this part alone.
                let out = unsafe { image.slice(ch * h * w, h * w) };
                for y in 0..h {
                    out[y * w..][..w].copy_from_slice(&plane[(y + top) * pw + left..][..w]);
                }
            }
        });
    }
    dx
}

/// The adjoint transforms of one algorithm, for [`conv3x3_transformed_input_gradient`]: `A y`
/// (a column of `SIDE` output gradients to `ALPHA` transform positions) and `B z` (a column of
/// `ALPHA` sums back onto a patch's `ALPHA` rows), in arrays of the larger algorithm's sizes.
trait Adjoint {
    const SIDE: usize;
    const ALPHA: usize;
    fn a(y: [f32; 4]) -> [f32; 6];
    fn b(z: [f32; 6]) -> [f32; 6];
    /// [`Adjoint::a`] on four lanes (unused entries zero).
    #[cfg(target_arch = "wasm32")]
    fn a4(y: [core::arch::wasm32::v128; 4]) -> [core::arch::wasm32::v128; 6];
    /// [`Adjoint::b`] on four lanes.
    #[cfg(target_arch = "wasm32")]
    fn b4(z: [core::arch::wasm32::v128; 6]) -> [core::arch::wasm32::v128; 6];
}

/// F(2×2, 3×3): `Aᵀ = [[1, 1, 1, 0], [0, 1, −1, −1]]`, `Bᵀ` as in [`transform_input`].
struct F2;
/// F(4×4, 3×3) ([`cpu_winograd4`]).
struct F4;

impl Adjoint for F2 {
    const SIDE: usize = 2;
    const ALPHA: usize = 4;
    #[inline(always)]
    fn a([y0, y1, _, _]: [f32; 4]) -> [f32; 6] {
        [y0, y0 + y1, y0 - y1, -y1, 0.0, 0.0]
    }
    #[inline(always)]
    fn b([z0, z1, z2, z3, _, _]: [f32; 6]) -> [f32; 6] {
        [z0, z1 - z2 + z3, z1 + z2 - z0, -z3, 0.0, 0.0]
    }
    #[cfg(target_arch = "wasm32")]
    #[inline(always)]
    fn a4([y0, y1, _, _]: [core::arch::wasm32::v128; 4]) -> [core::arch::wasm32::v128; 6] {
        use core::arch::wasm32::*;
        let zero = f32x4_splat(0.0);
        [y0, f32x4_add(y0, y1), f32x4_sub(y0, y1), f32x4_neg(y1), zero, zero]
    }
    #[cfg(target_arch = "wasm32")]
    #[inline(always)]
    fn b4([z0, z1, z2, z3, _, _]: [core::arch::wasm32::v128; 6]) -> [core::arch::wasm32::v128; 6] {
        use core::arch::wasm32::*;
        let zero = f32x4_splat(0.0);
        [z0, f32x4_add(f32x4_sub(z1, z2), z3), f32x4_sub(f32x4_add(z1, z2), z0), f32x4_neg(z3), zero, zero]
    }
}

impl Adjoint for F4 {
    const SIDE: usize = 4;
    const ALPHA: usize = 6;
    #[inline(always)]
    fn a(y: [f32; 4]) -> [f32; 6] {
        cpu_winograd4::adjoint_output(y)
    }
    #[inline(always)]
    fn b(z: [f32; 6]) -> [f32; 6] {
        cpu_winograd4::adjoint_input(z)
    }
    #[cfg(target_arch = "wasm32")]
    #[inline(always)]
    fn a4(y: [core::arch::wasm32::v128; 4]) -> [core::arch::wasm32::v128; 6] {
        cpu_winograd4::simd::adjoint_output4(y)
    }
    #[cfg(target_arch = "wasm32")]
    #[inline(always)]
    fn b4(z: [core::arch::wasm32::v128; 6]) -> [core::arch::wasm32::v128; 6] {
        cpu_winograd4::simd::adjoint_input4(z)
    }
}

/// `A Y Aᵀ` for every tile of one output channel's gradient (`plane`, `oh × ow`, zero past its
/// edges): position `ξ` of tile `t` to `v[at + ξ · stride + t]`. Per row of tiles, the
/// vertical half for whole rows at once (into `rows`, `ALPHA` of `SIDE · tw`), then the
/// horizontal half per tile. (Raw indices and no iterator adapters: at the release profile's
/// opt-level "z" those stay calls.)
///
/// # Safety
/// `v` holds every `v[at + ξ · stride + t]`, and no other thread touches those meanwhile.
#[allow(clippy::needless_range_loop)]
unsafe fn adjoint_output<T: Adjoint>(
    plane: &[f32],
    [oh, ow]: [usize; 2],
    [th, tw]: [usize; 2],
    rows: &mut [f32],
    v: SharedMut<f32>,
    at: usize,
    stride: usize,
) {
    let (side, alpha) = (T::SIDE, T::ALPHA);
    let rw = side * tw;
    assert!(rows.len() >= alpha * rw && plane.len() >= oh * ow && ow <= rw && oh <= side * th);
    let (src, rp) = (plane.as_ptr(), rows.as_mut_ptr());
    // SAFETY: rows side·ty + k < oh and columns x < ow of the plane, rows i < alpha and
    // columns x < rw of `rows` (asserted), v's values by the caller's promise.
    unsafe {
        for ty in 0..th {
            let lines = side.min(oh - side * ty);
            let line = src.add(side * ty * ow);
            let done = if lines == side { adjoint_simd::output_rows::<T>(line, ow, rp, rw) } else { 0 };
            for x in done..rw {
                let mut y = [0f32; 4];
                if x < ow {
                    for k in 0..lines {
                        y[k] = *line.add(k * ow + x);
                    }
                }
                let e = T::a(y);
                for i in 0..alpha {
                    *rp.add(i * rw + x) = e[i];
                }
            }
            for i in 0..alpha {
                let (r, base) = (rp.add(i * rw), v.ptr().add(at + alpha * i * stride + ty * tw));
                for tx in adjoint_simd::output_columns::<T>(r, base, stride, tw)..tw {
                    let q = r.add(side * tx);
                    let e = T::a([*q, *q.add(1), *q.add(2 % side), *q.add(3 % side)]);
                    for j in 0..alpha {
                        *base.add(j * stride + tx) = e[j];
                    }
                }
            }
        }
    }
}

/// `B M Bᵀ` for every tile of one input channel (`m[ξ · stride + t]`: position `ξ` of tile
/// `t`), onto the plane `plane` (`pw` wide, overwritten) where the tile's patch lies: per row
/// of tiles, the horizontal half per tile into `rows` (`ALPHA` rows of `pw`, the patches'
/// overlapping columns added), then the vertical half for whole rows at once, added onto the
/// plane's `ALPHA` rows under the row of tiles (which overlap the next row's).
#[allow(clippy::needless_range_loop)]
fn adjoint_input<T: Adjoint>(
    m: &[f32],
    stride: usize,
    [th, tw]: [usize; 2],
    rows: &mut [f32],
    plane: &mut [f32],
    pw: usize,
) {
    let (side, alpha) = (T::SIDE, T::ALPHA);
    assert!(rows.len() >= alpha * pw && pw >= side * tw + 2 && plane.len() >= (side * th + 2) * pw);
    assert!(th * tw == 0 || m.len() >= (alpha * alpha - 1) * stride + th * tw);
    plane.fill(0.0);
    let (mp, rp, pp) = (m.as_ptr(), rows.as_mut_ptr(), plane.as_mut_ptr());
    // SAFETY: every m[ξ · stride + t] (asserted), rows i < alpha and columns below
    // side·tw + 2 ≤ pw of `rows`, rows below side·th + 2 of the plane.
    unsafe {
        for ty in 0..th {
            rows[..alpha * pw].fill(0.0);
            for i in 0..alpha {
                let (src, row) = (mp.add(alpha * i * stride + ty * tw), rp.add(i * pw));
                for tx in adjoint_simd::input_columns::<T>(src, stride, row, tw)..tw {
                    let mut z = [0f32; 6];
                    for j in 0..alpha {
                        z[j] = *src.add(j * stride + tx);
                    }
                    let d = T::b(z);
                    let q = row.add(side * tx);
                    for j in 0..alpha {
                        *q.add(j) += d[j];
                    }
                }
            }
            let top = pp.add(side * ty * pw);
            for x in adjoint_simd::input_rows::<T>(rp, pw, top, side * tw + 2)..side * tw + 2 {
                let mut z = [0f32; 6];
                for i in 0..alpha {
                    z[i] = *rp.add(i * pw + x);
                }
                let d = T::b(z);
                for i in 0..alpha {
                    *top.add(i * pw + x) += d[i];
                }
            }
        }
    }
}

/// `U = G g Gᵀ` for every kernel, `[16, O, C]` (transform position major, then the product's
/// rows and columns), with `G = [[1, 0, 0], [½, ½, ½], [½, −½, ½], [0, 0, 1]]`. For 512 × 512
/// channels this pass costs about as much as the products on a 7 × 7 plane, hence
/// [`conv3x3_transformed`] for weights used again and again.
fn transform_weights_2x2(weight: &[f32], o: usize, c: usize) -> Vec<f32> {
    let mut u = vec![0f32; 16 * o * c];
    let plane = o * c;
    for (k, g) in weight.chunks_exact(9).enumerate() {
        // G g: four rows of three.
        let mut a = [0f32; 12];
        for x in 0..3 {
            let (g0, g1, g2) = (g[x], g[3 + x], g[6 + x]);
            a[x] = g0;
            a[3 + x] = (g0 + g1 + g2) * 0.5;
            a[6 + x] = (g0 - g1 + g2) * 0.5;
            a[9 + x] = g2;
        }
        // (G g) Gᵀ: each row of three to four.
        for i in 0..4 {
            let (r0, r1, r2) = (a[3 * i], a[3 * i + 1], a[3 * i + 2]);
            let at = 4 * i * plane + k;
            u[at] = r0;
            u[at + plane] = (r0 + r1 + r2) * 0.5;
            u[at + 2 * plane] = (r0 - r1 + r2) * 0.5;
            u[at + 3 * plane] = r2;
        }
    }
    u
}

/// `V = Bᵀ d B` for every 4×4 patch `d` of `plane` (`pw` wide) at the tiles' even offsets, with
/// `Bᵀ = [[1, 0, −1, 0], [0, 1, 1, 0], [0, −1, 1, 0], [0, 1, 0, −1]]`; position `ξ` of tile `t`
/// goes to `v[ξ · stride + t]`. The row half of the transform is done for whole rows at once
/// (into `rows`, 4 × `pw`), the column half per tile; in wasm both four at a time ([`simd`]),
/// the rest one at a time here.
///
/// # Safety
/// `v` points to `len` values, and no other thread reads or writes the ones this call writes.
#[allow(clippy::too_many_arguments)]
unsafe fn transform_input(
    plane: &[f32],
    pw: usize,
    [th, tw]: [usize; 2],
    rows: &mut [f32],
    v: SharedMut<f32>,
    at: usize,
    len: usize,
    stride: usize,
) {
    assert!(plane.len() >= (2 * th + 2) * pw && pw >= 2 * tw + 2 && rows.len() >= 4 * pw);
    assert!(len >= at + 15 * stride + th * tw);
    // SAFETY: within the `len` values (the caller's promise and the assert above).
    let (rows, v) = (rows.as_mut_ptr(), unsafe { v.ptr().add(at) });
    // SAFETY: by the asserts, rows 2·ty … 2·ty + 3 of the plane, the four row buffers and
    // columns 2·tx … 2·tx + 3 of them, and every v[ξ · stride + t] are within their buffers.
    unsafe {
        for ty in 0..th {
            let d = plane.as_ptr().add(2 * ty * pw);
            for x in simd::input_rows(d, pw, rows)..pw {
                let (d0, d1, d2, d3) = (*d.add(x), *d.add(pw + x), *d.add(2 * pw + x), *d.add(3 * pw + x));
                *rows.add(x) = d0 - d2;
                *rows.add(pw + x) = d1 + d2;
                *rows.add(2 * pw + x) = d2 - d1;
                *rows.add(3 * pw + x) = d1 - d3;
            }
            for i in 0..4 {
                let (r, base) = (rows.add(i * pw), v.add(4 * i * stride + ty * tw));
                for tx in simd::input_columns(r, base, stride, tw)..tw {
                    let p = r.add(2 * tx);
                    let (p0, p1, p2, p3) = (*p, *p.add(1), *p.add(2), *p.add(3));
                    *base.add(tx) = p0 - p2;
                    *base.add(stride + tx) = p1 + p2;
                    *base.add(2 * stride + tx) = p2 - p1;
                    *base.add(3 * stride + tx) = p1 - p3;
                }
            }
        }
    }
}

/// `Y = Aᵀ M A` for every tile of one output channel, with `Aᵀ = [[1, 1, 1, 0], [0, 1, −1, −1]]`:
/// `m[ξ · stride + t]` is position `ξ` of tile `t`. Two passes: over the tiles in their flat
/// order (in wasm four at a time, [`simd`], with no tail: `m` holds three values more than its
/// last tile, and `quads` room for whole vectors), each tile's 2×2 block with `add` added and
/// clamped to `[lo, hi]` goes into `quads` (`[4, tiles]`, rounded up to whole vectors: top left,
/// top right, bottom left, bottom right); then each output row of the `oh × ow` plane `out`
/// interleaves two of those runs. A row of tiles in the first pass would leave a scalar tail
/// on every row: on a sweep's small patches (five or six tiles wide) that tail cost as much
/// as the vectors.
#[allow(clippy::too_many_arguments)]
fn transform_output(
    m: &[f32],
    stride: usize,
    [th, tw]: [usize; 2],
    [oh, ow]: [usize; 2],
    quads: &mut [f32],
    out: &mut [f32],
    add: f32,
    [lo, hi]: [f32; 2],
) {
    let tiles = th * tw;
    let padded = tiles.next_multiple_of(4);
    assert!(m.len() >= 15 * stride + padded && quads.len() >= 4 * padded);
    assert!(out.len() >= oh * ow && oh <= 2 * th && ow <= 2 * tw);
    let (mp, qp) = (m.as_ptr(), quads.as_mut_ptr());
    // SAFETY: by the asserts, every m[ξ · stride + t] for t < padded and quads[k · padded + t]
    // are within their slices.
    unsafe {
        for t in simd::output_quads(mp, stride, padded, qp, add, [lo, hi])..tiles {
            let e = |i: usize, j: usize| *mp.add((4 * i + j) * stride + t);
            let s = [0, 1, 2, 3].map(|j| e(0, j) + e(1, j) + e(2, j));
            let d = [0, 1, 2, 3].map(|j| e(1, j) - e(2, j) - e(3, j));
            let y = [s[0] + s[1] + s[2], s[1] - s[2] - s[3], d[0] + d[1] + d[2], d[1] - d[2] - d[3]];
            for (k, y) in y.into_iter().enumerate() {
                let y = y + add;
                let y = if y < lo { lo } else { y };
                *qp.add(k * padded + t) = if hi < y { hi } else { y };
            }
        }
    }
    for (y, row) in out.chunks_exact_mut(ow).take(oh).enumerate() {
        let at = (y % 2) * 2 * padded + (y / 2) * tw;
        let (left, right) = (&quads[at..][..tw], &quads[at + padded..][..tw]);
        // SAFETY: `left` and `right` hold tw values each, and 2·tw ≥ ow.
        let done = unsafe { simd::interleave(left.as_ptr(), right.as_ptr(), row.as_mut_ptr(), ow) };
        for x in done..ow {
            row[x] = if x % 2 == 0 { left[x / 2] } else { right[x / 2] };
        }
    }
}

/// Natively the adjoint transforms run one at a time in the callers' loops: nothing is done here.
#[cfg(not(target_arch = "wasm32"))]
mod adjoint_simd {
    use super::Adjoint;

    pub unsafe fn output_rows<T: Adjoint>(_: *const f32, _: usize, _: *mut f32, _: usize) -> usize {
        0
    }

    pub unsafe fn output_columns<T: Adjoint>(_: *const f32, _: *mut f32, _: usize, _: usize) -> usize {
        0
    }

    pub unsafe fn input_columns<T: Adjoint>(_: *const f32, _: usize, _: *mut f32, _: usize) -> usize {
        0
    }

    pub unsafe fn input_rows<T: Adjoint>(_: *const f32, _: usize, _: *mut f32, _: usize) -> usize {
        0
    }
}

/// The adjoint transforms four columns or four tiles at a time in SIMD128 registers; each
/// function does what fits in whole vectors and returns where the callers' loops go on. (The
/// vectors by constant indices, the sixth and fifth under `ALPHA == 6`, a constant: an array
/// indexed in a loop would live in memory.)
#[cfg(target_arch = "wasm32")]
mod adjoint_simd {
    use core::arch::wasm32::*;

    use super::Adjoint;
    use super::cpu_winograd4::simd::transpose;
    use super::simd::{load, store};

    /// `e[0..ALPHA]` to `p`, `stride` apart.
    #[inline(always)]
    unsafe fn store_all<T: Adjoint>(p: *mut f32, stride: usize, e: [v128; 6]) {
        unsafe {
            store(p, e[0]);
            store(p.add(stride), e[1]);
            store(p.add(2 * stride), e[2]);
            store(p.add(3 * stride), e[3]);
            if T::ALPHA == 6 {
                store(p.add(4 * stride), e[4]);
                store(p.add(5 * stride), e[5]);
            }
        }
    }

    /// `ALPHA` vectors from `p`, `stride` apart (the rest zero).
    #[inline(always)]
    unsafe fn load_all<T: Adjoint>(p: *const f32, stride: usize) -> [v128; 6] {
        unsafe {
            let zero = f32x4_splat(0.0);
            let (e4, e5) =
                if T::ALPHA == 6 { (load(p.add(4 * stride)), load(p.add(5 * stride))) } else { (zero, zero) };
            [load(p), load(p.add(stride)), load(p.add(2 * stride)), load(p.add(3 * stride)), e4, e5]
        }
    }

    /// `p[k] += v` for four lanes.
    #[inline(always)]
    unsafe fn add_to(p: *mut f32, v: v128) {
        unsafe { store(p, f32x4_add(load(p), v)) }
    }

    /// [`super::adjoint_output`]'s vertical half for `SIDE` whole rows at `line` (`ow` apart),
    /// four columns at a time while they lie within `ow`, into `rows` (`rw` apart).
    #[target_feature(enable = "simd128")]
    pub unsafe fn output_rows<T: Adjoint>(line: *const f32, ow: usize, rows: *mut f32, rw: usize) -> usize {
        let mut x = 0;
        unsafe {
            while x + 4 <= ow {
                let p = line.add(x);
                let zero = f32x4_splat(0.0);
                let y = if T::SIDE == 4 {
                    [load(p), load(p.add(ow)), load(p.add(2 * ow)), load(p.add(3 * ow))]
                } else {
                    [load(p), load(p.add(ow)), zero, zero]
                };
                store_all::<T>(rows.add(x), rw, T::a4(y));
                x += 4;
            }
        }
        x
    }

    /// [`super::adjoint_output`]'s horizontal half for one row `r`, four tiles at a time: their
    /// `SIDE` columns by lane shuffles of `SIDE` loads.
    #[target_feature(enable = "simd128")]
    pub unsafe fn output_columns<T: Adjoint>(r: *const f32, base: *mut f32, stride: usize, tw: usize) -> usize {
        let mut tx = 0;
        unsafe {
            while tx + 4 <= tw {
                let p = r.add(T::SIDE * tx);
                let y = if T::SIDE == 4 {
                    // Lane l of y[k]: tile tx + l's column k.
                    transpose([load(p), load(p.add(4)), load(p.add(8)), load(p.add(12))])
                } else {
                    let (a, b) = (load(p), load(p.add(4)));
                    let zero = f32x4_splat(0.0);
                    [i32x4_shuffle::<0, 2, 4, 6>(a, b), i32x4_shuffle::<1, 3, 5, 7>(a, b), zero, zero]
                };
                store_all::<T>(base.add(tx), stride, T::a4(y));
                tx += 4;
            }
        }
        tx
    }

    /// [`super::adjoint_input`]'s horizontal half for one transform row, four tiles at a time:
    /// each position's four tiles by one load (`src`, `stride` apart), the patches' columns
    /// added onto `row` (tile t's at `SIDE · t`): the first `SIDE` of each tile by a lane
    /// transposition (whole vectors side by side), the last two, which overlap the next tile's,
    /// one at a time.
    #[target_feature(enable = "simd128")]
    pub unsafe fn input_columns<T: Adjoint>(src: *const f32, stride: usize, row: *mut f32, tw: usize) -> usize {
        let mut tx = 0;
        unsafe {
            while tx + 4 <= tw {
                let d = T::b4(load_all::<T>(src.add(tx), stride));
                let q = row.add(T::SIDE * tx);
                if T::SIDE == 4 {
                    let [t0, t1, t2, t3] = transpose([d[0], d[1], d[2], d[3]]);
                    add_to(q, t0);
                    add_to(q.add(4), t1);
                    add_to(q.add(8), t2);
                    add_to(q.add(12), t3);
                    let tail = [d[4], d[5]].map(|v| {
                        [
                            f32x4_extract_lane::<0>(v),
                            f32x4_extract_lane::<1>(v),
                            f32x4_extract_lane::<2>(v),
                            f32x4_extract_lane::<3>(v),
                        ]
                    });
                    for l in 0..4 {
                        *q.add(4 * l + 4) += tail[0][l];
                        *q.add(4 * l + 5) += tail[1][l];
                    }
                } else {
                    // Tile l's columns 2l, 2l + 1 from d[0], d[1]; 2l + 2, 2l + 3 from d[2], d[3].
                    add_to(q, i32x4_shuffle::<0, 4, 1, 5>(d[0], d[1]));
                    add_to(q.add(4), i32x4_shuffle::<2, 6, 3, 7>(d[0], d[1]));
                    add_to(q.add(2), i32x4_shuffle::<0, 4, 1, 5>(d[2], d[3]));
                    add_to(q.add(6), i32x4_shuffle::<2, 6, 3, 7>(d[2], d[3]));
                }
                tx += 4;
            }
        }
        tx
    }

    /// [`super::adjoint_input`]'s vertical half for the `ALPHA` rows at `rows` (`pw` apart),
    /// four columns at a time below `width`, added onto the plane's rows at `top`.
    #[target_feature(enable = "simd128")]
    pub unsafe fn input_rows<T: Adjoint>(rows: *const f32, pw: usize, top: *mut f32, width: usize) -> usize {
        let mut x = 0;
        unsafe {
            while x + 4 <= width {
                let d = T::b4(load_all::<T>(rows.add(x), pw));
                let p = top.add(x);
                add_to(p, d[0]);
                add_to(p.add(pw), d[1]);
                add_to(p.add(2 * pw), d[2]);
                add_to(p.add(3 * pw), d[3]);
                if T::ALPHA == 6 {
                    add_to(p.add(4 * pw), d[4]);
                    add_to(p.add(5 * pw), d[5]);
                }
                x += 4;
            }
        }
        x
    }
}

/// Natively the transforms run one tile at a time in the callers' loops (LLVM vectorizes
/// them there): nothing is done here.
#[cfg(not(target_arch = "wasm32"))]
mod simd {
    pub unsafe fn input_rows(_: *const f32, _: usize, _: *mut f32) -> usize {
        0
    }

    pub unsafe fn input_columns(_: *const f32, _: *mut f32, _: usize, _: usize) -> usize {
        0
    }

    pub unsafe fn output_quads(_: *const f32, _: usize, _: usize, _: *mut f32, _: f32, _: [f32; 2]) -> usize {
        0
    }

    pub unsafe fn interleave(_: *const f32, _: *const f32, _: *mut f32, _: usize) -> usize {
        0
    }
}

/// The transforms four tiles at a time in SIMD128 registers: tile `t`'s values at one
/// transform position sit next to tile `t + 1`'s (`v` and `m` are position major), and the
/// even and odd columns of four neighbouring patches are two lane shuffles of four loads.
/// Each function does what fits in whole vectors and returns where the callers' one-at-a-time
/// loops go on; the callers check the bounds.
#[cfg(target_arch = "wasm32")]
pub(super) mod simd {
    use core::arch::wasm32::*;

    /// Four values at `p` (unaligned); the caller checks the bounds.
    #[inline(always)]
    pub(in crate::model) unsafe fn load(p: *const f32) -> v128 {
        unsafe { v128_load(p as *const v128) }
    }

    /// Four values to `p` (unaligned); the caller checks the bounds.
    #[inline(always)]
    pub(in crate::model) unsafe fn store(p: *mut f32, x: v128) {
        unsafe { v128_store(p as *mut v128, x) }
    }

    /// The row half of [`super::transform_input`] for the four rows at `d` (`pw` apart) into
    /// `rows`: the columns a multiple of four covers.
    #[target_feature(enable = "simd128")]
    pub unsafe fn input_rows(d: *const f32, pw: usize, rows: *mut f32) -> usize {
        let mut x = 0;
        unsafe {
            while x + 4 <= pw {
                let (d0, d1) = (load(d.add(x)), load(d.add(pw + x)));
                let (d2, d3) = (load(d.add(2 * pw + x)), load(d.add(3 * pw + x)));
                store(rows.add(x), f32x4_sub(d0, d2));
                store(rows.add(pw + x), f32x4_add(d1, d2));
                store(rows.add(2 * pw + x), f32x4_sub(d2, d1));
                store(rows.add(3 * pw + x), f32x4_sub(d1, d3));
                x += 4;
            }
        }
        x
    }

    /// The column half for one transformed row `r`: tiles four at a time (columns 2·tx …
    /// 2·tx + 9 hold the patches of tiles tx … tx + 3).
    #[target_feature(enable = "simd128")]
    pub unsafe fn input_columns(r: *const f32, base: *mut f32, stride: usize, tw: usize) -> usize {
        let mut tx = 0;
        unsafe {
            while tx + 4 <= tw {
                let p = r.add(2 * tx);
                let (a, b, a2, b2) = (load(p), load(p.add(4)), load(p.add(2)), load(p.add(6)));
                let p0 = i32x4_shuffle::<0, 2, 4, 6>(a, b);
                let p1 = i32x4_shuffle::<1, 3, 5, 7>(a, b);
                let p2 = i32x4_shuffle::<0, 2, 4, 6>(a2, b2);
                let p3 = i32x4_shuffle::<1, 3, 5, 7>(a2, b2);
                store(base.add(tx), f32x4_sub(p0, p2));
                store(base.add(stride + tx), f32x4_add(p1, p2));
                store(base.add(2 * stride + tx), f32x4_sub(p2, p1));
                store(base.add(3 * stride + tx), f32x4_sub(p1, p3));
                tx += 4;
            }
        }
        tx
    }

    /// `y + add` clamped to `[lo, hi]`: pmax(x, lo) = x < lo ? lo : x and pmin(x, hi) =
    /// hi < x ? hi : x keep NaN, as the scalar tails and `cpu_simd::add_clamp` do.
    #[inline(always)]
    pub(in crate::model) fn finish(y: v128, add: v128, lo: v128, hi: v128) -> v128 {
        f32x4_pmin(f32x4_pmax(f32x4_add(y, add), lo), hi)
    }

    /// [`super::transform_output`]'s first pass, four tiles at a time over all `padded`.
    #[target_feature(enable = "simd128")]
    pub unsafe fn output_quads(
        m: *const f32,
        stride: usize,
        padded: usize,
        q: *mut f32,
        add: f32,
        [lo, hi]: [f32; 2],
    ) -> usize {
        let (add, lo, hi) = (f32x4_splat(add), f32x4_splat(lo), f32x4_splat(hi));
        let finish = |y: v128| finish(y, add, lo, hi);
        let mut t = 0;
        unsafe {
            while t + 4 <= padded {
                let e = |i: usize, j: usize| load(m.add((4 * i + j) * stride + t));
                let (e00, e01, e02, e03) = (e(0, 0), e(0, 1), e(0, 2), e(0, 3));
                let (e10, e11, e12, e13) = (e(1, 0), e(1, 1), e(1, 2), e(1, 3));
                let (e20, e21, e22, e23) = (e(2, 0), e(2, 1), e(2, 2), e(2, 3));
                let (e30, e31, e32, e33) = (e(3, 0), e(3, 1), e(3, 2), e(3, 3));
                let s0 = f32x4_add(f32x4_add(e00, e10), e20);
                let s1 = f32x4_add(f32x4_add(e01, e11), e21);
                let s2 = f32x4_add(f32x4_add(e02, e12), e22);
                let s3 = f32x4_add(f32x4_add(e03, e13), e23);
                let d0 = f32x4_sub(f32x4_sub(e10, e20), e30);
                let d1 = f32x4_sub(f32x4_sub(e11, e21), e31);
                let d2 = f32x4_sub(f32x4_sub(e12, e22), e32);
                let d3 = f32x4_sub(f32x4_sub(e13, e23), e33);
                store(q.add(t), finish(f32x4_add(f32x4_add(s0, s1), s2)));
                store(q.add(padded + t), finish(f32x4_sub(f32x4_sub(s1, s2), s3)));
                store(q.add(2 * padded + t), finish(f32x4_add(f32x4_add(d0, d1), d2)));
                store(q.add(3 * padded + t), finish(f32x4_sub(f32x4_sub(d1, d2), d3)));
                t += 4;
            }
        }
        t
    }

    /// `out[2x] = left[x]`, `out[2x + 1] = right[x]`, eight outputs at a time while they fit
    /// in `ow`; answers how many were written.
    #[target_feature(enable = "simd128")]
    pub unsafe fn interleave(left: *const f32, right: *const f32, out: *mut f32, ow: usize) -> usize {
        let mut x = 0;
        unsafe {
            while x + 8 <= ow {
                let (a, b) = (load(left.add(x / 2)), load(right.add(x / 2)));
                store(out.add(x), i32x4_shuffle::<0, 4, 1, 5>(a, b));
                store(out.add(x + 4), i32x4_shuffle::<2, 6, 3, 7>(a, b));
                x += 8;
            }
        }
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values in [−1, 1) from a small deterministic sequence.
    fn values(len: usize, seed: u64) -> Vec<f32> {
        let mut s = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (0..len)
            .map(|_| {
                s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    /// The backward pass is the forward's adjoint: `⟨conv(x), dy⟩ = ⟨x, conv′(dy)⟩` for every
    /// `x` and `dy`, checked in f64 on random ones, for both algorithms, weights as rows and
    /// packed, planes that are whole tiles or not, even, uneven and no padding.
    #[test]
    fn input_gradient_is_the_adjoint() {
        for (k, (x_shape, o, padding, tile)) in [
            ([2, 5, 9, 7], 6, [(1, 1), (1, 1)], Tile::Two),
            ([1, 4, 8, 8], 3, [(0, 0), (0, 0)], Tile::Two),
            ([1, 3, 7, 10], 5, [(0, 2), (2, 1)], Tile::Two),
            ([2, 5, 13, 11], 6, [(1, 1), (1, 1)], Tile::Four),
            ([1, 3, 18, 18], 4, [(1, 0), (0, 1)], Tile::Four),
            ([1, 7, 9, 14], 5, [(0, 0), (2, 2)], Tile::Four),
        ]
        .into_iter()
        .enumerate()
        {
            let [n, c, h, w] = x_shape;
            let [(top, bottom), (left, right)] = padding;
            let [oh, ow] = [h + top + bottom - 2, w + left + right - 2];
            let seed = 3 * k as u64;
            let (x, weight, dy) =
                (values(n * c * h * w, seed), values(o * c * 9, seed + 1), values(n * o * oh * ow, seed + 2));
            // Both layouts, whichever `transform_weights` would keep on this target.
            let u = match tile {
                Tile::Two => transform_weights_2x2(&weight, o, c),
                Tile::Four => cpu_winograd4::transform_weights(&weight, o, c),
            };
            let step = o * c;
            let packed = (0..tile.positions())
                .flat_map(|xi| super::super::cpu_gemm::pack_lhs_all(&u[xi * step..][..step], c, [o, c]))
                .collect();
            let packed = Transformed { tile, u: Weights::Packed(packed) };
            let rows = Transformed { tile, u: Weights::Rows(u) };
            let y = conv3x3_transformed(&x, x_shape, &rows, o, None, None, padding);
            let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(a, b)| *a as f64 * *b as f64).sum::<f64>();
            let forward = dot(&y, &dy);
            for t in [&rows, &packed] {
                let dx = conv3x3_transformed_input_gradient(&dy, [n, o, oh, ow], t, c, [h, w], padding);
                let backward = dot(&x, &dx);
                let scale = y.iter().map(|v| v.abs() as f64).sum::<f64>().max(1.0);
                assert!(
                    (forward - backward).abs() <= 1e-5 * scale,
                    "case {k}: ⟨conv x, dy⟩ {forward} against ⟨x, conv′ dy⟩ {backward}"
                );
            }
        }
    }
}
