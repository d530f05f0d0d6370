//! Incremental inference for occlusion (after Nakandala et al., "Incremental and approximate
//! inference for faster occlusion-based deep CNN explanations", SIGMOD 2019). A batch of copies
//! of one image that differ only inside one small square each is carried through the network
//! as the unmodified image's activations plus, per copy, a patch where the activations may
//! differ. A convolution or pooling recomputes only the patch's reach (its input tile cut from
//! the unmodified activations with the patch pasted in); position-wise ops run on the patch
//! alone. Once a patch covers most of its layer, the copies are assembled in full and the rest
//! of the network runs as usual (an exact sweep's single copy only at a pool, a depthwise
//! convolution or a residual sum: [`DENSE_SHARE`]). The answers equal a plain forward pass of
//! the occluded images up to float rounding.

use std::collections::HashMap;

use burn::tensor::ops::PadMode;
use burn::tensor::{Tensor, TensorData};

use super::exec::{Network, Value, conv_padding, cpu_values};
use super::graph::{Node, Op};
use super::modified_relu::ReluRule;
use crate::error::ModelError;

/// Copies of one activation that differ from it only inside one rectangle per copy.
#[derive(Clone, Debug)]
struct Patched {
    /// The unmodified activation, `[1, C, H, W]`.
    base: Tensor<4>,
    /// Per copy, the values inside its rectangle, `[N, C, ph, pw]`.
    patch: Tensor<4>,
    /// Per copy, the rectangle's top-left corner.
    at: Vec<[usize; 2]>,
}

#[derive(Clone, Debug)]
enum Inc {
    Dense(Value),
    Patched(Patched),
}

/// A patch that covers more than this share of its layer is assembled in full: a batch's
/// copies anywhere, and a single copy of an exact sweep ([`alone_and_exact`]) at a pool, a
/// grouped (depthwise) convolution or a residual sum. That single copy's other convolutions stay
/// patched however far they reach: the outputs they skip save more than the tile copy costs
/// (SqueezeNet's exact sweep 5% faster under WASI, the other architectures within ±2%;
/// BENCHMARKS.md), where a residual sum of two large patches would copy both at every block.
const DENSE_SHARE: f32 = 0.7;

/// Whether `p` is the one copy of an exact sweep's window ([`DENSE_SHARE`]).
fn alone_and_exact(p: &Patched, cap: Option<f32>) -> bool {
    cap.is_none() && p.at.len() == 1
}

impl Patched {
    fn size(&self) -> [usize; 2] {
        let [_, _, h, w] = self.patch.dims();
        [h, w]
    }

    /// Every copy in full, `[N, C, H, W]`.
    fn dense(&self) -> Tensor<4> {
        let [_, _, h, w] = self.base.dims();
        self.gather(&vec![[0, 0]; self.at.len()], [h, w], 0.0)
    }

    /// For each copy, the `size` window whose top-left corner is `from[r]` (it may reach past
    /// the map, where `pad` fills in): `[N, C, th, tw]`.
    fn gather(&self, from: &[[isize; 2]], size: [usize; 2], pad: f32) -> Tensor<4> {
        // Tiles that are the patches themselves (a 1×1 convolution's, the larger operand's of
        // a concatenation): nothing to assemble.
        let own = |(f, a): (&[isize; 2], &[usize; 2])| f[0] == a[0] as isize && f[1] == a[1] as isize;
        if size == self.size() && from.len() == self.at.len() && from.iter().zip(&self.at).all(own) {
            return self.patch.clone();
        }
        self.tiles_on_host(from, size, pad).unwrap_or_else(|| self.tiles_by_ops(from, size, pad))
    }

    /// [`Patched::gather`] by tensor operations (any backend): the map padded, each tile sliced
    /// out, its copy's patch pasted in, the tiles concatenated.
    fn tiles_by_ops(&self, from: &[[isize; 2]], [th, tw]: [usize; 2], pad: f32) -> Tensor<4> {
        let [_, c, h, w] = self.base.dims();
        let [ph, pw] = self.size();
        let before = |d: usize| from.iter().map(|f| (-f[d]).max(0) as usize).max().unwrap_or(0);
        let after = |d: usize, size: usize, extent: usize| {
            from.iter().map(|f| (f[d] + size as isize - extent as isize).max(0) as usize).max().unwrap_or(0)
        };
        let (top, left, bottom, right) = (before(0), before(1), after(0, th, h), after(1, tw, w));
        let padded = if top + left + bottom + right > 0 {
            self.base.clone().pad([(top, bottom), (left, right)], PadMode::Constant(pad))
        } else {
            self.base.clone()
        };
        let tiles = from
            .iter()
            .enumerate()
            .map(|(r, f)| {
                let (y0, x0) = ((f[0] + top as isize) as usize, (f[1] + left as isize) as usize);
                let mut tile = padded.clone().slice([0..1, 0..c, y0..y0 + th, x0..x0 + tw]);
                // Paste this copy's patch where it overlaps the window.
                let [py, px] = [self.at[r][0] as isize, self.at[r][1] as isize];
                let (oy0, oy1) = (py.max(f[0]), (py + ph as isize).min(f[0] + th as isize));
                let (ox0, ox1) = (px.max(f[1]), (px + pw as isize).min(f[1] + tw as isize));
                if oy0 < oy1 && ox0 < ox1 {
                    let src = |a: isize, o: isize| (a - o) as usize;
                    let part = self.patch.clone().slice([
                        r..r + 1,
                        0..c,
                        src(oy0, py)..src(oy1, py),
                        src(ox0, px)..src(ox1, px),
                    ]);
                    tile = tile.slice_assign(
                        [0..1, 0..c, src(oy0, f[0])..src(oy1, f[0]), src(ox0, f[1])..src(ox1, f[1])],
                        part,
                    );
                }
                tile
            })
            .collect();
        Tensor::cat(tiles, 0)
    }

    /// [`Patched::gather`] on the CPU backend: each tile written once, row by row, straight from
    /// the unmodified map's and the patch's values (borrowed, not copied), where
    /// [`Patched::tiles_by_ops`] copies every tile three to four times (a third of a sweep's time
    /// when each window runs alone). `None` on other backends, or for a non-contiguous tensor.
    fn tiles_on_host(&self, from: &[[isize; 2]], [th, tw]: [usize; 2], pad: f32) -> Option<Tensor<4>> {
        let c = self.base.dims()[1];
        let mut out = vec![pad; from.len() * c * th * tw];
        self.write_tiles(from, [th, tw], &mut out, c, 0)
            .then(|| Tensor::from_data(TensorData::new(out, [from.len(), c, th, tw]), &self.base.device()))
    }

    /// The tiles of [`Patched::tiles_on_host`] written into `out` (`[N, channels, th, tw]`, already
    /// holding the padding value), as its channels `offset..offset + C`; `false` (nothing
    /// written) when the values are not on the host.
    fn write_tiles(
        &self,
        from: &[[isize; 2]],
        [th, tw]: [usize; 2],
        out: &mut [f32],
        channels: usize,
        offset: usize,
    ) -> bool {
        let (base, patch) = (self.base.clone().into_dispatch(), self.patch.clone().into_dispatch());
        let (Some(base), Some(patch)) = (cpu_values(&base), cpu_values(&patch)) else { return false };
        let [_, c, h, w] = self.base.dims();
        let [ph, pw] = self.size();
        assert!(offset + c <= channels && out.len() >= from.len() * channels * th * tw);
        let (h, w) = (h as isize, w as isize);
        for (r, (f, at)) in from.iter().zip(&self.at).enumerate() {
            let [py, px] = at.map(|v| v as isize);
            let tile = (r * channels + offset) * th * tw;
            if [th, tw] == [ph, pw] && f[0] == py && f[1] == px {
                // The tile is the patch: whole planes.
                copy(&mut out[tile..][..c * th * tw], &patch[r * c * ph * pw..][..c * ph * pw]);
                continue;
            }
            // The map's rows and columns this tile covers, and the patch's among them.
            let (y0, y1) = (f[0].max(0), (f[0] + th as isize).min(h));
            let (x0, x1) = (f[1].max(0), (f[1] + tw as isize).min(w));
            let (q0, q1) = (py.max(y0), (py + ph as isize).min(y1));
            let (p0, p1) = (px.max(x0), (px + pw as isize).min(x1));
            // Copies rows [a, b) × columns [u, v) of the map (or of this copy's patch) into
            // the tile, every channel: one block each.
            let mut block = |from_patch: bool, (a, b): (isize, isize), (u, v): (isize, isize)| {
                if a >= b || u >= v || c == 0 {
                    return;
                }
                let dst = tile + ((a - f[0]) as usize) * tw + (u - f[1]) as usize;
                let (src, strides, values) = if from_patch {
                    let start = r * c * ph * pw + ((a - py) as usize) * pw + (u - px) as usize;
                    (start, [ph * pw, pw], patch)
                } else {
                    let start = (a as usize) * w as usize + u as usize;
                    (start, [(h * w) as usize, w as usize], base)
                };
                let dims = [c, (b - a) as usize, (v - u) as usize];
                // Every run lies inside its source plane and inside the tile (the spans were
                // clipped to both), hence within both buffers: checked once per block.
                let last = |start: usize, s: [usize; 2]| start + (c - 1) * s[0] + (dims[1] - 1) * s[1] + dims[2];
                assert!(last(src, strides) <= values.len() && last(dst, [th * tw, tw]) <= out.len());
                // SAFETY: checked just above; `out` is not `values`.
                unsafe {
                    super::cpu_simd::copy_block(
                        values.as_ptr().add(src),
                        strides,
                        out.as_mut_ptr().add(dst),
                        [th * tw, tw],
                        dims,
                    )
                }
            };
            if q0 < q1 && p0 < p1 {
                // Above and below the patch, the map; beside it, the map; in it, the patch.
                block(false, (y0, q0), (x0, x1));
                block(false, (q1, y1), (x0, x1));
                block(false, (q0, q1), (x0, p0));
                block(false, (q0, q1), (p1, x1));
                block(true, (q0, q1), (p0, p1));
            } else {
                block(false, (y0, y1), (x0, x1));
            }
        }
        true
    }
}

/// The copies' tiles of several patched maps (`from`, `size` as in [`Patched::gather`]),
/// concatenated along the channels in one buffer: each value written once (gathering each
/// operand, then concatenating, wrote most of them twice). `None` when the values are not on
/// the host.
fn concat_on_host(inputs: &[&Patched], from: &[[isize; 2]], [th, tw]: [usize; 2]) -> Option<Tensor<4>> {
    let channels: usize = inputs.iter().map(|p| p.base.dims()[1]).sum();
    let mut out = vec![0f32; from.len() * channels * th * tw];
    let mut offset = 0;
    for p in inputs {
        if !p.write_tiles(from, [th, tw], &mut out, channels, offset) {
            return None;
        }
        offset += p.base.dims()[1];
    }
    Some(Tensor::from_data(TensorData::new(out, [from.len(), channels, th, tw]), &inputs[0].base.device()))
}

impl Patched {
    /// GlobalAveragePool of every copy, `[N, C, 1, 1]`: the unmodified map's means (`means`,
    /// `[1, C, 1, 1]`) moved by what each copy's patch changes, (Σ patch − Σ map under it) /
    /// (H·W). The same mean as over the copy assembled in full, up to rounding, without
    /// assembling it (SqueezeNet's conv10 output: 1000 planes of 14 × 14 per copy).
    fn plane_means(&self, means: &Tensor<4>) -> Tensor<4> {
        let [n, c, ph, pw] = self.patch.dims();
        let [_, _, h, w] = self.base.dims();
        let scale = 1.0 / (h * w) as f32;
        let (base, patch, m) =
            (self.base.clone().into_dispatch(), self.patch.clone().into_dispatch(), means.clone().into_dispatch());
        if let (Some(base), Some(patch), Some(m)) = (cpu_values(&base), cpu_values(&patch), cpu_values(&m)) {
            let mut out = vec![0f32; n * c];
            for (r, at) in self.at.iter().enumerate() {
                for ch in 0..c {
                    let mut change = 0f32;
                    for y in 0..ph {
                        let new = &patch[((r * c + ch) * ph + y) * pw..][..pw];
                        let old = &base[(ch * h + at[0] + y) * w + at[1]..][..pw];
                        change += super::cpu_simd::sum(new) - super::cpu_simd::sum(old);
                    }
                    out[r * c + ch] = m[ch] + change * scale;
                }
            }
            return Tensor::from_data(TensorData::new(out, [n, c, 1, 1]), &self.base.device());
        }
        self.plane_means_by_ops(means)
    }

    /// [`Patched::plane_means`] by tensor operations (any backend).
    fn plane_means_by_ops(&self, means: &Tensor<4>) -> Tensor<4> {
        let [n, c, ph, pw] = self.patch.dims();
        let [_, _, h, w] = self.base.dims();
        let scale = 1.0 / (h * w) as f32;
        let under: Vec<Tensor<4>> =
            self.at.iter().map(|a| self.base.clone().slice([0..1, 0..c, a[0]..a[0] + ph, a[1]..a[1] + pw])).collect();
        let change = (self.patch.clone() - Tensor::cat(under, 0)).sum_dim(3).sum_dim(2) * scale;
        means.clone().repeat_dim(0, n) + change
    }
}

/// `dst.copy_from_slice(src)` (the shorter length) without wasm's call out for a bulk copy: the
/// rows here are as short as a tile is wide.
fn copy(dst: &mut [f32], src: &[f32]) {
    let n = dst.len().min(src.len());
    // SAFETY: both slices hold at least `n` values, and a `&mut` cannot overlap a `&`.
    unsafe { super::cpu_simd::copy_row(src.as_ptr(), dst.as_mut_ptr(), n) }
}

impl Inc {
    fn dense(&self) -> Value {
        match self {
            Inc::Dense(v) => v.clone(),
            Inc::Patched(p) => Value::nchw(p.dense()),
        }
    }
}

/// Along one axis, for a window op (kernel reach `reach` = (k − 1)·dilation, stride `s`, padding
/// before `p`, `out` outputs): the outputs that input span `[a, a + len)` can change (inclusive).
fn affected(a: usize, len: usize, reach: usize, s: usize, p: usize, out: usize) -> (usize, usize) {
    let lo = (a + p).saturating_sub(reach).div_ceil(s).min(out - 1);
    let hi = ((a + len - 1 + p) / s).min(out - 1).max(lo);
    (lo, hi)
}

/// The output patch of a window op on a patched input: its size (the same for every copy) and
/// each copy's output corner and input tile corner; `None` when the patch would cover more than
/// `dense_share` of the output (run densely instead). With a `cap` (a share of each side), a
/// patch that would grow past it is cut down to it around its centre, and the outputs it no
/// longer covers keep the unmodified image's values.
#[allow(clippy::type_complexity)]
fn window_plan(
    p: &Patched,
    out: [usize; 2],
    kernel: [usize; 2],
    strides: [usize; 2],
    dilations: [usize; 2],
    before: [usize; 2],
    cap: Option<f32>,
    dense_share: f32,
) -> Option<([usize; 2], Vec<[usize; 2]>, Vec<[isize; 2]>, [usize; 2])> {
    let size = p.size();
    let reach = [0, 1].map(|d| (kernel[d] - 1) * dilations[d]);
    let spans: Vec<[(usize, usize); 2]> =
        p.at.iter().map(|a| [0, 1].map(|d| affected(a[d], size[d], reach[d], strides[d], before[d], out[d]))).collect();
    let mut osize = [0, 1].map(|d| spans.iter().map(|s| s[d].1 - s[d].0 + 1).max().unwrap_or(1));
    if let Some(cap) = cap {
        osize = [0, 1].map(|d| osize[d].min(((cap * out[d] as f32).ceil() as usize).max(1)));
    }
    if (osize[0] * osize[1]) as f32 > dense_share * (out[0] * out[1]) as f32 {
        return None;
    }
    // A span longer than the patch (cut down by the cap) keeps its middle.
    let corners: Vec<[usize; 2]> = spans
        .iter()
        .map(|s| [0, 1].map(|d| (s[d].0 + (s[d].1 + 1 - s[d].0).saturating_sub(osize[d]) / 2).min(out[d] - osize[d])))
        .collect();
    let from = corners.iter().map(|c| [0, 1].map(|d| (c[d] * strides[d]) as isize - before[d] as isize)).collect();
    let tile = [0, 1].map(|d| (osize[d] - 1) * strides[d] + reach[d] + 1);
    Some((osize, corners, from, tile))
}

/// One rectangle per copy covering every input's patch (same size for all copies, inside the map).
fn union(inputs: &[&Patched]) -> ([usize; 2], Vec<[usize; 2]>) {
    let [_, _, h, w] = inputs[0].base.dims();
    let extent = [h, w];
    let n = inputs[0].at.len();
    let spans: Vec<[(usize, usize); 2]> = (0..n)
        .map(|r| {
            [0, 1].map(|d| {
                let lo = inputs.iter().map(|p| p.at[r][d]).min().unwrap_or(0);
                let hi = inputs.iter().map(|p| p.at[r][d] + p.size()[d]).max().unwrap_or(1);
                (lo, hi)
            })
        })
        .collect();
    let size = [0, 1].map(|d| spans.iter().map(|s| s[d].1 - s[d].0).max().unwrap_or(1).min(extent[d]));
    let corners = spans.iter().map(|s| [0, 1].map(|d| s[d].0.min(extent[d] - size[d]))).collect();
    (size, corners)
}

impl Network {
    /// The value `name` for `at.len()` copies of `input`, copy `r` with `fill` (an image like
    /// `input`) in place of the `window` whose top-left corner is `at[r]` (windows may run past
    /// the far edges and are cut off there). `base` holds every activation of the unmodified
    /// input ([`Network::forward`] with all node outputs as taps). `cap`: `None` for the exact
    /// answer; `Some(τ)` bounds each layer's recomputed region to a share τ of its sides
    /// (Krypton's projective-field threshold, Nakandala et al. 2019): faster and approximate.
    #[allow(clippy::too_many_arguments)]
    pub fn occluded(
        &self,
        input: &Tensor<4>,
        base: &HashMap<String, Value>,
        fill: &Tensor<4>,
        at: &[[usize; 2]],
        window: [usize; 2],
        name: &str,
        cap: Option<f32>,
    ) -> Result<Value, ModelError> {
        let mut values = self.occluded_groups(input, base, fill, &[at], window, name, cap)?;
        values.pop().ok_or_else(|| ModelError::UnknownTap(name.to_string()))
    }

    /// [`Network::occluded`] for several batches of copies (`groups`), one answer each, run
    /// through the network side by side: each node for every batch before the next node, so
    /// that a layer's weights are read once from memory for all of them, not once per batch.
    #[allow(clippy::too_many_arguments)]
    pub fn occluded_groups(
        &self,
        input: &Tensor<4>,
        base: &HashMap<String, Value>,
        fill: &Tensor<4>,
        groups: &[&[[usize; 2]]],
        window: [usize; 2],
        name: &str,
        cap: Option<f32>,
    ) -> Result<Vec<Value>, ModelError> {
        let (input, fill) = (&self.adapt_input(input.clone()), &self.adapt_input(fill.clone()));
        let starts =
            groups.iter().map(|at| self.occluded_input(input, fill, at, window)).collect::<Result<Vec<_>, _>>()?;
        let keep = std::collections::HashSet::from([name]);
        let needed = self.needed_nodes(&keep, &HashMap::new());
        // Per batch: its values so far, and the output of a convolution that clamped it for the
        // ReLU or Clip right after it.
        let mut envs: Vec<(HashMap<String, Inc>, Option<&str>)> = starts
            .into_iter()
            .map(|start| (HashMap::from([(self.graph.input.clone(), Inc::Patched(start))]), None))
            .collect();
        for (i, node) in self.graph.nodes.iter().enumerate() {
            if !needed[i] {
                continue;
            }
            let base_out = base.get(&node.output).ok_or_else(|| ModelError::UnknownTap(node.output.clone()))?;
            let input = node.inputs.first().map(String::as_str);
            for (env, clamped) in envs.iter_mut() {
                let value = match input.and_then(|n| env.get(n)).filter(|_| clamped.is_some() && *clamped == input) {
                    // The convolution before applied this ReLU or Clip already: its values, over
                    // this node's unmodified map.
                    Some(Inc::Patched(p)) => Inc::Patched(Patched {
                        base: base_out.tensor.clone(),
                        patch: p.patch.clone(),
                        at: p.at.clone(),
                    }),
                    Some(dense) => dense.clone(),
                    None => {
                        let clamp = self.clamp_after[i].filter(|_| self.cpu_kernels && node.output != name);
                        *clamped = clamp.map(|_| node.output.as_str());
                        self.incremental_node(node, env, base_out, cap, clamp)?
                    }
                };
                for dead in &self.last_use[i] {
                    if dead != name {
                        env.remove(dead);
                    }
                }
                env.insert(node.output.clone(), value);
            }
        }
        envs.iter()
            .map(|(env, _)| env.get(name).map(Inc::dense).ok_or_else(|| ModelError::UnknownTap(name.to_string())))
            .collect()
    }

    /// The network's input for copies of `input` with `fill` at each window of `at`, as a patch
    /// per copy ([`Network::occluded`]).
    fn occluded_input(
        &self,
        input: &Tensor<4>,
        fill: &Tensor<4>,
        at: &[[usize; 2]],
        window: [usize; 2],
    ) -> Result<Patched, ModelError> {
        let [_, c, h, w] = input.dims();
        if at.is_empty() || fill.dims() != input.dims() || window[0] == 0 || window[1] == 0 {
            return Err(ModelError::Malformed("occluded: no copies, or a fill unlike the input".into()));
        }
        // The input patch: each window cut off at the map's edges, then shifted inward so that
        // every copy's patch has the same size.
        let size = [window[0].min(h), window[1].min(w)];
        let corners: Vec<[usize; 2]> = at.iter().map(|a| [a[0].min(h - size[0]), a[1].min(w - size[1])]).collect();
        let mut rows = Vec::with_capacity(at.len());
        for (a, corner) in at.iter().zip(&corners) {
            let mut tile =
                input.clone().slice([0..1, 0..c, corner[0]..corner[0] + size[0], corner[1]..corner[1] + size[1]]);
            let (y1, x1) = ((a[0] + window[0]).min(h), (a[1] + window[1]).min(w));
            if a[0] < y1 && a[1] < x1 {
                let part = fill.clone().slice([0..1, 0..c, a[0]..y1, a[1]..x1]);
                let (oy, ox) = (a[0] - corner[0], a[1] - corner[1]);
                tile = tile.slice_assign([0..1, 0..c, oy..oy + y1 - a[0], ox..ox + x1 - a[1]], part);
            }
            rows.push(tile);
        }
        Ok(Patched { base: input.clone(), patch: Tensor::cat(rows, 0), at: corners })
    }

    /// Node `node` on patched inputs: a patch where it can be (the copies' values around their
    /// windows), else every copy in full. `clamp`: a convolution's ReLU or Clip, applied as its
    /// outputs are written (the activation node then passes them on).
    fn incremental_node(
        &self,
        node: &Node,
        env: &HashMap<String, Inc>,
        base_out: &Value,
        cap: Option<f32>,
        clamp: Option<[f32; 2]>,
    ) -> Result<Inc, ModelError> {
        let acts: Vec<(usize, &Inc)> =
            node.inputs.iter().enumerate().filter_map(|(k, n)| env.get(n).map(|v| (k, v))).collect();
        let patched: Vec<&Patched> = acts
            .iter()
            .filter_map(|(_, v)| match v {
                Inc::Patched(p) => Some(p),
                Inc::Dense(_) => None,
            })
            .collect();
        let all_patched = !patched.is_empty() && patched.len() == acts.len();
        let run = |inputs: Vec<(usize, Value)>, node: &Node| -> Result<Value, ModelError> {
            let local: HashMap<String, Value> = inputs.into_iter().map(|(k, v)| (node.inputs[k].clone(), v)).collect();
            self.run_node(node, &local, None, clamp, false, ReluRule::Standard, true)
        };
        let patched_out = |patch: Value, at: Vec<[usize; 2]>| {
            Inc::Patched(Patched { base: base_out.tensor.clone(), patch: patch.tensor, at })
        };
        // Constants the same at every position: scalars, per-channel vectors, `[.., C, 1, 1]`;
        // and Clip's bounds, which stay on the host as scalars.
        let per_channel_constants =
            node.inputs.iter().filter(|n| !n.is_empty() && !env.contains_key(*n)).all(|n| match self.uploaded.get(n) {
                Some(v) => v.shape.len() < 2 || v.shape[v.shape.len() - 2..].iter().all(|d| *d == 1),
                None => matches!(node.op, Op::Clip { .. }),
            });
        // Quantization with one scale per tensor, or one per channel, is position-wise too.
        let per_channel_axis = match node.op {
            Op::QuantizeLinear { axis, .. } | Op::DequantizeLinear { axis } => {
                let scale = node.inputs.get(1).and_then(|n| self.uploaded.get(n));
                axis == 1 || axis == -3 || scale.is_some_and(|v| v.shape.iter().product::<usize>() == 1)
            }
            _ => true,
        };
        let spatial = base_out.shape.len() == 4;
        match (&node.op, all_patched && spatial) {
            (
                Op::Relu
                | Op::LeakyRelu { .. }
                | Op::Sigmoid
                | Op::Clip { .. }
                | Op::Identity
                | Op::BatchNormalization { .. }
                | Op::Add
                | Op::Sub
                | Op::Mul
                | Op::Div
                | Op::QuantizeLinear { .. }
                | Op::DequantizeLinear { .. },
                true,
            ) if per_channel_constants && per_channel_axis => {
                if patched.len() == 1 {
                    let p = patched[0];
                    let out = run(vec![(acts[0].0, Value::nchw(p.patch.clone()))], node)?;
                    Ok(patched_out(out, p.at.clone()))
                } else {
                    // Two patched operands (a residual sum): both over one shared rectangle.
                    let (size, corners) = union(&patched);
                    let [_, _, h, w] = patched[0].base.dims();
                    if alone_and_exact(patched[0], cap) && (size[0] * size[1]) as f32 > DENSE_SHARE * (h * w) as f32 {
                        return self.dense_node(node, &acts, &run);
                    }
                    let from: Vec<[isize; 2]> = corners.iter().map(|c| c.map(|v| v as isize)).collect();
                    let inputs =
                        acts.iter().zip(&patched).map(|((k, _), p)| (*k, Value::nchw(p.gather(&from, size, 0.0))));
                    let out = run(inputs.collect(), node)?;
                    Ok(patched_out(out, corners))
                }
            }
            (Op::Concat { axis }, true) if *axis == 1 || *axis == -3 => {
                let (size, corners) = union(&patched);
                let from: Vec<[isize; 2]> = corners.iter().map(|c| c.map(|v| v as isize)).collect();
                if let Some(out) = concat_on_host(&patched, &from, size) {
                    return Ok(patched_out(Value::nchw(out), corners));
                }
                let inputs = acts.iter().zip(&patched).map(|((k, _), p)| (*k, Value::nchw(p.gather(&from, size, 0.0))));
                let out = run(inputs.collect(), node)?;
                Ok(patched_out(out, corners))
            }
            (Op::Conv { strides, pads, dilations, auto_pad_same, groups }, true) if acts.len() == 1 => {
                let p = patched[0];
                let [_, _, h, w] = p.base.dims();
                let weight = self.uploaded.get(node.inputs.get(1).map_or("", String::as_str));
                let Some(kernel) = weight.and_then(|wt| match wt.shape.as_slice() {
                    [_, _, kh, kw] => Some([*kh, *kw]),
                    _ => None,
                }) else {
                    return self.dense_node(node, &acts, &run);
                };
                let padding = conv_padding(*pads, *auto_pad_same, *strides, *dilations, [h, w], kernel);
                let out = [base_out.shape[2], base_out.shape[3]];
                let before = [padding[0].0, padding[1].0];
                let share = if alone_and_exact(p, cap) && *groups == 1 { 1.0 } else { DENSE_SHARE };
                let Some((_, corners, from, tile)) =
                    window_plan(p, out, kernel, *strides, *dilations, before, cap, share)
                else {
                    return self.dense_node(node, &acts, &run);
                };
                let unpadded = Node {
                    op: Op::Conv {
                        strides: *strides,
                        pads: [0; 4],
                        dilations: *dilations,
                        groups: *groups,
                        auto_pad_same: false,
                    },
                    ..node.clone()
                };
                let out = run(vec![(acts[0].0, Value::nchw(p.gather(&from, tile, 0.0)))], &unpadded)?;
                Ok(patched_out(out, corners))
            }
            (Op::MaxPool { kernel, strides, pads, .. }, true) => {
                let p = patched[0];
                let out = [base_out.shape[2], base_out.shape[3]];
                let Some((_, corners, from, tile)) =
                    window_plan(p, out, *kernel, *strides, [1, 1], [pads[0], pads[1]], cap, DENSE_SHARE)
                else {
                    return self.dense_node(node, &acts, &run);
                };
                let unpadded = Node {
                    op: Op::MaxPool { kernel: *kernel, strides: *strides, pads: [0; 4], ceil_mode: false },
                    ..node.clone()
                };
                // Outside the map nothing can win the max.
                let out = run(vec![(acts[0].0, Value::nchw(p.gather(&from, tile, f32::MIN)))], &unpadded)?;
                Ok(patched_out(out, corners))
            }
            (Op::GlobalAveragePool, true) if acts.len() == 1 && base_out.shape.len() == 4 => {
                Ok(Inc::Dense(Value::nchw(patched[0].plane_means(&base_out.tensor))))
            }
            _ => self.dense_node(node, &acts, &run),
        }
    }

    /// Assembles every input in full and runs the node as usual.
    fn dense_node(
        &self,
        _node: &Node,
        acts: &[(usize, &Inc)],
        run: &dyn Fn(Vec<(usize, Value)>, &Node) -> Result<Value, ModelError>,
    ) -> Result<Inc, ModelError> {
        let inputs = acts.iter().map(|(k, v)| (*k, v.dense())).collect();
        Ok(Inc::Dense(run(inputs, _node)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensor(dims: [usize; 4], seed: f32) -> Tensor<4> {
        let n = dims.iter().product::<usize>();
        let values = (0..n).map(|i| ((i as f32 + seed) * 0.37).sin()).collect::<Vec<f32>>();
        Tensor::from_data(TensorData::new(values, dims), &crate::Device::flex())
    }

    /// Tiles written on the host equal the tensor operations' tiles: windows inside the map,
    /// past each edge, larger than the map, missing the patch or holding all of it, and the
    /// copies in full.
    #[test]
    fn tiles_on_host_equal_tiles_by_ops() {
        let p = Patched {
            base: tensor([1, 3, 7, 9], 0.0),
            patch: tensor([3, 3, 2, 4], 100.0),
            at: vec![[0, 0], [5, 5], [2, 3]],
        };
        let cases: [(&[[isize; 2]], [usize; 2]); 6] = [
            (&[[0, 0], [4, 4], [1, 2]], [3, 5]),
            // The map's values on both sides of each patch.
            (&[[-1, -1], [4, 3], [1, 2]], [4, 7]),
            // The patches themselves ([`Patched::gather`] hands them over as they are).
            (&[[0, 0], [5, 5], [2, 3]], [2, 4]),
            (&[[-2, -1], [5, 6], [-3, 7]], [4, 4]),
            (&[[-1, -2], [-1, -2], [0, 0]], [9, 13]),
            (&[[6, 0], [0, 8], [3, 3]], [1, 1]),
        ];
        for (from, size) in cases {
            for pad in [0.0, f32::MIN] {
                let fast = p.tiles_on_host(from, size, pad).expect("a CPU tensor").into_data();
                let slow = p.tiles_by_ops(from, size, pad).into_data();
                assert_eq!(fast, slow, "tiles from {from:?} of {size:?}, pad {pad}");
                assert_eq!(p.gather(from, size, pad).into_data(), slow, "gathered from {from:?} of {size:?}");
            }
        }
        let whole = p.dense().into_data();
        assert_eq!(whole, p.tiles_by_ops(&[[0, 0]; 3], [7, 9], 0.0).into_data());
        assert_eq!(whole.shape().to_vec(), vec![3, 3, 7, 9]);
    }

    /// Concatenated tiles written in one buffer equal each operand's tiles by tensor
    /// operations, concatenated; the larger operand's tile is its patch.
    #[test]
    fn concatenated_tiles_equal_tiles_by_ops_concatenated() {
        let small =
            Patched { base: tensor([1, 2, 7, 9], 0.0), patch: tensor([2, 2, 2, 3], 50.0), at: vec![[1, 1], [4, 5]] };
        let large =
            Patched { base: tensor([1, 3, 7, 9], 9.0), patch: tensor([2, 3, 4, 5], 90.0), at: vec![[0, 0], [3, 4]] };
        let (size, corners) = union(&[&small, &large]);
        assert_eq!((size, corners.clone()), ([4, 5], vec![[0, 0], [3, 4]]));
        let from: Vec<[isize; 2]> = corners.iter().map(|c| c.map(|v| v as isize)).collect();
        let fast = concat_on_host(&[&small, &large], &from, size).expect("CPU tensors").into_data();
        let slow = Tensor::cat(vec![small.tiles_by_ops(&from, size, 0.0), large.tiles_by_ops(&from, size, 0.0)], 1);
        assert_eq!(fast, slow.into_data());
    }

    /// The copies' plane means from their patches alone equal the means of the copies in full.
    #[test]
    fn plane_means_from_patches_equal_means_in_full() {
        let p = Patched {
            base: tensor([1, 3, 7, 9], 0.0),
            patch: tensor([3, 3, 2, 4], 100.0),
            at: vec![[0, 0], [5, 5], [2, 3]],
        };
        let means = p.base.clone().mean_dims(&[2, 3]);
        let full: Vec<f32> = p.dense().mean_dims(&[2, 3]).into_data().try_to_vec::<f32>().expect("f32");
        for (how, got) in [("host", p.plane_means(&means)), ("ops", p.plane_means_by_ops(&means))] {
            assert_eq!(got.dims(), [3, 3, 1, 1]);
            let got: Vec<f32> = got.into_data().try_to_vec::<f32>().expect("f32");
            for (g, f) in got.iter().zip(&full) {
                assert!((g - f).abs() < 1e-6, "{how}: {g} against {f}");
            }
        }
    }
}
