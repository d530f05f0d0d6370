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
    for plane in 0..n * c {
        let (src, dst) = (&x[plane * h * w..][..h * w], &mut out[plane * h * w..][..h * w]);
        let (ys, gs) = (&y[plane * oh * ow..][..oh * ow], &grad[plane * oh * ow..][..oh * ow]);
        for oy in 0..oh {
            let rows = span(oy, sy, top, kh, h);
            // Every tap of the window compared, last to first, keeping the earliest match: no
            // branch on the comparisons, whose outcomes follow the data (an early exit there
            // cost more than the taps it skipped), and plain loops (at opt-level "z" an
            // iterator adapter's closure stays a call per element).
            let mut ox = 0;
            while ox < ow {
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
