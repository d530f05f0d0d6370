// The threaded CPU worker against the single-thread one, in the same browser: pages of dist/
// served plainly and with cross-origin isolation, alternating. Part "forward": N
// classifications of coffee.png per model file ("-" is the bundled SqueezeNet), medians. Part
// "sweep": occlusion 32/16 on chelsea.png (SqueezeNet 1.1 int8), the worker's own time per map:
// a plain page with helpers, a plain page on one worker, an isolated page.
// Part "compare": the same sweep on two builds (DIST and OTHER), pages alternating.
// Usage: node tests/browser/bench-threads.mjs dist forward [runs=10] FILE... | sweep [rounds=2]
//   | compare ROUNDS OTHER_DIST [QUERY]   (FIRST=1: the first map of each page, 3 s after the photo)
import { serve } from './serve.mjs';
import { launch } from './browser.mjs';
import { openModelPage } from './model-page.mjs';

const [dist = 'dist', part = 'forward', count = '10', ...files] = process.argv.slice(2);
const plain = await serve(dist);
const isolated = await serve(dist, { isolated: true });
const context = await launch({ serviceWorkers: 'block' });
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[s.length >> 1]; };
const ready = (page) => page.waitForSelector('[data-testid="status"][data-state="ready"]', { timeout: 600_000 });

/**
 * `k` occlusion maps (32/16, top-5 classes in turn) in a fresh page, the first `pause` ms after
 * the photo is shown (as a user reading the predictions first): [ms, workers] each.
 */
async function sweeps(origin, query, k, pause = 0) {
  const page = await context.newPage();
  await page.goto(`${origin}/?backend=cpu&method=occlusion&window=32&stride=16${query}`);
  await ready(page);
  await page.click('[data-testid="sample"][data-sample="chelsea.png"]');
  await page.waitForFunction(() => document.querySelector('[data-testid="crop-source"]')?.textContent === 'chelsea.png'
    && document.querySelector('[data-testid="status"]').dataset.state === 'ready', null, { timeout: 600_000 });
  await page.waitForTimeout(pause);
  const out = [];
  for (let i = 0; i < k; i++) {
    const before = await page.$$eval('[data-testid="explanation"]', (f) => (f[0] ? f[0].dataset.id : ''));
    await page.selectOption('[data-testid="explain-class"]', { index: i % 5 });
    await page.click('[data-testid="explain-run"]');
    const h = await page.waitForFunction((id) => {
      const f = document.querySelector('[data-testid="explanation"]');
      return f && f.dataset.id !== id && Number(f.dataset.ms) && [Number(f.dataset.ms), f.dataset.workers];
    }, before, { timeout: 600_000 });
    out.push(await h.jsonValue());
  }
  await page.close();
  return out;
}

if (part === 'forward') {
  const runs = Number(count);
  for (const file of files.length ? files : ['-']) {
    const a = await openModelPage(context, plain.origin, 'cpu', file === '-' ? null : file);
    const b = await openModelPage(context, isolated.origin, 'cpu', file === '-' ? null : file);
    const one = [], threaded = [];
    for (let i = 0; i < runs; i++) {
      one.push(await a.classify(`a${i}.png`));
      threaded.push(await b.classify(`b${i}.png`));
    }
    console.log(`${file}: one thread ${median(one).toFixed(1)} ms, threaded (${b.note}) ${median(threaded).toFixed(1)} ms,`
      + ` ratio ${(median(threaded) / median(one)).toFixed(2)}`);
    await a.page.close();
    await b.page.close();
  }
} else if (part === 'compare') {
  // Two builds' sweeps, pages alternating: ROUNDS pages of each with 4 maps, the first map of
  // each page left out (it waits for helpers still loading and runs code the browser has not
  // optimised yet); QUERY adds to the URL (`&parallel=false`).
  // FIRST=1: one map per page, 3 s after the photo is shown, so the first map only.
  const [other, query = ''] = files;
  const first = Boolean(process.env.FIRST);
  const second = await serve(other);
  const times = [[], []];
  for (let r = 0; r < Number(count); r++) {
    for (const [i, origin] of [plain.origin, second.origin].entries()) {
      const maps = first ? await sweeps(origin, query, 1, 3000) : await sweeps(origin, query, 4);
      times[i].push(...(first ? maps : maps.slice(1)).map((m) => m[0]));
      console.log(i ? other : dist, JSON.stringify(maps));
    }
  }
  console.log(`medians of ${times[0].length}: ${dist} ${median(times[0]).toFixed(0)} ms, ${other} ${median(times[1]).toFixed(0)} ms`);
  await second.close();
} else {
  for (let r = 0; r < Number(count); r++) {
    console.log('plain page, helpers:', JSON.stringify(await sweeps(plain.origin, '', 3)));
    console.log('plain page, one worker:', JSON.stringify(await sweeps(plain.origin, '&parallel=false', 2)));
    console.log('isolated page:', JSON.stringify(await sweeps(isolated.origin, '', 3)));
  }
}
await context.close();
await plain.close();
await isolated.close();
