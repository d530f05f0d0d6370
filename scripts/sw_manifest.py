#!/usr/bin/env python3
"""Trunk post-build hook: write the list of files the service worker keeps for offline use, and a
version (a hash of their contents), into the built sw.js."""
import hashlib, json, os

root = os.environ.get("TRUNK_STAGING_DIR", "dist")
path = os.path.join(root, "sw.js")
source = open(path, encoding="utf-8").read()
if "SW_PRECACHE" not in source:
    raise SystemExit(0)  # already processed
# Left out: the large optional model (kept when first used) and the worker itself.
SKIP = {"sw.js", "models/efficientnet_lite0-int8.onnx"}
files, digest = [], hashlib.sha256()
for dirpath, _, names in os.walk(root):
    for name in sorted(names):
        full = os.path.join(dirpath, name)
        rel = os.path.relpath(full, root).replace(os.sep, "/")
        if rel in SKIP:
            continue
        digest.update(rel.encode() + open(full, "rb").read())
        # The threaded CPU worker is fetched only by cross-origin-isolated pages (kept as used).
        if not rel.startswith("convlens-thread"):
            files.append(rel)
files.sort()
precache = ["./"] + files
source = source.replace("SW_VERSION", digest.hexdigest()[:16]).replace("SW_PRECACHE", json.dumps(precache))
open(path, "w", encoding="utf-8").write(source)
size = sum(os.path.getsize(os.path.join(root, f)) for f in files)
print(f"sw_manifest: {len(files)} files ({size / 1e6:.1f} MB) kept for offline use")
