//! Convolution weights as pictures. conv1's filters act on pixels, so they are shown as RGB
//! (or grey) images; a deeper layer's filters act on feature maps, so each is a row of grey
//! tiles, one per input channel.

use image::{Rgb, RgbImage};

use super::AnatomyError;
use crate::model::{Graph, Op};

/// The weights `[out, in, kh, kw]` of one convolution, named after its output.
#[derive(Debug, Clone, PartialEq)]
pub struct FilterBank {
    pub layer: String,
    pub dims: [usize; 4],
    pub weights: Vec<f32>,
}

impl FilterBank {
    /// Weights of filter `o`: `in·kh·kw` values.
    pub fn filter(&self, o: usize) -> &[f32] {
        let n = self.dims[1] * self.dims[2] * self.dims[3];
        &self.weights[o * n..(o + 1) * n]
    }

    /// Whether the filters see pixels directly (the first convolution on the image).
    pub fn on_pixels(&self, graph: &Graph) -> bool {
        graph.nodes.iter().any(|n| n.output == self.layer && n.inputs.first() == Some(&graph.input))
    }
}

/// Convolutions with constant 4-D weights, in execution order (their output names).
pub fn conv_layers(graph: &Graph) -> Vec<String> {
    graph
        .nodes
        .iter()
        .filter(|n| matches!(n.op, Op::Conv { .. }))
        .filter(|n| n.inputs.get(1).and_then(|w| graph.constants.get(w)).is_some_and(|w| w.dims.len() == 4))
        .map(|n| n.output.clone())
        .collect()
}

/// The weights of the convolution whose output is `layer`.
pub fn filter_bank(graph: &Graph, layer: &str) -> Result<FilterBank, AnatomyError> {
    let node = graph
        .nodes
        .iter()
        .find(|n| n.output == layer && matches!(n.op, Op::Conv { .. }))
        .ok_or_else(|| AnatomyError::NotConvolution(layer.to_string()))?;
    let w = node
        .inputs
        .get(1)
        .and_then(|w| graph.constants.get(w))
        .ok_or_else(|| AnatomyError::NotConvolution(layer.to_string()))?;
    let dims: [usize; 4] = w.dims.as_slice().try_into().map_err(|_| AnatomyError::NotConvolution(layer.to_string()))?;
    Ok(FilterBank { layer: layer.to_string(), dims, weights: w.to_f32() })
}

/// Each filter scaled on its own to [0, 1]: its smallest weight → 0, its largest → 1
/// (a constant filter → 0.5). Same layout as the weights.
pub fn normalized(bank: &FilterBank) -> Vec<f32> {
    let mut out = Vec::with_capacity(bank.weights.len());
    for o in 0..bank.dims[0] {
        let f = bank.filter(o);
        let lo = f.iter().copied().fold(f32::INFINITY, f32::min);
        let hi = f.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let span = hi - lo;
        out.extend(f.iter().map(|&v| if span > 0.0 && span.is_finite() { (v - lo) / span } else { 0.5 }));
    }
    out
}

/// How a filter grid is laid out.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GridLook {
    /// Screen pixels per weight.
    pub zoom: u32,
    /// At most this many filters (outputs) …
    pub max_filters: usize,
    /// … and, for deeper layers, this many input channels per filter.
    pub max_inputs: usize,
}

impl Default for GridLook {
    fn default() -> Self {
        Self { zoom: 8, max_filters: 64, max_inputs: 32 }
    }
}

/// Between tiles: dark, so that white and black weights both stand out from it.
const BACKGROUND: Rgb<u8> = Rgb([38, 43, 51]);

/// The picture: filters on pixels (1 or 3 input channels) as a square-ish grid of grey or RGB
/// tiles; deeper filters as one row per filter, one grey tile per input channel.
/// Returns the image and the grid's (columns, rows).
pub fn filter_grid(bank: &FilterBank, on_pixels: bool, look: GridLook) -> (RgbImage, usize, usize) {
    let [outs, ins, kh, kw] = bank.dims;
    let norm = normalized(bank);
    let z = look.zoom.max(1);
    let gap = (z / 4).clamp(2, 6);
    let outs = outs.min(look.max_filters.max(1));
    let colour = on_pixels && ins == 3;
    let (cols, rows, per_tile_inputs) = if on_pixels && (ins == 1 || ins == 3) {
        let cols = (outs as f64).sqrt().ceil() as usize;
        (cols, outs.div_ceil(cols.max(1)), 1)
    } else {
        let n = ins.min(look.max_inputs.max(1));
        (n, outs, n)
    };
    let tile_w = kw as u32 * z;
    let tile_h = kh as u32 * z;
    let width = cols as u32 * (tile_w + gap) + gap;
    let height = rows as u32 * (tile_h + gap) + gap;
    let mut img = RgbImage::from_pixel(width, height, BACKGROUND);
    let filter_len = ins * kh * kw;
    let plane = kh * kw;
    for o in 0..outs {
        let f = &norm[o * filter_len..(o + 1) * filter_len];
        let tiles: Vec<(usize, usize, usize)> = if per_tile_inputs == 1 {
            vec![(o % cols, o / cols, 0)]
        } else {
            (0..per_tile_inputs).map(|i| (i, o, i)).collect()
        };
        for (col, row, input) in tiles {
            let x0 = gap + col as u32 * (tile_w + gap);
            let y0 = gap + row as u32 * (tile_h + gap);
            for ky in 0..kh {
                for kx in 0..kw {
                    let at = |c: usize| (f[c * plane + ky * kw + kx] * 255.0).round().clamp(0.0, 255.0) as u8;
                    let px = if colour { Rgb([at(0), at(1), at(2)]) } else { Rgb([at(input); 3]) };
                    for dy in 0..z {
                        for dx in 0..z {
                            img.put_pixel(x0 + kx as u32 * z + dx, y0 + ky as u32 * z + dy, px);
                        }
                    }
                }
            }
        }
    }
    (img, cols, rows)
}
