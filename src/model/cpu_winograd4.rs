//! The transforms of Winograd's F(4×4, 3×3) for [`super::cpu_winograd`]: each 4×4 block of
//! outputs ("tile") from the 6×6 input patch under it, through a 6×6 transform domain. The
//! products then do 36 multiply-adds per tile and channel pair for 16 outputs, where F(2×2, 3×3)
//! does 16 for 4 and im2col 144 for 16: 1.78× fewer than F(2×2) and 4× fewer than im2col, at
//! the cost of larger transforms, more rounding (the transforms scale by up to 8, the weights'
//! by 1/24) and more waste on planes that are not whole tiles. The interpolation points are
//! 0, ±1, ±2 (Lavin and Gray 2015; the matrices below, checked by `tests/cpu_conv.rs` against
//! an f64 sum):
//!
//! ```text
//! Bᵀ = [4 0 −5 0 1 0; 0 −4 −4 1 1 0; 0 4 −4 −1 1 0; 0 −2 −1 2 1 0; 0 2 −1 −2 1 0; 0 4 0 −5 0 1]
//! G  = [¼ 0 0; −⅙ −⅙ −⅙; −⅙ ⅙ −⅙; 1/24 1/12 ⅙; 1/24 −1/12 ⅙; 0 0 1]
//! Aᵀ = [1 1 1 1 1 0; 0 1 −1 2 −2 0; 0 1 1 4 4 0; 0 1 −1 8 −8 1]
//! ```

use super::cpu_par::SharedMut;

/// `G g` for one column (or row) of three weights.
fn g3([g0, g1, g2]: [f32; 3]) -> [f32; 6] {
    let (s, d) = (g0 + g2, g1);
    [
        g0 * 0.25,
        -(s + d) / 6.0,
        -(s - d) / 6.0,
        (g0 * 0.25 + g1 * 0.5 + g2) / 6.0,
        (g0 * 0.25 - g1 * 0.5 + g2) / 6.0,
        g2,
    ]
}

/// `Bᵀ d` for one column (or row) of six inputs.
#[inline(always)]
fn b6([d0, d1, d2, d3, d4, d5]: [f32; 6]) -> [f32; 6] {
    let (a, b) = (d4 - 4.0 * d2, d3 - 4.0 * d1);
    let (c, e) = (d4 - d2, 2.0 * (d3 - d1));
    [4.0 * (d0 - d2) + c, a + b, a - b, c + e, c - e, 4.0 * (d1 - d3) + (d5 - d3)]
}

/// `Aᵀ m` for one column (or row) of six products.
#[inline(always)]
fn a6([m0, m1, m2, m3, m4, m5]: [f32; 6]) -> [f32; 4] {
    let (a, b, c, d) = (m1 + m2, m1 - m2, m3 + m4, m3 - m4);
    [m0 + a + c, b + 2.0 * d, a + 4.0 * c, b + 8.0 * d + m5]
}

/// `A y` (`Aᵀ`'s transpose, 6 × 4) for one column of an output gradient's 4×4 block: the
/// adjoint of [`a6`], for the backward pass ([`super::cpu_winograd::conv3x3_transformed_input_gradient`]).
#[inline(always)]
pub fn adjoint_output([y0, y1, y2, y3]: [f32; 4]) -> [f32; 6] {
    let (even, odd) = (y0 + y2, y1 + y3);
    let (even2, odd2) = (y0 + 4.0 * y2, 2.0 * y1 + 8.0 * y3);
    [y0, even + odd, even - odd, even2 + odd2, even2 - odd2, y3]
}

/// `B z` (`Bᵀ`'s transpose) for one column of six sums back onto a 6×6 patch: the adjoint of
/// [`b6`].
#[inline(always)]
pub fn adjoint_input([z0, z1, z2, z3, z4, z5]: [f32; 6]) -> [f32; 6] {
    [
        4.0 * z0,
        4.0 * (z2 - z1 + z5) + 2.0 * (z4 - z3),
        -5.0 * z0 - 4.0 * (z1 + z2) - (z3 + z4),
        (z1 - z2) + 2.0 * (z3 - z4) - 5.0 * z5,
        z0 + z1 + z2 + z3 + z4,
        z5,
    ]
}

/// `U = G g Gᵀ` for every kernel, `[36, O, C]` (transform position major, then the product's
/// rows and columns).
pub fn transform_weights(weight: &[f32], o: usize, c: usize) -> Vec<f32> {
    let plane = o * c;
    let mut u = vec![0f32; 36 * plane];
    for (k, g) in weight.chunks_exact(9).enumerate() {
        // G g: six rows of three.
        let columns = [0, 1, 2].map(|x| g3([g[x], g[3 + x], g[6 + x]]));
        for i in 0..6 {
            let row = g3([columns[0][i], columns[1][i], columns[2][i]]);
            for (j, value) in row.into_iter().enumerate() {
                u[(6 * i + j) * plane + k] = value;
            }
        }
    }
    u
}

/// Row stride of the `rows` buffer of [`transform_input`] for a plane `pw` wide: in wasm the
/// last four tiles of a row are transformed together however many are left, reading up to 14
/// values past the plane's width (the lanes past the row are dropped).
pub fn rows_stride(pw: usize) -> usize {
    pw + 14
}

/// `V = Bᵀ d B` for every 6×6 patch `d` of `plane` (`pw` wide) at the tiles' offsets (multiples
/// of four); position `ξ` of tile `t` goes to `v[ξ · stride + t]`. The row half for whole rows
/// at once (into `rows`, six of [`rows_stride`]), the column half per tile; in wasm both four at
/// a time (the `simd` module), the rest one at a time here.
///
/// # Safety
/// `v` points to `len` values, and no other thread reads or writes the ones this call writes.
#[allow(clippy::too_many_arguments)]
pub unsafe fn transform_input(
    plane: &[f32],
    pw: usize,
    [th, tw]: [usize; 2],
    rows: &mut [f32],
    v: SharedMut<f32>,
    at: usize,
    len: usize,
    stride: usize,
) {
    let rs = rows_stride(pw);
    assert!(plane.len() >= (4 * th + 2) * pw && pw >= 4 * tw + 2 && rows.len() >= 6 * rs);
    assert!(len >= at + 35 * stride + th * tw);
    // SAFETY: within the `len` values (the caller's promise and the assert above).
    let (rows, v) = (rows.as_mut_ptr(), unsafe { v.ptr().add(at) });
    // SAFETY: by the asserts, rows 4·ty … 4·ty + 5 of the plane, the six row buffers (with the
    // two values past `pw` the vectors read), and every v[ξ · stride + t] are within their
    // buffers.
    unsafe {
        for ty in 0..th {
            let d = plane.as_ptr().add(4 * ty * pw);
            for x in simd::input_rows(d, pw, rows, rs)..pw {
                let p = d.add(x);
                let column = [*p, *p.add(pw), *p.add(2 * pw), *p.add(3 * pw), *p.add(4 * pw), *p.add(5 * pw)];
                let [e0, e1, e2, e3, e4, e5] = b6(column);
                let q = rows.add(x);
                (*q, *q.add(rs), *q.add(2 * rs)) = (e0, e1, e2);
                (*q.add(3 * rs), *q.add(4 * rs), *q.add(5 * rs)) = (e3, e4, e5);
            }
            for i in 0..6 {
                let (r, base) = (rows.add(i * rs), v.add(6 * i * stride + ty * tw));
                for tx in simd::input_columns(r, base, stride, tw)..tw {
                    let p = r.add(4 * tx);
                    let [e0, e1, e2, e3, e4, e5] = b6([*p, *p.add(1), *p.add(2), *p.add(3), *p.add(4), *p.add(5)]);
                    let q = base.add(tx);
                    (*q, *q.add(stride), *q.add(2 * stride)) = (e0, e1, e2);
                    (*q.add(3 * stride), *q.add(4 * stride), *q.add(5 * stride)) = (e3, e4, e5);
                }
            }
        }
    }
}

/// `Y = Aᵀ M A` for every tile of one output channel: `m[ξ · stride + t]` is position `ξ` of tile
/// `t`. As F(2×2)'s: first over all tiles in their flat order (four at a time in wasm, no tail:
/// `m` holds three values more than its last tile), each tile's 16 outputs with `add` added and
/// clamped go into `blocks` (`[16, padded]`, and four values more); then each output row
/// gathers four of those runs.
#[allow(clippy::too_many_arguments)]
pub fn transform_output(
    m: &[f32],
    stride: usize,
    [th, tw]: [usize; 2],
    [oh, ow]: [usize; 2],
    blocks: &mut [f32],
    out: &mut [f32],
    add: f32,
    [lo, hi]: [f32; 2],
) {
    let tiles = th * tw;
    let padded = tiles.next_multiple_of(4);
    assert!(m.len() >= 35 * stride + padded && blocks.len() >= 16 * padded + 4);
    assert!(out.len() >= oh * ow && oh <= 4 * th && ow <= 4 * tw);
    let (mp, bp) = (m.as_ptr(), blocks.as_mut_ptr());
    // SAFETY: by the asserts, every m[ξ · stride + t] for t < padded and blocks[k · padded + t]
    // are within their slices.
    unsafe {
        for t in simd::output_blocks(mp, stride, padded, bp, add, [lo, hi])..tiles {
            let mut rows = [[0f32; 4]; 6];
            for (i, row) in rows.iter_mut().enumerate() {
                let p = mp.add(6 * i * stride + t);
                let e = |j: usize| *p.add(j * stride);
                *row = a6([e(0), e(1), e(2), e(3), e(4), e(5)]);
            }
            // (Indices, not iterators: at the release profile's opt-level "z" the adapters
            // stay calls, which made these transforms 2–3× slower.)
            #[allow(clippy::needless_range_loop)]
            for l in 0..4 {
                let y = a6([rows[0][l], rows[1][l], rows[2][l], rows[3][l], rows[4][l], rows[5][l]]);
                for (k, y) in y.into_iter().enumerate() {
                    let y = y + add;
                    let y = if y < lo { lo } else { y };
                    *bp.add((4 * k + l) * padded + t) = if hi < y { hi } else { y };
                }
            }
        }
    }
    for (y, row) in out.chunks_exact_mut(ow).take(oh).enumerate() {
        let at = (y % 4) * 4 * padded + (y / 4) * tw;
        let runs = [0, 1, 2, 3].map(|l| &blocks[at + l * padded..][..tw]);
        // SAFETY: each run holds tw values, 4·tw ≥ ow, and `blocks` four values past the
        // last run's end for the vectors' reads.
        let done = unsafe { simd::gather_row(runs.map(|r| r.as_ptr()), row.as_mut_ptr(), ow) };
        for x in done..ow {
            row[x] = runs[x % 4][x / 4];
        }
    }
}

/// Natively the transforms run one tile at a time in the callers' loops: nothing is done here.
#[cfg(not(target_arch = "wasm32"))]
mod simd {
    pub unsafe fn input_rows(_: *const f32, _: usize, _: *mut f32, _: usize) -> usize {
        0
    }

    pub unsafe fn input_columns(_: *const f32, _: *mut f32, _: usize, _: usize) -> usize {
        0
    }

    pub unsafe fn output_blocks(_: *const f32, _: usize, _: usize, _: *mut f32, _: f32, _: [f32; 2]) -> usize {
        0
    }

    pub unsafe fn gather_row(_: [*const f32; 4], _: *mut f32, _: usize) -> usize {
        0
    }
}

/// The transforms four tiles at a time in SIMD128 registers (as F(2×2)'s: `v` and `m` are
/// position major, so tile `t + 1`'s value sits next to tile `t`'s). Each function does what
/// fits in whole vectors and returns where the callers' one-at-a-time loops go on; the callers
/// check the bounds.
#[cfg(target_arch = "wasm32")]
pub(super) mod simd {
    use core::arch::wasm32::*;

    use super::super::cpu_winograd::simd::{finish, load, store};

    #[inline(always)]
    fn times(k: f32, x: v128) -> v128 {
        f32x4_mul(f32x4_splat(k), x)
    }

    /// [`super::adjoint_output`] on four lanes.
    #[inline(always)]
    pub(in crate::model) fn adjoint_output4([y0, y1, y2, y3]: [v128; 4]) -> [v128; 6] {
        let (even, odd) = (f32x4_add(y0, y2), f32x4_add(y1, y3));
        let (even2, odd2) = (f32x4_add(y0, times(4.0, y2)), f32x4_add(times(2.0, y1), times(8.0, y3)));
        [y0, f32x4_add(even, odd), f32x4_sub(even, odd), f32x4_add(even2, odd2), f32x4_sub(even2, odd2), y3]
    }

    /// [`super::adjoint_input`] on four lanes.
    #[inline(always)]
    pub(in crate::model) fn adjoint_input4([z0, z1, z2, z3, z4, z5]: [v128; 6]) -> [v128; 6] {
        [
            times(4.0, z0),
            f32x4_add(times(4.0, f32x4_add(f32x4_sub(z2, z1), z5)), times(2.0, f32x4_sub(z4, z3))),
            f32x4_sub(f32x4_sub(times(-5.0, z0), times(4.0, f32x4_add(z1, z2))), f32x4_add(z3, z4)),
            f32x4_sub(f32x4_add(f32x4_sub(z1, z2), times(2.0, f32x4_sub(z3, z4))), times(5.0, z5)),
            f32x4_add(f32x4_add(f32x4_add(f32x4_add(z0, z1), z2), z3), z4),
            z5,
        ]
    }

    /// [`super::b6`] on four lanes.
    #[inline(always)]
    fn b6([d0, d1, d2, d3, d4, d5]: [v128; 6]) -> [v128; 6] {
        let (a, b) = (f32x4_sub(d4, times(4.0, d2)), f32x4_sub(d3, times(4.0, d1)));
        let (c, e) = (f32x4_sub(d4, d2), times(2.0, f32x4_sub(d3, d1)));
        [
            f32x4_add(times(4.0, f32x4_sub(d0, d2)), c),
            f32x4_add(a, b),
            f32x4_sub(a, b),
            f32x4_add(c, e),
            f32x4_sub(c, e),
            f32x4_add(times(4.0, f32x4_sub(d1, d3)), f32x4_sub(d5, d3)),
        ]
    }

    /// [`super::a6`] on four lanes.
    #[inline(always)]
    fn a6([m0, m1, m2, m3, m4, m5]: [v128; 6]) -> [v128; 4] {
        let (a, b) = (f32x4_add(m1, m2), f32x4_sub(m1, m2));
        let (c, d) = (f32x4_add(m3, m4), f32x4_sub(m3, m4));
        [
            f32x4_add(f32x4_add(m0, a), c),
            f32x4_add(b, times(2.0, d)),
            f32x4_add(a, times(4.0, c)),
            f32x4_add(f32x4_add(b, times(8.0, d)), m5),
        ]
    }

    /// Six vectors to `p`, `stride` apart: whole, or their first `n` lanes when `n` < 4. (By
    /// constant indices, so that they stay in registers: an array indexed in a loop would live
    /// in memory.)
    #[inline(always)]
    unsafe fn store_six(p: *mut f32, stride: usize, e: [v128; 6], n: usize) {
        unsafe {
            if n >= 4 {
                store(p, e[0]);
                store(p.add(stride), e[1]);
                store(p.add(2 * stride), e[2]);
                store(p.add(3 * stride), e[3]);
                store(p.add(4 * stride), e[4]);
                store(p.add(5 * stride), e[5]);
            } else {
                store_first(p, e[0], n);
                store_first(p.add(stride), e[1], n);
                store_first(p.add(2 * stride), e[2], n);
                store_first(p.add(3 * stride), e[3], n);
                store_first(p.add(4 * stride), e[4], n);
                store_first(p.add(5 * stride), e[5], n);
            }
        }
    }

    /// The first `n` (< 4) lanes of `v` to `p`.
    #[inline(always)]
    unsafe fn store_first(p: *mut f32, v: v128, n: usize) {
        unsafe {
            *p = f32x4_extract_lane::<0>(v);
            if n > 1 {
                *p.add(1) = f32x4_extract_lane::<1>(v);
            }
            if n > 2 {
                *p.add(2) = f32x4_extract_lane::<2>(v);
            }
        }
    }

    /// The rows of a 4 × 4 block as its columns.
    #[inline(always)]
    pub(in crate::model) fn transpose([a, b, c, d]: [v128; 4]) -> [v128; 4] {
        let (t0, t1) = (i32x4_shuffle::<0, 4, 1, 5>(a, b), i32x4_shuffle::<2, 6, 3, 7>(a, b));
        let (t2, t3) = (i32x4_shuffle::<0, 4, 1, 5>(c, d), i32x4_shuffle::<2, 6, 3, 7>(c, d));
        [
            i32x4_shuffle::<0, 1, 4, 5>(t0, t2),
            i32x4_shuffle::<2, 3, 6, 7>(t0, t2),
            i32x4_shuffle::<0, 1, 4, 5>(t1, t3),
            i32x4_shuffle::<2, 3, 6, 7>(t1, t3),
        ]
    }

    /// The row half of [`super::transform_input`] for the six rows at `d` (`pw` apart) into
    /// `rows` (`rs` apart): the columns a multiple of four covers.
    #[target_feature(enable = "simd128")]
    pub unsafe fn input_rows(d: *const f32, pw: usize, rows: *mut f32, rs: usize) -> usize {
        let mut x = 0;
        unsafe {
            while x + 4 <= pw {
                let p = d.add(x);
                let column = [
                    load(p),
                    load(p.add(pw)),
                    load(p.add(2 * pw)),
                    load(p.add(3 * pw)),
                    load(p.add(4 * pw)),
                    load(p.add(5 * pw)),
                ];
                store_six(rows.add(x), rs, b6(column), 4);
                x += 4;
            }
        }
        x
    }

    /// The column half for one transformed row `r`: tiles four at a time (columns 4·tx …
    /// 4·tx + 17 hold the patches of tiles tx … tx + 3; the last load reaches two further),
    /// the last one to three as well, storing only their lanes.
    #[target_feature(enable = "simd128")]
    pub unsafe fn input_columns(r: *const f32, base: *mut f32, stride: usize, tw: usize) -> usize {
        let mut tx = 0;
        unsafe {
            while tx < tw {
                let p = r.add(4 * tx);
                let (l0, l1, l2, l3, l4) = (load(p), load(p.add(4)), load(p.add(8)), load(p.add(12)), load(p.add(16)));
                let [c0, c1, c2, c3] = transpose([l0, l1, l2, l3]);
                let (u0, u1) = (i32x4_shuffle::<0, 4, 1, 5>(l1, l2), i32x4_shuffle::<0, 4, 1, 5>(l3, l4));
                let (c4, c5) = (i32x4_shuffle::<0, 1, 4, 5>(u0, u1), i32x4_shuffle::<2, 3, 6, 7>(u0, u1));
                // The last one to three tiles store only their lanes.
                store_six(base.add(tx), stride, b6([c0, c1, c2, c3, c4, c5]), tw - tx);
                tx += 4;
            }
        }
        tw
    }

    /// [`a6`] of the six products at `p`, `stride` apart (one row of a tile's 6 × 6).
    #[inline(always)]
    unsafe fn row(p: *const f32, stride: usize) -> [v128; 4] {
        unsafe {
            let (e0, e1, e2) = (load(p), load(p.add(stride)), load(p.add(2 * stride)));
            let (e3, e4, e5) = (load(p.add(3 * stride)), load(p.add(4 * stride)), load(p.add(5 * stride)));
            a6([e0, e1, e2, e3, e4, e5])
        }
    }

    /// [`super::transform_output`]'s first pass, four tiles at a time over all `padded`.
    #[target_feature(enable = "simd128")]
    pub unsafe fn output_blocks(
        m: *const f32,
        stride: usize,
        padded: usize,
        q: *mut f32,
        add: f32,
        [lo, hi]: [f32; 2],
    ) -> usize {
        let (add, lo, hi) = (f32x4_splat(add), f32x4_splat(lo), f32x4_splat(hi));
        let mut t = 0;
        unsafe {
            while t + 4 <= padded {
                // Aᵀ M: each of the six rows of products to four.
                let p = m.add(t);
                let r0 = row(p, stride);
                let r1 = row(p.add(6 * stride), stride);
                let r2 = row(p.add(12 * stride), stride);
                let r3 = row(p.add(18 * stride), stride);
                let r4 = row(p.add(24 * stride), stride);
                let r5 = row(p.add(30 * stride), stride);
                // (Aᵀ M) A: each column of six to the tile's four outputs in that column.
                let out = q.add(t);
                for l in 0..4 {
                    let [y0, y1, y2, y3] = a6([r0[l], r1[l], r2[l], r3[l], r4[l], r5[l]]);
                    let p = out.add(l * padded);
                    store(p, finish(y0, add, lo, hi));
                    store(p.add(4 * padded), finish(y1, add, lo, hi));
                    store(p.add(8 * padded), finish(y2, add, lo, hi));
                    store(p.add(12 * padded), finish(y3, add, lo, hi));
                }
                t += 4;
            }
        }
        t
    }

    /// `out[4x + l] = runs[l][x]`, sixteen outputs at a time, the last ones from a vector
    /// that may read up to three values past each run (the caller's buffer holds them).
    #[target_feature(enable = "simd128")]
    pub unsafe fn gather_row(runs: [*const f32; 4], out: *mut f32, ow: usize) -> usize {
        let mut x = 0;
        unsafe {
            while x < ow {
                let [a, b, c, d] = runs;
                let k = x / 4;
                let [c0, c1, c2, c3] = transpose([load(a.add(k)), load(b.add(k)), load(c.add(k)), load(d.add(k))]);
                if x + 16 <= ow {
                    store(out.add(x), c0);
                    store(out.add(x + 4), c1);
                    store(out.add(x + 8), c2);
                    store(out.add(x + 12), c3);
                } else {
                    // The row's last outputs: the rest of the sixteen stays unwritten.
                    let mut lanes = [0f32; 16];
                    let l = lanes.as_mut_ptr();
                    store(l, c0);
                    store(l.add(4), c1);
                    store(l.add(8), c2);
                    store(l.add(12), c3);
                    core::ptr::copy_nonoverlapping(l, out.add(x), ow - x);
                }
                x += 16;
            }
        }
        ow
    }
}
