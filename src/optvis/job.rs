//! The one place where an [`OptimizeJob`] (from the page, the URL or the CLI) becomes a run:
//! it picks the recipe for the kind, sizes the images, and runs the render loop, DeepDream's
//! octaves or the fooling loop. The browser worker and the CLI both call [`make`].

use burn::tensor::Tensor;
use image::RgbImage;

use super::dream::{DreamParams, dream};
use super::fool::{FoolParams, Fooled, fool};
use super::param::{Init, MEAN_RGB};
use super::presets::{style_transfer, visualize};
use super::render::RenderProgress;
use super::{Objective, OptvisError, render_with};
use crate::model::{ModelInfo, Network};
use crate::protocol::{MAX_OPT_SIZE, MAX_OPT_STEPS, OptimizeJob};

/// The pictures a job may start from.
#[derive(Default, Clone)]
pub struct Pictures {
    /// The user's photo (DeepDream, inversion, fooling; neural style's content).
    pub photo: Option<RgbImage>,
    /// Neural style's style image.
    pub style: Option<RgbImage>,
}

/// What a job made.
pub enum Made {
    /// The optimized image, `[1, 3, H, W]` in [0, 1].
    Image(Tensor<4>),
    /// A fooling image, with the photo it started from (same size).
    Fooled { photo: Tensor<4>, fooled: Fooled },
}

impl Made {
    pub fn image(&self) -> &Tensor<4> {
        match self {
            Made::Image(x) => x,
            Made::Fooled { fooled, .. } => &fooled.image,
        }
    }
}

/// The long side a job works at.
pub fn side(job: &OptimizeJob, info: &ModelInfo) -> usize {
    let size = if job.size == 0 { OptimizeJob::default_size(&job.kind) } else { job.size };
    let size = if size == 0 || job.kind == "fool" { info.input_size } else { size };
    // At least 32 px, unless the model's own input is smaller (28×28 Fashion-MNIST).
    size.clamp(32.min(info.input_size), MAX_OPT_SIZE)
}

/// Runs `job` on `net`; `progress` hears of every step and may stop the run.
pub async fn make(
    net: &Network,
    info: &ModelInfo,
    job: &OptimizeJob,
    pictures: &Pictures,
    progress: &mut dyn RenderProgress,
) -> Result<Made, OptvisError> {
    let device = net.device().clone();
    let side = side(job, info);
    let steps = job.steps.clamp(1, MAX_OPT_STEPS);
    let photo = |what: &str| -> Result<&RgbImage, OptvisError> {
        pictures
            .photo
            .as_ref()
            .ok_or_else(|| OptvisError::BadArgument(format!("{what} needs a photo: choose one first")))
    };
    // The model's own crop (what it classifies), or the whole photo fitted to `side`.
    let crop = |img: &RgbImage| {
        crate::image::to_tensor(
            &crate::image::center_crop(img, info.resize_shorter as u32, info.input_size as u32),
            &device,
        )
    };
    let fitted = |img: &RgbImage| crate::image::to_tensor(&crate::image::fit(img, side as u32), &device);
    let visual = |objective: Objective, init: Init| {
        let r = visualize(objective, &job.preset, init.image([side; 2], job.seed, &device), job.seed)?;
        Ok::<_, OptvisError>((r.objective, r.param, r.init, super::RenderParams { steps, ..r.render }))
    };
    let (objective, param, init, params) = match job.kind.as_str() {
        "class-vis" => visual(Objective::Class(job.class), Init::Constant(MEAN_RGB))?,
        "feature-vis" => {
            let (layer, channel) = (job.layer.clone(), job.channel);
            let o = if job.neuron {
                Objective::Neuron { layer, channel, at: None }
            } else {
                Objective::Channel { layer, channel }
            };
            visual(o, Init::Noise(0.05))?
        }
        "deepdream" => {
            let p = DreamParams { octaves: job.octaves.clamp(1, 8), steps, seed: job.seed, ..DreamParams::default() };
            let x =
                dream(net, &Objective::Dream { layer: job.layer.clone() }, fitted(photo("DeepDream")?), &p, progress)
                    .await?;
            return Ok(Made::Image(x));
        }
        "fool" => {
            let x = crop(photo("a fooling image")?);
            let p = FoolParams {
                target: job.class,
                epsilon: job.epsilon.clamp(1, 64),
                max_steps: steps,
                ..FoolParams::default()
            };
            let fooled = fool(net, x.clone(), &p, progress).await?;
            return Ok(Made::Fooled { photo: x, fooled });
        }
        "invert" => {
            let x = crop(photo("inversion")?);
            let o = Objective::content(net, x, &job.layer)? + 0.05 * Objective::TotalVariation;
            let init = Init::Noise(0.05).image([info.input_size; 2], job.seed, &device);
            let params = super::RenderParams { steps, seed: job.seed, ..super::RenderParams::default() };
            (o, super::Param::Pixels, init, params)
        }
        "style" => {
            let content = fitted(photo("neural style")?);
            let style = pictures
                .style
                .as_ref()
                .ok_or_else(|| OptvisError::BadArgument("neural style needs a style image: choose one first".into()))?;
            let layers: Vec<&str> = job.style_layers.iter().map(String::as_str).collect();
            let weights = [job.style_weight, job.tv_weight];
            let r = style_transfer(net, content, fitted(style), &job.layer, &layers, weights, job.seed)?;
            (r.objective, r.param, r.init, super::RenderParams { steps, ..r.render })
        }
        other => {
            return Err(OptvisError::BadArgument(format!(
                "unknown kind '{other}' (one of {})",
                crate::protocol::OPTIMIZE_KINDS.join(", ")
            )));
        }
    };
    Ok(Made::Image(render_with(net, &objective, &param, init, &params, progress).await?))
}
