//! Codes: what the last layer with weights sees (the "penultimate" layer, AlexNet's FC7), one
//! vector per image (spatial maps averaged over positions); and nearest neighbours among them.

use crate::model::{Graph, Op};

/// The activation that feeds the last layer with weights on the way to the class scores
/// `score`: walk back from `score` through weightless nodes to the first Conv/Gemm/MatMul
/// with constant weights and take its input.
pub fn penultimate_layer(graph: &Graph, score: &str) -> Option<String> {
    let mut name = score.to_string();
    for _ in 0..graph.nodes.len() {
        let node = graph.nodes.iter().find(|n| n.output == name)?;
        let weighted = matches!(node.op, Op::Conv { .. } | Op::Gemm { .. } | Op::MatMul)
            && node.inputs.get(1).is_some_and(|w| graph.constants.contains_key(w));
        let first = node.inputs.iter().find(|i| !graph.constants.contains_key(*i) && !i.is_empty())?.clone();
        if weighted {
            // Skip pass-through nodes right before it (Dropout/Identity, Flatten) for a clearer name.
            let mut code = first;
            while let Some(n) = graph.nodes.iter().find(|n| n.output == code) {
                match n.op {
                    Op::Identity | Op::Flatten { .. } | Op::Reshape => match n.inputs.first() {
                        Some(i) if i != &graph.input => code = i.clone(),
                        _ => break,
                    },
                    _ => break,
                }
            }
            return Some(code);
        }
        name = first;
    }
    None
}

/// Activations `[n, C, …]` (any spatial size) as `n` codes of `C` values: the mean over
/// positions.
pub fn pool_codes(values: &[f32], n: usize, channels: usize) -> Vec<f32> {
    let per = values.len().checked_div(n * channels).unwrap_or(0);
    (0..n * channels)
        .map(|k| {
            let s = &values[k * per..(k + 1) * per];
            if per == 0 { 0.0 } else { s.iter().sum::<f32>() / per as f32 }
        })
        .collect()
}

/// The `k` rows of `rows` (`dims` columns) nearest to `query` in Euclidean distance, nearest
/// first (ties: the lower index), as (row, distance).
pub fn nearest(rows: &[f32], dims: usize, query: &[f32], k: usize) -> Vec<(usize, f32)> {
    if dims == 0 || query.len() != dims {
        return Vec::new();
    }
    let mut d: Vec<(usize, f32)> = rows
        .chunks_exact(dims)
        .enumerate()
        .map(|(i, r)| (i, r.iter().zip(query).map(|(a, b)| (a - b) * (a - b)).sum::<f32>().sqrt()))
        .collect();
    d.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
    d.truncate(k);
    d
}
