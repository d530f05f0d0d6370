// Forward latency of several builds (or URL settings) side by side in one browser: for each model
// file, a page per build, classifications alternating between them, medians per page.
// Usage: MODELS=-,mobilenetv2,static/models/fashion-mnist-cnn-int8.onnx \
//   node tests/browser/bench-ab.mjs RUNS LABEL=DIST[?QUERY] LABEL=DIST[?QUERY] ...
// ("-": the bundled model; a bare name: target/bench-models/NAME.onnx; QUERY e.g. relaxed=false.)
// ISOLATED=1 serves the pages cross-origin isolated (the threaded worker).
import { serve } from './serve.mjs';
import { launch } from './browser.mjs';
import { openModelPage } from './model-page.mjs';
const [runs = '15', ...specs] = process.argv.slice(2); // spec: label=dist[?query]
const files = (process.env.MODELS ?? '-').split(',');
const context = await launch({ serviceWorkers: 'block' });
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[s.length >> 1]; };
const servers = {};
for (const spec of specs) { const [, d] = spec.split('='); const dist = d.split('?')[0]; servers[dist] ??= await serve(dist, { isolated: Boolean(process.env.ISOLATED) }); }
for (const file of files) {
  const pages = [];
  for (const spec of specs) {
    const [label, d] = spec.split('='); const [dist, q = ''] = d.split('?');
    pages.push({ label, ...(await openModelPage(context, servers[dist].origin, `cpu${q ? '&' + q : ''}`, file === '-' ? null : (file.includes('/') ? file : `target/bench-models/${file}.onnx`))), times: [] });
  }
  for (let i = 0; i < Number(runs); i++) for (const p of pages) p.times.push(await p.classify(`r${i}.png`));
  console.log(file, pages.map((p) => `${p.label} ${median(p.times).toFixed(1)}`).join(' | '));
  for (const p of pages) await p.page.close();
}
await context.close();
for (const s of Object.values(servers)) await s.close();
