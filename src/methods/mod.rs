//! Attribution methods behind one contract (after Captum): given a bound network, an input
//! image and a [`Target`], each returns a map shaped like the input (or like a layer, for CAM
//! methods) plus the score it explained. One method per file; variants are parameters (the
//! three gradient maps are one method with a ReLU rule). [`Method::ALL_NAMES`] is the table the
//! cross-cutting tests loop over.

pub mod gradcam;
pub mod gradient;
pub mod integrated_gradients;
pub mod occlusion;
pub mod share;
pub mod smoothgrad;

use std::future::Future;
use std::pin::Pin;

use burn::tensor::Tensor;
use thiserror::Error;

use crate::error::ModelError;
use crate::model::{Network, Pass, ReluRule};
pub use crate::protocol::{Fill, MethodParams, Target};

pub use occlusion::OcclusionParams;

/// Reports progress and asks whether to go on. The browser worker posts a message and yields
/// to its event loop here (so a "cancel" can arrive); any `FnMut(done, total) -> bool`
/// closure is a progress that never yields.
pub trait Progress {
    fn tick(&mut self, done: usize, total: usize) -> Pin<Box<dyn Future<Output = bool> + '_>>;

    /// A first rough answer while the rest is computed (occlusion's coarse pass).
    fn preview(&mut self, _map: &Attribution) {}

    /// Other workers that can take parts of the run ([`share`]), if the caller has any.
    fn helpers(&mut self) -> Option<&mut dyn share::Helpers> {
        None
    }

    /// The unoccluded image's activations that the caller kept from an earlier occlusion run on
    /// the same network, if any ([`occlusion::Measurer::reusing`] checks they are of this image
    /// and fill).
    fn kept_unmodified(&mut self) -> Option<std::rc::Rc<occlusion::Unmodified>> {
        None
    }

    /// This incremental sweep's activations (with `fill`), for the caller to keep.
    fn keep_unmodified(&mut self, _fill: Fill, _unmodified: std::rc::Rc<occlusion::Unmodified>) {}
}

impl<F: FnMut(usize, usize) -> bool> Progress for F {
    fn tick(&mut self, done: usize, total: usize) -> Pin<Box<dyn Future<Output = bool> + '_>> {
        Box::pin(std::future::ready(self(done, total)))
    }
}

/// A method's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Attribution {
    /// Row-major values shaped `shape`: `[C, H, W]` like the input, or `[H, W]`.
    pub values: Vec<f32>,
    pub shape: Vec<usize>,
    /// The explained score on the unmodified input.
    pub score: f32,
}

impl Attribution {
    /// Collapses `[C, H, W]` to `[H, W]` by the largest absolute value over channels (the
    /// usual way to show a saliency map); `[H, W]` maps are returned unchanged.
    pub fn max_abs_over_channels(&self) -> Attribution {
        let [c, h, w] = match self.shape.as_slice() {
            [c, h, w] => [*c, *h, *w],
            _ => return self.clone(),
        };
        let plane = h * w;
        let values = (0..plane).map(|i| (0..c).map(|k| self.values[k * plane + i].abs()).fold(0.0, f32::max)).collect();
        Attribution { values, shape: vec![h, w], score: self.score }
    }

    /// Whether the values carry a sign worth showing (gradients, occlusion drops) rather than
    /// a magnitude (Grad-CAM is non-negative by construction).
    pub fn is_signed(&self) -> bool {
        self.values.iter().any(|v| *v < 0.0)
    }
}

#[derive(Debug, Error, Clone, PartialEq)]
pub enum MethodError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("{0}")]
    BadArgument(String),
    #[error("cancelled")]
    Cancelled,
}

/// The attribution methods, each one small file.
#[derive(Debug, Clone, PartialEq)]
pub enum Method {
    /// d score / d image with a ReLU rule: saliency, guided backprop, deconvnet.
    Gradient(ReluRule),
    /// A gradient map averaged over noisy copies of the image.
    SmoothGrad { rule: ReluRule, samples: usize, sigma: f32, seed: u64 },
    /// Gradients averaged along the straight path from a constant baseline image.
    IntegratedGradients { steps: usize, baseline: f32 },
    /// Grad-CAM at a layer (`None`: the last with a spatial grid); `guided` multiplies the
    /// upsampled map with guided backprop.
    GradCam { layer: Option<String>, guided: bool },
    /// Slide a patch over the image and record how much the target drops.
    Occlusion(OcclusionParams),
}

impl Method {
    pub const ALL_NAMES: &[&str] = crate::protocol::METHOD_NAMES;

    pub fn name(&self) -> &'static str {
        match self {
            Method::Gradient(rule) => gradient::rule_name(*rule),
            Method::SmoothGrad { .. } => "smoothgrad",
            Method::IntegratedGradients { .. } => "integrated-gradients",
            Method::GradCam { guided: false, .. } => "grad-cam",
            Method::GradCam { guided: true, .. } => "guided-grad-cam",
            Method::Occlusion(_) => "occlusion",
        }
    }

    /// The method called `name` with its parameters taken from `p`.
    pub fn from_name(name: &str, p: &MethodParams) -> Result<Method, MethodError> {
        let positive = |what: &str, v: usize| {
            if v == 0 { Err(MethodError::BadArgument(format!("{what} must be at least 1"))) } else { Ok(v) }
        };
        Ok(match name {
            "saliency" | "guided-backprop" | "deconvnet" => Method::Gradient(gradient::parse_rule(name)?),
            "smoothgrad" => {
                if !(p.sigma.is_finite() && p.sigma >= 0.0) {
                    return Err(MethodError::BadArgument(format!("sigma must be ≥ 0, got {}", p.sigma)));
                }
                Method::SmoothGrad {
                    rule: gradient::parse_rule(&p.smooth)?,
                    samples: positive("samples", p.samples)?,
                    sigma: p.sigma,
                    seed: p.seed,
                }
            }
            "integrated-gradients" => {
                Method::IntegratedGradients { steps: positive("steps", p.steps)?, baseline: p.baseline }
            }
            "grad-cam" | "guided-grad-cam" => {
                Method::GradCam { layer: p.layer.clone(), guided: name == "guided-grad-cam" }
            }
            "occlusion" => Method::Occlusion(OcclusionParams {
                window: [positive("window", p.window)?; 2],
                strides: [positive("stride", p.stride)?; 2],
                fill: p.fill,
                incremental: p.incremental.unwrap_or(true),
                approximate: match p.approximate {
                    Some(t) if !(t > 0.0 && t <= 1.0) => {
                        return Err(MethodError::BadArgument(format!(
                            "approximate occlusion's margin must lie in (0, 1], not {t}"
                        )));
                    }
                    a => a,
                },
                ..OcclusionParams::default()
            }),
            other => {
                return Err(MethodError::BadArgument(format!(
                    "unknown method '{other}' (one of {})",
                    Method::ALL_NAMES.join(", ")
                )));
            }
        })
    }

    /// Runs the method. `progress` hears of work as it completes; answering `false` cancels.
    pub async fn attribute(
        &self,
        net: &Network,
        input: &Tensor<4>,
        target: &Target,
        progress: &mut dyn Progress,
    ) -> Result<Attribution, MethodError> {
        check_single_image(input)?;
        match self {
            Method::Gradient(rule) => gradient::gradient(net, input, target, *rule).await,
            Method::SmoothGrad { rule, samples, sigma, seed } => {
                smoothgrad::smoothgrad(net, input, target, *rule, *samples, *sigma, *seed, progress).await
            }
            Method::IntegratedGradients { steps, baseline } => {
                integrated_gradients::integrated_gradients(net, input, target, *steps, *baseline, progress).await
            }
            Method::GradCam { layer, guided } => gradcam::grad_cam(net, input, target, layer.as_deref(), *guided).await,
            Method::Occlusion(p) => occlusion::occlusion(net, input, target, p, progress).await,
        }
    }
}

/// Methods explain one image; class bounds are checked where the scores are known.
fn check_single_image(input: &Tensor<4>) -> Result<(), MethodError> {
    let n = input.dims()[0];
    if n != 1 {
        return Err(MethodError::BadArgument(format!("explain one image at a time, got a batch of {n}")));
    }
    Ok(())
}

/// The target's score for each image of a batch, `[N]`: a pre-softmax class score, or a
/// channel's mean activation.
pub(crate) fn target_score(
    net: &Network,
    input: Tensor<4>,
    target: &Target,
    pass: &Pass,
) -> Result<Tensor<1>, MethodError> {
    match target {
        Target::Class(c) => {
            let scores = net.scores_with(input, pass)?;
            let [n, classes] = scores.dims();
            if *c >= classes {
                return Err(MethodError::BadArgument(format!("class {c} does not exist (the model has {classes})")));
            }
            Ok(scores.slice([0..n, *c..*c + 1]).reshape([n]))
        }
        Target::Channel { layer, channel } => {
            let acts = net.forward_with(input, &[layer.as_str()], pass)?;
            channel_mean(acts.get(layer)?, layer, *channel)
        }
    }
}

/// One channel's mean activation per image, `[N]`.
pub(crate) fn channel_mean(v: &crate::model::Value, layer: &str, channel: usize) -> Result<Tensor<1>, MethodError> {
    let (n, channels) = (v.shape[0], v.shape.get(1).copied().unwrap_or(1));
    if channel >= channels {
        return Err(MethodError::BadArgument(format!("channel {channel} does not exist ('{layer}' has {channels})")));
    }
    let one = v.tensor.clone().slice([0..n, channel..channel + 1]);
    Ok(one.mean_dims(&[1, 2, 3]).reshape([n]))
}

/// The first value of a score tensor, read back.
pub(crate) async fn first(t: Tensor<1>) -> Result<f32, MethodError> {
    Ok(crate::classify::read_f32(t).await?.first().copied().unwrap_or(f32::NAN))
}
