//! Classification: one forward pass, probabilities read back, top-k with labels.

use burn::tensor::Tensor;
use image::RgbImage;

use crate::error::ModelError;
use crate::model::{ModelInfo, Network};

pub use crate::protocol::Prediction;

/// Reads a tensor back to the host: async because WebGPU reads are.
pub async fn read_f32<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>, ModelError> {
    let data = t.into_data_async().await.map_err(|e| ModelError::Device(format!("{e:?}")))?;
    data.convert::<f32>().try_into_vec::<f32>().map_err(|e| ModelError::Device(format!("{e:?}")))
}

/// Turns scores into probabilities: kept as they are if they already sum to one.
pub fn probabilities(scores: &[f32]) -> Vec<f32> {
    let sum: f32 = scores.iter().sum();
    if scores.iter().all(|&p| (0.0..=1.0).contains(&p)) && (sum - 1.0).abs() < 1e-3 {
        return scores.to_vec();
    }
    let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exp: Vec<f32> = scores.iter().map(|&s| (s - max).exp()).collect();
    let total: f32 = exp.iter().sum();
    exp.into_iter().map(|e| e / total).collect()
}

/// The `k` most probable classes, best first (ties by lower index).
pub fn top_k(probs: &[f32], k: usize, info: &ModelInfo) -> Vec<Prediction> {
    let mut order: Vec<usize> = (0..probs.len()).collect();
    order.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]).then(a.cmp(&b)));
    order.into_iter().take(k).map(|i| Prediction { index: i, label: info.label(i), prob: probs[i] }).collect()
}

/// Runs the network on a prepared crop and returns the class probabilities.
pub async fn class_probabilities(net: &Network, crop: &RgbImage) -> Result<Vec<f32>, ModelError> {
    let input = crate::image::to_tensor(crop, net.device());
    let out_name = net.graph().outputs[0].clone();
    let acts = net.forward(input, &[])?;
    let out = acts.get(&out_name)?;
    let scores = read_f32(out.tensor.clone()).await?;
    Ok(probabilities(&scores))
}
