//! A 2-D convolution whose weights and bias are constants (a model's own), as one custom
//! autodiff operation: gradients flow to the input only. On the CPU backend its forward pass
//! is our kernel ([`super::cpu_conv`]) instead of Burn flex's, which transposes the weights and
//! the input to channels-last on every call; the backward pass is the backend's own input
//! gradient (`conv2d_x_backward`), as in Burn's autodiff convolution with untracked weights.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::ops::ModuleOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, backend_extension};
use burn::tensor::ops::ConvOptions;
use burn::tensor::{DType, Tensor, TensorData};

use super::cpu_conv::{self, ConvGeometry};

#[backend_extension(Flex, Cube: cfg(feature = "wgpu"), NdArray: cfg(feature = "cpu-ndarray"), Autodiff)]
pub trait ConstConvBackend: Backend {
    /// `x` convolved with constant `weight` plus `bias`.
    fn const_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        Self::conv2d(x, weight, Some(bias), options)
    }
}

impl ConstConvBackend for burn::backend::Flex {
    fn const_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        let f32s = [&x, &weight, &bias].iter().all(|t| t.dtype() == DType::F32);
        let (xs, ws) = (x.layout().shape().to_vec(), weight.layout().shape().to_vec());
        if !f32s || xs.len() != 4 || ws.len() != 4 {
            return Self::conv2d(x, weight, Some(bias), options);
        }
        let ([n, c, h, w], [o, cg, kh, kw]) = ([xs[0], xs[1], xs[2], xs[3]], [ws[0], ws[1], ws[2], ws[3]]);
        let g = ConvGeometry {
            strides: options.stride,
            padding: options.padding,
            dilations: options.dilation,
            groups: options.groups,
        };
        let values = |t: FlexTensor| t.into_data().try_into_vec::<f32>().unwrap_or_default();
        let (x, weight, bias) = (values(x), values(weight), values(bias));
        let depthwise = g.groups == c && g.groups > 1 && cg == 1 && weight.iter().all(|v| v.is_finite());
        let kernel = if depthwise { cpu_conv::depthwise2d } else { cpu_conv::conv2d };
        let y = kernel(&x, [n, c, h, w], &weight, [o, cg, kh, kw], Some(&bias), None, &g);
        let [oh, ow] = g.output([h, w], [kh, kw]);
        FlexTensor::from_data(TensorData::new(y, [n, o, oh, ow]))
    }
}
#[cfg(feature = "wgpu")]
impl ConstConvBackend for burn::backend::Cube {}
#[cfg(feature = "cpu-ndarray")]
impl ConstConvBackend for burn::backend::NdArray {}

#[derive(Debug)]
struct ConstConvBackward;

impl<B: Backend> Backward<B, 1> for ConstConvBackward {
    /// The forward input, the weights and the options.
    type State = (FloatTensor<B>, FloatTensor<B>, ConvOptions<2>);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let [parent] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let Some(parent) = parent else { return };
        let (x, weight, options) = ops.state;
        grads.register::<B>(parent.id, B::conv2d_x_backward(x, weight, grad, options));
    }
}

impl<B: Backend + ConstConvBackend, C: CheckpointStrategy> ConstConvBackend for Autodiff<B, C> {
    fn const_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        let (weight, bias) = (weight.into_primitive(), bias.into_primitive());
        match ConstConvBackward.prepare::<C>([x.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let input = x.primitive().clone();
                let y = B::const_conv2d(input.clone(), weight.clone(), bias, options.clone());
                prep.finish((input, weight, options), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::const_conv2d(x.into_primitive(), weight, bias, options)),
        }
    }
}

/// `x` convolved with constant `weight` (`[O, C/groups, kh, kw]`) plus `bias` (`[O]`), with
/// gradients to `x` only.
pub fn const_conv2d(x: Tensor<4>, weight: Tensor<4>, bias: Tensor<1>, options: ConvOptions<2>) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as ConstConvBackend>::const_conv2d(
        x.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
        options,
    ))
}
