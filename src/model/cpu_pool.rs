//! Max pooling on the CPU backend without gradients. Burn flex computes every max pool with the
//! argmax indices its backward pass needs, which took 40% of SqueezeNet's forward pass natively
//! (BENCHMARKS.md); a pass without gradients needs only the maxima.

use std::ops::Range;

use super::cpu_simd::{max_into, sum};

/// The input rows (or columns) that the window at output index `i` covers, clipped to the
/// image: the window starts at `i · stride − before` and is `k` long.
fn span(i: usize, stride: usize, before: usize, k: usize, size: usize) -> Range<usize> {
    let start = (i * stride) as isize - before as isize;
    (start.max(0) as usize)..((start + k as isize).clamp(0, size as isize) as usize)
}

/// `x` (`[N, C, H, W]`) max-pooled with a `kernel` window moving by `strides`, the input padded
/// by (before, after) `pads` per axis (padding never wins), into `[N, C, out[0], out[1]]`; the
/// caller computes `out` (ONNX's floor or ceil mode) and has checked that every window starts
/// inside the padded input.
#[inline(never)]
pub fn max_pool2d(
    x: &[f32],
    [n, c, h, w]: [usize; 4],
    [kh, kw]: [usize; 2],
    [sy, sx]: [usize; 2],
    pads: [(usize, usize); 2],
    [oh, ow]: [usize; 2],
) -> Vec<f32> {
    let (top, left) = (pads[0].0, pads[1].0);
    let cols: Vec<Range<usize>> = (0..ow).map(|ox| span(ox, sx, left, kw, w)).collect();
    let mut out = vec![0f32; n * c * oh * ow];
    // Separably, both steps element-wise over whole rows (SIMD): the maximum over the window's
    // rows, then over `kw` shifted copies of that row for every window that lies inside it;
    // windows over the left or right padding are done one by one.
    let full = (w + 1).saturating_sub(kw);
    let mut rows_max = vec![f32::NEG_INFINITY; w];
    let mut windows_max = vec![f32::NEG_INFINITY; full];
    for (src, dst) in x.chunks_exact(h * w).zip(out.chunks_exact_mut(oh * ow)) {
        for (oy, row) in dst.chunks_exact_mut(ow).enumerate() {
            let ys = span(oy, sy, top, kh, h);
            match src.get(ys.start * w..ys.start * w + w) {
                Some(first) if !ys.is_empty() => rows_max.copy_from_slice(first),
                _ => rows_max.fill(f32::NEG_INFINITY),
            }
            for y in ys.start + 1..ys.end {
                max_into(&mut rows_max, &src[y * w..(y + 1) * w]);
            }
            if full > 0 {
                windows_max.copy_from_slice(&rows_max[..full]);
                for j in 1..kw {
                    max_into(&mut windows_max, &rows_max[j..j + full]);
                }
            }
            // (Plain indexing and comparisons: at opt-level "z" iterator adapters and f32::max
            // stay calls per element.)
            let (rows_max, windows_max) = (rows_max.as_slice(), windows_max.as_slice());
            let mut ox = 0;
            while ox < ow {
                let start = (ox * sx) as isize - left as isize;
                row[ox] = if start >= 0 && (start as usize) < full {
                    windows_max[start as usize]
                } else {
                    rows_max[cols[ox].clone()].iter().fold(f32::NEG_INFINITY, |a, &b| if b > a { b } else { a })
                };
                ox += 1;
            }
        }
    }
    out
}

/// The gradient of [`max_pool2d`] to its input: each output's gradient goes to the first
/// position of its window (row by row) that holds the window's maximum `y`, as Burn's max pool
/// records it. Arguments as for [`max_pool2d`], with the forward output `y` and its gradient.
#[allow(clippy::too_many_arguments)]
#[inline(never)]
pub fn max_pool2d_backward(
    x: &[f32],
    [n, c, h, w]: [usize; 4],
    [kh, kw]: [usize; 2],
    [sy, sx]: [usize; 2],
    pads: [(usize, usize); 2],
    [oh, ow]: [usize; 2],
    y: &[f32],
    grad: &[f32],
) -> Vec<f32> {
    let (top, left) = (pads[0].0, pads[1].0);
    let cols: Vec<Range<usize>> = (0..ow).map(|ox| span(ox, sx, left, kw, w)).collect();
    let mut out = vec![0f32; n * c * h * w];
    // The outputs whose windows lie inside the row: from the first starting at or after column
    // 0 to the last ending at or before column w.
    let first = left.div_ceil(sx.max(1));
    let last = (w + left).checked_sub(kw).map(|room| room / sx.max(1) + 1).unwrap_or(0);
    let inside = first..last.min(ow).max(first);
    for plane in 0..n * c {
        let (src, dst) = (&x[plane * h * w..][..h * w], &mut out[plane * h * w..][..h * w]);
        let (ys, gs) = (&y[plane * oh * ow..][..oh * ow], &grad[plane * oh * ow..][..oh * ow]);
        for oy in 0..oh {
            let rows = span(oy, sy, top, kh, h);
            // Every tap of the window compared, last to first, keeping the earliest match: no
            // branch on the comparisons, whose outcomes follow the data (an early exit there
            // cost more than the taps it skipped), and plain loops (at opt-level "z" an
            // iterator adapter's closure stays a call per element). Windows inside the row
            // go four at a time where SIMD128 runs.
            let mut ox = 0;
            while ox < ow {
                if ox == inside.start && inside.end > ox {
                    // SAFETY: the windows of outputs `inside` lie within the plane's columns
                    // and `rows` within its rows; `ys`, `gs` hold this row's `ow` outputs.
                    ox += unsafe {
                        simd::backward_row(
                            src.as_ptr(),
                            dst.as_mut_ptr(),
                            [w, kw, sx],
                            [rows.start, rows.end],
                            ox * sx - left,
                            inside.end - ox,
                            ys[oy * ow + ox..].as_ptr(),
                            gs[oy * ow + ox..].as_ptr(),
                        )
                    };
                    if ox >= ow {
                        break;
                    }
                }
                let Range { start: x0, end: x1 } = cols[ox];
                let m = ys[oy * ow + ox];
                let mut at = usize::MAX;
                let mut r = rows.end;
                while r > rows.start {
                    r -= 1;
                    let mut col = x1;
                    while col > x0 {
                        col -= 1;
                        let i = r * w + col;
                        at = if src[i] == m { i } else { at };
                    }
                }
                if at != usize::MAX {
                    dst[at] += gs[oy * ow + ox];
                }
                ox += 1;
            }
        }
    }
    out
}

/// The mean of each `size`-value plane of `x` (GlobalAveragePool: `[N, C, H, W]` into
/// `[N, C, 1, 1]`). Burn flex's `mean_dims` took 2 ms of SqueezeNet's 36 ms pass in wasm, on
/// 1000 planes of 13 × 13.
#[inline(never)]
pub fn plane_means(x: &[f32], size: usize) -> Vec<f32> {
    x.chunks_exact(size.max(1)).map(|plane| sum(plane) / size as f32).collect()
}

/// Natively the backward pass compares one window at a time in its caller's loop.
#[cfg(not(target_arch = "wasm32"))]
mod simd {
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn backward_row(
        _: *const f32,
        _: *mut f32,
        _: [usize; 3],
        _: [usize; 2],
        _: usize,
        _: usize,
        _: *const f32,
        _: *const f32,
    ) -> usize {
        0
    }
}

#[cfg(target_arch = "wasm32")]
mod simd {
    use core::arch::wasm32::*;

    /// [`super::max_pool2d_backward`] for consecutive outputs of one row whose windows lie
    /// inside the plane's `w` columns, four at a time (strides 1 and 2): per tap the four
    /// windows' values in one vector (for stride 2 the even lanes of two loads), compared with
    /// their maxima, the earliest matching position kept by a lane select. The gradients are
    /// added one by one, in the order the scalar loop adds them. Returns how many outputs are
    /// done (a multiple of four; the caller goes on from there).
    ///
    /// # Safety
    /// `src` and `dst` hold a plane of `w` columns and at least `rows[1]` rows; the window of
    /// the first output starts at column `start`, and each of the `count` outputs' windows
    /// (`kw` columns, `sx` apart) ends at or before column `w`; `y` and `g` hold `count`
    /// values.
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "simd128")]
    pub unsafe fn backward_row(
        src: *const f32,
        dst: *mut f32,
        [w, kw, sx]: [usize; 3],
        [r0, r1]: [usize; 2],
        start: usize,
        count: usize,
        y: *const f32,
        g: *const f32,
    ) -> usize {
        if sx == 0 || sx > 2 {
            return 0;
        }
        let lanes = i32x4(0, sx as i32, 2 * sx as i32, 3 * sx as i32);
        let mut done = 0;
        // SAFETY: every read is within the rows `r0..r1` and columns below `w` (checked for
        // the extra lanes of stride 2's second load); `y`, `g` below `count`.
        unsafe {
            while done + 4 <= count {
                let c = start + done * sx;
                // Stride 2 loads eight values from each tap's column: one past the last window.
                if sx == 2 && c + kw + 7 > w {
                    break;
                }
                let m = v128_load(y.add(done) as *const v128);
                let mut at = i32x4_splat(-1);
                let mut r = r1;
                while r > r0 {
                    r -= 1;
                    let mut j = kw;
                    while j > 0 {
                        j -= 1;
                        let i = r * w + c + j;
                        let p = src.add(i);
                        let v = if sx == 1 {
                            v128_load(p as *const v128)
                        } else {
                            let (a, b) = (v128_load(p as *const v128), v128_load(p.add(4) as *const v128));
                            i32x4_shuffle::<0, 2, 4, 6>(a, b)
                        };
                        let index = i32x4_add(i32x4_splat(i as i32), lanes);
                        at = v128_bitselect(index, at, f32x4_eq(v, m));
                    }
                }
                let mut found = [0i32; 4];
                v128_store(found.as_mut_ptr() as *mut v128, at);
                for (l, &i) in found.iter().enumerate() {
                    if i >= 0 {
                        *dst.add(i as usize) += *g.add(done + l);
                    }
                }
                done += 4;
            }
        }
        done
    }
}
