//! A convolution with constant weights as one custom autodiff operation, so that passes with
//! gradients on the CPU backend (saliency, guided backprop, SmoothGrad, Integrated Gradients,
//! Grad-CAM, class visualization, style transfer) run our kernels both ways: the forward pass is
//! the executor's own ([`super::cpu_conv`], Winograd, sparse 1×1), and the gradient to the
//! input is computed here from the weights laid out for it once per layer. Burn flex's
//! convolution and its transposed one ran on the `gemm` crate, whose micro-kernels V8 inlines
//! or not depending on what ran before in the page (BENCHMARKS.md).
//!
//! The weights carry no gradient: the methods differentiate with respect to the image or an
//! activation, never a weight.
//!
//! No layer keeps weights of its own for the backward pass but the small ones:
//!
//! - 3×3 layers the forward pass runs by Winograd's algorithm: its adjoint, on the forward's
//!   transformed weights ([`cpu_winograd::conv3x3_transformed_input_gradient`]).
//! - 1×1 layers (stride 1, no padding): the weights' transpose times the output gradient, the
//!   weights read where they lie.
//! - Other strides (or padding wider than the kernel's reach): the same product per group gives
//!   the columns of im2col's matrix, which are added back onto the input's plane (col2im).
//! - Other stride-1 layers (depthwise, small or few-channel 3×3 ones, 5×5, …): the input
//!   gradient is itself a convolution of the output gradient, by the weights with inputs and
//!   outputs swapped and each kernel turned by 180°, padded by `(k − 1)·d − p` on each side,
//!   run by the forward's kernels on a turned copy.

use std::sync::{Arc, OnceLock};

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, backend_extension};
use burn::tensor::ops::ConvOptions;
use burn::tensor::{DType, Shape, Tensor, TensorData};

use super::cpu_conv::{self, ConvGeometry};
use super::cpu_par::{SharedMut, for_each, parts};
use super::cpu_winograd::{self, Transformed};

/// One layer's weights (`[O, C/g, kh, kw]`, shared with the graph), its Winograd weights if
/// the forward pass keeps them (shared with it), and, made on the first backward pass that
/// needs it, the turned copy the plain kernels take.
#[derive(Debug)]
pub struct BackWeights {
    original: Arc<Vec<f32>>,
    shape: [usize; 4],
    forward: Option<Arc<[OnceLock<Transformed>; 2]>>,
    turned: OnceLock<Vec<f32>>,
}

impl BackWeights {
    /// For a convolution's `weight` of `shape` (`[O, C/g, kh, kw]`) and its forward pass's
    /// slots for Winograd's weights, if it has them (finite 3×3 weights: the executor's);
    /// `None` if the weights and shape disagree.
    pub fn new(
        weight: Arc<Vec<f32>>,
        shape: [usize; 4],
        forward: Option<Arc<[OnceLock<Transformed>; 2]>>,
    ) -> Option<Self> {
        (weight.len() == shape.iter().product::<usize>()).then(|| Self {
            original: weight,
            shape,
            forward,
            turned: OnceLock::new(),
        })
    }

    /// `[C, O/g, kh, kw]`: inputs and outputs swapped, each kernel turned by 180°.
    fn turn(&self, groups: usize) -> Vec<f32> {
        let [o, cg, kh, kw] = self.shape;
        let (og, taps) = (o / groups, kh * kw);
        let mut out = vec![0f32; self.original.len()];
        for g in 0..groups {
            for oi in 0..og {
                for ci in 0..cg {
                    let src = &self.original[((g * og + oi) * cg + ci) * taps..][..taps];
                    let dst = &mut out[((g * cg + ci) * og + oi) * taps..][..taps];
                    // Turned by 180°: tap (i, j) goes to (kh-1-i, kw-1-j), the reversed order.
                    dst.iter_mut().zip(src.iter().rev()).for_each(|(d, s)| *d = *s);
                }
            }
        }
        out
    }

    /// `[O, C/g, kh, kw]`.
    pub fn shape(&self) -> [usize; 4] {
        self.shape
    }
}

/// Whether the input gradient can be a convolution by turned weights: stride 1, and padding
/// of at most `(k − 1)·d` on each side (the turned convolution's padding is what is left).
fn turns(geometry: &ConvGeometry, [kh, kw]: [usize; 2]) -> bool {
    let reach = [(kh - 1) * geometry.dilations[0], (kw - 1) * geometry.dilations[1]];
    geometry.strides == [1, 1] && (0..2).all(|d| geometry.padding[d].0.max(geometry.padding[d].1) <= reach[d])
}

/// One call's backward: the layer's weights, the input's shape, the geometry.
#[derive(Debug, Clone)]
pub struct ConvBack {
    pub weights: Arc<BackWeights>,
    /// `[N, C, H, W]` of the input.
    pub input: [usize; 4],
    pub geometry: ConvGeometry,
}

impl ConvBack {
    /// The gradient to the input (`[N, C, H, W]`) from the gradient to the output, `dy`
    /// (`[N, O, H', W']`).
    pub fn input_gradient(&self, dy: &[f32]) -> Vec<f32> {
        let [n, c, h, w] = self.input;
        let weights = &*self.weights;
        let [o, cg, kh, kw] = weights.shape;
        let g = &self.geometry;
        let [oh, ow] = g.output([h, w], [kh, kw]);
        assert_eq!(dy.len(), n * o * oh * ow, "output gradient of the convolution's output size");
        // Winograd's adjoint where the forward pass would take Winograd (the same rule: the
        // products are the forward's, transposed). The slots exist only for finite weights.
        if let Some(forward) = &weights.forward
            && cpu_winograd::suits_transformed(c, o, [h, w], [kh, kw], g)
        {
            let tile = cpu_winograd::tile_for([oh, ow]);
            let u =
                forward[tile as usize].get_or_init(|| cpu_winograd::transform_weights(&weights.original, o, c, tile));
            return cpu_winograd::conv3x3_transformed_input_gradient(dy, [n, o, oh, ow], u, c, [h, w], g.padding);
        }
        let (og, k, spatial) = (o / g.groups, cg * kh * kw, oh * ow);
        if [kh, kw] == [1, 1] && g.strides == [1, 1] && g.padding == [(0, 0); 2] {
            let mut dx = vec![0f32; n * c * h * w];
            for b in 0..n {
                for group in 0..g.groups {
                    let dy = &dy[(b * o + group * og) * spatial..][..og * spatial];
                    let dst = &mut dx[(b * c + group * cg) * spatial..][..cg * spatial];
                    cpu_conv::product_transposed(
                        dst,
                        &weights.original[group * og * cg..][..og * cg],
                        dy,
                        [cg, og, spatial],
                    );
                }
            }
            return dx;
        }
        if turns(g, [kh, kw]) {
            let reach = [(kh - 1) * g.dilations[0], (kw - 1) * g.dilations[1]];
            let turned = ConvGeometry {
                strides: [1, 1],
                padding: [0, 1].map(|d| (reach[d] - g.padding[d].0, reach[d] - g.padding[d].1)),
                dilations: g.dilations,
                groups: g.groups,
            };
            let (dy_shape, w_shape) = ([n, o, oh, ow], [c, og, kh, kw]);
            let weight = weights.turned.get_or_init(|| weights.turn(g.groups));
            if og == 1 && g.groups == o && g.groups > 1 && weight.iter().all(|v| v.is_finite()) {
                return cpu_conv::depthwise2d(dy, dy_shape, weight, w_shape, None, None, &turned);
            }
            return cpu_conv::conv2d(dy, dy_shape, weight, w_shape, None, None, &turned);
        }
        let mut dx = vec![0f32; n * c * h * w];
        let mut col = vec![0f32; k * spatial];
        for b in 0..n {
            for group in 0..g.groups {
                let dy = &dy[(b * o + group * og) * spatial..][..og * spatial];
                let weight = &weights.original[group * og * k..][..og * k];
                cpu_conv::product_transposed(&mut col, weight, dy, [k, og, spatial]);
                let plane = &mut dx[(b * c + group * cg) * h * w..][..cg * h * w];
                col2im_add(&col, [cg, h, w], [kh, kw], g, [oh, ow], plane);
            }
        }
        dx
    }

    /// The same by Burn's own backward pass of a convolution, on any backend.
    fn input_gradient_by_burn<B: Backend>(&self, dy: FloatTensor<B>) -> FloatTensor<B> {
        let device = burn::backend::TensorMetadata::device(&dy);
        let weights = &*self.weights;
        let weight = B::float_from_data(TensorData::new(weights.original.to_vec(), weights.shape), &device);
        let x = B::float_zeros(Shape::from(self.input.to_vec()), &device, DType::F32.into());
        let g = &self.geometry;
        let options = ConvOptions::new_with_padding(g.strides, g.padding, g.dilations, g.groups);
        B::conv2d_x_backward(x, weight, dy, options)
    }
}

/// Adds the columns of im2col's matrix (`[C · kh · kw, H' · W']`, as [`cpu_conv`]'s im2col lays
/// them out) back onto the `[C, H, W]` plane they were read from; channels in parallel.
fn col2im_add(
    col: &[f32],
    [c, h, w]: [usize; 3],
    [kh, kw]: [usize; 2],
    g: &ConvGeometry,
    [oh, ow]: [usize; 2],
    plane: &mut [f32],
) {
    assert!(col.len() >= c * kh * kw * oh * ow && plane.len() >= c * h * w);
    let channels = parts(c, 1);
    let out = SharedMut(plane.as_mut_ptr());
    for_each(channels.len(), c * kh * kw * oh * ow, |p| {
        let run = channels[p].clone();
        // SAFETY: each part writes the planes of its own channels, within `plane` (asserted).
        let plane = unsafe { out.slice(run.start * h * w, run.len() * h * w) };
        for (ci, dst) in run.clone().zip(plane.chunks_exact_mut(h * w)) {
            for i in 0..kh {
                for j in 0..kw {
                    let row = &col[((ci * kh + i) * kw + j) * oh * ow..][..oh * ow];
                    for oy in 0..oh {
                        let y = (oy * g.strides[0] + i * g.dilations[0]).wrapping_sub(g.padding[0].0);
                        if y >= h {
                            continue;
                        }
                        let src = &row[oy * ow..][..ow];
                        let dst = &mut dst[y * w..][..w];
                        for (ox, v) in src.iter().enumerate() {
                            let x = (ox * g.strides[1] + j * g.dilations[1]).wrapping_sub(g.padding[1].0);
                            if x < w {
                                dst[x] += v;
                            }
                        }
                    }
                }
            }
        }
    });
}

#[backend_extension(Flex, Cube: cfg(feature = "wgpu"), NdArray: cfg(feature = "cpu-ndarray"), Autodiff)]
pub trait ConvGradBackend: Backend {
    /// `y`, the convolution of `x` computed by the caller, given the convolution's backward
    /// pass: with autodiff, the gradient reaching `y` flows on to `x` through `back`.
    fn with_conv_backward(x: FloatTensor<Self>, y: FloatTensor<Self>, back: ConvBack) -> FloatTensor<Self> {
        let _ = (x, back);
        y
    }

    /// The gradient to the convolution's input from the gradient to its output.
    fn conv_input_gradient(dy: FloatTensor<Self>, back: ConvBack) -> FloatTensor<Self> {
        back.input_gradient_by_burn::<Self>(dy)
    }
}

impl ConvGradBackend for burn::backend::Flex {
    fn conv_input_gradient(dy: FloatTensor<Self>, back: ConvBack) -> FloatTensor<Self> {
        if dy.dtype() != DType::F32 {
            return back.input_gradient_by_burn::<Self>(dy);
        }
        let dx = back.input_gradient(&super::exec::flex_f32(&dy));
        FlexTensor::from_data(TensorData::new(dx, back.input))
    }
}
#[cfg(feature = "wgpu")]
impl ConvGradBackend for burn::backend::Cube {}
#[cfg(feature = "cpu-ndarray")]
impl ConvGradBackend for burn::backend::NdArray {}

#[derive(Debug)]
struct ConvBackward(ConvBack);

impl<B: Backend + ConvGradBackend> Backward<B, 1> for ConvBackward {
    type State = ();

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let [parent] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let Some(parent) = parent else { return };
        grads.register::<B>(parent.id, B::conv_input_gradient(grad, self.0));
    }
}

impl<B: Backend + ConvGradBackend, C: CheckpointStrategy> ConvGradBackend for Autodiff<B, C> {
    fn with_conv_backward(x: FloatTensor<Self>, y: FloatTensor<Self>, back: ConvBack) -> FloatTensor<Self> {
        match ConvBackward(back).prepare::<C>([x.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish((), y.into_primitive()),
            OpsKind::UnTracked(prep) => prep.finish(y.into_primitive()),
        }
    }
}

/// `y` (the convolution of `x`, computed without gradients) with the convolution's backward
/// pass attached: gradients reaching it go on to `x` (see the module's text).
pub fn with_conv_backward(x: Tensor<4>, y: Tensor<4>, back: ConvBack) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as ConvGradBackend>::with_conv_backward(x.into_dispatch(), y.into_dispatch(), back))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::ops::FloatTensorOps;

    /// A small deterministic pseudo-random sequence.
    fn values(len: usize, seed: u32) -> Vec<f32> {
        let mut s = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
        (0..len)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                (s % 2001) as f32 / 1000.0 - 1.0
            })
            .collect()
    }

    /// Our input gradient against the fallback, Burn's conv2d backward, on the CPU backend, over
    /// geometries that take each path: Winograd's adjoint, the transposed product (1×1, or with
    /// col2im), turned weights (im2col, depthwise), and again on the same weights (the layouts
    /// kept from the first call).
    #[test]
    fn input_gradient_matches_burn() {
        type B = burn::backend::Flex;
        let cases: &[([usize; 4], [usize; 4], [usize; 2], [(usize, usize); 2], [usize; 2], usize)] = &[
            // input, weight, strides, padding, dilations, groups
            ([2, 5, 9, 11], [7, 5, 3, 3], [1, 1], [(1, 1), (1, 1)], [1, 1], 1),
            ([1, 6, 8, 8], [4, 6, 1, 1], [1, 1], [(0, 0), (0, 0)], [1, 1], 1),
            ([1, 3, 15, 17], [8, 3, 3, 3], [2, 2], [(0, 0), (0, 0)], [1, 1], 1),
            ([1, 3, 16, 16], [6, 3, 7, 7], [2, 2], [(3, 3), (3, 3)], [1, 1], 1),
            ([1, 4, 10, 9], [6, 4, 3, 3], [1, 1], [(0, 1), (1, 0)], [1, 1], 1),
            ([1, 4, 12, 12], [4, 4, 3, 3], [1, 1], [(2, 2), (2, 2)], [2, 2], 1),
            ([1, 6, 9, 9], [4, 3, 3, 3], [1, 1], [(1, 1), (1, 1)], [1, 1], 2),
            ([2, 8, 9, 9], [8, 1, 3, 3], [1, 1], [(1, 1), (1, 1)], [1, 1], 8),
            ([1, 8, 9, 9], [8, 1, 3, 3], [2, 2], [(1, 1), (1, 1)], [1, 1], 8),
            ([1, 4, 11, 11], [5, 4, 5, 5], [1, 1], [(0, 0), (0, 0)], [1, 1], 1),
            ([1, 4, 11, 12], [5, 4, 3, 3], [1, 2], [(1, 1), (0, 2)], [1, 1], 1),
            // Padding wider than the kernel's reach: transposed weights at stride 1.
            ([1, 4, 7, 6], [3, 4, 1, 1], [1, 1], [(1, 0), (2, 1)], [1, 1], 1),
            ([1, 4, 7, 6], [3, 4, 3, 2], [1, 1], [(2, 3), (0, 1)], [1, 1], 1),
            // Large enough for Winograd (its adjoint): F(2×2) and F(4×4) planes, whole tiles or
            // not, padded evenly, unevenly or not at all.
            ([1, 64, 14, 14], [64, 64, 3, 3], [1, 1], [(1, 1), (1, 1)], [1, 1], 1),
            ([1, 32, 28, 28], [48, 32, 3, 3], [1, 1], [(1, 1), (1, 1)], [1, 1], 1),
            ([2, 64, 9, 8], [40, 64, 3, 3], [1, 1], [(0, 1), (1, 0)], [1, 1], 1),
            ([1, 24, 31, 29], [20, 24, 3, 3], [1, 1], [(0, 0), (2, 2)], [1, 1], 1),
        ];
        for (t, &(input, weight, strides, padding, dilations, groups)) in cases.iter().enumerate() {
            let geometry = ConvGeometry { strides, padding, dilations, groups };
            let w = values(weight.iter().product(), 3 * t as u32 + 1);
            let [oh, ow] = geometry.output([input[2], input[3]], [weight[2], weight[3]]);
            let dy = values(input[0] * weight[0] * oh * ow, 3 * t as u32 + 2);
            let forward = (weight[2..] == [3, 3] && groups == 1).then(|| Arc::new(Default::default()));
            let weights = BackWeights::new(Arc::new(w), weight, forward).expect("weights of their shape");
            let back = ConvBack { weights: Arc::new(weights), input, geometry };
            let ours = back.input_gradient(&dy);
            assert_eq!(back.input_gradient(&dy), ours, "case {t}: the kept layouts");
            let reference = back.input_gradient_by_burn::<B>(B::float_from_data(
                TensorData::new(dy, [input[0], weight[0], oh, ow]),
                &Default::default(),
            ));
            let reference = reference.into_data().try_into_vec::<f32>().expect("f32");
            assert_eq!(ours.len(), reference.len(), "case {t}");
            let scale = reference.iter().fold(1f32, |m, v| m.max(v.abs()));
            for (i, (a, b)) in ours.iter().zip(&reference).enumerate() {
                assert!((a - b).abs() <= 1e-4 * scale, "case {t}, value {i}: ours {a}, Burn's {b}");
            }
        }
    }
}
