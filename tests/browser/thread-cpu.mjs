// Where the CPU goes while the page sweeps: opens a convlens page (CPU backend, chelsea.png) with
// the given query, runs one occlusion sweep to start the helpers, then N more (another class
// each, coffee.png every fifth), and prints each Chromium thread's CPU time during them (from
// each click to its map) as a share of that time (from /proc/PID/task/*/stat, so Linux only):
// the workers, the renderer's main thread, the compositor, V8's background threads, the GPU
// process.
// Usage: node tests/browser/thread-cpu.mjs DIST [query] [N=4]
// (POLL=ms: the harness checks the page every ms milliseconds, default 50. GPU=1: Chromium as
// bench.mjs starts it, with WebGPU on SwiftShader, which then also draws the page's frames on the
// CPU. CSS='…': a style sheet added to the page first, to try a change of layout without a build.)
import { readFileSync, readdirSync } from 'node:fs';
import { launch } from './browser.mjs';
import { serve } from './serve.mjs';
import { explainMs, openSamplePage } from './model-page.mjs';

const [dist = 'dist', query = 'method=occlusion&window=32&stride=16&incremental=true', n = '4'] = process.argv.slice(2);
const server = await serve(dist);
const context = await launch({ webgpu: process.env.GPU === '1', serviceWorkers: 'block', bypassCSP: true });
const page = await openSamplePage(context, `${server.origin}/?backend=cpu&${query}`);
if (process.env.CSS) await page.addStyleTag({ content: process.env.CSS });
// The harness's own polling takes CPU too: every 50 ms by default.
const poll = process.env.POLL ? Number(process.env.POLL) : 50;
const sweep = (k) => explainMs(page, 'occlusion', k, poll);

/** CPU ticks (1/100 s) of every Chromium thread, by pid/tid. */
function ticks() {
  const out = new Map();
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (!cmd.includes('chromium')) continue;
      const type = (cmd.match(/--type=([a-z-]+)/) ?? [null, 'browser'])[1];
      for (const tid of readdirSync(`/proc/${pid}/task`)) {
        const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
        out.set(`${pid}/${tid}`, { type, name, ticks: Number(fields[11]) + Number(fields[12]) });
      }
    } catch { /* the process or thread ended meanwhile */ }
  }
  return out;
}

console.log(`first sweep (starts the helpers): ${(await sweep(0)).toFixed(0)} ms`);
const samples = ['coffee.png', 'chelsea.png'];
// Each thread's ticks are summed over the sweeps alone (not the clicks and waits between them).
const spent = new Map();
let wall = 0;
const times = [];
for (let i = 1; i <= Number(n); i++) {
  if (i % 5 === 0) {
    await page.click(`[data-testid="sample"][data-sample="${samples[(i / 5) % 2]}"]`);
    await page.waitForSelector('[data-testid="status"][data-state="ready"]');
  }
  const before = ticks();
  const t0 = Date.now();
  times.push(Math.round(await sweep(i)));
  wall += (Date.now() - t0) / 1000;
  for (const [key, t] of ticks()) {
    const d = t.ticks - (before.get(key)?.ticks ?? 0);
    spent.set(key, { ...t, ticks: (spent.get(key)?.ticks ?? 0) + d });
  }
}
console.log(`sweeps: ${times.join(', ')} ms; wall ${wall.toFixed(2)} s (from each click to its map)`);
const rows = [];
for (const [key, t] of spent) {
  const share = t.ticks / 100 / wall;
  if (share > 0.005) rows.push([t.type, t.name, key, share]);
}
rows.sort((a, b) => b[3] - a[3]);
for (const [type, name, key, share] of rows) console.log(`${type.padEnd(12)} ${name.padEnd(18)} ${key.padEnd(14)} ${(share * 100).toFixed(1)}%`);
console.log(`all: ${rows.reduce((s, r) => s + r[3], 0).toFixed(2)} cores`);
await context.close();
await server.close();
