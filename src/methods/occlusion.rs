//! Occlusion (Zeiler & Fergus 2014) with Captum's conventions: a window of `window` pixels
//! slides with `strides`; inside it every channel is set to `baseline`; each pixel's
//! attribution is the drop of the target's probability, averaged over the windows that
//! covered it. Positions are independent, so they run in batches. Shaped `[H, W]`.

use burn::tensor::{Tensor, TensorData};

use super::{Attribution, MethodError, Target};
use crate::classify::read_f32;
use crate::model::Network;

#[derive(Debug, Clone, PartialEq)]
pub struct OcclusionParams {
    /// Window height and width in input pixels.
    pub window: [usize; 2],
    /// Step between window positions.
    pub strides: [usize; 2],
    /// Value written into the window (0.5 is mid-grey for RGB inputs in [0, 1]).
    pub baseline: f32,
    /// Occluded copies per forward pass.
    pub batch: usize,
}

impl Default for OcclusionParams {
    fn default() -> Self {
        Self { window: [32, 32], strides: [16, 16], baseline: 0.5, batch: 8 }
    }
}

/// Window start offsets along one axis: every `stride`, plus a last one flush with the edge.
fn starts(size: usize, window: usize, stride: usize) -> Vec<usize> {
    let mut s: Vec<usize> = (0..=size - window).step_by(stride).collect();
    if s.last() != Some(&(size - window)) {
        s.push(size - window);
    }
    s
}

fn softmax_row(row: &[f32]) -> Vec<f32> {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let e: Vec<f32> = row.iter().map(|v| (v - max).exp()).collect();
    let s: f32 = e.iter().sum();
    e.into_iter().map(|v| v / s).collect()
}

pub async fn occlusion(
    net: &Network,
    input: &Tensor<4>,
    target: &Target,
    p: &OcclusionParams,
    progress: &mut dyn FnMut(usize, usize) -> bool,
) -> Result<Attribution, MethodError> {
    let [_, c, h, w] = input.dims();
    let [wh, ww] = p.window;
    if wh == 0 || ww == 0 || wh > h || ww > w || p.strides.contains(&0) || p.batch == 0 {
        return Err(MethodError::BadArgument(format!(
            "occlusion window {wh}×{ww} with strides {:?} does not fit a {h}×{w} image",
            p.strides
        )));
    }
    let Target::Class(class) = *target;
    let pixels = read_f32(input.clone()).await?;
    let probability =
        |scores: &[f32], classes: usize, row: usize| softmax_row(&scores[row * classes..(row + 1) * classes])[class];

    let base_scores = read_f32(net.scores(input.clone())?).await?;
    let classes = base_scores.len();
    if class >= classes {
        return Err(MethodError::BadArgument(format!("class {class} does not exist (the model has {classes})")));
    }
    let base = probability(&base_scores, classes, 0);

    let positions: Vec<(usize, usize)> = starts(h, wh, p.strides[0])
        .into_iter()
        .flat_map(|y| starts(w, ww, p.strides[1]).into_iter().map(move |x| (y, x)))
        .collect();
    let mut sum = vec![0f32; h * w];
    let mut count = vec![0u32; h * w];
    let total = positions.len();
    for (done, chunk) in positions.chunks(p.batch).enumerate() {
        if !progress(done * p.batch, total) {
            return Err(MethodError::Cancelled);
        }
        // Copy the image once per position straight into the batch, then paint the window.
        let mut batch = Vec::with_capacity(chunk.len() * pixels.len());
        for &(y0, x0) in chunk {
            let start = batch.len();
            batch.extend_from_slice(&pixels);
            let img = &mut batch[start..];
            for ch in 0..c {
                for y in y0..y0 + wh {
                    img[(ch * h + y) * w + x0..(ch * h + y) * w + x0 + ww].fill(p.baseline);
                }
            }
        }
        let x = Tensor::<4>::from_data(TensorData::new(batch, [chunk.len(), c, h, w]), &input.device());
        let scores = read_f32(net.scores(x)?).await?;
        for (row, &(y0, x0)) in chunk.iter().enumerate() {
            let drop = base - probability(&scores, classes, row);
            for y in y0..y0 + wh {
                for x in x0..x0 + ww {
                    sum[y * w + x] += drop;
                    count[y * w + x] += 1;
                }
            }
        }
    }
    progress(total, total);
    let values = sum.iter().zip(&count).map(|(s, &n)| if n == 0 { 0.0 } else { s / n as f32 }).collect();
    Ok(Attribution { values, shape: vec![h, w], score: base })
}
