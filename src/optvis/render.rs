//! The one render loop: gradient ascent on the image with Adam, random transforms each step,
//! and Yosinski et al.'s periodic regularisers (decay towards grey, Gaussian blur every k
//! steps), reporting each step and stopping cleanly when told to. Adam is written out here:
//! Burn's optimisers update a `Module`'s parameters, and ours is a bare image tensor.

use std::future::Future;
use std::pin::Pin;

use burn::tensor::module::conv2d;
use burn::tensor::ops::{ConvOptions, PadMode};
use burn::tensor::{Tensor, TensorData};
use rand::SeedableRng;
use rand::rngs::StdRng;

use super::param::Param;
use super::transform::Transform;
use super::{Objective, OptvisError};
use crate::classify::read_f32;
use crate::model::Network;

/// How a step follows the gradient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Optimizer {
    /// Adam (Kingma & Ba), ascending.
    Adam,
    /// DeepDream's step: the gradient divided by its mean absolute value, times the rate.
    Normalized,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RenderParams {
    pub steps: usize,
    /// The step size, in pixel values (the image lives in [0, 1]).
    pub learning_rate: f32,
    pub optimizer: Optimizer,
    /// The schedule: the step size falls along a half cosine from `learning_rate` to this
    /// fraction of it at the last step (1: constant).
    pub final_rate: f32,
    pub transforms: Vec<Transform>,
    /// Blur with a Gaussian of `blur_sigma` pixels every `blur_every` steps (0: never).
    pub blur_every: usize,
    pub blur_sigma: f32,
    /// Pull every pixel this fraction of the way back to mid-grey after each step.
    pub decay: f32,
    /// Yosinski et al.'s clipping, on the blur schedule: pixels whose colour is nearest to
    /// grey (this fraction of them) are set to grey…
    pub norm_clip: f32,
    /// …and so are the pixels (this fraction) that contribute least to the objective,
    /// |Σ_c (x_c − ½)·∂objective/∂x_c|.
    pub contribution_clip: f32,
    pub seed: u64,
}

impl Default for RenderParams {
    fn default() -> Self {
        Self {
            steps: 128,
            learning_rate: 0.05,
            optimizer: Optimizer::Adam,
            final_rate: 1.0,
            transforms: super::transform::standard(),
            blur_every: 4,
            blur_sigma: 0.5,
            decay: 0.0,
            norm_clip: 0.0,
            contribution_clip: 0.0,
            seed: 0,
        }
    }
}

/// One finished step, for progress, charts and previews.
pub struct Step<'a> {
    /// 1-based.
    pub step: usize,
    pub steps: usize,
    pub value: f32,
    /// Each term's weighted value.
    pub terms: Vec<(String, f32)>,
    /// The image after this step, `[1, 3, H, W]` in [0, 1].
    pub image: &'a Tensor<4>,
}

/// Hears of every step; answering `false` stops the loop. The browser worker yields to its
/// event loop here; any `FnMut(&Step) -> bool` closure is a progress that never yields.
pub trait RenderProgress {
    fn step(&mut self, step: &Step<'_>) -> Pin<Box<dyn Future<Output = bool> + '_>>;
}

impl<F: FnMut(&Step<'_>) -> bool> RenderProgress for F {
    fn step(&mut self, step: &Step<'_>) -> Pin<Box<dyn Future<Output = bool> + '_>> {
        Box::pin(std::future::ready(self(step)))
    }
}

/// A normalised 1-D Gaussian of `sigma` pixels, radius ⌈2σ⌉.
pub fn gaussian_kernel(sigma: f32) -> Vec<f32> {
    let r = (2.0 * sigma).ceil().max(1.0) as i32;
    let k: Vec<f32> = (-r..=r).map(|i| (-(i * i) as f32 / (2.0 * sigma * sigma)).exp()).collect();
    let s: f32 = k.iter().sum();
    k.into_iter().map(|v| v / s).collect()
}

/// Gaussian blur of each channel separately (edges extended).
pub fn blur(x: Tensor<4>, sigma: f32) -> Tensor<4> {
    if sigma <= 0.0 {
        return x;
    }
    let k = gaussian_kernel(sigma);
    let (len, r) = (k.len(), k.len() / 2);
    let [_, c, _, _] = x.dims();
    let device = x.device();
    let row = Tensor::<4>::from_data(TensorData::new(k.repeat(c), [c, 1, 1, len]), &device);
    let col = Tensor::<4>::from_data(TensorData::new(k.repeat(c), [c, 1, len, 1]), &device);
    let options = ConvOptions::new([1, 1], [0, 0], [1, 1], c);
    let x = conv2d(x.pad([(0, 0), (r, r)], PadMode::Edge), row, None, options.clone());
    conv2d(x.pad([(r, r), (0, 0)], PadMode::Edge), col, None, options)
}

/// Sets to grey the pixels of `x` whose `score` (`[1, 1, H, W]`) is among the smallest
/// `fraction` of them (one read-back, for the quantile).
async fn clip_smallest(x: Tensor<4>, score: Tensor<4>, fraction: f32) -> Result<Tensor<4>, OptvisError> {
    let mut values = read_f32(score.clone()).await?;
    if values.is_empty() {
        return Ok(x);
    }
    let k = ((values.len() as f32 * fraction.clamp(0.0, 1.0)) as usize).min(values.len() - 1);
    let (_, threshold, _) = values.select_nth_unstable_by(k, f32::total_cmp);
    let keep = score.greater_equal_elem(*threshold).float().expand(x.shape());
    Ok((x.sub_scalar(0.5) * keep).add_scalar(0.5))
}

/// Maximises `objective` over the pixels, starting from `init` (`[1, 3, H, W]` in [0, 1]).
pub async fn render(
    net: &Network,
    objective: &Objective,
    init: Tensor<4>,
    p: &RenderParams,
    progress: &mut dyn RenderProgress,
) -> Result<Tensor<4>, OptvisError> {
    render_with(net, objective, &Param::Pixels, init, p, progress).await
}

/// Maximises `objective` over the image represented by `param`, starting from the image
/// `init`; returns the final image.
pub async fn render_with(
    net: &Network,
    objective: &Objective,
    param: &Param,
    init: Tensor<4>,
    p: &RenderParams,
    progress: &mut dyn RenderProgress,
) -> Result<Tensor<4>, OptvisError> {
    if init.dims()[0] != 1 || init.dims()[1] != 3 {
        return Err(OptvisError::BadArgument(format!("expected one RGB image, got {:?}", init.dims())));
    }
    if !(p.learning_rate.is_finite() && p.learning_rate > 0.0) {
        return Err(OptvisError::BadArgument(format!("learning rate must be positive, got {}", p.learning_rate)));
    }
    let (b1, b2, eps) = (0.9f32, 0.999f32, 1e-8f32);
    let mut rng = StdRng::seed_from_u64(p.seed);
    let mut x = param.raw(init);
    let mut m = x.zeros_like();
    let mut v = x.zeros_like();
    let pixels = matches!(param, Param::Pixels);
    for step in 1..=p.steps {
        let leaf = x.clone().autodiff().require_grad();
        let mut seen = param.image(leaf.clone());
        for t in &p.transforms {
            seen = t.apply(seen, &mut rng);
        }
        let (value, terms) = objective.evaluate(net, seen)?;
        let grads = value.clone().sum().backward();
        let g = leaf
            .grad(&grads)
            .ok_or_else(|| OptvisError::BadArgument("the objective does not depend on the image".into()))?;
        let update = match p.optimizer {
            Optimizer::Adam => {
                m = m.mul_scalar(b1) + g.clone().mul_scalar(1.0 - b1);
                v = v.mul_scalar(b2) + g.clone().square().mul_scalar(1.0 - b2);
                let (c1, c2) = (1.0 - b1.powi(step as i32), 1.0 - b2.powi(step as i32));
                m.clone().div_scalar(c1) / v.clone().div_scalar(c2).sqrt().add_scalar(eps)
            }
            Optimizer::Normalized => g.clone() / g.clone().abs().mean().add_scalar(eps).unsqueeze(),
        };
        let t = if p.steps > 1 { (step - 1) as f32 / (p.steps - 1) as f32 } else { 0.0 };
        let rate =
            p.learning_rate * (p.final_rate + (1.0 - p.final_rate) * 0.5 * (1.0 + (std::f32::consts::PI * t).cos()));
        x = x + update.mul_scalar(rate);
        // Yosinski's regularisers act on pixels; the Fourier image is smooth and bounded already.
        if pixels {
            if p.decay > 0.0 {
                x = x.sub_scalar(0.5).mul_scalar(1.0 - p.decay).add_scalar(0.5);
            }
            if p.blur_every > 0 && step % p.blur_every == 0 {
                x = blur(x, p.blur_sigma);
                if p.norm_clip > 0.0 {
                    let norm = x.clone().sub_scalar(0.5).square().sum_dim(1);
                    x = clip_smallest(x, norm, p.norm_clip).await?;
                }
                if p.contribution_clip > 0.0 {
                    let contribution = (x.clone().sub_scalar(0.5) * g).sum_dim(1).abs();
                    x = clip_smallest(x, contribution, p.contribution_clip).await?;
                }
            }
            x = x.clamp(0.0, 1.0);
        }
        let image = param.image(x.clone());
        // One read-back per step for the value and every term (reads are slow on a GPU).
        let (names, parts): (Vec<String>, Vec<Tensor<1>>) = terms.into_iter().unzip();
        let all = Tensor::cat(std::iter::once(value).chain(parts).map(|t| t.without_autodiff()).collect(), 0);
        let read = read_f32(all).await?;
        let value = read.first().copied().unwrap_or(f32::NAN);
        let named: Vec<(String, f32)> = names.into_iter().zip(read.into_iter().skip(1)).collect();
        let info = Step { step, steps: p.steps, value, terms: named, image: &image };
        if !progress.step(&info).await {
            return Err(OptvisError::Cancelled);
        }
    }
    Ok(param.image(x))
}
