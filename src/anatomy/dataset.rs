//! A set of images to run through a model: a model's bundled dataset (a tile atlas PNG and its
//! JSON) or the user's own pictures. Every image is kept at the model's input size, ready to
//! batch, as RGB (grey images have equal channels).

use burn::tensor::{Device, Tensor};
use image::RgbImage;

use super::AnatomyError;
use crate::model::ModelInfo;

/// Most user images a dataset keeps (the rest are skipped, and said so).
pub const MAX_IMAGES: usize = crate::protocol::MAX_DATASET_IMAGES;

/// What the bundled dataset's JSON says about its atlas.
#[derive(Debug, Clone, serde::Deserialize)]
struct AtlasMeta {
    name: String,
    tile: usize,
    columns: usize,
    count: usize,
    classes: Vec<String>,
    labels: Vec<usize>,
    #[serde(default)]
    test_index: Vec<usize>,
}

#[derive(Debug, Clone)]
pub struct Dataset {
    pub name: String,
    /// Images at the model's input size.
    pub images: Vec<RgbImage>,
    /// Class of each image, where known.
    pub labels: Option<Vec<usize>>,
    pub classes: Vec<String>,
    /// Where each image came from (a file name, or its index in the original set).
    pub sources: Vec<String>,
}

impl Dataset {
    pub fn len(&self) -> usize {
        self.images.len()
    }

    pub fn is_empty(&self) -> bool {
        self.images.is_empty()
    }

    /// A bundled dataset: `png` is a grid of `tile`-pixel square tiles, `columns` per row, in
    /// the order of the JSON's `labels`. Tiles are resized to `side` if the model wants another size.
    pub fn from_atlas(png: &[u8], json: &[u8], side: usize) -> Result<Self, AnatomyError> {
        let meta: AtlasMeta =
            serde_json::from_slice(json).map_err(|e| AnatomyError::BadDataset(format!("dataset description: {e}")))?;
        let atlas = crate::image::decode_rgb(png)?;
        let (t, cols) = (meta.tile, meta.columns);
        if t == 0 || cols == 0 || meta.labels.len() != meta.count {
            return Err(AnatomyError::BadDataset("tile size, columns and labels disagree".into()));
        }
        let rows = meta.count.div_ceil(cols);
        if (atlas.width() as usize) < cols * t || (atlas.height() as usize) < rows * t {
            return Err(AnatomyError::BadDataset(format!(
                "the atlas is {}×{}, too small for {} tiles of {t} px in {cols} columns",
                atlas.width(),
                atlas.height(),
                meta.count
            )));
        }
        if meta.labels.iter().any(|&l| l >= meta.classes.len()) {
            return Err(AnatomyError::BadDataset("a label names no class".into()));
        }
        let images = (0..meta.count)
            .map(|i| {
                let (x, y) = ((i % cols * t) as u32, (i / cols * t) as u32);
                let tile = image::imageops::crop_imm(&atlas, x, y, t as u32, t as u32).to_image();
                if t == side {
                    tile
                } else {
                    image::imageops::resize(&tile, side as u32, side as u32, image::imageops::FilterType::Triangle)
                }
            })
            .collect();
        let sources = if meta.test_index.len() == meta.count {
            meta.test_index.iter().map(|i| format!("test image {i}")).collect()
        } else {
            (0..meta.count).map(|i| format!("image {i}")).collect()
        };
        Ok(Self { name: meta.name, images, labels: Some(meta.labels), classes: meta.classes, sources })
    }

    /// The user's pictures, each prepared like a photo to classify (shorter side resized,
    /// centre crop). Files that are not images are skipped; their names and reasons come back.
    pub fn from_files(
        name: &str,
        files: Vec<(String, Vec<u8>)>,
        info: &ModelInfo,
    ) -> Result<(Self, Vec<String>), AnatomyError> {
        let mut images = Vec::new();
        let mut sources = Vec::new();
        let mut skipped = Vec::new();
        for (file, bytes) in files {
            if images.len() >= MAX_IMAGES {
                skipped.push(format!("{file}: more than {MAX_IMAGES} images"));
                continue;
            }
            match crate::image::decode_rgb(&bytes) {
                Ok(img) => {
                    images.push(crate::image::center_crop(&img, info.resize_shorter as u32, info.input_size as u32));
                    sources.push(file);
                }
                Err(e) => skipped.push(format!("{file}: {e}")),
            }
        }
        if images.is_empty() {
            return Err(AnatomyError::EmptyDataset(if skipped.is_empty() {
                "no files".into()
            } else {
                format!("none of the {} files is an image we can read", skipped.len())
            }));
        }
        Ok((Self { name: name.to_string(), images, labels: None, classes: Vec::new(), sources }, skipped))
    }

    /// Images `range` as one `[n, 3, side, side]` batch in [0, 1].
    pub fn batch(&self, range: std::ops::Range<usize>, device: &Device) -> Tensor<4> {
        let start = range.start.min(self.len());
        let end = range.end.clamp(start, self.len());
        Tensor::from_data(crate::image::to_nchw(&self.images[start..end]), device)
    }

    /// The class name of image `i`, where known.
    pub fn label_of(&self, i: usize) -> Option<&str> {
        let l = *self.labels.as_ref()?.get(i)?;
        self.classes.get(l).map(String::as_str)
    }
}
