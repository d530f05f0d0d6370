// Headless-browser tests of the built app (dist/): backend choice, classification on WebGPU and
// CPU, file input, a corrupt file, every attribution method, the live occluder, cancelling a
// sweep, settings in the URL, the classroom features (lecture path by keyboard, projector mode,
// phone size, camera, shared links, export, accessibility audit, offline use), and no request to
// any other origin.
// Usage: node tests/browser/run.mjs dist
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
    const cap = document.querySelector('[data-testid="crop-source"]');
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

/** Runs the chosen method with the panel's current settings; resolves to the new map's <figure>. */
async function explain(page, method, timeout = 180_000) {
  // The gallery keeps the newest maps first (and only a few): wait for a new first figure.
  const before = await page.$$eval('[data-testid="explanation"]', (f) => (f[0] ? f[0].dataset.id : ''));
  await page.selectOption('[data-testid="explain-method"]', method);
  await page.click('[data-testid="explain-run"]');
  await page.waitForFunction(([m, id]) => {
    const first = document.querySelector('[data-testid="explanation"]');
    return first && first.dataset.id !== id && first.dataset.method === m && first.querySelector('img').complete;
  }, [method, before], { timeout });
  return page.$('[data-testid="explanation"]');
}

/** Standard deviation of a map's pixels (a blank or flat picture is ~0). */
async function pictureSpread(figure) {
  return figure.$eval('img', (img) => {
    const c = document.createElement('canvas');
    c.width = img.naturalWidth; c.height = img.naturalHeight;
    const g = c.getContext('2d');
    g.drawImage(img, 0, 0);
    const d = g.getImageData(0, 0, c.width, c.height).data;
    let sum = 0, sq = 0, n = 0;
    for (let i = 0; i < d.length; i += 4) { const v = (d[i] + d[i + 1] + d[i + 2]) / 3; sum += v; sq += v * v; n++; }
    return Math.sqrt(sq / n - (sum / n) ** 2);
  });
}

let failures = 0;
/**
 * Each worker of `page` ran its wasm module's constructors exactly once, however many calls its
 * JavaScript made into the module (src/bin/worker.rs: linked "command style", every export
 * would run them all again).
 */
async function constructorsRanOnce(page) {
  // (Not the threaded worker's pool threads: they block in their loop and never run a script.)
  const workers = page.workers().filter((w) => !w.url().includes('convlens-thread.js'));
  const runs = await Promise.all(workers.map((w) => w.evaluate(() => self.convlensConstructorRuns)));
  const counted = runs.filter((r) => r !== undefined);
  assert.ok(counted.length > 0 && counted.every((r) => r === 1), `constructor runs per worker: ${runs}`);
}

async function test(name, body) {
  // ONLY=words runs just the tests whose name contains them (while developing).
  if (process.env.ONLY && !name.includes(process.env.ONLY)) return;
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
  // The lecture's side-by-side on WebGPU: autodiff, and the custom ReLU backward, on wgpu.
  await page.click('[data-testid="explain-compare"]');
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="explanation"]').length === 3
    && [...document.querySelectorAll('[data-testid="explanation"] img')].every((i) => i.complete), null, { timeout: READY_MS });
  const methods = await page.$$eval('[data-testid="explanation"]', (f) => f.map((x) => x.dataset.method));
  assert.deepEqual(methods.sort(), ['deconvnet', 'guided-backprop', 'saliency']);
  for (const fig of await page.$$('[data-testid="explanation"]')) {
    assert.ok(await pictureSpread(fig) > 5, 'a WebGPU map is not blank');
  }
  // A small occlusion sweep completes on WebGPU too.
  await page.fill('[data-testid="class-search"]', 'espresso');
  await page.selectOption('[data-testid="explain-method"]', 'occlusion');
  await page.fill('[data-testid="param-window"]', '113');
  await page.dispatchEvent('[data-testid="param-window"]', 'change');
  await page.fill('[data-testid="param-stride"]', '57');
  await page.dispatchEvent('[data-testid="param-stride"]', 'change');
  const sweep = await explain(page, 'occlusion', READY_MS);
  assert.ok(await pictureSpread(sweep) > 1, 'the WebGPU sweep is not blank');
  await constructorsRanOnce(page);
  await page.close();
});

await test('?backend=cpu classifies, accepts files and survives a corrupt one', async () => {
  const { page } = await openApp('?backend=cpu&window=113&stride=57&samples=4&steps=8');
  assert.equal(await page.textContent('[data-testid="backend"]'), 'cpu');
  let top = await classifySample(page, 'coffee.png');
  assert.equal(top[0].label, 'espresso');

  await page.setInputFiles('[data-testid="image-input"]', {
    name: 'cat.png', mimeType: 'image/png', buffer: readFileSync('static/samples/chelsea.png'),
  });
  top = await topPredictions(page, 'cat.png');
  assert.equal(top[0].index, 285, `chelsea top-1 ${JSON.stringify(top[0])}`); // Egyptian cat

  // Every method draws a non-blank map of the top-1 class (light parameters from the URL).
  for (const method of ['saliency', 'guided-backprop', 'deconvnet', 'smoothgrad', 'integrated-gradients',
    'grad-cam', 'guided-grad-cam', 'occlusion']) {
    const fig = await explain(page, method);
    assert.match(await fig.textContent(), /Egyptian cat/, method);
    assert.ok(await fig.$eval('img', (el) => el.naturalWidth === 227), `${method} map is a 227-pixel image`);
    const spread = await pictureSpread(fig);
    assert.ok(spread > 3, `${method} map is not blank (spread ${spread.toFixed(1)})`);
    assert.match(await fig.$eval('[data-testid="download"]', (a) => a.getAttribute('download')), new RegExp(`^convlens-${method}-egyptian-cat\\.png$`));
    await page.waitForSelector('[data-testid="status"][data-state="ready"]');
  }
  // A neuron target instead of a class.
  await page.selectOption('[data-testid="neuron-layer"]', 'fire9/concat');
  await page.fill('[data-testid="neuron-channel"]', '7');
  await page.dispatchEvent('[data-testid="neuron-channel"]', 'change');
  const neuron = await explain(page, 'guided-backprop');
  assert.match(await neuron.textContent(), /fire9\/concat channel 7/);
  assert.match(page.url(), /neuron=fire9%2Fconcat%3A7/);
  await page.selectOption('[data-testid="neuron-layer"]', '');
  // The sanity check: the same method on a copy with random top layers.
  await page.fill('[data-testid="param-randomize"]', '3');
  await page.dispatchEvent('[data-testid="param-randomize"]', 'change');
  const random = await explain(page, 'guided-backprop');
  assert.match(await random.textContent(), /top 3 layers randomized/);
  assert.ok(await pictureSpread(random) > 3, 'the randomized map is drawn');
  await page.fill('[data-testid="param-randomize"]', '0');
  await page.dispatchEvent('[data-testid="param-randomize"]', 'change');
  await constructorsRanOnce(page);

  await page.setInputFiles('[data-testid="image-input"]', {
    name: 'broken.png', mimeType: 'image/png', buffer: Buffer.from('this is not a png at all'),
  });
  await page.waitForSelector('[data-testid="error"]', { timeout: 60_000 });
  assert.match(await page.textContent('[data-testid="error"]'), /cannot read this file as an image/);
  await page.waitForSelector('[data-testid="status"][data-state="ready"]');
  const after = await page.$$eval('[data-testid="prediction"]', (rows) => rows.map((r) => Number(r.dataset.classIndex)));
  assert.equal(after[0], 285, 'the previous result stays after a corrupt file');
  assert.equal(await page.textContent('[data-testid="crop-source"]'), 'cat.png');
  await page.close();
});

await test('the live occluder follows the mouse and the keys', async () => {
  const { page } = await openApp('?backend=cpu');
  await classifySample(page, 'chelsea.png');
  await page.click('[data-testid="occluder-toggle"]');
  const prob = async (x, y) => page.waitForFunction(([x, y]) => {
    const o = document.querySelector('[data-testid="occluder"]');
    const r = document.querySelector('[data-testid="occluder-prob"]');
    return o && o.dataset.x === String(x) && o.dataset.y === String(y) && r.dataset.prob !== '' && Number(r.dataset.prob);
  }, [x, y], { timeout: 60_000 }).then((h) => h.jsonValue());
  // Drag from the top-left corner to the cat's face.
  const box = await (await page.$('[data-testid="crop"]')).boundingBox();
  const at = (px, py) => [box.x + (px / 227) * box.width, box.y + (py / 227) * box.height];
  await page.mouse.move(...at(30, 30));
  await page.mouse.down();
  const corner = await prob(6, 6);
  const updates = [];
  for (let k = 1; k <= 8; k++) {
    const t0 = Date.now();
    await page.mouse.move(...at(30 + k * 10, 30 + k * 10));
    updates.push(Date.now() - t0);
  }
  await page.mouse.up();
  const face = await prob(86, 86);
  assert.ok(Math.abs(face - corner) > 0.01, `hiding the face moves p(cat): corner ${corner}, face ${face}`);
  const shownTop = await page.$eval('[data-testid="prediction"]', (r) => r.closest('ol').dataset.occluded);
  assert.equal(shownTop, 'true', 'the top-5 shows the occluded image');
  // Arrow keys move it by 4 pixels (16 with shift).
  await page.focus('[data-testid="crop-stage"]');
  await page.keyboard.press('ArrowRight');
  const right = await prob(90, 86);
  await page.keyboard.press('Shift+ArrowDown');
  const grey = await prob(90, 102);
  // Back to the same square: the same answer (on the CPU these probes come from the crop's
  // kept activations).
  await page.keyboard.press('Shift+ArrowUp');
  assert.equal(await prob(90, 86), right, 'the same square, the same probability');
  await page.keyboard.press('Shift+ArrowDown');
  assert.equal(await prob(90, 102), grey);
  // Another fill: the same square, a new answer.
  await page.selectOption('[data-testid="occluder-fill"]', 'zero');
  await page.waitForFunction((g) => {
    const r = document.querySelector('[data-testid="occluder-prob"]');
    return r.dataset.prob !== '' && Number(r.dataset.prob) !== g;
  }, grey, { timeout: 60_000 });
  await page.focus('[data-testid="crop-stage"]');
  await page.keyboard.press('Escape');
  await page.waitForSelector('[data-testid="occluder"]', { state: 'detached' });
  await page.close();
});

await test('a sweep previews a coarse pass, keeps the page responsive, and can be cancelled', async () => {
  // Stride 4: ~2,700 windows, seconds of sweep after its preview. At stride 8 a sweep ended
  // about half a second after its preview, and Playwright's click on Cancel, which waits for
  // the button to hold still over two animation frames (slow here while both workers fill the
  // cores), sometimes outlasted it and then waited for a button that was gone.
  const { page } = await openApp('?backend=cpu&method=occlusion&window=24&stride=4');
  await classifySample(page, 'chelsea.png');
  assert.equal(await page.$eval('[data-testid="explain-method"]', (s) => s.value), 'occlusion', 'settings come from the URL');
  assert.equal(await page.$eval('[data-testid="param-window"]', (i) => i.value), '24');
  await page.evaluate(() => {
    window.__long = [];
    new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__long.push(e.duration); })
      .observe({ type: 'longtask', buffered: false });
    // A run's start and end redraw the panel, but its controls are the same elements after.
    document.querySelector('.explain-controls').__kept = true;
    document.querySelector('#class-names').__kept = true;
  });
  const controlsKept = () => page.evaluate(() => document.querySelector('.explain-controls').__kept === true
    && document.querySelector('#class-names').__kept === true);
  await page.click('[data-testid="explain-run"]');
  const rowHeight = () => page.$eval('[data-testid="explain-progress"]', (r) => r.getBoundingClientRect().height);
  await page.waitForSelector('[data-testid="explain-progress"]');
  const heightAtStart = await rowHeight();
  // The coarse pass (every other window) shows first, then the sweep refines it.
  const preview = await page.waitForSelector('[data-testid="explain-preview"]', { timeout: 120_000 });
  assert.ok(await preview.evaluate((img) => img.complete && img.naturalWidth === 227), 'the coarse map is drawn');
  // Its place was held from the start: nothing below the row moves when it comes.
  assert.equal(await rowHeight(), heightAtStart, 'the progress row keeps its height when the preview arrives');
  // The progress row counts the windows done (its reports are drawn apart from the app).
  await page.waitForFunction(() => {
    const row = document.querySelector('[data-testid="explain-progress"]');
    const bar = row?.querySelector('progress');
    const [done, total] = (row?.textContent.match(/(\d+)\/(\d+)/) ?? []).slice(1).map(Number);
    return bar && Number(bar.value) > 0 && Number(bar.max) > 1 && done === Number(bar.value) && total === Number(bar.max);
  }, null, { timeout: 60_000 });
  await page.click('[data-testid="explain-cancel"]');
  await page.waitForSelector('[data-testid="explain-progress"]', { state: 'detached' });
  await page.waitForSelector('[data-testid="status"][data-state="ready"]');
  const longest = Math.max(0, ...(await page.evaluate(() => window.__long)));
  console.log(`     longest main-thread task during the sweep: ${longest.toFixed(0)} ms`);
  assert.ok(longest < 200, `the page stayed responsive (longest task ${longest} ms)`);
  // The worker is free again: a quick map still works, and the cancelled one never shows up.
  const fig = await explain(page, 'saliency');
  assert.ok(fig);
  await page.waitForTimeout(500);
  const methods = await page.$$eval('[data-testid="explanation"]', (f) => f.map((x) => x.dataset.method));
  assert.deepEqual(methods, ['saliency']);
  assert.equal(await page.$('[data-testid="error"]'), null, 'cancelling is not an error');
  assert.ok(await controlsKept(), 'runs coming and going do not rebuild the controls (the 1,000 class names)');
  await page.close();
});

/** Ten steps of class visualization; the picture must change while it forms. */
async function classVisTenSteps(page) {
  await page.fill('[data-testid="opt-steps-input"]', '10');
  await page.dispatchEvent('[data-testid="opt-steps-input"]', 'change');
  await page.click('[data-testid="opt-start"]');
  const seen = new Set();
  const t0 = Date.now();
  while (Date.now() - t0 < 300_000) {
    const img = await page.$('[data-testid="opt-image"]');
    if (img) seen.add(await img.getAttribute('src'));
    const done = await page.$eval('[data-testid="opt-steps"]', (e) => Number(e.dataset.done)).catch(() => 0);
    if (done >= 10 && !(await page.$('[data-testid="opt-stop"]'))) break;
    await page.waitForTimeout(100);
  }
  const img = await page.waitForSelector('[data-testid="opt-image"]');
  seen.add(await img.getAttribute('src'));
  assert.equal(await page.$eval('[data-testid="opt-steps"]', (e) => e.dataset.done), '10');
  assert.ok(seen.size >= 2, `the preview changed while the image formed (${seen.size} pictures)`);
  assert.match(await page.textContent('[data-testid="opt-steps"]'), /steps\/s/);
}

await test('class visualization forms step by step on CPU and WebGPU', async () => {
  for (const backend of ['cpu', 'webgpu']) {
    const { page } = await openApp(`?backend=${backend}`);
    await classifySample(page, 'coffee.png');
    await classVisTenSteps(page);
    await page.close();
  }
});

/** The id of the shown optimization ('' when none). */
async function optimizationId(page) {
  return page.$eval('[data-testid="opt-steps"]', (e) => e.dataset.id).catch(() => '');
}

/** Waits until an optimization other than `previous` has run and finished (or stopped). */
async function optimizationDone(page, previous, timeout = 300_000) {
  await page.waitForFunction((id) => {
    const e = document.querySelector('[data-testid="opt-steps"]');
    return e && e.dataset.id !== id && e.dataset.running === 'false';
  }, previous, { timeout });
}

async function setInput(page, testid, value) {
  await page.fill(`[data-testid="${testid}"]`, String(value));
  await page.dispatchEvent(`[data-testid="${testid}"]`, 'change');
}

await test('Make an image: fooling, neural style, pause, DeepDream, inversion series, settings in the URL', async () => {
  // A shared link opens the panel on a fooling image towards "goldfish".
  const { page } = await openApp('?backend=cpu&opt-kind=fool&opt-class=1&opt-epsilon=4');
  await classifySample(page, 'coffee.png');
  assert.equal(await page.$eval('[data-testid="opt-kind"]', (e) => e.value), 'fool');
  assert.match(await page.textContent('[data-testid="opt-class"]'), /goldfish/);
  await page.click('[data-testid="opt-start"]');
  const verdict = await page.waitForSelector('[data-testid="fool-verdict"]', { timeout: 300_000 });
  await optimizationDone(page, '');
  assert.equal(await verdict.getAttribute('data-succeeded'), 'true');
  assert.match(await page.textContent('[data-testid="fool-top5"] li'), /goldfish/);
  const diff = await page.waitForSelector('[data-testid="fool-difference"]');
  assert.ok(await diff.evaluate((img) => img.complete && img.naturalWidth === 227), 'the amplified change is drawn');

  // Neural style with the default sample style, small and short.
  await page.selectOption('[data-testid="opt-kind"]', 'style');
  await page.waitForFunction(() => new URLSearchParams(location.search).get('opt-kind') === 'style');
  await setInput(page, 'opt-size', 64);
  // Far more steps than the pause, resume and stop below take, so the run is still going when
  // they land (with 40, a fast machine finished it before the stop, a slow one paused at its last step).
  await setInput(page, 'opt-steps-input', 2000);
  const fooled = await optimizationId(page);
  await page.click('[data-testid="opt-start"]');
  await page.waitForFunction((id) => document.querySelector('[data-testid="opt-steps"]')?.dataset.id !== id, fooled);
  // Pause: the step count holds still; resume, then stop.
  await page.waitForFunction(() => Number(document.querySelector('[data-testid="opt-steps"]')?.dataset.done) >= 2, null, { timeout: 120_000 });
  await page.click('[data-testid="opt-pause"]');
  // The step under way when the pause arrives still finishes: wait until the count settles
  // (two reads 500 ms apart agree), then watch it hold still.
  const doneNow = () => page.$eval('[data-testid="opt-steps"]', (e) => Number(e.dataset.done));
  let held = await doneNow();
  for (let t0 = Date.now(); Date.now() - t0 < 30_000;) {
    await page.waitForTimeout(500);
    const now = await doneNow();
    if (now === held) break;
    held = now;
  }
  await page.waitForTimeout(1500);
  assert.equal(await page.$eval('[data-testid="opt-steps"]', (e) => Number(e.dataset.done)), held, 'paused runs do not step');
  assert.match(await page.textContent('[data-testid="opt-steps"]'), /paused/);
  await page.click('[data-testid="opt-pause"]');
  await page.waitForFunction((n) => Number(document.querySelector('[data-testid="opt-steps"]')?.dataset.done) > n, held, { timeout: 60_000 });
  const styled = await optimizationId(page);
  await page.click('[data-testid="opt-stop"]');
  await page.waitForSelector('[data-testid="opt-steps"][data-running="false"]');
  assert.match(await page.textContent('[data-testid="opt-steps"]'), /stopped/);
  assert.ok(server.requested.some((p) => p.endsWith('styles/stained-glass.jpg')), 'the sample style was fetched');
  const side = await page.$eval('[data-testid="opt-image"]', (img) => [img.naturalWidth, img.naturalHeight]);
  assert.equal(Math.max(...side), 64, `style output at the chosen size (${side})`);

  // DeepDream with two octaves.
  await page.selectOption('[data-testid="opt-kind"]', 'deepdream');
  await setInput(page, 'opt-octaves', 2);
  await setInput(page, 'opt-size', 96);
  await setInput(page, 'opt-steps-input', 4);
  await page.click('[data-testid="opt-start"]');
  await optimizationDone(page, styled);
  assert.equal(await page.$eval('[data-testid="opt-steps"]', (e) => e.dataset.done), '4');

  // Inversion from every stage, side by side.
  await page.selectOption('[data-testid="opt-kind"]', 'invert');
  await setInput(page, 'opt-steps-input', 2);
  await page.click('[data-testid="opt-series"]');
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="made"][data-kind="invert"]').length >= 5, null, { timeout: 300_000 });
  const layers = await page.$$eval('[data-testid="made"][data-kind="invert"]', (f) => f.map((x) => x.dataset.layer));
  assert.deepEqual(layers.reverse(), ['conv1', 'fire3/concat', 'fire5/concat', 'fire7/concat', 'fire9/concat']);
  const kinds = await page.$$eval('[data-testid="made"]', (f) => f.map((x) => x.dataset.kind));
  assert.deepEqual(kinds.slice(5), ['deepdream', 'fool'], 'a stopped run does not join the row');
  assert.equal(await page.$('[data-testid="error"]'), null);
  // The row as one PNG: seven pictures, labelled, with a caption.
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('[data-testid="export-made"]')]);
  const png = readFileSync(await download.path());
  assert.deepEqual([png.readUInt32BE(16), png.readUInt32BE(20)], [16 + 7 * (256 + 16), 40 + 256 + 44 + 3 * 20 + 16]);
  await page.close();
});

/** Clicks an anatomy button and waits until the panel's request is over (no progress row). */
async function anatomy(page, testid, timeout = 300_000) {
  await page.click(`[data-testid="${testid}"]`);
  await page.waitForFunction(() => !document.querySelector('[data-testid="anatomy-progress"]'), null, { timeout });
  assert.equal(await page.$('[data-testid="error"]'), null, `no error after ${testid}`);
}

async function loaded(page, testid) {
  const img = await page.waitForSelector(`[data-testid="${testid}"]`);
  await page.waitForFunction((e) => e.complete && e.naturalWidth > 0, img);
  return img;
}

await test('Inside the network: both models, filters, activations, patches, neighbours, t-SNE, a folder', async () => {
  const { page } = await openApp('?backend=cpu&model=fashion-mnist');
  assert.equal(await page.$eval('[data-testid="model-picker"]', (e) => e.value), 'fashion-mnist');
  const top = await classifySample(page, 'fashion/sneaker.png');
  assert.equal(top[0].label, 'Sneaker');

  // Weights: conv1's 32 grey 3×3 filters.
  await anatomy(page, 'filters-show');
  const filters = await loaded(page, 'filters-image');
  assert.match(await filters.evaluate((img) => img.closest('figure').textContent), /conv1: 32 filters of 1×3×3 \(on pixels\)/);

  // Activations: a tile per channel; hover reads a value, a click enlarges one tile.
  await page.click('[data-testid="anatomy-tab-activations"]');
  await page.selectOption('[data-testid="activations-layer"]', 'conv2_relu');
  await anatomy(page, 'activations-show');
  const acts = await loaded(page, 'activations-image');
  assert.equal(await acts.getAttribute('data-channels'), '64');
  const box = await acts.boundingBox();
  await page.mouse.move(box.x + 6, box.y + 6);
  await page.waitForFunction(() => /channel 0, position/.test(document.querySelector('[data-testid="activations-hover"]').textContent));
  await page.mouse.click(box.x + 6, box.y + 6);
  await loaded(page, 'activation-tile');

  // The bundled dataset, then the top patches of three channels.
  await page.click('[data-testid="anatomy-tab-patches"]');
  await anatomy(page, 'dataset-bundled');
  assert.equal(await page.$eval('[data-testid="dataset-summary"]', (e) => e.dataset.count), '2000');
  await page.selectOption('[data-testid="patches-layer"]', 'conv3_relu');
  await setInput(page, 'patches-top', 3);
  await setInput(page, 'patches-k', 4);
  await anatomy(page, 'patches-run');
  const patches = await loaded(page, 'patches-image');
  assert.equal(await patches.getAttribute('data-rows'), '3');
  assert.match(await patches.evaluate((img) => img.closest('figure').textContent), /18×18 px receptive field/);

  // Neighbours: the sample is a test image, so its nearest code is itself, a sneaker.
  await page.click('[data-testid="anatomy-tab-neighbours"]');
  await anatomy(page, 'neighbours-run');
  const neighbours = await loaded(page, 'neighbours-image');
  assert.match(await neighbours.evaluate((img) => img.closest('figure').textContent), /codes: Sneaker/);

  // t-SNE, short: the map animates to the end and draws coloured dots.
  await page.click('[data-testid="anatomy-tab-tsne"]');
  await setInput(page, 'tsne-iterations', 100);
  await page.click('[data-testid="tsne-run"]');
  await page.waitForSelector('[data-testid="tsne-status"][data-done="true"]', { timeout: 300_000 });
  const colours = await page.$eval('[data-testid="tsne-canvas"]', (c) => {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    const seen = new Set();
    for (let i = 0; i < d.length; i += 4) if (d[i] + d[i + 1] + d[i + 2] < 700) seen.add(`${d[i]},${d[i + 1]},${d[i + 2]}`);
    return seen.size;
  });
  assert.ok(colours >= 10, `the map has class colours (${colours})`);

  // Back to SqueezeNet: the shown image is classified again; a folder of photos is a dataset.
  await page.selectOption('[data-testid="model-picker"]', 'squeezenet');
  await page.waitForFunction(() => document.querySelector('[data-testid="status"]').dataset.state === 'ready'
    && document.querySelectorAll('[data-testid="sample"][data-sample="coffee.png"]').length === 1, null, { timeout: READY_MS });
  assert.equal(await page.$('[data-testid="dataset-summary"]'), null, 'another model starts without a dataset');
  await page.setInputFiles('[data-testid="dataset-files"]', ['static/samples/coffee.png', 'static/samples/chelsea.png', 'README.md']);
  await page.waitForSelector('[data-testid="dataset-summary"][data-count="2"]', { timeout: 120_000 });
  await page.click('[data-testid="anatomy-tab-patches"]');
  await page.selectOption('[data-testid="patches-layer"]', 'fire9/concat');
  await setInput(page, 'patches-top', 2);
  await setInput(page, 'patches-k', 2);
  await anatomy(page, 'patches-run');
  assert.equal(await (await loaded(page, 'patches-image')).getAttribute('data-rows'), '2');
  await page.close();
});

await test('Bring your own model: an .onnx file with a preprocessing preset, every method, a broken file', async () => {
  const { page } = await openApp('?backend=cpu');
  await classifySample(page, 'coffee.png');
  await page.selectOption('[data-testid="model-preprocess"]', 'imagenet');
  await page.setInputFiles('[data-testid="model-file"]', 'tests/fixtures/zoo/resnet18_int8_qdq.onnx');
  await page.waitForFunction(() => /your file: resnet18_int8_qdq\.onnx/.test(document.querySelector('[data-testid="model-picker"]').selectedOptions[0]?.textContent ?? '')
    && document.querySelector('[data-testid="status"]').dataset.state === 'ready', null, { timeout: READY_MS });
  const summary = await page.textContent('[data-testid="model-summary"]');
  assert.match(summary, /opset 13, input 32×32; .*QuantizeLinear/);
  // The shown photo was classified again by the new model (no labels: "class N").
  await page.waitForFunction(() => /^class \d$/.test(document.querySelector('[data-testid="prediction"]')?.dataset.label ?? ''));
  const map = await explain(page, 'grad-cam');
  assert.ok(await pictureSpread(map) > 1, 'Grad-CAM draws a map on the int8 model');
  assert.match(await page.textContent('[data-testid="model-layers"] summary'), /^\d+ layers, [1-9]\d* of them with a spatial grid the methods can tap/);
  // A labels file applies at once, and stays for the next file (here onnxruntime's integer-operator form).
  const names = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'];
  const labelled = () => page.waitForFunction((n) => n.includes(document.querySelector('[data-testid="prediction"]')?.dataset.label)
    && document.querySelector('[data-testid="status"]').dataset.state === 'ready', names, { timeout: READY_MS });
  await page.setInputFiles('[data-testid="model-labels"]', { name: 'digits.txt', mimeType: 'text/plain', buffer: Buffer.from(names.join('\n')) });
  await labelled();
  await page.setInputFiles('[data-testid="model-file"]', 'tests/fixtures/zoo/resnet18_int8_qoperator.onnx');
  await page.waitForFunction(() => /resnet18_int8_qoperator/.test(document.querySelector('[data-testid="model-picker"]').selectedOptions[0]?.textContent ?? ''));
  await labelled();
  assert.match(await page.textContent('[data-testid="model-summary"]'), /QuantizeLinear/);
  assert.match(await page.textContent('[data-testid="model-labels-name"]'), /digits\.txt/);
  // Labels that do not fit: a message naming both counts; the model stays.
  await page.setInputFiles('[data-testid="model-labels"]', { name: 'three.txt', mimeType: 'text/plain', buffer: Buffer.from('a\nb\nc') });
  await page.waitForSelector('[data-testid="error"]');
  assert.match(await page.textContent('[data-testid="error"]'), /names 3 classes but the model has 10/);
  await page.click('[data-testid="error"] button');
  // A file that is not a model: a clear message, and the loaded model stays usable.
  await page.setInputFiles('[data-testid="model-file"]', { name: 'broken.onnx', mimeType: 'application/octet-stream', buffer: Buffer.from('not a model at all') });
  await page.waitForSelector('[data-testid="error"]');
  assert.match(await page.textContent('[data-testid="error"]'), /ONNX/);
  await page.click('[data-testid="error"] button');
  assert.match(await page.$eval('[data-testid="model-picker"]', (e) => e.selectedOptions[0].textContent), /resnet18_int8_qoperator/);
  await explain(page, 'saliency');
  // The bundled EfficientNet-Lite0 (its own preprocessing), then back to SqueezeNet.
  for (const [model, name] of [['efficientnet-lite0', 'EfficientNet-Lite0'], ['squeezenet', 'SqueezeNet']]) {
    await page.selectOption('[data-testid="model-picker"]', model);
    await page.waitForFunction((n) => document.querySelector('[data-testid="model-summary"]')?.textContent.startsWith(n)
      && document.querySelector('[data-testid="status"]').dataset.state === 'ready'
      && document.querySelector('[data-testid="prediction"]')?.dataset.label === 'espresso', name, { timeout: READY_MS });
  }
  assert.equal(await page.evaluate(() => new URLSearchParams(location.search).get('model')), null, 'the default model leaves the URL');
  await page.close();
});

await test('double clicks, rapid method switches, cancels and model switches never wedge the page', async () => {
  const { page } = await openApp('?backend=cpu');
  await classifySample(page, 'chelsea.png');
  const label = await page.$eval('[data-testid="prediction"]', (e) => e.dataset.label);
  const quiet = (p) => p.catch(() => {}); // a control may be disabled for a moment: that is the point
  const methods = ['saliency', 'occlusion', 'grad-cam', 'smoothgrad', 'guided-backprop', 'integrated-gradients', 'deconvnet'];
  for (let round = 0; round < 3; round++) {
    for (const m of methods) {
      await quiet(page.selectOption('[data-testid="explain-method"]', m, { timeout: 500 }));
      await quiet(page.dblclick('[data-testid="explain-run"]', { timeout: 500 }));
      await quiet(page.click('[data-testid="explain-compare"]', { timeout: 200 }));
    }
    await quiet(page.click('[data-testid="explain-cancel"]', { timeout: 500 }));
  }
  // Switch models back and forth while maps may still be on their way.
  for (const key of ['fashion-mnist', 'squeezenet', 'fashion-mnist', 'squeezenet']) {
    await quiet(page.selectOption('[data-testid="model-picker"]', key, { timeout: 2_000 }));
  }
  await quiet(page.click('[data-testid="explain-cancel"]', { timeout: 500 }));
  // A switch asked for while a model was loading was refused (the picker is disabled then):
  // once it is usable again, SqueezeNet is chosen for certain.
  await page.waitForSelector('[data-testid="model-picker"]:not([disabled])', { timeout: READY_MS });
  await page.selectOption('[data-testid="model-picker"]', 'squeezenet');
  await page.waitForFunction((l) => document.querySelector('[data-testid="status"]').dataset.state === 'ready'
    && document.querySelector('[data-testid="model-picker"]').value === 'squeezenet'
    && document.querySelector('[data-testid="prediction"]')?.dataset.label === l, label, { timeout: READY_MS });
  // Settled and consistent: no error, no run left over, and the next map is made.
  assert.equal(await page.$('[data-testid="error"]'), null);
  assert.equal(await page.$('[data-testid="explain-cancel"]'), null, 'no run is left marked as running');
  const map = await explain(page, 'saliency');
  assert.ok(await pictureSpread(map) > 1);
  await page.close();
});

await test('a lost WebGPU device: the run fails cleanly, the page goes on on the CPU with the same model file, photo and settings', async () => {
  // Its own page without the console watch: a destroyed device makes WebGPU log errors by design.
  const page = await context.newPage();
  await page.goto(`${server.origin}/?method=guided-backprop`);
  await page.waitForSelector('[data-testid="status"][data-state="ready"]', { timeout: READY_MS });
  assert.equal(await page.textContent('[data-testid="backend"]'), 'webgpu');
  await classifySample(page, 'coffee.png');
  // The user's own model file is in use when the device goes.
  await page.setInputFiles('[data-testid="model-file"]', 'tests/fixtures/zoo/resnet18.onnx');
  await page.waitForFunction(() => /^class \d$/.test(document.querySelector('[data-testid="prediction"]')?.dataset.label ?? '')
    && document.querySelector('[data-testid="status"]').dataset.state === 'ready', null, { timeout: READY_MS });
  const label = await page.$eval('[data-testid="prediction"]', (e) => e.dataset.label);
  // The test hook: the worker's GPU device is destroyed when the next map starts.
  await page.workers()[0].evaluate(() => {
    const original = GPUDevice.prototype.createCommandEncoder;
    GPUDevice.prototype.createCommandEncoder = function (...args) {
      GPUDevice.prototype.createCommandEncoder = original;
      this.destroy();
      return original.apply(this, args);
    };
  });
  await page.click('[data-testid="explain-run"]');
  // Back on the CPU with the same model file (loaded again), photo and settings.
  await page.waitForFunction(() => document.querySelector('[data-testid="backend"]')?.textContent === 'cpu'
    && document.querySelector('[data-testid="status"]').dataset.state === 'ready'
    && /input 32×32/.test(document.querySelector('[data-testid="model-summary"]')?.textContent ?? ''), null, { timeout: READY_MS });
  assert.match(await page.textContent('[data-testid="error"]'), /restarting on the CPU/);
  assert.match(await page.textContent('[data-testid="backend-note"]'), /switched to the CPU/);
  assert.match(await page.$eval('[data-testid="model-picker"]', (e) => e.selectedOptions[0].textContent), /your file: resnet18\.onnx/);
  assert.equal(await page.$eval('[data-testid="prediction"]', (e) => e.dataset.label), label);
  assert.equal(await page.$eval('[data-testid="explain-method"]', (e) => e.value), 'guided-backprop');
  await page.click('[data-testid="error"] button');
  const map = await explain(page, 'guided-backprop');
  assert.ok(await pictureSpread(map) > 1, 'the map after the switch is not blank');
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

// ---- The classroom: lecture path, keys, projector, phone, camera, share, export, a11y, offline ----

/** axe-core's audit of the page as it is now: the serious and critical violations. */
const AXE = readFileSync(new URL('./node_modules/axe-core/axe.min.js', import.meta.url), 'utf8');
async function audit(page, label) {
  const found = await page.evaluate(async (source) => {
    if (!window.axe) (0, eval)(source);
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(' | ')}`);
  }, AXE);
  assert.deepEqual(found, [], `${label}: accessibility violations`);
}

/** The page is no wider than its viewport (nothing to scroll sideways). */
async function noSidewaysScroll(page, label) {
  const [scroll, width] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
  assert.ok(scroll <= width, `${label}: the page is ${scroll} px wide in a ${width} px viewport`);
}

const stepKey = (page) => page.$eval('[data-testid="lecture-card"]', (c) => c.dataset.step);

await test('the lecture path by keyboard alone: every step opens its panel, runs, and the shortcut sheet', async () => {
  const { page } = await openApp('?backend=cpu&samples=4&steps=8');
  await page.keyboard.press('s'); // the first sample photo
  await topPredictions(page, 'coffee.png');
  await page.keyboard.press('l');
  await page.waitForSelector('[data-testid="lecture-card"]');
  // Where each step must land: a selected tab, a chosen method or kind, or the occluder.
  const expected = {
    activations: ['anatomy-tab-activations'], filters: ['anatomy-tab-weights'], patches: ['anatomy-tab-patches'],
    neighbours: ['anatomy-tab-neighbours'], tsne: ['anatomy-tab-tsne'], occlusion: ['occluder'],
    saliency: ['method', 'saliency'], 'backprop-compare': ['compare'], 'grad-cam': ['method', 'grad-cam'],
    'class-model': ['kind', 'class-vis'], inversion: ['kind', 'invert'], deepdream: ['kind', 'deepdream'],
    style: ['kind', 'style'], fooling: ['kind', 'fool'],
  };
  const seen = [];
  for (let i = 0; ; i++) {
    const key = await stepKey(page);
    seen.push(key);
    const [what, value] = expected[key] ?? assert.fail(`unexpected step ${key}`);
    if (what.startsWith('anatomy-tab')) {
      await page.waitForSelector(`[data-testid="${what}"][aria-selected="true"]`);
    } else if (what === 'occluder') {
      await page.waitForSelector('[data-testid="occluder"]');
    } else if (what === 'method') {
      assert.equal(await page.inputValue('[data-testid="explain-method"]'), value);
    } else if (what === 'kind') {
      assert.equal(await page.inputValue('[data-testid="opt-kind"]'), value);
      // On the CPU the panel says it starts lighter, and does.
      await page.waitForSelector('[data-testid="opt-light"]');
      if (value === 'style') assert.equal(await page.inputValue('[data-testid="opt-size"]'), '160');
    }
    // The card is next to its panel, in view, with the focus, and in the link.
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'lecture-card', `${key}: focus`);
    await page.waitForFunction(() => {
      const r = document.querySelector('[data-testid="lecture-card"]').getBoundingClientRect();
      return r.top >= -1 && r.top < window.innerHeight / 2;
    }, null, { timeout: 5_000 }).catch(async () => assert.fail(`${key}: the card is not scrolled into view: ${
      await page.$eval('[data-testid="lecture-card"]', (c) => c.getBoundingClientRect().top)} px from the top`));
    assert.match(page.url(), new RegExp(`step=${key}`));
    if (key === 'activations') {
      await page.keyboard.press('r');
      await page.waitForSelector('[data-testid="activations-image"]', { timeout: READY_MS });
    }
    if (key === 'saliency') {
      await page.keyboard.press('r');
      await page.waitForFunction(() => document.querySelector('[data-testid="explanation"]')?.dataset.method === 'saliency',
        null, { timeout: READY_MS });
    }
    if (i === Object.keys(expected).length - 1) break;
    await page.keyboard.press(i % 2 ? 'n' : 'PageDown');
    await page.waitForFunction((k) => document.querySelector('[data-testid="lecture-card"]')?.dataset.step !== k, key);
  }
  assert.deepEqual(seen, Object.keys(expected), 'every step, in order');
  // Past the end it stays; p goes back.
  await page.keyboard.press('n');
  assert.equal(await stepKey(page), 'fooling');
  await page.keyboard.press('p');
  await page.waitForFunction(() => document.querySelector('[data-testid="lecture-card"]')?.dataset.step === 'style');
  // The sheet: ? opens it with the focus in it, Esc closes it; l leaves the path.
  await page.keyboard.press('?');
  await page.waitForSelector('[data-testid="shortcut-sheet"]');
  assert.equal(await page.evaluate(() => document.activeElement?.dataset.testid), 'shortcut-sheet');
  assert.ok((await page.$$('[data-testid="shortcut-sheet"] tr')).length >= 10);
  await audit(page, 'shortcut sheet');
  await page.keyboard.press('Escape');
  await page.waitForSelector('[data-testid="shortcut-sheet"]', { state: 'detached' });
  await page.keyboard.press('l');
  await page.waitForSelector('[data-testid="lecture-card"]', { state: 'detached' });
  // m cycles the method; keys typed into a field are left alone.
  const before = await page.inputValue('[data-testid="explain-method"]');
  await page.keyboard.press('m');
  assert.notEqual(await page.inputValue('[data-testid="explain-method"]'), before);
  await page.focus('[data-testid="class-search"]');
  await page.keyboard.type('lmn');
  assert.equal(await page.$('[data-testid="lecture-card"]'), null, 'typing l in a field opens nothing');
  await page.close();
});

await test('projector mode fits 1280×720 with large type; the page passes the accessibility audit', async () => {
  const { page } = await openApp('?backend=cpu');
  await page.setViewportSize({ width: 1280, height: 720 });
  await classifySample(page, 'chelsea.png');
  await explain(page, 'grad-cam');
  await audit(page, 'desktop with a map');
  const small = await page.evaluate(() => parseFloat(getComputedStyle(document.documentElement).fontSize));
  await page.keyboard.press('f');
  await page.waitForFunction(() => document.documentElement.classList.contains('projector'));
  const large = await page.evaluate(() => parseFloat(getComputedStyle(document.documentElement).fontSize));
  assert.ok(large >= small * 1.2, `type grows: ${small} → ${large} px`);
  assert.match(page.url(), /projector=true/);
  await noSidewaysScroll(page, 'projector');
  // The photo and its top-5 are on the first screen.
  const bottom = await page.$eval('[data-testid="prediction"]:last-child', (r) => r.getBoundingClientRect().bottom);
  const crop = await page.$eval('[data-testid="crop"]', (c) => c.getBoundingClientRect().bottom);
  assert.ok(Math.max(bottom, crop) <= 720, `photo and top-5 end at ${Math.max(bottom, crop)} px`);
  await page.keyboard.press('l');
  await page.waitForSelector('[data-testid="lecture-card"]');
  await audit(page, 'projector mode with the lecture card');
  await page.keyboard.press('f');
  await page.waitForFunction(() => !document.documentElement.classList.contains('projector'));
  await page.close();
});

await test('on a phone: one column, touch drag of the occluder, the audit', async () => {
  const phone = await launch({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
  try {
    const page = await phone.newPage();
    await page.goto(`${server.origin}/?backend=cpu`);
    await page.waitForSelector('[data-testid="status"][data-state="ready"]', { timeout: READY_MS });
    await page.tap('[data-testid="sample"][data-sample="chelsea.png"]');
    await topPredictions(page, 'chelsea.png');
    await noSidewaysScroll(page, 'phone');
    const [photo, result] = await Promise.all(['[data-testid="image-input"]', '[data-testid="crop"]']
      .map((s) => page.$eval(s, (e) => e.getBoundingClientRect())));
    assert.ok(result.top >= photo.bottom, 'the crop is below the photo input (stacked)');
    await page.tap('[data-testid="occluder-toggle"]');
    await page.waitForSelector('[data-testid="occluder"]');
    // A finger drags the square from the corner to the middle.
    const box = await (await page.$('[data-testid="crop"]')).boundingBox();
    const touch = async (type, fx, fy) => page.dispatchEvent('[data-testid="crop"]', type, {
      pointerType: 'touch', pointerId: 7, isPrimary: true, bubbles: true,
      clientX: box.x + fx * box.width, clientY: box.y + fy * box.height, buttons: type === 'pointerup' ? 0 : 1,
    });
    await touch('pointerdown', 0.1, 0.1);
    for (const f of [0.2, 0.3, 0.4, 0.5]) await touch('pointermove', f, f);
    await touch('pointerup', 0.5, 0.5);
    await page.waitForFunction(() => {
      const o = document.querySelector('[data-testid="occluder"]');
      return o && Number(o.dataset.x) > 60 && Number(o.dataset.y) > 60;
    }, null, { timeout: 60_000 });
    await audit(page, 'phone');
  } finally {
    await phone.close();
  }
});

await test('the camera: snapshot and live mode with the fake camera; refused or absent camera is explained', async () => {
  const { page } = await openApp('?backend=cpu');
  await page.keyboard.press('w');
  await page.waitForFunction(() => document.querySelector('[data-testid="webcam-video"]')?.videoWidth > 0, null, { timeout: 30_000 });
  await page.click('[data-testid="webcam-snapshot"]');
  const top = await topPredictions(page, 'camera snapshot');
  assert.equal(top.length, 5);
  await page.click('[data-testid="webcam-live"]');
  const srcs = new Set();
  await page.waitForFunction(() => document.querySelector('[data-testid="crop-source"]')?.textContent === 'camera (live)',
    null, { timeout: 60_000 });
  const t0 = Date.now();
  while (srcs.size < 3 && Date.now() - t0 < 60_000) {
    srcs.add(await page.getAttribute('[data-testid="crop"]', 'src'));
    await page.waitForTimeout(100);
  }
  assert.ok(srcs.size >= 3, `live mode shows new frames (${srcs.size})`);
  // With the occluder on, its probability follows the frames without the square moving.
  await page.keyboard.press('o');
  await page.waitForSelector('[data-testid="occluder"]');
  const probs = new Set();
  const t1 = Date.now();
  while (probs.size < 3 && Date.now() - t1 < 60_000) {
    const p = await page.getAttribute('[data-testid="occluder-prob"]', 'data-prob');
    if (p) probs.add(p);
    await page.waitForTimeout(100);
  }
  assert.ok(probs.size >= 3, `the occluded probability follows the camera (${[...probs]})`);
  await page.keyboard.press('o');
  await page.click('[data-testid="webcam-toggle"]');
  await page.waitForSelector('[data-testid="webcam"][data-on="false"]');
  assert.equal(await page.evaluate(() => document.querySelector('[data-testid="webcam-video"]').srcObject
    ?.getTracks().some((t) => t.readyState === 'live') ?? false), false, 'the camera is released');
  await page.close();
  for (const [name, message] of [['NotAllowedError', /camera was refused/], ['NotFoundError', /no camera was found/]]) {
    const p = await context.newPage();
    await p.addInitScript((n) => {
      navigator.mediaDevices.getUserMedia = () => Promise.reject(new DOMException('test', n));
    }, name);
    await p.goto(`${server.origin}/?backend=cpu`);
    await p.waitForSelector('[data-testid="status"][data-state="ready"]', { timeout: READY_MS });
    await classifySample(p, 'coffee.png');
    await p.click('[data-testid="webcam-toggle"]');
    await p.waitForSelector('[data-testid="error"]');
    assert.match(await p.textContent('[data-testid="error"]'), message);
    await p.waitForSelector('[data-testid="webcam"][data-on="false"]');
    assert.equal(await p.textContent('[data-testid="crop-source"]'), 'coffee.png', 'the photo stays');
    await p.close();
  }
});

await test('a shared link reproduces the view: model, photo, method, settings, lecture step, and the same map', async () => {
  const { page } = await openApp('?backend=cpu');
  await classifySample(page, 'chelsea.png');
  await page.selectOption('[data-testid="explain-colormap"]', 'turbo');
  await page.selectOption('[data-testid="explain-class"]', { index: 1 }); // the second of the top-5
  const first = await explain(page, 'grad-cam');
  const picture = async (fig) => fig.$eval('img', (img) => {
    const c = document.createElement('canvas');
    c.width = img.naturalWidth; c.height = img.naturalHeight;
    c.getContext('2d').drawImage(img, 0, 0);
    return c.toDataURL();
  });
  const map = await picture(first);
  const top = await page.$$eval('[data-testid="prediction"]', (r) => r.map((x) => x.dataset.label));
  // The lecture path at its t-SNE step (which opens that tab).
  await page.click('[data-testid="lecture-toggle"]');
  for (let i = 0; i < 4; i++) await page.click('[data-testid="lecture-next"]');
  await page.waitForSelector('[data-testid="lecture-card"][data-step="tsne"]');
  const link = page.url();
  assert.match(link, /image=chelsea\.png/);
  assert.match(link, /class=\d+/);
  const again = await context.newPage();
  await again.goto(link);
  await again.waitForSelector('[data-testid="status"][data-state="ready"]', { timeout: READY_MS });
  await topPredictions(again, 'chelsea.png');
  assert.deepEqual(await again.$$eval('[data-testid="prediction"]', (r) => r.map((x) => x.dataset.label)), top);
  assert.equal(await again.inputValue('[data-testid="explain-method"]'), 'grad-cam');
  assert.equal(await again.inputValue('[data-testid="explain-colormap"]'), 'turbo');
  await again.waitForSelector('[data-testid="anatomy-tab-tsne"][aria-selected="true"]');
  await again.waitForSelector('[data-testid="lecture-card"][data-step="tsne"]');
  await again.click('[data-testid="explain-run"]');
  await again.waitForFunction(() => document.querySelector('[data-testid="explanation"] img')?.complete, null, { timeout: READY_MS });
  assert.equal(await picture(await again.$('[data-testid="explanation"]')), map, 'the same map, pixel for pixel');
  await again.close();
  await page.close();
});

await test('human vs. network: the quiz reveals the truth, the network top-5 and map, and keeps both scores', async () => {
  const { page } = await openApp('?backend=cpu');
  await classifySample(page, 'coffee.png');
  await page.click('[data-testid="quiz-start"]');
  // It switches to the Fashion-MNIST model by itself.
  await page.waitForFunction(() => document.querySelector('[data-testid="model"]')?.textContent.includes('Fashion'),
    null, { timeout: READY_MS });
  await page.waitForSelector('[data-testid="status"][data-state="ready"]', { timeout: READY_MS });
  for (let round = 1; round <= 2; round++) {
    const image = await page.waitForSelector('[data-testid="quiz-image"]');
    const index = await image.getAttribute('data-image');
    const choices = await page.$$eval('[data-testid="quiz-choice"]', (b) => b.map((x) => Number(x.dataset.class)));
    assert.equal(new Set(choices).size, 4, `four different choices: ${choices}`);
    // Round 1 by keyboard (the second choice), round 2 by click (the first).
    if (round === 1) {
      await page.focus('[data-testid="quiz"]');
      await page.keyboard.press('2');
    } else {
      await page.click('[data-testid="quiz-choice"]');
    }
    await page.waitForSelector('[data-testid="quiz-map"]', { timeout: READY_MS });
    // The network saw this very image; the verdict agrees with its top-1 and the true class.
    assert.equal(await page.textContent('[data-testid="crop-source"]'), `quiz image ${index}`);
    const top1 = Number(await page.getAttribute('[data-testid="prediction"]', 'data-class-index'));
    const truth = Number(await page.getAttribute('[data-testid="quiz-choice"].right', 'data-class'));
    assert.ok(choices.includes(truth));
    const verdict = await page.textContent('[data-testid="quiz-verdict"]');
    assert.match(verdict, top1 === truth ? /right too/ : /: wrong\./);
    const score = await page.$eval('[data-testid="quiz-score"]', (e) => [e.dataset.human, e.dataset.network]);
    assert.match(score[0], new RegExp(`^\\d/${round}$`));
    assert.match(score[1], new RegExp(`^\\d/${round}$`));
    if (round === 1) {
      await audit(page, 'quiz revealed');
      await page.focus('[data-testid="quiz"]');
      await page.keyboard.press('Enter');
      await page.waitForFunction((i) => document.querySelector('[data-testid="quiz-image"]')?.dataset.image !== i
        || !document.querySelector('[data-testid="quiz-verdict"]'), index);
    }
  }
  await page.close();
});

await test('export: the maps and the photo as one captioned PNG of the expected size', async () => {
  const { page } = await openApp('?backend=cpu&method=saliency');
  await classifySample(page, 'coffee.png');
  await page.click('[data-testid="explain-compare"]');
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="explanation"]').length === 3
    && [...document.querySelectorAll('[data-testid="explanation"] img')].every((i) => i.complete), null, { timeout: READY_MS });
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('[data-testid="export-maps"]')]);
  assert.match(download.suggestedFilename(), /^convlens-maps-.*\.png$/);
  const png = readFileSync(await download.path());
  assert.equal(png.subarray(1, 4).toString(), 'PNG');
  const [w, h] = [png.readUInt32BE(16), png.readUInt32BE(20)];
  // The photo and three maps, 256 px each with 16 px gaps; title, labels and three caption lines.
  assert.deepEqual([w, h], [16 + 4 * (256 + 16), 40 + 256 + 44 + 3 * 20 + 16]);
  // It decodes in the browser and is not blank.
  const spread = await page.evaluate(async (b64) => {
    const img = new Image();
    img.src = `data:image/png;base64,${b64}`;
    await img.decode();
    const c = document.createElement('canvas');
    c.width = img.naturalWidth; c.height = img.naturalHeight;
    const g = c.getContext('2d');
    g.drawImage(img, 0, 0);
    const d = g.getImageData(0, 40, c.width, 256).data;
    let sum = 0, sq = 0;
    for (let i = 0; i < d.length; i += 4) { sum += d[i]; sq += d[i] * d[i]; }
    const n = d.length / 4;
    return Math.sqrt(sq / n - (sum / n) ** 2);
  }, png.toString('base64'));
  assert.ok(spread > 20, `the pictures are drawn (spread ${spread})`);
  await page.close();
});

await test('a new colour map or view redraws the last map without computing it again', async () => {
  const { page } = await openApp('?backend=cpu&window=57&stride=57');
  await classifySample(page, 'chelsea.png');
  const first = await explain(page, 'occlusion');
  const [lo, cached] = await first.evaluate((f) => [f.querySelector('.legend span').textContent, f.dataset.cached]);
  assert.equal(cached, 'false');
  const picture = (fig) => fig.$eval('img', (img) => {
    const c = document.createElement('canvas');
    c.width = img.naturalWidth; c.height = img.naturalHeight;
    c.getContext('2d').drawImage(img, 0, 0);
    return c.toDataURL();
  });
  const before = await picture(first);
  // (A sweep is signed, so it keeps its red-blue colours; the view changes the picture.)
  await page.selectOption('[data-testid="explain-view"]', 'heat');
  const again = await explain(page, 'occlusion');
  assert.equal(await again.getAttribute('data-cached'), 'true', 'the same sweep is drawn again, not recomputed');
  assert.equal(await again.evaluate((f) => f.querySelector('.legend span').textContent), lo, 'same values');
  assert.notEqual(await picture(again), before, 'in the new view');
  // Another parameter is another map; a new photo forgets the old maps.
  await setInput(page, 'param-stride', 40);
  assert.equal(await (await explain(page, 'occlusion')).getAttribute('data-cached'), 'false');
  await classifySample(page, 'coffee.png');
  await classifySample(page, 'chelsea.png');
  await setInput(page, 'param-stride', 57);
  assert.equal(await (await explain(page, 'occlusion')).getAttribute('data-cached'), 'false');
  await page.close();
});

await test('CPU runs shared with helper workers on the other cores draw the one-worker maps (occlusion exact and approximate, SmoothGrad)', async () => {
  const { page } = await openApp('?backend=cpu&window=40&stride=20');
  await classifySample(page, 'chelsea.png');
  const cores = await page.evaluate(() => navigator.hardwareConcurrency);
  const picture = (fig) => fig.$eval('img', (img) => {
    const c = document.createElement('canvas');
    c.width = img.naturalWidth; c.height = img.naturalHeight;
    c.getContext('2d').drawImage(img, 0, 0);
    return c.toDataURL();
  });
  // The helpers start with the first sweep and join it once their model is loaded; by the
  // second they are ready.
  await explain(page, 'occlusion');
  await page.selectOption('[data-testid="explain-class"]', { index: 1 });
  const shared = await explain(page, 'occlusion');
  const workers = Number(await shared.getAttribute('data-workers'));
  if (cores >= 2) {
    assert.ok(workers >= 2, `${workers} workers on ${cores} cores`);
    assert.match(await shared.evaluate((f) => f.textContent), /on \d CPU workers/);
  } else {
    assert.equal(workers, 1);
  }
  const [sharedPicture, sharedLegend] = [await picture(shared), await shared.evaluate((f) => f.querySelector('.legend').textContent)];
  await page.selectOption('[data-testid="param-parallel"]', 'false');
  const alone = await explain(page, 'occlusion');
  assert.equal(await alone.getAttribute('data-cached'), 'false');
  assert.equal(await alone.getAttribute('data-workers'), '1');
  assert.equal(await alone.evaluate((f) => f.querySelector('.legend').textContent), sharedLegend, 'same values');
  assert.equal(await picture(alone), sharedPicture, 'the same map, pixel for pixel');
  // The approximate sweep too: the helpers cut each layer's region as the main worker does.
  await page.selectOption('[data-testid="param-incremental"]', 'approximate');
  const approxAlone = await explain(page, 'occlusion');
  assert.match(await approxAlone.evaluate((f) => f.textContent), /approximate \(margin 0\.3\)/);
  assert.notEqual(await picture(approxAlone), sharedPicture, 'the approximate map is another map');
  await page.selectOption('[data-testid="param-parallel"]', '');
  const approxShared = await explain(page, 'occlusion');
  if (cores >= 2) assert.ok(Number(await approxShared.getAttribute('data-workers')) >= 2);
  assert.equal(await picture(approxShared), await picture(approxAlone), 'the same approximate map, pixel for pixel');
  await page.selectOption('[data-testid="param-incremental"]', '');
  await page.selectOption('[data-testid="param-parallel"]', 'false');
  // SmoothGrad's batches of noisy copies are shared the same way.
  await page.selectOption('[data-testid="explain-method"]', 'smoothgrad');
  await page.selectOption('[data-testid="param-parallel"]', '');
  const smoothShared = await explain(page, 'smoothgrad');
  if (cores >= 2) assert.ok(Number(await smoothShared.getAttribute('data-workers')) >= 2);
  const smoothPicture = await picture(smoothShared);
  await page.selectOption('[data-testid="param-parallel"]', 'false');
  const smoothAlone = await explain(page, 'smoothgrad');
  assert.equal(await smoothAlone.getAttribute('data-workers'), '1');
  assert.equal(await picture(smoothAlone), smoothPicture, 'the same SmoothGrad map, pixel for pixel');
  await page.close();
});

await test('where the browser has relaxed SIMD the CPU worker is that build, with the plain build\'s answers; refused, the plain one', async () => {
  // scripts/build-relaxed.sh: the same worker with the float product's multiply-adds fused.
  // Chromium has relaxed SIMD, so the page starts that build; `relaxed=false` the plain one.
  assert.ok(existsSync(join(dist, 'worker-relaxed_bg.wasm')), 'the release build holds the relaxed-SIMD worker');
  const loaded = async (query) => {
    const before = server.requested.length;
    const { page } = await openApp(query);
    const top = await classifySample(page, 'coffee.png');
    const requested = server.requested.slice(before);
    await page.close();
    return { top, relaxed: requested.includes('/worker-relaxed_bg.wasm'), plain: requested.includes('/worker_bg.wasm') };
  };
  const fused = await loaded('?backend=cpu');
  const plain = await loaded('?backend=cpu&relaxed=false');
  assert.ok(fused.relaxed && !fused.plain, 'the relaxed-SIMD worker was loaded');
  assert.ok(plain.plain && !plain.relaxed, 'relaxed=false loads the plain worker');
  assert.deepEqual(fused.top.map((p) => p.index), plain.top.map((p) => p.index), 'the same top-5');
  for (const [f, p] of fused.top.map((t, i) => [t.prob, plain.top[i].prob])) {
    assert.ok(Math.abs(f - p) < 1e-4, `probabilities ${f} and ${p}`);
  }
  // A browser that refuses the build (here: a corrupt file in its place) gets the plain worker.
  const copy = mkdtempSync(join(tmpdir(), 'convlens-dist-'));
  cpSync(dist, copy, { recursive: true });
  writeFileSync(join(copy, 'worker-relaxed_bg.wasm'), 'not a wasm module');
  const site = await serve(copy);
  const own = await launch();
  try {
    const page = await own.newPage();
    await page.goto(`${site.origin}/?backend=cpu`);
    await page.waitForSelector('[data-testid="status"][data-state="ready"]', { timeout: READY_MS });
    assert.ok(site.requested.includes('/worker-relaxed_bg.wasm') && site.requested.includes('/worker_bg.wasm'),
      'tried the relaxed build, then loaded the plain one');
    assert.equal((await classifySample(page, 'coffee.png'))[0].label, 'espresso');
    // A build without it (`trunk serve`: its page carries no mark) asks for none of its files.
    const index = join(copy, 'index.html');
    writeFileSync(index, readFileSync(index, 'utf8').replace(/\s*<meta name="convlens-relaxed"[^>]*>/, ''));
    // (A browser of its own without service workers, the first one closed: its service worker
    // may still be caching files.)
    await own.close();
    const fresh = await launch({ serviceWorkers: 'block' });
    try {
      const before = site.requested.length;
      const unmarked = await fresh.newPage();
      await unmarked.goto(`${site.origin}/?backend=cpu`);
      await unmarked.waitForSelector('[data-testid="status"][data-state="ready"]', { timeout: READY_MS });
      const asked = site.requested.slice(before);
      assert.ok(asked.includes('/worker_bg.wasm') && !asked.some((p) => p.includes('relaxed')), `asked for ${asked.join(', ')}`);
    } finally {
      await fresh.close();
    }
  } finally {
    await own.close();
    await site.close();
  }
});

await test('a cross-origin-isolated page computes on CPU threads, with the same answers as one thread', async () => {
  // The threaded CPU worker (scripts/build-threads.sh) against the single-thread one on the
  // same model, photo and sweep: the parallel loops sum in the same order, so the top-5 and the
  // occlusion map agree to the bit. (`parallel=false`: the sweep stays on the worker, so the
  // threaded page sweeps on its threads rather than handing the windows to a helper.)
  const query = '?backend=cpu&method=occlusion&window=57&stride=57&parallel=false';
  const site = await serve(dist, { isolated: true });
  const own = await launch();
  try {
    const page = await own.newPage();
    const errors = [];
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${site.origin}/${query}`);
    await page.waitForSelector('[data-testid="status"][data-state="ready"]', { timeout: READY_MS });
    assert.ok(await page.evaluate(() => self.crossOriginIsolated), 'the page is cross-origin isolated');
    assert.ok(site.requested.includes('/convlens-threads_bg.wasm'), 'the threaded worker was loaded');
    const note = await page.textContent('[data-testid="backend-note"]');
    const cores = await page.evaluate(() => navigator.hardwareConcurrency);
    console.log(`     ${cores} cores; note: ${note}`);
    if (cores >= 2) assert.match(note, /\d threads/, 'the pool started');
    const threaded = await classifySample(page, 'coffee.png');
    const threadedMs = Number(await page.textContent('[data-testid="forward-ms"]'));
    const picture = async (fig) => fig.$eval('img', (img) => {
      const c = document.createElement('canvas');
      c.width = img.naturalWidth; c.height = img.naturalHeight;
      c.getContext('2d').drawImage(img, 0, 0);
      return c.toDataURL();
    });
    const threadedMap = await picture(await explain(page, 'occlusion', READY_MS));
    assert.deepEqual(errors, []);
    await constructorsRanOnce(page);

    // (The plain single-thread build: the threaded one has no relaxed SIMD, whose fused
    // multiply-adds round differently.)
    const { page: single } = await openApp(`${query}&relaxed=false`);
    const alone = await classifySample(single, 'coffee.png');
    const aloneMs = Number(await single.textContent('[data-testid="forward-ms"]'));
    assert.equal(await single.$('[data-testid="backend-note"]').then((n) => n?.textContent()).then((t) => /threads/.test(t ?? '')), false);
    const aloneMap = await picture(await explain(single, 'occlusion', READY_MS));
    console.log(`     forward: ${threadedMs} ms threaded, ${aloneMs} ms on one thread`);
    assert.deepEqual(threaded, alone, 'the same top-5 and probabilities');
    assert.equal(threadedMap, aloneMap, 'the same occlusion map, pixel for pixel');
    await single.close();

    // "Best for this device" in a browser that offers WebGPU but finds no adapter for it: the
    // page asks before starting a worker, and computes on the CPU's threads.
    const bare = await own.newPage();
    await bare.addInitScript(() => { if (navigator.gpu) navigator.gpu.requestAdapter = async () => null; });
    const before = site.requested.length;
    await bare.goto(`${site.origin}/`);
    await bare.waitForSelector('[data-testid="status"][data-state="ready"]', { timeout: READY_MS });
    assert.ok(site.requested.slice(before).includes('/convlens-threads_bg.wasm'), 'the threaded worker was loaded');
    const bareNote = await bare.textContent('[data-testid="backend-note"]');
    console.log(`     no adapter: ${bareNote}`);
    assert.match(bareNote, /no usable graphics adapter/);
    if (cores >= 2) assert.match(bareNote, /\d threads/);
    assert.deepEqual((await classifySample(bare, 'coffee.png')).slice(0, 1), threaded.slice(0, 1), 'the same top class');
    await bare.close();
  } finally {
    await own.close();
    await site.close();
  }
});

await test('after one visit the app works offline (service worker)', async () => {
  const site = await serve(dist);
  const offline = await launch();
  try {
    const page = await offline.newPage();
    await page.goto(`${site.origin}/?backend=cpu`);
    await page.waitForSelector('[data-testid="status"][data-state="ready"]', { timeout: READY_MS });
    // The worker takes control once every file is in its cache.
    await page.waitForFunction(() => navigator.serviceWorker?.controller != null, null, { timeout: 120_000 });
    const kept = await page.evaluate(async () => {
      let n = 0;
      for (const k of await caches.keys()) n += (await (await caches.open(k)).keys()).length;
      return n;
    });
    assert.ok(kept > 20, `${kept} files kept`);
    // Of the CPU worker's builds, the one this browser runs (relaxed SIMD, in Chromium).
    const workers = await page.evaluate(async () => {
      const names = [];
      for (const k of await caches.keys()) names.push(...(await (await caches.open(k)).keys()).map((r) => new URL(r.url).pathname));
      return names.filter((n) => /worker(-relaxed)?_bg\.wasm$/.test(n));
    });
    assert.deepEqual(workers.map((n) => n.split('/').pop()), ['worker-relaxed_bg.wasm'], 'the relaxed-SIMD worker kept, not the plain one');
    await site.close();
    await offline.setOffline(true);
    const asked = site.requested.length;
    await page.reload();
    await page.waitForSelector('[data-testid="status"][data-state="ready"]', { timeout: READY_MS });
    const top = await classifySample(page, 'coffee.png');
    assert.equal(top[0].label, 'espresso');
    await explain(page, 'saliency');
    // Another bundled model and its dataset come from the cache too.
    await page.selectOption('[data-testid="model-picker"]', 'fashion-mnist');
    await page.waitForFunction(() => document.querySelector('[data-testid="model"]')?.textContent.includes('Fashion'),
      null, { timeout: READY_MS });
    await page.waitForSelector('[data-testid="status"][data-state="ready"]', { timeout: READY_MS });
    assert.equal(site.requested.length, asked, 'nothing reached the (closed) server');
  } finally {
    await offline.close();
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
