//! Grad-CAM (Selvaraju et al. 2017): weight each channel of a layer by the spatial mean of the
//! target score's gradient there, sum, and keep the positive part; shaped like the layer
//! `[h, w]`. Guided Grad-CAM multiplies the map, upsampled bilinearly to the input, with guided
//! backprop: shaped `[C, H, W]`.

use burn::tensor::Tensor;
use burn::tensor::activation::relu;

use super::gradient::batch_gradient;
use super::{Attribution, MethodError, Target, first, target_score};
use crate::classify::read_f32;
use crate::model::{Network, Pass, ReluRule, Value};

pub async fn grad_cam(
    net: &Network,
    input: &Tensor<4>,
    target: &Target,
    layer: Option<&str>,
    guided: bool,
) -> Result<Attribution, MethodError> {
    let layer = match layer {
        Some(l) => l.to_string(),
        None => net.last_spatial_tap(input.clone())?,
    };
    let acts = net.forward(input.clone(), &[&layer])?;
    let a = acts.get(&layer)?.clone();
    if a.shape.len() != 4 {
        return Err(MethodError::BadArgument(format!(
            "Grad-CAM needs a convolutional layer; '{layer}' is {:?}",
            a.shape
        )));
    }
    let leaf = a.tensor.clone().autodiff().require_grad();
    let pass = Pass::default().with_override(&layer, Value { tensor: leaf.clone(), shape: a.shape.clone() });
    let score = target_score(net, input.clone(), target, &pass)?;
    let grads = score.clone().sum().backward();
    let g = leaf
        .grad(&grads)
        .ok_or_else(|| MethodError::BadArgument(format!("the target does not depend on '{layer}'")))?;
    let [_, _, h, w] = g.dims();
    let alpha = g.mean_dims(&[2, 3]); // [1, k, 1, 1]
    let cam: Tensor<4> = relu((a.tensor * alpha).sum_dim(1)); // [1, 1, h, w]
    let cam = read_f32(cam).await?;
    let score = first(score.without_autodiff()).await?;
    if !guided {
        return Ok(Attribution { values: cam, shape: vec![h, w], score });
    }
    let (guided, _) = batch_gradient(net, input.clone(), target, ReluRule::Guided)?;
    let [_, c, ih, iw] = guided.dims();
    let guided = read_f32(guided).await?;
    let up = upsample_bilinear(&cam, h, w, ih, iw);
    let values = guided.iter().enumerate().map(|(i, g)| g * up[i % (ih * iw)]).collect();
    Ok(Attribution { values, shape: vec![c, ih, iw], score })
}

/// Bilinear resize of an `[h, w]` map with pixel centres aligned (half-pixel convention),
/// edges clamped.
pub fn upsample_bilinear(map: &[f32], h: usize, w: usize, out_h: usize, out_w: usize) -> Vec<f32> {
    let coord = |o: usize, out: usize, size: usize| {
        let s = ((o as f32 + 0.5) * size as f32 / out as f32 - 0.5).clamp(0.0, (size - 1) as f32);
        let i = (s.floor() as usize).min(size - 1);
        (i, (i + 1).min(size - 1), s - i as f32)
    };
    let mut out = Vec::with_capacity(out_h * out_w);
    for oy in 0..out_h {
        let (y0, y1, fy) = coord(oy, out_h, h);
        for ox in 0..out_w {
            let (x0, x1, fx) = coord(ox, out_w, w);
            let top = map[y0 * w + x0] * (1.0 - fx) + map[y0 * w + x1] * fx;
            let bottom = map[y1 * w + x0] * (1.0 - fx) + map[y1 * w + x1] * fx;
            out.push(top * (1.0 - fy) + bottom * fy);
        }
    }
    out
}
