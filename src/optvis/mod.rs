//! Optimization over the image (after Lucid/Lucent): freeze the weights and make the image the
//! parameter. Four parts: [`objective`] (what to maximise, composable), [`param`] (how the image
//! is represented), [`transform`] (random jitter and friends, for robustness), and one
//! [`render`] loop that yields progress and stops on cancel.

pub mod dream;
pub mod fool;
pub mod job;
pub mod objective;
pub mod param;
pub mod presets;
pub mod render;
pub mod transform;

pub use objective::Objective;
pub use param::Param;
pub use render::{Optimizer, RenderParams, Step, render, render_with};

/// The methods' error type serves here too: a model error, a bad argument, or cancelled.
pub type OptvisError = crate::methods::MethodError;
