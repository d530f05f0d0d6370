//! Integer convolutions for int8 models whose activations are quantized too (QDQ files, and
//! onnxruntime's QOperator files once rewritten at load). The float path computes such a
//! convolution on dequantized values, `Σ (qₓ − zₓ)·sₓ · q_w·s_w`, one float product and sum per
//! term; here the same sum is done in integers, `sₓ·s_w · Σ (qₓ − zₓ)·q_w`, with wasm's
//! `i32x4.dot_i16x8_s`, which multiplies eight 16-bit pairs and adds them pairwise into four
//! 32-bit sums in one instruction: twice the multiplications per instruction of the float
//! kernel. The integer sum is exact; the result differs from the float path only by the float
//! sum's rounding, before the next QuantizeLinear rounds both to the same integers (bar ties).
//!
//! No file-format bookkeeping is needed: the weights, folded to floats at load, are checked to
//! be integer multiples of one scale per output channel ([`IntConv::new`]), and the input,
//! dequantized by a per-tensor DequantizeLinear, is divided by its scale and rounded, which
//! gives back `qₓ − zₓ` exactly.
//!
//! The product is blocked as in the classic BLAS kernels: the weights packed once as 4 output
//! channels × pairs of the reduction axis, the input's columns as 8 output pixels × the same
//! pairs, a 4×8 block of 32-bit sums kept in registers while 256 reduction terms stream past.

use super::cpu_conv::{ConvGeometry, im2col};
use super::cpu_par::{self, SharedMut};
use super::scratch;

/// Output channels per register block.
const MR: usize = 4;
/// Output pixels per register block.
const NR: usize = 8;
/// Reduction pairs per pass over the blocks (the packed input's block stays in L1).
const KC: usize = 128;
/// `|qₓ − zₓ|` for 8-bit activations (uint8 or int8, any 8-bit zero point).
const MAX_INPUT: i64 = 255;

/// Weights as integers with one scale per output channel, packed for the kernel.
#[derive(Debug, Clone)]
pub struct IntConv {
    /// Output channels, and the reduction length `C·kh·kw`.
    o: usize,
    k: usize,
    kernel: [usize; 2],
    /// Per output channel, the weights' scale.
    scales: Vec<f32>,
    /// `[⌈o/MR⌉][⌈k/2⌉][MR]`: each entry two consecutive weights of one channel as the low
    /// and high 16 bits of an `i32` (zero past the ends).
    packed: Vec<i32>,
}

impl IntConv {
    /// The integer form of `weight` (`[O, C, kh, kw]`, one group), when every output channel's
    /// weights are integer multiples of one scale within float rounding, the integers are at
    /// most 255 in size, and no 32-bit sum can overflow; `None` otherwise (a float model).
    pub fn new(weight: &[f32], [o, c, kh, kw]: [usize; 4]) -> Option<Self> {
        let k = c * kh * kw;
        if o == 0 || k == 0 || weight.len() != o * k {
            return None;
        }
        let mut scales = Vec::with_capacity(o);
        let mut ints = vec![0i32; o * k];
        let mut largest = 0i64;
        for (row, q) in weight.chunks_exact(k).zip(ints.chunks_exact_mut(k)) {
            let m = row.iter().fold(0f32, |m, v| m.max(v.abs()));
            if !m.is_finite() {
                return None;
            }
            if m == 0.0 {
                scales.push(1.0);
                continue;
            }
            // The smallest integer range that represents the row: its largest weight is d
            // steps of the scale. A float row passes no d.
            let tolerance = m * (1.0 / (1 << 20) as f32);
            let d = (1..=255).find(|&d| {
                let s = m / d as f32;
                row.iter().all(|&v| ((v / s).round() * s - v).abs() <= tolerance)
            })?;
            let s = m / d as f32;
            for (qv, &v) in q.iter_mut().zip(row) {
                *qv = (v / s).round() as i32;
            }
            largest = largest.max(d as i64);
            scales.push(s);
        }
        if k as i64 * MAX_INPUT * largest >= i32::MAX as i64 {
            return None;
        }
        let kp = k.div_ceil(2);
        let blocks = o.div_ceil(MR);
        let mut packed = vec![0i32; blocks * kp * MR];
        for (r, q) in ints.chunks_exact(k).enumerate() {
            let (ob, lane) = (r / MR, r % MR);
            for p in 0..kp {
                let lo = q[2 * p] as i16 as u16 as u32;
                let hi = q.get(2 * p + 1).copied().unwrap_or(0) as i16 as u16 as u32;
                packed[(ob * kp + p) * MR + lane] = (lo | hi << 16) as i32;
            }
        }
        Some(Self { o, k, kernel: [kh, kw], scales, packed })
    }

    /// The convolution of `x` (`[N, C, H, W]`, the output of a DequantizeLinear with scale
    /// `x_scale`) plus `bias`, clamped to `clamp` if given; `[N, O, H', W']` as
    /// [`super::cpu_conv::conv2d`].
    pub fn run(
        &self,
        x: &[f32],
        [n, c, h, w]: [usize; 4],
        x_scale: f32,
        bias: Option<&[f32]>,
        clamp: Option<[f32; 2]>,
        g: &ConvGeometry,
    ) -> Vec<f32> {
        let [oh, ow] = g.output([h, w], self.kernel);
        let spatial = oh * ow;
        let (kp, cols) = (self.k.div_ceil(2), spatial.div_ceil(NR) * NR);
        let plain = self.kernel == [1, 1] && g.strides == [1, 1] && g.padding == [(0, 0); 2];
        let mut out = vec![0f32; n * self.o * spatial];
        let [lo, hi] = clamp.unwrap_or([f32::NEG_INFINITY, f32::INFINITY]);
        // (Each part from a multiple of 8 values, so the panel's vector loads keep the buffer's
        // alignment.)
        let (ints_len, col_len) = ((c * h * w).next_multiple_of(8), if plain { 0 } else { self.k * spatial });
        let i16s = ints_len + col_len.next_multiple_of(8) + kp * cols * 2;
        scratch::with(&scratch::I16, i16s, |buf| {
            scratch::with(&scratch::I32, self.o.div_ceil(MR) * MR * cols, |sums| {
                // Each is written in full before it is read.
                let (ints, rest) = buf.split_at_mut(ints_len);
                let (col, panel) = rest.split_at_mut(col_len.next_multiple_of(8));
                let (ints, col) = (&mut ints[..c * h * w], &mut col[..col_len]);
                for b in 0..n {
                    to_integers(&x[b * c * h * w..][..c * h * w], x_scale, ints);
                    let rows = if plain {
                        &*ints
                    } else {
                        im2col(ints, [c, h, w], self.kernel, g, [oh, ow], col);
                        &*col
                    };
                    let dst = &mut out[b * self.o * spatial..][..self.o * spatial];
                    let sums_to_floats = ToFloats { x_scale, bias, clamp: [lo, hi] };
                    self.product(rows, spatial, panel, sums, &sums_to_floats, dst);
                }
            })
        });
        out
    }

    /// `dst[r][p] = finish(Σₖ weight[r][k] · rows[k][p])`: the columns `rows` (`[k, spatial]`)
    /// packed into `panel`, multiplied into `sums`, and turned back into floats. On the pool's
    /// threads each part takes a run of column blocks (where there are more of those than of
    /// output-channel blocks) and packs, multiplies and finishes its own columns in the same
    /// loop, so that the packing and the conversion are shared too, instead of running on one
    /// thread before and after the loop while the others wait. Where output-channel blocks are
    /// more (small planes), the columns are packed first and each part takes a run of those
    /// blocks (and finishes their rows). Each 4×8 block of sums adds its terms in the same
    /// order however the loop is split, so the result is the same to the bit.
    fn product(
        &self,
        rows: &[i16],
        spatial: usize,
        panel: &mut [i16],
        sums: &mut [i32],
        finish: &ToFloats,
        dst: &mut [f32],
    ) {
        let (kp, cols) = (self.k.div_ceil(2), spatial.div_ceil(NR) * NR);
        let (blocks, column_blocks) = (self.o.div_ceil(MR), cols / NR);
        assert!(rows.len() >= self.k * spatial && dst.len() >= self.o * spatial);
        assert!(sums.len() >= blocks * MR * cols && panel.len() >= kp * cols * 2);
        let by_columns = column_blocks >= blocks;
        let parts = if by_columns { cpu_par::parts(column_blocks, 1) } else { cpu_par::parts(blocks, 1) };
        if !by_columns {
            pack_columns(rows, self.k, spatial, panel, 0..column_blocks);
        }
        let (panel_at, sums_at, dst_at) =
            (SharedMut(panel.as_mut_ptr()), SharedMut(sums.as_mut_ptr()), SharedMut(dst.as_mut_ptr()));
        cpu_par::for_each(parts.len(), self.o * kp * 2 * cols, |p| {
            let (column_run, block_run) =
                if by_columns { (parts[p].clone(), 0..blocks) } else { (0..column_blocks, parts[p].clone()) };
            let block_len = kp * 2 * NR;
            // The panel's blocks this part reads, from block `first`.
            let (first, panel): (usize, &[i16]) = if by_columns {
                // SAFETY: the panel's column blocks `column_run` (within it, asserted above) are
                // this part's alone: it packs them, then reads them.
                let own = unsafe { panel_at.slice(column_run.start * block_len, column_run.len() * block_len) };
                pack_columns(rows, self.k, spatial, own, column_run.clone());
                (column_run.start, own)
            } else {
                // SAFETY: packed before the loop, read only by every part.
                (0, unsafe { std::slice::from_raw_parts(panel_at.ptr(), kp * cols * 2) })
            };
            for k0 in (0..kp).step_by(KC) {
                let len = KC.min(kp - k0);
                for pb in column_run.clone() {
                    let b = &panel[(pb - first) * block_len + k0 * 2 * NR..][..len * 2 * NR];
                    for ob in block_run.clone() {
                        let a = &self.packed[(ob * kp + k0) * MR..][..len * MR];
                        // SAFETY: the 4×8 block at rows ob·MR.., columns pb·NR.. lies within
                        // `sums` (asserted above), and only this part writes it: parts split the
                        // column blocks or the output-channel blocks.
                        unsafe { micro_kernel(a, b, len, sums_at.ptr().add(ob * MR * cols + pb * NR), cols, k0 == 0) };
                    }
                }
            }
            // This part's sums back to floats: its columns of every row, or its rows.
            let (j0, j1) = ((column_run.start * NR).min(spatial), (column_run.end * NR).min(spatial));
            for r in (block_run.start * MR).min(self.o)..(block_run.end * MR).min(self.o) {
                // SAFETY: row r's columns j0..j1 of `sums` and `dst` (within both, asserted
                // above) are this part's alone.
                let (from, to) = unsafe {
                    (
                        std::slice::from_raw_parts(sums_at.ptr().add(r * cols + j0), j1 - j0),
                        dst_at.slice(r * spatial + j0, j1 - j0),
                    )
                };
                let add = finish.bias.map_or(0.0, |b| b[r]);
                to_floats(from, self.scales[r] * finish.x_scale, add, finish.clamp[0], finish.clamp[1], to);
            }
        });
    }
}

/// How a convolution's integer sums become its float output: `sum · s_w · x_scale + bias`,
/// clamped to `clamp`.
struct ToFloats<'a> {
    x_scale: f32,
    bias: Option<&'a [f32]>,
    clamp: [f32; 2],
}

/// `ints[i] = round(x[i] / scale)`, saturated to ±255 (the values are exact integer multiples
/// of the scale, so this is `qₓ − zₓ`).
fn to_integers(x: &[f32], scale: f32, ints: &mut [i16]) {
    assert_eq!(x.len(), ints.len());
    #[cfg(target_arch = "wasm32")]
    // SAFETY: both slices have the same length (asserted); SIMD128 is required by the page.
    unsafe {
        wasm::to_integers(x, scale, ints)
    }
    #[cfg(not(target_arch = "wasm32"))]
    for (q, &v) in ints.iter_mut().zip(x) {
        let r = (v / scale).round_ties_even();
        *q = r.clamp(-MAX_INPUT as f32, MAX_INPUT as f32) as i16;
    }
}

/// `out[j] = clamp(sums[j] · scale + add, lo, hi)`: one output channel's sums back to floats.
fn to_floats(sums: &[i32], scale: f32, add: f32, lo: f32, hi: f32, out: &mut [f32]) {
    assert_eq!(sums.len(), out.len());
    #[cfg(target_arch = "wasm32")]
    // SAFETY: both slices have the same length (asserted).
    unsafe {
        wasm::to_floats(sums, scale, add, lo, hi, out)
    }
    #[cfg(not(target_arch = "wasm32"))]
    for (v, &s) in out.iter_mut().zip(sums) {
        let x = s as f32 * scale + add;
        let x = if x < lo { lo } else { x };
        *v = if hi < x { hi } else { x };
    }
}

/// Packs the column blocks `run` of `rows` (`[k, spatial]`) into `panel` (those blocks only,
/// from `run.start`), laid out as `[block][⌈k/2⌉][NR][2]`: per block of output pixels and pair
/// of reduction rows, each pixel's two values side by side (zero past the ends).
fn pack_columns(rows: &[i16], k: usize, spatial: usize, panel: &mut [i16], run: std::ops::Range<usize>) {
    let kp = k.div_ceil(2);
    let (full, blocks) = (spatial / NR, spatial.div_ceil(NR));
    assert!(run.start <= run.end && run.end <= blocks && panel.len() >= run.len() * kp * 2 * NR);
    // Whole blocks, then the last one (zero past the end).
    let whole = run.start.min(full)..run.end.min(full);
    for p in 0..kp {
        let r0 = &rows[2 * p * spatial..][..spatial];
        let r1 = (2 * p + 1 < k).then(|| &rows[(2 * p + 1) * spatial..][..spatial]);
        if !whole.is_empty() {
            let from = whole.start * NR;
            let dst = &mut panel[((whole.start - run.start) * kp + p) * 2 * NR..];
            interleave_blocks(&r0[from..], r1.map(|r| &r[from..]), whole.len(), dst, kp * 2 * NR);
        }
        if full < blocks && run.end == blocks {
            let dst = &mut panel[((full - run.start) * kp + p) * 2 * NR..][..2 * NR];
            let j0 = full * NR;
            for j in 0..NR {
                dst[2 * j] = r0.get(j0 + j).copied().unwrap_or(0);
                dst[2 * j + 1] = r1.and_then(|r| r.get(j0 + j)).copied().unwrap_or(0);
            }
        }
    }
}

/// For each of the first `blocks` blocks of NR values of `a` and `b` (zeros without `b`),
/// `[a₀, b₀, a₁, b₁, …]` at `dst[block · step..]`.
fn interleave_blocks(a: &[i16], b: Option<&[i16]>, blocks: usize, dst: &mut [i16], step: usize) {
    assert!(a.len() >= blocks * NR && b.is_none_or(|b| b.len() >= blocks * NR));
    assert!(blocks == 0 || dst.len() >= (blocks - 1) * step + 2 * NR);
    #[cfg(target_arch = "wasm32")]
    // SAFETY: the lengths are asserted above.
    unsafe {
        wasm::interleave_blocks(a, b, blocks, dst, step)
    }
    #[cfg(not(target_arch = "wasm32"))]
    for block in 0..blocks {
        for j in 0..NR {
            dst[block * step + 2 * j] = a[block * NR + j];
            dst[block * step + 2 * j + 1] = b.map_or(0, |b| b[block * NR + j]);
        }
    }
}

/// A 4×8 block of sums over `len` reduction pairs: `tile[r·stride + j] (+)= Σₚ a[p][r]·b[p][j]`,
/// starting from zero when `first`.
///
/// # Safety
/// `tile` points at a 4×8 block of sums with row stride `stride` that no one else reads or
/// writes meanwhile.
#[inline(always)]
unsafe fn micro_kernel(a: &[i32], b: &[i16], len: usize, tile: *mut i32, stride: usize, first: bool) {
    assert!(a.len() >= len * MR && b.len() >= len * 2 * NR && stride >= NR);
    #[cfg(target_arch = "wasm32")]
    // SAFETY: the operands' lengths are asserted above, the tile is the caller's promise.
    unsafe {
        wasm::micro_kernel(a, b, len, tile, stride, first)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let mut acc = [[0i32; NR]; MR];
        for p in 0..len {
            let bp = &b[p * 2 * NR..][..2 * NR];
            for (r, row) in acc.iter_mut().enumerate() {
                let pair = a[p * MR + r];
                let (lo, hi) = (pair as i16 as i32, (pair >> 16) as i16 as i32);
                for (j, v) in row.iter_mut().enumerate() {
                    *v += lo * bp[2 * j] as i32 + hi * bp[2 * j + 1] as i32;
                }
            }
        }
        for (r, row) in acc.iter().enumerate() {
            // SAFETY: row r of the caller's 4×8 block.
            let t = unsafe { std::slice::from_raw_parts_mut(tile.add(r * stride), NR) };
            for (t, v) in t.iter_mut().zip(row) {
                *t = if first { *v } else { *t + v };
            }
        }
    }
}

#[cfg(target_arch = "wasm32")]
mod wasm {
    use core::arch::wasm32::*;

    use super::{MAX_INPUT, MR, NR};

    #[target_feature(enable = "simd128")]
    pub unsafe fn interleave_blocks(a: &[i16], b: Option<&[i16]>, blocks: usize, dst: &mut [i16], step: usize) {
        let zeros = [0i16; NR];
        let (pa, d) = (a.as_ptr(), dst.as_mut_ptr());
        let (pb, b_step) = match b {
            Some(b) => (b.as_ptr(), NR),
            None => (zeros.as_ptr(), 0),
        };
        // SAFETY: `blocks` blocks of NR values in `a` and `b`, and of 2·NR at `step` apart in
        // `dst` (asserted by the caller).
        unsafe {
            let mut i = 0;
            while i < blocks {
                let va = v128_load(pa.add(i * NR) as *const v128);
                let vb = v128_load(pb.add(i * b_step) as *const v128);
                let q = d.add(i * step) as *mut v128;
                v128_store(q, i16x8_shuffle::<0, 8, 1, 9, 2, 10, 3, 11>(va, vb));
                v128_store(q.add(1), i16x8_shuffle::<4, 12, 5, 13, 6, 14, 7, 15>(va, vb));
                i += 1;
            }
        }
    }

    #[target_feature(enable = "simd128")]
    pub unsafe fn to_integers(x: &[f32], scale: f32, ints: &mut [i16]) {
        let (n, px, pq) = (x.len(), x.as_ptr(), ints.as_mut_ptr());
        let s = f32x4_splat(scale);
        let (lo, hi) = (i16x8_splat(-MAX_INPUT as i16), i16x8_splat(MAX_INPUT as i16));
        let mut i = 0;
        // SAFETY: every index is below the slices' common length `n`.
        unsafe {
            while i + 8 <= n {
                let r0 = i32x4_trunc_sat_f32x4(f32x4_nearest(f32x4_div(v128_load(px.add(i) as *const v128), s)));
                let r1 = i32x4_trunc_sat_f32x4(f32x4_nearest(f32x4_div(v128_load(px.add(i + 4) as *const v128), s)));
                let q = i16x8_min(i16x8_max(i16x8_narrow_i32x4(r0, r1), lo), hi);
                v128_store(pq.add(i) as *mut v128, q);
                i += 8;
            }
            while i < n {
                let r = (*px.add(i) / scale).round_ties_even();
                *pq.add(i) = r.clamp(-MAX_INPUT as f32, MAX_INPUT as f32) as i16;
                i += 1;
            }
        }
    }

    #[target_feature(enable = "simd128")]
    pub unsafe fn to_floats(sums: &[i32], scale: f32, add: f32, lo: f32, hi: f32, out: &mut [f32]) {
        let (n, ps, po) = (out.len(), sums.as_ptr(), out.as_mut_ptr());
        let (s, a, l, h) = (f32x4_splat(scale), f32x4_splat(add), f32x4_splat(lo), f32x4_splat(hi));
        let mut i = 0;
        // SAFETY: every index is below the slices' common length `n`.
        unsafe {
            while i + 4 <= n {
                let v = f32x4_convert_i32x4(v128_load(ps.add(i) as *const v128));
                let x = f32x4_add(f32x4_mul(v, s), a);
                v128_store(po.add(i) as *mut v128, f32x4_pmin(f32x4_pmax(x, l), h));
                i += 4;
            }
            while i < n {
                let x = *ps.add(i) as f32 * scale + add;
                let x = if x < lo { lo } else { x };
                *po.add(i) = if hi < x { hi } else { x };
                i += 1;
            }
        }
    }

    #[target_feature(enable = "simd128")]
    pub unsafe fn micro_kernel(a: &[i32], b: &[i16], len: usize, t: *mut i32, stride: usize, first: bool) {
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let z = i32x4_splat(0);
        let (mut c00, mut c01, mut c10, mut c11) = (z, z, z, z);
        let (mut c20, mut c21, mut c30, mut c31) = (z, z, z, z);
        // SAFETY: `len` pairs of `a` (MR each) and `b` (2·NR each), and a 4×8 tile of `tile`
        // with row stride `stride`, as the caller asserted.
        unsafe {
            let mut p = 0;
            while p < len {
                let va = v128_load(pa.add(p * MR) as *const v128);
                let b0 = v128_load(pb.add(p * 2 * NR) as *const v128);
                let b1 = v128_load(pb.add(p * 2 * NR + 8) as *const v128);
                let a0 = i32x4_shuffle::<0, 0, 0, 0>(va, va);
                c00 = i32x4_add(c00, i32x4_dot_i16x8(a0, b0));
                c01 = i32x4_add(c01, i32x4_dot_i16x8(a0, b1));
                let a1 = i32x4_shuffle::<1, 1, 1, 1>(va, va);
                c10 = i32x4_add(c10, i32x4_dot_i16x8(a1, b0));
                c11 = i32x4_add(c11, i32x4_dot_i16x8(a1, b1));
                let a2 = i32x4_shuffle::<2, 2, 2, 2>(va, va);
                c20 = i32x4_add(c20, i32x4_dot_i16x8(a2, b0));
                c21 = i32x4_add(c21, i32x4_dot_i16x8(a2, b1));
                let a3 = i32x4_shuffle::<3, 3, 3, 3>(va, va);
                c30 = i32x4_add(c30, i32x4_dot_i16x8(a3, b0));
                c31 = i32x4_add(c31, i32x4_dot_i16x8(a3, b1));
                p += 1;
            }
            let rows = [(c00, c01), (c10, c11), (c20, c21), (c30, c31)];
            for (r, (lo, hi)) in rows.into_iter().enumerate() {
                let q = t.add(r * stride) as *mut v128;
                if first {
                    v128_store(q, lo);
                    v128_store(q.add(1), hi);
                } else {
                    v128_store(q, i32x4_add(v128_load(q), lo));
                    v128_store(q.add(1), i32x4_add(v128_load(q.add(1)), hi));
                }
            }
        }
    }
}
