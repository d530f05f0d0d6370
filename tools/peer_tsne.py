#!/usr/bin/env python3
"""Peer timing for BENCHMARKS.md: scikit-learn's t-SNE on the same 2,000 Fashion-MNIST codes.

Computes the shipped model's `fc1_relu` codes of the bundled subset with NumPy (int8 weights
dequantised from the ONNX file, the same maths as the app), then runs
`sklearn.manifold.TSNE` (Barnes-Hut, perplexity 30, 1000 iterations, PCA to 50 first as the app
does) and prints its time, KL divergence and 5-NN accuracy in the map.

    pip install scikit-learn numpy onnx pillow
    python3 tools/peer_tsne.py
"""

import json
import os
import sys
import time

import numpy as np
import onnx
from onnx import numpy_helper
from PIL import Image
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE
from sklearn.neighbors import KNeighborsClassifier

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export_fashion_mnist import forward  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def weights(path):
    init = {t.name: numpy_helper.to_array(t) for t in onnx.load(path).graph.initializer}
    out = {}
    for layer in ["conv1", "conv2", "conv3", "fc1", "fc2"]:
        q, s = init[f"{layer}.weight_q"].astype(np.float32), init[f"{layer}.weight_scale"]
        out[layer] = (q * s.reshape((-1,) + (1,) * (q.ndim - 1)), init[f"{layer}.bias"])
    return out


def main():
    meta = json.load(open(os.path.join(ROOT, "static/datasets/fashion-mnist-test-2000.json")))
    atlas = np.asarray(Image.open(os.path.join(ROOT, "static/datasets/fashion-mnist-test-2000.png")).convert("L"))
    t, cols, n = meta["tile"], meta["columns"], meta["count"]
    x = np.stack([atlas[(i // cols) * t:(i // cols + 1) * t, (i % cols) * t:(i % cols + 1) * t] for i in range(n)])
    x = x[:, None].astype(np.float32) / 255.0
    labels = np.array(meta["labels"])
    w = weights(os.path.join(ROOT, "static/models/fashion-mnist-cnn-int8.onnx"))
    c = np.concatenate([forward(w, x[s:s + 250])[0] for s in range(0, n, 250)])
    t0 = time.perf_counter()
    reduced = PCA(n_components=50, random_state=0).fit_transform(c)
    tsne = TSNE(n_components=2, perplexity=30.0, max_iter=1000, init="random", random_state=0, method="barnes_hut")
    y = tsne.fit_transform(reduced)
    seconds = time.perf_counter() - t0

    def knn(points):
        clf = KNeighborsClassifier(n_neighbors=6).fit(points, labels)
        idx = clf.kneighbors(points, return_distance=False)[:, 1:]
        votes = labels[idx]
        return float(np.mean([np.bincount(v, minlength=10).argmax() == l for v, l in zip(votes, labels)]))

    print(f"scikit-learn {__import__('sklearn').__version__} TSNE (Barnes-Hut, PCA 128->50, perplexity 30, "
          f"1000 iterations) on {n} codes: {seconds:.2f} s, KL {tsne.kl_divergence_:.3f}, "
          f"5-NN accuracy codes {knn(c):.3f}, map {knn(y):.3f}")


if __name__ == "__main__":
    main()
