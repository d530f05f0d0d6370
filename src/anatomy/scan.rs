//! One pass of a dataset through the model, in batches: the top-k units of every channel of a
//! layer (for max-activating patches) and the penultimate codes (for neighbours and t-SNE).
//! Progress is reported after each batch and may stop the pass.

use super::codes::pool_codes;
use super::dataset::Dataset;
use super::patches::TopK;
use super::{AnatomyError, penultimate_layer};
use crate::classify::read_f32;
use crate::methods::Progress;
use crate::model::Network;

/// What a pass collects.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanWants {
    /// The layer whose channels' top-k hits to keep, and k.
    pub layer: Option<(String, usize)>,
    /// Keep every image's penultimate code.
    pub codes: bool,
    /// Images per forward pass.
    pub batch: usize,
}

impl Default for ScanWants {
    fn default() -> Self {
        Self { layer: None, codes: false, batch: 32 }
    }
}

/// What a pass found.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Scan {
    /// The layer's top-k hits per channel and its map size `[H, W]`.
    pub topk: Option<(TopK, [usize; 2])>,
    /// `n × code_dims` codes, row-major, from `code_layer`.
    pub codes: Vec<f32>,
    pub code_dims: usize,
    pub code_layer: String,
}

/// Runs `dataset` through `net` and collects what `wants` asks for.
pub async fn scan(
    net: &Network,
    dataset: &Dataset,
    wants: &ScanWants,
    progress: &mut dyn Progress,
) -> Result<Scan, AnatomyError> {
    if dataset.is_empty() {
        return Err(AnatomyError::EmptyDataset(dataset.name.clone()));
    }
    let code_layer = if wants.codes {
        penultimate_layer(net.graph(), net.score_name())
            .ok_or_else(|| AnatomyError::NoLayer("penultimate (no layer with weights before the scores)".into()))?
    } else {
        String::new()
    };
    if let Some((layer, _)) = &wants.layer
        && !net.graph().nodes.iter().any(|n| &n.output == layer)
    {
        return Err(AnatomyError::NoLayer(layer.clone()));
    }
    let mut taps: Vec<&str> = Vec::new();
    if let Some((layer, _)) = &wants.layer {
        taps.push(layer);
    }
    if wants.codes {
        taps.push(&code_layer);
    }
    let mut out = Scan { code_layer: code_layer.clone(), ..Scan::default() };
    let total = dataset.len();
    let step = wants.batch.max(1);
    let mut done = 0;
    if !progress.tick(0, total).await {
        return Err(AnatomyError::Cancelled);
    }
    while done < total {
        let end = (done + step).min(total);
        let n = end - done;
        let acts = net.forward(dataset.batch(done..end, net.device()), &taps)?;
        if let Some((layer, k)) = &wants.layer {
            let v = acts.get(layer)?;
            let channels = v.shape.get(1).copied().unwrap_or(1);
            let map = [v.shape.get(2).copied().unwrap_or(1), v.shape.get(3).copied().unwrap_or(1)];
            let values = read_f32(v.tensor.clone()).await?;
            let (topk, _) = out.topk.get_or_insert_with(|| (TopK::new(channels, *k), map));
            topk.add_batch(&values, n, map, done);
        }
        if wants.codes {
            let v = acts.get(&code_layer)?;
            let channels = v.shape.get(1).copied().unwrap_or(1);
            let values = read_f32(v.tensor.clone()).await?;
            out.code_dims = channels;
            out.codes.extend(pool_codes(&values, n, channels));
        }
        done = end;
        if !progress.tick(done, total).await {
            return Err(AnatomyError::Cancelled);
        }
    }
    Ok(out)
}

/// One image's penultimate code (as in [`Scan::codes`]).
pub async fn code_of(net: &Network, image: image::RgbImage) -> Result<Vec<f32>, AnatomyError> {
    let one = Dataset { name: "yours".into(), images: vec![image], labels: None, classes: vec![], sources: vec![] };
    let wants = ScanWants { layer: None, codes: true, batch: 1 };
    Ok(scan(net, &one, &wants, &mut |_, _| true).await?.codes)
}
