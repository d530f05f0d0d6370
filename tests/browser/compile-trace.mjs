// What V8 compiles while sweeps run: opens a convlens page (CPU backend, chelsea.png, Chromium as
// bench.mjs starts it) with V8's `--trace-wasm-compilation-times`, runs N occlusion sweeps (each
// another of the top-5 classes), and prints, for the page's load and for each sweep, how many wasm
// functions each tier compiled and the milliseconds that took (V8's background threads, on the
// same cores as the workers), then every optimizing-tier compile over 5 ms after the load with its
// function's index and body size. A compile is counted in the sweep during which Chromium's output
// reached this script. With a worker wasm that keeps its names (`KEEP_NAMES=1
// scripts/build-relaxed.sh DIST` on a copy of a release dist), the functions are named too.
// Usage: node tests/browser/compile-trace.mjs DIST [query] [N=5]
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

// Playwright passes Chromium's output on only as its `pw:browser` debug log, on stderr: turned on
// before Playwright loads, and V8's compile lines taken out of it here.
process.env.DEBUG = 'pw:browser';
const { launch } = await import('./browser.mjs');
const { serve } = await import('./serve.mjs');
const { explainMs, openSamplePage } = await import('./model-page.mjs');

const [dist = 'dist', query = 'method=occlusion&window=32&stride=16&incremental=true', n = '5'] = process.argv.slice(2);
const phases = [{ name: 'load' }];
const compiles = [];
const write = process.stderr.write.bind(process.stderr);
process.stderr.write = (chunk, ...rest) => {
  const text = String(chunk);
  if (!text.includes('pw:browser')) return write(chunk, ...rest);
  for (const m of text.matchAll(/Compiled function \S+#(\d+) using (\w+), took (\d+) μs.*bodysize (\d+)/g)) {
    compiles.push({ phase: phases.length - 1, index: Number(m[1]), tier: m[2], ms: Number(m[3]) / 1000, body: Number(m[4]) });
  }
  return true;
};
const server = await serve(dist);
const context = await launch({ flags: ['--js-flags=--trace-wasm-compilation-times'], serviceWorkers: 'block' });
const page = await openSamplePage(context, `${server.origin}/?backend=cpu&${query}`);
await page.waitForTimeout(2000);
const times = [];
for (let i = 0; i < Number(n); i++) {
  phases.push({ name: `sweep ${i + 1}` });
  times.push(Math.round(await explainMs(page, 'occlusion', i)));
}
await page.waitForTimeout(500);
await context.close();
await server.close();

// Function names from the worker's wasm, where its name section was kept.
const names = new Map();
for (const file of ['worker-relaxed_bg.wasm', 'worker_bg.wasm']) {
  try {
    for (const [i, name] of functionNames(readFileSync(join(dist, file)))) if (!names.has(i)) names.set(i, name);
  } catch { /* not in this dist */ }
}

console.log(`sweeps: ${times.join(' / ')} ms`);
phases.forEach((p, k) => {
  const here = compiles.filter((c) => c.phase === k);
  const by = (tier) => here.filter((c) => c.tier === tier);
  const sum = (list) => list.reduce((s, c) => s + c.ms, 0).toFixed(0);
  console.log(`${p.name.padEnd(8)} Liftoff ${by('Liftoff').length} functions ${sum(by('Liftoff'))} ms, TurboFan ${by('TurboFan').length} functions ${sum(by('TurboFan'))} ms`);
});
for (const c of compiles.filter((c) => c.phase > 0 && c.tier === 'TurboFan' && c.ms > 5)) {
  console.log(`  ${phases[c.phase].name}: #${c.index} ${c.ms.toFixed(0)} ms, body ${c.body} bytes ${names.get(c.index) ?? ''}`.trimEnd());
}

/** The function names of a wasm module's name section, by function index. */
function functionNames(bytes) {
  const out = new Map();
  let p = 8;
  const leb = () => {
    let v = 0, shift = 0, b;
    do { b = bytes[p++]; v += (b & 0x7f) * 2 ** shift; shift += 7; } while (b & 0x80);
    return v;
  };
  while (p < bytes.length) {
    const id = bytes[p++];
    const end = leb() + p;
    if (id === 0) {
      const len = leb();
      const section = bytes.subarray(p, p + len).toString();
      p += len;
      while (section === 'name' && p < end) {
        const sub = bytes[p++];
        const subEnd = leb() + p;
        if (sub === 1) {
          for (let count = leb(); count > 0; count--) {
            const index = leb();
            const l = leb();
            out.set(index, bytes.subarray(p, p + l).toString().replace(/::h[0-9a-f]{16}$/, ''));
            p += l;
          }
        }
        p = subEnd;
      }
    }
    p = end;
  }
  return out;
}
