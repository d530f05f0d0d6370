// A convlens page with a model file opened, for the benchmarks (bench.mjs, bench-threads.mjs).
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
