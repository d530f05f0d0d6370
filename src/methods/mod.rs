//! Attribution methods behind one contract (after Captum): given a bound network, an input
//! image and a target, each returns a map shaped like the input (or like a layer, for CAM
//! methods) plus the score it explained. One method per file; [`Method::ALL_NAMES`] is the
//! table the cross-cutting tests loop over.

pub mod gradcam;
pub mod occlusion;
pub mod saliency;

use burn::tensor::Tensor;
use thiserror::Error;

use crate::error::ModelError;
use crate::model::Network;

pub use occlusion::OcclusionParams;

/// What to explain.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// A class of the network's output (its pre-softmax score for gradient methods, its
    /// probability for occlusion).
    Class(usize),
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

/// The attribution methods, each one small file; variants are parameters.
#[derive(Debug, Clone, PartialEq)]
pub enum Method {
    /// Vanilla backprop: d score / d image.
    Saliency,
    /// Slide a patch over the image and record how much the target's probability drops.
    Occlusion(OcclusionParams),
    /// Grad-CAM at a named layer.
    GradCam { layer: String },
}

impl Method {
    pub const ALL_NAMES: &[&str] = &["saliency", "occlusion", "grad-cam"];

    pub fn name(&self) -> &'static str {
        match self {
            Method::Saliency => "saliency",
            Method::Occlusion(_) => "occlusion",
            Method::GradCam { .. } => "grad-cam",
        }
    }

    /// Runs the method. `progress(done, total)` is called as work completes; returning
    /// `false` cancels.
    pub async fn attribute(
        &self,
        net: &Network,
        input: &Tensor<4>,
        target: &Target,
        progress: &mut dyn FnMut(usize, usize) -> bool,
    ) -> Result<Attribution, MethodError> {
        check_single_image(input)?;
        match self {
            Method::Saliency => saliency::saliency(net, input, target).await,
            Method::Occlusion(p) => occlusion::occlusion(net, input, target, p, progress).await,
            Method::GradCam { layer } => gradcam::grad_cam(net, input, target, layer).await,
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

/// The target's score per batch row: `[N]` from the `[N, classes]` score output.
pub(crate) fn class_score(scores: &Tensor<2>, target: &Target) -> Result<Tensor<1>, MethodError> {
    let Target::Class(c) = *target;
    let [n, classes] = scores.dims();
    if c >= classes {
        return Err(MethodError::BadArgument(format!("class {c} does not exist (the model has {classes})")));
    }
    Ok(scores.clone().slice([0..n, c..c + 1]).reshape([n]))
}
