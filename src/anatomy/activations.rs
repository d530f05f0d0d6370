//! One layer's activations for one image as a grid of tiles: every channel is an image of its
//! own (a 64-channel block is 64 pictures), coloured with one colour scale for all tiles or
//! one per tile.

use image::{Rgb, RgbImage};

pub use crate::protocol::GridLayout;
use crate::render::Palette;

/// One colour scale for the whole layer, or one per channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Scaling {
    Shared,
    PerTile,
}

/// Picks a zoom so the whole grid is about `target` pixels wide (at least 1 pixel per value).
pub fn zoom_for(channels: usize, map: [usize; 2], target: u32) -> u32 {
    let cols = columns_for(channels) as u32;
    (target / (cols * map[1].max(1) as u32).max(1)).clamp(1, 16)
}

fn columns_for(channels: usize) -> usize {
    ((channels as f64).sqrt().ceil() as usize).max(1)
}

fn range_of(v: &[f32]) -> (f32, f32) {
    let lo = v.iter().copied().filter(|x| x.is_finite()).fold(f32::INFINITY, f32::min);
    let hi = v.iter().copied().filter(|x| x.is_finite()).fold(f32::NEG_INFINITY, f32::max);
    if lo.is_finite() && hi.is_finite() { (lo.min(0.0), hi) } else { (0.0, 0.0) }
}

/// Draws `values` (`[C, H, W]`, channel-major) as a grid. Scales start at 0 or the smallest
/// value if that is negative; a flat tile is drawn in the scale's lowest colour.
pub fn activation_grid(
    values: &[f32],
    channels: usize,
    map: [usize; 2],
    scaling: Scaling,
    palette: Palette,
    zoom: u32,
) -> (RgbImage, GridLayout) {
    let [h, w] = map;
    let plane = h * w;
    let zoom = zoom.max(1);
    let gap = 2u32;
    let columns = columns_for(channels);
    let rows = channels.div_ceil(columns).max(1);
    let shared = range_of(&values[..(channels * plane).min(values.len())]);
    let mut ranges = Vec::with_capacity(channels);
    let mut maxima = Vec::with_capacity(channels);
    let width = columns as u32 * (w as u32 * zoom + gap) + gap;
    let height = rows as u32 * (h as u32 * zoom + gap) + gap;
    let mut img = RgbImage::from_pixel(width, height, Rgb([250, 250, 250]));
    let lut: Vec<[u8; 3]> = (0..256).map(|i| palette.rgb(i as f64 / 255.0)).collect();
    for c in 0..channels {
        let tile = values.get(c * plane..(c + 1) * plane).unwrap_or(&[]);
        let (lo, hi) = match scaling {
            Scaling::Shared => shared,
            Scaling::PerTile => range_of(tile),
        };
        ranges.push((lo, hi));
        maxima.push(tile.iter().copied().filter(|v| v.is_finite()).fold(f32::NEG_INFINITY, f32::max));
        let span = hi - lo;
        let x0 = gap + (c % columns) as u32 * (w as u32 * zoom + gap);
        let y0 = gap + (c / columns) as u32 * (h as u32 * zoom + gap);
        for (i, &v) in tile.iter().enumerate() {
            let t = if span > 0.0 && v.is_finite() { ((v - lo) / span).clamp(0.0, 1.0) } else { 0.0 };
            let px = Rgb(lut[(t * 255.0).round() as usize]);
            let (y, x) = ((i / w) as u32, (i % w) as u32);
            for dy in 0..zoom {
                for dx in 0..zoom {
                    img.put_pixel(x0 + x * zoom + dx, y0 + y * zoom + dy, px);
                }
            }
        }
    }
    (img, GridLayout { channels, map, columns, rows, zoom, gap, ranges, maxima })
}
