//! The sanity check of Adebayo et al. ("Sanity checks for saliency maps", 2018): replace the
//! weights of the top layers by random ones, cascading down from the output, and see which
//! explanations change. A method whose map survives randomization is not explaining the model.

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, Normal};

use super::exec::Network;
use super::graph::Op;
use super::host::HostTensor;
use crate::error::ModelError;

impl Network {
    /// The layers with weights (convolutions and dense layers), output side first.
    pub fn weight_layers(&self) -> Vec<String> {
        self.graph
            .nodes
            .iter()
            .rev()
            .filter(|n| matches!(n.op, Op::Conv { .. } | Op::Gemm { .. } | Op::MatMul))
            .map(|n| n.output.clone())
            .collect()
    }

    /// A copy whose top `layers` weight layers (see [`Network::weight_layers`]) have random
    /// weights and biases: Gaussian, with each tensor's own standard deviation (zero mean), so
    /// activations keep their scale. The same seed gives the same copy.
    pub fn randomized(&self, layers: usize, seed: u64) -> Result<Network, ModelError> {
        let top = self.weight_layers();
        let mut graph = self.graph.clone();
        let mut rng = StdRng::seed_from_u64(seed);
        for node in graph.nodes.iter().filter(|n| top.iter().take(layers).any(|t| *t == n.output)) {
            for name in node.inputs.iter().skip(1) {
                let Some(c) = graph.constants.get_mut(name) else { continue };
                let values = c.to_f32();
                let n = values.len().max(1) as f32;
                let mean = values.iter().sum::<f32>() / n;
                let std = (values.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / n).sqrt();
                let noise = Normal::new(0.0, std.max(1e-6)).map_err(|e| ModelError::Malformed(e.to_string()))?;
                *c = HostTensor::f32(c.dims.clone(), values.iter().map(|_| noise.sample(&mut rng)).collect());
            }
        }
        Network::new(graph, self.device())
    }
}
