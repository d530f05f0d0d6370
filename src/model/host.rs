//! Tensors that live on the host: weights and constants read from an ONNX file, and the small
//! integer tensors (shapes, pads) that steer operators. Device tensors are made from these.

use crate::error::ModelError;
use onnx_ir::TensorProto;

/// ONNX `TensorProto.DataType` codes we read.
pub mod dtype {
    pub const FLOAT: i32 = 1;
    pub const UINT8: i32 = 2;
    pub const INT8: i32 = 3;
    pub const INT32: i32 = 6;
    pub const INT64: i32 = 7;
    pub const DOUBLE: i32 = 11;
}

/// Element storage of a host tensor.
#[derive(Debug, Clone, PartialEq)]
pub enum HostData {
    /// Shared: a convolution's backward pass keeps its weights ([`super::conv_grad_op`]).
    F32(std::sync::Arc<Vec<f32>>),
    I64(Vec<i64>),
    I8(Vec<i8>),
    U8(Vec<u8>),
}

/// A dense host tensor with its shape (row-major).
#[derive(Debug, Clone, PartialEq)]
pub struct HostTensor {
    pub dims: Vec<usize>,
    pub data: HostData,
}

impl HostTensor {
    pub fn f32(dims: Vec<usize>, values: Vec<f32>) -> Self {
        Self { dims, data: HostData::F32(values.into()) }
    }

    pub fn i64(dims: Vec<usize>, values: Vec<i64>) -> Self {
        Self { dims, data: HostData::I64(values) }
    }

    pub fn len(&self) -> usize {
        self.dims.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Values as f32 (integers are converted).
    pub fn to_f32(&self) -> Vec<f32> {
        match &self.data {
            HostData::F32(v) => v.to_vec(),
            HostData::I64(v) => v.iter().map(|&x| x as f32).collect(),
            HostData::I8(v) => v.iter().map(|&x| x as f32).collect(),
            HostData::U8(v) => v.iter().map(|&x| x as f32).collect(),
        }
    }

    /// Values as i64 (floats are truncated), for shapes, pads and axes.
    pub fn to_i64(&self) -> Vec<i64> {
        match &self.data {
            HostData::F32(v) => v.iter().map(|&x| x as i64).collect(),
            HostData::I64(v) => v.clone(),
            HostData::I8(v) => v.iter().map(|&x| x as i64).collect(),
            HostData::U8(v) => v.iter().map(|&x| x as i64).collect(),
        }
    }

    pub fn is_float(&self) -> bool {
        matches!(self.data, HostData::F32(_))
    }

    /// Decodes an ONNX `TensorProto` (raw or typed fields). External data is refused.
    pub fn from_proto(t: &TensorProto) -> Result<Self, ModelError> {
        let name = t.name.clone();
        let dims = t
            .dims
            .iter()
            .map(|&d| {
                usize::try_from(d)
                    .map_err(|_| ModelError::Malformed(format!("tensor '{name}' has negative dimension {d}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let count = dims
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .filter(|&n| n <= 1 << 30)
            .ok_or_else(|| ModelError::Malformed(format!("tensor '{name}' is implausibly large: {dims:?}")))?;
        if !t.external_data.is_empty() {
            return Err(ModelError::Malformed(format!(
                "tensor '{name}' keeps its data in an external file; save the model with weights inside"
            )));
        }
        let raw: &[u8] = &t.raw_data;
        let has_raw = !raw.is_empty() || count == 0;
        let check = |n: usize| {
            if n == count {
                Ok(())
            } else {
                Err(ModelError::Malformed(format!(
                    "tensor '{name}' holds {n} values but its shape {dims:?} needs {count}"
                )))
            }
        };
        let data = match t.data_type {
            dtype::FLOAT => {
                let v: Vec<f32> = if has_raw {
                    raw.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
                } else {
                    t.float_data.clone()
                };
                check(v.len())?;
                HostData::F32(v.into())
            }
            dtype::DOUBLE => {
                let v: Vec<f32> = if has_raw {
                    raw.chunks_exact(8)
                        .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f32)
                        .collect()
                } else {
                    t.double_data.iter().map(|&x| x as f32).collect()
                };
                check(v.len())?;
                HostData::F32(v.into())
            }
            dtype::INT64 => {
                let v: Vec<i64> = if has_raw {
                    raw.chunks_exact(8)
                        .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                        .collect()
                } else {
                    t.int64_data.clone()
                };
                check(v.len())?;
                HostData::I64(v)
            }
            dtype::INT32 => {
                let v: Vec<i64> = if has_raw {
                    raw.chunks_exact(4).map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i64).collect()
                } else {
                    t.int32_data.iter().map(|&x| x as i64).collect()
                };
                check(v.len())?;
                HostData::I64(v)
            }
            dtype::INT8 => {
                let v: Vec<i8> = if has_raw {
                    raw.iter().map(|&b| b as i8).collect()
                } else {
                    t.int32_data.iter().map(|&x| x as i8).collect()
                };
                check(v.len())?;
                HostData::I8(v)
            }
            dtype::UINT8 => {
                let v: Vec<u8> = if has_raw { raw.to_vec() } else { t.int32_data.iter().map(|&x| x as u8).collect() };
                check(v.len())?;
                HostData::U8(v)
            }
            other => return Err(ModelError::UnsupportedDType { name, data_type: other }),
        };
        Ok(Self { dims, data })
    }
}

/// `DequantizeLinear`: y = (x - zero_point) * scale, per tensor or per slice along `axis`.
pub fn dequantize_linear(
    x: &HostTensor,
    scale: &HostTensor,
    zero_point: Option<&HostTensor>,
    axis: i64,
) -> Result<HostTensor, String> {
    let q = x.to_f32();
    let s = scale.to_f32();
    let zp = zero_point.map(|z| z.to_f32()).unwrap_or_else(|| vec![0.0; s.len()]);
    if s.is_empty() || zp.len() != s.len() {
        return Err(format!("scale has {} values but zero point has {}", s.len(), zp.len()));
    }
    if s.len() == 1 {
        let out = q.iter().map(|&v| (v - zp[0]) * s[0]).collect();
        return Ok(HostTensor::f32(x.dims.clone(), out));
    }
    let rank = x.dims.len() as i64;
    let axis = if axis < 0 { axis + rank } else { axis };
    if axis < 0 || axis >= rank {
        return Err(format!("axis {axis} out of range for rank {rank}"));
    }
    let axis = axis as usize;
    if x.dims[axis] != s.len() {
        return Err(format!("{} scales for axis {axis} of length {}", s.len(), x.dims[axis]));
    }
    let inner: usize = x.dims[axis + 1..].iter().product();
    let channels = x.dims[axis];
    let out = q
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let c = (i / inner.max(1)) % channels;
            (v - zp[c]) * s[c]
        })
        .collect();
    Ok(HostTensor::f32(x.dims.clone(), out))
}
