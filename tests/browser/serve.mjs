// A minimal static file server for dist/ on 127.0.0.1 (random free port), with correct MIME
// types and a log of every path requested.
import { createServer } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, resolve } from 'node:path';

const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript',
  '.wasm': 'application/wasm', '.css': 'text/css', '.png': 'image/png', '.jpg': 'image/jpeg',
  '.onnx': 'application/octet-stream', '.md': 'text/markdown; charset=utf-8', '.json': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
};

/** `isolated`: send the cross-origin isolation headers (COOP/COEP) that wasm threads need. */
export async function serve(dir, { isolated = false } = {}) {
  const root = resolve(dir);
  const requested = [];
  const server = createServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    requested.push(path);
    let file = normalize(join(root, path));
    if (!file.startsWith(root)) { res.writeHead(403).end(); return; }
    try {
      if ((await stat(file)).isDirectory()) file = join(file, 'index.html');
      const body = await readFile(file);
      const headers = { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' };
      if (isolated) Object.assign(headers, { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' });
      res.writeHead(200, headers);
      res.end(body);
    } catch {
      res.writeHead(404).end('not found');
    }
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  const origin = `http://127.0.0.1:${server.address().port}`;
  // Closing also drops kept-alive connections, so a test can take the site off the network.
  const close = () => new Promise((ok) => { server.close(ok); server.closeAllConnections(); });
  return { origin, requested, close };
}
