// What each browser thread does during one sweep: opens a convlens page (CPU backend,
// chelsea.png) with the given query, runs N occlusion sweeps (the helpers start, V8 compiles),
// then records a Chrome trace of one more and prints how many DOM changes it made and, per
// thread, its busy time (the top-level tasks) and the trace events that took the most of it,
// and how long the page took over each message from the worker; with TASKS=1 also the renderer
// main thread's tasks over 1 ms, in order. With GPU=1, Chromium runs as bench.mjs starts it
// (WebGPU on SwiftShader, which then draws the page's frames on the CPU), the trace also records
// the GPU process, and each frame's `SwapBuffers` during the sweep is printed (when it began after
// the worker's first task, and how long it took). The trace is written to TRACE (default
// /tmp/sweep-trace.json).
// Usage: node tests/browser/trace-sweep.mjs DIST [query] [N=3]
import { writeFileSync } from 'node:fs';
import { launch } from './browser.mjs';
import { serve } from './serve.mjs';
import { explainMs, openSamplePage } from './model-page.mjs';

const [dist = 'dist', query = 'method=occlusion&window=32&stride=16&incremental=true', n = '3'] = process.argv.slice(2);
const server = await serve(dist);
const gpu = process.env.GPU === '1';
const context = await launch(gpu ? { serviceWorkers: 'block' } : { webgpu: false });
const page = await openSamplePage(context, `${server.origin}/?backend=cpu&${query}`);
for (let i = 0; i < Number(n); i++) await explainMs(page, 'occlusion', i);
// The DOM changes the sweep makes in the page, counted alongside.
await page.evaluate(() => {
  window.__changes = 0;
  new MutationObserver((records) => { window.__changes += records.length; })
    .observe(document.body, { subtree: true, childList: true, attributes: true, characterData: true });
});
const cdp = await context.newCDPSession(page);
const events = [];
cdp.on('Tracing.dataCollected', (e) => events.push(...e.value));
const complete = new Promise((resolve) => cdp.once('Tracing.tracingComplete', resolve));
const categories = [...(gpu ? ['gpu', 'viz', 'cc'] : []), 'toplevel', 'v8', 'v8.wasm', 'blink', 'devtools.timeline', 'disabled-by-default-v8.gc', '__metadata'];
await cdp.send('Tracing.start', { traceConfig: { includedCategories: categories }, transferMode: 'ReportEvents' });
const ms = await explainMs(page, 'occlusion', Number(n));
await cdp.send('Tracing.end');
await complete;
const changes = await page.evaluate(() => window.__changes);
await context.close();
await server.close();
writeFileSync(process.env.TRACE ?? '/tmp/sweep-trace.json', JSON.stringify(events));

const names = new Map();
for (const e of events) {
  if (e.ph === 'M' && e.name === 'thread_name') names.set(`${e.pid}/${e.tid}`, e.args.name);
}
const byThread = new Map();
for (const e of events) {
  if (e.ph !== 'X' || e.dur === undefined) continue;
  const key = `${e.pid}/${e.tid}`;
  if (!byThread.has(key)) byThread.set(key, []);
  byThread.get(key).push(e);
}
/** The events not inside an earlier one. */
function topLevel(list) {
  const top = [];
  let end = -1;
  for (const e of list) {
    if (e.ts >= end) {
      top.push(e);
      end = e.ts + e.dur;
    }
  }
  return top;
}
const starts = events.filter((e) => e.ts > 0).map((e) => e.ts);
const t0 = Math.min(...starts);
console.log(`${changes} DOM changes (mutation records) during the sweep`);
console.log(`sweep ${ms} ms (the worker's count); trace ${((Math.max(...starts) - t0) / 1000).toFixed(0)} ms`);
const rows = [...byThread].map(([key, list]) => {
  list.sort((a, b) => a.ts - b.ts || b.dur - a.dur);
  const busy = topLevel(list).reduce((s, e) => s + e.dur, 0) / 1000;
  return { key, name: names.get(key) ?? key, list, busy };
});
rows.sort((a, b) => b.busy - a.busy);
const generic = /^(RunTask|ThreadControllerImpl::RunTask|ThreadPool_RunTask|v8\.callFunction|FunctionCall)$/;
for (const { name, list, busy } of rows.filter((r) => r.busy >= 5)) {
  const spent = new Map();
  for (const e of list) if (!generic.test(e.name)) spent.set(e.name, (spent.get(e.name) ?? 0) + e.dur / 1000);
  const top = [...spent].sort((a, b) => b[1] - a[1]).slice(0, 5).map(([k, v]) => `${k} ${v.toFixed(0)}`);
  console.log(`${name.padEnd(28)} ${busy.toFixed(0).padStart(5)} ms  ${top.join(', ')}`);
}
// The page's handling of each message from the worker (progress, the preview, the map).
const mainThread = rows.filter((r) => r.name === 'CrRendererMain').sort((a, b) => b.busy - a.busy)[0];
const messages = (mainThread?.list ?? []).filter((e) => e.name === 'HandlePostMessage').map((e) => e.dur / 1000);
console.log(`the page's main thread: ${messages.length} messages handled in ${messages.map((d) => d.toFixed(1)).join(' / ')} ms`);
if (process.env.TASKS) {
  const main = rows.filter((r) => r.name === 'CrRendererMain').sort((a, b) => b.busy - a.busy)[0];
  for (const task of topLevel(main?.list ?? []).filter((e) => e.dur >= 1000)) {
    const inside = main.list.filter((e) => e !== task && e.ts >= task.ts && e.ts < task.ts + task.dur && !generic.test(e.name));
    const label = inside.sort((a, b) => b.dur - a.dur).slice(0, 3).map((e) => `${e.name} ${(e.dur / 1000).toFixed(1)}`);
    console.log(`  at ${((task.ts - t0) / 1000).toFixed(0).padStart(4)} ms: ${(task.dur / 1000).toFixed(1)} ms  ${label.join(', ')}`);
  }
}
if (gpu) {
  // The workers' first task of the sweep (over 1 ms), and the GPU process's frames after it.
  const workers = rows.filter((r) => r.name.startsWith('DedicatedWorker')).flatMap((r) => r.list);
  const start = Math.min(...workers.filter((e) => e.dur > 1000).map((e) => e.ts));
  const swaps = events.filter((e) => e.ph === 'X' && e.name === 'SkiaOutputSurfaceImplOnGpu::SwapBuffers' && e.ts >= start);
  swaps.sort((a, b) => a.ts - b.ts);
  console.log(`the GPU process's frames from the sweep's start: ${swaps.map((e) => `at ${((e.ts - start) / 1000).toFixed(0)} ms ${(e.dur / 1000).toFixed(1)} ms`).join(', ')}`);
}
