// The CPU worker built with relaxed SIMD (scripts/build-relaxed.sh), started by the page instead
// of worker_loader.js where the browser validates relaxed SIMD and no threaded worker runs. A
// failure to load is thrown outside the promise, so the page sees the worker's error event and
// starts the plain worker.
importScripts('./worker-relaxed.js');
wasm_bindgen('./worker-relaxed_bg.wasm').catch((e) => setTimeout(() => { throw e; }));
