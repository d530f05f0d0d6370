//! The dataset patches that most excite each channel: every image contributes its strongest
//! position per channel, the k strongest images are kept, and each is cropped to the unit's
//! receptive field (parts outside the image drawn grey).

use image::{Rgb, RgbImage};

use super::receptive::Field;

/// One image's strongest response in a channel.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Hit {
    pub value: f32,
    /// Index of the image in the dataset.
    pub image: usize,
    /// The unit's position in the activation map.
    pub y: usize,
    pub x: usize,
}

/// The `k` best hits of every channel, best first (ties: the earlier image first).
#[derive(Debug, Clone, PartialEq)]
pub struct TopK {
    k: usize,
    channels: Vec<Vec<Hit>>,
}

impl TopK {
    pub fn new(channels: usize, k: usize) -> Self {
        Self { k: k.max(1), channels: vec![Vec::new(); channels] }
    }

    pub fn channel_count(&self) -> usize {
        self.channels.len()
    }

    /// Adds a batch of activations `[n, C, H, W]` (channel-major per image) for images
    /// `first_image..first_image + n`.
    pub fn add_batch(&mut self, values: &[f32], n: usize, map: [usize; 2], first_image: usize) {
        let c = self.channels.len();
        let plane = map[0] * map[1];
        if plane == 0 || values.len() < n * c * plane {
            return;
        }
        for i in 0..n {
            for ch in 0..c {
                let tile = &values[(i * c + ch) * plane..(i * c + ch + 1) * plane];
                let mut best = (f32::NEG_INFINITY, 0usize);
                for (p, &v) in tile.iter().enumerate() {
                    if v > best.0 {
                        best = (v, p);
                    }
                }
                if best.0.is_finite() {
                    let hit = Hit { value: best.0, image: first_image + i, y: best.1 / map[1], x: best.1 % map[1] };
                    self.insert(ch, hit);
                }
            }
        }
    }

    fn insert(&mut self, ch: usize, hit: Hit) {
        let list = &mut self.channels[ch];
        if list.len() == self.k && list.last().is_some_and(|l| l.value >= hit.value) {
            return;
        }
        // After every hit at least as strong: earlier images win ties.
        let at = list.partition_point(|h| h.value >= hit.value);
        list.insert(at, hit);
        list.truncate(self.k);
    }

    /// Channel `c`'s best hits, best first.
    pub fn channel(&self, c: usize) -> &[Hit] {
        self.channels.get(c).map_or(&[], Vec::as_slice)
    }

    /// The `count` channels whose best hit is strongest, strongest first.
    pub fn most_active(&self, count: usize) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.channels.len()).filter(|&c| !self.channels[c].is_empty()).collect();
        order.sort_by(|&a, &b| self.channels[b][0].value.total_cmp(&self.channels[a][0].value).then(a.cmp(&b)));
        order.truncate(count);
        order
    }
}

/// Grey for the part of a field that falls outside the image.
pub const OUTSIDE: Rgb<u8> = Rgb([128, 128, 128]);

/// The part of `image` that unit (`hit.y`, `hit.x`) sees, at the field's full size.
pub fn crop(image: &RgbImage, field: &Field, hit: &Hit) -> RgbImage {
    let win = if field.global {
        super::receptive::Window { top: 0, left: 0, height: image.height() as usize, width: image.width() as usize }
    } else {
        field.window(hit.y, hit.x)
    };
    RgbImage::from_fn(win.width as u32, win.height as u32, |x, y| {
        let (iy, ix) = (win.top + y as i64, win.left + x as i64);
        if iy >= 0 && ix >= 0 && (iy as u32) < image.height() && (ix as u32) < image.width() {
            *image.get_pixel(ix as u32, iy as u32)
        } else {
            OUTSIDE
        }
    })
}

/// Crops laid out in rows (one row per channel), each scaled to `cell` pixels (nearest
/// neighbour when enlarging, so a 3-pixel field stays three sharp pixels).
pub fn sheet(rows: &[Vec<RgbImage>], cell: u32) -> RgbImage {
    let gap = 4u32;
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0) as u32;
    let mut out =
        RgbImage::from_pixel(cols * (cell + gap) + gap, rows.len() as u32 * (cell + gap) + gap, Rgb([250, 250, 250]));
    for (r, row) in rows.iter().enumerate() {
        for (c, patch) in row.iter().enumerate() {
            let filter = if patch.width() < cell {
                image::imageops::FilterType::Nearest
            } else {
                image::imageops::FilterType::Triangle
            };
            let scaled = image::imageops::resize(patch, cell, cell, filter);
            image::imageops::replace(
                &mut out,
                &scaled,
                (gap + c as u32 * (cell + gap)) as i64,
                (gap + r as u32 * (cell + gap)) as i64,
            );
        }
    }
    out
}
