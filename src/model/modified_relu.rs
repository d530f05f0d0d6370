//! A ReLU whose backward pass follows a chosen rule: the true derivative, guided backprop
//! (Springenberg et al. 2015) or deconvnet (Zeiler & Fergus 2014). It is one custom autodiff
//! operation, so the same network runs every rule; the forward is always a plain ReLU. Bounded
//! ReLUs (ReLU6, an ONNX `Clip` from 0) are the same operation with an upper bound: the
//! derivative passes where `lo < x < hi` (PyTorch's hardtanh), and the rules gate it alike.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::ops::FloatTensorOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, backend_extension};
use burn::tensor::{DType, Tensor, TensorData};

use crate::model::cpu_simd;
use crate::model::exec::flex_f32;

/// How gradients cross a ReLU on the way back (x is the ReLU's forward input, g the gradient
/// arriving from above).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum ReluRule {
    /// The derivative: g · [x > 0].
    #[default]
    Standard,
    /// Guided backprop: g · [x > 0] · [g > 0].
    Guided,
    /// Deconvnet: g · [g > 0], whatever the forward input was.
    Deconv,
}

#[backend_extension(Flex, Cube: cfg(feature = "wgpu"), NdArray: cfg(feature = "cpu-ndarray"), Autodiff)]
pub trait ModifiedReluBackend: Backend {
    /// The forward pass is a plain clamp to `[lo, hi]` on every backend (a ReLU for
    /// `[0, ∞]`); only autodiff changes the backward.
    fn modified_relu(x: FloatTensor<Self>, rule: ReluRule, bounds: [f32; 2]) -> FloatTensor<Self> {
        let _ = rule;
        let [lo, hi] = bounds;
        if hi < f32::INFINITY {
            Self::float_clamp(x, lo.into(), hi.into())
        } else if lo == 0.0 {
            Self::relu(x)
        } else {
            Self::float_clamp_min(x, lo.into())
        }
    }

    /// The gradient that crosses the clamp under `rule`: `x` is its forward input, `grad` the
    /// gradient arriving from above.
    fn modified_relu_backward(
        x: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        rule: ReluRule,
        bounds: [f32; 2],
    ) -> FloatTensor<Self> {
        relu_backward_with::<Self>(x, grad, rule, bounds)
    }
}

/// [`ModifiedReluBackend::modified_relu_backward`] from any backend's own ReLU operations: the
/// mask `lo < x < hi` as two ReLU masks, of `x − lo` and of `hi − x` (a float difference of two
/// finite values is positive exactly when they are ordered so).
fn relu_backward_with<B: Backend>(
    x: FloatTensor<B>,
    grad: FloatTensor<B>,
    rule: ReluRule,
    [lo, hi]: [f32; 2],
) -> FloatTensor<B> {
    let grad = match rule {
        ReluRule::Standard => grad,
        ReluRule::Guided => B::relu(grad),
        ReluRule::Deconv => return B::relu(grad),
    };
    let above = if lo == 0.0 { x.clone() } else { B::float_add_scalar(x.clone(), (-lo).into()) };
    let grad = B::relu_backward(B::relu(above), grad);
    if hi == f32::INFINITY {
        return grad;
    }
    let below = B::float_add_scalar(B::float_neg(x), hi.into());
    B::relu_backward(B::relu(below), grad)
}

/// On the CPU backend both directions are one SIMD pass ([`crate::model::cpu_simd`]): Burn
/// flex's element-wise loops run one element at a time in the size-optimized wasm build.
impl ModifiedReluBackend for burn::backend::Flex {
    fn modified_relu(x: FloatTensor<Self>, rule: ReluRule, [lo, hi]: [f32; 2]) -> FloatTensor<Self> {
        if x.dtype() != DType::F32 {
            return Self::float_clamp(x, lo.into(), hi.into());
        }
        let _ = rule;
        // Into a new buffer: with gradients the step keeps `x`, so it is shared.
        let y = cpu_simd::add_clamp_to(&flex_f32(&x), 0.0, lo, hi);
        FlexTensor::from_data(TensorData::new(y, x.layout().shape().clone()))
    }

    fn modified_relu_backward(
        x: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        rule: ReluRule,
        bounds: [f32; 2],
    ) -> FloatTensor<Self> {
        if x.dtype() != DType::F32 || grad.dtype() != DType::F32 || x.layout().shape() != grad.layout().shape() {
            return relu_backward_with::<Self>(x, grad, rule, bounds);
        }
        // The gradient is often a view into a concatenation's gradient: read where it lies.
        let g = flex_f32(&grad);
        let dx = match rule {
            ReluRule::Standard | ReluRule::Guided => {
                cpu_simd::relu_gradient_to(&flex_f32(&x), &g, bounds, rule == ReluRule::Guided)
            }
            ReluRule::Deconv => cpu_simd::add_clamp_to(&g, 0.0, 0.0, f32::INFINITY),
        };
        FlexTensor::from_data(TensorData::new(dx, grad.layout().shape().clone()))
    }
}

#[cfg(feature = "wgpu")]
impl ModifiedReluBackend for burn::backend::Cube {}
#[cfg(feature = "cpu-ndarray")]
impl ModifiedReluBackend for burn::backend::NdArray {}

#[derive(Debug)]
struct ModifiedReluBackward(ReluRule, [f32; 2]);

impl<B: Backend + ModifiedReluBackend> Backward<B, 1> for ModifiedReluBackward {
    /// The forward input.
    type State = FloatTensor<B>;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let [parent] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let Some(parent) = parent else { return };
        let x = ops.state;
        grads.register::<B>(parent.id, B::modified_relu_backward(x, grad, self.0, self.1));
    }
}

impl<B: Backend + ModifiedReluBackend, C: CheckpointStrategy> ModifiedReluBackend for Autodiff<B, C> {
    fn modified_relu(x: FloatTensor<Self>, rule: ReluRule, bounds: [f32; 2]) -> FloatTensor<Self> {
        match ModifiedReluBackward(rule, bounds).prepare::<C>([x.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let input = x.primitive().clone();
                prep.finish(input.clone(), B::modified_relu(input, rule, bounds))
            }
            OpsKind::UnTracked(prep) => prep.finish(B::modified_relu(x.into_primitive(), rule, bounds)),
        }
    }
}

/// ReLU forward whose backward follows `rule` (see [`ReluRule`]).
pub fn modified_relu<const D: usize>(x: Tensor<D>, rule: ReluRule) -> Tensor<D> {
    bounded_relu(x, rule, [0.0, f32::INFINITY])
}

/// A clamp to `bounds` (`[lo, hi]`, `hi` may be `∞`) whose backward follows `rule`: ReLU6, or an
/// ONNX `Clip`.
pub fn bounded_relu<const D: usize>(x: Tensor<D>, rule: ReluRule, bounds: [f32; 2]) -> Tensor<D> {
    Tensor::from_dispatch(<Dispatch as ModifiedReluBackend>::modified_relu(x.into_dispatch(), rule, bounds))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;

    /// The other backends' backward (Burn's own operations) against the CPU's one SIMD pass,
    /// for ReLU, ReLU6 and a clip from below, every rule, on values that reach both bounds.
    #[test]
    fn every_backend_gates_the_gradient_alike() {
        let n = 64;
        let x: Vec<f32> = (0..n).map(|i| ((i * 37 % 64) as f32 - 20.0) * 0.25).collect();
        let g: Vec<f32> = (0..n).map(|i| ((i * 11 % 13) as f32 - 6.0) * 0.5).collect();
        let tensor = |v: &[f32]| FlexTensor::from_data(TensorData::new(v.to_vec(), [n]));
        for bounds in [[0.0, f32::INFINITY], [0.0, 6.0], [-1.0, 2.5]] {
            for rule in [ReluRule::Standard, ReluRule::Guided, ReluRule::Deconv] {
                let burn = relu_backward_with::<Flex>(tensor(&x), tensor(&g), rule, bounds);
                let burn = burn.into_data().try_into_vec::<f32>().unwrap();
                let ours = <Flex as ModifiedReluBackend>::modified_relu_backward(tensor(&x), tensor(&g), rule, bounds);
                let ours = ours.into_data().try_into_vec::<f32>().unwrap();
                assert_eq!(burn, ours, "{rule:?} on {bounds:?}");
                let want: Vec<f32> = x
                    .iter()
                    .zip(&g)
                    .map(|(&v, &d)| match rule {
                        ReluRule::Deconv => d.max(0.0),
                        _ if bounds[0] < v && v < bounds[1] && (rule == ReluRule::Standard || d > 0.0) => d,
                        _ => 0.0,
                    })
                    .collect();
                assert_eq!(ours, want, "{rule:?} on {bounds:?}");
            }
        }
    }
}
