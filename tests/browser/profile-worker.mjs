// Where the CPU worker's time goes in the page: opens a model in a convlens page (CPU backend),
// attaches V8's sampling profiler to the page's worker over the DevTools protocol, classifies
// coffee.png N times (or runs N occlusion sweeps: SWEEP below), and prints the functions with the
// most self time (scripts/cpuprofile-top.mjs).
// Usage: node tests/browser/profile-worker.mjs DIST [model.onnx (default: the bundled one)] [N=200] [TOP=25]
// The shipped build's wasm has no function names (wasm-opt drops them); for a profile with names,
// build a copy whose worker keeps them:
//   sed 's/data-bin="worker" data-type="worker" data-loader-shim data-wasm-opt="z"/& data-wasm-opt-params="-g"/' \
//     index.html > index-profile.html
//   CONVLENS_THREADS=0 trunk build index-profile.html --release --dist /tmp/dist-prof
// ISOLATED=1 serves the page cross-origin isolated, so that it runs the threaded worker (its
// calling thread is profiled; the pool's threads are workers of its own): build that worker
// with names into a copy of a release dist by `KEEP_NAMES=1 scripts/build-threads.sh DIST`.
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { launch } from './browser.mjs';
import { serve } from './serve.mjs';
import { explainMs, openModelPage, setInput } from './model-page.mjs';

const [dist = 'dist', file = '', n = '200', top = '25'] = process.argv.slice(2);
const server = await serve(dist, { isolated: Boolean(process.env.ISOLATED) });
const context = await launch({ webgpu: false });
const { page, classify } = await openModelPage(context, server.origin, 'cpu', file || undefined);

// The worker's session, through the page's (non-flattened auto-attach: messages wrapped).
const client = await context.newCDPSession(page);
const workers = [];
let nextId = 1;
const pending = new Map();
client.on('Target.attachedToTarget', (e) => {
  if (e.targetInfo.type === 'worker') workers.push(e.sessionId);
});
client.on('Target.receivedMessageFromTarget', (e) => {
  const msg = JSON.parse(e.message);
  if (msg.id && pending.has(msg.id)) {
    pending.get(msg.id)(msg);
    pending.delete(msg.id);
  }
});
await client.send('Target.setAutoAttach', { autoAttach: true, waitForDebuggerOnStart: false, flatten: false });
for (let i = 0; i < 50 && workers.length === 0; i++) await new Promise((r) => setTimeout(r, 100));
if (workers.length === 0) throw new Error('no worker attached');
const send = (sessionId, method, params = {}) => new Promise((resolve, reject) => {
  const id = nextId++;
  pending.set(id, (msg) => (msg.error ? reject(new Error(JSON.stringify(msg.error))) : resolve(msg.result)));
  client.send('Target.sendMessageToTarget', { sessionId, message: JSON.stringify({ id, method, params }) });
});
const worker = workers[0];
await send(worker, 'Profiler.enable');
await send(worker, 'Profiler.setSamplingInterval', { interval: 100 });
for (let i = 0; i < 5; i++) await classify(`warm${i}.png`);
// SWEEP=window,stride,incremental: N occlusion sweeps (on the worker alone, a new class each)
// instead of N classifications; with PARALLEL=1, shared with the helper workers (only this
// worker is profiled: its idle time is its wait for them).
const sweep = process.env.SWEEP?.split(',');
if (sweep) {
  await page.selectOption('[data-testid="explain-method"]', 'occlusion');
  await setInput(page, 'param-window', sweep[0]);
  await setInput(page, 'param-stride', sweep[1]);
  await page.selectOption('[data-testid="param-incremental"]', sweep[2] ?? 'true');
  await page.selectOption('[data-testid="param-parallel"]', process.env.PARALLEL ? '' : 'false');
}
await send(worker, 'Profiler.start');
const times = [];
for (let i = 0; i < Number(n); i++) times.push(sweep ? await explainMs(page, 'occlusion', i) : await classify(`p${i}.png`));
const { profile } = await send(worker, 'Profiler.stop');
times.sort((a, b) => a - b);
console.log(`${sweep ? 'sweep' : 'forward'} median of ${n}: ${times[times.length >> 1].toFixed(2)} ms (min ${times[0].toFixed(2)})`);
const out = join(mkdtempSync(join(tmpdir(), 'convlens-prof-')), 'worker.cpuprofile');
writeFileSync(out, JSON.stringify(profile));
console.log(execFileSync('node', ['scripts/cpuprofile-top.mjs', out, top], { encoding: 'utf8' }));
console.log(`profile: ${out}`);
await context.close();
await server.close();
