//! SmoothGrad (Smilkov et al. 2017): average a gradient map over copies of the image with
//! Gaussian noise added, σ given as a fraction of the image's value range. Noise comes from a
//! seeded generator, so a seed reproduces a map on every device. Shaped `[C, H, W]`.

use burn::tensor::{Tensor, TensorData};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, Normal};

use super::gradient::batch_gradient;
use super::{Attribution, MethodError, Target, first, target_score};
use crate::classify::read_f32;
use crate::model::{Network, Pass, ReluRule};

/// Noisy copies per backward pass.
const BATCH: usize = 8;

#[allow(clippy::too_many_arguments)]
pub async fn smoothgrad(
    net: &Network,
    input: &Tensor<4>,
    target: &Target,
    rule: ReluRule,
    samples: usize,
    sigma: f32,
    seed: u64,
    progress: &mut dyn super::Progress,
) -> Result<Attribution, MethodError> {
    let [_, c, h, w] = input.dims();
    let pixels = read_f32(input.clone()).await?;
    let (lo, hi) = pixels.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), v| (a.min(*v), b.max(*v)));
    let std = sigma * (hi - lo).max(f32::EPSILON);
    let noise = Normal::new(0.0f32, std).map_err(|e| MethodError::BadArgument(format!("sigma: {e}")))?;
    let mut rng = StdRng::seed_from_u64(seed);
    let score = first(target_score(net, input.clone(), target, &Pass::default())?).await?;
    let mut sum = vec![0f32; pixels.len()];
    let mut done = 0;
    while done < samples {
        if !progress.tick(done, samples).await {
            return Err(MethodError::Cancelled);
        }
        let n = BATCH.min(samples - done);
        let batch: Vec<f32> =
            (0..n).flat_map(|_| pixels.iter().map(|v| v + noise.sample(&mut rng)).collect::<Vec<_>>()).collect();
        let x = Tensor::<4>::from_data(TensorData::new(batch, [n, c, h, w]), &input.device());
        let (grad, _) = batch_gradient(net, x, target, rule)?;
        let g = read_f32(grad.sum_dim(0)).await?;
        for (s, v) in sum.iter_mut().zip(g) {
            *s += v;
        }
        done += n;
    }
    progress.tick(samples, samples).await;
    let values = sum.into_iter().map(|v| v / samples as f32).collect();
    Ok(Attribution { values, shape: vec![c, h, w], score })
}
