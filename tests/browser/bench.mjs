// Browser benchmark: time from page load to first prediction and the forward latency
// (median of N classifications of coffee.png) per backend, in headless Chromium.
// Usage: node tests/browser/bench.mjs dist [runs=20]
import { serve } from './serve.mjs';
import { launch } from './browser.mjs';

const dist = process.argv[2] ?? 'dist';
const runs = Number(process.argv[3] ?? 20);
const server = await serve(dist);
const context = await launch();
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };

for (const backend of (process.argv[4] ?? 'cpu,webgpu').split(',')) {
  const page = await context.newPage();
  const t0 = Date.now();
  await page.goto(`${server.origin}/?backend=${backend}`);
  await page.waitForSelector('[data-testid="status"][data-state="ready"]', { timeout: 600_000 });
  const readyMs = Date.now() - t0;
  const times = [];
  for (let i = 0; i <= runs; i++) {
    const name = `run${i}.png`;
    await page.setInputFiles('[data-testid="image-input"]', { name, mimeType: 'image/png', buffer: await (await import('node:fs/promises')).readFile('static/samples/coffee.png') });
    await page.waitForFunction((n) => document.querySelector('figure.crop figcaption')?.textContent === n
      && document.querySelector('[data-testid="status"]').dataset.state === 'ready', name, { timeout: 600_000 });
    if (i === 0) console.log(`${backend}: page load → first prediction ${Date.now() - t0} ms (ready after ${readyMs} ms)`);
    else times.push(Number(await page.textContent('[data-testid="forward-ms"]')));
  }
  console.log(`${backend}: forward latency median of ${runs}: ${median(times).toFixed(1)} ms (min ${Math.min(...times).toFixed(1)}, max ${Math.max(...times).toFixed(1)})`);
  await page.close();
}
await context.close();
await server.close();
