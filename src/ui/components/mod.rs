//! One component per file.

mod anatomy_panel;
mod crop_view;
mod explain_panel;
mod image_input;
mod map_figure;
mod optimize_panel;
mod predictions;
mod status_bar;
mod tsne_map;

pub use anatomy_panel::{AnatomyPanel, AnatomyRequest};
pub use crop_view::CropView;
pub use explain_panel::ExplainPanel;
pub use image_input::{ImageInput, read_file};
pub use map_figure::MapFigure;
pub use optimize_panel::OptimizePanel;
pub use predictions::Predictions;
pub use status_bar::StatusBar;
