//! convlens: look inside a CNN. The device-agnostic core: ONNX models executed with Burn,
//! image preprocessing and classification (feature `compute`), plus the page's state and the
//! page↔worker protocol. Browser glue lives in `worker` and `ui` (wasm only).

#[cfg(feature = "compute")]
pub mod anatomy;
pub mod app_state;
pub mod error;
pub mod lecture;
pub mod protocol;
pub mod quiz;

#[cfg(feature = "compute")]
pub mod classify;
#[cfg(feature = "compute")]
pub mod image;
#[cfg(feature = "compute")]
pub mod methods;
#[cfg(feature = "compute")]
pub mod model;
#[cfg(feature = "compute")]
pub mod optvis;
#[cfg(feature = "compute")]
pub mod render;

#[cfg(target_arch = "wasm32")]
pub mod ui;
#[cfg(target_arch = "wasm32")]
pub mod wire;
// Browser only: wasm32-wasip1 builds the examples for profiling wasm under Node (scripts/profile-wasm.sh).
#[cfg(all(target_arch = "wasm32", target_os = "unknown", feature = "compute"))]
pub mod worker;

#[cfg(feature = "compute")]
pub use burn::tensor::{Device, Tensor, TensorData};
pub use error::{ImageError, ModelError};
