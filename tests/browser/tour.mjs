// Takes the README's tour: one screenshot per lecture-path step, each after "Run it", in the
// page's own order. Usage (after a release build): node tests/browser/tour.mjs dist [out-dir]
// Writes docs/tour/NN-step.jpg: the step's card and its panel, 1280 px wide (CPU backend).
import { mkdirSync } from 'node:fs';
import { serve } from './serve.mjs';
import { launch } from './browser.mjs';

const dist = process.argv[2] ?? 'dist';
const out = process.argv[3] ?? 'docs/tour';
mkdirSync(out, { recursive: true });
const server = await serve(dist);
const context = await launch({ viewport: { width: 1280, height: 720 }, serviceWorkers: 'block' });
const page = await context.newPage();
const LONG = 600_000;
const ready = () => page.waitForSelector('[data-testid="status"][data-state="ready"]', { timeout: LONG });
const idle = () => page.waitForFunction(() => !document.querySelector('[data-testid="anatomy-progress"]')
  && !document.querySelector('[data-testid="explain-progress"]')
  && document.querySelector('[data-testid="opt-steps"]')?.dataset.running !== 'true', null, { timeout: LONG });
const sample = async (file) => {
  await page.click(`[data-testid="sample"][data-sample="${file}"]`);
  await page.waitForFunction((f) => document.querySelector('[data-testid="crop-source"]')?.textContent === f, file, { timeout: LONG });
  await ready();
};
const model = async (key) => {
  await page.selectOption('[data-testid="model-picker"]', key);
  await page.waitForTimeout(500);
  await ready();
};

await page.goto(`${server.origin}/?backend=cpu`);
await ready();
await sample('chelsea.png');
await page.keyboard.press('l');
let n = 0;
for (;;) {
  const key = await page.$eval('[data-testid="lecture-card"]', (c) => c.dataset.step);
  // The anatomy steps that need a dataset use the Fashion-MNIST model and its 2,000 test images.
  if (key === 'patches') {
    await model('fashion-mnist');
    await sample('fashion/shirt.png');
    await page.click('[data-testid="dataset-bundled"]');
    await idle();
    await page.selectOption('[data-testid="patches-layer"]', 'conv3_relu');
  }
  if (key === 'tsne') await page.fill('[data-testid="tsne-iterations"]', '500');
  if (key === 'occlusion') {
    await model('squeezenet');
    await sample('chelsea.png');
  }
  await page.focus('[data-testid="lecture-card"]');
  await page.keyboard.press('r');
  await page.waitForTimeout(300);
  await idle();
  if (key === 'tsne') {
    await page.waitForSelector('[data-testid="tsne-status"][data-done="true"]', { timeout: LONG });
  }
  if (key === 'occlusion') {
    const box = await (await page.$('[data-testid="crop"]')).boundingBox();
    // Drag the square onto the cat's eye and wait for its probability.
    await page.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.5);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.33, box.y + box.height * 0.36, { steps: 5 });
    await page.mouse.up();
    await page.waitForFunction(() => {
      const o = document.querySelector('[data-testid="occluder"]');
      const r = document.querySelector('[data-testid="occluder-prob"]');
      return o && Number(o.dataset.x) < 90 && r?.dataset.prob !== '';
    }, null, { timeout: LONG });
  }
  // The card and its panel below it, up to 1,000 px tall.
  const clip = await page.$eval('[data-testid="lecture-card"]', (c) => {
    const panel = c.nextElementSibling;
    const top = c.getBoundingClientRect().top + window.scrollY - 8;
    const bottom = panel.getBoundingClientRect().bottom + window.scrollY + 8;
    return { x: 0, y: top, width: 1280, height: Math.min(bottom - top, 1000) };
  });
  n++;
  const file = `${out}/${String(n).padStart(2, '0')}-${key}.jpg`;
  await page.screenshot({ path: file, type: 'jpeg', quality: 70, fullPage: true, clip });
  console.log(`${file}`);
  const last = await page.$eval('[data-testid="lecture-next"]', (b) => b.disabled);
  if (last) break;
  await page.focus('[data-testid="lecture-card"]');
  await page.keyboard.press('n');
  await page.waitForFunction((k) => document.querySelector('[data-testid="lecture-card"]')?.dataset.step !== k, key);
}
await context.close();
await server.close();
