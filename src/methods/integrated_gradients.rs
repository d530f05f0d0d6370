//! Integrated Gradients (Sundararajan et al. 2017): (x − x′) times the gradient averaged along
//! the straight path from a baseline x′ (a constant image) to x, with Gauss–Legendre
//! quadrature (Captum's default). Completeness: the map sums to score(x) − score(x′), up to the
//! quadrature error. Shaped `[C, H, W]`.

use burn::tensor::Tensor;

use super::gradient::{batch_gradient, weighted_gradient_sum};
use super::share::{self, Part};
use super::{Attribution, MethodError, Target};
use crate::classify::read_f32;
use crate::model::{Network, ReluRule};

/// Path points per backward pass.
const BATCH: usize = 8;

/// Gauss–Legendre nodes and weights on [0, 1] (Newton's method on the Legendre polynomial).
pub fn gauss_legendre(n: usize) -> Vec<(f64, f64)> {
    (0..n)
        .map(|i| {
            let mut x = (std::f64::consts::PI * (i as f64 + 0.75) / (n as f64 + 0.5)).cos();
            let mut derivative = 1.0;
            for _ in 0..100 {
                let (mut p0, mut p1) = (1.0, x);
                for k in 2..=n {
                    let k = k as f64;
                    (p0, p1) = (p1, ((2.0 * k - 1.0) * x * p1 - (k - 1.0) * p0) / k);
                }
                derivative = n as f64 * (x * p1 - p0) / (x * x - 1.0);
                let step = p1 / derivative;
                x -= step;
                if step.abs() < 1e-15 {
                    break;
                }
            }
            let weight = 2.0 / ((1.0 - x * x) * derivative * derivative);
            ((x + 1.0) / 2.0, weight / 2.0)
        })
        .collect()
}

pub async fn integrated_gradients(
    net: &Network,
    input: &Tensor<4>,
    target: &Target,
    steps: usize,
    baseline: f32,
    progress: &mut dyn super::Progress,
) -> Result<Attribution, MethodError> {
    let [_, c, h, w] = input.dims();
    let pixels = read_f32(input.clone()).await?;
    let (_, score) = batch_gradient(net, input.clone(), target, ReluRule::Standard)?;
    let score = super::first(score).await?;
    let nodes = gauss_legendre(steps);
    let parts: Vec<&[(f64, f64)]> = nodes.chunks(BATCH).collect();
    let images = |k: usize| -> Vec<f32> {
        let path = parts[k].iter().map(|&(alpha, _)| alpha as f32);
        path.flat_map(|alpha| pixels.iter().map(move |&v| baseline + alpha * (v - baseline))).collect()
    };
    let weights = |k: usize| -> Vec<f32> { parts[k].iter().map(|&(_, weight)| weight as f32).collect() };
    let device = input.device();
    let sums = share::run(
        progress,
        &parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
        |_| c * h * w,
        |k| Part::Images { pixels: images(k), weights: weights(k) },
        async |k| {
            weighted_gradient_sum(net, images(k), [c, h, w], &weights(k), target, ReluRule::Standard, &device).await
        },
        |_, _| {},
    )
    .await?;
    let mut avg = vec![0f32; pixels.len()];
    for part in sums {
        for (a, v) in avg.iter_mut().zip(part) {
            *a += v;
        }
    }
    let values = avg.iter().zip(&pixels).map(|(g, x)| (x - baseline) * g).collect();
    Ok(Attribution { values, shape: vec![c, h, w], score })
}
