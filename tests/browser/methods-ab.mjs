// Attribution methods of several builds side by side in one browser: a page per build on the
// same photo, each method's runs alternating between the pages (which goes first alternating
// too), the median per page. Pages on a
// noisy machine see the same slow spells this way, which separate runs of bench.mjs do not.
// Usage: METHODS=saliency,guided-backprop,smoothgrad \
//   node tests/browser/methods-ab.mjs RUNS LABEL=DIST[?QUERY] LABEL=DIST[?QUERY] ...
// Each page opens `?backend=cpu&samples=8&steps=16&parallel=false&QUERY` (one worker, the light
// settings of bench.mjs), shows chelsea.png, and runs each method once before timing it; every
// run explains another class.
import { serve } from './serve.mjs';
import { launch } from './browser.mjs';
import { openSamplePage, setInput } from './model-page.mjs';

/** Runs `method` for class `k` (any of the 1,000: maps are kept per class) and answers its time. */
async function explainMs(page, method, k) {
  const before = await page.$$eval('[data-testid="explanation"]', (f) => (f[0] ? f[0].dataset.id : ''));
  await page.selectOption('[data-testid="explain-method"]', method);
  await setInput(page, 'class-search', k);
  await page.click('[data-testid="explain-run"]');
  const h = await page.waitForFunction(([m, id]) => {
    const first = document.querySelector('[data-testid="explanation"]');
    return first && first.dataset.id !== id && first.dataset.method === m && Number(first.dataset.ms);
  }, [method, before], { timeout: 600_000, polling: 20 });
  if (await page.getAttribute('[data-testid="explanation"]', 'data-cached') === 'true') {
    throw new Error(`${method}: a redrawn map is not a timing`);
  }
  return h.jsonValue();
}

const [runs = '9', ...specs] = process.argv.slice(2);
const methods = (process.env.METHODS ?? 'saliency,guided-backprop,smoothgrad,integrated-gradients,grad-cam').split(',');
const context = await launch({ serviceWorkers: 'block' });
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[s.length >> 1]; };
const servers = {};
for (const spec of specs) {
  const dist = spec.split('=')[1].split('?')[0];
  servers[dist] ??= await serve(dist);
}
const pages = [];
for (const spec of specs) {
  const [label, d] = spec.split('=');
  const [dist, q = ''] = d.split('?');
  const url = `${servers[dist].origin}/?backend=cpu&samples=8&steps=16&parallel=false${q ? '&' + q : ''}`;
  pages.push({ label, page: await openSamplePage(context, url) });
}
for (const method of methods) {
  for (const p of pages) await explainMs(p.page, method, 999);
  const times = pages.map(() => []);
  // The pages take turns first: a page's run right after another page's is slower (the other
  // page's worker and renderer are still busy with the map it just showed).
  for (let i = 0; i < Number(runs); i++) {
    const order = [...pages.keys()];
    if (i % 2) order.reverse();
    for (const j of order) {
      await pages[j].page.bringToFront();
      times[j].push(await explainMs(pages[j].page, method, 100 + i));
    }
  }
  console.log(method, pages.map((p, j) => `${p.label} ${median(times[j]).toFixed(1)} ms`).join(' | '),
    '| runs', pages.map((p, j) => `${p.label}: ${times[j].map((t) => t.toFixed(0)).join(' ')}`).join('; '));
}
await context.close();
for (const s of Object.values(servers)) await s.close();
