//! Custom hooks.

mod use_png_url;

pub use use_png_url::use_png_url;
