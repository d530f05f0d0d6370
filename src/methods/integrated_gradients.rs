//! Integrated Gradients (Sundararajan et al. 2017): (x − x′) times the gradient averaged along
//! the straight path from a baseline x′ (a constant image) to x, with Gauss–Legendre
//! quadrature (Captum's default). Completeness: the map sums to score(x) − score(x′), up to the
//! quadrature error. Shaped `[C, H, W]`.

use burn::tensor::{Tensor, TensorData};

use super::gradient::batch_gradient;
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
    let mut avg = vec![0f32; pixels.len()];
    for (k, chunk) in nodes.chunks(BATCH).enumerate() {
        if !progress.tick(k * BATCH, steps).await {
            return Err(MethodError::Cancelled);
        }
        let batch: Vec<f32> = chunk
            .iter()
            .flat_map(|&(alpha, _)| pixels.iter().map(move |&v| baseline + alpha as f32 * (v - baseline)))
            .collect();
        let x = Tensor::<4>::from_data(TensorData::new(batch, [chunk.len(), c, h, w]), &input.device());
        let (grad, _) = batch_gradient(net, x, target, ReluRule::Standard)?;
        let g = read_f32(grad).await?;
        for (row, &(_, weight)) in chunk.iter().enumerate() {
            let part = &g[row * pixels.len()..(row + 1) * pixels.len()];
            for (a, v) in avg.iter_mut().zip(part) {
                *a += weight as f32 * v;
            }
        }
    }
    progress.tick(steps, steps).await;
    let values = avg.iter().zip(&pixels).map(|(g, x)| (x - baseline) * g).collect();
    Ok(Attribution { values, shape: vec![c, h, w], score })
}
