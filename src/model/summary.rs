//! What a model file holds, for the model picker and `convlens inspect`: its input and outputs,
//! the operators it uses, parameters, and every layer with its output shape (from one forward
//! pass of a blank image), marking the ones the methods can tap.

use std::collections::BTreeMap;

use burn::tensor::{Device, Tensor};

use super::{Model, ModelInfo};
use crate::error::ModelError;

/// One node output.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Layer {
    pub name: String,
    pub op: String,
    /// Its shape for one image at the model's input size.
    pub shape: Vec<usize>,
    /// Has a channel axis and a spatial grid: Grad-CAM, neuron targets, activation grids and
    /// top patches can use it.
    pub spatial: bool,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Summary {
    pub name: String,
    pub file_bytes: usize,
    pub opset: i64,
    pub input: String,
    /// As declared (`None`: symbolic).
    pub input_shape: Vec<Option<usize>>,
    pub outputs: Vec<String>,
    pub classes: usize,
    pub parameters: usize,
    /// Operator → how many nodes use it (after constants and weight dequantization are folded).
    pub ops: BTreeMap<String, usize>,
    pub layers: Vec<Layer>,
}

/// Summarizes `model`, running it once on a grey image on `device`.
pub fn summarize(model: &Model, device: &Device) -> Result<Summary, ModelError> {
    let info: &ModelInfo = &model.info;
    let graph = &model.graph;
    let mut ops = BTreeMap::new();
    for n in &graph.nodes {
        *ops.entry(n.op_type.clone()).or_insert(0) += 1;
    }
    let net = super::Network::new(graph.clone(), device)?;
    let side = info.input_size;
    let x = Tensor::<4>::full([1, 3, side, side], 0.5, device);
    let names: Vec<&str> = graph.nodes.iter().map(|n| n.output.as_str()).collect();
    let acts = net.forward(x, &names)?;
    let layers = graph
        .nodes
        .iter()
        .map(|n| {
            let shape = acts.values.get(&n.output).map(|v| v.shape.clone()).unwrap_or_default();
            let spatial = is_spatial(&shape);
            Layer { name: n.output.clone(), op: n.op_type.clone(), shape, spatial }
        })
        .collect();
    let classes = net.scores(Tensor::<4>::full([1, 3, side, side], 0.5, device))?.dims()[1];
    Ok(Summary {
        name: info.name.clone(),
        file_bytes: info.file_bytes,
        opset: graph.opset,
        input: graph.input.clone(),
        input_shape: graph.input_shape.clone(),
        outputs: graph.outputs.clone(),
        classes,
        parameters: info.parameters,
        ops,
        layers,
    })
}

/// Runs `net` once on `image` keeping every layer: the number of classes (read back, so the
/// pass has really run: a warm-up), and every layer's shape.
pub async fn warm_up(
    net: &super::Network,
    image: &image::RgbImage,
) -> Result<(usize, Vec<crate::protocol::LayerShape>), ModelError> {
    let x = crate::image::to_tensor(image, net.device());
    let names: Vec<&str> = net.graph().tap_names().collect();
    let acts = net.forward(x, &names)?;
    let score = acts.get(net.score_name())?;
    let classes = crate::classify::read_f32(score.tensor.clone()).await?.len();
    let layers = net
        .graph()
        .nodes
        .iter()
        .filter_map(|n| {
            let shape = &acts.values.get(&n.output)?.shape;
            Some(crate::protocol::LayerShape {
                name: n.output.clone(),
                op: n.op_type.clone(),
                shape: shape.iter().skip(1).copied().collect(),
                spatial: is_spatial(shape),
            })
        })
        .collect();
    Ok((classes, layers))
}

/// Has a channel axis and more than one position.
fn is_spatial(shape: &[usize]) -> bool {
    shape.len() == 4 && shape[2] * shape[3] > 1
}

impl Summary {
    /// The summary in a few lines of text.
    pub fn text(&self) -> String {
        let dims = |s: &[Option<usize>]| s.iter().map(|d| d.map_or("?".into(), |v| v.to_string())).collect::<Vec<_>>();
        let mut out = format!(
            "{}\n  {} bytes, opset {}, {} parameters, {} classes\n  input '{}' [{}], outputs {}\n  operators: {}\n  layers ({} spatial, marked *):\n",
            self.name,
            self.file_bytes,
            self.opset,
            self.parameters,
            self.classes,
            self.input,
            dims(&self.input_shape).join("×"),
            self.outputs.join(", "),
            self.ops.iter().map(|(k, v)| format!("{k}×{v}")).collect::<Vec<_>>().join(", "),
            self.layers.iter().filter(|l| l.spatial).count(),
        );
        for l in &self.layers {
            let shape = l.shape.iter().map(usize::to_string).collect::<Vec<_>>().join("×");
            out.push_str(&format!("  {} {:<32} {:<20} {}\n", if l.spatial { "*" } else { " " }, l.name, l.op, shape));
        }
        out
    }
}
