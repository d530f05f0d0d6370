// What a long run's pause between steps costs in a worker of this Chromium (src/worker/yield_now.rs):
// 100 steps of `busy` ms each, followed by a zero-delay timer or by a message the worker sends
// itself through a MessageChannel; prints the time per step beyond the work, per way, twice.
// Usage: node tests/browser/bench-yield.mjs [busy ms = 5]
import { launch } from './browser.mjs';

const busy = Number(process.argv[2] ?? 5);
const context = await launch();
const page = await context.newPage();
await page.goto('about:blank');
const out = await page.evaluate(async (busyMs) => {
  const source = `
    const busy = (ms) => { const t = performance.now(); while (performance.now() - t < ms); };
    const timer = () => new Promise((r) => setTimeout(r, 0));
    const channel = new MessageChannel();
    const waiting = [];
    channel.port1.onmessage = () => waiting.shift()();
    const message = () => new Promise((r) => { waiting.push(r); channel.port2.postMessage(null); });
    onmessage = async (e) => {
      const out = [];
      for (const [way, pause] of [['timer', timer], ['message', message], ['timer', timer], ['message', message]]) {
        const t = performance.now();
        for (let i = 0; i < 100; i++) { busy(e.data); await pause(); }
        out.push([way, (performance.now() - t) / 100 - e.data]);
      }
      postMessage(out);
    };`;
  const worker = new Worker(URL.createObjectURL(new Blob([source])));
  return new Promise((resolve) => { worker.onmessage = (e) => resolve(e.data); worker.postMessage(busyMs); });
}, busy);
for (const [way, ms] of out) console.log(`${busy} ms steps, pause by ${way}: ${ms.toFixed(3)} ms per step beyond the work`);
await context.close();
