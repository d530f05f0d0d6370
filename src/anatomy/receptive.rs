//! Receptive fields from the graph: for every activation, which input pixels one of its units
//! can see (kernel sizes, strides, padding, dilation and pooling along the way).
//!
//! Per axis, with `jump` the input-pixel distance between neighbouring units and `offset`
//! the input coordinate where unit 0's field starts (negative inside the padding):
//! a window of effective size `k' = d·(k − 1) + 1`, stride `s` and leading pad `p` gives
//! `size' = size + (k' − 1)·jump`, `offset' = offset − p·jump`, `jump' = jump·s`.
//! Branches that meet (Concat, Add) see the union of their fields.

use std::collections::HashMap;

use crate::error::ModelError;
use crate::model::exec::{same_upper_pads, windows};
use crate::model::{Graph, Op};

/// The receptive field of one activation's units, per axis `[height, width]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Field {
    /// Side of one unit's field in input pixels (before clipping to the image).
    pub size: [usize; 2],
    /// Input pixels between neighbouring units.
    pub jump: [usize; 2],
    /// Where unit 0's field starts (negative: it reaches into the padding).
    pub offset: [i64; 2],
    /// The activation's spatial grid `[H, W]`.
    pub grid: [usize; 2],
    /// Every unit sees the whole image (after a global pool, flatten or dense layer).
    pub global: bool,
}

/// A rectangle of input pixels: `top`/`left` may be negative and the far edges may pass
/// the image; [`Window::clipped`] keeps the part inside.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Window {
    pub top: i64,
    pub left: i64,
    pub height: usize,
    pub width: usize,
}

impl Window {
    /// The part inside a `side_h`×`side_w` image, as (top, left, height, width).
    pub fn clipped(&self, side_h: usize, side_w: usize) -> (usize, usize, usize, usize) {
        let t = self.top.clamp(0, side_h as i64) as usize;
        let l = self.left.clamp(0, side_w as i64) as usize;
        let b = (self.top + self.height as i64).clamp(0, side_h as i64) as usize;
        let r = (self.left + self.width as i64).clamp(0, side_w as i64) as usize;
        (t, l, b.saturating_sub(t), r.saturating_sub(l))
    }
}

impl Field {
    fn input(side: [usize; 2]) -> Self {
        Self { size: [1, 1], jump: [1, 1], offset: [0, 0], grid: side, global: false }
    }

    fn whole(input: [usize; 2]) -> Self {
        Self { size: input, jump: input, offset: [0, 0], grid: [1, 1], global: true }
    }

    /// The input window seen by the unit at (`y`, `x`).
    pub fn window(&self, y: usize, x: usize) -> Window {
        Window {
            top: self.offset[0] + (y * self.jump[0]) as i64,
            left: self.offset[1] + (x * self.jump[1]) as i64,
            height: self.size[0],
            width: self.size[1],
        }
    }

    /// A sliding window (conv or pool) applied to this field.
    fn slide(
        &self,
        kernel: [usize; 2],
        strides: [usize; 2],
        pads: [usize; 4],
        dilations: [usize; 2],
        ceil: bool,
    ) -> Self {
        let mut out = *self;
        for a in 0..2 {
            let eff = dilations[a].max(1) * (kernel[a].max(1) - 1) + 1;
            let s = strides[a].max(1);
            out.size[a] = self.size[a] + (eff - 1) * self.jump[a];
            out.offset[a] = self.offset[a] - (pads[a] * self.jump[a]) as i64;
            out.jump[a] = self.jump[a] * s;
            out.grid[a] = windows(self.grid[a], (pads[a], pads[a + 2]), eff, s, ceil);
        }
        out
    }

    /// The union of two fields on the same grid (branches meeting at Concat or Add).
    fn union(&self, other: &Field) -> Self {
        if self.global || other.global {
            return if self.global { *self } else { *other };
        }
        let mut out = *self;
        for a in 0..2 {
            let start = self.offset[a].min(other.offset[a]);
            let end = (self.offset[a] + self.size[a] as i64).max(other.offset[a] + other.size[a] as i64);
            out.offset[a] = start;
            out.size[a] = (end - start) as usize;
            out.jump[a] = self.jump[a].max(other.jump[a]);
        }
        out
    }
}

/// The receptive field of every node output for a `side`×`side` input.
pub fn receptive_fields(graph: &Graph, side: usize) -> Result<HashMap<String, Field>, ModelError> {
    let image = [side, side];
    let mut fields: HashMap<String, Field> = HashMap::new();
    fields.insert(graph.input.clone(), Field::input(image));
    for node in &graph.nodes {
        let inputs: Vec<Field> = node.inputs.iter().filter_map(|n| fields.get(n).copied()).collect();
        let Some(first) = inputs.first().copied() else {
            continue; // a node on constants only
        };
        let field = match &node.op {
            Op::Conv { strides, pads, dilations, auto_pad_same, .. } => {
                let weight = node.inputs.get(1).and_then(|w| graph.constants.get(w)).ok_or_else(|| {
                    ModelError::Malformed(format!("{}: convolution weights are not a constant", node.name))
                })?;
                let kernel = match weight.dims.as_slice() {
                    [_, _, kh, kw] => [*kh, *kw],
                    _ => return Err(ModelError::Malformed(format!("{}: weights are not 4-D", node.name))),
                };
                let pads = if *auto_pad_same {
                    let (t, b) = same_upper_pads(first.grid[0], kernel[0], strides[0], dilations[0]);
                    let (l, r) = same_upper_pads(first.grid[1], kernel[1], strides[1], dilations[1]);
                    [t, l, b, r]
                } else {
                    *pads
                };
                first.slide(kernel, *strides, pads, *dilations, false)
            }
            Op::MaxPool { kernel, strides, pads, ceil_mode }
            | Op::AveragePool { kernel, strides, pads, ceil_mode, .. } => {
                first.slide(*kernel, *strides, *pads, [1, 1], *ceil_mode)
            }
            Op::Pad { pads, .. } => {
                // Leading padding moves where unit 0's field starts; the grid grows.
                let p = pads.clone().unwrap_or_else(|| {
                    node.inputs.get(1).and_then(|n| graph.constants.get(n)).map(|h| h.to_i64()).unwrap_or_default()
                });
                let at = |i: usize| p.get(i).copied().unwrap_or(0).max(0) as usize;
                let mut f = first;
                for a in 0..2 {
                    f.offset[a] -= (at(2 + a) * first.jump[a]) as i64;
                    f.grid[a] = first.grid[a] + at(2 + a) + at(6 + a);
                }
                f
            }
            Op::ReduceMean { .. } | Op::LogSoftmax { .. } => Field::whole(image),
            Op::GlobalAveragePool
            | Op::GlobalMaxPool
            | Op::Flatten { .. }
            | Op::Reshape
            | Op::Gemm { .. }
            | Op::MatMul
            | Op::Softmax { .. } => Field::whole(image),
            Op::Concat { .. } | Op::Add | Op::Sub | Op::Mul | Op::Div => {
                inputs.iter().skip(1).fold(first, |acc, f| acc.union(f))
            }
            Op::Relu
            | Op::LeakyRelu { .. }
            | Op::Sigmoid
            | Op::Clip { .. }
            | Op::BatchNormalization { .. }
            | Op::HardSigmoid { .. }
            | Op::HardSwish
            | Op::Transpose { .. }
            | Op::QuantizeLinear { .. }
            | Op::DequantizeLinear { .. }
            | Op::DynamicQuantizeLinear
            | Op::Squeeze { .. }
            | Op::Unsqueeze { .. }
            | Op::Identity => first,
        };
        fields.insert(node.output.clone(), field);
    }
    Ok(fields)
}
