//! Pictures from numbers: attribution maps normalised, coloured with a perceptual colormap
//! (d3's, via `colorous`), resized to the image and blended over it, plus the legend's scale.

use image::imageops::FilterType;
use image::{ImageBuffer, Luma, Rgb, RgbImage};

/// How a map's values become colours.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scale {
    /// 0 → first colour, the largest value → last (magnitudes: |gradient|, Grad-CAM, occlusion drop).
    Magnitude,
    /// Symmetric around 0: −m → first colour, 0 → middle, +m → last (signed gradients).
    Signed,
}

/// Colormaps (d3's, from `colorous`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Palette {
    /// Perceptually uniform dark → bright, for magnitudes.
    Inferno,
    /// Diverging blue (low) → white → red (high), for signed maps.
    BlueRed,
}

impl Palette {
    /// The colour at `t` in [0, 1].
    pub fn rgb(self, t: f64) -> [u8; 3] {
        let c = match self {
            Palette::Inferno => colorous::INFERNO.eval_continuous(t),
            Palette::BlueRed => colorous::RED_BLUE.eval_continuous(1.0 - t),
        };
        [c.r, c.g, c.b]
    }
}

/// The value range a legend shows for a map drawn with `scale`.
pub fn range(values: &[f32], scale: Scale) -> (f32, f32) {
    let finite = values.iter().copied().filter(|v| v.is_finite());
    match scale {
        Scale::Magnitude => (0.0, finite.fold(0.0, f32::max)),
        Scale::Signed => {
            let m = finite.fold(0.0f32, |m, v| m.max(v.abs()));
            (-m, m)
        }
    }
}

/// Maps each value to [0, 1] for the colormap (a constant map becomes all zeros).
pub fn normalise(values: &[f32], scale: Scale) -> Vec<f32> {
    let (lo, hi) = range(values, scale);
    let span = hi - lo;
    values.iter().map(|&v| if span > 0.0 && v.is_finite() { ((v - lo) / span).clamp(0.0, 1.0) } else { 0.0 }).collect()
}

/// Colours an `[h, w]` map, resized (bilinear) to `size`×`size`.
pub fn heatmap(values: &[f32], h: usize, w: usize, scale: Scale, palette: Palette, size: u32) -> RgbImage {
    let t = normalise(values, scale);
    let gray: ImageBuffer<Luma<f32>, Vec<f32>> = ImageBuffer::from_raw(w as u32, h as u32, t).unwrap_or_default();
    let resized = if gray.dimensions() == (size, size) {
        gray
    } else {
        image::imageops::resize(&gray, size, size, FilterType::Triangle)
    };
    RgbImage::from_fn(size, size, |x, y| Rgb(palette.rgb(resized.get_pixel(x, y)[0].clamp(0.0, 1.0) as f64)))
}

/// `alpha`·overlay + (1 − alpha)·base, pixel by pixel (both the same size).
pub fn blend(base: &RgbImage, overlay: &RgbImage, alpha: f32) -> RgbImage {
    let a = alpha.clamp(0.0, 1.0);
    RgbImage::from_fn(base.width(), base.height(), |x, y| {
        let (b, o) = (base.get_pixel(x, y), overlay.get_pixel(x.min(overlay.width() - 1), y.min(overlay.height() - 1)));
        Rgb([0, 1, 2].map(|i| (a * o[i] as f32 + (1.0 - a) * b[i] as f32).round() as u8))
    })
}

/// Blends a signed map's colours over `base` with opacity growing with |value|: zero leaves the
/// photo untouched, the extremes get `alpha`. `values` is an `[h, w]` map (resized to `base`).
pub fn blend_signed(base: &RgbImage, values: &[f32], h: usize, w: usize, palette: Palette, alpha: f32) -> RgbImage {
    let (width, height) = base.dimensions();
    let t = normalise(values, Scale::Signed);
    let gray: ImageBuffer<Luma<f32>, Vec<f32>> = ImageBuffer::from_raw(w as u32, h as u32, t).unwrap_or_default();
    let resized = if gray.dimensions() == (width, height) {
        gray
    } else {
        image::imageops::resize(&gray, width, height, FilterType::Triangle)
    };
    RgbImage::from_fn(width, height, |x, y| {
        let t = resized.get_pixel(x, y)[0].clamp(0.0, 1.0);
        let a = alpha.clamp(0.0, 1.0) * (2.0 * t - 1.0).abs();
        let c = palette.rgb(t as f64);
        let b = base.get_pixel(x, y);
        Rgb([0, 1, 2].map(|i| (a * c[i] as f32 + (1.0 - a) * b[i] as f32).round() as u8))
    })
}
