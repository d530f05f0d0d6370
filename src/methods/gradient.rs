//! Gradient maps: the gradient of the target's score with respect to the input pixels,
//! shaped `[C, H, W]`. The ReLU rule picks the method: the true gradient ("saliency",
//! Simonyan et al. 2014), guided backprop (Springenberg et al. 2015) or deconvnet (Zeiler &
//! Fergus 2014).

use burn::tensor::Tensor;

use super::{Attribution, MethodError, Target, first, target_score};
use crate::classify::read_f32;
use crate::model::{Network, Pass, ReluRule};

pub fn rule_name(rule: ReluRule) -> &'static str {
    match rule {
        ReluRule::Standard => "saliency",
        ReluRule::Guided => "guided-backprop",
        ReluRule::Deconv => "deconvnet",
    }
}

pub fn parse_rule(name: &str) -> Result<ReluRule, MethodError> {
    match name {
        "saliency" | "vanilla" => Ok(ReluRule::Standard),
        "guided-backprop" | "guided" => Ok(ReluRule::Guided),
        "deconvnet" | "deconv" => Ok(ReluRule::Deconv),
        other => Err(MethodError::BadArgument(format!(
            "'{other}' is not a gradient rule (saliency, guided-backprop, deconvnet)"
        ))),
    }
}

/// Gradients of the target score for every image of a batch `[N, C, H, W]` (rows are
/// independent, so one backward pass serves them all), and the scores `[N]`.
pub fn batch_gradient(
    net: &Network,
    x: Tensor<4>,
    target: &Target,
    rule: ReluRule,
) -> Result<(Tensor<4>, Tensor<1>), MethodError> {
    let x = x.autodiff().require_grad();
    let score = target_score(net, x.clone(), target, &Pass::relu(rule))?;
    let grads = score.clone().sum().backward();
    let grad = x.grad(&grads).ok_or_else(|| MethodError::BadArgument("the input received no gradient".into()))?;
    Ok((grad, score.without_autodiff()))
}

/// `Σᵢ weightᵢ · ∂target/∂imageᵢ` over a batch of images (`pixels`: `[N, C, H, W]` values,
/// one weight per image), `[C, H, W]`: SmoothGrad's and Integrated Gradients' unit of work,
/// done the same way here and on a helper.
pub async fn weighted_gradient_sum(
    net: &Network,
    pixels: Vec<f32>,
    [c, h, w]: [usize; 3],
    weights: &[f32],
    target: &Target,
    rule: ReluRule,
    device: &crate::Device,
) -> Result<Vec<f32>, MethodError> {
    let (n, plane) = (weights.len(), c * h * w);
    if n == 0 || pixels.len() != n * plane {
        return Err(MethodError::BadArgument(format!("{} values are not {n} images of {c}×{h}×{w}", pixels.len())));
    }
    let x = Tensor::<4>::from_data(burn::tensor::TensorData::new(pixels, [n, c, h, w]), device);
    let (grad, _) = batch_gradient(net, x, target, rule)?;
    let g = read_f32(grad).await?;
    let mut sum = vec![0f32; plane];
    for (row, &weight) in g.chunks_exact(plane).zip(weights) {
        for (s, v) in sum.iter_mut().zip(row) {
            *s += weight * v;
        }
    }
    Ok(sum)
}

pub async fn gradient(
    net: &Network,
    input: &Tensor<4>,
    target: &Target,
    rule: ReluRule,
) -> Result<Attribution, MethodError> {
    let (grad, score) = batch_gradient(net, input.clone(), target, rule)?;
    let [_, c, h, w] = grad.dims();
    Ok(Attribution { values: read_f32(grad).await?, shape: vec![c, h, w], score: first(score).await? })
}
