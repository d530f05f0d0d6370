//! How the optimised image is represented. `Pixels`: the image itself, clamped to [0, 1] after
//! every step.

use burn::tensor::{Device, Tensor, TensorData};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, Normal};

/// The starting image.
#[derive(Debug, Clone, PartialEq)]
pub enum Init {
    /// One colour everywhere (0.5: mid-grey; for a Caffe-style model with its mean folded into
    /// conv1, the mean colour is its "zero image").
    Constant([f32; 3]),
    /// Mid-grey plus Gaussian noise of this standard deviation.
    Noise(f32),
}

/// ImageNet's mean colour, RGB in [0, 1]: the "zero image" of a mean-subtracted network.
pub const MEAN_RGB: [f32; 3] = [0.485, 0.456, 0.406];

impl Init {
    pub fn image(&self, [h, w]: [usize; 2], seed: u64, device: &Device) -> Tensor<4> {
        let plane = h * w;
        let values: Vec<f32> = match self {
            Init::Constant(rgb) => rgb.iter().flat_map(|v| std::iter::repeat_n(*v, plane)).collect(),
            Init::Noise(std) => {
                let mut rng = StdRng::seed_from_u64(seed);
                // A finite, non-negative σ always makes a valid distribution.
                match Normal::new(0.0f32, if std.is_finite() { std.max(0.0) } else { 0.0 }) {
                    Ok(noise) => (0..3 * plane).map(|_| (0.5 + noise.sample(&mut rng)).clamp(0.0, 1.0)).collect(),
                    Err(_) => vec![0.5; 3 * plane],
                }
            }
        };
        Tensor::from_data(TensorData::new(values, [1, 3, h, w]), device)
    }
}
