//! Convolution on the CPU backend without gradients, as the classic NCHW im2col and one matrix
//! product per image and group (Caffe's layout). Burn flex's general convolution transposes the
//! weights and the input to channels-last on every call and scatters its output back; with the
//! weights' own `[O, C·kh·kw]` layout and the input's own rows none of that is needed, and the
//! product writes NCHW directly. A profile of ResNet-18 put flex's own copies at a third of the
//! forward pass, as much as the products themselves (BENCHMARKS.md).

use super::cpu_par::{SharedMut, for_each, parts};
use super::cpu_simd::{add_clamp, copy_block, copy_row, gather_row, weighted_rows};
use super::cpu_winograd;

/// A 2-D convolution's geometry: strides, (before, after) padding per axis, dilations, groups.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConvGeometry {
    pub strides: [usize; 2],
    pub padding: [(usize, usize); 2],
    pub dilations: [usize; 2],
    pub groups: usize,
}

impl ConvGeometry {
    /// Output height and width for an `h × w` input and a `kh × kw` kernel.
    pub fn output(&self, [h, w]: [usize; 2], [kh, kw]: [usize; 2]) -> [usize; 2] {
        let size = |d: usize, n: usize, k: usize| {
            let span = (k - 1) * self.dilations[d] + 1;
            (n + self.padding[d].0 + self.padding[d].1 - span) / self.strides[d] + 1
        };
        [size(0, h, kh), size(1, w, kw)]
    }
}

/// `x` (`[N, C, H, W]`) convolved with `weight` (`[O, C/groups, kh, kw]`) plus `bias` (`[O]`),
/// `[N, O, H', W']`, then clamped to `clamp` = `[lo, hi]` if given (a ReLU or ReLU6 that follows
/// the convolution, done while its output rows are still in cache). The caller has checked the
/// shapes (the kernel fits the padded input, the channels divide by the groups). 3×3 stride-1
/// convolutions with a few channels each way and large enough planes go to
/// [`cpu_winograd::conv3x3`].
#[inline(never)]
pub fn conv2d(
    x: &[f32],
    [n, c, h, w]: [usize; 4],
    weight: &[f32],
    [o, cg, kh, kw]: [usize; 4],
    bias: Option<&[f32]>,
    clamp: Option<[f32; 2]>,
    g: &ConvGeometry,
) -> Vec<f32> {
    if cpu_winograd::suits(c, o, [h, w], [kh, kw], g, weight) {
        let tile = cpu_winograd::tile_for(g.output([h, w], [kh, kw]));
        return cpu_winograd::conv3x3(x, [n, c, h, w], weight, o, bias, clamp, g.padding, tile);
    }
    im2col_conv2d(x, [n, c, h, w], weight, [o, cg, kh, kw], bias, clamp, g)
}

/// [`conv2d`] by im2col and one matrix product per image and group, whatever the geometry.
#[inline(never)]
pub fn im2col_conv2d(
    x: &[f32],
    [n, c, h, w]: [usize; 4],
    weight: &[f32],
    [o, cg, kh, kw]: [usize; 4],
    bias: Option<&[f32]>,
    clamp: Option<[f32; 2]>,
    g: &ConvGeometry,
) -> Vec<f32> {
    let [oh, ow] = g.output([h, w], [kh, kw]);
    let (og, k, spatial) = (o / g.groups, cg * kh * kw, oh * ow);
    let plain = kh == 1 && kw == 1 && g.strides == [1, 1] && g.padding == [(0, 0); 2];
    let mut out = vec![0f32; n * o * spatial];
    let mut col = if plain { Vec::new() } else { vec![0f32; k * spatial] };
    for b in 0..n {
        for group in 0..g.groups {
            let input = &x[(b * c + group * cg) * h * w..][..cg * h * w];
            // A 1×1 convolution reads its input rows as they are: [C, H·W].
            let rhs = if plain {
                input
            } else {
                im2col(input, [cg, h, w], [kh, kw], g, [oh, ow], &mut col);
                &col
            };
            let dst = &mut out[(b * o + group * og) * spatial..][..og * spatial];
            product(dst, &weight[group * og * k..][..og * k], rhs, [og, k, spatial]);
            if bias.is_some() || clamp.is_some() {
                let [lo, hi] = clamp.unwrap_or([f32::NEG_INFINITY, f32::INFINITY]);
                for (r, row) in dst.chunks_exact_mut(spatial).enumerate() {
                    add_clamp(row, bias.map_or(0.0, |b| b[group * og + r]), lo, hi);
                }
            }
        }
    }
    out
}

/// `dst = lhs · rhs` for row-major `lhs` (`[m, k]`), `rhs` (`[k, n]`) and `dst` (`[m, n]`), by
/// gemm's kernels. With a pool of threads ([`cpu_par`](super::cpu_par)) and enough work, the
/// longer side of `dst` is split into blocks (a few per thread), each a product of its own: one
/// parallel loop per product (gemm's own threading forks several times per product, and waking
/// a thread costs far more in a browser than natively). gemm's depth blocking depends on `k`
/// alone, so every value is summed in the same order as in one product.
pub(super) fn product(dst: &mut [f32], lhs: &[f32], rhs: &[f32], [m, k, n]: [usize; 3]) {
    product_strided(dst, lhs, rhs, [m, k, n], [k, 1]);
}

/// `dst = lhsᵀ · rhs` for `lhs` stored row-major as `[k, m]` (a layer's weights `[O, C]`, whose
/// transpose takes a gradient from the outputs back to the inputs), `rhs` `[k, n]`, `dst`
/// `[m, n]`: [`product`] with `lhs` read where it lies (column stride `m`), in parallel the same
/// way.
pub(super) fn product_transposed(dst: &mut [f32], lhs: &[f32], rhs: &[f32], [m, k, n]: [usize; 3]) {
    product_strided(dst, lhs, rhs, [m, k, n], [1, m]);
}

/// [`product`] with `lhs`'s element `(i, p)` at `lhs[i · ls + p · lcs]`.
fn product_strided(dst: &mut [f32], lhs: &[f32], rhs: &[f32], [m, k, n]: [usize; 3], [ls, lcs]: [usize; 2]) {
    assert!(dst.len() >= m * n && lhs.len() >= m * k && rhs.len() >= k * n);
    let d = SharedMut(dst.as_mut_ptr());
    let kernel = kernel_for(m, n);
    // Columns in runs of 16 (gemm's register blocks are 4 or 8 wide), rows in runs of 8.
    let by_columns = n >= m;
    let blocks = if by_columns { parts(n, 16) } else { parts(m, 8) };
    for_each(blocks.len(), m * k * n, |p| {
        let b = blocks[p].clone();
        // SAFETY: block p covers columns (or rows) b of `dst`, within it (asserted above),
        // written by this block alone; the operands' parts are read only (row i of lhs at
        // lhs[i · ls]).
        unsafe {
            if by_columns {
                let (lhs, rhs) = (lhs.as_ptr(), rhs.as_ptr().add(b.start));
                gemm_raw(d.ptr().add(b.start), lhs, rhs, [m, k, b.len()], [n, ls, n], lcs, kernel);
            } else {
                let (lhs, rhs) = (lhs.as_ptr().add(b.start * ls), rhs.as_ptr());
                gemm_raw(d.ptr().add(b.start * n), lhs, rhs, [b.len(), k, n], [n, ls, n], lcs, kernel);
            }
        }
    });
}

/// [`product_transposed`] on the calling thread alone.
pub(super) fn product_transposed_alone(dst: &mut [f32], lhs: &[f32], rhs: &[f32], [m, k, n]: [usize; 3]) {
    assert!(dst.len() >= m * n && lhs.len() >= m * k && rhs.len() >= k * n);
    // SAFETY: the three matrices lie within their slices (asserted above).
    unsafe { gemm_raw(dst.as_mut_ptr(), lhs.as_ptr(), rhs.as_ptr(), [m, k, n], [n, 1, n], m, kernel_for(m, n)) }
}

/// [`product`] on the calling thread alone (for products that are themselves parts of a
/// parallel loop).
pub(super) fn product_alone(dst: &mut [f32], lhs: &[f32], rhs: &[f32], [m, k, n]: [usize; 3]) {
    assert!(dst.len() >= m * n && lhs.len() >= m * k && rhs.len() >= k * n);
    // SAFETY: the three matrices lie within their slices (asserted above).
    unsafe { gemm_raw(dst.as_mut_ptr(), lhs.as_ptr(), rhs.as_ptr(), [m, k, n], [n, k, n], 1, kernel_for(m, n)) }
}

/// Which kernel runs a product.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kernel {
    /// gemm's (natively).
    Gemm,
    /// [`super::cpu_gemm::gemm`]'s register blocks over packed operands.
    Wide,
    /// [`super::cpu_gemm::gemm_narrow`]'s dot products, nothing packed.
    Narrow,
}

/// Columns below which, in wasm, a product takes [`Kernel::Narrow`]: on products of 2–16
/// columns it ran 1.1–3.7× as fast as gemm's kernels, on 25–49 columns 1.1–1.3× as fast as the
/// packed one with 32 outputs or more, but 0.7–0.8× with 16 (transposing `rhs` cost as much as
/// a few outputs' sums; level since that transposition runs in SIMD, so the rule stays on the
/// safe side); at 196 columns 0.7–1.1× (`bench_conv … gemm`, BENCHMARKS.md).
const NARROW_BELOW: usize = 64;
/// Below this many columns, the narrow kernel whatever the outputs.
const NARROW_ALWAYS_BELOW: usize = 20;
/// Outputs from which the narrow kernel takes products of up to [`NARROW_BELOW`] columns.
const NARROW_MIN_OUTPUTS: usize = 32;

/// The kernel of a product of `m` outputs by `n` columns: natively gemm's; in wasm
/// [`super::cpu_gemm`]'s (BENCHMARKS.md, "Own float matrix product", "Narrow products").
/// Decided for the whole product, so that its parts on several threads sum as one thread does.
fn kernel_for(m: usize, n: usize) -> Kernel {
    let narrow = n < NARROW_ALWAYS_BELOW || (n < NARROW_BELOW && m >= NARROW_MIN_OUTPUTS);
    match (cfg!(target_arch = "wasm32"), narrow) {
        (false, _) => Kernel::Gemm,
        (true, true) => Kernel::Narrow,
        (true, false) => Kernel::Wide,
    }
}

/// `dst = lhs · rhs` (`[m, k] · [k, n]`) on this thread, each matrix row-major with the row
/// strides `[dst, lhs, rhs]` and unit column strides, except `lhs`'s column stride `lcs`, by
/// `kernel` (the narrow one reads rows where they lie: a strided `lhs` takes the wide one).
///
/// # Safety
/// The three matrices lie within live buffers, and nothing else touches `dst`'s meanwhile.
unsafe fn gemm_raw(
    dst: *mut f32,
    lhs: *const f32,
    rhs: *const f32,
    [m, k, n]: [usize; 3],
    [ds, ls, rs]: [usize; 3],
    lcs: usize,
    kernel: Kernel,
) {
    match kernel {
        Kernel::Wide | Kernel::Narrow if lcs != 1 => {
            let lhs = super::cpu_gemm::Lhs::Strided { ptr: lhs, rs: ls, cs: lcs };
            // SAFETY: by the caller's promise.
            return unsafe { super::cpu_gemm::gemm_from(dst, lhs, rhs, [m, k, n], [ds, rs]) };
        }
        // SAFETY: by the caller's promise.
        Kernel::Wide => return unsafe { super::cpu_gemm::gemm(dst, lhs, rhs, [m, k, n], [ds, ls, rs]) },
        // SAFETY: by the caller's promise.
        Kernel::Narrow => return unsafe { super::cpu_gemm::gemm_narrow(dst, lhs, rhs, [m, k, n], [ds, ls, rs]) },
        Kernel::Gemm => {}
    }
    // SAFETY: by the caller's promise.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            1,
            ds as isize,
            false,
            lhs,
            lcs as isize,
            ls as isize,
            rhs,
            1,
            rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// A depthwise convolution (one group per input channel, `weight` `[O, 1, kh, kw]` with `O` a
/// multiple of `C`), as [`conv2d`]. Per channel, the input is copied once into a zero-padded
/// plane split into its `sy × sx` stride phases (rows `a, a+sy, …` × columns `b, b+sx, …`), so
/// that every tap reads one contiguous run: the whole output plane, computed `wq` wide (the
/// phases' width) with a few columns to drop, is then a single weighted sum of `kh·kw` shifted
/// runs, summed in SIMD registers ([`weighted_rows`]).
#[inline(never)]
pub fn depthwise2d(
    x: &[f32],
    [n, c, h, w]: [usize; 4],
    weight: &[f32],
    [o, _, kh, kw]: [usize; 4],
    bias: Option<&[f32]>,
    clamp: Option<[f32; 2]>,
    g: &ConvGeometry,
) -> Vec<f32> {
    let [oh, ow] = g.output([h, w], [kh, kw]);
    let ([sy, sx], [dy, dx]) = (g.strides, g.dilations);
    let (top, left) = (g.padding[0].0, g.padding[1].0);
    let (hp, wp) = (h + top + g.padding[0].1, w + left + g.padding[1].1);
    // Phase (a, b) holds the padded rows a, a + sy, … and columns b, b + sx, …: hq × wq.
    let (hq, wq) = (hp.div_ceil(sy), wp.div_ceil(sx));
    // Output row oy is row oy of `wide` (one per part, as `phases`), of which the first ow
    // columns are kept.
    let span = (oh - 1) * wq + ow;
    // Per tap (ky, kx), the start of its run: padded pixel (oy·sy + ky·dy, ox·sx + kx·dx) is in
    // phase (ky·dy mod sy, kx·dx mod sx) at (oy + ky·dy div sy, ox + kx·dx div sx).
    let starts: Vec<usize> = (0..kh * kw)
        .map(|k| {
            let (ry, rx) = ((k / kw) * dy, (k % kw) * dx);
            ((ry % sy) * sx + rx % sx) * hq * wq + (ry / sy) * wq + rx / sx
        })
        .collect();
    // The first input column of each column phase b: (x + left) mod sx = b.
    let first_x: Vec<usize> = (0..sx).map(|b| (b + sx - left % sx) % sx).collect();
    let per_input = o / c;
    let [lo, hi] = clamp.unwrap_or([f32::NEG_INFINITY, f32::INFINITY]);
    let mut out = vec![0f32; n * o * oh * ow];
    // Input plane t = b·C + ic writes output channels ic·per_input … of image b: since
    // O = C·per_input, the span [t, t + 1) · per_input · H'·W' of `out`.
    let block = per_input * oh * ow;
    let planes = parts(n * c, 1);
    let shared = SharedMut(out.as_mut_ptr());
    for_each(planes.len(), n * o * oh * ow * kh * kw, |p| {
        let mut phases = vec![0f32; sy * sx * hq * wq];
        let mut wide = vec![0f32; span];
        let mut weights = vec![0f32; kh * kw];
        for t in planes[p].clone() {
            let ic = t % c;
            let plane = &x[t * h * w..][..h * w];
            // Every plane writes the same positions of `phases`: the padding, never written,
            // stays zero from the allocation (a fill per plane cost 1.5 ms of MobileNetV2's
            // 40 ms pass in wasm).
            for (y, row) in plane.chunks_exact(w).enumerate() {
                let r = y + top;
                let line = ((r % sy) * sx * hq + r / sy) * wq;
                if sx == 1 {
                    let dst = &mut phases[line + left..][..w];
                    // SAFETY: both slices hold w values.
                    unsafe { copy_row(row.as_ptr(), dst.as_mut_ptr(), w) };
                    continue;
                }
                for (pb, &x0) in first_x.iter().enumerate() {
                    // Input columns x0, x0 + sx, … < w go to phase pb's columns from (x0 + left) / sx.
                    let count = w.saturating_sub(x0).div_ceil(sx);
                    if count == 0 {
                        continue;
                    }
                    let dst = &mut phases[line + pb * hq * wq + (x0 + left) / sx..][..count];
                    let src = &row[x0..][..(count - 1) * sx + 1];
                    // SAFETY: `src` holds index (count − 1)·sx, `dst` count values.
                    unsafe { gather_row(src.as_ptr(), sx, dst.as_mut_ptr(), count) };
                }
            }
            let runs: Vec<&[f32]> = starts.iter().map(|&s| &phases[s..s + span]).collect();
            // SAFETY: plane t's span of `out` (see above) lies within it, and only plane t,
            // which belongs to this part alone, writes it.
            let dst = unsafe { shared.slice(t * block, block) };
            for m in 0..per_input {
                let oc = ic * per_input + m;
                weights.copy_from_slice(&weight[oc * kh * kw..][..kh * kw]);
                weighted_rows(&mut wide, &runs, &weights, bias.map_or(0.0, |b| b[oc]), lo, hi);
                let dst = &mut dst[m * oh * ow..][..oh * ow];
                for (oy, row) in dst.chunks_exact_mut(ow).enumerate() {
                    // SAFETY: both hold ow values.
                    unsafe { copy_row(wide[oy * wq..][..ow].as_ptr(), row.as_mut_ptr(), ow) };
                }
            }
        }
    });
    out
}

/// Fills `col` (`[C·kh·kw, H'·W']`) with the input values each output pixel's window sees, zero
/// where it falls on the padding; in parts of whole channels (each its own rows of `col`) on the
/// pool's threads.
pub(super) fn im2col<T: Copy + Default + Send + Sync>(
    input: &[T],
    [c, h, w]: [usize; 3],
    [kh, kw]: [usize; 2],
    g: &ConvGeometry,
    [oh, ow]: [usize; 2],
    col: &mut [T],
) {
    assert!(input.len() >= c * h * w && col.len() >= c * kh * kw * oh * ow);
    let rows = kh * kw * oh * ow;
    let channels = parts(c, 1);
    let out = SharedMut(col.as_mut_ptr());
    for_each(channels.len(), c * rows, |p| {
        let run = channels[p].clone();
        // SAFETY: channels `run` fill their own rows of `col` (asserted to hold them all).
        let col = unsafe { out.slice(run.start * rows, run.len() * rows) };
        channels_to_columns(&input[run.start * h * w..], [run.len(), h, w], [kh, kw], g, [oh, ow], col);
    });
}

/// [`im2col`] on this thread.
#[inline(never)]
fn channels_to_columns<T: Copy + Default>(
    input: &[T],
    [c, h, w]: [usize; 3],
    [kh, kw]: [usize; 2],
    g: &ConvGeometry,
    [oh, ow]: [usize; 2],
    col: &mut [T],
) {
    let zero = T::default();
    let ([sy, sx], [dy, dx]) = (g.strides, g.dilations);
    let (top, left) = (g.padding[0].0 as isize, g.padding[1].0 as isize);
    assert!(input.len() >= c * h * w && col.len() >= c * kh * kw * oh * ow);
    if g.padding == [(0, 0); 2] && g.strides == [1, 1] && c > 0 && oh > 0 && ow > 0 {
        // No padding, stride 1 (the incremental sweep's tiles): for each tap, every channel's
        // rows are one block of plain runs.
        let taps = kh * kw;
        assert!((kh - 1) * dy + oh <= h && (kw - 1) * dx + ow <= w);
        for ky in 0..kh {
            for kx in 0..kw {
                // SAFETY: tap (ky, kx) reads rows ky·dy + oy < h and columns kx·dx + ox < w of
                // each channel (asserted), and writes that channel's rows for the tap in `col`.
                unsafe {
                    copy_block(
                        input.as_ptr().add(ky * dy * w + kx * dx),
                        [h * w, w],
                        col.as_mut_ptr().add((ky * kw + kx) * oh * ow),
                        [taps * oh * ow, ow],
                        [c, oh, ow],
                    )
                }
            }
        }
        return;
    }
    // Raw pointers: with the release profile's size optimization, slice ranges and fills stay
    // function calls, and the rows here are short (14 values in Fashion-MNIST's second layer):
    // a profile of that model in wasm put im2col at 13% of the pass.
    let mut dst = col.as_mut_ptr();
    // SAFETY: `dst` advances by `ow` per output row, c·kh·kw·oh rows in all (asserted above);
    // `line` is a row of channel `ch` with `iy < h`, read at columns `first + i·sx` < w for
    // the output columns in [lo, hi).
    unsafe {
        for ch in 0..c {
            let plane = input.as_ptr().add(ch * h * w);
            for ky in 0..kh {
                for kx in 0..kw {
                    // Output columns whose input column is inside the image: ox in [lo, hi).
                    let shift = (kx * dx) as isize - left;
                    let lo = if shift >= 0 { 0 } else { ((-shift) as usize).div_ceil(sx) };
                    let hi =
                        if (w as isize) > shift { (((w as isize - shift) as usize).div_ceil(sx)).min(ow) } else { 0 };
                    let (lo, hi) = (lo.min(hi), hi);
                    let first = (lo * sx) as isize + shift;
                    for oy in 0..oh {
                        let iy = (oy * sy + ky * dy) as isize - top;
                        if iy < 0 || iy >= h as isize || lo >= hi {
                            for j in 0..ow {
                                *dst.add(j) = zero;
                            }
                        } else {
                            let line = plane.add(iy as usize * w).offset(first);
                            for j in 0..lo {
                                *dst.add(j) = zero;
                            }
                            if sx == 1 {
                                copy_row(line, dst.add(lo), hi - lo);
                            } else {
                                gather_row(line, sx, dst.add(lo), hi - lo);
                            }
                            for j in hi..ow {
                                *dst.add(j) = zero;
                            }
                        }
                        dst = dst.add(ow);
                    }
                }
            }
        }
    }
}
