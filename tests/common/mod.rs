//! Builds tiny ONNX models in memory for known-answer tests, and runs them on the CPU.
#![allow(dead_code)]

use convlens::model::Model;
use convlens::{Device, Tensor, TensorData};
use onnx_ir::{AttributeProto, GraphProto, Message, ModelProto, NodeProto, TensorProto, ValueInfoProto};

pub fn device() -> Device {
    Device::flex()
}

pub enum Attr {
    Int(i64),
    Float(f32),
    Ints(Vec<i64>),
    Str(&'static str),
}

#[derive(Default)]
pub struct OnnxBuilder {
    graph: GraphProto,
}

impl OnnxBuilder {
    pub fn new(input: &str) -> Self {
        let mut b = Self::default();
        let mut vi = ValueInfoProto::new();
        vi.name = input.to_string();
        b.graph.input.push(vi);
        b
    }

    pub fn output(mut self, name: &str) -> Self {
        let mut vi = ValueInfoProto::new();
        vi.name = name.to_string();
        self.graph.output.push(vi);
        self
    }

    pub fn f32(mut self, name: &str, dims: &[i64], values: &[f32]) -> Self {
        let mut t = TensorProto::new();
        t.name = name.into();
        t.dims = dims.to_vec();
        t.data_type = 1;
        t.raw_data = values.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>().into();
        self.graph.initializer.push(t);
        self
    }

    pub fn i64(mut self, name: &str, dims: &[i64], values: &[i64]) -> Self {
        let mut t = TensorProto::new();
        t.name = name.into();
        t.dims = dims.to_vec();
        t.data_type = 7;
        t.int64_data = values.to_vec();
        self.graph.initializer.push(t);
        self
    }

    pub fn i8(mut self, name: &str, dims: &[i64], values: &[i8]) -> Self {
        let mut t = TensorProto::new();
        t.name = name.into();
        t.dims = dims.to_vec();
        t.data_type = 3;
        t.raw_data = values.iter().map(|&v| v as u8).collect::<Vec<u8>>().into();
        self.graph.initializer.push(t);
        self
    }

    pub fn node(mut self, op: &str, inputs: &[&str], output: &str, attrs: Vec<(&str, Attr)>) -> Self {
        let mut n = NodeProto::new();
        n.op_type = op.into();
        n.name = output.into();
        n.input = inputs.iter().map(|s| s.to_string()).collect();
        n.output = vec![output.to_string()];
        for (name, value) in attrs {
            let mut a = AttributeProto::new();
            a.name = name.into();
            match value {
                Attr::Int(i) => a.i = i,
                Attr::Float(f) => a.f = f,
                Attr::Ints(v) => a.ints = v,
                Attr::Str(s) => a.s = s.as_bytes().to_vec().into(),
            }
            n.attribute.push(a);
        }
        self.graph.node.push(n);
        self
    }

    pub fn bytes(self) -> Vec<u8> {
        let mut m = ModelProto::new();
        m.ir_version = 8;
        m.graph = Some(self.graph).into();
        m.write_to_bytes().expect("serialize test model")
    }

    pub fn model(self) -> Model {
        Model::from_bytes(&self.bytes()).expect("test model parses")
    }

    /// The usual classifier head on `from`: global average → flatten → Gemm with the constant
    /// `fc` (transposed) → "logits" → softmax "prob", bound to the test device.
    pub fn classifier(self, from: &str, fc: &str) -> convlens::model::Network {
        self.node("GlobalAveragePool", &[from], "g", vec![])
            .node("Flatten", &["g"], "f", vec![])
            .node("Gemm", &["f", fc], "logits", vec![("transB", Attr::Int(1))])
            .node("Softmax", &["logits"], "prob", vec![("axis", Attr::Int(1))])
            .output("prob")
            .model()
            .bind(&device())
            .expect("bind")
            .1
    }
}

/// Runs a single-input model on `input` (shape, values) and returns output `name`.
pub fn run(model: Model, dims: [usize; 4], values: Vec<f32>, name: &str) -> (Vec<usize>, Vec<f32>) {
    let device = device();
    let (_, net) = model.bind(&device).expect("bind");
    let x = Tensor::<4>::from_data(TensorData::new(values, dims), &device);
    let acts = net.forward(x, &[name]).expect("forward");
    let v = acts.get(name).expect("tap");
    let data = v.tensor.clone().into_data().convert::<f32>().try_into_vec::<f32>().expect("f32");
    (v.shape.clone(), data)
}

pub fn arange(n: usize) -> Vec<f32> {
    (0..n).map(|i| i as f32).collect()
}

pub fn assert_close(got: &[f32], want: &[f32], tol: f32) {
    assert_eq!(got.len(), want.len(), "length: got {got:?}, want {want:?}");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= tol * (1.0 + w.abs()), "element {i}: got {g}, want {w}\n got {got:?}\nwant {want:?}");
    }
}
