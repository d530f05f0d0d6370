//! One component per file.

mod anatomy_panel;
mod class_names;
mod crop_view;
mod explain_panel;
mod image_input;
mod lecture_card;
mod map_figure;
mod optimize_panel;
mod predictions;
mod quiz_panel;
mod seeing_note;
mod shortcut_sheet;
mod status_bar;
mod tsne_map;
mod webcam;

pub use anatomy_panel::{AnatomyPanel, AnatomyRequest};
pub use class_names::ClassNames;
pub use crop_view::CropView;
pub use explain_panel::ExplainPanel;
pub use image_input::{FASHION_SAMPLES, ImageInput, SAMPLES, read_file};
pub use lecture_card::LectureCard;
pub use map_figure::MapFigure;
pub use optimize_panel::OptimizePanel;
pub use predictions::Predictions;
pub use quiz_panel::QuizPanel;
pub use seeing_note::SeeingNote;
pub use shortcut_sheet::ShortcutSheet;
pub use status_bar::StatusBar;
pub use webcam::Webcam;
