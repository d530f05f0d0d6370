//! Heatmap colouring and blending on tiny maps with exact answers.

use convlens::render::{Palette, Scale, blend, blend_magnitude, blend_signed, heatmap, normalise, range};
use image::{Rgb, RgbImage};

#[test]
fn magnitude_maps_run_from_zero_to_the_maximum() {
    assert_eq!(range(&[0.5, 2.0, 1.0], Scale::Magnitude), (0.0, 2.0));
    assert_eq!(normalise(&[0.0, 1.0, 2.0], Scale::Magnitude), vec![0.0, 0.5, 1.0]);
    assert_eq!(normalise(&[3.0, 3.0], Scale::Magnitude), vec![1.0, 1.0]);
    assert_eq!(normalise(&[0.0, 0.0], Scale::Magnitude), vec![0.0, 0.0]);
    assert_eq!(normalise(&[f32::NAN, 1.0], Scale::Magnitude), vec![0.0, 1.0]);
}

#[test]
fn signed_maps_put_zero_in_the_middle() {
    assert_eq!(range(&[-1.0, 4.0], Scale::Signed), (-4.0, 4.0));
    assert_eq!(normalise(&[-4.0, 0.0, 4.0, 2.0], Scale::Signed), vec![0.0, 0.5, 1.0, 0.75]);
}

#[test]
fn heatmap_uses_the_colormap_ends() {
    let hi = colorous::INFERNO.eval_continuous(1.0);
    let lo = colorous::INFERNO.eval_continuous(0.0);
    let img = heatmap(&[5.0], 1, 1, Scale::Magnitude, Palette::Inferno, 3);
    assert_eq!(img.dimensions(), (3, 3));
    assert!(img.pixels().all(|p| *p == Rgb([hi.r, hi.g, hi.b])));
    let img = heatmap(&[0.0; 4], 2, 2, Scale::Magnitude, Palette::Inferno, 4);
    assert!(img.pixels().all(|p| *p == Rgb([lo.r, lo.g, lo.b])));
    // Signed: zero sits at the middle (white-ish); negative is blue, positive red.
    let img = heatmap(&[-2.0, 0.0, 0.0, 2.0], 2, 2, Scale::Signed, Palette::BlueRed, 2);
    let mid = colorous::RED_BLUE.eval_continuous(0.5);
    assert_eq!(img.get_pixel(1, 0), &Rgb([mid.r, mid.g, mid.b]));
    let (neg, pos) = (img.get_pixel(0, 0), img.get_pixel(1, 1));
    assert!(neg[2] > neg[0] && pos[0] > pos[2], "{neg:?} {pos:?}");
}

#[test]
fn blend_mixes_linearly() {
    let base = RgbImage::from_pixel(2, 2, Rgb([0, 100, 200]));
    let top = RgbImage::from_pixel(2, 2, Rgb([200, 100, 0]));
    assert_eq!(blend(&base, &top, 0.5).get_pixel(1, 1), &Rgb([100, 100, 100]));
    assert_eq!(blend(&base, &top, 0.0).get_pixel(0, 0), &Rgb([0, 100, 200]));
    assert_eq!(blend(&base, &top, 2.0).get_pixel(0, 0), &Rgb([200, 100, 0]));
}

#[test]
fn signed_blend_leaves_zero_untouched_and_colours_extremes() {
    let base = RgbImage::from_pixel(3, 1, Rgb([10, 20, 30]));
    let out = blend_signed(&base, &[-1.0, 0.0, 1.0], 1, 3, Palette::BlueRed, 1.0);
    assert_eq!(out.get_pixel(1, 0), &Rgb([10, 20, 30]));
    assert_eq!(out.get_pixel(0, 0), &Rgb(Palette::BlueRed.rgb(0.0)));
    assert_eq!(out.get_pixel(2, 0), &Rgb(Palette::BlueRed.rgb(1.0)));
}

#[test]
fn magnitude_blend_leaves_zero_untouched_and_colours_the_peak() {
    let base = RgbImage::from_pixel(3, 1, Rgb([10, 20, 30]));
    let out = blend_magnitude(&base, &[0.0, 1.0, 2.0], 1, 3, Palette::Inferno, 1.0);
    assert_eq!(out.get_pixel(0, 0), &Rgb([10, 20, 30]), "zero leaves the photo");
    assert_eq!(out.get_pixel(2, 0), &Rgb(Palette::Inferno.rgb(1.0)), "the peak is the palette's top at alpha 1");
    let half = out.get_pixel(1, 0);
    let c = Palette::Inferno.rgb(0.5);
    let want: Vec<u8> = (0..3).map(|i| (0.5 * c[i] as f32 + 0.5 * [10.0, 20.0, 30.0][i]).round() as u8).collect();
    assert_eq!(half.0.to_vec(), want, "half the peak: half opacity");
}
