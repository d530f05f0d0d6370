//! Random transforms applied to the image at every step, so the optimised picture works across
//! small shifts, zooms and turns instead of exploiting one exact pixel grid (Lucid's
//! "transformation robustness"). Every transform keeps the image's size, so models with a fixed
//! input size accept the result.

use burn::tensor::ops::{GridSampleOptions, GridSamplePaddingMode, InterpolateMode, PadMode};
use burn::tensor::{Tensor, TensorData};
use rand::RngExt;
use rand::rngs::StdRng;

#[derive(Debug, Clone, PartialEq)]
pub enum Transform {
    /// Roll by up to ±n pixels along each axis (wrapping around).
    Jitter(usize),
    /// Pad by `n` grey pixels on every side, then cut the original size back out at a random
    /// offset: a shift by up to ±n that fills with grey.
    Shift(usize),
    /// Zoom about the centre by one of these factors (bilinear, edges extended).
    Scale(Vec<f32>),
    /// Turn about the centre by one of these angles in degrees (bilinear, edges extended).
    Rotate(Vec<f32>),
}

/// Lucid's standard set, for images of about 224 pixels.
pub fn standard() -> Vec<Transform> {
    vec![
        Transform::Shift(12),
        Transform::Jitter(8),
        Transform::Scale((0..11).map(|k| 1.0 + (k as f32 - 5.0) / 50.0).collect()),
        Transform::Rotate((-10..=10).map(|d| d as f32).collect()),
        Transform::Jitter(4),
    ]
}

impl Transform {
    /// The same transform for an image of `side` pixels instead of about 224: pixel shifts
    /// scale with the side (at least one pixel), zooms and turns stay.
    pub fn for_side(&self, side: usize) -> Transform {
        let px = |n: usize| if side >= 224 || n == 0 { n } else { (n * side).div_ceil(224).max(1) };
        match self {
            Transform::Jitter(n) => Transform::Jitter(px(*n)),
            Transform::Shift(n) => Transform::Shift(px(*n)),
            other => other.clone(),
        }
    }

    pub fn apply(&self, x: Tensor<4>, rng: &mut StdRng) -> Tensor<4> {
        let [n, c, h, w] = x.dims();
        match self {
            Transform::Jitter(0) | Transform::Shift(0) => x,
            Transform::Jitter(j) => {
                let j = *j as i64;
                let (dy, dx) = (rng.random_range(-j..=j), rng.random_range(-j..=j));
                roll(x, dy, dx)
            }
            Transform::Shift(p) => {
                let (oy, ox) = (rng.random_range(0..=2 * p), rng.random_range(0..=2 * p));
                x.pad([(*p, *p), (*p, *p)], PadMode::Constant(0.5)).slice([0..n, 0..c, oy..oy + h, ox..ox + w])
            }
            Transform::Scale(factors) if !factors.is_empty() => {
                let s = factors[rng.random_range(0..factors.len())];
                affine(x, s, 0.0)
            }
            Transform::Rotate(angles) if !angles.is_empty() => {
                let a = angles[rng.random_range(0..angles.len())];
                affine(x, 1.0, a)
            }
            Transform::Scale(_) | Transform::Rotate(_) => x,
        }
    }
}

/// Rolls the image by `dy` rows and `dx` columns (positive: down and right), wrapping around.
pub fn roll(x: Tensor<4>, dy: i64, dx: i64) -> Tensor<4> {
    if dy == 0 && dx == 0 {
        return x;
    }
    x.roll(&[dy, dx], &[2, 3])
}

/// Zoom by `scale` and turn by `degrees` about the centre, keeping the size: each output pixel
/// samples the input at the inverse-transformed position (bilinear, edges extended).
pub fn affine(x: Tensor<4>, scale: f32, degrees: f32) -> Tensor<4> {
    if scale == 1.0 && degrees == 0.0 {
        return x;
    }
    let [n, _, h, w] = x.dims();
    let (sin, cos) = degrees.to_radians().sin_cos();
    // Pixel centres in [-1, 1] (align_corners = false), in pixel units so turns stay square.
    let mut grid = Vec::with_capacity(n * h * w * 2);
    for _ in 0..n {
        for i in 0..h {
            for j in 0..w {
                let (px, py) = (j as f32 + 0.5 - w as f32 / 2.0, i as f32 + 0.5 - h as f32 / 2.0);
                let (sx, sy) = ((cos * px + sin * py) / scale, (-sin * px + cos * py) / scale);
                grid.push(2.0 * sx / w as f32);
                grid.push(2.0 * sy / h as f32);
            }
        }
    }
    let grid = Tensor::<4>::from_data(TensorData::new(grid, [n, h, w, 2]), &x.device());
    let options = GridSampleOptions::new(InterpolateMode::Bilinear)
        .with_padding_mode(GridSamplePaddingMode::Border)
        .with_align_corners(false);
    x.grid_sample_2d(grid, options)
}
