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
    /// Perceptually uniform blue → green → yellow, for magnitudes.
    Viridis,
    /// A rainbow like the classic "jet", smoother and more even (Google's Turbo).
    Turbo,
    /// Diverging blue (low) → white → red (high), for signed maps.
    BlueRed,
}

impl Palette {
    /// The colour at `t` in [0, 1].
    pub fn rgb(self, t: f64) -> [u8; 3] {
        let c = match self {
            Palette::Inferno => colorous::INFERNO.eval_continuous(t),
            Palette::Viridis => colorous::VIRIDIS.eval_continuous(t),
            Palette::Turbo => colorous::TURBO.eval_continuous(t),
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
    blend_by(base, values, h, w, Scale::Signed, palette, alpha)
}

/// Like [`blend_signed`] for magnitudes (an activation map): zero leaves the photo untouched,
/// the largest value gets `alpha`.
pub fn blend_magnitude(base: &RgbImage, values: &[f32], h: usize, w: usize, palette: Palette, alpha: f32) -> RgbImage {
    blend_by(base, values, h, w, Scale::Magnitude, palette, alpha)
}

fn blend_by(
    base: &RgbImage,
    values: &[f32],
    h: usize,
    w: usize,
    scale: Scale,
    palette: Palette,
    alpha: f32,
) -> RgbImage {
    let (width, height) = base.dimensions();
    let t = normalise(values, scale);
    let gray: ImageBuffer<Luma<f32>, Vec<f32>> = ImageBuffer::from_raw(w as u32, h as u32, t).unwrap_or_default();
    let resized = if gray.dimensions() == (width, height) {
        gray
    } else {
        image::imageops::resize(&gray, width, height, FilterType::Triangle)
    };
    RgbImage::from_fn(width, height, |x, y| {
        let t = resized.get_pixel(x, y)[0].clamp(0.0, 1.0);
        let strength = if scale == Scale::Signed { (2.0 * t - 1.0).abs() } else { t };
        let a = alpha.clamp(0.0, 1.0) * strength;
        let c = palette.rgb(t as f64);
        let b = base.get_pixel(x, y);
        Rgb([0, 1, 2].map(|i| (a * c[i] as f32 + (1.0 - a) * b[i] as f32).round() as u8))
    })
}

/// An attribution drawn for people, and the value range its colours span (for the legend).
pub struct Picture {
    pub image: RgbImage,
    pub lo: f32,
    pub hi: f32,
}

/// The `q`-quantile (0..=1) of |values|.
pub fn abs_quantile(values: &[f32], q: f32) -> f32 {
    let mut a: Vec<f32> = values.iter().map(|v| v.abs()).filter(|v| v.is_finite()).collect();
    if a.is_empty() {
        return 0.0;
    }
    let k = ((a.len() - 1) as f32 * q.clamp(0.0, 1.0)).round() as usize;
    *a.select_nth_unstable_by(k, f32::total_cmp).1
}

/// Draws `a` for the crop it explains. Three-channel gradients become max |value| over channels
/// (or a signed colour image for [`View::Rgb`]); maps with negative values (occlusion) use the
/// diverging palette. Magnitudes saturate at their 99.5th percentile, so a few extreme pixels
/// do not wash out the rest (the legend says so by its upper bound).
pub fn picture(crop: &RgbImage, a: &crate::methods::Attribution, look: &crate::protocol::Look) -> Picture {
    use crate::protocol::{Colormap, View};
    let (view, opacity) = (look.view, look.opacity.clamp(0.0, 1.0));
    let palette = match look.colormap {
        Colormap::Inferno => Palette::Inferno,
        Colormap::Viridis => Palette::Viridis,
        Colormap::Turbo => Palette::Turbo,
    };
    if let (View::Rgb, [3, h, w]) = (view, a.shape.as_slice()) {
        return signed_rgb(&a.values, *h, *w);
    }
    let map = a.max_abs_over_channels();
    let [h, w] = [map.shape[0], map.shape.get(1).copied().unwrap_or(1)];
    let size = crop.width();
    if map.is_signed() {
        let (lo, hi) = range(&map.values, Scale::Signed);
        let image = match view {
            View::Overlay => blend_signed(crop, &map.values, h, w, Palette::BlueRed, opacity),
            _ => heatmap(&map.values, h, w, Scale::Signed, Palette::BlueRed, size),
        };
        return Picture { image, lo, hi };
    }
    let top = if map.values.len() >= 1000 {
        abs_quantile(&map.values, 0.995)
    } else {
        range(&map.values, Scale::Magnitude).1
    };
    let clipped: Vec<f32> = map.values.iter().map(|v| v.min(top)).collect();
    let heat = heatmap(&clipped, h, w, Scale::Magnitude, palette, size);
    let image = match view {
        View::Overlay => blend(crop, &heat, opacity),
        _ => heat,
    };
    Picture { image, lo: 0.0, hi: top }
}

/// A `[3, h, w]` signed map as colours around mid-grey: 0.5 + 0.15 · v / std, clipped (the
/// usual way guided-backprop images are shown). The legend spans the values at black and white.
pub fn signed_rgb(values: &[f32], h: usize, w: usize) -> Picture {
    let n = values.len().max(1) as f32;
    let mean = values.iter().sum::<f32>() / n;
    let std = (values.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / n).sqrt().max(f32::MIN_POSITIVE);
    let plane = h * w;
    let image = RgbImage::from_fn(w as u32, h as u32, |x, y| {
        let i = y as usize * w + x as usize;
        Rgb([0, 1, 2]
            .map(|c| ((0.5 + 0.15 * (values[c * plane + i] - mean) / std).clamp(0.0, 1.0) * 255.0).round() as u8))
    });
    let reach = std / 0.3;
    Picture { image, lo: mean - reach, hi: mean + reach }
}
