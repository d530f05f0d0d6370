//! Integer-operator int8 models, rewritten at load into what the executor already runs.
//!
//! onnxruntime writes int8 models in two more forms besides QDQ:
//! - static "QOperator": `QLinearConv`, `QLinearMatMul` and the `com.microsoft` ops (`QGemm`,
//!   `QLinearAdd`, `QLinearMul`, `QLinearConcat`, `QLinearGlobalAveragePool`, …) take quantized
//!   tensors with their scales and zero points. Each becomes DequantizeLinear of its inputs, the
//!   float op, and QuantizeLinear of its output: the weights' DequantizeLinear folds at load, and
//!   the activations keep their run-time rounding, so the result is the integer kernel's up to
//!   the float sum's rounding.
//! - dynamic: `DynamicQuantizeLinear` picks a uint8 scale from each activation's range at run
//!   time, `ConvInteger` / `MatMulInteger` sum the integers, a `Cast` and a `Mul` by the product of
//!   the scales bring the result back. Here `DynamicQuantizeLinear` yields the dequantized values
//!   (the rounding kept) with scale 1 and zero point 0, and the integer ops become float ops on
//!   weights minus their zero point, which gives the same numbers.

use std::collections::HashMap;

use onnx_ir::{AttributeProto, NodeProto};

use super::host::{HostTensor, dequantize_linear};
use crate::error::ModelError;

/// What one node becomes: standard nodes, and constants they (or later nodes) read.
#[derive(Default)]
pub(super) struct Expansion {
    pub nodes: Vec<NodeProto>,
    pub constants: Vec<(String, HostTensor)>,
}

fn bad(node: &NodeProto, message: impl Into<String>) -> ModelError {
    let name = if node.name.is_empty() { node.output.first().cloned().unwrap_or_default() } else { node.name.clone() };
    ModelError::BadNode { node: name, op_type: node.op_type.clone(), message: message.into() }
}

fn make(op_type: &str, name: String, inputs: Vec<String>, output: String, attribute: Vec<AttributeProto>) -> NodeProto {
    NodeProto {
        op_type: op_type.to_string(),
        name,
        input: inputs,
        output: vec![output],
        attribute,
        ..Default::default()
    }
}

fn int_attr(name: &str, value: i64) -> AttributeProto {
    AttributeProto { name: name.to_string(), i: value, ..Default::default() }
}

/// The node's attributes except `drop`.
fn attrs_without(node: &NodeProto, drop: &[&str]) -> Vec<AttributeProto> {
    node.attribute.iter().filter(|a| !drop.contains(&a.name.as_str())).cloned().collect()
}

/// Builds the replacement nodes of one integer op.
struct Builder<'a> {
    node: &'a NodeProto,
    constants: &'a HashMap<String, HostTensor>,
    out: Expansion,
    /// The node's own output name.
    output: String,
}

impl<'a> Builder<'a> {
    fn input(&self, k: usize) -> String {
        self.node.input.get(k).cloned().unwrap_or_default()
    }

    fn required(&self, k: usize, what: &str) -> Result<String, ModelError> {
        let name = self.input(k);
        if name.is_empty() { Err(bad(self.node, format!("missing {what} (input {k})"))) } else { Ok(name) }
    }

    fn constant(&self, k: usize, what: &str) -> Result<&'a HostTensor, ModelError> {
        let name = self.required(k, what)?;
        self.constants.get(&name).ok_or_else(|| bad(self.node, format!("{what} '{name}' must be a constant")))
    }

    fn push(&mut self, op: &str, suffix: &str, inputs: Vec<String>, attrs: Vec<AttributeProto>) -> String {
        let output = format!("{}/{suffix}", self.output);
        let name = format!("{}/{suffix}", self.node_name());
        self.out.nodes.push(make(op, name, inputs, output.clone(), attrs));
        output
    }

    fn node_name(&self) -> String {
        if self.node.name.is_empty() { self.output.clone() } else { self.node.name.clone() }
    }

    /// DequantizeLinear of the triple starting at input `k` (value, scale, zero point).
    fn dequantize(&mut self, k: usize, tag: &str, axis: i64) -> Result<String, ModelError> {
        let x = self.required(k, "quantized input")?;
        let scale = self.required(k + 1, "scale")?;
        let zero = self.input(k + 2);
        Ok(self.push(
            "DequantizeLinear",
            &format!("dequantized_{tag}"),
            vec![x, scale, zero],
            vec![int_attr("axis", axis)],
        ))
    }

    /// The float op under the node's own name; its output is the node's when `quantize` is
    /// `None`, else it is quantized with the scale and zero point at inputs `quantize`.
    fn finish(
        mut self,
        op: &str,
        inputs: Vec<String>,
        attrs: Vec<AttributeProto>,
        quantize: Option<usize>,
    ) -> Result<Expansion, ModelError> {
        let name = self.node_name();
        match quantize {
            Some(k) => {
                let float = format!("{}/float", self.output);
                self.out.nodes.push(make(op, name.clone(), inputs, float.clone(), attrs));
                let scale = self.required(k, "output scale")?;
                let zero = self.input(k + 1);
                self.out.nodes.push(make(
                    "QuantizeLinear",
                    format!("{name}/quantize"),
                    vec![float, scale, zero],
                    self.output.clone(),
                    vec![],
                ));
            }
            None => self.out.nodes.push(make(op, name, inputs, self.output.clone(), attrs)),
        }
        Ok(self.out)
    }

    /// An int32 bias at input `k` as floats: its scale is `scale_a · scale_b` (per output
    /// channel where `scale_b` is), times `factor`.
    fn bias(&mut self, k: usize, scale_a: usize, scale_b: usize, factor: f32) -> Result<String, ModelError> {
        let b = self.constant(k, "bias")?;
        let sa = self.constant(scale_a, "scale")?.to_f32();
        let sb = self.constant(scale_b, "scale")?.to_f32();
        if sa.len() != 1 || sb.is_empty() {
            return Err(bad(self.node, "the input scale must be one value"));
        }
        let scale: Vec<f32> = sb.iter().map(|s| s * sa[0] * factor).collect();
        let scale = HostTensor::f32(if scale.len() == 1 { vec![] } else { vec![scale.len()] }, scale);
        let axis = b.dims.len() as i64 - 1;
        let y = dequantize_linear(b, &scale, None, axis).map_err(|m| bad(self.node, format!("bias: {m}")))?;
        let name = format!("{}/bias", self.output);
        self.out.constants.push((name.clone(), y));
        Ok(name)
    }

    /// A constant integer tensor minus its zero point (`zero` at input `k`, per slice along
    /// `axis`), as floats.
    fn centred(&mut self, value: usize, zero: usize, axis: i64, tag: &str) -> Result<String, ModelError> {
        let x = self.constant(value, "weight")?;
        let z = match self.input(zero).as_str() {
            "" => None,
            _ => Some(self.constant(zero, "zero point")?),
        };
        let ones = HostTensor::f32(vec![], vec![1.0]);
        let y = match z {
            Some(z) if z.len() > 1 => {
                let ones = HostTensor::f32(vec![z.len()], vec![1.0; z.len()]);
                dequantize_linear(x, &ones, Some(z), axis)
            }
            Some(z) => dequantize_linear(x, &ones, Some(&HostTensor::f32(vec![], z.to_f32())), axis),
            None => dequantize_linear(x, &ones, None, axis),
        }
        .map_err(|m| bad(self.node, m))?;
        let name = format!("{}/{tag}", self.output);
        self.out.constants.push((name.clone(), y));
        Ok(name)
    }

    /// An activation minus a constant zero point (none when it is zero).
    fn shifted(&mut self, value: usize, zero: usize, tag: &str) -> Result<String, ModelError> {
        let x = self.required(value, "input")?;
        if self.input(zero).is_empty() {
            return Ok(x);
        }
        let z = self.constant(zero, "input zero point")?;
        if z.to_f32().iter().all(|v| *v == 0.0) {
            return Ok(x);
        }
        let zero = self.input(zero);
        Ok(self.push("Sub", &format!("shifted_{tag}"), vec![x, zero], vec![]))
    }
}

/// Rewrites `node` if it is one of the integer forms; `None` leaves it as it is.
pub(super) fn expand(
    node: &NodeProto,
    constants: &HashMap<String, HostTensor>,
) -> Result<Option<Expansion>, ModelError> {
    let contrib = node.domain == "com.microsoft";
    if !(contrib || node.domain.is_empty() || node.domain == "ai.onnx") {
        return Ok(None);
    }
    let Some(output) = node.output.first().filter(|o| !o.is_empty()).cloned() else { return Ok(None) };
    let mut b = Builder { node, constants, out: Expansion::default(), output };
    let channels_last = || node.attribute.iter().any(|a| a.name == "channels_last" && a.i != 0);
    let expansion = match (contrib, node.op_type.as_str()) {
        (false, "QLinearConv") => {
            let x = b.dequantize(0, "x", 1)?;
            let w = b.dequantize(3, "w", 0)?;
            let mut inputs = vec![x, w];
            if !b.input(8).is_empty() {
                inputs.push(b.bias(8, 1, 4, 1.0)?);
            }
            b.finish("Conv", inputs, node.attribute.clone(), Some(6))?
        }
        (false, "QLinearMatMul") => {
            let a = b.dequantize(0, "a", -2)?;
            let w = b.dequantize(3, "b", -1)?;
            b.finish("MatMul", vec![a, w], vec![], Some(6))?
        }
        (true, "QGemm") => {
            let trans_b = node.attribute.iter().any(|a| a.name == "transB" && a.i != 0);
            let alpha = node.attribute.iter().find(|a| a.name == "alpha").map_or(1.0, |a| a.f);
            let a = b.dequantize(0, "a", -2)?;
            let w = b.dequantize(3, "b", if trans_b { 0 } else { 1 })?;
            let mut inputs = vec![a, w];
            if !b.input(6).is_empty() {
                inputs.push(b.bias(6, 1, 4, alpha)?);
            }
            let quantize = (!b.input(7).is_empty()).then_some(7);
            b.finish("Gemm", inputs, attrs_without(node, &["beta"]), quantize)?
        }
        (true, op @ ("QLinearAdd" | "QLinearMul")) => {
            let a = b.dequantize(0, "a", 1)?;
            let c = b.dequantize(3, "b", 1)?;
            b.finish(if op == "QLinearAdd" { "Add" } else { "Mul" }, vec![a, c], vec![], Some(6))?
        }
        (true, "QLinearGlobalAveragePool" | "QLinearAveragePool") if channels_last() => {
            return Err(bad(node, "channels_last pooling is not supported"));
        }
        (true, op @ ("QLinearGlobalAveragePool" | "QLinearAveragePool" | "QLinearSigmoid" | "QLinearLeakyRelu")) => {
            let x = b.dequantize(0, "x", 1)?;
            let float = &op["QLinear".len()..];
            b.finish(float, vec![x], attrs_without(node, &["channels_last"]), Some(3))?
        }
        (true, "QLinearSoftmax") => {
            let x = b.dequantize(0, "x", 1)?;
            let axis = node.attribute.iter().find(|a| a.name == "axis").map_or(-1, |a| a.i);
            b.finish("Softmax", vec![x], vec![int_attr("axis", axis)], Some(3))?
        }
        (true, "QLinearConcat") => {
            let parts = node.input.len().saturating_sub(2);
            if parts == 0 || parts % 3 != 0 {
                return Err(bad(node, "expects an output scale and zero point, then triples of inputs"));
            }
            let mut inputs = Vec::new();
            for p in 0..parts / 3 {
                inputs.push(b.dequantize(2 + 3 * p, &p.to_string(), 1)?);
            }
            b.finish("Concat", inputs, node.attribute.clone(), Some(0))?
        }
        (false, "ConvInteger") => {
            let x = b.shifted(0, 2, "x")?;
            let w = b.centred(1, 3, 0, "w")?;
            b.finish("Conv", vec![x, w], node.attribute.clone(), None)?
        }
        (false, "MatMulInteger") => {
            let a = b.shifted(0, 2, "a")?;
            let w = b.centred(1, 3, -1, "b")?;
            b.finish("MatMul", vec![a, w], vec![], None)?
        }
        (false, "DynamicQuantizeLinear") => {
            let x = b.required(0, "input")?;
            let mut out = b.finish("DynamicQuantizeLinear", vec![x], vec![], None)?;
            let one = HostTensor::f32(vec![], vec![1.0]);
            let zero = HostTensor { dims: vec![], data: super::host::HostData::U8(vec![0]) };
            for (k, value) in [(1, one), (2, zero)] {
                if let Some(name) = node.output.get(k).filter(|n| !n.is_empty()) {
                    out.constants.push((name.clone(), value));
                }
            }
            out
        }
        (true, other) => {
            return Err(ModelError::UnsupportedOp {
                op_type: format!("com.microsoft::{other}"),
                node: b.node_name(),
                supported: super::graph::SUPPORTED_OPS.join(", "),
            });
        }
        _ => return Ok(None),
    };
    Ok(Some(expansion))
}
