// Browser benchmark, headless Chromium, per backend: time from page load to first prediction,
// forward latency (median of N classifications of coffee.png), each attribution method's
// latency (median of 3), an occlusion sweep naive vs incremental (on the CPU also approximate,
// and all three on every core; each sweep the median of 3 after one more),
// and the live occluder's
// update time while dragging.
// Also (part "optimize") the steps per second of class visualization (227 px) and neural style
// (256 px), and one class-visualization step against one forward + backward pass.
// Also (part "anatomy", Fashion-MNIST model and its 2,000 bundled images) the top-patch search
// (one pass of the dataset), the codes pass, and t-SNE of 2,000 codes (1000 iterations).
// Also (part "models") per architecture: opening the .onnx file until the first prediction, and the
// forward latency (median and p90), against onnxruntime-web 1.30 on the same file in the same
// browser: its wasm execution provider on one thread (its runs alternate with convlens' forward
// passes, in a tab of its own) and (CPU only, the page cross-origin
// isolated) on two, and its WebGPU provider. Needs `python3 tools/make_bench_models.py` first
// (full-size ResNet-18/50, MobileNetV2, SqueezeNet fp32); installs onnxruntime-web into
// tools/ort-web if missing. In the same page, convlens' own work on each file: a forward +
// backward pass (saliency, median of 3), one class-visualization step and one neural-style step
// (128 px), and on the CPU an occlusion sweep (window 1/4 of the input, stride half that) naive
// and incremental on one worker, and incremental (exact and approximate) shared with helper
// workers on the other cores.
// Also (part "soak", not in the default parts) `runs` consecutive maps in one page, cycling
// saliency, guided backprop, deconvnet and Grad-CAM: the page's JS heap and the worker's wasm
// memory every tenth of the way, which must stay flat, and on WebGPU the worker's GPU buffers
// (counted by wrapping createBuffer and destroy, garbage-collected ones included).
// SOAK_MODEL=fashion-mnist soaks the small model instead of SqueezeNet.
// Usage: node tests/browser/bench.mjs dist [runs=20] [backends=cpu,webgpu] [parts=forward,methods,optimize,anatomy,models,soak]
// (MODELS=name,name: the part "models" only on the files whose paths contain one of them;
// NO_PEER=1: convlens alone there, without the peer's single-thread tab open beside it)
import { serve } from './serve.mjs';
import { launch } from './browser.mjs';
import { modelChart } from './chart.mjs';
import { explainMs, openModelPage, openSamplePage, setInput } from './model-page.mjs';

const dist = process.argv[2] ?? 'dist';
const runs = Number(process.argv[3] ?? 20);
const server = await serve(dist);
// No service worker: timings are of the network path, not of its cache.
// `gc()` in the worker too, so the soak can count what garbage collection would free.
const context = await launch({ serviceWorkers: 'block', flags: ['--js-flags=--expose-gc'] });
const p90 = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.ceil(0.9 * s.length) - 1)]; };
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };

// The architectures of the model benchmark: [file, input shape].
const BENCH_MODELS = [
  ['static/models/fashion-mnist-cnn-int8.onnx', [1, 1, 28, 28]],
  ['static/models/squeezenet1_1-int8.onnx', [1, 3, 227, 227]],
  ['target/bench-models/squeezenet1_1-fp32.onnx', [1, 3, 227, 227]],
  ['static/models/efficientnet_lite0-int8.onnx', [1, 3, 224, 224]],
  ['target/bench-models/mobilenetv2.onnx', [1, 3, 224, 224]],
  ['target/bench-models/resnet18.onnx', [1, 3, 224, 224]],
  ['target/bench-models/resnet18_int8_qdq.onnx', [1, 3, 224, 224]],
  ['target/bench-models/resnet50.onnx', [1, 3, 224, 224]],
];

const parts = (process.argv[5] ?? 'forward,methods,optimize,anatomy').split(',');
const results = [];
for (const backend of (process.argv[4] ?? 'cpu,webgpu').split(',')) {
  if (parts.includes('forward')) await forward(backend);
  if (parts.includes('methods')) await methods(backend);
  if (parts.includes('optimize')) await optimize(backend);
  if (parts.includes('anatomy')) await anatomy(backend);
  if (parts.includes('models')) await models(backend);
  if (parts.includes('soak')) await soak(backend);
}
console.log(JSON.stringify(results));
// The results as a file, and the model comparison as an SVG chart (BENCH_OUT, default target/bench).
{
  const { mkdirSync, writeFileSync } = await import('node:fs');
  const out = process.env.BENCH_OUT ?? 'target/bench';
  mkdirSync(out, { recursive: true });
  writeFileSync(`${out}/results.json`, JSON.stringify(results, null, 1));
  const rows = results.filter((r) => r.what === 'model');
  if (rows.length) {
    writeFileSync(`${out}/models.svg`, modelChart(rows));
    console.log(`wrote ${out}/results.json and ${out}/models.svg`);
  }
}


await context.close();
await server.close();

async function forward(backend) {
  const page = await context.newPage();
  const t0 = Date.now();
  await page.goto(`${server.origin}/?backend=${backend}`);
  await page.waitForSelector('[data-testid="status"][data-state="ready"]', { timeout: 600_000 });
  const readyMs = Date.now() - t0;
  const times = [];
  for (let i = 0; i <= runs; i++) {
    const name = `run${i}.png`;
    await page.setInputFiles('[data-testid="image-input"]', { name, mimeType: 'image/png', buffer: await (await import('node:fs/promises')).readFile('static/samples/coffee.png') });
    await page.waitForFunction((n) => document.querySelector('[data-testid="crop-source"]')?.textContent === n
      && document.querySelector('[data-testid="status"]').dataset.state === 'ready', name, { timeout: 600_000 });
    if (i === 0) console.log(`${backend}: page load → first prediction ${Date.now() - t0} ms (ready after ${readyMs} ms)`);
    else times.push(Number(await page.textContent('[data-testid="forward-ms"]')));
  }
  console.log(`${backend}: forward latency median of ${runs}: ${median(times).toFixed(1)} ms (min ${Math.min(...times).toFixed(1)}, max ${Math.max(...times).toFixed(1)})`);
  results.push({ backend, what: 'forward', ms: median(times) });
  await page.close();
}

async function methods(backend) {
  const light = 'samples=8&steps=16';
  // On the CPU, SmoothGrad and Integrated Gradients also on one worker (the light page shares
  // them with helper workers on the other cores).
  const lightAlone = `${light}&parallel=false`;
  const sweeps = backend === 'cpu' ? ['32,16', '64,32'] : ['64,32'];
  for (const query of [light, ...(backend === 'cpu' ? [lightAlone] : []), ...sweeps.flatMap((ws) => {
    const [w, s] = ws.split(',');
    const q = `method=occlusion&window=${w}&stride=${s}`;
    // On the CPU: one worker naive, incremental and approximate, then incremental, approximate
    // and naive on every core (the last for a like-for-like ratio of the shared sweeps).
    const approx = `${q}&incremental=true&approximate=0.3`;
    return backend === 'cpu'
      ? [`${q}&incremental=false&parallel=false`, `${q}&incremental=true&parallel=false`, `${approx}&parallel=false`,
        `${q}&incremental=true`, approx, `${q}&incremental=false`]
      : [`${q}&incremental=false`, `${q}&incremental=true`];
  })]) {
    const page = await openSamplePage(context, `${server.origin}/?backend=${backend}&${query}`);
    const list = query === light
      ? ['saliency', 'guided-backprop', 'deconvnet', 'smoothgrad', 'integrated-gradients', 'grad-cam', 'guided-grad-cam']
      : query === lightAlone ? ['smoothgrad', 'integrated-gradients'] : ['occlusion'];
    for (const method of list) {
      const times = [];
      // A sweep runs four times, each for another class, and the median of the last three
      // counts: the first starts the helper workers (on every core) and is where the browser
      // compiles the sweep's code fully.
      const shared = method === 'occlusion' && backend === 'cpu' && !query.includes('parallel');
      const runs = method === 'occlusion' ? 4 : 3;
      for (let i = 0; i < runs; i++) times.push(await explainMs(page, method, i));
      const ms = method === 'occlusion' ? median(times.slice(1)) : median(times);
      let label = method === 'occlusion' ? `occlusion ${query.replace('method=occlusion&', '')}` : method;
      const workers = await page.getAttribute('[data-testid="explanation"]', 'data-workers');
      if (shared || (query === light && workers !== '1')) label += ` (${workers} workers)`;
      if (query === lightAlone) label += ' (one worker)';
      console.log(`${backend}: ${label}: ${ms.toFixed(0)} ms${method === 'occlusion' ? ` (runs ${times.map((t) => t.toFixed(0)).join(', ')})` : ''}`);
      results.push({ backend, what: label, ms, ...(method === 'occlusion' ? { runs_ms: times } : {}) });
    }
    if (query === light) {
      // The live occluder: drag across the cat and read each update's compute time.
      await page.click('[data-testid="occluder-toggle"]');
      const box = await (await page.$('[data-testid="crop"]')).boundingBox();
      await page.mouse.move(box.x + 20, box.y + 20);
      await page.mouse.down();
      const updates = [];
      const t0 = Date.now();
      for (let k = 0; k < 12; k++) {
        await page.mouse.move(box.x + 20 + k * 15, box.y + 20 + k * 15);
        const h = await page.waitForFunction(() => Number(document.querySelector('[data-testid="occluder-prob"]').dataset.ms), null, { timeout: 600_000 });
        updates.push(await h.jsonValue());
      }
      const perSecond = (12 / ((Date.now() - t0) / 1000));
      await page.mouse.up();
      console.log(`${backend}: live occluder: ${median(updates).toFixed(0)} ms per update, ${perSecond.toFixed(1)} updates/s while dragging`);
      results.push({ backend, what: 'live occluder update', ms: median(updates), per_second: perSecond });
    }
    await page.close();
  }
}

/** Waits for the running optimization to finish; its steps per second (worker compute time). */
async function optimizationRate(page) {
  const before = await page.$eval('[data-testid="opt-steps"]', (e) => e.dataset.id).catch(() => '');
  await page.click('[data-testid="opt-start"]');
  await page.waitForFunction((id) => {
    const e = document.querySelector('[data-testid="opt-steps"]');
    return e && e.dataset.id !== id && e.dataset.running === 'false' && /done in/.test(e.textContent);
  }, before, { timeout: 1_800_000 });
  const text = await page.textContent('[data-testid="opt-steps"]');
  return [Number(/([0-9.]+) steps\/s/.exec(text)[1]), text];
}


/**
 * Class visualization at the model's input size (32 steps) and neural style at 256 px (16 steps
 * on the CPU, 8 on WebGPU): steps per second as the worker reports them (compute time). Then a
 * saliency map (one forward + backward, median of 3) gives the ratio of a class-visualization
 * step to a forward + backward pass.
 */
async function optimize(backend) {
  const page = await context.newPage();
  await page.goto(`${server.origin}/?backend=${backend}`);
  await page.waitForSelector('[data-testid="status"][data-state="ready"]', { timeout: 600_000 });
  await setInput(page, 'opt-steps-input', 32);
  const [rate, text] = await optimizationRate(page);
  console.log(`${backend}: class visualization 227 px: ${rate} steps/s (${text})`);
  results.push({ backend, what: 'class visualization steps/s', per_second: rate });

  await page.click('[data-testid="sample"][data-sample="chelsea.png"]');
  await page.waitForSelector('[data-testid="explain-run"]', { timeout: 600_000 });
  await page.waitForSelector('[data-testid="status"][data-state="ready"]');
  await page.selectOption('[data-testid="opt-kind"]', 'style');
  await setInput(page, 'opt-size', 256);
  await setInput(page, 'opt-steps-input', backend === 'cpu' ? 16 : 8);
  const [styleRate, styleText] = await optimizationRate(page);
  console.log(`${backend}: neural style 256 px: ${styleRate} steps/s (${styleText})`);
  results.push({ backend, what: 'neural style 256 px steps/s', per_second: styleRate });

  const times = [];
  for (let i = 0; i < 3; i++) times.push(await explainMs(page, 'saliency', i));
  const ratio = 1000 / rate / median(times);
  console.log(`${backend}: one class-visualization step = ${ratio.toFixed(2)} × one forward + backward (saliency ${median(times).toFixed(0)} ms)`);
  results.push({ backend, what: 'class-vis step / forward+backward', ratio, saliency_ms: median(times) });
  await page.close();
}

async function anatomy(backend) {
  const page = await context.newPage();
  await page.goto(`${server.origin}/?backend=${backend}&model=fashion-mnist`);
  await page.waitForSelector('[data-testid="status"][data-state="ready"]', { timeout: 600_000 });
  await page.click('[data-testid="sample"][data-sample="fashion/sneaker.png"]');
  await page.waitForFunction(() => document.querySelector('[data-testid="crop-source"]')?.textContent === 'fashion/sneaker.png'
    && document.querySelector('[data-testid="status"]').dataset.state === 'ready', null, { timeout: 600_000 });
  const idle = () => page.waitForFunction(() => !document.querySelector('[data-testid="anatomy-progress"]'), null, { timeout: 1_800_000 });
  await page.click('[data-testid="anatomy-tab-patches"]');
  let t0 = Date.now();
  await page.click('[data-testid="dataset-bundled"]');
  await idle();
  const loadMs = Date.now() - t0;
  await page.selectOption('[data-testid="patches-layer"]', 'conv3_relu');
  await page.click('[data-testid="patches-run"]');
  await idle();
  const patchesMs = Number(await page.getAttribute('[data-testid="patches-image"]', 'data-ms'));
  await page.click('[data-testid="anatomy-tab-neighbours"]');
  t0 = Date.now();
  await page.click('[data-testid="neighbours-run"]');
  await idle();
  const codesMs = Date.now() - t0;
  await page.click('[data-testid="anatomy-tab-tsne"]');
  await page.click('[data-testid="tsne-run"]');
  await page.waitForSelector('[data-testid="tsne-status"][data-done="true"]', { timeout: 1_800_000 });
  const tsneMs = Number(await page.getAttribute('[data-testid="tsne-status"]', 'data-ms'));
  console.log(`${backend}: Fashion-MNIST 2000 images: load ${loadMs} ms, top patches of conv3_relu ${patchesMs.toFixed(0)} ms, codes + neighbours ${codesMs} ms, t-SNE 1000 iterations ${tsneMs.toFixed(0)} ms`);
  results.push({ backend, what: 'anatomy', loadMs, patchesMs, codesMs, tsneMs });
  await page.close();
}

async function models(backend) {
  const { existsSync } = await import('node:fs');
  const { execSync } = await import('node:child_process');
  if (!existsSync('tools/ort-web/node_modules/onnxruntime-web/dist/ort.all.min.js')) {
    execSync('npm install --no-audit --no-fund', { cwd: 'tools/ort-web', stdio: 'inherit' });
  }
  const root = await serve('.');
  const isolatedRoot = await serve('.', { isolated: true });
  const isolatedDist = await serve(dist, { isolated: true });
  const ep = backend === 'cpu' ? 'wasm' : 'webgpu';
  // MODELS=fashion,squeezenet1_1-int8 times only the files whose names contain one of those.
  const only = process.env.MODELS?.split(',');
  for (const [file, shape] of BENCH_MODELS) {
    if (only && !only.some((m) => file.includes(m))) continue;
    if (!existsSync(file)) { console.log(`${file} is missing: run python3 tools/make_bench_models.py`); continue; }
    const name = file.split('/').pop();
    // convlens: open the file in the page, wait for the photo's prediction, then classify N times.
    const { page, classify, loadMs: oursLoad } = await openModelPage(context, server.origin, backend, file);
    // onnxruntime-web (one thread): session creation plus a first run in a page of its own,
    // then N runs (outputs read back), each right after one of convlens' forward passes, so
    // that both see the same moments of a shared machine's load.
    const peer = process.env.NO_PEER ? { error: 'not opened (NO_PEER)' } : await peerOpen(root, file, ep, shape, 1);
    const ours = [];
    const theirs = peer.error ? { error: peer.error } : { loadMs: peer.loadMs, times: [] };
    for (let i = 0; i < runs; i++) {
      ours.push(await classify(`run${i}.png`));
      if (!peer.error) theirs.times.push(await peer.time());
    }
    if (!peer.error) await peer.close();
    const work = await modelWork(page, backend, shape[3]);
    await page.close();
    // Two threads last, alone: their pool's threads would compete with convlens' worker. And
    // convlens' threaded CPU worker, which a cross-origin-isolated page gets.
    const threaded = backend === 'cpu' ? await peerRun(isolatedRoot, file, ep, shape, 2) : null;
    const oursThreaded = backend === 'cpu' ? await oursRun(isolatedDist.origin, file) : null;
    const row = { backend, what: 'model', model: name, ours_load_ms: oursLoad, ours_ms: median(ours), ours_p90_ms: p90(ours), ...work };
    let line = `${backend} ${name}: convlens open ${oursLoad} ms, forward ${median(ours).toFixed(1)} ms (p90 ${p90(ours).toFixed(1)}), `
      + Object.entries(work).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ');
    if (theirs.error) {
      row.ort_error = theirs.error;
      line += `; onnxruntime-web ${ep} failed: ${theirs.error}`;
    } else {
      Object.assign(row, { ort_load_ms: theirs.loadMs, ort_ms: median(theirs.times), ort_p90_ms: p90(theirs.times) });
      // Also the median of the pairs' ratios (each forward pass against the peer's run right
      // after it), which a load that comes and goes moves less.
      const paired = median(ours.map((t, i) => t / theirs.times[i]));
      row.paired_ratio = paired;
      line += `; onnxruntime-web ${ep} open ${theirs.loadMs.toFixed(0)} ms, run ${median(theirs.times).toFixed(1)} ms `
        + `(p90 ${p90(theirs.times).toFixed(1)}); ratio ${(median(ours) / median(theirs.times)).toFixed(2)}×`
        + ` (paired ${paired.toFixed(2)}×)`;
    }
    if (threaded && !threaded.error) {
      Object.assign(row, { ort_2threads_ms: median(threaded.times), ort_2threads_p90_ms: p90(threaded.times) });
      line += `; 2 threads run ${median(threaded.times).toFixed(1)} ms (ratio ${(median(ours) / median(threaded.times)).toFixed(2)}×)`;
    } else if (threaded) {
      row.ort_2threads_error = threaded.error;
    }
    if (oursThreaded) {
      Object.assign(row, { ours_threaded_ms: median(oursThreaded.times), ours_threaded_p90_ms: p90(oursThreaded.times), ours_threads_note: oursThreaded.note });
      line += `; convlens threaded (${oursThreaded.note}) ${median(oursThreaded.times).toFixed(1)} ms`;
      if (threaded && !threaded.error) line += ` (ratio to 2 threads ${(median(oursThreaded.times) / median(threaded.times)).toFixed(2)}×)`;
    }
    console.log(line);
    results.push(row);
  }
  await root.close();
  await isolatedRoot.close();
  await isolatedDist.close();
}

/** convlens' CPU forward on `file`, `runs` times in a page of its own at `origin`; the backend note. */
async function oursRun(origin, file) {
  const { page, classify, note } = await openModelPage(context, origin, 'cpu', file);
  const times = [];
  for (let i = 0; i < runs; i++) times.push(await classify(`threaded${i}.png`));
  await page.close();
  return { times, note };
}

/**
 * convlens' own work on the model open in `page` (the photo shown): forward + backward (a
 * saliency map, median of 3), one class-visualization step and one neural-style step at 128 px
 * (worker compute time per step), and on the CPU an occlusion sweep naive and incremental on one worker, and incremental on every core.
 */
async function modelWork(page, backend, side) {
  const work = {};
  const times = [];
  for (let i = 0; i < 3; i++) times.push(await explainMs(page, 'saliency', i));
  work.fwd_bwd_ms = median(times);
  if (backend === 'cpu') {
    const window = Math.round(side / 4);
    await page.selectOption('[data-testid="explain-method"]', 'occlusion');
    await setInput(page, 'param-window', window);
    await setInput(page, 'param-stride', Math.round(window / 2));
    for (const incremental of [false, true]) {
      await page.selectOption('[data-testid="explain-method"]', 'occlusion');
      await page.selectOption('[data-testid="param-incremental"]', String(incremental));
      await page.selectOption('[data-testid="param-parallel"]', 'false');
      work[incremental ? 'sweep_incremental_ms' : 'sweep_naive_ms'] = await explainMs(page, 'occlusion');
    }
    // Incremental on every core (helper workers); the first run starts the helpers.
    await page.selectOption('[data-testid="param-parallel"]', '');
    await explainMs(page, 'occlusion', 1);
    work.sweep_parallel_ms = await explainMs(page, 'occlusion', 2);
    work.sweep_workers = Number(await page.getAttribute('[data-testid="explanation"]', 'data-workers'));
    // The approximate incremental sweep (margin 0.3), on every core.
    await page.selectOption('[data-testid="param-incremental"]', 'approximate');
    work.sweep_approximate_ms = await explainMs(page, 'occlusion', 3);
    await page.selectOption('[data-testid="param-incremental"]', 'true');
  }
  await page.selectOption('[data-testid="opt-kind"]', 'class-vis');
  await setInput(page, 'opt-steps-input', 4);
  work.class_vis_step_ms = 1000 / (await optimizationRate(page))[0];
  await page.selectOption('[data-testid="opt-kind"]', 'style');
  await setInput(page, 'opt-size', 128);
  await setInput(page, 'opt-steps-input', 3);
  work.style_step_ms = 1000 / (await optimizationRate(page))[0];
  return work;
}

/**
 * onnxruntime-web on `file` in a page of its own: the session is created and run once (the
 * open time), then `time()` times one more run (outputs read back). `{ error }` if it failed.
 */
async function peerOpen(origin, file, ep, shape, threads) {
  const peer = await context.newPage();
  await peer.goto(`${origin.origin}/tools/ort-web/index.html`);
  try {
    if (threads > 1 && !(await peer.evaluate(() => self.crossOriginIsolated))) throw new Error('not cross-origin isolated');
    const loadMs = await peer.evaluate(async ({ url, ep, shape, threads }) => {
      ort.env.wasm.numThreads = threads;
      ort.env.wasm.wasmPaths = '/tools/ort-web/node_modules/onnxruntime-web/dist/';
      const bytes = new Uint8Array(await (await fetch(url)).arrayBuffer());
      const t0 = performance.now();
      const session = await ort.InferenceSession.create(bytes, { executionProviders: [ep], graphOptimizationLevel: 'all' });
      const n = shape.reduce((a, b) => a * b, 1);
      const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', new Float32Array(n).fill(0.5), shape) };
      await session.run(feeds);
      Object.assign(self, { benchSession: session, benchFeeds: feeds });
      return performance.now() - t0;
    }, { url: `/${file}`, ep, shape, threads });
    const time = () => peer.evaluate(async () => {
      const t = performance.now();
      const out = await self.benchSession.run(self.benchFeeds);
      if (!out[self.benchSession.outputNames[0]].data.length) throw new Error('no output');
      return performance.now() - t;
    });
    const close = async () => { await peer.evaluate(() => self.benchSession.release()); await peer.close(); };
    return { loadMs, time, close };
  } catch (e) {
    await peer.close();
    return { error: String(e.message ?? e).split('\n')[0] };
  }
}

/** onnxruntime-web on `file`: open (session + first run) and `runs` timed runs, or `{ error }`. */
async function peerRun(origin, file, ep, shape, threads) {
  const peer = await peerOpen(origin, file, ep, shape, threads);
  if (peer.error) return peer;
  try {
    const times = [];
    for (let i = 0; i < runs; i++) times.push(await peer.time());
    return { loadMs: peer.loadMs, times };
  } catch (e) {
    return { error: String(e.message ?? e).split('\n')[0] };
  } finally {
    await peer.close();
  }
}

async function soak(backend) {
  // SOAK_MODEL=fashion-mnist soaks the small bundled model (WebGPU on SwiftShader runs its maps in
  // a fraction of a second, SqueezeNet's in about two).
  const fashion = process.env.SOAK_MODEL === 'fashion-mnist';
  const page = await context.newPage();
  await page.goto(`${server.origin}/?backend=${backend}${fashion ? '&model=fashion-mnist' : ''}`);
  await page.waitForSelector('[data-testid="status"][data-state="ready"]', { timeout: 600_000 });
  const photo = fashion ? 'fashion/sneaker.png' : 'chelsea.png';
  await page.click(`[data-testid="sample"][data-sample="${photo}"]`);
  await page.waitForFunction((n) => document.querySelector('[data-testid="crop-source"]')?.textContent === n
    && document.querySelector('[data-testid="status"]').dataset.state === 'ready', photo, { timeout: 600_000 });
  const cdp = await context.newCDPSession(page);
  await cdp.send('HeapProfiler.enable');
  const worker = page.workers()[0];
  // The worker's GPU buffers from here on: made, destroyed, and freed by garbage collection
  // without a destroy. What is left of them is what the soak holds on the GPU.
  const gpu = backend === 'webgpu' && worker && await worker.evaluate(() => {
    if (typeof GPUDevice === 'undefined') return false;
    const live = new Map();
    const ids = new WeakMap();
    const counts = { made: 0, destroyed: 0, collected: 0 };
    let next = 0;
    const freed = new FinalizationRegistry((id) => { if (live.delete(id)) counts.collected++; });
    const make = GPUDevice.prototype.createBuffer;
    GPUDevice.prototype.createBuffer = function (desc) {
      const buffer = make.call(this, desc);
      const id = next++;
      ids.set(buffer, id);
      live.set(id, Number(desc.size));
      counts.made++;
      freed.register(buffer, id);
      return buffer;
    };
    const destroy = GPUBuffer.prototype.destroy;
    GPUBuffer.prototype.destroy = function () {
      if (live.delete(ids.get(this))) counts.destroyed++;
      return destroy.call(this);
    };
    self.convlensGpuBuffers = () => {
      let bytes = 0;
      for (const size of live.values()) bytes += size;
      return { live: live.size, bytes, ...counts };
    };
    return true;
  });
  const sample = async (done) => {
    await cdp.send('HeapProfiler.collectGarbage');
    const heap = await page.evaluate(() => performance.memory.usedJSHeapSize);
    const wasm = worker ? await worker.evaluate(() => self.convlensWasmBytes ?? null) : null;
    let buffers = null;
    if (gpu) {
      await worker.evaluate(() => self.gc?.());
      // Finalizers run after the collection, as tasks of their own.
      await new Promise((r) => setTimeout(r, 200));
      buffers = await worker.evaluate(() => self.convlensGpuBuffers());
    }
    const row = { backend, what: 'soak', model: fashion ? 'fashion-mnist' : 'squeezenet', runs: done,
      js_heap_bytes: heap, worker_wasm_bytes: wasm, gpu_buffers: buffers };
    const gpuText = buffers ? `, GPU buffers made since the start ${buffers.made}, live ${buffers.live} (${(buffers.bytes / 1048576).toFixed(2)} MB; ${buffers.destroyed} destroyed, ${buffers.collected} collected)` : '';
    console.log(`${backend}: after ${done} maps: page JS heap ${(heap / 1048576).toFixed(1)} MB, worker wasm memory ${wasm === null ? '?' : (wasm / 1048576).toFixed(1) + ' MB'}${gpuText}`);
    results.push(row);
  };
  const methods = ['saliency', 'guided-backprop', 'deconvnet', 'grad-cam'];
  const t0 = Date.now();
  await sample(0);
  for (let i = 1; i <= runs; i++) {
    await explainMs(page, methods[i % methods.length], Math.floor(i / methods.length));
    if (i % Math.max(1, Math.floor(runs / 10)) === 0) await sample(i);
  }
  console.log(`${backend}: ${runs} maps in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  await page.close();
}
