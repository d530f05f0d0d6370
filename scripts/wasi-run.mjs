// Runs a wasm32-wasip1 program under Node's WASI with the current directory readable, so that
// `cargo test --target wasm32-wasip1` can check the CPU kernels' wasm SIMD paths natively
// (cargo's runner for that target; see scripts/test.sh). Usage: node scripts/wasi-run.mjs FILE.wasm [ARGS]
import { WASI } from 'node:wasi';
import { readFileSync } from 'node:fs';

const [file, ...args] = process.argv.slice(2);
const wasi = new WASI({ version: 'preview1', args: [file, ...args], env: process.env, preopens: { '.': process.cwd() }, returnOnExit: true });
const module = await WebAssembly.compile(readFileSync(file));
process.exitCode = wasi.start(await WebAssembly.instantiate(module, wasi.getImportObject()));
