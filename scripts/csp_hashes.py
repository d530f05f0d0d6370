#!/usr/bin/env python3
"""Trunk post-build hook: allow exactly Trunk's inline loader script(s) in the page's
Content-Security-Policy by their SHA-256, replacing the CSP_INLINE_SCRIPT_HASHES placeholder."""
import base64, hashlib, os, re, sys

path = os.path.join(os.environ.get("TRUNK_STAGING_DIR", "dist"), "index.html")
html = open(path, encoding="utf-8").read()
scripts = re.findall(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", html, flags=re.S)
hashes = " ".join(
    "'sha256-" + base64.b64encode(hashlib.sha256(s.encode("utf-8")).digest()).decode() + "'"
    for s in scripts if s.strip()
)
if "CSP_INLINE_SCRIPT_HASHES" not in html:
    sys.exit(0)  # already processed
html = html.replace("CSP_INLINE_SCRIPT_HASHES", hashes)
open(path, "w", encoding="utf-8").write(html)
print(f"csp_hashes: {len(scripts)} inline script(s) allowed by hash")
