//! SmoothGrad (Smilkov et al. 2017): average a gradient map over copies of the image with
//! Gaussian noise added, σ given as a fraction of the image's value range. Noise comes from a
//! seeded generator, so a seed reproduces a map on every device. Shaped `[C, H, W]`.

use burn::tensor::Tensor;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, Normal};

use super::gradient::weighted_gradient_sum;
use super::share::{self, Part};
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
    let score = first(target_score(net, input.clone(), target, &Pass::default())?).await?;
    // Each batch has its own generator, so any worker makes the same noisy copies of it.
    let sizes: Vec<usize> = (0..samples).step_by(BATCH).map(|s| BATCH.min(samples - s)).collect();
    let images = |k: usize| -> Vec<f32> {
        let mut rng = StdRng::seed_from_u64(seed ^ (k as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        (0..sizes[k]).flat_map(|_| pixels.iter().map(|v| v + noise.sample(&mut rng)).collect::<Vec<_>>()).collect()
    };
    let device = input.device();
    let sums = share::run(
        progress,
        &sizes,
        |_| c * h * w,
        |k| Part::Images { pixels: images(k), weights: vec![1.0; sizes[k]] },
        async |k| weighted_gradient_sum(net, images(k), [c, h, w], &vec![1.0; sizes[k]], target, rule, &device).await,
        |_, _| {},
    )
    .await?;
    let mut sum = vec![0f32; c * h * w];
    for part in sums {
        for (s, v) in sum.iter_mut().zip(part) {
            *s += v;
        }
    }
    let values = sum.into_iter().map(|v| v / samples as f32).collect();
    Ok(Attribution { values, shape: vec![c, h, w], score })
}
