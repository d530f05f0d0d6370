//! The CLI's model commands: `inspect` (what a file holds) and `run` (a raw tensor through the
//! graph, for checking convlens against another runtime on your own model).

use convlens::model::Model;
use convlens::model::summary::summarize;
use convlens::{Tensor, TensorData};

/// Reads a little-endian float32 (or float64, converted) C-order `.npy` file: (shape, values).
pub fn read_npy(bytes: &[u8]) -> Result<(Vec<usize>, Vec<f32>), String> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err("not a .npy file".into());
    }
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12),
        v => return Err(format!(".npy version {v} is not supported")),
    };
    let header = bytes.get(start..start + header_len).ok_or("the .npy header is truncated")?;
    let header = String::from_utf8_lossy(header);
    let field = |key: &str| -> Option<String> {
        let at = header.find(&format!("'{key}'"))? + key.len() + 2;
        let rest = header[at..].trim_start().strip_prefix(':')?.trim_start();
        let end = if rest.starts_with('(') { rest.find(')')? + 1 } else { rest.find(',').unwrap_or(rest.len()) };
        Some(rest[..end].trim().to_string())
    };
    let descr = field("descr").ok_or("the .npy header has no descr")?;
    if field("fortran_order").as_deref() != Some("False") {
        return Err("only C-order .npy arrays are supported".into());
    }
    let shape: Vec<usize> = field("shape")
        .ok_or("the .npy header has no shape")?
        .trim_matches(|c| c == '(' || c == ')')
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().parse::<usize>().map_err(|_| format!("bad .npy shape entry '{s}'")))
        .collect::<Result<_, _>>()?;
    let n: usize = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).ok_or("the .npy shape is absurd")?;
    let data = &bytes[start + header_len..];
    let values: Vec<f32> = match descr.trim_matches('\'') {
        "<f4" if data.len() >= n * 4 => {
            data.chunks_exact(4).take(n).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
        }
        "<f8" if data.len() >= n * 8 => {
            data.chunks_exact(8).take(n).map(|b| f64::from_le_bytes(b.try_into().unwrap_or_default()) as f32).collect()
        }
        "<f4" | "<f8" => return Err(format!("the .npy data is shorter than its shape {shape:?}")),
        other => return Err(format!(".npy dtype {other} is not supported (use float32)")),
    };
    Ok((shape, values))
}

fn load(path: &str) -> Result<Model, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read model {path}: {e}"))?;
    Model::from_bytes(&bytes).map_err(|e| e.to_string())
}

pub fn inspect(args: Vec<String>) -> Result<String, String> {
    let json = args.iter().any(|a| a == "--json");
    let path = args.iter().find(|a| !a.starts_with("--")).ok_or("inspect needs MODEL.onnx")?;
    let model = load(path)?;
    let summary = summarize(&model, &convlens::Device::flex()).map_err(|e| e.to_string())?;
    if json {
        serde_json::to_string_pretty(&summary).map(|s| s + "\n").map_err(|e| e.to_string())
    } else {
        Ok(summary.text())
    }
}

pub fn run(args: Vec<String>, write_npy: fn(&[f32], &[usize]) -> Vec<u8>) -> Result<String, String> {
    let (mut model, mut input, mut out) = (None, None, None);
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--input" => input = Some(it.next().ok_or("--input needs X.npy")?),
            "--out" => out = Some(it.next().ok_or("--out needs Y.npy")?),
            s if s.starts_with("--") => return Err(format!("unknown option {s}")),
            _ => model = Some(a),
        }
    }
    let (model, input, out) = (
        model.ok_or("run needs MODEL.onnx")?,
        input.ok_or("run needs --input X.npy")?,
        out.ok_or("run needs --out Y.npy")?,
    );
    let model = load(&model)?;
    let output = model.graph.outputs[0].clone();
    let (_, net) = model.bind(&convlens::Device::flex()).map_err(|e| e.to_string())?;
    let bytes = std::fs::read(&input).map_err(|e| format!("cannot read {input}: {e}"))?;
    let (shape, values) = read_npy(&bytes)?;
    let dims: [usize; 4] =
        shape.as_slice().try_into().map_err(|_| format!("the input must be 4-D (NCHW), got {shape:?}"))?;
    let x = Tensor::<4>::from_data(TensorData::new(values, dims), net.device());
    let acts = net.forward(x, &[]).map_err(|e| e.to_string())?;
    let y = acts.get(&output).map_err(|e| e.to_string())?;
    let data = pollster::block_on(convlens::classify::read_f32(y.tensor.clone())).map_err(|e| e.to_string())?;
    std::fs::write(&out, write_npy(&data, &y.shape)).map_err(|e| format!("cannot write {out}: {e}"))?;
    Ok(format!("{output} {:?} written to {out}\n", y.shape))
}
