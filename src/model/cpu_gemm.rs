//! The float matrix product of the CPU convolutions in wasm: `dst = lhs · rhs`, row-major, with
//! a register block of 4 rows × 8 columns (eight SIMD accumulators). gemm's wasm kernels keep
//! twelve accumulators (12 × 4), and with its operands that is more vector registers than V8
//! hands out on x86-64 (15), so they spill in the innermost loop; eight do not
//! (BENCHMARKS.md, "Own float matrix product, and a worker build with relaxed SIMD").
//!
//! Built with `relaxed-simd` (the page's second worker build, for browsers that have it), each
//! multiply-add is one fused instruction where the hardware has one (`f32x4.relaxed_madd`);
//! otherwise a multiply and an add, rounded in turn, as in every other kernel here.
//!
//! Each output sums its terms in order of depth, in blocks of [`KC`] (a block's partial sums
//! are stored and taken up again by the next), whatever the matrices' sizes and however a
//! caller splits the columns or rows between threads: the same bits either way.

/// Depth of one block: the packed rows of `rhs` (8 columns × `KC`, 8 KiB) stay in the first
/// level cache while every row block of `lhs` passes them.
pub const KC: usize = 256;
/// Rows and columns of the register block.
const MR: usize = 4;
const NR: usize = 8;

thread_local! {
    /// Packed operands: `lhs`'s rows for one depth block, then one panel of `rhs`.
    static PACKED: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs `f` on at least `len` values of this thread's kept buffer ([`PACKED`]), or of a fresh
/// one where the kept one is in use (a product inside another's callback).
fn with_buffer<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    PACKED.with(|cell| {
        let mut kept = cell.try_borrow_mut();
        let mut fresh = Vec::new();
        let buf = kept.as_deref_mut().unwrap_or(&mut fresh);
        if buf.len() < len {
            buf.resize(len, 0.0);
        }
        f(&mut buf[..len])
    })
}

/// `dst = lhs · rhs` (`[m, k] · [k, n]`), each matrix row-major with the row strides
/// `[dst, lhs, rhs]` and unit column strides. With `k == 0`, `dst` is zeroed.
///
/// # Safety
/// The three matrices lie within live buffers, and nothing else touches `dst`'s meanwhile.
pub unsafe fn gemm(dst: *mut f32, lhs: *const f32, rhs: *const f32, [m, k, n]: [usize; 3], [ds, ls, rs]: [usize; 3]) {
    // SAFETY: by the caller's promise.
    unsafe { gemm_from(dst, Lhs::Strided { ptr: lhs, rs: ls, cs: 1 }, rhs, [m, k, n], [ds, rs]) }
}

/// Where [`gemm_from`] reads its left operand (`[m, k]`) as it packs it.
#[derive(Clone, Copy, Debug)]
pub enum Lhs {
    /// Element `(i, p)` at `ptr[i · rs + p · cs]`: with `cs == 1` a row-major matrix, with
    /// `rs == 1` the transpose of one (a backward pass's weights, read where they lie).
    Strided { ptr: *const f32, rs: usize, cs: usize },
    /// The transpose of a `[rows, cols]` matrix packed by [`pack_lhs_all`]: element `(i, p)` is
    /// the packed matrix's `(p, i)` (Winograd's transformed weights, packed for the forward
    /// pass, read by the backward one).
    PackedTransposed { packed: *const f32, shape: [usize; 2] },
}

/// [`gemm`] with the left operand read from `lhs`.
///
/// # Safety
/// As [`gemm`]: `lhs` describes a live `[m, k]` matrix (a packed one holds
/// [`packed_len`]`(shape)` values with `shape == [k, m]`).
pub unsafe fn gemm_from(dst: *mut f32, lhs: Lhs, rhs: *const f32, [m, k, n]: [usize; 3], [ds, rs]: [usize; 2]) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        // SAFETY: by the caller's promise.
        return unsafe { zero(dst, [m, n], ds) };
    }
    if let Lhs::PackedTransposed { shape, .. } = lhs {
        assert_eq!(shape, [k, m], "packed operand of the product's shape");
    }
    let row_blocks = m.div_ceil(MR);
    let lhs_len = row_blocks * MR * KC.min(k);
    with_buffer(lhs_len + NR * KC, |buf| {
        let (a, b) = buf.split_at_mut(lhs_len);
        let mut p0 = 0;
        while p0 < k {
            let kc = KC.min(k - p0);
            // SAFETY: the reads stay within lhs's m rows and columns p0..p0 + kc (the caller's
            // promise); `a` holds row_blocks · MR · kc values.
            unsafe {
                match lhs {
                    Lhs::Strided { ptr, rs, cs: 1 } => pack_lhs(a, ptr.add(p0), rs, m, kc),
                    _ => pack_lhs_from(a, lhs, p0, m, kc),
                }
            };
            // SAFETY: by the caller's promise; `a` holds this depth block packed.
            unsafe { panels(dst, a, b, rhs, [p0, kc], [m, n], [ds, rs]) };
            p0 += KC;
        }
    });
}

/// `dst`'s `m` rows of `n` values (row stride `ds`) set to zero.
///
/// # Safety
/// They lie within a live buffer that nothing else touches meanwhile.
unsafe fn zero(dst: *mut f32, [m, n]: [usize; 2], ds: usize) {
    for i in 0..m {
        // SAFETY: row i of dst lies within it (the caller's promise).
        unsafe { std::slice::from_raw_parts_mut(dst.add(i * ds), n).fill(0.0) };
    }
}

/// One depth block (steps `p0..p0 + kc`) of [`gemm`]: `a` holds `lhs`'s rows for it packed
/// ([`pack_lhs`]), `b` room for one panel of `rhs` ([`NR`] × `kc`); every panel of `n` columns
/// in turn, added to `dst` from the second block on.
///
/// # Safety
/// As [`gemm`]; `a` holds `⌈m / MR⌉ · MR · kc` values.
unsafe fn panels(
    dst: *mut f32,
    a: &[f32],
    b: &mut [f32],
    rhs: *const f32,
    [p0, kc]: [usize; 2],
    [m, n]: [usize; 2],
    [ds, rs]: [usize; 2],
) {
    assert!(a.len() >= m.div_ceil(MR) * MR * kc && b.len() >= NR * kc);
    let mut j0 = 0;
    while j0 < n {
        let nr = NR.min(n - j0);
        // The last panel, if it is 4 columns or fewer, is packed 4 wide.
        let width = if nr <= NR / 2 { NR / 2 } else { NR };
        // SAFETY: rows p0..p0 + kc and columns j0..j0 + nr of rhs lie within it.
        unsafe { pack_rhs(b, rhs.add(p0 * rs + j0), rs, kc, nr, width) };
        for rb in 0..m.div_ceil(MR) {
            let mr = MR.min(m - rb * MR);
            // SAFETY: the block's rows rb·MR.. (mr of them) and columns j0.. (nr) lie
            // within dst; the packed panels hold kc steps each.
            unsafe {
                let c = dst.add(rb * MR * ds + j0);
                block(a.as_ptr().add(rb * MR * kc), b.as_ptr(), kc, c, ds, [mr, nr, width], p0 > 0)
            };
        }
        j0 += NR;
    }
}

/// How many values [`pack_lhs_all`] makes of an `[m, k]` matrix (its rows padded to whole
/// register blocks).
pub fn packed_len([m, k]: [usize; 2]) -> usize {
    m.div_ceil(MR) * MR * k
}

/// `lhs` (`[m, k]`, row stride `ls`) packed once for [`gemm_packed`]: each depth block of
/// [`KC`] steps as [`pack_lhs`] lays it out, the blocks one after another.
pub fn pack_lhs_all(lhs: &[f32], ls: usize, [m, k]: [usize; 2]) -> Vec<f32> {
    assert!(m == 0 || lhs.len() >= (m - 1) * ls + k);
    let rows = m.div_ceil(MR) * MR;
    let mut a = vec![0f32; packed_len([m, k])];
    for p0 in (0..k).step_by(KC) {
        let kc = KC.min(k - p0);
        // SAFETY: rows below m, columns p0..p0 + kc of lhs lie within it (asserted).
        unsafe { pack_lhs(&mut a[rows * p0..][..rows * kc], lhs.as_ptr().add(p0), ls, m, kc) };
    }
    a
}

/// [`gemm`] with `lhs` packed beforehand by [`pack_lhs_all`] (`[m, k]`): the same sums in the
/// same order (the same bits), without packing the weights again on every call, which on
/// products of few columns costs as much as a third of the product (BENCHMARKS.md).
///
/// # Safety
/// `packed` holds [`pack_lhs_all`]'s values for `[m, k]`; `rhs` and `dst` as in [`gemm`].
pub unsafe fn gemm_packed(dst: *mut f32, packed: &[f32], rhs: *const f32, [m, k, n]: [usize; 3], [ds, rs]: [usize; 2]) {
    if m == 0 || n == 0 {
        return;
    }
    let rows = m.div_ceil(MR) * MR;
    assert!(packed.len() >= rows * k);
    if k == 0 {
        // SAFETY: by the caller's promise.
        return unsafe { zero(dst, [m, n], ds) };
    }
    with_buffer(NR * KC, |buf| {
        for p0 in (0..k).step_by(KC) {
            let kc = KC.min(k - p0);
            // SAFETY: by the caller's promise; depth block p0 of the packed weights.
            unsafe { panels(dst, &packed[rows * p0..][..rows * kc], buf, rhs, [p0, kc], [m, n], [ds, rs]) };
        }
    });
}

/// `dst = lhs · rhs` as [`gemm`], for products of few columns (a small patch's convolution, a
/// Winograd frequency over a few tiles): `rhs` is transposed into a kept buffer (`k · n` values,
/// few), and each output is one dot product of a row of `lhs`, read where it lies, and a column
/// of `rhs`, in blocks of 4 rows × 2 columns (eight accumulators, four partial sums each). The
/// weights (`lhs`, the large operand here) are not packed at all, where gemm's kernels pack them
/// on every call (more work than the product itself when `n` is 4: BENCHMARKS.md). Each output
/// is summed the same way whatever the split of rows or columns between threads.
///
/// # Safety
/// As [`gemm`].
pub unsafe fn gemm_narrow(
    dst: *mut f32,
    lhs: *const f32,
    rhs: *const f32,
    [m, k, n]: [usize; 3],
    [ds, ls, rs]: [usize; 3],
) {
    if m == 0 || n == 0 {
        return;
    }
    // Each column of `rhs` as a row of `k4` values, zero past `k`.
    let k4 = k.next_multiple_of(4);
    with_buffer(n * k4, |t| {
        // SAFETY: rows 0..k of rhs hold n values each (the caller's promise); t holds n rows
        // of k4.
        unsafe { transpose(rhs, rs, [k, n], t.as_mut_ptr(), k4) };
        for j in 0..n {
            t[j * k4 + k..(j + 1) * k4].fill(0.0);
        }
        let t = t.as_ptr();
        for i0 in (0..m).step_by(MR) {
            for j0 in (0..n).step_by(2) {
                let (r, c) = (MR.min(m - i0), 2.min(n - j0));
                // SAFETY: rows i0.. (r of them) of lhs and dst, columns j0.. (c) of dst and
                // rows j0.. of t, all within their buffers.
                unsafe {
                    let (a, b, d) = (lhs.add(i0 * ls), t.add(j0 * k4), dst.add(i0 * ds + j0));
                    dots([r, c], a, ls, b, k4, k, d, ds)
                }
            }
        }
    });
}

/// `t[j·ts + p] = rhs[p·rs + j]` for `p < k`, `j < n`: in 4 × 4 blocks of SIMD shuffles in
/// wasm (value by value, the transposition took a sixth of the narrow products' time in an
/// occlusion sweep), the edges value by value.
///
/// # Safety
/// `rhs` holds `k` rows of `n` values at stride `rs`, `t` holds `n` rows of `ts ≥ k` values.
#[cfg_attr(target_arch = "wasm32", target_feature(enable = "simd128"))]
unsafe fn transpose(rhs: *const f32, rs: usize, [k, n]: [usize; 2], t: *mut f32, ts: usize) {
    // The rows and columns the blocks cover.
    let (k0, n0) = if cfg!(target_arch = "wasm32") { (k / 4 * 4, n / 4 * 4) } else { (0, 0) };
    #[cfg(target_arch = "wasm32")]
    {
        use core::arch::wasm32::*;
        for p in (0..k0).step_by(4) {
            for j in (0..n0).step_by(4) {
                // SAFETY: rows p..p + 4, columns j..j + 4 of rhs; rows j..j + 4, columns
                // p..p + 4 of t (all within bounds: p + 4 ≤ k, j + 4 ≤ n).
                unsafe {
                    let r = |i: usize| v128_load(rhs.add((p + i) * rs + j) as *const v128);
                    let (r0, r1, r2, r3) = (r(0), r(1), r(2), r(3));
                    let (a, b) = (i32x4_shuffle::<0, 4, 1, 5>(r0, r1), i32x4_shuffle::<2, 6, 3, 7>(r0, r1));
                    let (c, d) = (i32x4_shuffle::<0, 4, 1, 5>(r2, r3), i32x4_shuffle::<2, 6, 3, 7>(r2, r3));
                    let w = |i: usize, v: v128| v128_store(t.add((j + i) * ts + p) as *mut v128, v);
                    w(0, i64x2_shuffle::<0, 2>(a, c));
                    w(1, i64x2_shuffle::<1, 3>(a, c));
                    w(2, i64x2_shuffle::<0, 2>(b, d));
                    w(3, i64x2_shuffle::<1, 3>(b, d));
                }
            }
        }
    }
    for p in 0..k {
        // The columns from n0 on in the blocks' rows, every column below them.
        let from = if p < k0 { n0 } else { 0 };
        for j in from..n {
            // SAFETY: p < k, j < n.
            unsafe { *t.add(j * ts + p) = *rhs.add(p * rs + j) };
        }
    }
}

/// `r × c` outputs (`r ≤ 4`, `c ≤ 2`) of [`gemm_narrow`]: `d[i·ds + j] = Σₚ a[i·ls + p] · b[j·k4 + p]` over the
/// `k` terms (`b`'s rows zero from `k` to `k4`), in four partial sums per output (terms
/// `p ≡ 0, 1, 2, 3 mod 4`), added as `(s₀ + s₂) + (s₁ + s₃)`. The full block (4 × 2) and the
/// last column's (4 × 1) are written out by hand: the release profile optimizes for size, and
/// LLVM then keeps an array of accumulators in memory.
#[cfg(target_arch = "wasm32")]
#[target_feature(enable = "simd128")]
#[cfg_attr(feature = "relaxed-simd", target_feature(enable = "relaxed-simd"))]
#[allow(clippy::too_many_arguments)]
unsafe fn dots(
    [r, c]: [usize; 2],
    a: *const f32,
    ls: usize,
    b: *const f32,
    k4: usize,
    k: usize,
    d: *mut f32,
    ds: usize,
) {
    use core::arch::wasm32::*;
    // SAFETY: rows of `a` hold k values, rows of `b` k4 (the caller's promise); the last
    // quarter of a row of `a` is read value by value.
    unsafe {
        let quads = k / 4;
        let rest = k - 4 * quads;
        // Row i's values p.. as a vector (zero past k).
        let row = |i: usize, p: usize| {
            if p + 4 <= k {
                v128_load(a.add(i * ls + p) as *const v128)
            } else {
                let at = |x: usize| if p + x < k { *a.add(i * ls + p + x) } else { 0.0 };
                f32x4(at(0), at(1), at(2), 0.0)
            }
        };
        let steps = quads + usize::from(rest > 0);
        let sum = |s: v128| {
            let pair = f32x4_add(s, i32x4_shuffle::<2, 3, 0, 1>(s, s));
            f32x4_extract_lane::<0>(pair) + f32x4_extract_lane::<1>(pair)
        };
        let z = f32x4_splat(0.0);
        if [r, c] == [4, 2] {
            let (b0, b1) = (b, b.add(k4));
            let (mut s00, mut s01, mut s10, mut s11) = (z, z, z, z);
            let (mut s20, mut s21, mut s30, mut s31) = (z, z, z, z);
            let (a0, a1, a2, a3) = (a, a.add(ls), a.add(2 * ls), a.add(3 * ls));
            for q in 0..quads {
                let p = 4 * q;
                let (v0, v1) = (v128_load(b0.add(p) as *const v128), v128_load(b1.add(p) as *const v128));
                let x = v128_load(a0.add(p) as *const v128);
                s00 = madd(s00, x, v0);
                s01 = madd(s01, x, v1);
                let x = v128_load(a1.add(p) as *const v128);
                s10 = madd(s10, x, v0);
                s11 = madd(s11, x, v1);
                let x = v128_load(a2.add(p) as *const v128);
                s20 = madd(s20, x, v0);
                s21 = madd(s21, x, v1);
                let x = v128_load(a3.add(p) as *const v128);
                s30 = madd(s30, x, v0);
                s31 = madd(s31, x, v1);
            }
            if rest > 0 {
                let p = 4 * quads;
                let (v0, v1) = (v128_load(b0.add(p) as *const v128), v128_load(b1.add(p) as *const v128));
                let x = row(0, p);
                s00 = madd(s00, x, v0);
                s01 = madd(s01, x, v1);
                let x = row(1, p);
                s10 = madd(s10, x, v0);
                s11 = madd(s11, x, v1);
                let x = row(2, p);
                s20 = madd(s20, x, v0);
                s21 = madd(s21, x, v1);
                let x = row(3, p);
                s30 = madd(s30, x, v0);
                s31 = madd(s31, x, v1);
            }
            let sums = [[s00, s01], [s10, s11], [s20, s21], [s30, s31]];
            for (i, [l, r]) in sums.into_iter().enumerate() {
                *d.add(i * ds) = sum(l);
                *d.add(i * ds + 1) = sum(r);
            }
            return;
        }
        if [r, c] == [4, 1] {
            let (mut s0, mut s1, mut s2, mut s3) = (z, z, z, z);
            let (a0, a1, a2, a3) = (a, a.add(ls), a.add(2 * ls), a.add(3 * ls));
            for q in 0..quads {
                let p = 4 * q;
                let v = v128_load(b.add(p) as *const v128);
                s0 = madd(s0, v128_load(a0.add(p) as *const v128), v);
                s1 = madd(s1, v128_load(a1.add(p) as *const v128), v);
                s2 = madd(s2, v128_load(a2.add(p) as *const v128), v);
                s3 = madd(s3, v128_load(a3.add(p) as *const v128), v);
            }
            if rest > 0 {
                let p = 4 * quads;
                let v = v128_load(b.add(p) as *const v128);
                s0 = madd(s0, row(0, p), v);
                s1 = madd(s1, row(1, p), v);
                s2 = madd(s2, row(2, p), v);
                s3 = madd(s3, row(3, p), v);
            }
            for (i, s) in [s0, s1, s2, s3].into_iter().enumerate() {
                *d.add(i * ds) = sum(s);
            }
            return;
        }
        // The last rows (fewer than 4), one output at a time.
        for i in 0..r {
            for j in 0..c {
                let mut s = z;
                for q in 0..steps {
                    s = madd(s, row(i, 4 * q), v128_load(b.add(j * k4 + 4 * q) as *const v128));
                }
                *d.add(i * ds + j) = sum(s);
            }
        }
    }
}

/// The same sums in the same order, one lane at a time (natively, for the tests).
#[cfg(not(target_arch = "wasm32"))]
#[allow(clippy::too_many_arguments)]
unsafe fn dots(
    [r, c]: [usize; 2],
    a: *const f32,
    ls: usize,
    b: *const f32,
    k4: usize,
    k: usize,
    d: *mut f32,
    ds: usize,
) {
    for i in 0..r {
        for j in 0..c {
            let mut lanes = [0f32; 4];
            for p in 0..k4 {
                // SAFETY: as in the wasm kernel.
                let x = if p < k { unsafe { *a.add(i * ls + p) } } else { 0.0 };
                lanes[p % 4] += x * unsafe { *b.add(j * k4 + p) };
            }
            // SAFETY: as in the wasm kernel.
            unsafe { *d.add(i * ds + j) = (lanes[0] + lanes[2]) + (lanes[1] + lanes[3]) };
        }
    }
}

/// `lhs`'s `m` rows, columns `0..kc`, as blocks of [`MR`] rows each stored step by step
/// (`[block][step][row]`), the last block's missing rows zero.
unsafe fn pack_lhs(a: &mut [f32], lhs: *const f32, ls: usize, m: usize, kc: usize) {
    for rb in 0..m.div_ceil(MR) {
        let out = &mut a[rb * MR * kc..][..MR * kc];
        for r in 0..MR {
            let row = rb * MR + r;
            if row < m {
                for p in 0..kc {
                    // SAFETY: row < m, p < kc (the caller's bounds).
                    out[p * MR + r] = unsafe { *lhs.add(row * ls + p) };
                }
            } else {
                for p in 0..kc {
                    out[p * MR + r] = 0.0;
                }
            }
        }
    }
}

/// [`pack_lhs`] for the other layouts of [`Lhs`]: columns `p0..p0 + kc` of its `m` rows.
///
/// # Safety
/// `lhs` describes a live matrix of `m` rows and at least `p0 + kc` columns.
#[cfg_attr(target_arch = "wasm32", target_feature(enable = "simd128"))]
unsafe fn pack_lhs_from(a: &mut [f32], lhs: Lhs, p0: usize, m: usize, kc: usize) {
    a[..m.div_ceil(MR) * MR * kc].fill(0.0);
    for rb in 0..m.div_ceil(MR) {
        let out = a[rb * MR * kc..].as_mut_ptr();
        let (i0, rows) = (rb * MR, MR.min(m - rb * MR));
        match lhs {
            // A transposed matrix: each step's rows lie side by side.
            Lhs::Strided { ptr, rs: 1, cs } => {
                for p in 0..kc {
                    // SAFETY: rows i0..i0 + rows < m of column p0 + p (the caller's bounds);
                    // `a` holds MR values per step of this row block.
                    unsafe {
                        let (src, dst) = (ptr.add(i0 + (p0 + p) * cs), out.add(p * MR));
                        if rows == MR {
                            // (A copy of a fixed size: a variable one calls memcpy.)
                            *(dst as *mut [f32; MR]) = *(src as *const [f32; MR]);
                        } else {
                            std::ptr::copy_nonoverlapping(src, dst, rows);
                        }
                    }
                }
            }
            Lhs::Strided { ptr, rs, cs } => {
                for p in 0..kc {
                    for r in 0..rows {
                        // SAFETY: row i0 + r < m, column p0 + p < p0 + kc (the caller's bounds).
                        unsafe { *out.add(p * MR + r) = *ptr.add((i0 + r) * rs + (p0 + p) * cs) };
                    }
                }
            }
            Lhs::PackedTransposed { packed, shape: [q_rows, i_cols] } => {
                // The packed `[q_rows, i_cols]` matrix keeps, for MR of its rows (q) and MR of
                // its columns (i, from a multiple of MR), 16 values in a run: column i's MR
                // rows side by side, then column i + 1's. Transposed, they are MR steps of
                // this row block (p0 is a multiple of KC, hence of MR).
                let padded = q_rows.div_ceil(MR) * MR;
                let block = i0 / KC * KC;
                let depth = KC.min(i_cols - block);
                for q in (p0..p0 + kc).step_by(MR) {
                    let steps = MR.min(p0 + kc - q);
                    // SAFETY: the run lies within the packed matrix (i0 < i_cols, q < q_rows,
                    // the caller's bounds); steps q − p0 … of this row block within `a`.
                    unsafe {
                        let run = packed.add(padded * block + (q / MR) * MR * depth + (i0 - block) * MR);
                        if rows == MR && steps == MR {
                            transpose4(run, out.add((q - p0) * MR));
                        } else {
                            transpose(run, MR, [rows, steps], out.add((q - p0) * MR), MR);
                        }
                    }
                }
            }
        }
    }
}

/// The 4 × 4 block at `src` (rows side by side) transposed to `dst`; in wasm by lane shuffles.
///
/// # Safety
/// Both hold 16 values.
#[inline]
#[cfg_attr(target_arch = "wasm32", target_feature(enable = "simd128"))]
unsafe fn transpose4(src: *const f32, dst: *mut f32) {
    #[cfg(target_arch = "wasm32")]
    // SAFETY: 16 values each (the caller's promise).
    unsafe {
        use core::arch::wasm32::*;
        let r = |i: usize| v128_load(src.add(4 * i) as *const v128);
        let (r0, r1, r2, r3) = (r(0), r(1), r(2), r(3));
        let (a, b) = (i32x4_shuffle::<0, 4, 1, 5>(r0, r1), i32x4_shuffle::<2, 6, 3, 7>(r0, r1));
        let (c, d) = (i32x4_shuffle::<0, 4, 1, 5>(r2, r3), i32x4_shuffle::<2, 6, 3, 7>(r2, r3));
        let w = |i: usize, v: v128| v128_store(dst.add(4 * i) as *mut v128, v);
        w(0, i64x2_shuffle::<0, 2>(a, c));
        w(1, i64x2_shuffle::<1, 3>(a, c));
        w(2, i64x2_shuffle::<0, 2>(b, d));
        w(3, i64x2_shuffle::<1, 3>(b, d));
    }
    #[cfg(not(target_arch = "wasm32"))]
    for i in 0..4 {
        for j in 0..4 {
            // SAFETY: 16 values each (the caller's promise).
            unsafe { *dst.add(4 * j + i) = *src.add(4 * i + j) };
        }
    }
}

/// `rhs`'s rows `0..kc`, columns `0..nr`, as `[step][width]`, the missing columns zero.
#[cfg_attr(target_arch = "wasm32", target_feature(enable = "simd128"))]
unsafe fn pack_rhs(b: &mut [f32], rhs: *const f32, rs: usize, kc: usize, nr: usize, width: usize) {
    assert!(b.len() >= kc * width && nr <= width);
    let out = b.as_mut_ptr();
    #[cfg(target_arch = "wasm32")]
    if nr == width {
        use core::arch::wasm32::*;
        for p in 0..kc {
            // SAFETY: row p's `width` values lie within rhs; out holds kc rows of `width`.
            unsafe {
                let (src, dst) = (rhs.add(p * rs) as *const v128, out.add(p * width) as *mut v128);
                v128_store(dst, v128_load(src));
                if width == NR {
                    v128_store(dst.add(1), v128_load(src.add(1)));
                }
            }
        }
        return;
    }
    for p in 0..kc {
        for j in 0..width {
            // SAFETY: as above, the columns below nr.
            unsafe { *out.add(p * width + j) = if j < nr { *rhs.add(p * rs + j) } else { 0.0 } };
        }
    }
}

/// One register block: `dst` (`mr` × `nr` of it, row stride `ds`) = (`more` ? `dst` : 0) + the
/// packed `a` (`[kc][MR]`) times the packed `b` (`[kc][width]`, `width` 8 or 4).
unsafe fn block(
    a: *const f32,
    b: *const f32,
    kc: usize,
    dst: *mut f32,
    ds: usize,
    [mr, nr, width]: [usize; 3],
    more: bool,
) {
    // SAFETY (both kernels): c holds MR rows of `width` values (row stride cs), within dst or
    // the tile; a and b hold kc steps.
    let run = |c: *mut f32, cs: usize| unsafe {
        if width == NR { kernel::<2>(a, b, kc, c, cs, more) } else { kernel::<1>(a, b, kc, c, cs, more) }
    };
    if mr == MR && nr == width {
        return run(dst, ds);
    }
    // A partial block goes through a full-sized tile.
    let mut tile = [0f32; MR * NR];
    if more {
        for i in 0..mr {
            for j in 0..nr {
                // SAFETY: (i, j) lies within the block.
                tile[i * width + j] = unsafe { *dst.add(i * ds + j) };
            }
        }
    }
    run(tile.as_mut_ptr(), width);
    for i in 0..mr {
        for j in 0..nr {
            // SAFETY: as above.
            unsafe { *dst.add(i * ds + j) = tile[i * width + j] };
        }
    }
}

/// `c` (`MR` rows of `W` vectors, row stride `cs`) = (`more` ? `c` : 0) + `a` (`[kc][MR]`) ·
/// `b` (`[kc][4·W]`).
#[cfg(target_arch = "wasm32")]
#[target_feature(enable = "simd128")]
#[cfg_attr(feature = "relaxed-simd", target_feature(enable = "relaxed-simd"))]
unsafe fn kernel<const W: usize>(a: *const f32, b: *const f32, kc: usize, c: *mut f32, cs: usize, more: bool) {
    use core::arch::wasm32::*;
    let two = W == 2;
    // SAFETY: c holds MR rows of W vectors (row stride cs); a and b hold kc steps.
    unsafe {
        let row = |i: usize| c.add(i * cs) as *mut v128;
        let zero = f32x4_splat(0.0);
        let load = |i: usize, h: usize| if more && (h == 0 || two) { v128_load(row(i).add(h)) } else { zero };
        let (mut c00, mut c01, mut c10, mut c11) = (load(0, 0), load(0, 1), load(1, 0), load(1, 1));
        let (mut c20, mut c21, mut c30, mut c31) = (load(2, 0), load(2, 1), load(3, 0), load(3, 1));
        let (mut pa, mut pb) = (a, b);
        for _ in 0..kc {
            let b0 = v128_load(pb as *const v128);
            let b1 = if two { v128_load(pb.add(4) as *const v128) } else { zero };
            let a0 = v128_load32_splat(pa as *const u32);
            c00 = madd(c00, a0, b0);
            let a1 = v128_load32_splat(pa.add(1) as *const u32);
            c10 = madd(c10, a1, b0);
            let a2 = v128_load32_splat(pa.add(2) as *const u32);
            c20 = madd(c20, a2, b0);
            let a3 = v128_load32_splat(pa.add(3) as *const u32);
            c30 = madd(c30, a3, b0);
            if two {
                c01 = madd(c01, a0, b1);
                c11 = madd(c11, a1, b1);
                c21 = madd(c21, a2, b1);
                c31 = madd(c31, a3, b1);
            }
            pa = pa.add(MR);
            pb = pb.add(4 * W);
        }
        v128_store(row(0), c00);
        v128_store(row(1), c10);
        v128_store(row(2), c20);
        v128_store(row(3), c30);
        if two {
            v128_store(row(0).add(1), c01);
            v128_store(row(1).add(1), c11);
            v128_store(row(2).add(1), c21);
            v128_store(row(3).add(1), c31);
        }
    }
}

/// The same sums in the same order, one lane at a time (natively, for the tests).
#[cfg(not(target_arch = "wasm32"))]
unsafe fn kernel<const W: usize>(a: *const f32, b: *const f32, kc: usize, c: *mut f32, cs: usize, more: bool) {
    for i in 0..MR {
        for j in 0..4 * W {
            // SAFETY: as in the wasm kernel.
            unsafe {
                let mut acc = if more { *c.add(i * cs + j) } else { 0.0 };
                for p in 0..kc {
                    acc += *a.add(p * MR + i) * *b.add(p * 4 * W + j);
                }
                *c.add(i * cs + j) = acc;
            }
        }
    }
}

/// `acc + x · y`: fused where the build has relaxed SIMD, else a multiply and an add.
#[cfg(target_arch = "wasm32")]
#[inline]
#[target_feature(enable = "simd128")]
#[cfg_attr(feature = "relaxed-simd", target_feature(enable = "relaxed-simd"))]
fn madd(
    acc: core::arch::wasm32::v128,
    x: core::arch::wasm32::v128,
    y: core::arch::wasm32::v128,
) -> core::arch::wasm32::v128 {
    use core::arch::wasm32::*;
    #[cfg(feature = "relaxed-simd")]
    {
        f32x4_relaxed_madd(x, y, acc)
    }
    #[cfg(not(feature = "relaxed-simd"))]
    {
        f32x4_add(acc, f32x4_mul(x, y))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both kernels against the plain triple loop in f64, with the left operand as is, packed,
    /// transposed and packed transposed: shapes around the block sizes, strides wider than the
    /// matrices, depth over several blocks.
    #[test]
    fn equals_the_plain_product() {
        for (m, k, n) in [
            (1, 1, 1),
            (4, 8, 8),
            (5, 3, 9),
            (3, 300, 17),
            (13, 513, 31),
            (8, 256, 16),
            (7, 0, 5),
            (9, 300, 4),
            (17, 40, 15),
        ] {
            let (ds, ls, rs) = (n + 3, k + 2, n + 1);
            let lhs: Vec<f32> = (0..m * ls).map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0).collect();
            let rhs: Vec<f32> = (0..k.max(1) * rs).map(|i| ((i * 104_729) % 997) as f32 / 498.0 - 1.0).collect();
            let packed = pack_lhs_all(&lhs, ls, [m, k]);
            // The same left operand stored transposed (`[k, m]`), as is and packed.
            let lhs_t: Vec<f32> = (0..k * m).map(|at| lhs[(at % m) * ls + at / m]).collect();
            let packed_t = pack_lhs_all(&lhs_t, m, [k, m]);
            let mut wide = vec![f32::NAN; m * ds];
            for kind in ["wide", "narrow", "packed", "transposed", "packed transposed"] {
                let mut dst = vec![f32::NAN; m * ds];
                // SAFETY: the strides and sizes match the buffers.
                unsafe {
                    let (d, l, r) = (dst.as_mut_ptr(), lhs.as_ptr(), rhs.as_ptr());
                    match kind {
                        "wide" => gemm(d, l, r, [m, k, n], [ds, ls, rs]),
                        "narrow" => gemm_narrow(d, l, r, [m, k, n], [ds, ls, rs]),
                        "packed" => gemm_packed(d, &packed, r, [m, k, n], [ds, rs]),
                        "transposed" => {
                            let lhs = Lhs::Strided { ptr: lhs_t.as_ptr(), rs: 1, cs: m };
                            gemm_from(d, lhs, r, [m, k, n], [ds, rs])
                        }
                        _ => {
                            let lhs = Lhs::PackedTransposed { packed: packed_t.as_ptr(), shape: [k, m] };
                            gemm_from(d, lhs, r, [m, k, n], [ds, rs])
                        }
                    }
                };
                for i in 0..m {
                    for j in 0..n {
                        let want: f64 = (0..k).map(|p| lhs[i * ls + p] as f64 * rhs[p * rs + j] as f64).sum();
                        let got = dst[i * ds + j] as f64;
                        assert!(
                            (got - want).abs() <= 1e-4 * (1.0 + want.abs()),
                            "{m}×{k}×{n} ({kind}) at ({i}, {j}): {got} vs {want}"
                        );
                    }
                    // Beyond the n columns, the row's stride padding is left alone.
                    assert!(dst[i * ds + n..(i + 1) * ds].iter().all(|v| v.is_nan()));
                }
                match kind {
                    "wide" => wide = dst,
                    // The packed weights, and the transposed ones packed as they are read,
                    // give the same sums in the same order: the same bits.
                    "packed" | "transposed" | "packed transposed" => {
                        let bits = |d: &[f32]| d.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                        assert_eq!(bits(&dst), bits(&wide), "{m}×{k}×{n}: {kind} against wide");
                    }
                    _ => {}
                }
            }
        }
    }
}
