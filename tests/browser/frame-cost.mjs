// What one frame of the page costs the GPU process, by the kind of change that makes it: with
// WebGPU on SwiftShader (as bench.mjs starts Chromium) the GPU process draws every frame on the
// CPU, where it takes time from the workers. Opens a convlens page (CPU backend, chelsea.png),
// runs three occlusion sweeps (so the gallery holds maps), then for two seconds each changes
// one thing per frame and prints the GPU process's CPU time per frame (from /proc, so Linux
// only): a button's outline, a progress bar's value, a progress count's text, and the height of
// a row above the gallery (a layout shift: everything below it moves).
// Usage: node tests/browser/frame-cost.mjs DIST
import { readFileSync, readdirSync } from 'node:fs';
import { launch } from './browser.mjs';
import { serve } from './serve.mjs';
import { explainMs, openSamplePage } from './model-page.mjs';

const [dist = 'dist'] = process.argv.slice(2);
const server = await serve(dist);
const context = await launch({ serviceWorkers: 'block' });
const page = await openSamplePage(context, `${server.origin}/?backend=cpu&method=occlusion&window=32&stride=16&incremental=true`);

/** CPU ticks (1/100 s) of the GPU process's threads. */
function gpuTicks() {
  let sum = 0;
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (!cmd.includes('chromium') || !cmd.includes('--type=gpu-process')) continue;
      for (const tid of readdirSync(`/proc/${pid}/task`)) {
        const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        sum += Number(fields[11]) + Number(fields[12]);
      }
    } catch { /* the process or thread ended meanwhile */ }
  }
  return sum;
}

for (let i = 0; i < 3; i++) await explainMs(page, 'occlusion', i);
// A row like a run's progress row, after the action buttons.
await page.evaluate(() => {
  const row = document.createElement('div');
  row.className = 'progress';
  row.id = 'frame-cost-row';
  row.innerHTML = '<span>Occlusion…</span><progress max="196" value="0"></progress><span class="muted">0/196</span>';
  document.querySelector('.explain-actions').after(row);
});
for (const kind of ['outline', 'bar', 'text', 'shift']) {
  const t0 = gpuTicks();
  const frames = await page.evaluate(async (kind) => {
    const row = document.getElementById('frame-cost-row');
    const button = document.querySelector('[data-testid="explain-run"]');
    let n = 0;
    const end = performance.now() + 2000;
    while (performance.now() < end) {
      if (kind === 'outline') button.style.outline = `1px solid ${n % 2 ? 'red' : 'blue'}`;
      if (kind === 'bar') row.querySelector('progress').value = n % 196;
      if (kind === 'text') row.querySelector('.muted').textContent = `${n % 196}/196`;
      if (kind === 'shift') row.style.height = n % 2 ? '30px' : '125px';
      n++;
      await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
    }
    return n;
  }, kind);
  const ms = (gpuTicks() - t0) * 10;
  console.log(`${kind.padEnd(8)} ${frames} frames, GPU process ${ms} ms of CPU: ${(ms / frames).toFixed(1)} ms per frame`);
}
await context.close();
await server.close();
