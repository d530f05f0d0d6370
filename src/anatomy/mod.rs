//! Network anatomy: what a network has inside. Filter grids, activation grids, receptive
//! fields and max-activating dataset patches, nearest neighbours in code space, and t-SNE maps.

pub mod activations;
pub mod codes;
pub mod dataset;
pub mod filters;
pub mod patches;
pub mod plot;
pub mod receptive;
pub mod scan;
pub mod tsne;

pub use activations::{GridLayout, Scaling, activation_grid};
pub use codes::{nearest, penultimate_layer};
pub use dataset::Dataset;
pub use filters::{FilterBank, conv_layers, filter_bank, filter_grid};
pub use patches::{Hit, TopK};
pub use receptive::{Field, Window, receptive_fields};
pub use scan::{Scan, ScanWants, code_of, scan};

use thiserror::Error;

use crate::error::{ImageError, ModelError};

/// Why an anatomy view could not be made.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum AnatomyError {
    #[error("{0}")]
    Model(#[from] ModelError),
    #[error("{0}")]
    Image(#[from] ImageError),
    #[error("'{0}' is not a convolution with constant weights")]
    NotConvolution(String),
    #[error("no layer named '{0}' in this model")]
    NoLayer(String),
    #[error("layer '{layer}' has {channels} channels; there is no channel {channel}")]
    NoChannel { layer: String, channel: usize, channels: usize },
    #[error("the dataset is empty: {0}")]
    EmptyDataset(String),
    #[error("the dataset cannot be read: {0}")]
    BadDataset(String),
    #[error("this model has no bundled dataset; open a folder of images instead")]
    NoBundledDataset,
    #[error("t-SNE: {0}")]
    Tsne(String),
    #[error("stopped")]
    Cancelled,
}
