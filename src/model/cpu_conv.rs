//! Convolution on the CPU backend without gradients, as the classic NCHW im2col and one matrix
//! product per image and group (Caffe's layout). Burn flex's general convolution transposes the
//! weights and the input to channels-last on every call and scatters its output back; with the
//! weights' own `[O, C·kh·kw]` layout and the input's own rows none of that is needed, and the
//! product writes NCHW directly. A profile of ResNet-18 put flex's own copies at a third of the
//! forward pass, as much as the products themselves (BENCHMARKS.md).

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
/// `[N, O, H', W']`. The caller has checked the shapes (the kernel fits the padded input, the
/// channels divide by the groups).
pub fn conv2d(
    x: &[f32],
    [n, c, h, w]: [usize; 4],
    weight: &[f32],
    [o, cg, kh, kw]: [usize; 4],
    bias: Option<&[f32]>,
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
            if let Some(bias) = bias {
                for (row, &v) in dst.chunks_exact_mut(spatial).zip(&bias[group * og..(group + 1) * og]) {
                    row.fill(v);
                }
            }
            let lhs = &weight[group * og * k..][..og * k];
            // SAFETY: dst is og × spatial, lhs og × k and rhs k × spatial, all row-major and
            // within their slices (checked by the slicing above).
            unsafe {
                gemm::gemm(
                    og,
                    spatial,
                    k,
                    dst.as_mut_ptr(),
                    1,
                    spatial as isize,
                    bias.is_some(),
                    lhs.as_ptr(),
                    1,
                    k as isize,
                    rhs.as_ptr(),
                    1,
                    spatial as isize,
                    1.0,
                    1.0,
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                );
            }
        }
    }
    out
}

/// Fills `col` (`[C·kh·kw, H'·W']`) with the input values each output pixel's window sees, zero
/// where it falls on the padding.
fn im2col(
    input: &[f32],
    [c, h, w]: [usize; 3],
    [kh, kw]: [usize; 2],
    g: &ConvGeometry,
    [oh, ow]: [usize; 2],
    col: &mut [f32],
) {
    let ([sy, sx], [dy, dx]) = (g.strides, g.dilations);
    let (top, left) = (g.padding[0].0 as isize, g.padding[1].0 as isize);
    let mut rows = col.chunks_exact_mut(oh * ow);
    for ch in 0..c {
        let plane = &input[ch * h * w..][..h * w];
        for ky in 0..kh {
            for kx in 0..kw {
                let Some(row) = rows.next() else { return };
                // Output columns whose input column is inside the image: ox in [lo, hi).
                let shift = (kx * dx) as isize - left;
                let lo = if shift >= 0 { 0 } else { ((-shift) as usize).div_ceil(sx) };
                let hi = if (w as isize) > shift { (((w as isize - shift) as usize).div_ceil(sx)).min(ow) } else { 0 };
                for (oy, out) in row.chunks_exact_mut(ow).enumerate() {
                    let iy = (oy * sy + ky * dy) as isize - top;
                    if iy < 0 || iy >= h as isize || lo >= hi {
                        out.fill(0.0);
                        continue;
                    }
                    let line = &plane[iy as usize * w..][..w];
                    out[..lo].fill(0.0);
                    out[hi..].fill(0.0);
                    let first = (lo * sx) as isize + shift;
                    if sx == 1 {
                        out[lo..hi].copy_from_slice(&line[first as usize..first as usize + (hi - lo)]);
                    } else {
                        for (v, ix) in out[lo..hi].iter_mut().zip((first as usize..).step_by(sx)) {
                            *v = line[ix];
                        }
                    }
                }
            }
        }
    }
}
