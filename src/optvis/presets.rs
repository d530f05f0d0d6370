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
