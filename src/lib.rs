//! convlens: look inside a CNN. The device-agnostic core: ONNX models executed with Burn,
//! image preprocessing and classification. Browser glue lives in `worker` and `ui` (wasm only).

pub mod app_state;
pub mod classify;
pub mod error;
pub mod image;
pub mod model;

#[cfg(target_arch = "wasm32")]
pub mod ui;
#[cfg(target_arch = "wasm32")]
pub mod worker;

pub mod protocol;

pub use burn::tensor::{Device, Tensor, TensorData};
pub use error::{ImageError, ModelError};
