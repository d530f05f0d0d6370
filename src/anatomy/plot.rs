//! A 2-D map (t-SNE) as a picture: class-coloured dots or image thumbnails, and the user's own
//! image marked with a ring.

use image::{Rgb, RgbImage};

/// Ten well-separated colours (Tableau 10), for class labels.
pub fn class_colour(label: usize) -> [u8; 3] {
    let c = colorous::TABLEAU10[label % colorous::TABLEAU10.len()];
    [c.r, c.g, c.b]
}

/// Where each point lands in a `size`-pixel square with a `margin`: the points' bounding box
/// scaled uniformly (aspect kept) and centred.
pub fn fit_points(points: &[f32], size: u32, margin: u32) -> Vec<[f32; 2]> {
    let n = points.len() / 2;
    if n == 0 {
        return Vec::new();
    }
    let (mut lo, mut hi) = ([f32::INFINITY; 2], [f32::NEG_INFINITY; 2]);
    for p in points.chunks_exact(2) {
        for a in 0..2 {
            lo[a] = lo[a].min(p[a]);
            hi[a] = hi[a].max(p[a]);
        }
    }
    let span = (hi[0] - lo[0]).max(hi[1] - lo[1]).max(1e-6);
    let inner = size.saturating_sub(2 * margin).max(1) as f32;
    let centre = [(lo[0] + hi[0]) / 2.0, (lo[1] + hi[1]) / 2.0];
    points.chunks_exact(2).map(|p| [0, 1].map(|a| size as f32 / 2.0 + (p[a] - centre[a]) / span * inner)).collect()
}

fn disc(img: &mut RgbImage, cx: f32, cy: f32, r: f32, colour: [u8; 3], ring: bool) {
    let (w, h) = img.dimensions();
    let (x0, x1) = ((cx - r - 1.0).floor().max(0.0) as u32, ((cx + r + 1.0).ceil() as u32).min(w));
    let (y0, y1) = ((cy - r - 1.0).floor().max(0.0) as u32, ((cy + r + 1.0).ceil() as u32).min(h));
    for y in y0..y1 {
        for x in x0..x1 {
            let d = ((x as f32 + 0.5 - cx).powi(2) + (y as f32 + 0.5 - cy).powi(2)).sqrt();
            let inside = if ring { (d - r).abs() <= 1.5 } else { d <= r };
            if inside {
                img.put_pixel(x, y, Rgb(colour));
            }
        }
    }
}

/// The map as a `size`-pixel square: `points` (`n × 2`) drawn as thumbnails (if given, one
/// per point, `thumb` pixels) or as dots coloured by `labels`; `you` (in the points' space)
/// is ringed in black.
pub fn scatter(
    points: &[f32],
    labels: Option<&[usize]>,
    thumbs: Option<&[RgbImage]>,
    you: Option<[f32; 2]>,
    size: u32,
    thumb: u32,
) -> RgbImage {
    let mut all = points.to_vec();
    if let Some(p) = you {
        all.extend(p);
    }
    let at = fit_points(&all, size, thumb.max(8));
    let mut img = RgbImage::from_pixel(size, size, Rgb([255, 255, 255]));
    let n = points.len() / 2;
    for (i, p) in at.iter().take(n).enumerate() {
        match thumbs.and_then(|t| t.get(i)) {
            Some(t) => {
                let small = image::imageops::resize(t, thumb, thumb, image::imageops::FilterType::Triangle);
                let half = thumb as f32 / 2.0;
                image::imageops::replace(&mut img, &small, (p[0] - half) as i64, (p[1] - half) as i64);
            }
            None => {
                let colour = labels.and_then(|l| l.get(i)).map_or([80, 80, 80], |&l| class_colour(l));
                disc(&mut img, p[0], p[1], 2.5, colour, false);
            }
        }
    }
    if let (Some(_), Some(p)) = (you, at.get(n)) {
        disc(&mut img, p[0], p[1], 9.0, [0, 0, 0], true);
        disc(&mut img, p[0], p[1], 3.0, [0, 0, 0], false);
    }
    img
}
