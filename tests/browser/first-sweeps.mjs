// The first sweeps of a fresh page, for builds side by side: for each round and each DIST, a new
// browser profile opens a convlens page (CPU backend, chelsea.png, occlusion chosen, so the
// helpers start and warm up), waits IDLE ms, then runs four sweeps (another class each) and
// prints the worker's time for each.
// Usage: node tests/browser/first-sweeps.mjs ROUNDS IDLE DIST [DIST…]
// (Q=query: the page's settings, default an exact 32/16 occlusion sweep. N: sweeps per page, at
// most 5, default 4. GPU=1: Chromium as bench.mjs starts it, WebGPU on SwiftShader, which then
// draws the page's frames on the CPU too. FLAGS='…': more Chromium switches, e.g.
// `--js-flags=--no-wasm-dynamic-tiering`. PAUSE=ms: a wait after each sweep, so that the page
// has drawn its map before the next begins.)
import { launch } from './browser.mjs';
import { serve } from './serve.mjs';
import { explainMs, openSamplePage } from './model-page.mjs';

const [rounds = '3', idle = '4000', ...dists] = process.argv.slice(2);
const query = process.env.Q ?? 'method=occlusion&window=32&stride=16&incremental=true';
for (let r = 0; r < Number(rounds); r++) {
  for (const dist of dists) {
    const server = await serve(dist);
    const flags = (process.env.FLAGS ?? '').split(' ').filter(Boolean);
    const context = await launch(process.env.GPU === '1' ? { serviceWorkers: 'block', flags } : { webgpu: false, flags });
    const page = await openSamplePage(context, `${server.origin}/?backend=cpu&${query}`);
    await page.waitForTimeout(Number(idle));
    const times = [];
    for (let i = 0; i < Number(process.env.N ?? 4); i++) {
      times.push(Math.round(await explainMs(page, 'occlusion', i)));
      if (process.env.PAUSE) await page.waitForTimeout(Number(process.env.PAUSE));
    }
    console.log(`${dist.padEnd(20)} ${times.join(' / ')} ms`);
    await context.close();
    await server.close();
  }
}
