// A convlens page with a model file opened, and the controls the benchmarks drive (bench.mjs,
// bench-threads.mjs, profile-worker.mjs).
import { readFile } from 'node:fs/promises';

const WAIT = { timeout: 600_000 };

/**
 * Opens `${origin}/?backend=${backend}` in `context`, classifies coffee.png once, then opens the
 * model `file` (none: the bundled one). Answers the page, a function that classifies
 * coffee.png under a new name and answers the forward time, how long opening the file took
 * until its first prediction, and the backend note.
 */
export async function openModelPage(context, origin, backend, file) {
  const page = await context.newPage();
  await page.goto(`${origin}/?backend=${backend}`);
  await page.waitForSelector('[data-testid="status"][data-state="ready"]', WAIT);
  const coffee = await readFile('static/samples/coffee.png');
  const classify = async (tag) => {
    await page.setInputFiles('[data-testid="image-input"]', { name: tag, mimeType: 'image/png', buffer: coffee });
    await page.waitForFunction((n) => document.querySelector('[data-testid="crop-source"]')?.textContent === n
      && document.querySelector('[data-testid="status"]').dataset.state === 'ready', tag, WAIT);
    return Number(await page.textContent('[data-testid="forward-ms"]'));
  };
  await classify('first.png');
  const t0 = Date.now();
  if (file) {
    const name = file.split('/').pop();
    await page.setInputFiles('[data-testid="model-file"]', file);
    await page.waitForFunction((n) => (document.querySelector('[data-testid="model-picker"]').selectedOptions[0]?.textContent ?? '').includes(n)
      && document.querySelector('[data-testid="status"]').dataset.state === 'ready', name, WAIT);
  }
  const loadMs = Date.now() - t0;
  const note = (await page.$('[data-testid="backend-note"]').then((n) => n?.textContent())) ?? '';
  return { page, classify, loadMs, note };
}

/**
 * Opens `url` in a new page of `context`, waits for the model, then shows the bundled photo
 * `sample` and waits until it is classified. Answers the page.
 */
export async function openSamplePage(context, url, sample = 'chelsea.png') {
  const page = await context.newPage();
  await page.goto(url);
  await page.waitForSelector('[data-testid="status"][data-state="ready"]', WAIT);
  await page.click(`[data-testid="sample"][data-sample="${sample}"]`);
  await page.waitForSelector('[data-testid="explain-run"]', WAIT);
  await page.waitForSelector('[data-testid="status"][data-state="ready"]');
  return page;
}

/** Sets a number or text input and fires its change event. */
export async function setInput(page, testid, value) {
  await page.fill(`[data-testid="${testid}"]`, String(value));
  await page.dispatchEvent(`[data-testid="${testid}"]`, 'change');
}

/**
 * Runs `method` and answers the worker's compute time. The worker keeps the maps it made for the
 * shown image, so repeated runs explain the `k`-th of the top-5 classes (the same work, another
 * answer) and a map drawn from that copy is refused. The page is checked every `polling` ms.
 */
export async function explainMs(page, method, k = 0, polling = 50) {
  const before = await page.$$eval('[data-testid="explanation"]', (f) => (f[0] ? f[0].dataset.id : ''));
  await page.selectOption('[data-testid="explain-method"]', method);
  await page.selectOption('[data-testid="explain-class"]', { index: k % 5 });
  await page.click('[data-testid="explain-run"]');
  const h = await page.waitForFunction(([m, id]) => {
    const first = document.querySelector('[data-testid="explanation"]');
    return first && first.dataset.id !== id && first.dataset.method === m && Number(first.dataset.ms);
  }, [method, before], { timeout: 1_800_000, polling });
  if (await page.getAttribute('[data-testid="explanation"]', 'data-cached') === 'true') {
    throw new Error(`${method}: a redrawn map is not a timing`);
  }
  return h.jsonValue();
}
