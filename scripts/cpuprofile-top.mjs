// Self time per function of a V8 .cpuprofile (node --cpu-prof), largest first, with Rust's
// mangled names shortened. Usage: node scripts/cpuprofile-top.mjs FILE.cpuprofile [TOP=15]
import { readFileSync } from 'node:fs';

const profile = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const top = Number(process.argv[3] ?? 15);
const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
const self = new Map();
let total = 0;
profile.samples.forEach((id, i) => {
  const dt = profile.timeDeltas[i] ?? 0;
  const name = nodes.get(id).callFrame.functionName || '(anonymous)';
  self.set(name, (self.get(name) ?? 0) + dt);
  total += dt;
});
// _ZN8convlens5model8cpu_conv6im2col17h…E → convlens::model::cpu_conv::im2col
const demangle = (s) => {
  const m = /^_ZN(.*)17h[0-9a-f]{16}E$/.exec(s);
  if (!m) return s;
  const parts = [];
  let rest = m[1];
  while (rest.length) {
    const len = /^(\d+)/.exec(rest);
    if (!len) break;
    const n = Number(len[1]);
    parts.push(rest.slice(len[1].length, len[1].length + n));
    rest = rest.slice(len[1].length + n);
  }
  return parts.join('::').replace(/\$LT\$/g, '<').replace(/\$GT\$/g, '>').replace(/\$u20\$/g, ' ').replace(/\.\./g, '::');
};
for (const [name, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) {
  console.log(`${(100 * us / total).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(0).padStart(7)} ms  ${demangle(name).slice(0, 140)}`);
}
