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

/// How the optimiser sees the image.
#[derive(Debug, Clone)]
pub enum Param {
    /// The pixels themselves, `[1, 3, H, W]`, clamped to [0, 1] after each step.
    Pixels,
    /// Lucid's decorrelated Fourier image: a spectrum (real and imaginary parts, `[2, 3, H, W]`)
    /// scaled down with frequency, brought back by an inverse DFT, mixed by the colour
    /// decorrelation matrix and squashed to [0, 1] by a sigmoid. Steps in this space change
    /// low frequencies and natural colour directions first, which gives far more
    /// recognisable images.
    Fourier(FourierBasis),
}

/// Lucid's square root of ImageNet's colour correlation (from its SVD), per row one RGB
/// channel; applied after normalising by the largest column norm.
const COLOR_SQRT: [[f32; 3]; 3] = [[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]];

/// Matrices for the unitary DFT of an `H×W` image and the spectrum's frequency scaling.
#[derive(Debug, Clone)]
pub struct FourierBasis {
    /// cos and sin of 2π·jk/N / √N, for N = H and N = W.
    cos_h: Tensor<3>,
    sin_h: Tensor<3>,
    cos_w: Tensor<3>,
    sin_w: Tensor<3>,
    /// 1 / max(frequency, 1/max(H, W))^decay, `[1, 1, H, W]`.
    scale: Tensor<4>,
    /// The colour matrix (normalised) and its inverse, as `[3, 3]`.
    color: Tensor<2>,
    color_inv: Tensor<2>,
}

fn trig(n: usize, device: &Device) -> (Tensor<3>, Tensor<3>) {
    let norm = (n as f64).sqrt();
    let (mut c, mut s) = (Vec::with_capacity(n * n), Vec::with_capacity(n * n));
    for j in 0..n {
        for k in 0..n {
            let a = 2.0 * std::f64::consts::PI * ((j * k) % n) as f64 / n as f64;
            c.push((a.cos() / norm) as f32);
            s.push((a.sin() / norm) as f32);
        }
    }
    (Tensor::from_data(TensorData::new(c, [1, n, n]), device), Tensor::from_data(TensorData::new(s, [1, n, n]), device))
}

/// numpy's `fftfreq`: 0, 1/n, …, then the negative frequencies.
fn fftfreq(n: usize) -> Vec<f32> {
    (0..n).map(|k| if k <= (n - 1) / 2 { k as f32 } else { k as f32 - n as f32 } / n as f32).collect()
}

fn invert3(m: [[f32; 3]; 3]) -> [[f32; 3]; 3] {
    let det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
        + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
    let c = |r: usize, k: usize| {
        let (r1, r2, k1, k2) = ((r + 1) % 3, (r + 2) % 3, (k + 1) % 3, (k + 2) % 3);
        m[r1][k1] * m[r2][k2] - m[r1][k2] * m[r2][k1]
    };
    // Inverse = adjugate / det; adjugate[i][j] = cofactor[j][i].
    std::array::from_fn(|i| std::array::from_fn(|j| c(j, i) / det))
}

impl FourierBasis {
    pub fn new([h, w]: [usize; 2], decay: f32, device: &Device) -> Self {
        let (cos_h, sin_h) = trig(h, device);
        let (cos_w, sin_w) = trig(w, device);
        let (fy, fx) = (fftfreq(h), fftfreq(w));
        let floor = 1.0 / h.max(w) as f32;
        let scale: Vec<f32> = fy
            .iter()
            .flat_map(|y| fx.iter().map(move |x| 1.0 / (x * x + y * y).sqrt().max(floor).powf(decay)))
            .collect();
        let max_norm =
            (0..3).map(|k| (0..3).map(|r| COLOR_SQRT[r][k].powi(2)).sum::<f32>().sqrt()).fold(0.0f32, f32::max);
        let m: [[f32; 3]; 3] = std::array::from_fn(|r| std::array::from_fn(|k| COLOR_SQRT[r][k] / max_norm));
        let flat = |m: [[f32; 3]; 3]| TensorData::new(m.iter().flatten().copied().collect::<Vec<_>>(), [3, 3]);
        Self {
            cos_h,
            sin_h,
            cos_w,
            sin_w,
            scale: Tensor::from_data(TensorData::new(scale, [1, 1, h, w]), device),
            color: Tensor::from_data(flat(m), device),
            color_inv: Tensor::from_data(flat(invert3(m)), device),
        }
    }

    /// Mixes the channels of `[1, 3, H, W]` by a `[3, 3]` matrix (row = output channel).
    fn mix(m: Tensor<2>, x: Tensor<4>) -> Tensor<4> {
        let [n, c, h, w] = x.dims();
        m.matmul(x.reshape([c, h * w])).reshape([n, c, h, w])
    }

    /// The image of a spectrum `[2, 3, H, W]` (differentiable).
    pub fn image(&self, raw: Tensor<4>) -> Tensor<4> {
        let [_, c, h, w] = raw.dims();
        let scaled = raw * self.scale.clone();
        let a: Tensor<3> = scaled.clone().slice([0..1, 0..c, 0..h, 0..w]).reshape([c, h, w]);
        let b: Tensor<3> = scaled.slice([1..2, 0..c, 0..h, 0..w]).reshape([c, h, w]);
        // Re(F_H* (A + iB) F_W*) with F* = C + iS.
        let p = self.cos_h.clone().matmul(a.clone()) - self.sin_h.clone().matmul(b.clone());
        let q = self.cos_h.clone().matmul(b) + self.sin_h.clone().matmul(a);
        let y = p.matmul(self.cos_w.clone()) - q.matmul(self.sin_w.clone());
        burn::tensor::activation::sigmoid(Self::mix(self.color.clone(), y.reshape([1, c, h, w])))
    }

    /// The spectrum whose image is `image` (values strictly inside (0, 1)).
    pub fn spectrum(&self, image: Tensor<4>) -> Tensor<4> {
        let [_, c, h, w] = image.dims();
        let x = image.clamp(1e-4, 1.0 - 1e-4);
        let logit = (x.clone() / (x.neg().add_scalar(1.0))).log();
        let y: Tensor<3> = Self::mix(self.color_inv.clone(), logit).reshape([c, h, w]);
        // F_H Y F_W with F = C − iS.
        let p = self.cos_h.clone().matmul(y.clone());
        let q = self.sin_h.clone().matmul(y);
        let a = p.clone().matmul(self.cos_w.clone()) - q.clone().matmul(self.sin_w.clone());
        let b = (p.matmul(self.sin_w.clone()) + q.matmul(self.cos_w.clone())).neg();
        Tensor::cat(vec![a.reshape([1, c, h, w]), b.reshape([1, c, h, w])], 0) / self.scale.clone()
    }
}

impl Param {
    /// The optimiser's starting values for `image` `[1, 3, H, W]`.
    pub fn raw(&self, image: Tensor<4>) -> Tensor<4> {
        match self {
            Param::Pixels => image,
            Param::Fourier(basis) => basis.spectrum(image),
        }
    }

    /// The image the raw values stand for (differentiable).
    pub fn image(&self, raw: Tensor<4>) -> Tensor<4> {
        match self {
            Param::Pixels => raw,
            Param::Fourier(basis) => basis.image(raw),
        }
    }
}
