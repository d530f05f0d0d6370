//! A ReLU whose backward pass follows a chosen rule: the true derivative, guided backprop
//! (Springenberg et al. 2015) or deconvnet (Zeiler & Fergus 2014). It is one custom autodiff
//! operation, so the same network runs every rule; the forward is always a plain ReLU.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::ops::ActivationOps;
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
    /// The forward pass is a plain ReLU on every backend; only autodiff changes the backward.
    fn modified_relu(x: FloatTensor<Self>, rule: ReluRule) -> FloatTensor<Self> {
        let _ = rule;
        Self::relu(x)
    }

    /// The gradient that crosses the ReLU under `rule`: `x` is its forward input, `grad` the
    /// gradient arriving from above.
    fn modified_relu_backward(x: FloatTensor<Self>, grad: FloatTensor<Self>, rule: ReluRule) -> FloatTensor<Self> {
        relu_backward_with::<Self>(x, grad, rule)
    }
}

/// [`ModifiedReluBackend::modified_relu_backward`] from any backend's own ReLU operations.
fn relu_backward_with<B: Backend>(x: FloatTensor<B>, grad: FloatTensor<B>, rule: ReluRule) -> FloatTensor<B> {
    match rule {
        ReluRule::Standard => B::relu_backward(B::relu(x), grad),
        ReluRule::Guided => B::relu_backward(B::relu(x), B::relu(grad)),
        ReluRule::Deconv => B::relu(grad),
    }
}

/// On the CPU backend both directions are one SIMD pass ([`crate::model::cpu_simd`]): Burn
/// flex's element-wise loops run one element at a time in the size-optimized wasm build.
impl ModifiedReluBackend for burn::backend::Flex {
    fn modified_relu(x: FloatTensor<Self>, rule: ReluRule) -> FloatTensor<Self> {
        if x.dtype() != DType::F32 {
            return Self::relu(x);
        }
        let _ = rule;
        // Into a new buffer: with gradients the step keeps `x`, so it is shared.
        let y = cpu_simd::add_clamp_to(&flex_f32(&x), 0.0, 0.0, f32::INFINITY);
        FlexTensor::from_data(TensorData::new(y, x.layout().shape().clone()))
    }

    fn modified_relu_backward(x: FloatTensor<Self>, grad: FloatTensor<Self>, rule: ReluRule) -> FloatTensor<Self> {
        if x.dtype() != DType::F32 || grad.dtype() != DType::F32 || x.layout().shape() != grad.layout().shape() {
            return relu_backward_with::<Self>(x, grad, rule);
        }
        // The gradient is often a view into a concatenation's gradient: read where it lies.
        let g = flex_f32(&grad);
        let dx = match rule {
            ReluRule::Standard | ReluRule::Guided => {
                cpu_simd::relu_gradient_to(&flex_f32(&x), &g, rule == ReluRule::Guided)
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
struct ModifiedReluBackward(ReluRule);

impl<B: Backend + ModifiedReluBackend> Backward<B, 1> for ModifiedReluBackward {
    /// The forward input.
    type State = FloatTensor<B>;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let [parent] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let Some(parent) = parent else { return };
        let x = ops.state;
        grads.register::<B>(parent.id, B::modified_relu_backward(x, grad, self.0));
    }
}

impl<B: Backend + ModifiedReluBackend, C: CheckpointStrategy> ModifiedReluBackend for Autodiff<B, C> {
    fn modified_relu(x: FloatTensor<Self>, rule: ReluRule) -> FloatTensor<Self> {
        match ModifiedReluBackward(rule).prepare::<C>([x.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let input = x.primitive().clone();
                prep.finish(input.clone(), B::modified_relu(input, rule))
            }
            OpsKind::UnTracked(prep) => prep.finish(B::modified_relu(x.into_primitive(), rule)),
        }
    }
}

/// ReLU forward whose backward follows `rule` (see [`ReluRule`]).
pub fn modified_relu<const D: usize>(x: Tensor<D>, rule: ReluRule) -> Tensor<D> {
    Tensor::from_dispatch(<Dispatch as ModifiedReluBackend>::modified_relu(x.into_dispatch(), rule))
}
