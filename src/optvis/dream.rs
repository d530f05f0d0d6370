//! DeepDream with octaves (after Mordvintsev et al.'s notebook): dream on a small copy of the
//! photo first, then carry the dreamt detail up to each larger scale and dream on, so that the
//! patterns grow at several sizes. Each octave is one run of the render loop with
//! gradient-normalized steps and jitter.

use std::future::Future;
use std::pin::Pin;

use burn::tensor::Tensor;
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};

use super::render::{Optimizer, RenderProgress, Step, render};
use super::transform::Transform;
use super::{Objective, OptvisError, RenderParams};
use crate::model::Network;

#[derive(Debug, Clone, PartialEq)]
pub struct DreamParams {
    /// Number of scales, the photo's own size last.
    pub octaves: usize,
    /// Size ratio between neighbouring octaves (about 1.4).
    pub scale: f32,
    /// Steps over all octaves (split evenly, the larger octaves taking the remainder).
    pub steps: usize,
    /// Step size: each step moves pixels by this much on average.
    pub learning_rate: f32,
    /// Random roll of up to this many pixels each step.
    pub jitter: usize,
    pub seed: u64,
}

impl Default for DreamParams {
    fn default() -> Self {
        Self { octaves: 3, scale: 1.4, steps: 30, learning_rate: 0.01, jitter: 8, seed: 0 }
    }
}

/// Bilinear resize of `[N, C, H, W]` to `[h, w]` (half-pixel centres).
pub fn resize(x: Tensor<4>, [h, w]: [usize; 2]) -> Tensor<4> {
    let [_, _, xh, xw] = x.dims();
    if [xh, xw] == [h, w] {
        return x;
    }
    let options = InterpolateOptions::new(InterpolateMode::Bilinear).with_align_corners(false).with_output_size([h, w]);
    interpolate(x, options)
}

/// The sizes of the octaves, smallest first, ending with `[h, w]`. Sides never go below 32 px.
pub fn octave_sizes([h, w]: [usize; 2], octaves: usize, scale: f32) -> Vec<[usize; 2]> {
    let scale = if scale.is_finite() && scale > 1.0 { scale } else { 1.4 };
    let mut sizes: Vec<[usize; 2]> = (0..octaves.max(1))
        .map(|i| {
            let f = scale.powi(i as i32);
            [((h as f32 / f).round() as usize).max(32.min(h)), ((w as f32 / f).round() as usize).max(32.min(w))]
        })
        .collect();
    sizes.dedup();
    sizes.reverse();
    sizes
}

/// Renumbers an octave's steps into the whole run's.
struct Octaves<'a> {
    inner: &'a mut dyn RenderProgress,
    done: usize,
    total: usize,
}

impl RenderProgress for Octaves<'_> {
    fn step(&mut self, s: &Step<'_>) -> Pin<Box<dyn Future<Output = bool> + '_>> {
        let renumbered = Step {
            step: self.done + s.step,
            steps: self.total,
            value: s.value,
            terms: s.terms.clone(),
            image: s.image,
        };
        // The inner progress's future borrows only the inner progress, never the step.
        self.inner.step(&renumbered)
    }
}

/// Dreams `objective` (usually [`Objective::Dream`]) into `photo` (`[1, 3, H, W]` in [0, 1]).
pub async fn dream(
    net: &Network,
    objective: &Objective,
    photo: Tensor<4>,
    p: &DreamParams,
    progress: &mut dyn RenderProgress,
) -> Result<Tensor<4>, OptvisError> {
    let [_, _, h, w] = photo.dims();
    let sizes = octave_sizes([h, w], p.octaves, p.scale);
    // The steps split as evenly as they go; the larger octaves take any remainder.
    let n = sizes.len();
    let share = |i: usize| p.steps / n + usize::from(i >= n - p.steps % n);
    let total = p.steps;
    let mut detail = photo.zeros_like().slice([0..1, 0..3, 0..sizes[0][0], 0..sizes[0][1]]);
    let mut out = photo.clone();
    for (i, size) in sizes.iter().enumerate() {
        let base = resize(photo.clone(), *size);
        let start = (base.clone() + resize(detail, *size)).clamp(0.0, 1.0);
        let (steps, done) = (share(i), (0..i).map(share).sum());
        if steps == 0 {
            out = start.clone();
            detail = start - base;
            continue;
        }
        let params = RenderParams {
            steps,
            learning_rate: p.learning_rate,
            optimizer: Optimizer::Normalized,
            transforms: vec![Transform::Jitter(p.jitter)],
            blur_every: 0,
            seed: p.seed.wrapping_add(i as u64),
            ..RenderParams::default()
        };
        let mut octave = Octaves { inner: &mut *progress, done, total };
        out = render(net, objective, start, &params, &mut octave).await?;
        detail = out.clone() - base;
    }
    Ok(out)
}
