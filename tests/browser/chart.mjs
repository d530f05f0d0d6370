// The model benchmark's chart (tests/browser/bench.mjs writes it after a "models" run):
// `node tests/browser/chart.mjs results.json out.svg` redraws it from saved results.
/** Forward latency per model: convlens against onnxruntime-web, horizontal bars on a log scale. */
export function modelChart(rows) {
  const bars = [];
  for (const r of rows) {
    bars.push({
      label: `${r.model} (${r.backend})`, ours: r.ours_ms, ours2: r.ours_threaded_ms ?? null,
      peer: r.ort_ms ?? null, peer2: r.ort_2threads_ms ?? null, error: r.ort_error,
    });
  }
  const W = 920, left = 330, rowH = 60, top = 50, H = top + bars.length * rowH + 40;
  const max = Math.max(...bars.flatMap((b) => [b.ours, b.ours2 ?? 0, b.peer ?? 0, b.peer2 ?? 0]));
  const min = Math.min(...bars.flatMap((b) => [b.ours, b.ours2 ?? Infinity, b.peer ?? Infinity, b.peer2 ?? Infinity]));
  const lo = Math.log10(min / 1.5), hi = Math.log10(max * 1.2);
  const x = (v) => left + ((Math.log10(v) - lo) / (hi - lo)) * (W - left - 80);
  const esc = (t) => String(t).replace(/&/g, '&amp;').replace(/</g, '&lt;');
  let svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`;
  svg += `<rect width="${W}" height="${H}" fill="#fff"/>`;
  svg += `<text x="10" y="20" font-size="15" font-weight="bold">Forward latency, median (ms, log scale): convlens vs onnxruntime-web</text>`;
  svg += `<rect x="10" y="30" width="12" height="10" fill="#2a7ab0"/><text x="26" y="39">convlens, 1 thread (or WebGPU)</text>`;
  svg += `<rect x="220" y="30" width="12" height="10" fill="#e08a2c"/><text x="236" y="39">onnxruntime-web, 1 thread (or WebGPU)</text>`;
  svg += `<rect x="480" y="30" width="12" height="10" fill="#9cc6e4"/><text x="496" y="39">convlens, 2 threads</text>`;
  svg += `<rect x="630" y="30" width="12" height="10" fill="#f2c48f"/><text x="646" y="39">onnxruntime-web, 2 threads</text>`;
  for (const tick of [1, 3, 10, 30, 100, 300, 1000, 3000, 10000]) {
    if (Math.log10(tick) < lo || Math.log10(tick) > hi) continue;
    svg += `<line x1="${x(tick)}" y1="${top - 4}" x2="${x(tick)}" y2="${H - 30}" stroke="#ddd"/><text x="${x(tick)}" y="${H - 16}" text-anchor="middle" fill="#555">${tick}</text>`;
  }
  bars.forEach((b, i) => {
    const y = top + i * rowH;
    svg += `<text x="${left - 8}" y="${y + 20}" text-anchor="end">${esc(b.label)}</text>`;
    const bar = (v, dy, colour) => `<rect x="${left}" y="${y + dy}" width="${Math.max(1, x(v) - left)}" height="12" fill="${colour}"/>`
      + `<text x="${x(v) + 4}" y="${y + dy + 10}" fill="#333">${v.toFixed(1)}</text>`;
    svg += bar(b.ours, 2, '#2a7ab0');
    if (b.peer !== null) svg += bar(b.peer, 16, '#e08a2c');
    else svg += `<text x="${left + 4}" y="${y + 26}" fill="#b00">onnxruntime-web failed: ${esc((b.error ?? '').replace(/^page\.evaluate: (Error: )?/, '').slice(0, 60))}…</text>`;
    if (b.ours2 !== null) svg += bar(b.ours2, 30, '#9cc6e4');
    if (b.peer2 !== null) svg += bar(b.peer2, 44, '#f2c48f');
  });
  return svg + '</svg>\n';
}

if (process.argv[1]?.endsWith('chart.mjs')) {
  const { readFileSync, writeFileSync } = await import('node:fs');
  const rows = JSON.parse(readFileSync(process.argv[2], 'utf8')).filter((r) => r.what === 'model');
  writeFileSync(process.argv[3], modelChart(rows));
}
