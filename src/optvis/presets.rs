//! Known recipes, ready to run: each gives the objective, the parameterization, the starting
//! image and the loop's settings.

use burn::tensor::{Device, Tensor};

use super::param::{Init, MEAN_RGB, Param};
use super::{Objective, RenderParams};

/// A recipe's parts.
pub struct Recipe {
    pub objective: Objective,
    pub param: Param,
    pub init: Tensor<4>,
    pub render: RenderParams,
}

/// Class-model visualization, CS231n-style: maximise the class's pre-softmax score (minus a
/// little total variation) over the pixels, starting from the mean image (the "zero image" of a
/// mean-subtracted network), with Lucid's transforms each step and a light blur every 4 steps.
/// 64 steps; with SqueezeNet the result is the target class's top-1 for at least 18 of 20
/// varied classes (`tests/optvis.rs`).
pub fn class_vis(class: usize, side: usize, seed: u64, device: &Device) -> Recipe {
    Recipe {
        objective: Objective::Class(class) - 0.05 * Objective::TotalVariation,
        param: Param::Pixels,
        init: Init::Constant(MEAN_RGB).image([side; 2], seed, device),
        render: RenderParams { steps: 64, seed, ..RenderParams::default() },
    }
}

/// The layers neural style matches: early ones for texture and colour, a middle one for shapes.
pub const STYLE_LAYERS: &[&str] = &["conv1", "fire2/concat", "fire3/concat", "fire5/concat"];
/// The layer whose features keep the content.
pub const CONTENT_LAYER: &str = "fire5/concat";

/// Neural style (Gatys et al.): keep `content`'s features at [`CONTENT_LAYER`], match `style`'s
/// Gram matrices at [`STYLE_LAYERS`], a little total variation; start from the content image, no
/// random transforms, 100 steps.
pub fn style_transfer(
    net: &crate::model::Network,
    content: Tensor<4>,
    style: Tensor<4>,
    seed: u64,
) -> Result<Recipe, super::OptvisError> {
    let objective = Objective::content(net, content.clone(), CONTENT_LAYER)?
        + 1e3 * Objective::style(net, style, STYLE_LAYERS)?
        - 0.1 * Objective::TotalVariation;
    Ok(Recipe {
        objective,
        param: Param::Pixels,
        init: content,
        render: RenderParams {
            steps: 100,
            learning_rate: 0.02,
            transforms: Vec::new(),
            blur_every: 0,
            seed,
            ..RenderParams::default()
        },
    })
}
