//! What to maximise, as a tree of terms combined with `+`, `−` and scalar `×`: a class score
//! (pre-softmax), a channel's or a neuron's activation, DeepDream's "amplify this layer",
//! content and style losses (feature distance, Gram matrices), total variation and an L2
//! penalty. Losses enter negated, so every objective is maximised.

use std::collections::HashMap;
use std::ops::{Add, Mul, Neg, Sub};

use burn::tensor::Tensor;

use super::OptvisError;
use crate::model::{Network, Pass, Value};

#[derive(Debug, Clone)]
pub enum Objective {
    /// A class's pre-softmax score.
    Class(usize),
    /// A channel's mean activation.
    Channel { layer: String, channel: usize },
    /// One unit: a channel at one position (the centre when `at` is `None`).
    Neuron { layer: String, channel: usize, at: Option<[usize; 2]> },
    /// DeepDream: the mean squared activation of a layer.
    Dream { layer: String },
    /// Content loss (negated): mean squared distance of a layer's features to `target`,
    /// relative to the target's mean square (so 1 means "as far as from zero").
    Content { layer: String, target: Tensor<4> },
    /// Style loss (negated): the mean over layers of the mean squared distance of Gram matrices
    /// to `target`, each relative to its target's mean square. Relative losses make the
    /// weights mean the same at every layer and for every network, whatever its activations'
    /// scale.
    Style { layers: Vec<(String, Tensor<2>)> },
    /// Total variation (negated): mean squared difference of neighbouring pixels.
    TotalVariation,
    /// L2 penalty (negated): mean squared distance of the pixels from mid-grey.
    L2,
    /// Σ weight · term.
    Sum(Vec<(f32, Objective)>),
}

/// The Gram matrix of `[1, C, H, W]` features: `V Vᵀ / (C·H·W)` with `V` the `[C, H·W]` matrix.
pub fn gram(features: Tensor<4>) -> Tensor<2> {
    let [n, c, h, w] = features.dims();
    let v: Tensor<2> = features.reshape([n * c, h * w]);
    v.clone().matmul(v.transpose()).div_scalar((n * c * h * w) as f32)
}

/// Mean squared difference between vertically and horizontally neighbouring pixels.
pub fn total_variation(x: Tensor<4>) -> Tensor<1> {
    let [n, c, h, w] = x.dims();
    let dy = x.clone().slice([0..n, 0..c, 1..h, 0..w]) - x.clone().slice([0..n, 0..c, 0..h - 1, 0..w]);
    let dx = x.clone().slice([0..n, 0..c, 0..h, 1..w]) - x.slice([0..n, 0..c, 0..h, 0..w - 1]);
    dy.square().mean().reshape([1]) + dx.square().mean().reshape([1])
}

impl Objective {
    /// The layers whose activations the objective reads.
    pub fn layers(&self) -> Vec<String> {
        match self {
            Objective::Channel { layer, .. }
            | Objective::Neuron { layer, .. }
            | Objective::Dream { layer }
            | Objective::Content { layer, .. } => vec![layer.clone()],
            Objective::Style { layers } => layers.iter().map(|(l, _)| l.clone()).collect(),
            Objective::Sum(terms) => terms.iter().flat_map(|(_, t)| t.layers()).collect(),
            Objective::Class(_) | Objective::TotalVariation | Objective::L2 => Vec::new(),
        }
    }

    /// A short name for charts and captions.
    pub fn name(&self) -> String {
        match self {
            Objective::Class(k) => format!("class {k}"),
            Objective::Channel { layer, channel } => format!("{layer}:{channel}"),
            Objective::Neuron { layer, channel, .. } => format!("{layer}:{channel} neuron"),
            Objective::Dream { layer } => format!("dream {layer}"),
            Objective::Content { layer, .. } => format!("content {layer}"),
            Objective::Style { .. } => "style".into(),
            Objective::TotalVariation => "total variation".into(),
            Objective::L2 => "L2".into(),
            Objective::Sum(_) => "sum".into(),
        }
    }

    /// Content loss target: `layer`'s features of `image`.
    pub fn content(net: &Network, image: Tensor<4>, layer: &str) -> Result<Self, OptvisError> {
        let acts = net.forward_with(image, &[layer], &Pass::any_size())?;
        let target = spatial(acts.get(layer)?, layer)?;
        Ok(Objective::Content { layer: layer.to_string(), target })
    }

    /// Style loss targets: the Gram matrices of `image` at each layer.
    pub fn style(net: &Network, image: Tensor<4>, layers: &[&str]) -> Result<Self, OptvisError> {
        let acts = net.forward_with(image, layers, &Pass::any_size())?;
        let layers = layers
            .iter()
            .map(|l| Ok((l.to_string(), gram(spatial(acts.get(l)?, l)?))))
            .collect::<Result<_, OptvisError>>()?;
        Ok(Objective::Style { layers })
    }

    /// The objective's value for one image `[1, C, H, W]`, and each leaf term's (weighted) value
    /// for charts. Differentiable when `image` is an autodiff tensor.
    pub fn evaluate(
        &self,
        net: &Network,
        image: Tensor<4>,
    ) -> Result<(Tensor<1>, Vec<(String, Tensor<1>)>), OptvisError> {
        let mut layers = self.layers();
        layers.sort();
        layers.dedup();
        let needs_scores = self.needs_scores();
        let mut taps: Vec<&str> = layers.iter().map(String::as_str).collect();
        if needs_scores {
            taps.push(net.score_name());
        }
        let acts = if taps.is_empty() {
            HashMap::new()
        } else {
            net.forward_with(image.clone(), &taps, &Pass::any_size())?.values
        };
        let mut terms = Vec::new();
        let total = self.term(net, &image, &acts, 1.0, &mut terms)?;
        Ok((total, terms))
    }

    fn needs_scores(&self) -> bool {
        match self {
            Objective::Class(_) => true,
            Objective::Sum(terms) => terms.iter().any(|(_, t)| t.needs_scores()),
            _ => false,
        }
    }

    fn term(
        &self,
        net: &Network,
        image: &Tensor<4>,
        acts: &HashMap<String, Value>,
        weight: f32,
        out: &mut Vec<(String, Tensor<1>)>,
    ) -> Result<Tensor<1>, OptvisError> {
        let get = |layer: &str| acts.get(layer).ok_or_else(|| OptvisError::BadArgument(format!("no layer '{layer}'")));
        let value: Tensor<1> = match self {
            Objective::Sum(terms) => {
                let mut total: Option<Tensor<1>> = None;
                for (w, t) in terms {
                    let v = t.term(net, image, acts, weight * w, out)?.mul_scalar(*w);
                    total = Some(match total {
                        Some(s) => s + v,
                        None => v,
                    });
                }
                return Ok(total.unwrap_or_else(|| Tensor::zeros([1], &image.device())));
            }
            Objective::Class(k) => {
                let v = get(net.score_name())?;
                let classes = v.shape.iter().skip(1).product::<usize>();
                if *k >= classes {
                    return Err(OptvisError::BadArgument(format!(
                        "class {k} does not exist (the model has {classes})"
                    )));
                }
                v.tensor.clone().reshape([1, classes]).slice([0..1, *k..*k + 1]).reshape([1])
            }
            Objective::Channel { layer, channel } => {
                let f = channel_of(get(layer)?, layer, *channel)?;
                f.mean().reshape([1])
            }
            Objective::Neuron { layer, channel, at } => {
                let f = channel_of(get(layer)?, layer, *channel)?;
                let [_, _, h, w] = f.dims();
                let [y, x] = at.unwrap_or([h / 2, w / 2]);
                if y >= h || x >= w {
                    return Err(OptvisError::BadArgument(format!(
                        "position ({y}, {x}) is outside '{layer}' ({h}×{w})"
                    )));
                }
                f.slice([0..1, 0..1, y..y + 1, x..x + 1]).reshape([1])
            }
            Objective::Dream { layer } => get(layer)?.tensor.clone().square().mean().reshape([1]),
            Objective::Content { layer, target } => {
                let f = spatial(get(layer)?, layer)?;
                if f.dims() != target.dims() {
                    return Err(OptvisError::BadArgument(format!(
                        "content image and image differ in size at '{layer}': {:?} vs {:?}",
                        target.dims(),
                        f.dims()
                    )));
                }
                let scale = target.clone().square().mean().add_scalar(1e-12);
                ((f - target.clone()).square().mean() / scale).reshape([1]).neg()
            }
            Objective::Style { layers } => {
                let mut total: Option<Tensor<1>> = None;
                for (layer, target) in layers {
                    let g = gram(spatial(get(layer)?, layer)?);
                    let scale = target.clone().square().mean().add_scalar(1e-12);
                    let d = ((g - target.clone()).square().mean() / scale).reshape([1]).div_scalar(layers.len() as f32);
                    total = Some(match total {
                        Some(s) => s + d,
                        None => d,
                    });
                }
                total.unwrap_or_else(|| Tensor::zeros([1], &image.device())).neg()
            }
            Objective::TotalVariation => total_variation(image.clone()).neg(),
            Objective::L2 => image.clone().sub_scalar(0.5).square().mean().reshape([1]).neg(),
        };
        out.push((self.name(), value.clone().mul_scalar(weight)));
        Ok(value)
    }
}

fn spatial(v: &Value, layer: &str) -> Result<Tensor<4>, OptvisError> {
    if v.shape.len() != 4 {
        return Err(OptvisError::BadArgument(format!("'{layer}' is not a convolutional layer ({:?})", v.shape)));
    }
    Ok(v.tensor.clone())
}

fn channel_of(v: &Value, layer: &str, channel: usize) -> Result<Tensor<4>, OptvisError> {
    let f = spatial(v, layer)?;
    let [n, c, h, w] = f.dims();
    if channel >= c {
        return Err(OptvisError::BadArgument(format!("channel {channel} does not exist ('{layer}' has {c})")));
    }
    Ok(f.slice([0..n, channel..channel + 1, 0..h, 0..w]))
}

impl Add for Objective {
    type Output = Objective;
    fn add(self, other: Objective) -> Objective {
        let mut terms = match self {
            Objective::Sum(t) => t,
            o => vec![(1.0, o)],
        };
        match other {
            Objective::Sum(t) => terms.extend(t),
            o => terms.push((1.0, o)),
        }
        Objective::Sum(terms)
    }
}

impl Mul<Objective> for f32 {
    type Output = Objective;
    fn mul(self, o: Objective) -> Objective {
        Objective::Sum(vec![(self, o)])
    }
}

impl Neg for Objective {
    type Output = Objective;
    fn neg(self) -> Objective {
        -1.0 * self
    }
}

impl Sub for Objective {
    type Output = Objective;
    fn sub(self, other: Objective) -> Objective {
        self + (-other)
    }
}
