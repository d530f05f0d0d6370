//! t-SNE maps of feature vectors: exact-repulsion t-SNE (van der Maaten & Hinton 2008) with sparse
//! k-nearest-neighbour input affinities (as in Barnes-Hut-SNE), preceded by a small PCA.
//!
//! Why not a crate: `bhtsne` (and `linfa-tsne`, which wraps it) needs rayon's thread pool and runs
//! all epochs inside one call, so a single-threaded wasm worker could neither animate nor cancel it.
//!
//! Everything here is single-threaded plain Rust on `f32`/`f64` slices, deterministic for a seed
//! (no hash maps, no clocks), and meant for up to a few thousand points. [`Tsne::step`] runs a few
//! iterations at a time so the caller can draw [`Tsne::embedding`] between calls and stop whenever.
//!
//! The gradient is scaled as in van der Maaten's `bhtsne` (without the factor 4 of the paper), so
//! learning rates mean the same as there and in openTSNE / FIt-SNE.

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};

/// Why a t-SNE map or a PCA could not be made.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TsneError {
    /// Fewer points than the method needs (t-SNE: 3; PCA: 1).
    #[error("too few points: {n} (t-SNE needs at least 3, PCA at least 1)")]
    TooFewPoints { n: usize },
    /// Each point needs `3 × perplexity` neighbours: `n - 1 >= 3 × perplexity`.
    #[error("perplexity {perplexity} is too large for {n} points (need n - 1 >= 3 × perplexity)")]
    PerplexityTooLarge { perplexity: f32, n: usize },
    /// The data is not `n` rows of `d` values.
    #[error("{len} values are not {n} rows × {d} columns")]
    Ragged { len: usize, n: usize, d: usize },
    /// A value is NaN or infinite (`index` into the flat data).
    #[error("value {index} is not finite")]
    NonFinite { index: usize },
    /// A dimension (columns, or PCA components) is zero.
    #[error("dimensions must be at least 1")]
    ZeroDims,
    /// A parameter is out of range (non-positive perplexity, exaggeration or learning rate).
    #[error("invalid parameter: {0}")]
    InvalidParameter(&'static str),
}

/// Iterations run with momentum 0.5 before switching to 0.8 (as in the reference implementation).
const MOMENTUM_SWITCH: usize = 250;
/// Accumulator lanes of the distance and dot-product kernels: independent chains for the CPU.
const LANES: usize = 8;

// ---------------------------------------------------------------------------------------------
// Small kernels

#[inline]
fn hsum(a: [f32; LANES]) -> f32 {
    ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]))
}

#[inline]
fn hsum64(a: [f64; LANES]) -> f64 {
    ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]))
}

/// Squared Euclidean distance of two equally long rows.
#[inline]
fn sq_dist(a: &[f32], b: &[f32]) -> f32 {
    let (ac, ar) = a.as_chunks::<LANES>();
    let (bc, br) = b.as_chunks::<LANES>();
    let mut acc = [0f32; LANES];
    for (x, y) in ac.iter().zip(bc) {
        for l in 0..LANES {
            let d = x[l] - y[l];
            acc[l] += d * d;
        }
    }
    let mut s = hsum(acc);
    for (x, y) in ar.iter().zip(br) {
        let d = x - y;
        s += d * d;
    }
    s
}

#[inline]
fn dot32(a: &[f32], b: &[f32]) -> f32 {
    let (ac, ar) = a.as_chunks::<LANES>();
    let (bc, br) = b.as_chunks::<LANES>();
    let mut acc = [0f32; LANES];
    for (x, y) in ac.iter().zip(bc) {
        for l in 0..LANES {
            acc[l] += x[l] * y[l];
        }
    }
    let mut s = hsum(acc);
    for (x, y) in ar.iter().zip(br) {
        s += x * y;
    }
    s
}

#[inline]
fn dot64(a: &[f64], b: &[f64]) -> f64 {
    let (ac, ar) = a.as_chunks::<LANES>();
    let (bc, br) = b.as_chunks::<LANES>();
    let mut acc = [0f64; LANES];
    for (x, y) in ac.iter().zip(bc) {
        for l in 0..LANES {
            acc[l] += x[l] * y[l];
        }
    }
    let mut s = hsum64(acc);
    for (x, y) in ar.iter().zip(br) {
        s += x * y;
    }
    s
}

/// `data` is `n` rows of `d >= 1` values (finiteness is [`check_finite`]).
fn check_data(data: &[f32], n: usize, d: usize) -> Result<(), TsneError> {
    if d == 0 {
        return Err(TsneError::ZeroDims);
    }
    if n.checked_mul(d) != Some(data.len()) {
        return Err(TsneError::Ragged { len: data.len(), n, d });
    }
    Ok(())
}

fn check_finite(data: &[f32]) -> Result<(), TsneError> {
    match data.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(TsneError::NonFinite { index }),
        None => Ok(()),
    }
}

/// Sorts the `k` smallest `(distance, index)` pairs to the front, ascending; ties by index.
fn nearest(dist: &mut [(f32, u32)], k: usize) {
    let cmp = |a: &(f32, u32), b: &(f32, u32)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1));
    let k = k.min(dist.len());
    if k == 0 {
        return;
    }
    if k < dist.len() {
        dist.select_nth_unstable_by(k - 1, cmp);
    }
    dist[..k].sort_unstable_by(cmp);
}

/// Conditional Gaussian affinities `p_{j|i}` over the squared distances `d2` (ascending), with the
/// bandwidth found by bisection so that the distribution has perplexity `perplexity`. Writes the
/// normalised affinities to `out`. Distances are shifted by their minimum, which leaves the
/// normalised result unchanged and keeps `exp` from underflowing to an all-zero row.
fn conditional_affinities(d2: &[f64], perplexity: f64, out: &mut [f64]) {
    let target = perplexity.ln();
    let dmin = d2.iter().copied().fold(f64::INFINITY, f64::min);
    let mean = d2.iter().map(|d| d - dmin).sum::<f64>() / d2.len().max(1) as f64;
    let mut beta = if mean > 0.0 { 1.0 / mean } else { 1.0 };
    let (mut lo, mut hi) = (0.0f64, f64::INFINITY);
    for _ in 0..200 {
        let (mut sum, mut sum_dp) = (0.0f64, 0.0f64);
        for (o, &d) in out.iter_mut().zip(d2) {
            let s = d - dmin;
            let e = (-beta * s).exp();
            *o = e;
            sum += e;
            sum_dp += s * e;
        }
        let entropy = sum.ln() + beta * sum_dp / sum;
        let diff = entropy - target;
        if diff.abs() < 1e-5 {
            break;
        }
        if diff > 0.0 {
            lo = beta;
            beta = if hi.is_finite() { 0.5 * (beta + hi) } else { beta * 2.0 };
        } else {
            hi = beta;
            beta = 0.5 * (beta + lo);
        }
    }
    let sum: f64 = out.iter().sum();
    for o in out.iter_mut() {
        *o /= sum;
    }
}

// ---------------------------------------------------------------------------------------------
// PCA

/// A fitted projection: centre by `mean`, then dot with each of the `k` unit `axes` (`k × d`);
/// without axes the centred data is kept as it is (`k == d`).
#[derive(Debug, Clone)]
struct PcaBasis {
    d: usize,
    k: usize,
    mean: Vec<f32>,
    axes: Option<Vec<f32>>,
}

impl PcaBasis {
    /// Fits the top `k` principal axes of `n × d` finite data (`n >= 1`, `d, k >= 1`).
    fn fit(data: &[f32], n: usize, d: usize, k: usize) -> Self {
        let mut mean = vec![0f64; d];
        for row in data.chunks_exact(d) {
            for (m, &v) in mean.iter_mut().zip(row) {
                *m += f64::from(v);
            }
        }
        for m in &mut mean {
            *m /= n as f64;
        }
        let mean32: Vec<f32> = mean.iter().map(|&m| m as f32).collect();
        if d <= k {
            return Self { d, k: d, mean: mean32, axes: None };
        }
        let axes = if n >= d { covariance_axes(data, n, d, k, &mean) } else { gram_axes(data, n, d, k, &mean) };
        Self { d, k, mean: mean32, axes: Some(axes) }
    }

    /// Centre only: the data keeps its `d` dimensions.
    fn centre_only(data: &[f32], n: usize, d: usize) -> Self {
        Self::fit(data, n, d, d)
    }

    /// Projects one `d`-row into `out` (`k` values); `centred` is `d` values of scratch.
    fn project_row(&self, row: &[f32], centred: &mut [f32], out: &mut [f32]) {
        for ((c, &v), &m) in centred.iter_mut().zip(row).zip(&self.mean) {
            *c = v - m;
        }
        match &self.axes {
            None => out.copy_from_slice(centred),
            Some(axes) => {
                for (o, axis) in out.iter_mut().zip(axes.chunks_exact(self.d)) {
                    *o = dot32(centred, axis);
                }
            }
        }
    }

    fn project_all(&self, data: &[f32], n: usize) -> Vec<f32> {
        let mut out = vec![0f32; n * self.k];
        let mut centred = vec![0f32; self.d];
        for (row, o) in data.chunks_exact(self.d).zip(out.chunks_exact_mut(self.k)) {
            self.project_row(row, &mut centred, o);
        }
        out
    }
}

/// Top-`k` axes from the `d × d` covariance (when `n >= d`).
fn covariance_axes(data: &[f32], n: usize, d: usize, k: usize, mean: &[f64]) -> Vec<f32> {
    // Upper triangle of Xᵀ X, four rows at a time (so each pass over C does four rank-1 updates).
    let mut c = vec![0f64; d * d];
    let mut rows = vec![0f64; 4 * d];
    for block in data.chunks(4 * d) {
        rows.fill(0.0);
        for (src, dst) in block.chunks_exact(d).zip(rows.chunks_exact_mut(d)) {
            for ((o, &v), &m) in dst.iter_mut().zip(src).zip(mean) {
                *o = f64::from(v) - m;
            }
        }
        let (r0, rest) = rows.split_at(d);
        let (r1, rest) = rest.split_at(d);
        let (r2, r3) = rest.split_at(d);
        for a in 0..d {
            let (a0, a1, a2, a3) = (r0[a], r1[a], r2[a], r3[a]);
            let crow = &mut c[a * d + a..(a + 1) * d];
            for ((((cv, &x0), &x1), &x2), &x3) in
                crow.iter_mut().zip(&r0[a..]).zip(&r1[a..]).zip(&r2[a..]).zip(&r3[a..])
            {
                *cv += a0 * x0 + a1 * x1 + a2 * x2 + a3 * x3;
            }
        }
    }
    let scale = 1.0 / (n.max(2) - 1) as f64;
    for a in 0..d {
        for b in a..d {
            let v = c[a * d + b] * scale;
            c[a * d + b] = v;
            c[b * d + a] = v;
        }
    }
    top_eigenvectors(&c, d, k).iter().map(|&v| v as f32).collect()
}

/// Top-`k` axes through the `n × n` Gram matrix (when `n < d`): `v = Xᵀu / |Xᵀu|`.
fn gram_axes(data: &[f32], n: usize, d: usize, k: usize, mean: &[f64]) -> Vec<f32> {
    let mut x = vec![0f64; n * d];
    for (src, dst) in data.chunks_exact(d).zip(x.chunks_exact_mut(d)) {
        for ((o, &v), &m) in dst.iter_mut().zip(src).zip(mean) {
            *o = f64::from(v) - m;
        }
    }
    let mut g = vec![0f64; n * n];
    for i in 0..n {
        for j in i..n {
            let v = dot64(&x[i * d..(i + 1) * d], &x[j * d..(j + 1) * d]);
            g[i * n + j] = v;
            g[j * n + i] = v;
        }
    }
    let kk = k.min(n);
    let u = top_eigenvectors(&g, n, kk);
    let scale = x.iter().map(|v| v * v).sum::<f64>().sqrt();
    let mut axes = vec![0f32; k * d];
    let mut v = vec![0f64; d];
    for (uj, axis) in u.chunks_exact(n).zip(axes.chunks_exact_mut(d)) {
        v.fill(0.0);
        for (&ui, row) in uj.iter().zip(x.chunks_exact(d)) {
            for (o, &r) in v.iter_mut().zip(row) {
                *o += ui * r;
            }
        }
        let norm = dot64(&v, &v).sqrt();
        // A direction with (numerically) no variance projects to zero rather than to noise.
        if norm > 1e-12 * scale && norm > 0.0 {
            for (o, &vv) in axis.iter_mut().zip(&v) {
                *o = (vv / norm) as f32;
            }
        }
    }
    axes
}

/// The `k` leading eigenvectors (`k × p`, each contiguous, by decreasing eigenvalue) of a symmetric
/// positive semi-definite `p × p` matrix: subspace iteration on a block of `k + max(k/2, 10)`
/// vectors from a fixed seeded start, with a Rayleigh–Ritz step (Jacobi on the small block) every
/// fourth round. Exact when the block covers the whole space; otherwise stops when the residuals are
/// below 1e-5 of the top eigenvalue, the captured variance no longer moves (1e-7), or after 24
/// rounds (noise-like spectra, where the exact axes do not matter for a t-SNE input). Signs: each
/// vector's largest component is positive.
fn top_eigenvectors(mat: &[f64], p: usize, k: usize) -> Vec<f64> {
    const MAX_ROUNDS: usize = 24;
    const CHECK_EVERY: usize = 4;
    const TOL: f64 = 1e-5;
    const VARIANCE_TOL: f64 = 1e-7;
    let m = p.min(k + (k / 2).max(10));
    let mut rng = StdRng::seed_from_u64(0x7e5e_5eed);
    let mut v: Vec<f64> = (0..m * p).map(|_| rng.random::<f64>() - 0.5).collect();
    orthonormalize(&mut v, p, &mut rng);
    let mut w = vec![0f64; m * p];
    let mut t = vec![0f64; m * m];
    let mut rv = vec![0f64; m * p];
    let mut rw = vec![0f64; m * p];
    let mut previous = f64::NAN;
    for round in 0..MAX_ROUNDS {
        // W = A V (vectors are the rows of v and w).
        for (a, arow) in mat.chunks_exact(p).enumerate() {
            for (j, vj) in v.chunks_exact(p).enumerate() {
                w[j * p + a] = dot64(arow, vj);
            }
        }
        let last = m == p || round + 1 == MAX_ROUNDS;
        if last || round % CHECK_EVERY == CHECK_EVERY - 1 {
            // Rayleigh–Ritz: T = Vᵀ A V = E Λ Eᵀ, then V ← V E, W ← W E (still A V).
            for i in 0..m {
                for j in i..m {
                    let vi = &v[i * p..(i + 1) * p];
                    let vj = &v[j * p..(j + 1) * p];
                    let x = 0.5 * (dot64(vi, &w[j * p..(j + 1) * p]) + dot64(vj, &w[i * p..(i + 1) * p]));
                    t[i * m + j] = x;
                    t[j * m + i] = x;
                }
            }
            let (vals, e) = jacobi_eigen(&mut t, m);
            rotate(&v, &e, m, p, &mut rv);
            rotate(&w, &e, m, p, &mut rw);
            let mut residual = 0.0f64;
            for i in 0..k {
                let r: f64 = rw[i * p..(i + 1) * p]
                    .iter()
                    .zip(&rv[i * p..(i + 1) * p])
                    .map(|(&a, &b)| (a - vals[i] * b) * (a - vals[i] * b))
                    .sum();
                residual = residual.max(r.sqrt());
            }
            let scale = vals.first().copied().unwrap_or(0.0).abs();
            let captured: f64 = vals[..k].iter().sum();
            if last || residual <= TOL * scale || (captured - previous).abs() <= VARIANCE_TOL * captured {
                break;
            }
            previous = captured;
            std::mem::swap(&mut v, &mut rw);
        } else {
            std::mem::swap(&mut v, &mut w);
        }
        orthonormalize(&mut v, p, &mut rng);
    }
    rv.truncate(k * p);
    for vec in rv.chunks_exact_mut(p) {
        let big = vec.iter().copied().fold(0.0f64, |a, b| if b.abs() > a.abs() { b } else { a });
        if big < 0.0 {
            for x in vec.iter_mut() {
                *x = -*x;
            }
        }
    }
    rv
}

/// `out_r = Σ_j e[r][j] · src_j` for the `m` rows of length `p`.
fn rotate(src: &[f64], e: &[f64], m: usize, p: usize, out: &mut [f64]) {
    out.fill(0.0);
    for (o, er) in out.chunks_exact_mut(p).zip(e.chunks_exact(m)) {
        for (&c, s) in er.iter().zip(src.chunks_exact(p)) {
            if c != 0.0 {
                for (ov, &sv) in o.iter_mut().zip(s) {
                    *ov += c * sv;
                }
            }
        }
    }
}

/// Modified Gram–Schmidt (two passes) on the rows of `v` (length `p` each); a row that is (nearly)
/// in the span of the previous ones is replaced by a fresh random one.
fn orthonormalize(v: &mut [f64], p: usize, rng: &mut StdRng) {
    let m = v.len() / p;
    for j in 0..m {
        let (head, tail) = v.split_at_mut(j * p);
        let vj = &mut tail[..p];
        for _attempt in 0..4 {
            let before = dot64(vj, vj).sqrt();
            for _pass in 0..2 {
                for vi in head.chunks_exact(p) {
                    let proj = dot64(vi, vj);
                    for (x, &y) in vj.iter_mut().zip(vi) {
                        *x -= proj * y;
                    }
                }
            }
            let norm = dot64(vj, vj).sqrt();
            if norm > 1e-10 * before && norm > 0.0 {
                for x in vj.iter_mut() {
                    *x /= norm;
                }
                break;
            }
            for x in vj.iter_mut() {
                *x = rng.random::<f64>() - 0.5;
            }
        }
    }
}

/// Cyclic Jacobi on a symmetric `m × m` matrix (destroyed). Returns the eigenvalues in decreasing
/// order and the matching unit eigenvectors as contiguous rows (`m × m`).
fn jacobi_eigen(a: &mut [f64], m: usize) -> (Vec<f64>, Vec<f64>) {
    let mut v = vec![0f64; m * m];
    for i in 0..m {
        v[i * m + i] = 1.0;
    }
    let total: f64 = a.iter().map(|x| x * x).sum();
    for _sweep in 0..60 {
        let mut off = 0.0f64;
        for p in 0..m {
            for q in p + 1..m {
                off += a[p * m + q] * a[p * m + q];
            }
        }
        if off <= 1e-26 * total || total == 0.0 {
            break;
        }
        for p in 0..m {
            for q in p + 1..m {
                let apq = a[p * m + q];
                if apq == 0.0 {
                    continue;
                }
                let (app, aqq) = (a[p * m + p], a[q * m + q]);
                // Skip rotations below rounding of the diagonal (they cannot change anything).
                if apq.abs() < 1e-18 * (app.abs() + aqq.abs()) {
                    a[p * m + q] = 0.0;
                    a[q * m + p] = 0.0;
                    continue;
                }
                let theta = (aqq - app) / (2.0 * apq);
                let tt = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let c = 1.0 / (tt * tt + 1.0).sqrt();
                let s = tt * c;
                for r in 0..m {
                    let (arp, arq) = (a[r * m + p], a[r * m + q]);
                    a[r * m + p] = c * arp - s * arq;
                    a[r * m + q] = s * arp + c * arq;
                }
                for r in 0..m {
                    let (apr, aqr) = (a[p * m + r], a[q * m + r]);
                    a[p * m + r] = c * apr - s * aqr;
                    a[q * m + r] = s * apr + c * aqr;
                }
                a[p * m + q] = 0.0;
                a[q * m + p] = 0.0;
                for r in 0..m {
                    let (vrp, vrq) = (v[r * m + p], v[r * m + q]);
                    v[r * m + p] = c * vrp - s * vrq;
                    v[r * m + q] = s * vrp + c * vrq;
                }
            }
        }
    }
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&i, &j| a[j * m + j].total_cmp(&a[i * m + i]).then(i.cmp(&j)));
    let vals = order.iter().map(|&i| a[i * m + i]).collect();
    let mut vecs = vec![0f64; m * m];
    for (r, &col) in order.iter().enumerate() {
        for j in 0..m {
            vecs[r * m + j] = v[j * m + col];
        }
    }
    (vals, vecs)
}

/// Principal components: projects `data` (`n` rows × `d` columns, row-major) onto its top `k`
/// principal axes after centring, and returns `n × k` values, row-major. When `d <= k` the centred
/// data comes back unchanged (`n × d`). Deterministic: subspace iteration from a fixed seeded start
/// on the covariance (or, when `n < d`, on the Gram matrix); each axis is signed so that its largest
/// component is positive.
pub fn pca(data: &[f32], n: usize, d: usize, k: usize) -> Result<Vec<f32>, TsneError> {
    if k == 0 {
        return Err(TsneError::ZeroDims);
    }
    check_data(data, n, d)?;
    if n == 0 {
        return Err(TsneError::TooFewPoints { n });
    }
    check_finite(data)?;
    let basis = PcaBasis::fit(data, n, d, k);
    Ok(basis.project_all(data, n))
}

// ---------------------------------------------------------------------------------------------
// t-SNE

/// t-SNE settings. Defaults follow van der Maaten's reference implementation, with the learning
/// rate chosen from `n` (Belkina et al. 2019) unless given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TsneParams {
    /// Effective number of neighbours of each point (default 30). Each point keeps its
    /// `3 × perplexity` nearest neighbours, so `n - 1 >= 3 × perplexity` is required.
    pub perplexity: f32,
    /// Total gradient iterations (default 1000).
    pub iterations: usize,
    /// Factor on the input affinities during the first `exaggeration_iters` iterations (default 12).
    pub early_exaggeration: f32,
    /// Iterations with early exaggeration (default 250).
    pub exaggeration_iters: usize,
    /// Gradient step; `None` (default) means `max(n / early_exaggeration, 50)`.
    pub learning_rate: Option<f32>,
    /// PCA to this many dimensions first (default 50); 0, or `d <= pca_dims`, keeps the data as is.
    pub pca_dims: usize,
    /// Seed of the initial map (default 0).
    pub seed: u64,
}

impl Default for TsneParams {
    fn default() -> Self {
        Self {
            perplexity: 30.0,
            iterations: 1000,
            early_exaggeration: 12.0,
            exaggeration_iters: 250,
            learning_rate: None,
            pca_dims: 50,
            seed: 0,
        }
    }
}

/// A t-SNE run in progress: create with [`Tsne::new`], advance with [`Tsne::step`], read
/// [`Tsne::embedding`] whenever.
#[derive(Clone)]
pub struct Tsne {
    params: TsneParams,
    n: usize,
    /// The PCA (or centring) the input went through, kept for [`Tsne::place`].
    basis: PcaBasis,
    /// The input after `basis`: `n × basis.k`.
    x: Vec<f32>,
    neighbours: usize,
    learning_rate: f32,
    /// Symmetric joint P (summing to 1 over ordered pairs), upper triangle in CSR form:
    /// for row `i`, entries `p_start[i]..p_start[i + 1]` of `p_col` (all `> i`) and `p_val`.
    p_start: Vec<u32>,
    p_col: Vec<u32>,
    p_val: Vec<f32>,
    /// The map, one array per coordinate.
    yx: Vec<f32>,
    yy: Vec<f32>,
    vel_x: Vec<f32>,
    vel_y: Vec<f32>,
    gain_x: Vec<f32>,
    gain_y: Vec<f32>,
    /// Scratch: unnormalised repulsive and attractive forces.
    rep_x: Vec<f32>,
    rep_y: Vec<f32>,
    att_x: Vec<f32>,
    att_y: Vec<f32>,
    /// The map interleaved (`n × 2`), refreshed after each `step`.
    embedding: Vec<f32>,
    iteration: usize,
}

impl std::fmt::Debug for Tsne {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tsne")
            .field("n", &self.n)
            .field("input_dims", &self.basis.d)
            .field("pca_dims", &self.basis.k)
            .field("neighbours", &self.neighbours)
            .field("learning_rate", &self.learning_rate)
            .field("iteration", &self.iteration)
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl Tsne {
    /// Prepares a run on `n` points of `d` dimensions (`data` row-major): PCA to
    /// `params.pca_dims`, each point's `3 × perplexity` nearest neighbours, per-point Gaussian
    /// bandwidths by bisection on the perplexity, the symmetric joint P, and an initial map drawn
    /// from N(0, (1e-4)²) (the reference implementation's scale) with `params.seed`.
    pub fn new(data: &[f32], n: usize, d: usize, params: TsneParams) -> Result<Self, TsneError> {
        check_data(data, n, d)?;
        if n < 3 {
            return Err(TsneError::TooFewPoints { n });
        }
        check_finite(data)?;
        if !(params.perplexity.is_finite() && params.perplexity > 0.0) {
            return Err(TsneError::InvalidParameter("perplexity must be positive"));
        }
        if !(params.early_exaggeration.is_finite() && params.early_exaggeration > 0.0) {
            return Err(TsneError::InvalidParameter("early exaggeration must be positive"));
        }
        if let Some(lr) = params.learning_rate
            && !(lr.is_finite() && lr > 0.0)
        {
            return Err(TsneError::InvalidParameter("learning rate must be positive"));
        }
        if ((n - 1) as f64) < 3.0 * f64::from(params.perplexity) {
            return Err(TsneError::PerplexityTooLarge { perplexity: params.perplexity, n });
        }

        let basis = if params.pca_dims == 0 || d <= params.pca_dims {
            PcaBasis::centre_only(data, n, d)
        } else {
            PcaBasis::fit(data, n, d, params.pca_dims)
        };
        let x = basis.project_all(data, n);
        let dim = basis.k;
        let neighbours = ((3.0 * params.perplexity) as usize).clamp(1, n - 1);
        let perplexity = f64::from(params.perplexity);

        // Conditional affinities over each point's nearest neighbours, as (lower, upper, p) triplets.
        let mut triplets: Vec<(u32, u32, f64)> = Vec::with_capacity(n * neighbours);
        let mut dist: Vec<(f32, u32)> = Vec::with_capacity(n);
        let mut d2 = vec![0f64; neighbours];
        let mut cond = vec![0f64; neighbours];
        for i in 0..n {
            let xi = &x[i * dim..(i + 1) * dim];
            dist.clear();
            for (j, xj) in x.chunks_exact(dim).enumerate() {
                if j != i {
                    dist.push((sq_dist(xi, xj), j as u32));
                }
            }
            nearest(&mut dist, neighbours);
            for (o, &(dd, _)) in d2.iter_mut().zip(&dist) {
                *o = f64::from(dd);
            }
            conditional_affinities(&d2, perplexity, &mut cond);
            for (&(_, j), &p) in dist.iter().zip(&cond) {
                let (i, j) = (i as u32, j);
                triplets.push(if i < j { (i, j, p) } else { (j, i, p) });
            }
        }
        triplets.sort_unstable_by_key(|t| (t.0, t.1));
        let mut p_start = vec![0u32; n + 1];
        let mut p_col = Vec::with_capacity(triplets.len());
        let mut p_val = Vec::with_capacity(triplets.len());
        let norm = 1.0 / (2.0 * n as f64);
        let mut t = 0;
        while t < triplets.len() {
            let (a, b, mut p) = triplets[t];
            t += 1;
            while t < triplets.len() && triplets[t].0 == a && triplets[t].1 == b {
                p += triplets[t].2;
                t += 1;
            }
            p_start[a as usize + 1] += 1;
            p_col.push(b);
            p_val.push((p * norm) as f32);
        }
        for i in 0..n {
            p_start[i + 1] += p_start[i];
        }

        let mut rng = StdRng::seed_from_u64(params.seed);
        let normal = Normal::new(0.0f64, 1e-4).map_err(|_| TsneError::InvalidParameter("initial scale"))?;
        let mut yx = vec![0f32; n];
        let mut yy = vec![0f32; n];
        for (a, b) in yx.iter_mut().zip(yy.iter_mut()) {
            *a = normal.sample(&mut rng) as f32;
            *b = normal.sample(&mut rng) as f32;
        }
        let learning_rate = params.learning_rate.unwrap_or_else(|| (n as f32 / params.early_exaggeration).max(50.0));

        let mut tsne = Self {
            params,
            n,
            basis,
            x,
            neighbours,
            learning_rate,
            p_start,
            p_col,
            p_val,
            yx,
            yy,
            vel_x: vec![0.0; n],
            vel_y: vec![0.0; n],
            gain_x: vec![1.0; n],
            gain_y: vec![1.0; n],
            rep_x: vec![0.0; n],
            rep_y: vec![0.0; n],
            att_x: vec![0.0; n],
            att_y: vec![0.0; n],
            embedding: vec![0.0; 2 * n],
            iteration: 0,
        };
        tsne.refresh_embedding();
        Ok(tsne)
    }

    /// Runs up to `iters` more gradient iterations (never past `params.iterations`) and returns
    /// the number of iterations done so far. Momentum is 0.5 for the first 250 iterations, then
    /// 0.8; per-coordinate gains as in the reference implementation; P is multiplied by
    /// `early_exaggeration` for the first `exaggeration_iters`; the map is re-centred every step.
    pub fn step(&mut self, iters: usize) -> usize {
        let end = self.iteration.saturating_add(iters).min(self.params.iterations);
        if self.iteration >= end {
            return self.iteration;
        }
        while self.iteration < end {
            self.iterate();
            self.iteration += 1;
        }
        self.refresh_embedding();
        self.iteration
    }

    /// Iterations done so far.
    pub fn iteration(&self) -> usize {
        self.iteration
    }

    /// Whether all `params.iterations` have run.
    pub fn is_done(&self) -> bool {
        self.iteration >= self.params.iterations
    }

    /// The current map, `n × 2` row-major.
    pub fn embedding(&self) -> &[f32] {
        &self.embedding
    }

    /// The settings of this run.
    pub fn params(&self) -> &TsneParams {
        &self.params
    }

    /// KL(P‖Q) of the current map, without exaggeration (one O(n²) pass).
    pub fn kl_divergence(&self) -> f32 {
        let z = kernel_sum(&self.yx, &self.yy);
        if z <= 0.0 {
            return 0.0;
        }
        let mut kl = 0.0f64;
        for i in 0..self.n {
            let range = self.p_start[i] as usize..self.p_start[i + 1] as usize;
            for (&j, &p) in self.p_col[range.clone()].iter().zip(&self.p_val[range]) {
                if p <= 0.0 {
                    continue;
                }
                let j = j as usize;
                let (dx, dy) = (f64::from(self.yx[i] - self.yx[j]), f64::from(self.yy[i] - self.yy[j]));
                let q = 1.0 / (1.0 + dx * dx + dy * dy) / z;
                let p = f64::from(p);
                // Each stored pair stands for both (i, j) and (j, i).
                kl += 2.0 * p * (p / q).ln();
            }
        }
        kl as f32
    }

    /// Places an out-of-sample point (`d` values, in the space of the input data) into the current
    /// map: projects it with the same PCA, gives it Gaussian affinities to its `3 × perplexity`
    /// nearest points with the same perplexity, and returns the affinity-weighted mean of their
    /// positions in the map.
    pub fn place(&self, point: &[f32]) -> Result<[f32; 2], TsneError> {
        check_data(point, 1, self.basis.d)?;
        check_finite(point)?;
        let dim = self.basis.k;
        let mut centred = vec![0f32; self.basis.d];
        let mut z = vec![0f32; dim];
        self.basis.project_row(point, &mut centred, &mut z);
        let mut dist: Vec<(f32, u32)> =
            self.x.chunks_exact(dim).enumerate().map(|(j, xj)| (sq_dist(&z, xj), j as u32)).collect();
        let k = self.neighbours;
        nearest(&mut dist, k);
        let d2: Vec<f64> = dist[..k].iter().map(|&(d, _)| f64::from(d)).collect();
        let mut w = vec![0f64; k];
        conditional_affinities(&d2, f64::from(self.params.perplexity), &mut w);
        let (mut px, mut py) = (0.0f64, 0.0f64);
        for (&(_, j), &wj) in dist.iter().zip(&w) {
            px += wj * f64::from(self.yx[j as usize]);
            py += wj * f64::from(self.yy[j as usize]);
        }
        Ok([px as f32, py as f32])
    }

    fn refresh_embedding(&mut self) {
        for ((e, &x), &y) in self.embedding.chunks_exact_mut(2).zip(&self.yx).zip(&self.yy) {
            e[0] = x;
            e[1] = y;
        }
    }

    /// One gradient-descent iteration.
    fn iterate(&mut self) {
        let exaggeration =
            if self.iteration < self.params.exaggeration_iters { self.params.early_exaggeration } else { 1.0 };
        let momentum = if self.iteration < MOMENTUM_SWITCH { 0.5f32 } else { 0.8 };
        let z = repulsion(&self.yx, &self.yy, &mut self.rep_x, &mut self.rep_y);
        attraction(
            &self.p_start,
            &self.p_col,
            &self.p_val,
            exaggeration,
            &self.yx,
            &self.yy,
            &mut self.att_x,
            &mut self.att_y,
        );
        let inv_z = if z > 0.0 { (1.0 / z) as f32 } else { 0.0 };
        let eta = self.learning_rate;
        update(&mut self.yx, &mut self.vel_x, &mut self.gain_x, &self.att_x, &self.rep_x, inv_z, momentum, eta);
        update(&mut self.yy, &mut self.vel_y, &mut self.gain_y, &self.att_y, &self.rep_y, inv_z, momentum, eta);
        for y in [&mut self.yx, &mut self.yy] {
            let mean = (y.iter().map(|&v| f64::from(v)).sum::<f64>() / self.n as f64) as f32;
            for v in y.iter_mut() {
                *v -= mean;
            }
        }
    }
}

/// One coordinate of the update: gradient `att - rep / Z`, gains (+0.2 when the gradient's sign
/// differs from the velocity's, ×0.8 otherwise, at least 0.01), momentum step.
#[allow(clippy::too_many_arguments)]
fn update(
    y: &mut [f32],
    vel: &mut [f32],
    gain: &mut [f32],
    att: &[f32],
    rep: &[f32],
    inv_z: f32,
    momentum: f32,
    eta: f32,
) {
    let sign = |v: f32| {
        if v > 0.0 {
            1
        } else if v < 0.0 {
            -1
        } else {
            0
        }
    };
    for ((((y, v), g), &a), &r) in y.iter_mut().zip(vel.iter_mut()).zip(gain.iter_mut()).zip(att).zip(rep) {
        let grad = a - r * inv_z;
        *g = if sign(grad) != sign(*v) { *g + 0.2 } else { *g * 0.8 }.max(0.01);
        *v = momentum * *v - eta * *g * grad;
        *y += *v;
    }
}

/// Unnormalised repulsive forces `rep_i = Σ_j w_ij² (y_i - y_j)` with `w_ij = 1 / (1 + |y_i - y_j|²)`,
/// over all pairs once (i < j); returns `Z = Σ_{i≠j} w_ij`. The O(n²) hot loop: two pairs per
/// step with separate accumulators, which is what the scalar code of an `opt-level = "z"` or wasm
/// build runs fastest (measured against 4, 8 and 16 lanes and a plain loop).
fn repulsion(yx: &[f32], yy: &[f32], rep_x: &mut [f32], rep_y: &mut [f32]) -> f64 {
    rep_x.fill(0.0);
    rep_y.fill(0.0);
    let n = yx.len();
    let mut total = 0.0f64;
    for i in 0..n {
        let (xi, yi) = (yx[i], yy[i]);
        let (rx_head, rx_tail) = rep_x.split_at_mut(i + 1);
        let (ry_head, ry_tail) = rep_y.split_at_mut(i + 1);
        let (xs, xr) = yx[i + 1..].as_chunks::<2>();
        let (ys, yr) = yy[i + 1..].as_chunks::<2>();
        let (rxs, rxr) = rx_tail.as_chunks_mut::<2>();
        let (rys, ryr) = ry_tail.as_chunks_mut::<2>();
        let (mut s0, mut s1, mut fx0, mut fx1, mut fy0, mut fy1) = (0f32, 0f32, 0f32, 0f32, 0f32, 0f32);
        for (((cx, cy), crx), cry) in xs.iter().zip(ys).zip(rxs.iter_mut()).zip(rys.iter_mut()) {
            let (dx0, dy0) = (xi - cx[0], yi - cy[0]);
            let (dx1, dy1) = (xi - cx[1], yi - cy[1]);
            let w0 = 1.0 / (1.0 + dx0 * dx0 + dy0 * dy0);
            let w1 = 1.0 / (1.0 + dx1 * dx1 + dy1 * dy1);
            let (q0, q1) = (w0 * w0, w1 * w1);
            s0 += w0;
            s1 += w1;
            fx0 += q0 * dx0;
            fx1 += q1 * dx1;
            fy0 += q0 * dy0;
            fy1 += q1 * dy1;
            crx[0] -= q0 * dx0;
            crx[1] -= q1 * dx1;
            cry[0] -= q0 * dy0;
            cry[1] -= q1 * dy1;
        }
        let (mut s, mut fx, mut fy) = (s0 + s1, fx0 + fx1, fy0 + fy1);
        for (((&x, &y), rx), ry) in xr.iter().zip(yr).zip(rxr.iter_mut()).zip(ryr.iter_mut()) {
            let (dx, dy) = (xi - x, yi - y);
            let w = 1.0 / (1.0 + dx * dx + dy * dy);
            let q = w * w;
            s += w;
            fx += q * dx;
            fy += q * dy;
            *rx -= q * dx;
            *ry -= q * dy;
        }
        rx_head[i] += fx;
        ry_head[i] += fy;
        total += f64::from(s);
    }
    2.0 * total
}

/// `Z = Σ_{i≠j} 1 / (1 + |y_i - y_j|²)`, summed exactly as [`repulsion`] does.
fn kernel_sum(yx: &[f32], yy: &[f32]) -> f64 {
    let n = yx.len();
    let mut total = 0.0f64;
    for i in 0..n {
        let (xi, yi) = (yx[i], yy[i]);
        let (xs, xr) = yx[i + 1..].as_chunks::<2>();
        let (ys, yr) = yy[i + 1..].as_chunks::<2>();
        let (mut s0, mut s1) = (0f32, 0f32);
        for (cx, cy) in xs.iter().zip(ys) {
            let (dx0, dy0) = (xi - cx[0], yi - cy[0]);
            let (dx1, dy1) = (xi - cx[1], yi - cy[1]);
            s0 += 1.0 / (1.0 + dx0 * dx0 + dy0 * dy0);
            s1 += 1.0 / (1.0 + dx1 * dx1 + dy1 * dy1);
        }
        let mut s = s0 + s1;
        for (&x, &y) in xr.iter().zip(yr) {
            let (dx, dy) = (xi - x, yi - y);
            s += 1.0 / (1.0 + dx * dx + dy * dy);
        }
        total += f64::from(s);
    }
    2.0 * total
}

/// Attractive forces `att_i = Σ_j e·P_ij w_ij (y_i - y_j)` over the sparse upper-triangular P.
#[allow(clippy::too_many_arguments)]
fn attraction(
    p_start: &[u32],
    p_col: &[u32],
    p_val: &[f32],
    exaggeration: f32,
    yx: &[f32],
    yy: &[f32],
    att_x: &mut [f32],
    att_y: &mut [f32],
) {
    att_x.fill(0.0);
    att_y.fill(0.0);
    for i in 0..yx.len() {
        let (xi, yi) = (yx[i], yy[i]);
        let (mut fx, mut fy) = (0f32, 0f32);
        let range = p_start[i] as usize..p_start[i + 1] as usize;
        for (&j, &p) in p_col[range.clone()].iter().zip(&p_val[range]) {
            let j = j as usize;
            let dx = xi - yx[j];
            let dy = yi - yy[j];
            let f = exaggeration * p / (1.0 + dx * dx + dy * dy);
            fx += f * dx;
            fy += f * dy;
            att_x[j] -= f * dx;
            att_y[j] -= f * dy;
        }
        att_x[i] += fx;
        att_y[i] += fy;
    }
}

/// Fraction of points whose `k` nearest neighbours (Euclidean, over the `dims`-dimensional rows of
/// `points`, excluding the point itself) vote for its own label by majority; ties go to the label
/// whose member is nearest. `k` is clamped to `1..=n-1`; fewer than 2 points score 0.
///
/// # Panics
/// If `dims` is 0 or `points` is not `labels.len()` rows of `dims` values.
pub fn knn_accuracy(points: &[f32], dims: usize, labels: &[usize], k: usize) -> f32 {
    let n = labels.len();
    assert!(dims > 0 && points.len() == n * dims, "knn_accuracy: {} values are not {n} rows × {dims}", points.len());
    if n < 2 {
        return 0.0;
    }
    let k = k.clamp(1, n - 1);
    let mut dist: Vec<(f32, u32)> = Vec::with_capacity(n);
    // (label, votes, rank of its nearest member)
    let mut votes: Vec<(usize, usize, usize)> = Vec::with_capacity(k);
    let mut correct = 0usize;
    for (i, pi) in points.chunks_exact(dims).enumerate() {
        dist.clear();
        for (j, pj) in points.chunks_exact(dims).enumerate() {
            if j != i {
                dist.push((sq_dist(pi, pj), j as u32));
            }
        }
        nearest(&mut dist, k);
        votes.clear();
        for (rank, &(_, j)) in dist[..k].iter().enumerate() {
            let label = labels[j as usize];
            match votes.iter_mut().find(|v| v.0 == label) {
                Some(v) => v.1 += 1,
                None => votes.push((label, 1, rank)),
            }
        }
        let winner = votes.iter().max_by(|a, b| a.1.cmp(&b.1).then(b.2.cmp(&a.2))).map(|v| v.0);
        if winner == Some(labels[i]) {
            correct += 1;
        }
    }
    correct as f32 / n as f32
}
