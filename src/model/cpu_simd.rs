//! The element-wise loops of the CPU kernels, with wasm SIMD128 where the page runs them. The
//! release profile optimizes for size (`opt-level = "z"`), which turns LLVM's loop vectorizer
//! off, so plain loops run one element at a time in the browser: a profile of SqueezeNet's
//! forward pass in wasm put Burn flex's ReLU alone at 12% of the pass (BENCHMARKS.md). These
//! loops are written with the SIMD128 instructions themselves; elsewhere (native tests and
//! benchmarks) they are plain loops.

/// `v ← clamp(v + add, lo, hi)` over `row`, with `lo ≤ hi` (`-∞`/`+∞` for no bound). A NaN stays
/// NaN, as in Burn's ReLU and clamp.
pub fn add_clamp(row: &mut [f32], add: f32, lo: f32, hi: f32) {
    let (n, p) = (row.len(), row.as_mut_ptr());
    // SAFETY: `p` is read and written for `n` values, each read before it is written.
    unsafe { add_clamp_raw(p, p, n, add, lo, hi) }
}

/// [`add_clamp`] of `src` into a new vector (no copy of `src` first, no zeroed buffer).
pub fn add_clamp_to(src: &[f32], add: f32, lo: f32, hi: f32) -> Vec<f32> {
    let mut out = Vec::with_capacity(src.len());
    // SAFETY: `src` is readable and the new buffer writable for `src.len()` values, which the
    // call writes every one of before the length is set.
    unsafe {
        add_clamp_raw(src.as_ptr(), out.as_mut_ptr(), src.len(), add, lo, hi);
        out.set_len(src.len());
    }
    out
}

/// # Safety
/// `src` readable and `dst` writable for `n` values; equal or not overlapping.
unsafe fn add_clamp_raw(src: *const f32, dst: *mut f32, n: usize, add: f32, lo: f32, hi: f32) {
    #[cfg(target_arch = "wasm32")]
    // SAFETY: the page needs SIMD128 (gemm's kernels use it too); the caller's bounds.
    unsafe {
        wasm::add_clamp(src, dst, n, add, lo, hi)
    }
    #[cfg(not(target_arch = "wasm32"))]
    for i in 0..n {
        // SAFETY: the caller's bounds.
        unsafe {
            let x = *src.add(i) + add;
            let x = if x < lo { lo } else { x };
            *dst.add(i) = if hi < x { hi } else { x };
        }
    }
}

/// `acc[i] ← max(acc[i], row[i])` (a NaN in `row` never wins; max pooling's inputs are finite).
pub fn max_into(acc: &mut [f32], row: &[f32]) {
    #[cfg(target_arch = "wasm32")]
    // SAFETY: as in `add_clamp`; both slices are read and written within their common length.
    unsafe {
        wasm::max_into(acc, row)
    }
    #[cfg(not(target_arch = "wasm32"))]
    for (a, &b) in acc.iter_mut().zip(row) {
        *a = if *a < b { b } else { *a };
    }
}

/// Copies `n` values from `src` to `dst`, for im2col's rows (7 to 112 values in the bundled
/// models). `copy_nonoverlapping` of a run length becomes wasm's `memory.copy`, which V8 runs
/// as a call out of the compiled code: on rows this short the call costs more than the copy
/// (im2col was a third of the QDQ ResNet-18's integer convolutions in wasm, BENCHMARKS.md).
///
/// # Safety
/// `src` must be readable and `dst` writable for `n` values, and the two must not overlap.
#[inline(always)]
pub unsafe fn copy_row<T: Copy>(src: *const T, dst: *mut T, n: usize) {
    #[cfg(target_arch = "wasm32")]
    // SAFETY: passed on from the caller.
    unsafe {
        wasm::copy_bytes(src as *const u8, dst as *mut u8, n * size_of::<T>())
    }
    #[cfg(not(target_arch = "wasm32"))]
    // SAFETY: passed on from the caller.
    unsafe {
        std::ptr::copy_nonoverlapping(src, dst, n)
    }
}

/// Copies `planes × rows` runs of `n` values: run (p, r) from `src + p·src_strides[0] +
/// r·src_strides[1]` to `dst + p·dst_strides[0] + r·dst_strides[1]`. One call for a block of
/// short rows (the incremental sweep's tiles: a call per row cost more than its copy).
///
/// # Safety
/// Every run must be readable at `src` and writable at `dst`, and no two may overlap.
pub unsafe fn copy_block<T: Copy>(
    src: *const T,
    src_strides: [usize; 2],
    dst: *mut T,
    dst_strides: [usize; 2],
    [planes, rows, n]: [usize; 3],
) {
    #[cfg(target_arch = "wasm32")]
    // SAFETY: passed on from the caller, in bytes.
    unsafe {
        let bytes = |s: [usize; 2]| s.map(|v| v * size_of::<T>());
        wasm::copy_block(
            src as *const u8,
            bytes(src_strides),
            dst as *mut u8,
            bytes(dst_strides),
            [planes, rows, n * size_of::<T>()],
        )
    }
    #[cfg(not(target_arch = "wasm32"))]
    for p in 0..planes {
        for r in 0..rows {
            // SAFETY: passed on from the caller.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    src.add(p * src_strides[0] + r * src_strides[1]),
                    dst.add(p * dst_strides[0] + r * dst_strides[1]),
                    n,
                )
            }
        }
    }
}

/// `dst[j] = src[j · step]` for `j < n`: a strided convolution's im2col row. Index loops on
/// raw pointers (at opt-level "z" an iterator stays a function call per value: the 7×7
/// stride-2 first layer of ResNet-18 spent 20 ms of a 100 ms pass here in wasm), and with
/// SIMD128 two vectors deinterleaved per eight values for a step of 2.
///
/// # Safety
/// `src` must be readable at `j · step` for `j < n`, `dst` writable for `n` values, and the
/// two must not overlap.
#[inline(always)]
pub unsafe fn gather_row<T: Copy>(src: *const T, step: usize, dst: *mut T, n: usize) {
    let mut j = 0;
    // SAFETY: passed on from the caller; the vector loops read `src` below index
    // `2·(j + 8) − 1 ≤ 2·(n − 1)` (bytes of that element included), as the scalar loop does.
    unsafe {
        #[cfg(target_arch = "wasm32")]
        if step == 2 {
            j = match size_of::<T>() {
                2 => wasm::gather_pairs_16(src as *const u8, dst as *mut u8, n),
                4 => wasm::gather_pairs_32(src as *const u8, dst as *mut u8, n),
                _ => 0,
            };
        }
        while j < n {
            *dst.add(j) = *src.add(j * step);
            j += 1;
        }
    }
}

/// The sum of `row`: four lanes of partial sums, added together at the end (a fixed order,
/// so the same values give the same bits everywhere the page runs).
pub fn sum(row: &[f32]) -> f32 {
    #[cfg(target_arch = "wasm32")]
    // SAFETY: as in `add_clamp`.
    unsafe {
        wasm::sum(row)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let mut lanes = [0f32; 4];
        let whole = row.len() / 4 * 4;
        for chunk in row[..whole].chunks_exact(4) {
            for (l, v) in lanes.iter_mut().zip(chunk) {
                *l += v;
            }
        }
        let mut total = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
        for v in &row[whole..] {
            total += v;
        }
        total
    }
}

/// ONNX QuantizeLinear, kept in floats: `v ← clamp(round(v / scale + zero), lo, hi)`, rounding
/// half to even.
pub fn quantize(row: &mut [f32], scale: f32, zero: f32, lo: f32, hi: f32) {
    #[cfg(target_arch = "wasm32")]
    // SAFETY: as in `add_clamp`.
    unsafe {
        wasm::quantize(row, scale, zero, lo, hi)
    }
    #[cfg(not(target_arch = "wasm32"))]
    for v in row {
        let q = (*v / scale + zero).round_ties_even();
        let q = if q < lo { lo } else { q };
        *v = if hi < q { hi } else { q };
    }
}

/// ONNX DequantizeLinear: `v ← (v − zero) · scale`.
pub fn dequantize(row: &mut [f32], scale: f32, zero: f32) {
    #[cfg(target_arch = "wasm32")]
    // SAFETY: as in `add_clamp`.
    unsafe {
        wasm::dequantize(row, scale, zero)
    }
    #[cfg(not(target_arch = "wasm32"))]
    for v in row {
        *v = (*v - zero) * scale;
    }
}

/// `v ← v · mul + add` (a batch normalization's per-channel affine map at inference).
pub fn affine(row: &mut [f32], mul: f32, add: f32) {
    #[cfg(target_arch = "wasm32")]
    // SAFETY: as in `add_clamp`.
    unsafe {
        wasm::affine(row, mul, add)
    }
    #[cfg(not(target_arch = "wasm32"))]
    for v in row {
        *v = *v * mul + add;
    }
}

/// A clamp's backward pass into a new vector: `grad[i]` where `lo < x[i] < hi` (and, with
/// `guided`, where `grad[i] > 0`), else 0; `x` is the clamp's forward input (a ReLU's for
/// `[0, ∞]`), of the gradient's length.
pub fn relu_gradient_to(x: &[f32], grad: &[f32], bounds: [f32; 2], guided: bool) -> Vec<f32> {
    assert_eq!(x.len(), grad.len(), "a clamp's input and gradient of one size");
    let mut out = Vec::with_capacity(grad.len());
    // SAFETY: both inputs readable and the new buffer writable for `grad.len()` values, every
    // one written before the length is set.
    unsafe {
        relu_gradient_raw(x.as_ptr(), grad.as_ptr(), out.as_mut_ptr(), grad.len(), bounds, guided);
        out.set_len(grad.len());
    }
    out
}

/// # Safety
/// `x` and `grad` readable and `dst` writable for `n` values; `dst` equal to `grad` or not
/// overlapping either.
unsafe fn relu_gradient_raw(
    x: *const f32,
    grad: *const f32,
    dst: *mut f32,
    n: usize,
    [lo, hi]: [f32; 2],
    guided: bool,
) {
    #[cfg(target_arch = "wasm32")]
    // SAFETY: as in `add_clamp_raw`.
    unsafe {
        wasm::relu_gradient(x, grad, dst, n, [lo, hi], guided)
    }
    #[cfg(not(target_arch = "wasm32"))]
    for i in 0..n {
        // SAFETY: the caller's bounds.
        unsafe {
            let (v, g) = (*x.add(i), *grad.add(i));
            let pass = lo < v && v < hi && (!guided || g > 0.0);
            *dst.add(i) = if pass { g } else { 0.0 };
        }
    }
}

/// `out[j] ← clamp(add + Σₜ weights[t] · rows[t][j], lo, hi)` for every `j` of `out`: one output
/// row of a depthwise convolution, each tap a shifted input row (each at least `out.len()` long).
/// Per output element the taps are summed in order, then `add`.
pub fn weighted_rows(out: &mut [f32], rows: &[&[f32]], weights: &[f32], add: f32, lo: f32, hi: f32) {
    let taps = rows.len().min(weights.len());
    assert!(rows[..taps].iter().all(|r| r.len() >= out.len()), "a tap row is shorter than the output");
    #[cfg(target_arch = "wasm32")]
    if taps <= wasm::MAX_TAPS {
        // SAFETY: as in `add_clamp`; every tap row holds `out.len()` values (asserted above).
        unsafe { wasm::weighted_rows(out, &rows[..taps], weights, add, lo, hi) };
        return;
    }
    for (j, v) in out.iter_mut().enumerate() {
        let mut acc = 0.0;
        for t in 0..taps {
            acc += weights[t] * rows[t][j];
        }
        let x = acc + add;
        let x = if x < lo { lo } else { x };
        *v = if hi < x { hi } else { x };
    }
}

#[cfg(target_arch = "wasm32")]
mod wasm {
    //! Index loops over raw pointers: at opt-level "z" slice iterators stay function calls.
    use core::arch::wasm32::*;

    #[target_feature(enable = "simd128")]
    pub unsafe fn sum(row: &[f32]) -> f32 {
        let (n, p) = (row.len(), row.as_ptr());
        let mut acc = f32x4_splat(0.0);
        let mut i = 0;
        // SAFETY: every index is below `n`.
        unsafe {
            while i + 4 <= n {
                acc = f32x4_add(acc, v128_load(p.add(i) as *const v128));
                i += 4;
            }
            let lane = |k: usize| match k {
                0 => f32x4_extract_lane::<0>(acc),
                1 => f32x4_extract_lane::<1>(acc),
                2 => f32x4_extract_lane::<2>(acc),
                _ => f32x4_extract_lane::<3>(acc),
            };
            let mut total = (lane(0) + lane(1)) + (lane(2) + lane(3));
            while i < n {
                total += *p.add(i);
                i += 1;
            }
            total
        }
    }

    /// Every other 2-byte value, eight at a time while the 16 read stay within the `2n − 1`
    /// the caller may read; returns how many were written.
    #[target_feature(enable = "simd128")]
    pub unsafe fn gather_pairs_16(src: *const u8, dst: *mut u8, n: usize) -> usize {
        let mut j = 0;
        // SAFETY: reads end at byte 2·2·(j + 8) ≤ 2·(2n − 1), writes at 2·(j + 8) ≤ 2n.
        unsafe {
            while j + 8 < n {
                let a = v128_load(src.add(4 * j) as *const v128);
                let b = v128_load(src.add(4 * j + 16) as *const v128);
                v128_store(dst.add(2 * j) as *mut v128, i16x8_shuffle::<0, 2, 4, 6, 8, 10, 12, 14>(a, b));
                j += 8;
            }
        }
        j
    }

    /// As [`gather_pairs_16`] for 4-byte values, four at a time.
    #[target_feature(enable = "simd128")]
    pub unsafe fn gather_pairs_32(src: *const u8, dst: *mut u8, n: usize) -> usize {
        let mut j = 0;
        // SAFETY: reads end at byte 4·2·(j + 4) ≤ 4·(2n − 1), writes at 4·(j + 4) ≤ 4n.
        unsafe {
            while j + 4 < n {
                let a = v128_load(src.add(8 * j) as *const v128);
                let b = v128_load(src.add(8 * j + 16) as *const v128);
                v128_store(dst.add(4 * j) as *mut v128, i32x4_shuffle::<0, 2, 4, 6>(a, b));
                j += 4;
            }
        }
        j
    }

    /// 16 bytes at a time, the last 16 overlapping the previous ones (the ranges do not
    /// overlap each other, so rewriting a few bytes is harmless).
    #[target_feature(enable = "simd128")]
    pub unsafe fn copy_bytes(src: *const u8, dst: *mut u8, bytes: usize) {
        // SAFETY: passed on from the caller.
        unsafe { copy_bytes_inline(src, dst, bytes) }
    }

    /// `super::copy_block` in bytes.
    #[target_feature(enable = "simd128")]
    pub unsafe fn copy_block(
        src: *const u8,
        [sp, sr]: [usize; 2],
        dst: *mut u8,
        [dp, dr]: [usize; 2],
        [planes, rows, bytes]: [usize; 3],
    ) {
        let mut p = 0;
        while p < planes {
            let mut r = 0;
            while r < rows {
                // SAFETY: run (p, r), by the caller's promise.
                unsafe { copy_bytes_inline(src.add(p * sp + r * sr), dst.add(p * dp + r * dr), bytes) };
                r += 1;
            }
            p += 1;
        }
    }

    /// `copy_bytes`' body, inlined into SIMD128 callers.
    #[inline(always)]
    unsafe fn copy_bytes_inline(src: *const u8, dst: *mut u8, bytes: usize) {
        // SAFETY: every access is within the `bytes` bytes the caller vouched for.
        unsafe {
            if bytes < 16 {
                // Two 8-byte words (overlapping) for 8 to 15 bytes, else byte by byte.
                if bytes >= 8 {
                    let last = bytes - 8;
                    let (a, b) = ((src as *const u64).read_unaligned(), (src.add(last) as *const u64).read_unaligned());
                    (dst as *mut u64).write_unaligned(a);
                    (dst.add(last) as *mut u64).write_unaligned(b);
                } else {
                    for i in 0..bytes {
                        *dst.add(i) = *src.add(i);
                    }
                }
                return;
            }
            let mut i = 0;
            while i + 16 <= bytes {
                v128_store(dst.add(i) as *mut v128, v128_load(src.add(i) as *const v128));
                i += 16;
            }
            if i < bytes {
                let last = bytes - 16;
                v128_store(dst.add(last) as *mut v128, v128_load(src.add(last) as *const v128));
            }
        }
    }

    #[target_feature(enable = "simd128")]
    pub unsafe fn add_clamp(src: *const f32, dst: *mut f32, n: usize, add: f32, lo: f32, hi: f32) {
        let (a, l, h) = (f32x4_splat(add), f32x4_splat(lo), f32x4_splat(hi));
        let mut i = 0;
        // SAFETY (this function and the next two): every access is at an index below `n`, the
        // caller's bounds; wasm loads and stores need no alignment.
        unsafe {
            while i + 4 <= n {
                let x = v128_load(src.add(i) as *const v128);
                // pmax(x, lo) = x < lo ? lo : x and pmin(x, hi) = hi < x ? hi : x keep NaN.
                v128_store(dst.add(i) as *mut v128, f32x4_pmin(f32x4_pmax(f32x4_add(x, a), l), h));
                i += 4;
            }
            while i < n {
                let x = *src.add(i) + add;
                let x = if x < lo { lo } else { x };
                *dst.add(i) = if hi < x { hi } else { x };
                i += 1;
            }
        }
    }

    #[target_feature(enable = "simd128")]
    pub unsafe fn max_into(acc: &mut [f32], row: &[f32]) {
        let (n, p, r) = (acc.len().min(row.len()), acc.as_mut_ptr(), row.as_ptr());
        let mut i = 0;
        unsafe {
            while i + 4 <= n {
                let q = p.add(i) as *mut v128;
                v128_store(q, f32x4_pmax(v128_load(q), v128_load(r.add(i) as *const v128)));
                i += 4;
            }
            while i < n {
                let (a, b) = (*p.add(i), *r.add(i));
                *p.add(i) = if a < b { b } else { a };
                i += 1;
            }
        }
    }

    #[target_feature(enable = "simd128")]
    pub unsafe fn quantize(row: &mut [f32], scale: f32, zero: f32, lo: f32, hi: f32) {
        let (n, p) = (row.len(), row.as_mut_ptr());
        let (s, z, l, h) = (f32x4_splat(scale), f32x4_splat(zero), f32x4_splat(lo), f32x4_splat(hi));
        let mut i = 0;
        unsafe {
            while i + 4 <= n {
                let q = p.add(i) as *mut v128;
                // f32x4_nearest rounds half to even.
                let r = f32x4_nearest(f32x4_add(f32x4_div(v128_load(q), s), z));
                v128_store(q, f32x4_pmin(f32x4_pmax(r, l), h));
                i += 4;
            }
            while i < n {
                let r = (*p.add(i) / scale + zero).round_ties_even();
                let r = if r < lo { lo } else { r };
                *p.add(i) = if hi < r { hi } else { r };
                i += 1;
            }
        }
    }

    #[target_feature(enable = "simd128")]
    pub unsafe fn dequantize(row: &mut [f32], scale: f32, zero: f32) {
        let (n, p) = (row.len(), row.as_mut_ptr());
        let (s, z) = (f32x4_splat(scale), f32x4_splat(zero));
        let mut i = 0;
        unsafe {
            while i + 4 <= n {
                let q = p.add(i) as *mut v128;
                v128_store(q, f32x4_mul(f32x4_sub(v128_load(q), z), s));
                i += 4;
            }
            while i < n {
                *p.add(i) = (*p.add(i) - zero) * scale;
                i += 1;
            }
        }
    }

    #[target_feature(enable = "simd128")]
    pub unsafe fn affine(row: &mut [f32], mul: f32, add: f32) {
        let (n, p) = (row.len(), row.as_mut_ptr());
        let (m, a) = (f32x4_splat(mul), f32x4_splat(add));
        let mut i = 0;
        unsafe {
            while i + 4 <= n {
                let q = p.add(i) as *mut v128;
                v128_store(q, f32x4_add(f32x4_mul(v128_load(q), m), a));
                i += 4;
            }
            while i < n {
                *p.add(i) = *p.add(i) * mul + add;
                i += 1;
            }
        }
    }

    #[target_feature(enable = "simd128")]
    pub unsafe fn relu_gradient(
        x: *const f32,
        grad: *const f32,
        dst: *mut f32,
        n: usize,
        [lo, hi]: [f32; 2],
        guided: bool,
    ) {
        let (zero, l, h) = (f32x4_splat(0.0), f32x4_splat(lo), f32x4_splat(hi));
        let mut i = 0;
        unsafe {
            while i + 4 <= n {
                let g = v128_load(grad.add(i) as *const v128);
                let v = v128_load(x.add(i) as *const v128);
                let mut mask = v128_and(f32x4_gt(v, l), f32x4_lt(v, h));
                if guided {
                    mask = v128_and(mask, f32x4_gt(g, zero));
                }
                v128_store(dst.add(i) as *mut v128, v128_and(g, mask));
                i += 4;
            }
            while i < n {
                let (v, g) = (*x.add(i), *grad.add(i));
                let pass = lo < v && v < hi && (!guided || g > 0.0);
                *dst.add(i) = if pass { g } else { 0.0 };
                i += 1;
            }
        }
    }

    /// Taps per output element in the SIMD depthwise path (7×7 kernels fit).
    pub const MAX_TAPS: usize = 49;

    #[target_feature(enable = "simd128")]
    pub unsafe fn weighted_rows(out: &mut [f32], rows: &[&[f32]], weights: &[f32], add: f32, lo: f32, hi: f32) {
        let (n, taps, p) = (out.len(), rows.len(), out.as_mut_ptr());
        let mut ptrs = [core::ptr::null::<f32>(); MAX_TAPS];
        let mut ws = [f32x4_splat(0.0); MAX_TAPS];
        for t in 0..taps {
            ptrs[t] = rows[t].as_ptr();
            ws[t] = f32x4_splat(weights[t]);
        }
        let (a, l, h) = (f32x4_splat(add), f32x4_splat(lo), f32x4_splat(hi));
        let (pp, wp) = (ptrs.as_ptr(), ws.as_ptr());
        let mut j = 0;
        unsafe {
            // Eight outputs at a time (two accumulators share each tap's pointer and weight).
            while j + 8 <= n {
                let (mut s0, mut s1) = (f32x4_splat(0.0), f32x4_splat(0.0));
                let mut t = 0;
                while t < taps {
                    let (r, w) = ((*pp.add(t)).add(j), *wp.add(t));
                    s0 = f32x4_add(s0, f32x4_mul(w, v128_load(r as *const v128)));
                    s1 = f32x4_add(s1, f32x4_mul(w, v128_load(r.add(4) as *const v128)));
                    t += 1;
                }
                v128_store(p.add(j) as *mut v128, f32x4_pmin(f32x4_pmax(f32x4_add(s0, a), l), h));
                v128_store(p.add(j + 4) as *mut v128, f32x4_pmin(f32x4_pmax(f32x4_add(s1, a), l), h));
                j += 8;
            }
            while j + 4 <= n {
                let mut s0 = f32x4_splat(0.0);
                let mut t = 0;
                while t < taps {
                    s0 = f32x4_add(s0, f32x4_mul(*wp.add(t), v128_load((*pp.add(t)).add(j) as *const v128)));
                    t += 1;
                }
                v128_store(p.add(j) as *mut v128, f32x4_pmin(f32x4_pmax(f32x4_add(s0, a), l), h));
                j += 4;
            }
            while j < n {
                let mut acc = 0.0;
                let mut t = 0;
                while t < taps {
                    acc += *weights.as_ptr().add(t) * *(*pp.add(t)).add(j);
                    t += 1;
                }
                let x = acc + add;
                let x = if x < lo { lo } else { x };
                *p.add(j) = if hi < x { hi } else { x };
                j += 1;
            }
        }
    }
}
