//! Max pooling on the CPU backend without gradients. Burn flex computes every max pool with the
//! argmax indices its backward pass needs, which took 40% of SqueezeNet's forward pass natively
//! (BENCHMARKS.md); a pass without gradients needs only the maxima.

/// `x` (`[N, C, H, W]`) max-pooled with a `kernel` window moving by `strides`, the input padded
/// by (before, after) `pads` per axis (padding never wins), into `[N, C, out[0], out[1]]`; the
/// caller computes `out` (ONNX's floor or ceil mode) and has checked that every window starts
/// inside the padded input.
pub fn max_pool2d(
    x: &[f32],
    [n, c, h, w]: [usize; 4],
    [kh, kw]: [usize; 2],
    [sy, sx]: [usize; 2],
    pads: [(usize, usize); 2],
    [oh, ow]: [usize; 2],
) -> Vec<f32> {
    let (top, left) = (pads[0].0 as isize, pads[1].0 as isize);
    // The input rows or columns a window at output index i covers, clipped to the image.
    let span = |i: usize, stride: usize, before: isize, k: usize, size: usize| {
        let start = (i * stride) as isize - before;
        (start.max(0) as usize)..((start + k as isize).clamp(0, size as isize) as usize)
    };
    let cols: Vec<std::ops::Range<usize>> = (0..ow).map(|ox| span(ox, sx, left, kw, w)).collect();
    let mut out = vec![f32::NEG_INFINITY; n * c * oh * ow];
    for (src, dst) in x.chunks_exact(h * w).zip(out.chunks_exact_mut(oh * ow)) {
        for (oy, row) in dst.chunks_exact_mut(ow).enumerate() {
            for y in span(oy, sy, top, kh, h) {
                let line = &src[y * w..(y + 1) * w];
                for (m, xs) in row.iter_mut().zip(&cols) {
                    // (A comparison, not f32::max: that is a call to fmaxf per element here.)
                    *m = line[xs.clone()].iter().fold(*m, |a, &b| if b > a { b } else { a });
                }
            }
        }
    }
    out
}
