//! 1×1 convolutions of inputs that are mostly zeros. After a ReLU many activations are exactly
//! zero: in SqueezeNet 1.1 over nine in ten of fire9's outputs, the input of conv10 (a quarter
//! of the network's multiply-adds). A dense product multiplies every one of those zeros; here
//! each position's nonzero inputs are listed once, and its outputs are the weighted sum of just
//! those channels' weight rows (the weights transposed to `[C, O]`, so that a channel's weights
//! for consecutive outputs are contiguous and sum in SIMD registers).
//!
//! Exact up to rounding: each output sums its bias, then the nonzero terms in channel order; a
//! zero input contributes nothing in either kernel as long as the weights are finite (the
//! caller checks). NaN inputs count as nonzero and spread as in the dense product.

use super::cpu_par::{SharedMut, for_each, parts};

/// Whether `x` has few enough nonzero values for [`conv1x1`] with `o` outputs to pay. Per
/// multiply-add the sparse kernel runs slower than gemm's (each weight it loads serves one
/// multiply-add, and each position's list of nonzero inputs is built first). On evenly spread
/// random inputs in wasm (`examples/bench_conv.rs sparse`, BENCHMARKS.md) it still won at 50%
/// nonzero, but on SqueezeNet's own activations taking its squeeze layers too (23–40% nonzero,
/// 16 to 64 outputs) made an occlusion sweep no faster: hence a lower share for few outputs.
pub fn sparse_enough(x: &[f32], o: usize) -> bool {
    // Counted a run at a time, to stop early on a dense input (most 1×1 layers' inputs): once
    // the runs so far hold half as many nonzeros again as the share allows, the rest would
    // have to be far sparser than they are. A wrong guess only keeps the dense kernel.
    let max = max_density(o);
    let (mut seen, mut scanned) = (0, 0);
    for run in x.chunks(RUN) {
        seen += nonzeros(run);
        scanned += run.len();
        if seen as f32 > 1.5 * max * scanned as f32 {
            return false;
        }
    }
    seen as f32 <= max * x.len() as f32
}

/// Values counted at a time by [`sparse_enough`].
const RUN: usize = 2048;

/// The largest share of nonzero inputs [`sparse_enough`] accepts for `o` outputs.
pub fn max_density(o: usize) -> f32 {
    if o >= 256 { 0.35 } else { 0.2 }
}

/// How many values of `x` are not zero (NaN counts).
pub fn nonzeros(x: &[f32]) -> usize {
    #[cfg(target_arch = "wasm32")]
    // SAFETY: the page needs SIMD128; the function reads within `x` only.
    unsafe {
        wasm::nonzeros(x)
    }
    #[cfg(not(target_arch = "wasm32"))]
    x.iter().filter(|&&v| v != 0.0).count()
}

/// `weight` (`[O, C]`, a 1×1 convolution's) as `[C, O]`.
pub fn transpose(weight: &[f32], o: usize, c: usize) -> Vec<f32> {
    assert!(weight.len() >= o * c);
    let mut t = vec![0f32; o * c];
    if c == 0 {
        return t;
    }
    for (r, row) in weight.chunks_exact(c).take(o).enumerate() {
        for (k, &v) in row.iter().enumerate() {
            t[k * o + r] = v;
        }
    }
    t
}

/// `x` (`[N, C, H, W]`) convolved with a 1×1 kernel, stride 1, no padding, one group, whose
/// weights `wt` are given transposed (`[C, O]`, [`transpose`]), plus `bias`, then clamped to
/// `clamp`: `[N, O, H, W]`, as [`super::cpu_conv::conv2d`] up to rounding.
#[inline(never)]
pub fn conv1x1(
    x: &[f32],
    [n, c, h, w]: [usize; 4],
    wt: &[f32],
    o: usize,
    bias: Option<&[f32]>,
    clamp: Option<[f32; 2]>,
) -> Vec<f32> {
    let p = h * w;
    assert!(x.len() >= n * c * p && wt.len() >= c * o && bias.is_none_or(|b| b.len() >= o));
    assert!(c * o <= u32::MAX as usize);
    let [lo, hi] = clamp.unwrap_or([f32::NEG_INFINITY, f32::INFINITY]);
    let mut out = vec![0f32; n * o * p];
    if p == 0 || o == 0 {
        return out;
    }
    for b in 0..n {
        let lists = Lists::new(&x[b * c * p..][..c * p], p, o);
        let dst = SharedMut(out[b * o * p..].as_mut_ptr());
        let blocks = parts(p, 4);
        for_each(blocks.len(), lists.values.len() * o, |k| {
            // Outputs in slabs, each over all of the part's positions: the slab's weights
            // (C × 128 values) stay in cache while the positions pick their rows from it.
            for o0 in (0..o).step_by(SLAB) {
                let len = SLAB.min(o - o0);
                for j in blocks[k].clone() {
                    let (s, e) = (lists.start[j] as usize, lists.start[j + 1] as usize);
                    // SAFETY: position j's outputs (column j of the image's `[O, H·W]` output,
                    // within `out`) are written by this part alone; every weight row named in
                    // `rows` lies within `wt` (k·O + O ≤ C·O), and `o0 + len ≤ O`.
                    unsafe {
                        let d = dst.ptr().add(o0 * p + j);
                        let bias = bias.map(|b| &b[o0..o0 + len]);
                        outputs(d, p, &lists.rows[s..e], &lists.values[s..e], wt.as_ptr().add(o0), len, bias, [lo, hi]);
                    }
                }
            }
        });
    }
    out
}

/// Outputs at a time per position, over all of a part's positions.
const SLAB: usize = 128;

/// Each position's nonzero inputs, in channel order (a compressed-row list with positions as
/// rows): position j's are `start[j]..start[j + 1]`, each as where its channel's weight row
/// starts in the transposed weights (`k·O`) and the input value.
struct Lists {
    start: Vec<u32>,
    rows: Vec<u32>,
    values: Vec<f32>,
}

impl Lists {
    fn new(image: &[f32], p: usize, o: usize) -> Self {
        assert!(image.len() <= u32::MAX as usize && image.len() % p == 0);
        let mut start = vec![0u32; p + 1];
        for row in image.chunks_exact(p) {
            count(row, &mut start[1..]);
        }
        for j in 0..p {
            start[j + 1] += start[j];
        }
        let total = start[p] as usize;
        let mut next = start[..p].to_vec();
        let (mut rows, mut values) = (vec![0u32; total], vec![0f32; total]);
        for (k, row) in image.chunks_exact(p).enumerate() {
            // SAFETY: `next[j]` stays below `start[j + 1] ≤ total` (the counts above).
            unsafe { fill(row, (k * o) as u32, &mut next, &mut rows, &mut values) };
        }
        Self { start, rows, values }
    }
}

/// `counts[j] += 1` where `row[j]` is not zero.
fn count(row: &[f32], counts: &mut [u32]) {
    #[cfg(target_arch = "wasm32")]
    // SAFETY: the page needs SIMD128; reads and writes within the slices' common length.
    unsafe {
        wasm::count(row, counts)
    }
    #[cfg(not(target_arch = "wasm32"))]
    for (c, &v) in counts.iter_mut().zip(row) {
        *c += u32::from(v != 0.0);
    }
}

/// Appends `row`'s nonzero values, with `at`, to their positions' lists.
///
/// # Safety
/// For each nonzero `row[j]`, `next[j]` is within `rows` and `values`.
unsafe fn fill(row: &[f32], at: u32, next: &mut [u32], rows: &mut [u32], values: &mut [f32]) {
    assert!(next.len() >= row.len());
    let mut j = 0;
    // Eight values at a time on wasm: a bit per nonzero value, none set for most runs.
    #[cfg(target_arch = "wasm32")]
    while j + 8 <= row.len() {
        // SAFETY: eight values from j lie within `row`; the page needs SIMD128.
        let mut bits = unsafe { wasm::nonzero_bits(row.as_ptr().add(j)) };
        while bits != 0 {
            let t = j + bits.trailing_zeros() as usize;
            bits &= bits - 1;
            // SAFETY: t < row.len() ≤ next.len(); the slot by the caller's promise.
            unsafe { push(row, t, at, next, rows, values) };
        }
        j += 8;
    }
    while j < row.len() {
        if row[j] != 0.0 {
            // SAFETY: as above.
            unsafe { push(row, j, at, next, rows, values) };
        }
        j += 1;
    }
}

/// Appends `row[j]` with `at` to position j's list.
///
/// # Safety
/// `j < row.len() ≤ next.len()`, and `next[j]` is within `rows` and `values`.
#[inline(always)]
unsafe fn push(row: &[f32], j: usize, at: u32, next: &mut [u32], rows: &mut [u32], values: &mut [f32]) {
    // SAFETY: by the caller's promise.
    unsafe {
        let s = next.get_unchecked_mut(j);
        *rows.get_unchecked_mut(*s as usize) = at;
        *values.get_unchecked_mut(*s as usize) = *row.get_unchecked(j);
        *s += 1;
    }
}

/// Outputs in register blocks of this many.
const BLOCK: usize = 32;

/// One position's `o` outputs (at most a slab), written `stride` apart from `dst`: bias plus
/// the sum over its nonzero inputs of value × weight row (`wt` offset to the first output),
/// clamped: blocks of [`BLOCK`] outputs, then of 4, then one by one.
///
/// # Safety
/// `dst + r·stride` is writable for `r < o`, nothing else writes there meanwhile, and
/// `wt + rows[i]` is readable for `o` values.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn outputs(
    dst: *mut f32,
    stride: usize,
    rows: &[u32],
    values: &[f32],
    wt: *const f32,
    o: usize,
    bias: Option<&[f32]>,
    clamp: [f32; 2],
) {
    let bias = bias.map_or(std::ptr::null(), <[f32]>::as_ptr);
    let mut o0 = 0;
    // SAFETY: each block's outputs lie below `o` (passed on from the caller); `bias`, when
    // given, holds `o` values.
    unsafe {
        while o0 + BLOCK <= o {
            let b = if bias.is_null() { bias } else { bias.add(o0) };
            block::<BLOCK>(dst.add(o0 * stride), stride, rows, values, wt.add(o0), b, clamp);
            o0 += BLOCK;
        }
        while o0 + 4 <= o {
            let b = if bias.is_null() { bias } else { bias.add(o0) };
            block::<4>(dst.add(o0 * stride), stride, rows, values, wt.add(o0), b, clamp);
            o0 += 4;
        }
        while o0 < o {
            let b = if bias.is_null() { bias } else { bias.add(o0) };
            block::<1>(dst.add(o0 * stride), stride, rows, values, wt.add(o0), b, clamp);
            o0 += 1;
        }
    }
}

/// `N` outputs of one position: `dst[t·stride] = clamp(bias[t] + Σ values[i] · wt[rows[i] + t])`
/// for `t < N` (`bias` null: none).
///
/// # Safety
/// As for [`outputs`], for `N` outputs.
#[inline(always)]
unsafe fn block<const N: usize>(
    dst: *mut f32,
    stride: usize,
    rows: &[u32],
    values: &[f32],
    wt: *const f32,
    bias: *const f32,
    clamp: [f32; 2],
) {
    #[cfg(target_arch = "wasm32")]
    // SAFETY: passed on from the caller.
    unsafe {
        match N {
            BLOCK => return wasm::block32(dst, stride, rows, values, wt, bias, clamp),
            4 => return wasm::block4(dst, stride, rows, values, wt, bias, clamp),
            _ => {}
        }
    }
    let mut acc = [0f32; N];
    // SAFETY: passed on from the caller.
    unsafe {
        if !bias.is_null() {
            for (t, a) in acc.iter_mut().enumerate() {
                *a = *bias.add(t);
            }
        }
        for (&r, &v) in rows.iter().zip(values) {
            let row = wt.add(r as usize);
            for (t, a) in acc.iter_mut().enumerate() {
                *a += v * *row.add(t);
            }
        }
        let [lo, hi] = clamp;
        for (t, &a) in acc.iter().enumerate() {
            let a = if a < lo { lo } else { a };
            *dst.add(t * stride) = if hi < a { hi } else { a };
        }
    }
}

#[cfg(target_arch = "wasm32")]
mod wasm {
    use core::arch::wasm32::*;

    #[target_feature(enable = "simd128")]
    pub unsafe fn nonzeros(x: &[f32]) -> usize {
        let zero = f32x4_splat(0.0);
        let (mut a, mut b) = (i32x4_splat(0), i32x4_splat(0));
        let (p, n) = (x.as_ptr(), x.len());
        let mut i = 0;
        // SAFETY: i + 8 ≤ n; f32x4_ne gives −1 per nonzero lane (two sums: two chains).
        unsafe {
            while i + 8 <= n {
                a = i32x4_sub(a, f32x4_ne(v128_load(p.add(i) as *const v128), zero));
                b = i32x4_sub(b, f32x4_ne(v128_load(p.add(i + 4) as *const v128), zero));
                i += 8;
            }
        }
        let s = i32x4_add(a, b);
        let lanes = i32x4_extract_lane::<0>(s)
            + i32x4_extract_lane::<1>(s)
            + i32x4_extract_lane::<2>(s)
            + i32x4_extract_lane::<3>(s);
        let mut count = lanes as usize;
        while i < n {
            count += usize::from(x[i] != 0.0);
            i += 1;
        }
        count
    }

    #[target_feature(enable = "simd128")]
    pub unsafe fn count(row: &[f32], counts: &mut [u32]) {
        let n = row.len().min(counts.len());
        let zero = f32x4_splat(0.0);
        let mut j = 0;
        // SAFETY: j + 4 ≤ n within both slices; f32x4_ne gives −1 per nonzero lane.
        unsafe {
            while j + 4 <= n {
                let c = counts.as_mut_ptr().add(j) as *mut v128;
                v128_store(c, i32x4_sub(v128_load(c), f32x4_ne(v128_load(row.as_ptr().add(j) as *const v128), zero)));
                j += 4;
            }
        }
        for j in j..n {
            counts[j] += u32::from(row[j] != 0.0);
        }
    }

    /// A bit for each of the eight values from `p` that is not zero (bit i: value i).
    #[target_feature(enable = "simd128")]
    #[inline]
    pub unsafe fn nonzero_bits(p: *const f32) -> u32 {
        let zero = f32x4_splat(0.0);
        // SAFETY: the caller's eight values.
        let (a, b) = unsafe { (v128_load(p as *const v128), v128_load(p.add(4) as *const v128)) };
        let (a, b) = (f32x4_ne(a, zero), f32x4_ne(b, zero));
        i32x4_bitmask(a) as u32 | (i32x4_bitmask(b) as u32) << 4
    }

    /// The accumulators' lanes, clamped, written `stride` apart from `dst`.
    #[inline(always)]
    unsafe fn store(dst: *mut f32, stride: usize, v: v128, [lo, hi]: [v128; 2]) {
        // pmax(v, lo) = lo where v < lo; pmin(·, hi) = hi where hi < it; a NaN stays.
        let v = f32x4_pmin(f32x4_pmax(v, lo), hi);
        // SAFETY: the caller's four outputs.
        unsafe {
            *dst = f32x4_extract_lane::<0>(v);
            *dst.add(stride) = f32x4_extract_lane::<1>(v);
            *dst.add(2 * stride) = f32x4_extract_lane::<2>(v);
            *dst.add(3 * stride) = f32x4_extract_lane::<3>(v);
        }
    }

    /// `super::block::<32>`: eight accumulators.
    #[target_feature(enable = "simd128")]
    pub unsafe fn block32(
        dst: *mut f32,
        stride: usize,
        rows: &[u32],
        values: &[f32],
        wt: *const f32,
        bias: *const f32,
        [lo, hi]: [f32; 2],
    ) {
        // SAFETY: by `super::block`'s contract.
        unsafe {
            let b = bias as *const v128;
            let mut s = if bias.is_null() {
                [f32x4_splat(0.0); 8]
            } else {
                [
                    v128_load(b),
                    v128_load(b.add(1)),
                    v128_load(b.add(2)),
                    v128_load(b.add(3)),
                    v128_load(b.add(4)),
                    v128_load(b.add(5)),
                    v128_load(b.add(6)),
                    v128_load(b.add(7)),
                ]
            };
            for i in 0..rows.len().min(values.len()) {
                let v = f32x4_splat(*values.get_unchecked(i));
                let row = wt.add(*rows.get_unchecked(i) as usize) as *const v128;
                s[0] = f32x4_add(s[0], f32x4_mul(v, v128_load(row)));
                s[1] = f32x4_add(s[1], f32x4_mul(v, v128_load(row.add(1))));
                s[2] = f32x4_add(s[2], f32x4_mul(v, v128_load(row.add(2))));
                s[3] = f32x4_add(s[3], f32x4_mul(v, v128_load(row.add(3))));
                s[4] = f32x4_add(s[4], f32x4_mul(v, v128_load(row.add(4))));
                s[5] = f32x4_add(s[5], f32x4_mul(v, v128_load(row.add(5))));
                s[6] = f32x4_add(s[6], f32x4_mul(v, v128_load(row.add(6))));
                s[7] = f32x4_add(s[7], f32x4_mul(v, v128_load(row.add(7))));
            }
            let bounds = [f32x4_splat(lo), f32x4_splat(hi)];
            for (k, v) in s.into_iter().enumerate() {
                store(dst.add(4 * k * stride), stride, v, bounds);
            }
        }
    }

    /// `super::block::<4>`: one accumulator.
    #[target_feature(enable = "simd128")]
    pub unsafe fn block4(
        dst: *mut f32,
        stride: usize,
        rows: &[u32],
        values: &[f32],
        wt: *const f32,
        bias: *const f32,
        [lo, hi]: [f32; 2],
    ) {
        // SAFETY: by `super::block`'s contract.
        unsafe {
            let mut s = if bias.is_null() { f32x4_splat(0.0) } else { v128_load(bias as *const v128) };
            for i in 0..rows.len().min(values.len()) {
                let v = f32x4_splat(*values.get_unchecked(i));
                let row = wt.add(*rows.get_unchecked(i) as usize) as *const v128;
                s = f32x4_add(s, f32x4_mul(v, v128_load(row)));
            }
            store(dst, stride, s, [f32x4_splat(lo), f32x4_splat(hi)]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::cpu_conv::{ConvGeometry, conv2d};

    #[test]
    fn sparse_1x1_matches_the_dense_convolution() {
        // 70 outputs: two full register blocks and a short one; every third input nonzero,
        // one NaN-free negative run, two images.
        let (n, c, h, w, o) = (2, 37, 5, 3, 70);
        let x: Vec<f32> = (0..n * c * h * w)
            .map(|i| if i % 3 == 0 { ((i * 7919) % 1000) as f32 / 500.0 - 1.0 } else { 0.0 })
            .collect();
        let weight: Vec<f32> = (0..o * c).map(|i| ((i * 104_729) % 1000) as f32 / 1000.0 - 0.5).collect();
        let bias: Vec<f32> = (0..o).map(|i| i as f32 / 100.0 - 0.3).collect();
        let g = ConvGeometry { strides: [1, 1], padding: [(0, 0); 2], dilations: [1, 1], groups: 1 };
        for clamp in [None, Some([0.0, 6.0])] {
            let dense = conv2d(&x, [n, c, h, w], &weight, [o, c, 1, 1], Some(&bias), clamp, &g);
            let sparse = conv1x1(&x, [n, c, h, w], &transpose(&weight, o, c), o, Some(&bias), clamp);
            assert_eq!(dense.len(), sparse.len());
            for (i, (d, s)) in dense.iter().zip(&sparse).enumerate() {
                assert!((d - s).abs() <= 1e-5 * (1.0 + d.abs()), "output {i}: dense {d}, sparse {s}");
            }
        }
        assert_eq!(nonzeros(&x), x.iter().filter(|v| **v != 0.0).count());
        assert!(sparse_enough(&x, o) == (nonzeros(&x) as f32 <= max_density(o) * x.len() as f32));
        // No positions; no channels.
        assert!(conv1x1(&[], [1, c, 0, 3], &transpose(&weight, o, c), o, Some(&bias), None).is_empty());
        let y = conv1x1(&[], [1, 0, 2, 2], &transpose(&[], o, 0), o, Some(&bias), None);
        assert!((0..o).all(|r| y[r * 4..][..4].iter().all(|&v| v == bias[r])));
        // All zeros: bias alone.
        let zeros = vec![0f32; c * 4];
        let y = conv1x1(&zeros, [1, c, 2, 2], &transpose(&weight, o, c), o, Some(&bias), None);
        assert!((0..o).all(|r| y[r * 4..][..4].iter().all(|&v| v == bias[r])));
    }
}
