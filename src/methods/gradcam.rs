//! Grad-CAM (Selvaraju et al. 2017): weight each channel of a layer by the spatial mean of the
//! target score's gradient there, sum, and keep the positive part. Shaped like the layer `[h, w]`.

use std::collections::HashMap;

use burn::tensor::Tensor;
use burn::tensor::activation::relu;

use super::{Attribution, MethodError, Target, class_score};
use crate::classify::read_f32;
use crate::model::{Network, Value};

pub async fn grad_cam(
    net: &Network,
    input: &Tensor<4>,
    target: &Target,
    layer: &str,
) -> Result<Attribution, MethodError> {
    let acts = net.forward(input.clone(), &[layer])?;
    let a = acts.get(layer)?.clone();
    if a.shape.len() != 4 {
        return Err(MethodError::BadArgument(format!(
            "Grad-CAM needs a convolutional layer; '{layer}' is {:?}",
            a.shape
        )));
    }
    let leaf = a.tensor.clone().autodiff().require_grad();
    let overrides = HashMap::from([(layer.to_string(), Value { tensor: leaf.clone(), shape: a.shape.clone() })]);
    let scores = net.scores_with(input.clone(), overrides)?;
    let score = class_score(&scores, target)?.sum();
    let grads = score.backward();
    let g =
        leaf.grad(&grads).ok_or_else(|| MethodError::BadArgument(format!("'{layer}' does not lead to the output")))?;
    let [_, _, h, w] = g.dims();
    let alpha = g.mean_dims(&[2, 3]); // [1, k, 1, 1]
    let cam: Tensor<4> = relu((a.tensor * alpha).sum_dim(1)); // [1, 1, h, w]
    Ok(Attribution {
        values: read_f32(cam).await?,
        shape: vec![h, w],
        score: read_f32(score.without_autodiff()).await?.first().copied().unwrap_or(f32::NAN),
    })
}
