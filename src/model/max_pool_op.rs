//! Max pooling as one custom autodiff operation, so that passes with gradients on the CPU
//! backend use our kernels ([`super::cpu_pool`]) both ways: Burn flex's max pool records the
//! argmax of every window in a scalar loop (18% of SqueezeNet's forward and backward pass in
//! wasm). The backward pass finds each window's maximum again instead of storing indices.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::ops::ModuleOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, backend_extension};
use burn::tensor::{DType, IntDType, Tensor, TensorData};

use super::cpu_pool;
use super::exec::flex_f32;

/// A max pool's window: kernel, strides, symmetric padding, ONNX ceil mode, and the output
/// height and width that mode gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolWindow {
    pub kernel: [usize; 2],
    pub strides: [usize; 2],
    pub padding: [usize; 2],
    pub ceil_mode: bool,
    pub out: [usize; 2],
}

#[backend_extension(Flex, Cube: cfg(feature = "wgpu"), NdArray: cfg(feature = "cpu-ndarray"), Autodiff)]
pub trait MaxPoolBackend: Backend {
    /// Max pooling of `x` (`[N, C, H, W]`). Other backends use Burn's primitive (the executor
    /// calls this operation on the CPU backend only).
    fn window_max_pool2d(x: FloatTensor<Self>, window: PoolWindow) -> FloatTensor<Self> {
        Self::max_pool2d(x, window.kernel, window.strides, window.padding, [1, 1], window.ceil_mode)
    }

    /// The gradient to `x` of [`MaxPoolBackend::window_max_pool2d`], given its output `y`.
    fn window_max_pool2d_backward(
        x: FloatTensor<Self>,
        y: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        window: PoolWindow,
    ) -> FloatTensor<Self> {
        let _ = y;
        backward_with_indices::<Self>(x, grad, window)
    }
}

/// The backward pass from Burn's max pool with indices (pooled again).
fn backward_with_indices<B: Backend>(x: FloatTensor<B>, grad: FloatTensor<B>, window: PoolWindow) -> FloatTensor<B> {
    let PoolWindow { kernel, strides, padding, ceil_mode, .. } = window;
    let pooled = B::max_pool2d_with_indices(x.clone(), kernel, strides, padding, [1, 1], ceil_mode, IntDType::I64);
    B::max_pool2d_with_indices_backward(x, kernel, strides, padding, [1, 1], ceil_mode, grad, pooled.indices).x_grad
}

/// An f32 CPU tensor's shape, if it is 4-D f32.
fn nchw_f32(t: &FlexTensor) -> Option<[usize; 4]> {
    let s = t.layout().shape().to_vec();
    (t.dtype() == DType::F32 && s.len() == 4).then(|| [s[0], s[1], s[2], s[3]])
}

impl MaxPoolBackend for burn::backend::Flex {
    fn window_max_pool2d(x: FloatTensor<Self>, window: PoolWindow) -> FloatTensor<Self> {
        let Some([n, c, h, w]) = nchw_f32(&x) else {
            return Self::max_pool2d(x, window.kernel, window.strides, window.padding, [1, 1], window.ceil_mode);
        };
        let pads = window.padding.map(|p| (p, p));
        let y = cpu_pool::max_pool2d(&flex_f32(&x), [n, c, h, w], window.kernel, window.strides, pads, window.out);
        FlexTensor::from_data(TensorData::new(y, [n, c, window.out[0], window.out[1]]))
    }

    fn window_max_pool2d_backward(
        x: FloatTensor<Self>,
        y: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        window: PoolWindow,
    ) -> FloatTensor<Self> {
        let (Some(dims), Some(_), Some(_)) = (nchw_f32(&x), nchw_f32(&y), nchw_f32(&grad)) else {
            return backward_with_indices::<Self>(x, grad, window);
        };
        let pads = window.padding.map(|p| (p, p));
        let (x, y, grad) = (flex_f32(&x), flex_f32(&y), flex_f32(&grad));
        let g = cpu_pool::max_pool2d_backward(&x, dims, window.kernel, window.strides, pads, window.out, &y, &grad);
        FlexTensor::from_data(TensorData::new(g, dims))
    }
}
#[cfg(feature = "wgpu")]
impl MaxPoolBackend for burn::backend::Cube {}
#[cfg(feature = "cpu-ndarray")]
impl MaxPoolBackend for burn::backend::NdArray {}

#[derive(Debug)]
struct MaxPoolBackward(PoolWindow);

impl<B: Backend + MaxPoolBackend> Backward<B, 1> for MaxPoolBackward {
    /// The forward input and output.
    type State = (FloatTensor<B>, FloatTensor<B>);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let [parent] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let Some(parent) = parent else { return };
        let (x, y) = ops.state;
        grads.register::<B>(parent.id, B::window_max_pool2d_backward(x, y, grad, self.0));
    }
}

impl<B: Backend + MaxPoolBackend, C: CheckpointStrategy> MaxPoolBackend for Autodiff<B, C> {
    fn window_max_pool2d(x: FloatTensor<Self>, window: PoolWindow) -> FloatTensor<Self> {
        match MaxPoolBackward(window).prepare::<C>([x.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let input = x.primitive().clone();
                let y = B::window_max_pool2d(input.clone(), window);
                prep.finish((input, y.clone()), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::window_max_pool2d(x.into_primitive(), window)),
        }
    }
}

/// Max pooling of `x` over `window`, with gradients (see the module's text).
pub fn window_max_pool2d(x: Tensor<4>, window: PoolWindow) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as MaxPoolBackend>::window_max_pool2d(x.into_dispatch(), window))
}
