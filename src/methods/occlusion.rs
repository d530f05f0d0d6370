//! Occlusion (Zeiler & Fergus 2014) with Captum's conventions: a window of `window` pixels
//! slides with `strides`; inside it the image is replaced by the fill; each pixel's attribution
//! is the drop of the target (a class's softmax probability, or a channel's mean activation),
//! averaged over the windows that covered it. Positions are independent, so they run in
//! batches. Shaped `[H, W]`.

use burn::tensor::{Tensor, TensorData};

use super::{Attribution, Fill, MethodError, Target, channel_mean, target_score};
use crate::classify::{probabilities, read_f32};
use crate::model::{Network, Pass, Value};

#[derive(Debug, Clone, PartialEq)]
pub struct OcclusionParams {
    /// Window height and width in input pixels.
    pub window: [usize; 2],
    /// Step between window positions.
    pub strides: [usize; 2],
    /// What the window shows instead of the image.
    pub fill: Fill,
    /// Occluded copies per forward pass.
    pub batch: usize,
    /// Recompute only what each window can change ([`crate::model::incremental`]); the answer
    /// is the same either way.
    pub incremental: bool,
}

impl Default for OcclusionParams {
    fn default() -> Self {
        Self { window: [32, 32], strides: [16, 16], fill: Fill::Value(0.5), batch: 8, incremental: true }
    }
}

/// ImageNet's mean colour, RGB in [0, 1].
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];

/// Window start offsets along one axis, as in Captum: `k · stride` for
/// `k = 0..=ceil((size − window) / stride)`; the last window may run past the far edge and is
/// cut off there. (With a stride longer than the window Captum's last start can fall past the
/// edge; such an empty window changes nothing and is skipped.)
pub fn starts(size: usize, window: usize, stride: usize) -> Vec<usize> {
    (0..=(size - window).div_ceil(stride)).map(|k| k * stride).filter(|&s| s < size).collect()
}

/// The image the window reveals, `[C, H, W]` like `pixels`.
pub fn fill_image(pixels: &[f32], [c, h, w]: [usize; 3], fill: Fill) -> Vec<f32> {
    let plane = h * w;
    match fill {
        Fill::Value(v) => vec![v; pixels.len()],
        Fill::Mean => {
            (0..c).flat_map(|k| std::iter::repeat_n(IMAGENET_MEAN.get(k).copied().unwrap_or(0.5), plane)).collect()
        }
        Fill::Blur => {
            // A box blur of radius ~h/16, three times (close to a Gaussian), per channel.
            let radius = (h.max(w) / 16).max(1);
            let mut out = pixels.to_vec();
            for k in 0..c {
                let ch = &mut out[k * plane..(k + 1) * plane];
                for _ in 0..3 {
                    box_blur(ch, h, w, radius);
                }
            }
            out
        }
    }
}

/// One horizontal and one vertical running-mean pass, edges clamped.
fn box_blur(plane: &mut [f32], h: usize, w: usize, r: usize) {
    let blur_line = |get: &dyn Fn(usize) -> f32, n: usize| -> Vec<f32> {
        (0..n)
            .map(|i| {
                let (a, b) = (i.saturating_sub(r), (i + r).min(n - 1));
                (a..=b).map(get).sum::<f32>() / (b - a + 1) as f32
            })
            .collect()
    };
    for y in 0..h {
        let row = blur_line(&|x| plane[y * w + x], w);
        plane[y * w..(y + 1) * w].copy_from_slice(&row);
    }
    for x in 0..w {
        let col = blur_line(&|y| plane[y * w + x], h);
        for (y, v) in col.into_iter().enumerate() {
            plane[y * w + x] = v;
        }
    }
}

/// Paints `fill` over the window at `(y0, x0)` of size `wh × ww` in every channel of `img`.
pub fn paint(img: &mut [f32], fill: &[f32], [c, h, w]: [usize; 3], (y0, x0): (usize, usize), [wh, ww]: [usize; 2]) {
    for ch in 0..c {
        for y in y0..(y0 + wh).min(h) {
            let row = (ch * h + y) * w;
            let span = row + x0..row + (x0 + ww).min(w);
            img[span.clone()].copy_from_slice(&fill[span]);
        }
    }
}

/// The occlusion target for each image of a batch: a class's probability or a channel's mean.
pub async fn measure(net: &Network, x: Tensor<4>, target: &Target) -> Result<Vec<f32>, MethodError> {
    match target {
        Target::Class(_) => class_probability(net.scores(x)?, target).await,
        Target::Channel { .. } => Ok(read_f32(target_score(net, x, target, &Pass::default())?).await?),
    }
}

async fn class_probability(scores: Tensor<2>, target: &Target) -> Result<Vec<f32>, MethodError> {
    let Target::Class(class) = *target else { return Ok(Vec::new()) };
    let [n, classes] = scores.dims();
    if class >= classes {
        return Err(MethodError::BadArgument(format!("class {class} does not exist (the model has {classes})")));
    }
    let s = read_f32(scores).await?;
    Ok((0..n).map(|r| probabilities(&s[r * classes..(r + 1) * classes])[class]).collect())
}

/// What the windows at `at` do to the target, recomputing only what each window reaches.
async fn measure_incremental(
    net: &Network,
    input: &Tensor<4>,
    base: &std::collections::HashMap<String, Value>,
    fill: &Tensor<4>,
    at: &[[usize; 2]],
    window: [usize; 2],
    target: &Target,
) -> Result<Vec<f32>, MethodError> {
    match target {
        Target::Class(_) => {
            let v = net.occluded(input, base, fill, at, window, net.score_name())?;
            let n = v.shape.first().copied().unwrap_or(1);
            let classes = v.shape.iter().skip(1).product::<usize>();
            class_probability(v.tensor.reshape([n, classes]), target).await
        }
        Target::Channel { layer, channel } => {
            let v = net.occluded(input, base, fill, at, window, layer)?;
            Ok(read_f32(channel_mean(&v, layer, *channel)?).await?)
        }
    }
}

pub async fn occlusion(
    net: &Network,
    input: &Tensor<4>,
    target: &Target,
    p: &OcclusionParams,
    progress: &mut dyn super::Progress,
) -> Result<Attribution, MethodError> {
    let [_, c, h, w] = input.dims();
    let [wh, ww] = p.window;
    if wh == 0 || ww == 0 || wh > h || ww > w || p.strides.contains(&0) || p.batch == 0 {
        return Err(MethodError::BadArgument(format!(
            "occlusion window {wh}×{ww} with strides {:?} does not fit a {h}×{w} image",
            p.strides
        )));
    }
    let pixels = read_f32(input.clone()).await?;
    let fill = fill_image(&pixels, [c, h, w], p.fill);
    let base = measure(net, input.clone(), target).await?[0];
    // Incremental runs start from every activation of the unmodified image.
    // Incremental inference follows NCHW windows; a channels-last model runs whole images.
    let incremental = p.incremental && !net.graph().channels_last();
    let (acts, fill_tensor) = if incremental {
        let names: Vec<&str> = net.graph().nodes.iter().map(|n| n.output.as_str()).collect();
        let acts = net.forward(input.clone(), &names)?.values;
        (acts, Tensor::<4>::from_data(TensorData::new(fill.clone(), [1, c, h, w]), &input.device()))
    } else {
        (Default::default(), input.clone())
    };

    // Coarse first: every other window along both axes makes a quick preview (an occlusion map
    // at twice the stride); the windows in between refine it.
    let (ys, xs) = (starts(h, wh, p.strides[0]), starts(w, ww, p.strides[1]));
    let grid = |coarse: bool| -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        for (i, &y) in ys.iter().enumerate() {
            for (j, &x) in xs.iter().enumerate() {
                if (i % 2 == 0 && j % 2 == 0) == coarse {
                    out.push((y, x));
                }
            }
        }
        out
    };
    let coarse = grid(true);
    let preview_after = if ys.len() * xs.len() >= 16 { coarse.len() } else { usize::MAX };
    let positions: Vec<(usize, usize)> = coarse.into_iter().chain(grid(false)).collect();
    let mut sum = vec![0f32; h * w];
    let mut count = vec![0u32; h * w];
    let total = positions.len();
    let mean = |sum: &[f32], count: &[u32]| -> Vec<f32> {
        sum.iter().zip(count).map(|(s, &n)| if n == 0 { 0.0 } else { s / n as f32 }).collect()
    };
    let mut done = 0;
    let batches = positions[..preview_after.min(total)]
        .chunks(p.batch)
        .chain(positions[preview_after.min(total)..].chunks(p.batch));
    for chunk in batches {
        if done == preview_after {
            progress.preview(&Attribution { values: mean(&sum, &count), shape: vec![h, w], score: base });
        }
        if !progress.tick(done, total).await {
            return Err(MethodError::Cancelled);
        }
        done += chunk.len();
        let values = if incremental {
            let at: Vec<[usize; 2]> = chunk.iter().map(|&(y, x)| [y, x]).collect();
            measure_incremental(net, input, &acts, &fill_tensor, &at, p.window, target).await?
        } else {
            let mut batch = Vec::with_capacity(chunk.len() * pixels.len());
            for &at in chunk {
                let start = batch.len();
                batch.extend_from_slice(&pixels);
                paint(&mut batch[start..], &fill, [c, h, w], at, p.window);
            }
            let x = Tensor::<4>::from_data(TensorData::new(batch, [chunk.len(), c, h, w]), &input.device());
            measure(net, x, target).await?
        };
        for (&(y0, x0), v) in chunk.iter().zip(values) {
            let drop = base - v;
            for y in y0..(y0 + wh).min(h) {
                for x in x0..(x0 + ww).min(w) {
                    sum[y * w + x] += drop;
                    count[y * w + x] += 1;
                }
            }
        }
    }
    progress.tick(total, total).await;
    Ok(Attribution { values: mean(&sum, &count), shape: vec![h, w], score: base })
}
