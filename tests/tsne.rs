//! t-SNE and PCA (`anatomy::tsne`): separation of known clusters, convergence to a stationary point
//! of the t-SNE objective, determinism, exact PCA on a known rotation, out-of-sample placement, and
//! errors instead of panics.
#![cfg(feature = "compute")]

use convlens::anatomy::tsne::*;

/// splitmix64 with Box–Muller: a small seeded source of test data, independent of `rand`.
struct Gen(u64);

impl Gen {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1).
    fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    fn gauss(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

/// `clusters × per` points in `d` dimensions: unit-variance Gaussians around centres drawn with
/// standard deviation `spread` per coordinate. Points are interleaved (label = index % clusters).
fn blobs(clusters: usize, per: usize, d: usize, spread: f64, seed: u64) -> (Vec<f32>, Vec<usize>) {
    let mut g = Gen(seed);
    let centres: Vec<f64> = (0..clusters * d).map(|_| g.gauss() * spread).collect();
    let mut data = Vec::with_capacity(clusters * per * d);
    let mut labels = Vec::with_capacity(clusters * per);
    for i in 0..clusters * per {
        let label = i % clusters;
        labels.push(label);
        data.extend((0..d).map(|k| (centres[label * d + k] + g.gauss()) as f32));
    }
    (data, labels)
}

fn column_variance(x: &[f32], cols: usize, col: usize) -> f64 {
    let n = x.len() / cols;
    let mean = (0..n).map(|i| f64::from(x[i * cols + col])).sum::<f64>() / n as f64;
    (0..n).map(|i| (f64::from(x[i * cols + col]) - mean).powi(2)).sum::<f64>() / (n - 1) as f64
}

fn centroids(map: &[f32], labels: &[usize], clusters: usize) -> Vec<[f32; 2]> {
    let mut sums = vec![[0f32; 3]; clusters];
    for (p, &l) in map.chunks_exact(2).zip(labels) {
        sums[l][0] += p[0];
        sums[l][1] += p[1];
        sums[l][2] += 1.0;
    }
    sums.iter().map(|s| [s[0] / s[2], s[1] / s[2]]).collect()
}

fn nearest_centroid(p: [f32; 2], cs: &[[f32; 2]]) -> usize {
    let d2 = |c: &[f32; 2]| (p[0] - c[0]).powi(2) + (p[1] - c[1]).powi(2);
    (0..cs.len()).min_by(|&a, &b| d2(&cs[a]).total_cmp(&d2(&cs[b]))).unwrap()
}

/// An independent dense reference for the joint P the module builds: each point's
/// `3 × perplexity` nearest neighbours, bandwidth by plain bisection on the perplexity, then
/// `P_ij = (p_j|i + p_i|j) / 2n`. Returned as a dense `n × n` matrix.
fn reference_p(data: &[f32], n: usize, d: usize, perplexity: f64) -> Vec<f64> {
    let k = (3.0 * perplexity) as usize;
    let mut p = vec![0f64; n * n];
    for i in 0..n {
        let sq = |j: usize| (0..d).map(|c| (f64::from(data[i * d + c]) - f64::from(data[j * d + c])).powi(2)).sum();
        let mut dist: Vec<(f64, usize)> = (0..n).filter(|&j| j != i).map(|j| (sq(j), j)).collect();
        dist.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        dist.truncate(k);
        let dmin = dist[0].0;
        let (mut lo, mut hi) = (0.0f64, 1e6f64);
        let mut row = vec![0f64; k];
        for _ in 0..100 {
            let beta = 0.5 * (lo + hi);
            let w: Vec<f64> = dist.iter().map(|&(dd, _)| (-beta * (dd - dmin)).exp()).collect();
            let sum: f64 = w.iter().sum();
            row = w.iter().map(|x| x / sum).collect();
            let entropy: f64 = -row.iter().filter(|&&q| q > 0.0).map(|&q| q * q.ln()).sum::<f64>();
            if entropy > perplexity.ln() {
                lo = beta;
            } else {
                hi = beta;
            }
        }
        for (&(_, j), &v) in dist.iter().zip(&row) {
            p[i * n + j] += v / (2.0 * n as f64);
            p[j * n + i] += v / (2.0 * n as f64);
        }
    }
    p
}

/// KL(P‖Q) of a map and the relative size of its exact gradient `4 Σ_j (p_ij - q_ij) w_ij (y_i - y_j)`
/// against the attractive part alone: near 0 at a stationary point of the t-SNE objective.
fn kl_and_relative_gradient(p: &[f64], map: &[f32]) -> (f64, f64) {
    let n = map.len() / 2;
    let y: Vec<f64> = map.iter().map(|&v| f64::from(v)).collect();
    let w = |i: usize, j: usize| 1.0 / (1.0 + (y[2 * i] - y[2 * j]).powi(2) + (y[2 * i + 1] - y[2 * j + 1]).powi(2));
    let z: f64 = (0..n).flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j))).map(|(i, j)| w(i, j)).sum();
    let (mut kl, mut grad2, mut attr2) = (0.0, 0.0, 0.0);
    for i in 0..n {
        let (mut g, mut a) = ([0.0f64; 2], [0.0f64; 2]);
        for j in (0..n).filter(|&j| j != i) {
            let (wij, pij) = (w(i, j), p[i * n + j]);
            let q = wij / z;
            if pij > 0.0 {
                kl += pij * (pij / q).ln();
            }
            for c in 0..2 {
                let diff = y[2 * i + c] - y[2 * j + c];
                g[c] += 4.0 * (pij - q) * wij * diff;
                a[c] += 4.0 * pij * wij * diff;
            }
        }
        grad2 += g[0] * g[0] + g[1] * g[1];
        attr2 += a[0] * a[0] + a[1] * a[1];
    }
    (kl, (grad2 / attr2).sqrt())
}

/// 5 well-separated clusters × 60 points in 20-D (d <= pca_dims, so no PCA).
fn five_blobs() -> (Vec<f32>, Vec<usize>) {
    blobs(5, 60, 20, 4.0, 7)
}

#[test]
fn separated_clusters_stay_separated_and_kl_falls() {
    let (data, labels) = five_blobs();
    let n = labels.len();
    let mut tsne = Tsne::new(&data, n, 20, TsneParams::default()).unwrap();
    assert_eq!(tsne.iteration(), 0);
    assert_eq!(tsne.embedding().len(), 2 * n);
    // Before any step the map is the tiny random start: clusters are mixed.
    assert!(knn_accuracy(tsne.embedding(), 2, &labels, 5) < 0.6);

    assert_eq!(tsne.step(50), 50);
    let kl_50 = tsne.kl_divergence();
    while !tsne.is_done() {
        tsne.step(100);
    }
    assert_eq!(tsne.iteration(), 1000);
    assert_eq!(tsne.step(10), 1000, "no iterations past params.iterations");
    let kl_end = tsne.kl_divergence();
    assert!(tsne.embedding().iter().all(|v| v.is_finite()));

    let accuracy = knn_accuracy(tsne.embedding(), 2, &labels, 5);
    assert!(accuracy >= 0.95, "5-NN accuracy in the map {accuracy}");
    assert!(kl_end.is_finite() && kl_end >= 0.0 && kl_end < kl_50, "KL after 50: {kl_50}, at the end: {kl_end}");
    // The map is a stationary point of KL(P‖Q) for an independently built P (a wrong kernel or force
    // leaves a gradient of 10–40% of the attractive force; the real one is ~0.1%), and the module's
    // KL is that KL.
    let p = reference_p(&data, n, 20, 30.0);
    let (kl_ref, relative_gradient) = kl_and_relative_gradient(&p, tsne.embedding());
    assert!(relative_gradient < 0.02, "|gradient| / |attraction| = {relative_gradient} at the end");
    assert!((f64::from(kl_end) / kl_ref - 1.0).abs() < 1e-3, "module KL {kl_end}, reference {kl_ref}");
    // The map is re-centred every step.
    let mean_x: f32 = tsne.embedding().chunks_exact(2).map(|p| p[0]).sum::<f32>() / n as f32;
    assert!(mean_x.abs() < 1e-3, "mean x {mean_x}");
}

#[test]
fn same_seed_same_map_and_steps_compose() {
    let (data, _) = blobs(3, 40, 10, 3.0, 11);
    let n = 120;
    let params = TsneParams { perplexity: 10.0, iterations: 300, pca_dims: 5, ..TsneParams::default() };
    let bits = |t: &Tsne| t.embedding().iter().map(|v| v.to_bits()).collect::<Vec<_>>();

    let mut a = Tsne::new(&data, n, 10, params.clone()).unwrap();
    assert_eq!(a.step(usize::MAX), 300);
    assert!(a.is_done());

    // Same seed, run in uneven chunks as the UI does: bit-identical.
    let mut b = Tsne::new(&data, n, 10, params.clone()).unwrap();
    for chunk in [0, 1, 7, 42, 100, 1000] {
        b.step(chunk);
    }
    assert_eq!(b.iteration(), 300);
    assert_eq!(bits(&a), bits(&b));
    assert_eq!(a.kl_divergence().to_bits(), b.kl_divergence().to_bits());

    // Another seed: another map.
    let mut c = Tsne::new(&data, n, 10, TsneParams { seed: 1, ..params }).unwrap();
    c.step(300);
    assert_ne!(bits(&a), bits(&c));
}

/// 3-D data with variances 9, 4, 1 along the columns of the rotation `r`, shifted off the origin.
fn rotated_gaussian(n: usize) -> (Vec<f32>, [[f64; 3]; 3]) {
    let (a, b) = (0.7f64, -0.4f64);
    // r = Rz(a) · Rx(b): orthonormal columns.
    let rz = [[a.cos(), -a.sin(), 0.0], [a.sin(), a.cos(), 0.0], [0.0, 0.0, 1.0]];
    let rx = [[1.0, 0.0, 0.0], [0.0, b.cos(), -b.sin()], [0.0, b.sin(), b.cos()]];
    let mut r = [[0.0; 3]; 3];
    for i in 0..3 {
        for j in 0..3 {
            r[i][j] = (0..3).map(|k| rz[i][k] * rx[k][j]).sum();
        }
    }
    let mut g = Gen(3);
    let mut data = Vec::with_capacity(n * 3);
    for _ in 0..n {
        let z = [3.0 * g.gauss(), 2.0 * g.gauss(), g.gauss()];
        for (i, offset) in [5.0, -3.0, 10.0].into_iter().enumerate() {
            data.push((offset + (0..3).map(|j| r[i][j] * z[j]).sum::<f64>()) as f32);
        }
    }
    (data, r)
}

#[test]
fn pca_recovers_a_known_rotation() {
    let n = 10_000;
    let (data, r) = rotated_gaussian(n);
    let proj = pca(&data, n, 3, 2).unwrap();
    assert_eq!(proj.len(), n * 2);
    let (v0, v1) = (column_variance(&proj, 2, 0), column_variance(&proj, 2, 1));
    assert!((v0 / 9.0 - 1.0).abs() < 0.05, "first component variance {v0}");
    assert!((v1 / 4.0 - 1.0).abs() < 0.05, "second component variance {v1}");
    // Components are uncorrelated.
    let cov: f64 = proj.chunks_exact(2).map(|p| f64::from(p[0]) * f64::from(p[1])).sum::<f64>() / (n - 1) as f64;
    assert!(cov.abs() < 1e-3 * v0, "covariance of the two components {cov}");

    // Recover each axis as Xcᵀ p / |p|²: unit length, orthogonal, along the known rotated axes.
    let centred = pca(&data, n, 3, 3).unwrap();
    let axis = |c: usize| {
        let mut v = [0f64; 3];
        let mut pp = 0.0;
        for (x, p) in centred.chunks_exact(3).zip(proj.chunks_exact(2)) {
            let p = f64::from(p[c]);
            pp += p * p;
            for k in 0..3 {
                v[k] += f64::from(x[k]) * p;
            }
        }
        v.map(|x| x / pp)
    };
    let (a0, a1) = (axis(0), axis(1));
    let dot = |a: [f64; 3], b: [f64; 3]| a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
    assert!((dot(a0, a0) - 1.0).abs() < 1e-3 && (dot(a1, a1) - 1.0).abs() < 1e-3);
    assert!(dot(a0, a1).abs() < 1e-3);
    let column = |j: usize| [r[0][j], r[1][j], r[2][j]];
    assert!(dot(a0, column(0)).abs() > 0.99, "first axis {a0:?} vs {:?}", column(0));
    assert!(dot(a1, column(1)).abs() > 0.99, "second axis {a1:?} vs {:?}", column(1));
}

#[test]
fn pca_with_k_at_least_d_returns_centred_data() {
    let n = 500;
    let (data, _) = rotated_gaussian(n);
    for k in [3, 8] {
        let out = pca(&data, n, 3, k).unwrap();
        assert_eq!(out.len(), n * 3, "k = {k} keeps d = 3 columns");
        for c in 0..3 {
            let mean: f64 = (0..n).map(|i| f64::from(data[i * 3 + c])).sum::<f64>() / n as f64;
            for i in 0..n {
                let expected = f64::from(data[i * 3 + c]) - mean;
                assert!((f64::from(out[i * 3 + c]) - expected).abs() < 1e-4);
            }
        }
    }
}

#[test]
fn pca_with_fewer_points_than_dims_matches_low_dimensional_pca() {
    // 40 points of the rotated 3-D Gaussian, embedded isometrically in 100-D (coordinates 0..3 go to
    // three orthonormal directions spread over all 100 axes). The Gram-matrix path (n < d) must give
    // the same top-2 projection as the covariance path on the 3-D data, up to the sign of each column.
    let n = 40;
    let (small, _) = rotated_gaussian(n);
    let d = 100;
    let mut basis = vec![[0f64; 3]; d];
    for (t, b) in basis.iter_mut().enumerate() {
        let t = t as f64;
        // Orthogonal over t = 0..100: constant, and cosines of different frequencies.
        *b = [1.0 / 10.0, (2.0f64 / 100.0).sqrt() * (std::f64::consts::PI * (t + 0.5) / 100.0).cos(), {
            (2.0f64 / 100.0).sqrt() * (2.0 * std::f64::consts::PI * (t + 0.5) / 100.0).cos()
        }];
    }
    let big: Vec<f32> = small
        .chunks_exact(3)
        .flat_map(|z| {
            basis.iter().map(move |b| (b[0] * f64::from(z[0]) + b[1] * f64::from(z[1]) + b[2] * f64::from(z[2])) as f32)
        })
        .collect();
    let p_small = pca(&small, n, 3, 2).unwrap();
    let p_big = pca(&big, n, d, 2).unwrap();
    for c in 0..2 {
        let same = (0..n).all(|i| (p_small[i * 2 + c] - p_big[i * 2 + c]).abs() < 1e-3);
        let flipped = (0..n).all(|i| (p_small[i * 2 + c] + p_big[i * 2 + c]).abs() < 1e-3);
        assert!(same || flipped, "component {c} differs between the covariance and Gram paths");
    }
}

#[test]
fn placed_points_land_in_their_own_cluster() {
    let (data, labels) = five_blobs();
    let n = labels.len();
    let params = TsneParams { iterations: 500, ..TsneParams::default() };
    let mut tsne = Tsne::new(&data, n, 20, params).unwrap();
    tsne.step(500);
    let cs = centroids(tsne.embedding(), &labels, 5);
    for i in [0, 1, 2, 3, 4, 137, 299] {
        let p = tsne.place(&data[i * 20..(i + 1) * 20]).unwrap();
        assert_eq!(nearest_centroid(p, &cs), labels[i], "point {i} placed at {p:?}, centroids {cs:?}");
    }
    // A new point near a cluster centre (mean of its members in input space) also lands there.
    let mut centre = vec![0f32; 20];
    for i in (2..n).step_by(5) {
        for (c, &v) in centre.iter_mut().zip(&data[i * 20..(i + 1) * 20]) {
            *c += v / 60.0;
        }
    }
    assert_eq!(nearest_centroid(tsne.place(&centre).unwrap(), &cs), 2);

    assert_eq!(tsne.place(&[0.0; 19]), Err(TsneError::Ragged { len: 19, n: 1, d: 20 }));
    let mut bad = centre.clone();
    bad[4] = f32::NAN;
    assert_eq!(tsne.place(&bad), Err(TsneError::NonFinite { index: 4 }));
}

#[test]
fn place_goes_through_the_same_pca() {
    // d = 30 > pca_dims = 5: placing an input row must reproduce the projection used for the map.
    let (data, labels) = blobs(3, 40, 30, 5.0, 5);
    let n = labels.len();
    let params = TsneParams { perplexity: 10.0, iterations: 300, pca_dims: 5, ..TsneParams::default() };
    let mut tsne = Tsne::new(&data, n, 30, params).unwrap();
    tsne.step(300);
    assert!(knn_accuracy(tsne.embedding(), 2, &labels, 5) >= 0.95);
    let cs = centroids(tsne.embedding(), &labels, 3);
    for i in [0, 1, 2, 50, 119] {
        let p = tsne.place(&data[i * 30..(i + 1) * 30]).unwrap();
        assert_eq!(nearest_centroid(p, &cs), labels[i]);
    }
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let p = TsneParams::default;
    assert_eq!(Tsne::new(&[0.0, 1.0, 2.0, 3.0], 2, 2, p()).unwrap_err(), TsneError::TooFewPoints { n: 2 });
    assert_eq!(Tsne::new(&[], 0, 2, p()).unwrap_err(), TsneError::TooFewPoints { n: 0 });

    let mut data = vec![0.5f32; 100 * 4];
    data[37] = f32::NAN;
    assert_eq!(Tsne::new(&data, 100, 4, p()).unwrap_err(), TsneError::NonFinite { index: 37 });
    data[37] = f32::INFINITY;
    assert_eq!(pca(&data, 100, 4, 2).unwrap_err(), TsneError::NonFinite { index: 37 });

    assert_eq!(Tsne::new(&[0.0; 399], 100, 4, p()).unwrap_err(), TsneError::Ragged { len: 399, n: 100, d: 4 });
    assert_eq!(pca(&[0.0; 10], 3, 4, 2).unwrap_err(), TsneError::Ragged { len: 10, n: 3, d: 4 });
    assert_eq!(
        Tsne::new(&[0.0; 10], usize::MAX, 2, p()).unwrap_err(),
        TsneError::Ragged { len: 10, n: usize::MAX, d: 2 }
    );
    assert_eq!(Tsne::new(&[], 10, 0, p()).unwrap_err(), TsneError::ZeroDims);
    assert_eq!(pca(&[0.0; 8], 4, 2, 0).unwrap_err(), TsneError::ZeroDims);
    assert_eq!(pca(&[], 0, 2, 1).unwrap_err(), TsneError::TooFewPoints { n: 0 });

    // 50 points leave 49 neighbours; perplexity 30 wants 90.
    let (blob, _) = blobs(2, 25, 3, 1.0, 1);
    assert_eq!(Tsne::new(&blob, 50, 3, p()).unwrap_err(), TsneError::PerplexityTooLarge { perplexity: 30.0, n: 50 });
    assert!(Tsne::new(&blob, 50, 3, TsneParams { perplexity: 16.0, ..p() }).is_ok());
    for bad in [
        TsneParams { perplexity: 0.0, ..p() },
        TsneParams { perplexity: f32::NAN, ..p() },
        TsneParams { perplexity: 5.0, learning_rate: Some(-1.0), ..p() },
        TsneParams { perplexity: 5.0, early_exaggeration: 0.0, ..p() },
    ] {
        assert!(matches!(Tsne::new(&blob, 50, 3, bad).unwrap_err(), TsneError::InvalidParameter(_)));
    }
}

#[test]
fn identical_points_do_not_break_anything() {
    // All points equal: zero distances everywhere; the run stays finite.
    let data = vec![1.5f32; 40 * 3];
    let mut tsne =
        Tsne::new(&data, 40, 3, TsneParams { perplexity: 5.0, iterations: 60, ..TsneParams::default() }).unwrap();
    tsne.step(60);
    assert!(tsne.embedding().iter().all(|v| v.is_finite()));
    assert!(tsne.kl_divergence().is_finite());
    let p = tsne.place(&[1.5, 1.5, 1.5]).unwrap();
    assert!(p[0].is_finite() && p[1].is_finite());
    // A constant column is fine for PCA too.
    let out = pca(&data, 40, 3, 2).unwrap();
    assert!(out.iter().all(|v| v.abs() < 1e-6));
}

#[test]
fn knn_accuracy_counts_majorities_and_breaks_ties_by_nearest() {
    // 1-D points: 0 (a), 1 (b), 3 (a), 10 (b).
    let points = [0.0f32, 1.0, 3.0, 10.0];
    let labels = [0usize, 1, 0, 1];
    // k = 1: 0→1 (b, wrong), 1→0 (a, wrong), 3→1 (b, wrong), 10→3 (a, wrong).
    assert_eq!(knn_accuracy(&points, 1, &labels, 1), 0.0);
    // k = 2, one vote each, nearest wins: same answers as k = 1.
    assert_eq!(knn_accuracy(&points, 1, &labels, 2), 0.0);
    // k = 3: everyone sees all the others; 0 sees {b, a, b} → b (wrong); 1 sees {a, a, b} → a (wrong);
    // 3 sees {b, a, b} → b (wrong); 10 sees {a, b, a} → a (wrong).
    assert_eq!(knn_accuracy(&points, 1, &labels, 3), 0.0);
    let labels = [0usize, 0, 0, 1];
    // k = 1: 0→1 ok, 1→0 ok, 3→1 ok, 10→3 wrong.
    assert_eq!(knn_accuracy(&points, 1, &labels, 1), 0.75);
}

/// Native timing: `cargo test --release --test tsne -- --ignored --nocapture`.
#[test]
#[ignore]
fn timing_n2000_d128() {
    use std::time::Instant;
    let (data, labels) = blobs(10, 200, 128, 1.0, 1);
    let n = labels.len();
    let t = Instant::now();
    let mut tsne = Tsne::new(&data, n, 128, TsneParams::default()).unwrap();
    let setup = t.elapsed();
    let t = Instant::now();
    tsne.step(1000);
    let run = t.elapsed();
    let accuracy = knn_accuracy(tsne.embedding(), 2, &labels, 5);
    println!(
        "t-SNE n={n} d=128→50: setup {setup:?}, 1000 iterations {run:?}, KL {}, 5-NN accuracy {accuracy}",
        tsne.kl_divergence()
    );

    let (big, _) = blobs(10, 200, 512, 1.0, 2);
    let t = Instant::now();
    let proj = pca(&big, 2000, 512, 50).unwrap();
    println!("PCA 2000×512 → 50: {:?}", t.elapsed());
    assert_eq!(proj.len(), 2000 * 50);
    assert!(accuracy >= 0.9);
}
