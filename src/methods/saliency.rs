//! Vanilla backprop ("saliency", Simonyan et al. 2014): the gradient of the target's
//! pre-softmax score with respect to the input pixels, shaped `[C, H, W]`.

use burn::tensor::Tensor;

use super::{Attribution, MethodError, Target, class_score};
use crate::classify::read_f32;
use crate::model::Network;

pub async fn saliency(net: &Network, input: &Tensor<4>, target: &Target) -> Result<Attribution, MethodError> {
    let x = input.clone().autodiff().require_grad();
    let scores = net.scores(x.clone())?;
    let score = class_score(&scores, target)?.sum();
    let grads = score.backward();
    let grad = x.grad(&grads).ok_or_else(|| MethodError::BadArgument("the input received no gradient".into()))?;
    let [_, c, h, w] = grad.dims();
    Ok(Attribution {
        values: read_f32(grad).await?,
        shape: vec![c, h, w],
        score: read_f32(score.without_autodiff()).await?.first().copied().unwrap_or(f32::NAN),
    })
}
