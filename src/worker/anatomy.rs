//! The worker's network-anatomy requests: filters, activation grids, the dataset, max-activating
//! patches, neighbours and t-SNE. Dataset passes are cached per layer (and the codes once) until
//! another dataset or model is loaded.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use image::RgbImage;

use super::{Engine, now_ms, post, scope};
use crate::anatomy::activations::{Scaling, activation_grid, zoom_for};
use crate::anatomy::filters::{GridLook, conv_layers, filter_bank, filter_grid};
use crate::anatomy::patches::{crop, sheet};
use crate::anatomy::tsne::{Tsne, TsneParams};
use crate::anatomy::{AnatomyError, Dataset, Scan, ScanWants, TopK, code_of, nearest, receptive_fields, scan};
use crate::classify::read_f32;
use crate::methods::Progress;
use crate::protocol::{AnatomyJob, DatasetImage, PatchRow, Response};
use crate::render::Palette;

/// What the worker keeps between anatomy requests.
#[derive(Default)]
pub struct Cache {
    dataset: Option<Rc<Dataset>>,
    /// Top-k hits per (layer, k).
    topk: HashMap<(String, usize), (TopK, [usize; 2])>,
    /// The dataset's codes (layer, dims, values).
    codes: Option<(String, usize, Rc<Vec<f32>>)>,
    /// The last activations drawn (layer, shape, values), for enlarging one tile.
    activations: Option<(String, Vec<usize>, Rc<Vec<f32>>)>,
}

/// Reports dataset passes to the page and yields so a `Cancel` can arrive.
struct ScanProgress<'a> {
    engine: &'a Engine,
    id: u64,
}

impl Progress for ScanProgress<'_> {
    fn tick(&mut self, done: usize, total: usize) -> Pin<Box<dyn Future<Output = bool> + '_>> {
        post(&Response::Progress { id: self.id, done, total }, None);
        Box::pin(async move {
            super::yield_now::yield_now().await;
            !self.engine.cancelled.borrow().contains(&self.id)
        })
    }
}

/// Images per forward pass: many small ones, fewer large ones (memory, and progress that moves).
fn batch_size(engine: &Engine) -> usize {
    if engine.info.input_size <= 64 { 200 } else { 16 }
}

fn fail(id: u64, message: String) {
    post(&Response::Failed { id: Some(id), message }, None);
}

pub async fn run(engine: &Engine, id: u64, job: AnatomyJob, bytes: Option<Vec<u8>>) {
    let result = match job {
        AnatomyJob::Filters { layer } => filters(engine, id, &layer),
        AnatomyJob::Activations { layer, per_tile } => activations(engine, id, &layer, per_tile).await,
        AnatomyJob::Tile { layer, channel } => tile(engine, id, &layer, channel),
        AnatomyJob::Dataset { bundled, name } => dataset(engine, id, bundled, &name, bytes).await,
        AnatomyJob::Patches { layer, channel, top, k } => patches(engine, id, &layer, channel, top, k).await,
        AnatomyJob::Neighbours { k } => neighbours(engine, id, k).await,
        AnatomyJob::Tsne { perplexity, iterations, seed } => tsne(engine, id, perplexity, iterations, seed).await,
    };
    engine.cancelled.borrow_mut().remove(&id);
    if let Err(e) = result {
        fail(id, if e == AnatomyError::Cancelled { "cancelled".into() } else { e.to_string() });
    }
}

fn last_crop(engine: &Engine) -> Result<RgbImage, AnatomyError> {
    engine.last_crop.borrow().clone().ok_or_else(|| AnatomyError::EmptyDataset("classify an image first".into()))
}

fn the_dataset(engine: &Engine) -> Result<Rc<Dataset>, AnatomyError> {
    engine.anatomy.borrow().dataset.clone().ok_or_else(|| AnatomyError::EmptyDataset("load a dataset first".into()))
}

fn filters(engine: &Engine, id: u64, layer: &str) -> Result<(), AnatomyError> {
    let graph = engine.net.graph();
    let layers = conv_layers(graph);
    let layer = if layer.is_empty() { layers.first().cloned().unwrap_or_default() } else { layer.to_string() };
    let bank = filter_bank(graph, &layer)?;
    let on_pixels = bank.on_pixels(graph);
    // Enlarge small kernels more; keep the picture within about 900 px.
    let zoom = if on_pixels { (96 / bank.dims[3].max(1)).clamp(4, 32) as u32 } else { 8 };
    let look = GridLook { zoom, max_filters: if on_pixels { 128 } else { 32 }, max_inputs: 48 };
    let (img, columns, rows) = filter_grid(&bank, on_pixels, look);
    let png = crate::image::encode_png(&img);
    post(&Response::Filters { id, layer, dims: bank.dims, on_pixels, columns, rows, layers }, Some(&png));
    Ok(())
}

async fn activations(engine: &Engine, id: u64, layer: &str, per_tile: bool) -> Result<(), AnatomyError> {
    let crop = last_crop(engine)?;
    let x = crate::image::to_tensor(&crop, engine.net.device());
    let acts = engine.net.forward(x, &[layer])?;
    let v = acts.get(layer)?;
    let shape = v.shape.clone();
    let channels = shape.get(1).copied().unwrap_or(1);
    let map = [shape.get(2).copied().unwrap_or(1), shape.get(3).copied().unwrap_or(1)];
    let values = read_f32(v.tensor.clone()).await?;
    let zoom = zoom_for(channels, map, 960);
    let scaling = if per_tile { Scaling::PerTile } else { Scaling::Shared };
    let (img, layout) = activation_grid(&values, channels, map, scaling, Palette::Viridis, zoom);
    let mut bytes = crate::image::encode_png(&img);
    let png_len = bytes.len();
    bytes.extend(values.iter().flat_map(|v| v.to_le_bytes()));
    engine.anatomy.borrow_mut().activations = Some((layer.to_string(), shape, Rc::new(values)));
    post(&Response::Activations { id, layer: layer.to_string(), layout, png_len }, Some(&bytes));
    Ok(())
}

/// One channel of the last activations drawn, large and blended over the image.
fn tile(engine: &Engine, id: u64, layer: &str, channel: usize) -> Result<(), AnatomyError> {
    let crop = last_crop(engine)?;
    let cache = engine.anatomy.borrow();
    let Some((l, shape, values)) = cache.activations.as_ref().filter(|(l, _, _)| l == layer) else {
        return Err(AnatomyError::NoLayer(format!("{layer} (draw its activations first)")));
    };
    let channels = shape.get(1).copied().unwrap_or(1);
    if channel >= channels {
        return Err(AnatomyError::NoChannel { layer: l.clone(), channel, channels });
    }
    let (h, w) = (shape.get(2).copied().unwrap_or(1), shape.get(3).copied().unwrap_or(1));
    let map = &values[channel * h * w..(channel + 1) * h * w];
    let lo = map.iter().copied().fold(f32::INFINITY, f32::min).min(0.0);
    let hi = map.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let side = (crop.width()).max(224);
    let base = image::imageops::resize(&crop, side, side, image::imageops::FilterType::Nearest);
    // Strong responses in bright colour; zero leaves the image as it is.
    let shifted: Vec<f32> = map.iter().map(|v| v - lo).collect();
    let img = crate::render::blend_magnitude(&base, &shifted, h, w, Palette::Inferno, 0.85);
    post(&Response::Tile { id, layer: layer.to_string(), channel, lo, hi }, Some(&crate::image::encode_png(&img)));
    Ok(())
}

/// Thumbnails in rows of `columns`, `thumb` px each.
fn thumbnails(data: &Dataset, thumb: u32, columns: usize) -> RgbImage {
    let rows = data.len().div_ceil(columns).max(1);
    let mut out = RgbImage::new(columns as u32 * thumb, rows as u32 * thumb);
    for (i, img) in data.images.iter().enumerate() {
        let small = if img.width() == thumb {
            img.clone()
        } else {
            image::imageops::resize(img, thumb, thumb, image::imageops::FilterType::Triangle)
        };
        let (x, y) = ((i % columns) as u32 * thumb, (i / columns) as u32 * thumb);
        image::imageops::replace(&mut out, &small, x as i64, y as i64);
    }
    out
}

async fn dataset(
    engine: &Engine,
    id: u64,
    bundled: bool,
    name: &str,
    bytes: Option<Vec<u8>>,
) -> Result<(), AnatomyError> {
    let (data, skipped) = if bundled {
        let path = engine.info.dataset.clone().ok_or(AnatomyError::NoBundledDataset)?;
        post(&Response::Progress { id, done: 0, total: 2 }, None);
        let fetch = |url: String| async move {
            crate::wire::fetch_bytes(scope().fetch_with_str(&url), &url).await.map_err(AnatomyError::BadDataset)
        };
        let png = fetch(path.clone()).await?;
        let json = fetch(format!("{}.json", path.trim_end_matches(".png"))).await?;
        post(&Response::Progress { id, done: 1, total: 2 }, None);
        (Dataset::from_atlas(&png, &json, engine.info.input_size)?, Vec::new())
    } else {
        let files = crate::protocol::unpack_files(&bytes.unwrap_or_default()).map_err(AnatomyError::BadDataset)?;
        Dataset::from_files(name, files, &engine.info)?
    };
    let thumb = (data.images.first().map_or(28, |i| i.width())).min(48);
    let columns = 50;
    let png = crate::image::encode_png(&thumbnails(&data, thumb, columns));
    let response = Response::Dataset {
        id,
        name: data.name.clone(),
        count: data.len(),
        labels: data.labels.clone(),
        classes: data.classes.clone(),
        sources: data.sources.clone(),
        skipped,
        thumb,
        columns,
    };
    *engine.anatomy.borrow_mut() = Cache { dataset: Some(Rc::new(data)), ..Cache::default() };
    post(&response, Some(&png));
    Ok(())
}

fn describe(data: &Dataset, image: usize, value: f32) -> DatasetImage {
    DatasetImage {
        image,
        value,
        source: data.sources.get(image).cloned().unwrap_or_default(),
        label: data.label_of(image).map(str::to_string),
    }
}

async fn patches(
    engine: &Engine,
    id: u64,
    layer: &str,
    channel: Option<usize>,
    top: usize,
    k: usize,
) -> Result<(), AnatomyError> {
    let data = the_dataset(engine)?;
    let start = now_ms();
    let k = k.clamp(1, 32);
    let key = (layer.to_string(), k);
    let cached = engine.anatomy.borrow().topk.get(&key).cloned();
    let (topk, _) = match cached {
        Some(t) => t,
        None => {
            let wants = ScanWants { layer: Some((layer.to_string(), k)), codes: false, batch: batch_size(engine) };
            let found = scan(&engine.net, &data, &wants, &mut ScanProgress { engine, id }).await?;
            let t = found.topk.ok_or_else(|| AnatomyError::NoLayer(layer.to_string()))?;
            engine.anatomy.borrow_mut().topk.insert(key, t.clone());
            t
        }
    };
    let channels = match channel {
        Some(c) if c < topk.channel_count() => vec![c],
        Some(c) => {
            return Err(AnatomyError::NoChannel {
                layer: layer.to_string(),
                channel: c,
                channels: topk.channel_count(),
            });
        }
        None => topk.most_active(top.clamp(1, 32)),
    };
    let fields = receptive_fields(engine.net.graph(), engine.info.input_size)?;
    let field = *fields.get(layer).ok_or_else(|| AnatomyError::NoLayer(layer.to_string()))?;
    let crops: Vec<Vec<RgbImage>> = channels
        .iter()
        .map(|&c| topk.channel(c).iter().map(|h| crop(&data.images[h.image], &field, h)).collect())
        .collect();
    let cell = 72;
    let png = crate::image::encode_png(&sheet(&crops, cell));
    let rows = channels
        .iter()
        .map(|&c| PatchRow {
            channel: c,
            hits: topk.channel(c).iter().map(|h| describe(&data, h.image, h.value)).collect(),
        })
        .collect();
    let field_px = [field.size[0].min(engine.info.input_size), field.size[1].min(engine.info.input_size)];
    let ms = now_ms() - start;
    post(
        &Response::Patches { id, layer: layer.to_string(), field: field_px, rows, cell, images: data.len(), ms },
        Some(&png),
    );
    Ok(())
}

/// The dataset's codes, computed once per dataset.
async fn codes(engine: &Engine, id: u64, data: &Dataset) -> Result<(String, usize, Rc<Vec<f32>>), AnatomyError> {
    if let Some(c) = engine.anatomy.borrow().codes.clone() {
        return Ok(c);
    }
    let wants = ScanWants { layer: None, codes: true, batch: batch_size(engine) };
    let Scan { codes, code_dims, code_layer, .. } =
        scan(&engine.net, data, &wants, &mut ScanProgress { engine, id }).await?;
    let c = (code_layer, code_dims, Rc::new(codes));
    engine.anatomy.borrow_mut().codes = Some(c.clone());
    Ok(c)
}

async fn neighbours(engine: &Engine, id: u64, k: usize) -> Result<(), AnatomyError> {
    let data = the_dataset(engine)?;
    let crop = last_crop(engine)?;
    let k = k.clamp(1, 32);
    let (layer, dims, all) = codes(engine, id, &data).await?;
    let mine = code_of(&engine.net, crop.clone()).await?;
    let by_code = nearest(&all, dims, &mine, k);
    let px = |img: &RgbImage| img.as_raw().iter().map(|&p| p as f32 / 255.0).collect::<Vec<f32>>();
    let query = px(&crop);
    // Pixel distances one image at a time (no copy of the whole dataset).
    let mut by_pixels: Vec<(usize, f32)> = data
        .images
        .iter()
        .enumerate()
        .map(|(i, img)| (i, px(img).iter().zip(&query).map(|(a, b)| (a - b) * (a - b)).sum::<f32>().sqrt()))
        .collect();
    by_pixels.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
    by_pixels.truncate(k);
    let row = |hits: &[(usize, f32)]| {
        std::iter::once(crop.clone()).chain(hits.iter().map(|(i, _)| data.images[*i].clone())).collect::<Vec<_>>()
    };
    let cell = 80;
    let png = crate::image::encode_png(&sheet(&[row(&by_code), row(&by_pixels)], cell));
    let list = |hits: &[(usize, f32)]| hits.iter().map(|&(i, d)| describe(&data, i, d)).collect();
    post(&Response::Neighbours { id, layer, codes: list(&by_code), pixels: list(&by_pixels), cell }, Some(&png));
    Ok(())
}

/// Iterations between two pictures of the map.
const TSNE_EVERY: usize = 10;

async fn tsne(engine: &Engine, id: u64, perplexity: f32, iterations: usize, seed: u64) -> Result<(), AnatomyError> {
    let data = the_dataset(engine)?;
    let start = now_ms();
    let (_, dims, all) = codes(engine, id, &data).await?;
    let crop = engine.last_crop.borrow().clone();
    let mine = match crop {
        Some(c) => Some(code_of(&engine.net, c).await?),
        None => None,
    };
    // A small set cannot have a large perplexity: each point needs 3·perplexity neighbours.
    let most = ((data.len().saturating_sub(1)) / 3).max(1) as f32;
    let params = TsneParams {
        perplexity: perplexity.clamp(2.0, 100.0).min(most),
        iterations: iterations.clamp(50, 5000),
        seed,
        ..TsneParams::default()
    };
    let iterations = params.iterations;
    let mut t = Tsne::new(&all, data.len(), dims, params).map_err(|e| AnatomyError::Tsne(e.to_string()))?;
    loop {
        let done = t.is_done();
        let you = mine.as_ref().and_then(|m| t.place(m).ok());
        post(
            &Response::TsneStep {
                id,
                iteration: t.iteration(),
                iterations,
                kl: (done || t.iteration() % 100 == 0).then(|| t.kl_divergence()),
                points: t.embedding().to_vec(),
                you,
                done,
                ms: now_ms() - start,
            },
            None,
        );
        if done {
            return Ok(());
        }
        super::yield_now::yield_now().await;
        if engine.cancelled.borrow().contains(&id) {
            return Err(AnatomyError::Cancelled);
        }
        t.step(TSNE_EVERY);
    }
}

/// A fresh cache (another model or dataset).
pub fn fresh() -> RefCell<Cache> {
    RefCell::new(Cache::default())
}
