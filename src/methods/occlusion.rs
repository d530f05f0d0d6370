//! Occlusion (Zeiler & Fergus 2014) with Captum's conventions: a window of `window` pixels
//! slides with `strides`; inside it the image is replaced by the fill; each pixel's attribution
//! is the drop of the target (a class's softmax probability, or a channel's mean activation),
//! averaged over the windows that covered it. Positions are independent, so they run in
//! batches. Shaped `[H, W]`.

use std::rc::Rc;

use burn::tensor::{Tensor, TensorData};

use super::share::{self, Part};
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
    /// Occluded copies per forward pass (incremental sweeps on the CPU: per part of the work,
    /// each copy computed alone).
    pub batch: usize,
    /// Recompute only what each window can change ([`crate::model::incremental`]); the answer
    /// is the same either way.
    pub incremental: bool,
    /// Incremental sweeps only: `Some(m)` lets each layer recompute at most a share of its
    /// sides around the window's reach, the window's own share of the input plus `m` (a
    /// projective-field threshold as in Krypton, Nakandala et al. 2019, grown with the window),
    /// and keeps the unmodified image's values beyond: faster, and approximate. `None`: exact.
    pub approximate: Option<f32>,
}

impl Default for OcclusionParams {
    fn default() -> Self {
        Self {
            window: [32, 32],
            strides: [16, 16],
            fill: Fill::Value(0.5),
            batch: 8,
            incremental: true,
            approximate: None,
        }
    }
}

/// Inputs smaller than this (on each side) are swept with whole images even on the CPU: the
/// incremental path's per-copy bookkeeping outweighs the arithmetic it saves on a small net
/// (Fashion-MNIST's 28 × 28 CNN in the page: 168 ms incremental against 105 ms whole, while
/// 224-pixel ImageNet models gain 1.3–1.8×; BENCHMARKS.md).
pub const MIN_INCREMENTAL_SIDE: usize = 64;

/// The sweep that is fastest when the user leaves the choice to the app: incremental on the
/// CPU for inputs of at least [`MIN_INCREMENTAL_SIDE`] pixels a side; whole batched images on
/// a GPU and for small inputs.
pub fn incremental_by_default(cpu: bool, input_side: usize) -> bool {
    cpu && input_side >= MIN_INCREMENTAL_SIDE
}

pub use crate::protocol::APPROXIMATE_MARGIN;

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

/// An image kept for incremental occlusion: every activation of the unmodified image, and the
/// fill. A sweep holds one for its windows; the worker keeps one for the shown photo, for the
/// live occluder's probes and the next sweep ([`Measurer::reusing`]).
pub struct Unmodified {
    input: Tensor<4>,
    acts: std::collections::HashMap<String, Value>,
    fill: Tensor<4>,
}

impl Unmodified {
    /// One forward pass of `input` keeping every activation; `fill` is the fill image's pixels,
    /// `[C, H, W]` like the input's. `None` for a channels-last model (incremental inference
    /// follows NCHW windows, so it runs whole images).
    pub fn new(net: &Network, input: &Tensor<4>, fill: &[f32]) -> Result<Option<Self>, MethodError> {
        if net.graph().channels_last() {
            return Ok(None);
        }
        let names: Vec<&str> = net.graph().nodes.iter().map(|n| n.output.as_str()).collect();
        let acts = net.forward(input.clone(), &names)?.values;
        let fill = Tensor::<4>::from_data(TensorData::new(fill.to_vec(), input.dims()), &input.device());
        Ok(Some(Self { input: input.clone(), acts, fill }))
    }

    /// How many values the kept activations hold (4 bytes each).
    pub fn floats(&self) -> usize {
        self.acts.values().map(|v| v.shape.iter().product::<usize>()).sum()
    }

    /// Whether these are the activations of the image `pixels` with `fill` (`[C, H, W]` each).
    async fn is_of(&self, pixels: &[f32], fill: &[f32]) -> Result<bool, MethodError> {
        Ok(read_f32(self.input.clone()).await? == pixels && read_f32(self.fill.clone()).await? == fill)
    }

    /// The value `name` for one copy of the image per corner in `at`, each with its `window`
    /// filled ([`Network::occluded`]; `cap` as there).
    pub fn occluded(
        &self,
        net: &Network,
        at: &[[usize; 2]],
        window: [usize; 2],
        name: &str,
        cap: Option<f32>,
    ) -> Result<Value, MethodError> {
        Ok(net.occluded(&self.input, &self.acts, &self.fill, at, window, name, cap)?)
    }

    /// [`Unmodified::occluded`] for several batches of corners at once, one value each, run
    /// through the network side by side ([`Network::occluded_groups`]): the same values as one
    /// call per batch.
    pub fn occluded_groups(
        &self,
        net: &Network,
        groups: &[&[[usize; 2]]],
        window: [usize; 2],
        name: &str,
        cap: Option<f32>,
    ) -> Result<Vec<Value>, MethodError> {
        Ok(net.occluded_groups(&self.input, &self.acts, &self.fill, groups, window, name, cap)?)
    }

    /// The class scores (pre-softmax) with one window filled, `[1, classes]`.
    pub fn scores(&self, net: &Network, at: [usize; 2], window: [usize; 2]) -> Result<Tensor<2>, MethodError> {
        let v = self.occluded(net, &[at], window, net.score_name(), None)?;
        let classes = v.shape.iter().skip(1).product::<usize>();
        Ok(v.tensor.reshape([1, classes]))
    }
}

/// Measures batches of window positions for one sweep: the image, its fill, the target and,
/// for incremental runs, every activation of the unmodified image. Another worker holding the
/// same model builds the same `Measurer` from the same request and measures any batch to the
/// same bits.
pub struct Measurer {
    input: Tensor<4>,
    pixels: Vec<f32>,
    fill: Vec<f32>,
    chw: [usize; 3],
    window: [usize; 2],
    target: Target,
    /// The share of each layer's sides an approximate sweep recomputes at most.
    approximate: Option<f32>,
    /// Activations of the unmodified image and the fill, for incremental runs.
    incremental: Option<Rc<Unmodified>>,
    /// The target's value on the unmodified image.
    pub base: f32,
}

impl Measurer {
    /// Checks `p` against the image and measures the unmodified image.
    pub async fn new(
        net: &Network,
        input: &Tensor<4>,
        target: &Target,
        p: &OcclusionParams,
    ) -> Result<Self, MethodError> {
        Self::reusing(net, input, target, p, None).await
    }

    /// [`Measurer::new`] that takes the unmodified image's activations from `kept` (an earlier
    /// run's on this same network) where they are of this image and fill: an incremental sweep
    /// of the shown photo then starts without a forward pass of its own.
    pub async fn reusing(
        net: &Network,
        input: &Tensor<4>,
        target: &Target,
        p: &OcclusionParams,
        kept: Option<Rc<Unmodified>>,
    ) -> Result<Self, MethodError> {
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
        // Incremental inference follows NCHW windows; a channels-last model runs whole images.
        let incremental = match kept {
            _ if !p.incremental => None,
            Some(u) if u.is_of(&pixels, &fill).await? => Some(u),
            _ => Unmodified::new(net, input, &fill)?.map(Rc::new),
        };
        // The unmodified image's target, from the activations kept (no second pass) if any.
        let name = match target {
            Target::Class(_) => net.score_name(),
            Target::Channel { layer, .. } => layer.as_str(),
        };
        let base = match (incremental.as_ref().and_then(|u| u.acts.get(name)), target) {
            (Some(v), Target::Class(_)) => {
                let classes = v.shape.iter().skip(1).product::<usize>();
                class_probability(v.tensor.clone().reshape([1, classes]), target).await?[0]
            }
            (Some(v), Target::Channel { channel, .. }) => read_f32(channel_mean(v, name, *channel)?).await?[0],
            (None, _) => measure(net, input.clone(), target).await?[0],
        };
        Ok(Self {
            input: input.clone(),
            pixels,
            fill,
            chw: [c, h, w],
            window: p.window,
            target: target.clone(),
            approximate: p.approximate.map(|m| {
                let share = (p.window[0] as f32 / h as f32).max(p.window[1] as f32 / w as f32);
                (share + m).min(1.0)
            }),
            incremental,
            base,
        })
    }

    /// The unmodified image's activations, for an incremental sweep.
    pub fn unmodified(&self) -> Option<&Rc<Unmodified>> {
        self.incremental.as_ref()
    }

    /// Whether [`Measurer::measure`] runs each window alone, so that how the windows are cut
    /// into parts does not change the work.
    pub fn windows_alone(&self, net: &Network) -> bool {
        self.incremental.is_some() && self.approximate.is_none() && *net.device() == crate::Device::flex()
    }

    /// The target with the window at each of `at` (top-left corners) filled.
    pub async fn measure(&self, net: &Network, at: &[[usize; 2]]) -> Result<Vec<f32>, MethodError> {
        let Some(unmodified) = &self.incremental else {
            let [c, h, w] = self.chw;
            let mut batch = Vec::with_capacity(at.len() * self.pixels.len());
            for &[y, x] in at {
                let start = batch.len();
                batch.extend_from_slice(&self.pixels);
                paint(&mut batch[start..], &self.fill, self.chw, (y, x), self.window);
            }
            let x = Tensor::<4>::from_data(TensorData::new(batch, [at.len(), c, h, w]), &self.input.device());
            return measure(net, x, &self.target).await;
        };
        // Exact sweeps on the CPU run each window alone: a batch's patch takes its largest
        // window's reach at every layer (windows near an edge reach less), so alone each
        // recomputes only its own (11% faster under WASI, 22% in the page, at 32/16; BENCHMARKS.md).
        // Approximate sweeps cut every window to about the same region, so a batch wastes
        // nothing and its fewer, larger operations win; on a GPU batches always win.
        let alone = self.windows_alone(net);
        // Windows alone still go through the network side by side, each layer for all of them
        // in turn, so that its weights come from memory once per part, not once per window
        // (under WASI at 32/16 12% faster alone, 8% with two processes at once; BENCHMARKS.md).
        let groups: Vec<&[[usize; 2]]> = if alone { at.chunks(1).collect() } else { vec![at] };
        match &self.target {
            Target::Class(_) => {
                let values =
                    unmodified.occluded_groups(net, &groups, self.window, net.score_name(), self.approximate)?;
                let mut scores = Vec::with_capacity(groups.len());
                for (v, group) in values.into_iter().zip(&groups) {
                    let classes = v.shape.iter().skip(1).product::<usize>();
                    scores.push(v.tensor.reshape([group.len(), classes]));
                }
                class_probability(Tensor::cat(scores, 0), &self.target).await
            }
            Target::Channel { layer, channel } => {
                let mut means = Vec::with_capacity(groups.len());
                for v in unmodified.occluded_groups(net, &groups, self.window, layer, self.approximate)? {
                    means.push(channel_mean(&v, layer, *channel)?);
                }
                Ok(read_f32(Tensor::cat(means, 0)).await?)
            }
        }
    }
}

/// The sweep's window corners, coarse first: every other window along both axes makes a
/// quick preview (an occlusion map at twice the stride); the windows in between refine it.
/// Answers the corners and how many belong to the coarse pass (0: too few for a preview).
pub fn positions(h: usize, w: usize, p: &OcclusionParams) -> (Vec<[usize; 2]>, usize) {
    let (ys, xs) = (starts(h, p.window[0], p.strides[0]), starts(w, p.window[1], p.strides[1]));
    let grid = |coarse: bool| -> Vec<[usize; 2]> {
        let mut out = Vec::new();
        for (i, &y) in ys.iter().enumerate() {
            for (j, &x) in xs.iter().enumerate() {
                if (i % 2 == 0 && j % 2 == 0) == coarse {
                    out.push([y, x]);
                }
            }
        }
        out
    };
    let coarse = grid(true);
    let preview = if ys.len() * xs.len() >= 16 { coarse.len() } else { 0 };
    (coarse.into_iter().chain(grid(false)).collect(), preview)
}

/// One window of an exact sweep on a grey `side`-pixel image, its answer dropped: run where a
/// sweep is likely to follow (a helper once it has loaded the model), so that the browser has
/// compiled the sweep's code to machine code before the first real part (V8 compiles a wasm
/// function fully only once it has run for a while).
pub async fn warm_up(net: &Network, side: usize) {
    let grey = image::RgbImage::from_pixel(side as u32, side as u32, image::Rgb([128, 128, 128]));
    let x = crate::image::to_tensor(&grey, net.device());
    let window = (side / 4).max(1);
    let p = OcclusionParams { window: [window; 2], strides: [window; 2], ..OcclusionParams::default() };
    if let Ok(m) = Measurer::new(net, &x, &Target::Class(0), &p).await {
        let _ = m.measure(net, &[[side / 2 - window / 2; 2]]).await;
    }
}

/// The parts of a sweep of `n` windows: runs of `batch`, none straddling the coarse pass's end
/// (`coarse`), so that its preview comes as soon as it is done. With `shrink` (windows measured
/// alone, where a part's size does not change the work) each part holds at most an eighth of
/// the windows left, down to one: at the end of a run shared with helpers, no worker then
/// waits long for another's last part.
fn part_bounds(n: usize, coarse: usize, batch: usize, shrink: bool) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    for r in [0..coarse.min(n), coarse.min(n)..n] {
        let mut s = r.start;
        while s < r.end {
            let size = if shrink { batch.min((n - s).div_ceil(8)) } else { batch }.max(1);
            let e = (s + size).min(r.end);
            out.push(s..e);
            s = e;
        }
    }
    out
}

/// The map from the drops measured so far (`None`: not yet): each pixel averages the drops of
/// the windows that covered it, summed in position order so any split of the work gives the
/// same bits.
fn mean_map(h: usize, w: usize, window: [usize; 2], at: &[[usize; 2]], drops: &[Option<f32>]) -> Vec<f32> {
    let mut sum = vec![0f32; h * w];
    let mut count = vec![0u32; h * w];
    for (&[y0, x0], drop) in at.iter().zip(drops) {
        let Some(drop) = *drop else { continue };
        for y in y0..(y0 + window[0]).min(h) {
            for x in x0..(x0 + window[1]).min(w) {
                sum[y * w + x] += drop;
                count[y * w + x] += 1;
            }
        }
    }
    sum.iter().zip(&count).map(|(s, &n)| if n == 0 { 0.0 } else { s / n as f32 }).collect()
}

pub async fn occlusion(
    net: &Network,
    input: &Tensor<4>,
    target: &Target,
    p: &OcclusionParams,
    progress: &mut dyn super::Progress,
) -> Result<Attribution, MethodError> {
    let [_, _, h, w] = input.dims();
    let kept = if p.incremental { progress.kept_unmodified() } else { None };
    let measurer = Measurer::reusing(net, input, target, p, kept).await?;
    if let Some(u) = measurer.unmodified() {
        progress.keep_unmodified(p.fill, u.clone());
    }
    let base = measurer.base;
    let (at, coarse) = positions(h, w, p);
    let bounds = part_bounds(at.len(), coarse, p.batch, measurer.windows_alone(net));
    let coarse_batches = bounds.iter().filter(|r| r.end <= coarse).count();
    let units: Vec<usize> = bounds.iter().map(|r| r.len()).collect();
    let drops = |answers: &[Option<Vec<f32>>]| -> Vec<Option<f32>> {
        let mut drops = vec![None; at.len()];
        for (r, values) in bounds.iter().zip(answers) {
            for (i, v) in r.clone().zip(values.iter().flatten()) {
                drops[i] = Some(base - v);
            }
        }
        drops
    };
    let mut previewed = coarse == 0;
    let answers = share::run(
        progress,
        &units,
        |k| bounds[k].len(),
        |k| Part::Windows(at[bounds[k].clone()].to_vec()),
        async |k| measurer.measure(net, &at[bounds[k].clone()]).await,
        |answers, progress| {
            if !previewed && answers[..coarse_batches].iter().all(Option::is_some) {
                previewed = true;
                let values = mean_map(h, w, p.window, &at, &drops(answers));
                progress.preview(&Attribution { values, shape: vec![h, w], score: base });
            }
        },
    )
    .await?;
    let answers: Vec<Option<Vec<f32>>> = answers.into_iter().map(Some).collect();
    Ok(Attribution { values: mean_map(h, w, p.window, &at, &drops(&answers)), shape: vec![h, w], score: base })
}

#[cfg(test)]
mod tests {
    use super::part_bounds;

    #[test]
    fn parts_cover_the_windows_in_order_and_shrink_only_when_alone() {
        for (n, coarse, batch) in [(196, 49, 8), (49, 16, 8), (7, 0, 8), (0, 0, 8), (30, 9, 1), (100, 100, 16)] {
            for shrink in [false, true] {
                let parts = part_bounds(n, coarse, batch, shrink);
                let mut next = 0;
                for r in &parts {
                    assert_eq!(r.start, next, "{n} {coarse} {batch} {shrink}: {parts:?}");
                    assert!(!r.is_empty() && r.len() <= batch);
                    assert!(r.end <= coarse || r.start >= coarse, "{r:?} straddles {coarse}");
                    next = r.end;
                }
                assert_eq!(next, n);
                // Without shrinking, only a range's last part may be short.
                if !shrink {
                    assert!(parts.iter().all(|r| r.len() == batch || r.end == coarse || r.end == n));
                }
                if shrink && n > 0 {
                    assert_eq!(parts.last().map(|r| r.len()), Some(1));
                }
            }
        }
        // SqueezeNet at 32/16: 196 windows, the coarse pass 49. Shrinking keeps whole batches
        // while more than 56 windows are left, then an eighth of those left.
        let sizes = |shrink| part_bounds(196, 49, 8, shrink).iter().map(|r| r.len()).collect::<Vec<_>>();
        assert_eq!(sizes(false).len(), 26);
        let mut tail = vec![7, 6, 5, 5, 4, 3, 3, 3, 2, 2, 2, 2];
        tail.extend([1; 7]);
        let shrunk = sizes(true);
        assert_eq!(shrunk[..19], [8, 8, 8, 8, 8, 8, 1, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8]);
        assert_eq!(shrunk[19..], tail[..]);
    }
}
