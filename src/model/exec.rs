//! Runs a [`Graph`] with Burn tensor ops on whatever device it is given. Every node output can
//! be kept ("tapped") for the visualization methods; shapes are checked before each op so a
//! hostile model yields an error, never a panic inside Burn.

use std::collections::{HashMap, HashSet};

use burn::backend::{BackendTensor, DispatchTensor, DispatchTensorKind};
use burn::tensor::activation;
use burn::tensor::module::{avg_pool2d, conv2d, max_pool2d};
use burn::tensor::ops::{AvgPoolOptions, ConvOptions, MaxPoolOptions, PadMode};
use burn::tensor::{Device, Tensor, TensorData};

use super::conv_grad_op::{BackWeights, ConvBack, with_conv_backward};
use super::graph::{Graph, Node, Op, PadKind};
use super::host::{HostData, HostTensor};
use super::max_pool_op::{PoolWindow, window_max_pool2d};
use super::modified_relu::{ReluRule, bounded_relu, modified_relu};
use super::{cpu_conv, cpu_par, cpu_pool, cpu_qconv, cpu_simd, cpu_sparse, cpu_winograd};
use crate::error::ModelError;

/// A float activation: a rank-4 Burn tensor plus its logical ONNX shape (rank 1..=4, padded
/// with trailing ones in storage).
#[derive(Clone, Debug)]
pub struct Value {
    pub tensor: Tensor<4>,
    pub shape: Vec<usize>,
}

impl Value {
    /// Wraps a rank-4 tensor whose logical shape is its own.
    pub fn nchw(tensor: Tensor<4>) -> Self {
        let shape = tensor.dims().to_vec();
        Self { tensor, shape }
    }

    fn from_shape(tensor: Tensor<4>, shape: Vec<usize>) -> Self {
        Self { tensor, shape }
    }

    /// Reinterprets this value with another logical shape of the same size.
    fn reshaped(self, shape: Vec<usize>) -> Self {
        let stored = padded4(&shape);
        Self { tensor: self.tensor.reshape(stored), shape }
    }

    /// The values as a 2-D tensor (logical rank must be 2).
    pub fn matrix(&self) -> Tensor<2> {
        let [a, b, _, _] = padded4(&self.shape);
        self.tensor.clone().reshape([a, b])
    }
}

fn padded4(shape: &[usize]) -> [usize; 4] {
    let mut out = [1usize; 4];
    out[..shape.len()].copy_from_slice(shape);
    out
}

/// A graph bound to a device: float constants uploaded once, ready to run many times.
#[derive(Debug)]
pub struct Network {
    pub(super) graph: Graph,
    device: Device,
    pub(super) uploaded: HashMap<String, Value>,
    /// For each node, the values whose last use it is (freed after it runs).
    pub(super) last_use: Vec<Vec<String>>,
    /// The pre-softmax class scores: the input of a final Softmax, else the first output.
    pub(super) score_name: String,
    /// The preprocessing's mean and std as `[1, 3, 1, 1]` tensors, uploaded once.
    preprocess: Option<(Tensor<4>, Tensor<4>)>,
    /// [`Network::last_spatial_tap`] per input height and width (it takes a whole pass).
    spatial_tap: std::sync::Mutex<HashMap<[usize; 2], String>>,
    /// On Burn's CPU backend, passes without gradients run our own kernels for convolutions
    /// (depthwise too), max pools, ReLU/Clip and per-tensor (de)quantization
    /// ([`super::cpu_conv`], [`super::cpu_pool`], [`super::cpu_simd`]).
    pub(super) cpu_kernels: bool,
    /// For each Conv node read only by the node right after it, a ReLU or a Clip with constant
    /// bounds: those bounds. The CPU kernels then clamp the convolution's output rows as they
    /// are written, and the activation node passes its input on.
    pub(super) clamp_after: Vec<Option<[f32; 2]>>,
    /// Convolutions of quantized activations with integer weights, done in integers on the
    /// CPU kernels ([`super::cpu_qconv`]), by output name: the integer weights and the input's
    /// DequantizeLinear scale. 3×3 ones on planes from 27 × 27 take Winograd's float kernel
    /// instead ([`cpu_winograd::beats_integers`]). Built on wasm (where the integer product is twice as fast as
    /// the float one); natively on request ([`Network::with_integer_kernels`]).
    int_convs: HashMap<String, (cpu_qconv::IntConv, f32)>,
    /// The QuantizeLinear and DequantizeLinear outputs those convolutions read: a pass that
    /// overrides one of them feeds values that need not be integers, and runs in floats.
    int_sources: HashSet<String>,
    /// On the CPU kernels, the constant weights of 3×3 stride-1 convolutions that may go to
    /// Winograd's kernel ([`cpu_winograd::suits_transformed`]: enough channels, finite weights),
    /// by output name, carried into its transform domain once ([`cpu_winograd::transform_weights`]):
    /// per call, the transform cost as much as the products on small planes. Each call's output
    /// plane picks the algorithm ([`cpu_winograd::tile_for`]); each algorithm's weights are made
    /// on the first call that needs them (F(2×2, 3×3), then F(4×4, 3×3)): most layers only ever
    /// take one, an occlusion sweep's small patches may take F(2×2) where whole images take F(4×4).
    /// Shared with the layer's backward pass ([`super::conv_grad_op`]), which runs Winograd's
    /// adjoint on the same transformed weights.
    winograd: HashMap<String, std::sync::Arc<[std::sync::OnceLock<cpu_winograd::Transformed>; 2]>>,
    /// On the CPU kernels, the float 1×1 convolutions (stride 1, no padding, one group) with
    /// constant finite weights, by output name: their weights transposed, made the first time
    /// an input is sparse enough for [`cpu_sparse::conv1x1`] (after a ReLU, most of
    /// SqueezeNet's conv10 input is zeros). Built on first use: most 1×1 layers never are.
    sparse_1x1: HashMap<String, std::sync::OnceLock<Vec<f32>>>,
    /// On the CPU kernels, every convolution with constant float weights (and bias, if any),
    /// by output name: its weights as the gradient to its input takes them
    /// ([`super::conv_grad_op`]), made on the first pass with gradients that reaches it
    /// (`None` if the weights do not have the shape the node gave them).
    conv_backs: HashMap<String, std::sync::OnceLock<Option<std::sync::Arc<BackWeights>>>>,
}

/// How a forward pass departs from the plain network (the methods' hooks).
#[derive(Debug, Clone, Default)]
pub struct Pass {
    /// Activations that replace what their nodes would compute (those nodes, and everything
    /// only they need, are skipped). A gradient with respect to an inner layer (Grad-CAM) comes
    /// from overriding that layer with a tensor that requires grad.
    pub overrides: HashMap<String, Value>,
    /// The backward rule at every ReLU; the forward values are the same for every rule.
    pub relu: ReluRule,
    /// Accept any image height and width (DeepDream and neural style read inner layers of a
    /// convolutional network at the photo's own size). Each operator still checks its shapes.
    pub any_size: bool,
}

impl Pass {
    pub fn relu(rule: ReluRule) -> Self {
        Self { relu: rule, ..Self::default() }
    }

    /// A plain pass that accepts any image size.
    pub fn any_size() -> Self {
        Self { any_size: true, ..Self::default() }
    }

    pub fn with_override(mut self, name: &str, value: Value) -> Self {
        self.overrides.insert(name.to_string(), value);
        self
    }
}

/// Outputs of a forward pass: the graph outputs plus every requested tap.
#[derive(Debug, Default)]
pub struct Activations {
    pub values: HashMap<String, Value>,
}

impl Activations {
    pub fn get(&self, name: &str) -> Result<&Value, ModelError> {
        self.values.get(name).ok_or_else(|| ModelError::UnknownTap(name.to_string()))
    }
}

/// The most elements one image's activation may have (256 MB of f32): a hostile file's
/// attributes must not make the executor allocate without bound.
const MAX_ELEMENTS_PER_IMAGE: usize = 1 << 26;

/// A CPU tensor's values (for the CPU kernels; a read on the CPU backend needs no waiting).
fn host_values(node: &Node, t: Tensor<4>) -> Result<Vec<f32>, ModelError> {
    t.into_data().try_into_vec::<f32>().map_err(|e| err(node, format!("{e:?}")))
}

/// `f` of a float tensor's values on the host: borrowed from a contiguous f32 tensor of the
/// CPU backend, else read out. A patch of an incremental sweep stays shared with its
/// `Patched`, and reading it out would copy it (`into_data` of a shared buffer).
fn with_host_values<R>(node: &Node, t: Tensor<4>, f: impl FnOnce(&[f32]) -> R) -> Result<R, ModelError> {
    let d = t.into_dispatch();
    if let Some(v) = cpu_values(&d) {
        return Ok(f(v));
    }
    Ok(f(&host_values(node, Tensor::from_dispatch(d))?))
}

/// The values of a contiguous f32 tensor on the CPU backend, borrowed; `None` elsewhere.
pub(super) fn cpu_values(t: &DispatchTensor) -> Option<&[f32]> {
    match &t.kind {
        DispatchTensorKind::Flex(BackendTensor::Float(values)) => values.as_slice::<f32>(),
        _ => None,
    }
}

/// A float tensor of the CPU backend's f32 values: borrowed where they lie contiguous (also a
/// shared buffer, kept by an autodiff step, or a view into one, as a concatenation's gradient
/// gives), else read out. `into_data` would copy a shared buffer twice (its bytes, then them as
/// f32) before a kernel reads it once.
pub(super) fn flex_f32(t: &burn::backend::flex::FlexTensor) -> std::borrow::Cow<'_, [f32]> {
    match t.as_slice::<f32>() {
        Some(v) => std::borrow::Cow::Borrowed(v),
        None => {
            std::borrow::Cow::Owned(t.clone().into_data().convert::<f32>().try_into_vec::<f32>().unwrap_or_default())
        }
    }
}

fn check_elements(node: &Node, dims: &[usize]) -> Result<(), ModelError> {
    let per_image = dims.iter().skip(1).try_fold(1usize, |a, &d| a.checked_mul(d));
    match per_image {
        Some(n) if n <= MAX_ELEMENTS_PER_IMAGE => Ok(()),
        _ => Err(err(node, format!("its output {dims:?} would be too large"))),
    }
}

/// Output length of a window of `span` sliding over `size` (+ pads) with `stride`; with
/// `ceil`, ONNX's ceil mode (the last window must still start inside the input or left pad).
pub(crate) fn windows(size: usize, pads: (usize, usize), span: usize, stride: usize, ceil: bool) -> usize {
    let s = stride.max(1);
    let room = (size + pads.0 + pads.1).saturating_sub(span);
    let mut n = if ceil { room.div_ceil(s) } else { room / s } + 1;
    if ceil && (n - 1) * s >= size + pads.0 {
        n -= 1;
    }
    n
}

fn err(node: &Node, message: impl Into<String>) -> ModelError {
    ModelError::BadNode { node: node.name.clone(), op_type: node.op_type.clone(), message: message.into() }
}

fn upload(t: &HostTensor, device: &Device) -> Result<Value, String> {
    if t.dims.len() > 4 {
        return Err(format!("constant of rank {} (at most 4 supported)", t.dims.len()));
    }
    let shape = t.dims.clone();
    let data = TensorData::new(t.to_f32(), padded4(&shape).to_vec());
    Ok(Value::from_shape(Tensor::<4>::from_data(data, device), shape))
}

impl Network {
    /// Uploads the graph's float constants to `device`.
    pub fn new(graph: Graph, device: &Device) -> Result<Self, ModelError> {
        let mut float_inputs: HashSet<&str> = HashSet::new();
        for node in &graph.nodes {
            for (k, name) in node.inputs.iter().enumerate() {
                let host_input = matches!(
                    (&node.op, k),
                    (Op::Reshape, 1)
                        | (Op::Clip { .. }, 1 | 2)
                        | (Op::Pad { .. }, 1..=3)
                        | (Op::ReduceMean { .. } | Op::Squeeze { .. } | Op::Unsqueeze { .. }, 1)
                );
                if !host_input && graph.constants.contains_key(name) {
                    float_inputs.insert(name);
                }
            }
        }
        let mut uploaded = HashMap::new();
        for name in float_inputs {
            let v =
                upload(&graph.constants[name], device).map_err(|m| ModelError::Malformed(format!("'{name}': {m}")))?;
            uploaded.insert(name.to_string(), v);
        }
        let mut last: HashMap<&str, usize> = HashMap::new();
        for (i, node) in graph.nodes.iter().enumerate() {
            for name in &node.inputs {
                last.insert(name, i);
            }
        }
        let mut last_use = vec![Vec::new(); graph.nodes.len()];
        for (name, i) in last {
            if name != graph.input && !graph.outputs.iter().any(|o| o == name) {
                last_use[i].push(name.to_string());
            }
        }
        let first = &graph.outputs[0];
        // A final Softmax (behind any quantize/dequantize pair of an int8 model) gives its input.
        let producer = |name: &str| graph.nodes.iter().find(|n| n.output == name);
        let softmax_of = |output: &String| {
            let mut node = producer(output)?;
            while matches!(node.op, Op::QuantizeLinear { .. } | Op::DequantizeLinear { .. } | Op::Identity) {
                node = producer(node.inputs.first()?)?;
            }
            matches!(node.op, Op::Softmax { .. } | Op::LogSoftmax { .. })
                .then(|| node.inputs.first().cloned())
                .flatten()
        };
        let score_name = graph.outputs.iter().find_map(softmax_of).unwrap_or_else(|| first.clone());
        let p = graph.preprocess;
        let column = |v: [f32; 3]| Tensor::<4>::from_data(TensorData::new(v.to_vec(), [1, 3, 1, 1]), device);
        let preprocess = (!p.is_identity()).then(|| (column(p.mean), column(p.std)));
        let spatial_tap = Default::default();
        let cpu_kernels = *device == Device::flex();
        let clamp_after = (0..graph.nodes.len()).map(|i| clamp_after(&graph, i)).collect();
        let device = device.clone();
        let net = Self {
            graph,
            device,
            uploaded,
            last_use,
            score_name,
            preprocess,
            spatial_tap,
            cpu_kernels,
            clamp_after,
            int_convs: HashMap::new(),
            int_sources: HashSet::new(),
            winograd: HashMap::new(),
            sparse_1x1: HashMap::new(),
            conv_backs: HashMap::new(),
        };
        let net = net.with_integer_kernels(cfg!(target_arch = "wasm32"));
        Ok(Self {
            winograd: net.winograd_weights(),
            sparse_1x1: net.sparse_candidates(),
            conv_backs: net.conv_back_slots(),
            ..net
        })
    }

    /// How many convolutions run in integers ([`Network::with_integer_kernels`]).
    pub fn integer_convolutions(&self) -> usize {
        self.int_convs.len()
    }

    /// Integer convolutions on (`true`) or off for the CPU kernels: each Conv with one group
    /// whose input comes from a per-tensor DequantizeLinear of a QuantizeLinear's output (8-bit
    /// integers) and whose constant weights are integer multiples of one scale per output
    /// channel. Other backends ignore it.
    pub fn with_integer_kernels(mut self, on: bool) -> Self {
        self.int_convs.clear();
        self.int_sources.clear();
        if !(on && self.cpu_kernels) {
            return self;
        }
        let producer = |name: &str| self.graph.nodes.iter().find(|n| n.output == name);
        for node in &self.graph.nodes {
            let Op::Conv { groups: 1, .. } = node.op else { continue };
            let Some(dq) = node.inputs.first().and_then(|x| producer(x)) else { continue };
            let from_quantize =
                dq.inputs.first().and_then(|q| producer(q)).is_some_and(|q| {
                    matches!(q.op, Op::QuantizeLinear { .. }) && self.scalar_quantization(q).is_some()
                });
            let (Op::DequantizeLinear { .. }, true, Some((x_scale, _))) =
                (&dq.op, from_quantize, self.scalar_quantization(dq))
            else {
                continue;
            };
            let weight = node.inputs.get(1).and_then(|n| self.graph.constants.get(n));
            let Some(HostTensor { data: HostData::F32(values), dims }) = weight else { continue };
            let &[o, c, kh, kw] = dims.as_slice() else { continue };
            if x_scale.is_finite()
                && x_scale > 0.0
                && let Some(int) = cpu_qconv::IntConv::new(values, [o, c, kh, kw])
            {
                self.int_convs.insert(node.output.clone(), (int, x_scale));
                self.int_sources.extend([dq.output.clone(), dq.inputs[0].clone()]);
            }
        }
        self
    }

    /// The last activation that still has a spatial grid (4-D, more than one position): the
    /// usual Grad-CAM layer.
    /// Found once per input size, from one image of the batch (gradients not tracked).
    pub fn last_spatial_tap(&self, input: Tensor<4>) -> Result<String, ModelError> {
        let [_, _, h, w] = input.dims();
        let cache = |m: std::sync::MutexGuard<'_, HashMap<[usize; 2], String>>| m.get(&[h, w]).cloned();
        if let Some(name) = self.spatial_tap.lock().ok().and_then(cache) {
            return Ok(name);
        }
        let one = input.detach().narrow(0, 0, 1);
        let names: Vec<&str> = self.graph.nodes.iter().map(|n| n.output.as_str()).collect();
        let acts = self.forward(one, &names)?;
        let name = names
            .iter()
            .rev()
            .find(|n| acts.values.get(**n).is_some_and(|v| v.shape.len() == 4 && v.shape[2] * v.shape[3] > 1))
            .map(|n| n.to_string())
            .ok_or_else(|| ModelError::Malformed("no layer with a spatial grid".into()))?;
        if let Ok(mut m) = self.spatial_tap.lock() {
            m.insert([h, w], name.clone());
        }
        Ok(name)
    }

    /// Pre-softmax class scores `[N, classes]` for a batch of images.
    pub fn scores(&self, input: Tensor<4>) -> Result<Tensor<2>, ModelError> {
        self.scores_with(input, &Pass::default())
    }

    /// [`Network::scores`] for a modified pass (see [`Network::forward_with`]).
    pub fn scores_with(&self, input: Tensor<4>, pass: &Pass) -> Result<Tensor<2>, ModelError> {
        let name = self.score_name.clone();
        let acts = self.forward_with(input, &[name.as_str()], pass)?;
        let v = acts.get(&name)?;
        let n = v.shape.first().copied().unwrap_or(1);
        let classes = v.shape.iter().skip(1).product::<usize>();
        Ok(v.tensor.clone().reshape([n, classes]))
    }

    /// The node whose output is the pre-softmax class scores.
    pub fn score_name(&self) -> &str {
        &self.score_name
    }

    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Runs the graph on `input` (NCHW, any batch size) and keeps the graph outputs and the
    /// named taps. An autodiff input gives autodiff outputs, so gradients flow back to the image.
    pub fn forward(&self, input: Tensor<4>, taps: &[&str]) -> Result<Activations, ModelError> {
        self.forward_with(input, taps, &Pass::default())
    }

    /// Like [`Network::forward`], modified by `pass` (overridden activations, a ReLU rule).
    pub fn forward_with(&self, input: Tensor<4>, taps: &[&str], pass: &Pass) -> Result<Activations, ModelError> {
        let overrides = &pass.overrides;
        let input = self.adapt_input(input);
        self.check_input(&input.dims(), pass.any_size)?;
        for t in taps.iter().copied().chain(overrides.keys().map(String::as_str)) {
            if t != self.graph.input && !self.graph.nodes.iter().any(|n| n.output == t) {
                return Err(ModelError::UnknownTap(t.to_string()));
            }
        }
        let autodiff = input.is_autodiff() || overrides.values().any(|v| v.tensor.is_autodiff());
        let integer = !overrides.keys().any(|k| self.int_sources.contains(k));
        // At any size only the taps are computed: the dense layers on the way to the outputs
        // need the model's own size.
        let outputs = self.graph.outputs.iter().map(String::as_str).filter(|_| !pass.any_size);
        let keep: HashSet<&str> = taps.iter().copied().chain(outputs).collect();
        let needed = self.needed_nodes(&keep, overrides);
        let mut env: HashMap<String, Value> = HashMap::new();
        let mut out = Activations::default();
        let input = Value::nchw(input);
        if keep.contains(self.graph.input.as_str()) {
            out.values.insert(self.graph.input.clone(), input.clone());
        }
        env.insert(self.graph.input.clone(), input);
        // The output of a convolution that clamped it for the ReLU or Clip right after it.
        let mut clamped: Option<&str> = None;
        for (i, node) in self.graph.nodes.iter().enumerate() {
            let value = match overrides.get(&node.output) {
                Some(v) => v.clone(),
                None if needed[i] => {
                    let first = self.take_first_input(i, &mut env, &keep);
                    let input = node.inputs.first().map(String::as_str);
                    if clamped.is_some() && clamped == input {
                        // The convolution before this ReLU or Clip applied it already.
                        match first {
                            Some(v) => v,
                            None => self.float(node, &env, 0, false)?,
                        }
                    } else {
                        let clamp = self.clamp_after[i]
                            .filter(|_| self.cpu_kernels && !autodiff && !keep.contains(node.output.as_str()));
                        clamped = clamp.map(|_| node.output.as_str());
                        self.run_node(node, &env, first, clamp, autodiff, pass.relu, integer)?
                    }
                }
                None => continue,
            };
            for dead in &self.last_use[i] {
                env.remove(dead);
            }
            if keep.contains(node.output.as_str()) {
                out.values.insert(node.output.clone(), value.clone());
            }
            env.insert(node.output.clone(), value);
        }
        Ok(out)
    }

    /// Node `i`'s first input, taken out of `env` when node `i` is its last reader (not a
    /// kept tap, not read twice by the node): the node may then reuse its buffer.
    fn take_first_input(&self, i: usize, env: &mut HashMap<String, Value>, keep: &HashSet<&str>) -> Option<Value> {
        let node = &self.graph.nodes[i];
        let name = node.inputs.first()?;
        let last = self.last_use[i].contains(name) && !keep.contains(name.as_str());
        (last && !node.inputs[1..].contains(name)).then(|| env.remove(name)).flatten()
    }

    /// Which nodes must run to produce `keep`, given that `overrides` are supplied.
    pub(super) fn needed_nodes(&self, keep: &HashSet<&str>, overrides: &HashMap<String, Value>) -> Vec<bool> {
        let mut wanted: HashSet<&str> = keep.clone();
        let mut needed = vec![false; self.graph.nodes.len()];
        for (i, node) in self.graph.nodes.iter().enumerate().rev() {
            if wanted.contains(node.output.as_str()) && !overrides.contains_key(&node.output) {
                needed[i] = true;
                wanted.extend(node.inputs.iter().map(String::as_str));
            }
        }
        needed
    }

    /// The app works in RGB; a model that takes one grey channel gets the mean of the three
    /// (linear and per pixel, so gradients, occlusion and optimization work unchanged).
    /// Before that, the model's own preprocessing (`Graph::preprocess`) turns the RGB [0, 1]
    /// pixels into what its first layer expects.
    pub fn adapt_input(&self, x: Tensor<4>) -> Tensor<4> {
        let [_, c, _, _] = x.dims();
        let p = &self.graph.preprocess;
        let x = match &self.preprocess {
            Some((mean, std)) if c == 3 => {
                let x = if p.bgr { x.flip([1]) } else { x };
                // Mean and std are given in the model's own channel order (Caffe's are B, G, R).
                (x.mul_scalar(p.scale) - mean.clone()) / std.clone()
            }
            _ => x,
        };
        let x = if x.dims()[1] == 3 && self.graph.input_channels() == Some(1) { x.mean_dim(1) } else { x };
        if self.graph.channels_last() { x.permute([0, 2, 3, 1]) } else { x }
    }

    fn check_input(&self, dims: &[usize], any_size: bool) -> Result<(), ModelError> {
        let expected = &self.graph.input_shape;
        // The batch dimension is free: methods run many perturbed copies of an image at once.
        // With `any_size`, so are height and width (not the channels).
        let spatial = if self.graph.channels_last() { [1, 2] } else { [2, 3] };
        let free = |i: usize| i == 0 || (any_size && spatial.contains(&i));
        let fits = expected.is_empty()
            || (expected.len() == dims.len()
                && dims.iter().all(|&d| d >= 1)
                && expected.iter().zip(dims).enumerate().all(|(i, (e, d))| free(i) || e.is_none_or(|e| e == *d)));
        if fits {
            Ok(())
        } else {
            let text =
                expected.iter().map(|e| e.map_or("?".to_string(), |v| v.to_string())).collect::<Vec<_>>().join("×");
            Err(ModelError::InputShape { got: dims.to_vec(), expected: text })
        }
    }

    fn float(&self, node: &Node, env: &HashMap<String, Value>, k: usize, autodiff: bool) -> Result<Value, ModelError> {
        let name =
            node.inputs.get(k).filter(|n| !n.is_empty()).ok_or_else(|| err(node, format!("missing input {k}")))?;
        let v = match env.get(name) {
            Some(v) => v.clone(),
            None => {
                self.uploaded.get(name).cloned().ok_or_else(|| err(node, format!("input '{name}' is not available")))?
            }
        };
        Ok(if autodiff { Value { tensor: v.tensor.autodiff(), shape: v.shape } } else { v })
    }

    fn optional_float(
        &self,
        node: &Node,
        env: &HashMap<String, Value>,
        k: usize,
        autodiff: bool,
    ) -> Result<Option<Value>, ModelError> {
        match node.inputs.get(k) {
            Some(n) if !n.is_empty() => self.float(node, env, k, autodiff).map(Some),
            _ => Ok(None),
        }
    }

    /// A constant input read on the host (shapes, clip bounds).
    fn host(&self, node: &Node, k: usize) -> Result<Option<HostTensor>, ModelError> {
        let Some(name) = node.inputs.get(k).filter(|n| !n.is_empty()) else { return Ok(None) };
        match self.graph.constants.get(name) {
            Some(c) => Ok(Some(c.clone())),
            None => Err(err(node, format!("input '{name}' must be a constant"))),
        }
    }

    /// A convolution by [`cpu_conv::conv2d`]: constant weights and bias are read in place from
    /// the graph, anything else from its tensor.
    #[allow(clippy::too_many_arguments)]
    fn cpu_conv(
        &self,
        node: &Node,
        x: Value,
        w: Value,
        b: Option<Value>,
        clamp: Option<[f32; 2]>,
        (x_shape, w_shape): ([usize; 4], [usize; 4]),
        geometry: &cpu_conv::ConvGeometry,
        integer: bool,
    ) -> Result<Tensor<4>, ModelError> {
        let read = |t: Tensor<4>| host_values(node, t);
        let constant = |k: usize| match node.inputs.get(k).and_then(|name| self.graph.constants.get(name)) {
            Some(HostTensor { data: HostData::F32(v), .. }) => Some(v.as_slice()),
            _ => None,
        };
        let weight_read;
        let weight = match constant(1) {
            Some(v) => v,
            None => {
                weight_read = read(w.tensor)?;
                &weight_read
            }
        };
        let bias_read;
        let bias = match (constant(2), b) {
            (Some(v), _) => Some(v),
            (None, Some(b)) => {
                bias_read = read(b.tensor)?;
                Some(bias_read.as_slice())
            }
            (None, None) => None,
        };
        let [n, _, h, w] = x_shape;
        let [o, _, kh, kw] = w_shape;
        let [oh, ow] = geometry.output([h, w], [kh, kw]);
        // Depthwise: one input channel per group. Its kernel skips padding terms instead of
        // multiplying zeros, the same unless a weight is infinite or NaN.
        let depthwise = geometry.groups == x_shape[1] && geometry.groups > 1 && w_shape[1] == 1;
        let transformed = self
            .winograd
            .get(&node.output)
            .filter(|_| cpu_winograd::suits_transformed(x_shape[1], o, [h, w], [kh, kw], geometry));
        // An integer convolution keeps the integer kernel unless Winograd's float one, with a
        // fraction of the multiply-adds, beats it on this plane.
        let integer = self.int_convs.get(&node.output).filter(|_| {
            integer
                && geometry.groups == 1
                && w_shape[1] == x_shape[1]
                && !(transformed.is_some() && cpu_winograd::beats_integers([oh, ow]))
        });
        let transformed = transformed.filter(|_| integer.is_none());
        // (Integer convolutions are never candidates: `sparse_candidates`.)
        let sparse =
            self.sparse_1x1.get(&node.output).filter(|_| geometry.strides == [1, 1] && geometry.padding == [(0, 0); 2]);
        let y = with_host_values(node, x.tensor, |pixels| {
            if let Some((int, x_scale)) = integer {
                int.run(pixels, x_shape, *x_scale, bias, clamp, geometry)
            } else if let Some(u) = transformed {
                let tile = cpu_winograd::tile_for([oh, ow]);
                let u = u[tile as usize].get_or_init(|| cpu_winograd::transform_weights(weight, o, x_shape[1], tile));
                cpu_winograd::conv3x3_transformed(pixels, x_shape, u, o, bias, clamp, geometry.padding)
            } else if let Some(t) = sparse.filter(|_| cpu_sparse::sparse_enough(pixels, o)) {
                let t = t.get_or_init(|| cpu_sparse::transpose(weight, o, x_shape[1]));
                cpu_sparse::conv1x1(pixels, x_shape, t, o, bias, clamp)
            } else if depthwise && weight.iter().all(|v| v.is_finite()) {
                cpu_conv::depthwise2d(pixels, x_shape, weight, w_shape, bias, clamp, geometry)
            } else {
                cpu_conv::conv2d(pixels, x_shape, weight, w_shape, bias, clamp, geometry)
            }
        })?;
        Ok(Tensor::from_data(TensorData::new(y, [n, o, oh, ow]), &self.device))
    }

    /// [`Network::winograd`]: empty slots for every convolution that may use transformed weights.
    fn winograd_weights(&self) -> HashMap<String, std::sync::Arc<[std::sync::OnceLock<cpu_winograd::Transformed>; 2]>> {
        let mut out = HashMap::new();
        if !self.cpu_kernels {
            return out;
        }
        for node in &self.graph.nodes {
            let Op::Conv { strides, dilations, groups: 1, .. } = node.op else { continue };
            // Integer convolutions too: on large planes they take Winograd's float kernel
            // ([`cpu_winograd::beats_integers`]); their weights are transformed only then.
            let weight = node.inputs.get(1).and_then(|n| self.graph.constants.get(n));
            let Some(HostTensor { data: HostData::F32(values), dims }) = weight else { continue };
            let &[o, c, 3, 3] = dims.as_slice() else { continue };
            // Any plane size: `suits_transformed` decides per call.
            let g = cpu_conv::ConvGeometry { strides, padding: [(1, 1); 2], dilations, groups: 1 };
            if cpu_winograd::suits_transformed(c, o, [64, 64], [3, 3], &g) && values.iter().all(|v| v.is_finite()) {
                out.insert(node.output.clone(), Default::default());
            }
        }
        out
    }

    /// [`Network::sparse_1x1`]: an empty slot for each convolution that may take the sparse kernel.
    fn sparse_candidates(&self) -> HashMap<String, std::sync::OnceLock<Vec<f32>>> {
        let mut out = HashMap::new();
        if !self.cpu_kernels {
            return out;
        }
        for node in &self.graph.nodes {
            let Op::Conv { groups: 1, .. } = node.op else { continue };
            if self.int_convs.contains_key(&node.output) {
                continue;
            }
            let weight = node.inputs.get(1).and_then(|n| self.graph.constants.get(n));
            let Some(HostTensor { data: HostData::F32(values), dims }) = weight else { continue };
            // A zero input times an infinite or NaN weight is NaN in the dense product; the
            // sparse kernel would skip it.
            if matches!(dims.as_slice(), [_, _, 1, 1]) && values.iter().all(|v| v.is_finite()) {
                out.insert(node.output.clone(), Default::default());
            }
        }
        out
    }

    /// [`Network::conv_backs`]: an empty slot for each convolution with constant float weights
    /// and bias.
    fn conv_back_slots(&self) -> HashMap<String, std::sync::OnceLock<Option<std::sync::Arc<BackWeights>>>> {
        let mut out = HashMap::new();
        if !self.cpu_kernels {
            return out;
        }
        let float = |name: Option<&String>| {
            name.and_then(|n| self.graph.constants.get(n)).is_some_and(|c| matches!(c.data, HostData::F32(_)))
        };
        for node in &self.graph.nodes {
            let Op::Conv { .. } = node.op else { continue };
            let bias = node.inputs.get(2).filter(|n| !n.is_empty());
            if float(node.inputs.get(1)) && (bias.is_none() || float(bias)) {
                out.insert(node.output.clone(), Default::default());
            }
        }
        out
    }

    /// The backward pass of a convolution with constant weights by our kernels
    /// ([`super::conv_grad_op`]), if this one has them.
    fn conv_back(
        &self,
        node: &Node,
        x: [usize; 4],
        w: [usize; 4],
        geometry: &cpu_conv::ConvGeometry,
    ) -> Option<ConvBack> {
        let slot = self.conv_backs.get(&node.output)?;
        let weights = slot
            .get_or_init(|| match node.inputs.get(1).and_then(|n| self.graph.constants.get(n)) {
                Some(HostTensor { data: HostData::F32(v), .. }) => {
                    let forward = self.winograd.get(&node.output).cloned();
                    BackWeights::new(v.clone(), w, forward).map(std::sync::Arc::new)
                }
                _ => None,
            })
            .clone()?;
        (weights.shape() == w).then_some(ConvBack { weights, input: x, geometry: *geometry })
    }

    /// `t` clamped to `[lo, hi]` on the CPU ([`cpu_simd::add_clamp`]; in place when no one
    /// else holds `t`).
    #[inline(never)]
    fn cpu_clamp(&self, node: &Node, t: Tensor<4>, [lo, hi]: [f32; 2]) -> Result<Tensor<4>, ModelError> {
        let dims = t.dims();
        let mut values = host_values(node, t)?;
        cpu_par::chunks_mut(&mut values, 1024, |v| cpu_simd::add_clamp(v, 0.0, lo, hi));
        Ok(Tensor::from_data(TensorData::new(values, dims), &self.device))
    }

    /// A quantization node's scale and zero point when both are single constants (per tensor).
    fn scalar_quantization(&self, node: &Node) -> Option<(f32, f32)> {
        let single = |k: usize| match node.inputs.get(k).filter(|n| !n.is_empty()) {
            None => Some(0.0),
            Some(name) => match self.graph.constants.get(name)?.to_f32().as_slice() {
                [v] => Some(*v),
                _ => None,
            },
        };
        let scale = single(1).filter(|_| node.inputs.get(1).is_some_and(|n| !n.is_empty()))?;
        Some((scale, single(2)?))
    }

    /// A quantization node's scale and zero point, shaped to broadcast against `x` (one value,
    /// or one per slice along `axis`).
    fn quantization(&self, node: &Node, x: &Value, axis: i64) -> Result<(Tensor<4>, Option<Tensor<4>>), ModelError> {
        // Scale and zero point were checked at load and uploaded with the weights.
        let scale = self.float(node, &HashMap::new(), 1, false)?;
        let zero = self.optional_float(node, &HashMap::new(), 2, false)?;
        let n = scale.shape.iter().product::<usize>();
        let mut dims = [1usize; 4];
        if n > 1 {
            let a = resolve_axis(node, axis, x.shape.len())?;
            if x.shape[a] != n {
                return Err(err(node, format!("{n} scales for an axis of length {}", x.shape[a])));
            }
            dims[a] = n;
        }
        Ok((scale.tensor.reshape(dims), zero.map(|z| z.tensor.reshape(dims))))
    }

    /// Runs one node on the values in `env`. `first`, when given, is its first input handed
    /// over by the caller (no other reference left), so that CPU kernels can reuse its buffer:
    /// Burn flex's element-wise ops work in place on a tensor no one else holds. `clamp` (a
    /// convolution on the CPU kernels only) clamps the output for the activation after it.
    pub(super) fn run_node(
        &self,
        node: &Node,
        env: &HashMap<String, Value>,
        first: Option<Value>,
        clamp: Option<[f32; 2]>,
        ad: bool,
        rule: ReluRule,
        integer: bool,
    ) -> Result<Value, ModelError> {
        let x = match first {
            Some(v) if ad => Value { tensor: v.tensor.autodiff(), shape: v.shape },
            Some(v) => v,
            None => self.float(node, env, 0, ad)?,
        };
        let rank4 = |v: &Value| {
            if v.shape.len() == 4 {
                Ok(())
            } else {
                Err(err(node, format!("expects a 4-D input, got shape {:?}", v.shape)))
            }
        };
        // Per-tensor (de)quantization without gradients runs one SIMD pass on the CPU.
        let quantization = matches!(node.op, Op::QuantizeLinear { .. } | Op::DequantizeLinear { .. });
        let per_tensor = (quantization && self.cpu_kernels && !ad).then(|| self.scalar_quantization(node)).flatten();
        let value = match &node.op {
            Op::Conv { strides, pads, dilations, groups, auto_pad_same } => {
                rank4(&x)?;
                let w = self.float(node, env, 1, ad)?;
                let b = self.optional_float(node, env, 2, ad)?;
                if w.shape.len() != 4 {
                    return Err(err(node, format!("weight must be 4-D (2-D convolution), got {:?}", w.shape)));
                }
                let [_, c, h, wd] = padded4(&x.shape);
                let [o, ci, kh, kw] = padded4(&w.shape);
                if strides.contains(&0) || dilations.contains(&0) || c != ci * groups || o % groups != 0 {
                    return Err(err(
                        node,
                        format!("input {:?} does not fit weight {:?} with group={groups}", x.shape, w.shape),
                    ));
                }
                if let Some(b) = &b
                    && b.shape != [o]
                {
                    return Err(err(node, format!("bias shape {:?} does not match {o} output channels", b.shape)));
                }
                let padding = conv_padding(*pads, *auto_pad_same, *strides, *dilations, [h, wd], [kh, kw]);
                let span =
                    |d: usize, size: usize, k: usize| size + padding[d].0 + padding[d].1 >= (k - 1) * dilations[d] + 1;
                if !span(0, h, kh) || !span(1, wd, kw) {
                    return Err(err(node, format!("kernel {kh}×{kw} is larger than the padded input {h}×{wd}")));
                }
                let [n, ..] = padded4(&x.shape);
                let out_h = windows(h, padding[0], (kh - 1) * dilations[0] + 1, strides[0], false);
                let out_w = windows(wd, padding[1], (kw - 1) * dilations[1] + 1, strides[1], false);
                check_elements(node, &[n, o, out_h, out_w])?;
                let geometry =
                    cpu_conv::ConvGeometry { strides: *strides, padding, dilations: *dilations, groups: *groups };
                let shapes = ([n, c, h, wd], [o, ci, kh, kw]);
                if self.cpu_kernels && !ad {
                    let y = self.cpu_conv(node, x, w, b, clamp, shapes, &geometry, integer)?;
                    return Ok(Value::nchw(y));
                }
                // With gradients on the CPU kernels (the only ones with `conv_backs`), our
                // forward kernels and our backward pass, if the weights are constants (the
                // gradient goes to the input alone).
                if let Some(back) = self.conv_back(node, shapes.0, shapes.1, &geometry) {
                    let input = Value { tensor: x.tensor.clone().inner(), shape: x.shape.clone() };
                    let y = self.cpu_conv(node, input, w, b, None, shapes, &geometry, false)?;
                    return Ok(Value::nchw(with_conv_backward(x.tensor, y.autodiff(), back)));
                }
                let options = ConvOptions::new_with_padding(*strides, padding, *dilations, *groups);
                let y = conv2d(x.tensor, w.tensor, b.map(|b| b.tensor.reshape([o])), options);
                Value::nchw(y)
            }
            // With gradients, the rule's own op; on the CPU also for the standard rule (its
            // forward and backward are one SIMD pass each there).
            Op::Relu if ad && (rule != ReluRule::Standard || self.cpu_kernels) => {
                Value { tensor: modified_relu(x.tensor, rule), shape: x.shape }
            }
            Op::Relu if self.cpu_kernels && !ad => {
                Value { tensor: self.cpu_clamp(node, x.tensor, [0.0, f32::INFINITY])?, shape: x.shape }
            }
            Op::Relu => Value { tensor: activation::relu(x.tensor), shape: x.shape },
            Op::LeakyRelu { alpha } => {
                Value { tensor: activation::leaky_relu(x.tensor, *alpha as f64), shape: x.shape }
            }
            Op::Sigmoid => Value { tensor: activation::sigmoid(x.tensor), shape: x.shape },
            Op::Clip { min, max } => {
                let scalar = |k: usize| -> Result<Option<f32>, ModelError> {
                    Ok(self.host(node, k)?.and_then(|h| h.to_f32().first().copied()))
                };
                let lo = min.or(scalar(1)?);
                let hi = max.or(scalar(2)?);
                let bounds = [lo.unwrap_or(f32::NEG_INFINITY), hi.unwrap_or(f32::INFINITY)];
                if self.cpu_kernels && !ad {
                    return Ok(Value { tensor: self.cpu_clamp(node, x.tensor, bounds)?, shape: x.shape });
                }
                // With gradients, a clip from 0 (ReLU6) is a ReLU to the rules; on the CPU
                // every clip is one SIMD pass each way (Burn's clamp and its gradient took a
                // fifth of a MobileNetV2 gradient pass in wasm, in masks and fills).
                let relu_like = lo == Some(0.0);
                if ad && (self.cpu_kernels || (relu_like && rule != ReluRule::Standard)) && bounds[0] <= bounds[1] {
                    let rule = if relu_like { rule } else { ReluRule::Standard };
                    return Ok(Value { tensor: bounded_relu(x.tensor, rule, bounds), shape: x.shape });
                }
                let mut t = x.tensor;
                if let Some(lo) = lo {
                    t = t.clamp_min(lo);
                }
                if let Some(hi) = hi {
                    t = t.clamp_max(hi);
                }
                Value { tensor: t, shape: x.shape }
            }
            Op::MaxPool { kernel, strides, pads, ceil_mode } => {
                rank4(&x)?;
                self.check_pool(node, &x.shape, kernel, strides, pads)?;
                let padding = [(pads[0], pads[2]), (pads[1], pads[3])];
                if self.cpu_kernels && !ad {
                    let [n, c, h, w] = padded4(&x.shape);
                    let out = [0, 1].map(|d| windows([h, w][d], padding[d], kernel[d], strides[d], *ceil_mode));
                    let y = with_host_values(node, x.tensor, |pixels| {
                        cpu_pool::max_pool2d(pixels, [n, c, h, w], *kernel, *strides, padding, out)
                    })?;
                    let [oh, ow] = out;
                    return Ok(Value::nchw(Tensor::from_data(TensorData::new(y, [n, c, oh, ow]), &self.device)));
                }
                if self.cpu_kernels && pads[0] == pads[2] && pads[1] == pads[3] {
                    // With gradients: our kernels both ways ([`window_max_pool2d`]).
                    let [_, _, h, w] = padded4(&x.shape);
                    let out = [0, 1].map(|d| windows([h, w][d], padding[d], kernel[d], strides[d], *ceil_mode));
                    let window = PoolWindow {
                        kernel: *kernel,
                        strides: *strides,
                        padding: [pads[0], pads[1]],
                        ceil_mode: *ceil_mode,
                        out,
                    };
                    return Ok(Value::nchw(window_max_pool2d(x.tensor, window)));
                }
                let options = MaxPoolOptions {
                    kernel_size: *kernel,
                    stride: *strides,
                    padding,
                    dilation: [1, 1],
                    ceil_mode: *ceil_mode,
                };
                Value::nchw(max_pool2d(x.tensor, options))
            }
            Op::AveragePool { kernel, strides, pads, ceil_mode, count_include_pad } => {
                rank4(&x)?;
                self.check_pool(node, &x.shape, kernel, strides, pads)?;
                let options = AvgPoolOptions {
                    kernel_size: *kernel,
                    stride: *strides,
                    padding: [(pads[0], pads[2]), (pads[1], pads[3])],
                    count_include_pad: *count_include_pad,
                    ceil_mode: *ceil_mode,
                };
                Value::nchw(avg_pool2d(x.tensor, options))
            }
            Op::GlobalAveragePool => {
                rank4(&x)?;
                let [n, c, h, w] = padded4(&x.shape);
                if self.cpu_kernels && !ad && h * w > 0 {
                    let means = with_host_values(node, x.tensor, |v| cpu_pool::plane_means(v, h * w))?;
                    return Ok(Value::nchw(Tensor::from_data(TensorData::new(means, [n, c, 1, 1]), &self.device)));
                }
                // One reduction over each plane's values in a row (with gradients on the CPU:
                // `mean_dims` reduced the planes' rows, then their columns, as two passes).
                Value::nchw(x.tensor.reshape([n, c, h * w]).mean_dim(2).reshape([n, c, 1, 1]))
            }
            Op::GlobalMaxPool => {
                rank4(&x)?;
                Value::nchw(x.tensor.max_dims(&[2, 3]))
            }
            Op::Concat { axis } => {
                let axis = resolve_axis(node, *axis, x.shape.len())?;
                let mut parts = vec![x.clone()];
                for k in 1..node.inputs.len() {
                    parts.push(self.float(node, env, k, ad)?);
                }
                let mut shape = x.shape.clone();
                shape[axis] = 0;
                for p in &parts {
                    let same = p.shape.len() == x.shape.len()
                        && p.shape.iter().zip(&x.shape).enumerate().all(|(d, (a, b))| d == axis || a == b);
                    if !same {
                        return Err(err(
                            node,
                            format!("cannot concatenate {:?} with {:?} on axis {axis}", p.shape, x.shape),
                        ));
                    }
                    shape[axis] += p.shape[axis];
                }
                Value::from_shape(Tensor::cat(parts.into_iter().map(|p| p.tensor).collect(), axis), shape)
            }
            Op::Flatten { axis } => {
                let rank = x.shape.len();
                let axis = if *axis < 0 { *axis + rank as i64 } else { *axis };
                if axis < 0 || axis as usize > rank {
                    return Err(err(node, format!("axis {axis} out of range for rank {rank}")));
                }
                let a: usize = x.shape[..axis as usize].iter().product();
                let b: usize = x.shape[axis as usize..].iter().product();
                x.reshaped(vec![a, b])
            }
            Op::Reshape => {
                let spec = self.host(node, 1)?.ok_or_else(|| err(node, "missing shape"))?.to_i64();
                let shape = reshape_target(&x.shape, &spec).map_err(|m| err(node, m))?;
                x.reshaped(shape)
            }
            Op::Transpose { perm } => {
                let rank = x.shape.len();
                let perm: Vec<usize> = match perm {
                    Some(p) => p.iter().map(|&a| resolve_axis(node, a, rank)).collect::<Result<_, _>>()?,
                    None => (0..rank).rev().collect(),
                };
                let mut seen = perm.clone();
                seen.sort_unstable();
                if seen != (0..rank).collect::<Vec<_>>() {
                    return Err(err(node, format!("perm {perm:?} is not a permutation of {rank} axes")));
                }
                // The stored tensor pads the logical shape with trailing 1s: those stay put.
                let mut full = [0usize, 1, 2, 3];
                full[..rank].copy_from_slice(&perm);
                let shape: Vec<usize> = perm.iter().map(|&a| x.shape[a]).collect();
                Value::from_shape(x.tensor.permute(full), shape)
            }
            Op::HardSigmoid { alpha, beta } => {
                Value { tensor: x.tensor.mul_scalar(*alpha).add_scalar(*beta).clamp(0.0, 1.0), shape: x.shape }
            }
            Op::HardSwish => {
                let gate = x.tensor.clone().mul_scalar(1.0 / 6.0).add_scalar(0.5).clamp(0.0, 1.0);
                Value { tensor: x.tensor * gate, shape: x.shape }
            }
            Op::LogSoftmax { axis } => {
                let axis = resolve_axis(node, *axis, x.shape.len())?;
                Value { tensor: activation::log_softmax(x.tensor, axis), shape: x.shape }
            }
            Op::ReduceMean { axes, keepdims } => {
                let rank = x.shape.len();
                let axes = match axes {
                    Some(a) => a.clone(),
                    None => match self.host(node, 1)? {
                        Some(h) => h.to_i64(),
                        None => (0..rank as i64).collect(),
                    },
                };
                let mut axes = axes.iter().map(|&a| resolve_axis(node, a, rank)).collect::<Result<Vec<_>, _>>()?;
                axes.sort_unstable();
                axes.dedup();
                let mut t = x.tensor;
                for &a in &axes {
                    t = t.mean_dim(a);
                }
                let shape: Vec<usize> = if *keepdims {
                    x.shape.iter().enumerate().map(|(i, &d)| if axes.contains(&i) { 1 } else { d }).collect()
                } else {
                    x.shape.iter().enumerate().filter(|(i, _)| !axes.contains(i)).map(|(_, &d)| d).collect()
                };
                Value::from_shape(t.reshape(padded4(&shape)), shape)
            }
            Op::QuantizeLinear { range, .. } if per_tensor.is_some() => {
                let (scale, zero) = per_tensor.unwrap_or_default();
                let dims = x.tensor.dims();
                let mut values = host_values(node, x.tensor)?;
                cpu_par::chunks_mut(&mut values, 1024, |v| cpu_simd::quantize(v, scale, zero, range.0, range.1));
                Value { tensor: Tensor::from_data(TensorData::new(values, dims), &self.device), shape: x.shape }
            }
            Op::DequantizeLinear { .. } if per_tensor.is_some() => {
                let (scale, zero) = per_tensor.unwrap_or_default();
                let dims = x.tensor.dims();
                let mut values = host_values(node, x.tensor)?;
                cpu_par::chunks_mut(&mut values, 1024, |v| cpu_simd::dequantize(v, scale, zero));
                Value { tensor: Tensor::from_data(TensorData::new(values, dims), &self.device), shape: x.shape }
            }
            Op::QuantizeLinear { axis, range } => {
                let (scale, zero) = self.quantization(node, &x, *axis)?;
                let y = x.tensor / scale;
                let y = match zero {
                    Some(z) => y + z,
                    None => y,
                };
                let q = y.clone().round().clamp(range.0, range.1);
                // Rounding and clamping pass gradients straight through (as dy/dx = 1/scale), so
                // attribution works on int8 models; a plain forward pass needs only the rounding.
                let t = if ad { y.clone() + (q - y).detach() } else { q };
                Value { tensor: t, shape: x.shape }
            }
            Op::DequantizeLinear { axis } => {
                let (scale, zero) = self.quantization(node, &x, *axis)?;
                let t = match zero {
                    Some(z) => x.tensor - z,
                    None => x.tensor,
                };
                Value { tensor: t * scale, shape: x.shape }
            }
            Op::DynamicQuantizeLinear => {
                // Per image, so a batch of perturbed copies gives each the scale it would get alone.
                let n = x.shape.first().copied().unwrap_or(1).max(1);
                let m = x.shape.iter().product::<usize>() / n;
                let t = x.tensor.clone().reshape([n, m]);
                let hi = t.clone().max_dim(1).clamp_min(0.0);
                let lo = t.clone().min_dim(1).clamp_max(0.0);
                let scale = ((hi - lo.clone()) / 255.0).clamp_min(f32::MIN_POSITIVE).detach();
                let zero = (lo.neg() / scale.clone()).round().clamp(0.0, 255.0).detach();
                let q = (t.clone() / scale.clone()).round().add(zero.clone()).clamp(0.0, 255.0);
                let y = (q - zero) * scale;
                let t = if ad { t.clone() + (y - t).detach() } else { y };
                Value { tensor: t.reshape(padded4(&x.shape)), shape: x.shape }
            }
            Op::Squeeze { axes } => {
                let rank = x.shape.len();
                let axes = match axes {
                    Some(a) => Some(a.clone()),
                    None => self.host(node, 1)?.map(|h| h.to_i64()),
                };
                let shape: Vec<usize> = match axes {
                    Some(a) => {
                        let a = a.iter().map(|&v| resolve_axis(node, v, rank)).collect::<Result<Vec<_>, _>>()?;
                        if let Some(&bad) = a.iter().find(|&&i| x.shape[i] != 1) {
                            return Err(err(node, format!("axis {bad} of {:?} is not of size 1", x.shape)));
                        }
                        x.shape.iter().enumerate().filter(|(i, _)| !a.contains(i)).map(|(_, &d)| d).collect()
                    }
                    // Never the batch: one image in a batch of one keeps its place.
                    None => x.shape.iter().enumerate().filter(|(i, d)| *i == 0 || **d != 1).map(|(_, &d)| d).collect(),
                };
                x.reshaped(shape)
            }
            Op::Unsqueeze { axes } => {
                let axes = match axes {
                    Some(a) => a.clone(),
                    None => self.host(node, 1)?.map(|h| h.to_i64()).ok_or_else(|| err(node, "missing axes"))?,
                };
                let rank = x.shape.len() + axes.len();
                if rank > 4 {
                    return Err(err(node, format!("would make a tensor of rank {rank} (at most 4 supported)")));
                }
                let mut a = axes.iter().map(|&v| resolve_axis(node, v, rank)).collect::<Result<Vec<_>, _>>()?;
                a.sort_unstable();
                a.dedup();
                if a.len() != axes.len() {
                    return Err(err(node, format!("repeated axes {axes:?}")));
                }
                let mut rest = x.shape.iter();
                let shape: Vec<usize> =
                    (0..rank).map(|i| if a.contains(&i) { 1 } else { rest.next().copied().unwrap_or(1) }).collect();
                x.reshaped(shape)
            }
            Op::Pad { mode, pads, value } => {
                rank4(&x)?;
                let pads = match pads {
                    Some(p) => p.clone(),
                    None => self.host(node, 1)?.map(|h| h.to_i64()).unwrap_or_default(),
                };
                let value = match self.host(node, 2)? {
                    Some(v) => v.to_f32().first().copied().unwrap_or(0.0),
                    None => *value,
                };
                if node.inputs.get(3).is_some_and(|a| !a.is_empty()) {
                    return Err(err(node, "Pad with an axes input is not supported"));
                }
                let p: Vec<usize> = pads.iter().map(|&v| usize::try_from(v).unwrap_or(usize::MAX)).collect();
                if p.len() != 8 || p[0] != 0 || p[1] != 0 || p[4] != 0 || p[5] != 0 || p.iter().any(|&v| v > 4096) {
                    return Err(err(node, format!("only padding of height and width is supported, got pads {pads:?}")));
                }
                let [n, c, h, w] = padded4(&x.shape);
                check_elements(node, &[n, c, h + p[2] + p[6], w + p[3] + p[7]])?;
                if *mode == PadKind::Reflect && (p[2].max(p[6]) >= h || p[3].max(p[7]) >= w) {
                    return Err(err(node, "reflect padding must be smaller than the input"));
                }
                let mode = match mode {
                    PadKind::Constant => PadMode::Constant(value),
                    PadKind::Reflect => PadMode::Reflect,
                    PadKind::Edge => PadMode::Edge,
                };
                Value::nchw(x.tensor.pad([(p[2], p[6]), (p[3], p[7])], mode))
            }
            Op::Softmax { axis } => {
                let axis = resolve_axis(node, *axis, x.shape.len())?;
                Value { tensor: activation::softmax(x.tensor, axis), shape: x.shape }
            }
            Op::Gemm { alpha, beta, trans_a, trans_b } => {
                let a = x.clone();
                let b = self.float(node, env, 1, ad)?;
                if a.shape.len() != 2 || b.shape.len() != 2 {
                    return Err(err(node, format!("expects 2-D inputs, got {:?} and {:?}", a.shape, b.shape)));
                }
                let mut ma = a.matrix();
                let mut mb = b.matrix();
                if *trans_a {
                    ma = ma.transpose();
                }
                if *trans_b {
                    mb = mb.transpose();
                }
                let ([m, k1], [k2, n]) = (ma.dims(), mb.dims());
                if k1 != k2 {
                    return Err(err(node, format!("inner dimensions differ: {k1} vs {k2}")));
                }
                let mut y = ma.matmul(mb);
                if *alpha != 1.0 {
                    y = y.mul_scalar(*alpha);
                }
                let mut y = Value::from_shape(y.reshape([m, n, 1, 1]), vec![m, n]);
                if let Some(c) = self.optional_float(node, env, 2, ad)? {
                    let c = Value { tensor: c.tensor.mul_scalar(*beta), shape: c.shape };
                    y = broadcast(node, y, c, |a, b| a + b)?;
                }
                y
            }
            Op::MatMul => {
                let b = self.float(node, env, 1, ad)?;
                if x.shape.len() != 2 || b.shape.len() != 2 || x.shape[1] != b.shape[0] {
                    return Err(err(node, format!("only 2-D MatMul is supported, got {:?} × {:?}", x.shape, b.shape)));
                }
                let y = x.matrix().matmul(b.matrix());
                let [m, n] = y.dims();
                Value::from_shape(y.reshape([m, n, 1, 1]), vec![m, n])
            }
            Op::Add => broadcast(node, x, self.float(node, env, 1, ad)?, |a, b| a + b)?,
            Op::Sub => broadcast(node, x, self.float(node, env, 1, ad)?, |a, b| a - b)?,
            Op::Mul => broadcast(node, x, self.float(node, env, 1, ad)?, |a, b| a * b)?,
            Op::Div => broadcast(node, x, self.float(node, env, 1, ad)?, |a, b| a / b)?,
            Op::BatchNormalization { epsilon } => {
                rank4(&x)?;
                let c = x.shape[1];
                let mut p = Vec::new();
                for k in 1..5 {
                    let v = self.float(node, env, k, ad)?;
                    if v.shape != [c] {
                        return Err(err(node, format!("parameter {k} has shape {:?}, expected [{c}]", v.shape)));
                    }
                    p.push(v.tensor.reshape([1, c, 1, 1]));
                }
                if self.cpu_kernels && !ad {
                    // One pass, v · a + b per channel, where flex would make four.
                    let mut q = Vec::with_capacity(4);
                    for t in p {
                        q.push(host_values(node, t)?);
                    }
                    let dims = x.tensor.dims();
                    let plane = dims[2] * dims[3];
                    let mut values = host_values(node, x.tensor)?;
                    for (i, row) in values.chunks_exact_mut(plane.max(1)).enumerate() {
                        let k = i % c;
                        let a = q[0][k] / (q[3][k] + *epsilon).sqrt();
                        cpu_simd::affine(row, a, q[1][k] - q[2][k] * a);
                    }
                    Value::from_shape(Tensor::from_data(TensorData::new(values, dims), &self.device), x.shape)
                } else {
                    let (scale, bias, mean, var) = (p[0].clone(), p[1].clone(), p[2].clone(), p[3].clone());
                    let y = (x.tensor - mean) / (var.add_scalar(*epsilon)).sqrt() * scale + bias;
                    Value::from_shape(y, x.shape)
                }
            }
            Op::Identity => x,
        };
        Ok(value)
    }

    fn check_pool(
        &self,
        node: &Node,
        shape: &[usize],
        kernel: &[usize; 2],
        strides: &[usize; 2],
        pads: &[usize; 4],
    ) -> Result<(), ModelError> {
        if strides.contains(&0) {
            return Err(err(node, "strides must be positive"));
        }
        if pads[0] >= kernel[0] || pads[2] >= kernel[0] || pads[1] >= kernel[1] || pads[3] >= kernel[1] {
            return Err(err(node, "padding must be smaller than the kernel"));
        }
        if shape[2] + pads[0] + pads[2] < kernel[0] || shape[3] + pads[1] + pads[3] < kernel[1] {
            return Err(err(node, format!("kernel {kernel:?} is larger than the input {:?}", shape)));
        }
        let out_h = windows(shape[2], (pads[0], pads[2]), kernel[0], strides[0], true);
        let out_w = windows(shape[3], (pads[1], pads[3]), kernel[1], strides[1], true);
        check_elements(node, &[shape[0], shape[1], out_h, out_w])
    }
}

/// `SAME_UPPER` padding (before, after) of one axis: the output is ⌈input / stride⌉ long and
/// the odd pixel goes after.
/// The bounds of the activation that alone reads Conv node `i`'s output, right after it: a
/// ReLU, or a Clip whose bounds are attributes or constants (ReLU6).
fn clamp_after(graph: &Graph, i: usize) -> Option<[f32; 2]> {
    let (conv, next) = (&graph.nodes[i], graph.nodes.get(i + 1)?);
    let out = &conv.output;
    let sole_reader = next.inputs.first() == Some(out)
        && !next.inputs[1..].contains(out)
        && !graph.outputs.contains(out)
        && graph.nodes.iter().filter(|n| n.inputs.contains(out)).count() == 1;
    if !matches!(conv.op, Op::Conv { .. }) || !sole_reader {
        return None;
    }
    let constant = |k: usize| -> Option<Option<f32>> {
        match next.inputs.get(k).filter(|n| !n.is_empty()) {
            None => Some(None),
            Some(name) => Some(Some(*graph.constants.get(name)?.to_f32().first()?)),
        }
    };
    match next.op {
        Op::Relu => Some([0.0, f32::INFINITY]),
        Op::Clip { min, max } => {
            let lo = min.or(constant(1)?).unwrap_or(f32::NEG_INFINITY);
            let hi = max.or(constant(2)?).unwrap_or(f32::INFINITY);
            (lo <= hi).then_some([lo, hi])
        }
        _ => None,
    }
}

pub(crate) fn same_upper_pads(input: usize, kernel: usize, stride: usize, dilation: usize) -> (usize, usize) {
    let out = input.div_ceil(stride.max(1));
    let need = ((out.max(1) - 1) * stride.max(1) + (kernel.max(1) - 1) * dilation.max(1) + 1).saturating_sub(input);
    (need / 2, need - need / 2)
}

/// A convolution's (before, after) padding per spatial axis.
pub(super) fn conv_padding(
    pads: [usize; 4],
    auto_pad_same: bool,
    strides: [usize; 2],
    dilations: [usize; 2],
    input: [usize; 2],
    kernel: [usize; 2],
) -> [(usize, usize); 2] {
    let mut padding = [(pads[0], pads[2]), (pads[1], pads[3])];
    if auto_pad_same {
        for d in 0..2 {
            padding[d] = same_upper_pads(input[d], kernel[d], strides[d], dilations[d]);
        }
    }
    padding
}

fn resolve_axis(node: &Node, axis: i64, rank: usize) -> Result<usize, ModelError> {
    let a = if axis < 0 { axis + rank as i64 } else { axis };
    if a < 0 || a as usize >= rank {
        return Err(err(node, format!("axis {axis} out of range for rank {rank}")));
    }
    Ok(a as usize)
}

/// ONNX Reshape semantics: 0 copies the input dimension, -1 is inferred.
pub fn reshape_target(input: &[usize], spec: &[i64]) -> Result<Vec<usize>, String> {
    let total: usize = input.iter().product();
    let mut out = Vec::with_capacity(spec.len());
    let mut infer = None;
    for (i, &s) in spec.iter().enumerate() {
        match s {
            0 => out.push(*input.get(i).ok_or_else(|| format!("shape {spec:?}: 0 at {i} has no input dimension"))?),
            -1 if infer.is_none() => {
                infer = Some(i);
                out.push(1);
            }
            s if s > 0 => out.push(s as usize),
            _ => return Err(format!("invalid target shape {spec:?}")),
        }
    }
    let product = |v: &[usize]| v.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    let known = product(&out).ok_or_else(|| format!("invalid target shape {spec:?}"))?;
    if let Some(i) = infer {
        if known == 0 || total % known != 0 {
            return Err(format!("cannot reshape {input:?} to {spec:?}"));
        }
        out[i] = total / known;
    }
    if product(&out) != Some(total) || out.len() > 4 || out.is_empty() {
        return Err(format!("cannot reshape {input:?} to {spec:?}"));
    }
    Ok(out)
}

/// Numpy-style broadcasting of two values (aligned on the right) for an element-wise op.
fn broadcast(
    node: &Node,
    a: Value,
    b: Value,
    f: impl Fn(Tensor<4>, Tensor<4>) -> Tensor<4>,
) -> Result<Value, ModelError> {
    let rank = a.shape.len().max(b.shape.len());
    let align =
        |s: &[usize]| -> Vec<usize> { std::iter::repeat_n(1, rank - s.len()).chain(s.iter().copied()).collect() };
    let (sa, sb) = (align(&a.shape), align(&b.shape));
    let mut shape = Vec::with_capacity(rank);
    for (&x, &y) in sa.iter().zip(&sb) {
        if x != y && x != 1 && y != 1 {
            return Err(err(node, format!("shapes {:?} and {:?} do not broadcast", a.shape, b.shape)));
        }
        shape.push(x.max(y));
    }
    let ta = a.tensor.reshape(padded4(&sa));
    let tb = b.tensor.reshape(padded4(&sb));
    Ok(Value::from_shape(f(ta, tb), shape))
}
