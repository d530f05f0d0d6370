//! Typed errors of the core. Each names what went wrong in words a user can act on;
//! the UI shows them once, as they are.

use thiserror::Error;

/// A model file that cannot be loaded or run.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum ModelError {
    /// The bytes are not an ONNX protobuf at all.
    #[error("not an ONNX model: {0}")]
    NotOnnx(String),
    /// The file parsed but has no graph, no input or no output.
    #[error("malformed model: {0}")]
    Malformed(String),
    /// An operator this executor does not implement.
    #[error("unsupported operator {op_type} (node '{node}'); supported: {supported}")]
    UnsupportedOp { op_type: String, node: String, supported: String },
    /// An operator is used with an attribute value or input this executor does not handle.
    #[error("node '{node}' ({op_type}): {message}")]
    BadNode { node: String, op_type: String, message: String },
    /// A tensor stored in the file has an element type that is not supported.
    #[error("tensor '{name}' has unsupported element type {data_type}")]
    UnsupportedDType { name: String, data_type: i32 },
    /// The model wants an input the caller did not give in the right shape.
    #[error("input shape {got:?} does not fit the model's input {expected}")]
    InputShape { got: Vec<usize>, expected: String },
    /// A requested activation ("tap") does not exist in the graph.
    #[error("no tensor named '{0}' in this model")]
    UnknownTap(String),
    /// The compute device failed while running or reading back. Its message starts with
    /// [`DEVICE_FAILED`]: the page restarts the worker on the CPU when an answer does.
    #[error("the compute device failed: {0}")]
    Device(String),
}

/// How every [`ModelError::Device`] message starts (tested to stay in step with it).
pub const DEVICE_FAILED: &str = "the compute device failed";

/// An image that cannot be used as input.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum ImageError {
    /// The bytes are not a picture in a format we read (PNG, JPEG, GIF, BMP, WebP).
    #[error("cannot read this file as an image ({0})")]
    Decode(String),
    /// The picture is larger than we are willing to decode in a browser tab.
    #[error("image is too large ({width}×{height}); the limit is {max} pixels on a side")]
    TooLarge { width: u32, height: u32, max: u32 },
    /// The picture has no pixels.
    #[error("image is empty")]
    Empty,
}
