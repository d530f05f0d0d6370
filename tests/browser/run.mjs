// Headless-browser tests of the built app (dist/): backend choice, classification on WebGPU and
// CPU, file input, a corrupt file, and no request to any other origin.
// Usage: node tests/browser/run.mjs dist
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { serve } from './serve.mjs';
import { launch } from './browser.mjs';

const dist = process.argv[2] ?? 'dist';
const READY_MS = 240_000;
const server = await serve(dist);
const context = await launch();
const foreign = [];
const consoleErrors = [];
context.on('request', (r) => {
  const url = r.url();
  if (!url.startsWith(server.origin) && !url.startsWith('blob:') && !url.startsWith('data:')) foreign.push(url);
});

async function openApp(query) {
  const page = await context.newPage();
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(`${query}: ${m.text()}`); });
  page.on('pageerror', (e) => consoleErrors.push(`${query}: ${e.message}`));
  const t0 = Date.now();
  await page.goto(`${server.origin}/${query}`);
  await page.waitForSelector('[data-testid="status"][data-state="ready"]', { timeout: READY_MS });
  return { page, readyMs: Date.now() - t0 };
}

async function topPredictions(page, source, previous) {
  // Wait until the caption shows the new source and the status is ready again.
  await page.waitForFunction(([src]) => {
    const cap = document.querySelector('figure.crop figcaption');
    const st = document.querySelector('[data-testid="status"]');
    return cap && cap.textContent === src && st.dataset.state === 'ready';
  }, [source, previous], { timeout: READY_MS });
  return page.$$eval('[data-testid="prediction"]', (rows) => rows.map((r) => ({
    index: Number(r.dataset.classIndex), label: r.dataset.label, prob: Number(r.dataset.prob),
  })));
}

async function classifySample(page, file) {
  await page.click(`[data-testid="sample"][data-sample="${file}"]`);
  return topPredictions(page, file);
}

let failures = 0;
async function test(name, body) {
  const t0 = Date.now();
  try {
    await body();
    console.log(`ok   ${name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  } catch (e) {
    failures++;
    console.log(`FAIL ${name}\n     ${e.stack ?? e}`);
  }
}

await test('default backend is WebGPU and coffee.png is espresso', async () => {
  const { page, readyMs } = await openApp('');
  assert.equal(await page.textContent('[data-testid="backend"]'), 'webgpu');
  console.log(`     ready after ${readyMs} ms`);
  const top = await classifySample(page, 'coffee.png');
  assert.equal(top.length, 5);
  assert.equal(top[0].index, 967);
  assert.equal(top[0].label, 'espresso');
  assert.ok(top[0].prob > 0.5 && top[0].prob <= 1, `prob ${top[0].prob}`);
  const ms = Number(await page.textContent('[data-testid="forward-ms"]'));
  assert.ok(ms > 0, `forward-ms ${ms}`);
  console.log(`     webgpu forward ${ms} ms`);
  // One gradient map on WebGPU: autodiff through the wgpu backend.
  await page.click('[data-testid="explain-saliency"]');
  const img = await page.waitForSelector('[data-testid="explanation"][data-method="saliency"]', { timeout: READY_MS });
  assert.equal(await img.getAttribute('data-class-index'), '967');
  await page.close();
});

await test('?backend=cpu classifies, accepts files and survives a corrupt one', async () => {
  const { page } = await openApp('?backend=cpu');
  assert.equal(await page.textContent('[data-testid="backend"]'), 'cpu');
  let top = await classifySample(page, 'coffee.png');
  assert.equal(top[0].label, 'espresso');

  await page.setInputFiles('[data-testid="image-input"]', {
    name: 'cat.png', mimeType: 'image/png', buffer: readFileSync('static/samples/chelsea.png'),
  });
  top = await topPredictions(page, 'cat.png');
  assert.equal(top[0].index, 285, `chelsea top-1 ${JSON.stringify(top[0])}`); // Egyptian cat

  // Attribution maps of the shown crop, for the top-1 class.
  for (const method of ['saliency', 'grad-cam', 'occlusion']) {
    await page.click(`[data-testid="explain-${method}"]`);
    const img = await page.waitForSelector(`[data-testid="explanation"][data-method="${method}"]`, { timeout: 120_000 });
    assert.equal(await img.getAttribute('data-class-index'), '285', method);
    assert.ok(await img.evaluate((el) => el.complete && el.naturalWidth === 227), `${method} map is a 227-pixel image`);
    await page.waitForSelector('[data-testid="status"][data-state="ready"]');
  }

  await page.setInputFiles('[data-testid="image-input"]', {
    name: 'broken.png', mimeType: 'image/png', buffer: Buffer.from('this is not a png at all'),
  });
  await page.waitForSelector('[data-testid="error"]', { timeout: 60_000 });
  assert.match(await page.textContent('[data-testid="error"]'), /cannot read this file as an image/);
  await page.waitForSelector('[data-testid="status"][data-state="ready"]');
  const after = await page.$$eval('[data-testid="prediction"]', (rows) => rows.map((r) => Number(r.dataset.classIndex)));
  assert.equal(after[0], 285, 'the previous result stays after a corrupt file');
  assert.equal(await page.textContent('figure.crop figcaption'), 'cat.png');
  await page.close();
});

await test('without a GPU the page falls back to the CPU and says why', async () => {
  const noGpu = await launch({ webgpu: false });
  try {
    const page = await noGpu.newPage();
    await page.goto(`${server.origin}/`);
    await page.waitForSelector('[data-testid="status"][data-state="ready"]', { timeout: READY_MS });
    assert.equal(await page.textContent('[data-testid="backend"]'), 'cpu');
    assert.match(await page.textContent('[data-testid="backend-note"]'), /running on the CPU/);
  } finally {
    await noGpu.close();
  }
});

await test('no request left the page origin', async () => {
  assert.deepEqual(foreign, []);
  assert.ok(server.requested.some((p) => p.endsWith('.onnx')), 'the model was fetched from the origin');
});

await test('no console errors (CSP violations included)', async () => {
  assert.deepEqual(consoleErrors, []);
});

await context.close();
await server.close();
if (failures) {
  console.log(`${failures} browser test(s) failed`);
  process.exit(1);
}
console.log('browser tests passed');
