//! Known recipes, ready to run: each gives the objective, the parameterization, the starting
//! image and the loop's settings.

use burn::tensor::{Device, Tensor};

use super::param::{FourierBasis, Init, MEAN_RGB, Param};
use super::{Objective, OptvisError, RenderParams};

/// A recipe's parts.
pub struct Recipe {
    pub objective: Objective,
    pub param: Param,
    pub init: Tensor<4>,
    pub render: RenderParams,
}

/// Class-model visualization with the default preset: maximise the class's pre-softmax score
/// (minus a little total variation) over the pixels, starting from the mean image (the "zero
/// image" of a mean-subtracted network), with Lucid's transforms each step and a light blur
/// every 4 steps. 64 steps; with SqueezeNet the result is the target class's top-1 for at least
/// 18 of 20 varied classes (`tests/optvis.rs`).
pub fn class_vis(class: usize, side: usize, seed: u64, device: &Device) -> Recipe {
    let init = Init::Constant(MEAN_RGB).image([side; 2], seed, device);
    let r = visualize(Objective::Class(class), "default", init, seed);
    r.unwrap_or_else(|_| unreachable!("the default preset exists"))
}

/// A recipe for making `objective` (a class, channel or neuron) visible, starting from `init`:
/// - `default`: pixels, −0.05·total variation, pad/jitter/scale/rotate each step, blur σ 0.5
///   every 4 steps (the tested one);
/// - `cs231n`: the course's recipe — pixels, L2 decay, jitter, blur every 10 steps;
/// - `yosinski`: Yosinski et al. 2015's regularisers — decay, blur σ 1 every 4 steps, and
///   clipping the pixels of smallest norm and smallest contribution;
/// - `lucid`: Olah et al.'s decorrelated Fourier image with the transforms and no blur.
pub fn visualize(objective: Objective, preset: &str, init: Tensor<4>, seed: u64) -> Result<Recipe, OptvisError> {
    use super::transform::Transform;
    let [_, _, h, w] = init.dims();
    let device = init.device();
    let base = RenderParams { steps: 64, seed, ..RenderParams::default() };
    let recipe = match preset {
        "default" => {
            Recipe { objective: objective + 0.05 * Objective::TotalVariation, param: Param::Pixels, init, render: base }
        }
        "cs231n" => Recipe {
            objective: objective + 5.0 * Objective::L2,
            param: Param::Pixels,
            init,
            render: RenderParams { transforms: vec![Transform::Jitter(16)], blur_every: 10, ..base },
        },
        "yosinski" => Recipe {
            objective,
            param: Param::Pixels,
            init,
            render: RenderParams {
                transforms: vec![Transform::Jitter(8)],
                decay: 0.01,
                blur_every: 4,
                blur_sigma: 1.0,
                norm_clip: 0.1,
                contribution_clip: 0.1,
                ..base
            },
        },
        "lucid" => Recipe {
            objective,
            param: Param::Fourier(FourierBasis::new([h, w], 1.0, &device)),
            init,
            render: RenderParams { blur_every: 0, ..base },
        },
        other => {
            return Err(OptvisError::BadArgument(format!(
                "unknown preset '{other}' (one of {})",
                crate::protocol::OPTIMIZE_PRESETS.join(", ")
            )));
        }
    };
    // The recipes' pixel shifts are meant for ~224-pixel images; a small one gets smaller shifts.
    let mut recipe = recipe;
    recipe.render.transforms = recipe.render.transforms.iter().map(|t| t.for_side(h.min(w))).collect();
    Ok(recipe)
}

/// The layers neural style matches: early ones for texture and colour, a middle one for shapes.
pub const STYLE_LAYERS: &[&str] = &["conv1", "fire2/concat", "fire3/concat", "fire5/concat"];
/// The layer whose features keep the content.
pub const CONTENT_LAYER: &str = "fire5/concat";

/// Neural style (Gatys et al.): keep `content`'s features at `content_layer`, match `style`'s
/// Gram matrices at `style_layers` (weighted by `style_weight`), minus `tv_weight` total
/// variation; start from the content image, no random transforms, 200 Adam steps with the rate
/// falling from 0.05 to 0.01 (a cosine): the style loss falls by more than 90% (`tests/optvis.rs`). The defaults are
/// [`CONTENT_LAYER`], [`STYLE_LAYERS`], 5 and 1 (the losses are relative, see [`Objective::Style`]).
pub fn style_transfer(
    net: &crate::model::Network,
    content: Tensor<4>,
    style: Tensor<4>,
    content_layer: &str,
    style_layers: &[&str],
    [style_weight, tv_weight]: [f32; 2],
    seed: u64,
) -> Result<Recipe, OptvisError> {
    if style_layers.is_empty() {
        return Err(OptvisError::BadArgument("neural style needs at least one style layer".into()));
    }
    let objective = Objective::content(net, content.clone(), content_layer)?
        + style_weight * Objective::style(net, style, style_layers)?
        + tv_weight * Objective::TotalVariation;
    Ok(Recipe {
        objective,
        param: Param::Pixels,
        init: content,
        render: RenderParams {
            steps: 200,
            learning_rate: 0.05,
            final_rate: 0.2,
            transforms: Vec::new(),
            blur_every: 0,
            seed,
            ..RenderParams::default()
        },
    })
}
