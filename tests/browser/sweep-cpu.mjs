// Where the machine's time goes during an occlusion sweep in the page (Linux only): for each of
// `runs` sweeps (SqueezeNet 1.1 int8, chelsea.png, 32/16, exact incremental, shared with helper
// workers on a CPU backend), the worker's own time of the map, the page's main-thread time
// (task, script, layout; Chromium's Performance metrics over CDP) and the CPU time of every
// Chromium thread during the sweep, summed by process type and thread name (from /proc), so
// that the workers' share and what the browser itself takes beside them show.
// Usage: node tests/browser/sweep-cpu.mjs dist [runs=4] [query=extra page parameters]
import { readdirSync, readFileSync } from 'node:fs';
import { serve } from './serve.mjs';
import { launch } from './browser.mjs';
import { explainMs, openSamplePage } from './model-page.mjs';

const dist = process.argv[2] ?? 'dist';
const runs = Number(process.argv[3] ?? 4);
const extra = process.argv[4] ?? '';

/** CPU time (ms) of every thread of every Chromium process, by "process type / thread name" key per thread id. */
function threads() {
  const out = new Map();
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    let cmd;
    try {
      cmd = readFileSync(`/proc/${pid}/cmdline`, 'latin1').split(/[\0 ]/);
    } catch {
      continue;
    }
    if (!cmd[0] || !cmd[0].includes('chrom')) continue;
    const type = (cmd.find((a) => a.startsWith('--type=')) ?? '--type=browser').slice(7);
    let tids = [];
    try {
      tids = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue;
    }
    for (const tid of tids) {
      let stat;
      try {
        stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'latin1');
      } catch {
        continue;
      }
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // utime and stime, in clock ticks (100 per second).
      out.set(`${pid}/${tid}`, { key: `${type} ${name}`, ms: (Number(fields[11]) + Number(fields[12])) * 10 });
    }
  }
  return out;
}

const server = await serve(dist);
const context = await launch({ serviceWorkers: 'block' });
const page = await openSamplePage(context, `${server.origin}/?backend=cpu&method=occlusion&window=32&stride=16&incremental=true${extra}`);
const cdp = await context.newCDPSession(page);
await cdp.send('Performance.enable');
const metrics = async () => Object.fromEntries((await cdp.send('Performance.getMetrics')).metrics.map((m) => [m.name, m.value]));
for (let i = 0; i < runs; i++) {
  const before = threads();
  const a = await metrics();
  const t0 = Date.now();
  const ms = await explainMs(page, 'occlusion', i);
  const wall = Date.now() - t0;
  const b = await metrics();
  const sums = new Map();
  for (const [id, { key, ms: t }] of threads()) {
    sums.set(key, (sums.get(key) ?? 0) + t - (before.get(id)?.ms ?? 0));
  }
  const main = (k) => ((b[k] - a[k]) * 1000).toFixed(0);
  const workers = await page.getAttribute('[data-testid="explanation"]', 'data-workers');
  console.log(`sweep ${i}: ${ms.toFixed(0)} ms in the worker (${workers} workers), ${wall} ms wall; page main thread: task ${main('TaskDuration')} ms, script ${main('ScriptDuration')} ms, layout ${main('LayoutDuration')} ms, ${b.LayoutCount - a.LayoutCount} layouts`);
  const top = [...sums].filter(([, t]) => t > 0).sort((x, y) => y[1] - x[1]).slice(0, 8);
  console.log(`  CPU time by thread: ${top.map(([k, t]) => `${k} ${t} ms`).join(', ')}`);
}
await context.close();
await server.close();
process.exit(0);
