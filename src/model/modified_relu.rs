//! A ReLU whose backward pass follows a chosen rule: the true derivative, guided backprop
//! (Springenberg et al. 2015) or deconvnet (Zeiler & Fergus 2014). It is one custom autodiff
//! operation, so the same network runs every rule; the forward is always a plain ReLU.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, backend_extension};
use burn::tensor::Tensor;

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
}

impl ModifiedReluBackend for burn::backend::Flex {}
#[cfg(feature = "wgpu")]
impl ModifiedReluBackend for burn::backend::Cube {}
#[cfg(feature = "cpu-ndarray")]
impl ModifiedReluBackend for burn::backend::NdArray {}

#[derive(Debug)]
struct ModifiedReluBackward(ReluRule);

impl<B: Backend> Backward<B, 1> for ModifiedReluBackward {
    /// The forward input.
    type State = FloatTensor<B>;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let [parent] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let Some(parent) = parent else { return };
        let x = ops.state;
        let passed = match self.0 {
            ReluRule::Standard => B::relu_backward(B::relu(x), grad),
            ReluRule::Guided => B::relu_backward(B::relu(x), B::relu(grad)),
            ReluRule::Deconv => B::relu(grad),
        };
        grads.register::<B>(parent.id, passed);
    }
}

impl<B: Backend + ModifiedReluBackend, C: CheckpointStrategy> ModifiedReluBackend for Autodiff<B, C> {
    fn modified_relu(x: FloatTensor<Self>, rule: ReluRule) -> FloatTensor<Self> {
        match ModifiedReluBackward(rule).prepare::<C>([x.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let input = x.primitive().clone();
                prep.finish(input.clone(), B::relu(input))
            }
            OpsKind::UnTracked(prep) => prep.finish(B::relu(x.into_primitive())),
        }
    }
}

/// ReLU forward whose backward follows `rule` (see [`ReluRule`]).
pub fn modified_relu<const D: usize>(x: Tensor<D>, rule: ReluRule) -> Tensor<D> {
    Tensor::from_dispatch(<Dispatch as ModifiedReluBackend>::modified_relu(x.into_dispatch(), rule))
}
