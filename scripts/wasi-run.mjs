// Runs a wasm32-wasip1 program under Node's WASI with the current directory readable, so that
// `cargo test --target wasm32-wasip1` can check the CPU kernels' wasm SIMD paths natively
// (cargo's runner for that target; see scripts/test.sh). Usage: node scripts/wasi-run.mjs FILE.wasm [ARGS]
import { WASI } from 'node:wasi';
import { readFileSync } from 'node:fs';

const [file, ...args] = process.argv.slice(2);
const wasi = new WASI({ version: 'preview1', args: [file, ...args], env: process.env, preopens: { '.': process.cwd() }, returnOnExit: true });
const module = await WebAssembly.compile(readFileSync(file));
const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
// Node 20.20's V8 segfaults (in a JS builtin, KeyedLoadIC_Megamorphic, after the program's last
// line of output) on some of these test programs, deterministically per binary and depending on
// where the program's heap ends up: the debug `--test squeezenet` build crashed every run once its
// networks kept Winograd weights, `--test zoo` with 128 MB grown first, neither with 1 GB grown
// first. So the memory is grown by 1 GB before the start (pages never touched cost nothing; the
// program's allocator grows it further as it needs, the first pages simply stay unused).
instance.exports.memory.grow(16384);
// WASI_PROFILE=FILE.cpuprofile: V8's sampling profiler (200 µs) around the program, written
// before Node exits (`node --cpu-prof` writes at exit, where the crash above can strike first).
const profileTo = process.env.WASI_PROFILE;
let session;
if (profileTo) {
  const { Session } = await import('node:inspector/promises');
  session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 200 });
  await session.post('Profiler.start');
}
process.exitCode = wasi.start(instance);
if (session) {
  const { profile } = await session.post('Profiler.stop');
  const { writeFileSync } = await import('node:fs');
  writeFileSync(profileTo, JSON.stringify(profile));
}
