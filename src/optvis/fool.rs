//! Fooling images (the lecture's adversarial examples): nudge a photo until the network calls it
//! a chosen class, with a change the eye barely sees. Iterative signed-gradient steps on the
//! target's log-probability (Kurakin et al.'s basic iterative method, targeted), each pixel kept
//! within ±ε of the photo. Steps are whole 1/255 levels, so the result survives saving as an
//! 8-bit PNG unchanged.

use burn::tensor::Tensor;

use super::OptvisError;
use super::render::{RenderProgress, Step};
use crate::classify::read_f32;
use crate::model::Network;
use burn::tensor::activation::{log_softmax, softmax};

#[derive(Debug, Clone, PartialEq)]
pub struct FoolParams {
    /// The class the network should see.
    pub target: usize,
    /// Largest change of any pixel value, in 1/255 levels.
    pub epsilon: u32,
    /// Change per step, in 1/255 levels.
    pub step: u32,
    /// Give up after this many steps.
    pub max_steps: usize,
    /// Stop once the target's probability reaches this (and it is the top class).
    pub confidence: f32,
}

impl Default for FoolParams {
    fn default() -> Self {
        Self { target: 0, epsilon: 8, step: 1, max_steps: 100, confidence: 0.5 }
    }
}

/// The outcome of [`fool`].
pub struct Fooled {
    /// The perturbed photo, `[1, 3, H, W]` in [0, 1].
    pub image: Tensor<4>,
    /// Steps taken.
    pub steps: usize,
    /// The network's class probabilities for `image`.
    pub probabilities: Vec<f32>,
}

impl Fooled {
    /// The network's top class for the image.
    pub fn top(&self) -> usize {
        top_class(&self.probabilities)
    }

    pub fn succeeded(&self, target: usize) -> bool {
        self.top() == target
    }
}

fn top_class(probs: &[f32]) -> usize {
    probs.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map(|(i, _)| i).unwrap_or(0)
}

/// `0.5 + gain·(a − b)`, clamped: the difference made visible.
pub fn amplified_difference(a: Tensor<4>, b: Tensor<4>, gain: f32) -> Tensor<4> {
    (a - b).mul_scalar(gain).add_scalar(0.5).clamp(0.0, 1.0)
}

/// Perturbs `photo` (`[1, 3, H, W]` in [0, 1], ideally on the 8-bit grid) towards `p.target`.
/// Stops when the target is the top class with at least `p.confidence`, after `p.max_steps`, or
/// when `progress` says so (then the error is `Cancelled`).
pub async fn fool(
    net: &Network,
    photo: Tensor<4>,
    p: &FoolParams,
    progress: &mut dyn RenderProgress,
) -> Result<Fooled, OptvisError> {
    if p.epsilon == 0 || p.step == 0 {
        return Err(OptvisError::BadArgument("ε and the step must be at least one level (1/255)".into()));
    }
    let (eps, alpha) = (p.epsilon as f32 / 255.0, p.step as f32 / 255.0);
    let (low, high) = (photo.clone().sub_scalar(eps).clamp_min(0.0), photo.clone().add_scalar(eps).clamp_max(1.0));
    let mut x = photo;
    let mut step = 0;
    loop {
        let leaf = x.clone().autodiff().require_grad();
        let acts = net.forward(leaf.clone(), &[net.score_name()])?;
        let scores: Tensor<2> = acts.get(net.score_name())?.matrix();
        let classes = scores.dims()[1];
        if p.target >= classes {
            return Err(OptvisError::BadArgument(format!(
                "class {} does not exist (the model has {classes})",
                p.target
            )));
        }
        let t = p.target;
        let value = log_softmax(scores.clone(), 1).slice([0..1, t..t + 1]).reshape([1]);
        let probs = softmax(scores.without_autodiff(), 1);
        let read = read_f32(Tensor::cat(vec![value.clone().without_autodiff(), probs.reshape([-1])], 0)).await?;
        let (logp, probs) = (read[0], &read[1..]);
        let probability = probs.get(p.target).copied().unwrap_or(0.0);
        if (top_class(probs) == p.target && probability >= p.confidence) || step >= p.max_steps {
            return Ok(Fooled { image: x, steps: step, probabilities: probs.to_vec() });
        }
        let g = leaf
            .grad(&value.sum().backward())
            .ok_or_else(|| OptvisError::BadArgument("the scores do not depend on the image".into()))?;
        // Round to whole levels so the image stays on the 8-bit grid.
        x = (x + g.sign().mul_scalar(alpha)).mul_scalar(255.0).round().div_scalar(255.0);
        x = x.max_pair(low.clone()).min_pair(high.clone());
        step += 1;
        let image = x.clone();
        let info = Step {
            step,
            steps: p.max_steps,
            value: logp,
            terms: vec![(format!("p(class {})", p.target), probability)],
            image: &image,
        };
        if !progress.step(&info).await {
            return Err(OptvisError::Cancelled);
        }
    }
}
