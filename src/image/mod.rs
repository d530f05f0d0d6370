//! Input images: safe decoding, the classic evaluation crop (shorter side to N, centre crop),
//! and conversion to an NCHW RGB tensor in [0, 1]. Shared by the CLI and the browser.

use std::io::Cursor;

use burn::tensor::{Device, Tensor, TensorData};
use image::imageops::FilterType;
use image::{ImageReader, RgbImage};

use crate::error::ImageError;

/// Largest side we decode: enough for any photo, small enough for a browser tab.
pub const MAX_SIDE: u32 = 12_000;

/// Decodes PNG/JPEG/GIF/BMP/WebP bytes to RGB, refusing absurd sizes before allocating.
pub fn decode_rgb(bytes: &[u8]) -> Result<RgbImage, ImageError> {
    if bytes.is_empty() {
        return Err(ImageError::Empty);
    }
    let reader =
        ImageReader::new(Cursor::new(bytes)).with_guessed_format().map_err(|e| ImageError::Decode(e.to_string()))?;
    if reader.format().is_none() {
        return Err(ImageError::Decode("unknown file format".into()));
    }
    let (width, height) = reader.into_dimensions().map_err(|e| ImageError::Decode(e.to_string()))?;
    if width > MAX_SIDE || height > MAX_SIDE {
        return Err(ImageError::TooLarge { width, height, max: MAX_SIDE });
    }
    if width == 0 || height == 0 {
        return Err(ImageError::Empty);
    }
    let mut reader =
        ImageReader::new(Cursor::new(bytes)).with_guessed_format().map_err(|e| ImageError::Decode(e.to_string()))?;
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(1 << 30);
    reader.limits(limits);
    let decode = |e: image::ImageError| ImageError::Decode(e.to_string());
    let mut decoder = reader.into_decoder().map_err(decode)?;
    // A phone photo stores its pixels sideways and the way up in EXIF: show it as taken.
    let orientation =
        image::ImageDecoder::orientation(&mut decoder).unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut img = image::DynamicImage::from_decoder(decoder).map_err(decode)?;
    img.apply_orientation(orientation);
    // 16-bit, grey, alpha, CMYK (converted by the JPEG decoder) and palette images all become
    // 8-bit RGB; an animated GIF gives its first frame.
    Ok(img.to_rgb8())
}

/// Resizes so the shorter side is `shorter` (bilinear, antialiased when shrinking), then
/// takes the centred `crop`×`crop` square.
pub fn center_crop(img: &RgbImage, shorter: u32, crop: u32) -> RgbImage {
    let (w, h) = img.dimensions();
    let shorter = shorter.max(crop);
    let (nw, nh) = if w <= h {
        (shorter, ((h as u64 * shorter as u64 + w as u64 / 2) / w as u64).max(crop as u64) as u32)
    } else {
        (((w as u64 * shorter as u64 + h as u64 / 2) / h as u64).max(crop as u64) as u32, shorter)
    };
    let resized = image::imageops::resize(img, nw, nh, FilterType::Triangle);
    let left = (nw - crop) / 2;
    let top = (nh - crop) / 2;
    image::imageops::crop_imm(&resized, left, top, crop, crop).to_image()
}

/// Resizes so the longer side is `long` (aspect kept, bilinear, antialiased when shrinking).
pub fn fit(img: &RgbImage, long: u32) -> RgbImage {
    let (w, h) = img.dimensions();
    let long = long.max(1);
    let (nw, nh) = if w >= h {
        (long, ((h as u64 * long as u64 + w as u64 / 2) / w.max(1) as u64).max(1) as u32)
    } else {
        (((w as u64 * long as u64 + h as u64 / 2) / h.max(1) as u64).max(1) as u32, long)
    };
    if (nw, nh) == (w, h) {
        return img.clone();
    }
    image::imageops::resize(img, nw, nh, FilterType::Triangle)
}

/// RGB pixels as `[1, 3, H, W]` floats in [0, 1].
pub fn to_chw(img: &RgbImage) -> TensorData {
    to_nchw(std::slice::from_ref(img))
}

/// Images of one size as a `[N, 3, H, W]` batch in [0, 1] (the first image's size; pixels of a
/// differently sized image beyond it are left out).
pub fn to_nchw(images: &[RgbImage]) -> TensorData {
    let (w, h) = images.first().map_or((1, 1), |i| i.dimensions());
    let plane = (w * h) as usize;
    let mut data = vec![0f32; images.len() * 3 * plane];
    for (k, img) in images.iter().enumerate() {
        for (i, p) in img.pixels().enumerate().take(plane) {
            for c in 0..3 {
                data[(k * 3 + c) * plane + i] = p[c] as f32 / 255.0;
            }
        }
    }
    TensorData::new(data, [images.len(), 3, h as usize, w as usize])
}

/// The inverse of [`to_chw`]: channel-major floats (`3·h·w`, values clamped to [0, 1]) as RGB.
pub fn from_chw(data: &[f32], h: usize, w: usize) -> RgbImage {
    let plane = h * w;
    RgbImage::from_fn(w as u32, h as u32, |x, y| {
        let i = y as usize * w + x as usize;
        image::Rgb([0, 1, 2].map(|c| (data[c * plane + i].clamp(0.0, 1.0) * 255.0).round() as u8))
    })
}

/// Uploads an RGB image as an input tensor.
pub fn to_tensor(img: &RgbImage, device: &Device) -> Tensor<4> {
    Tensor::from_data(to_chw(img), device)
}

/// Encodes an RGB image as PNG bytes (for showing the crop in the page).
pub fn encode_png(img: &RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    // Encoding an in-memory RGB8 buffer to PNG cannot fail except on allocation.
    let _ = img.write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png);
    out
}
