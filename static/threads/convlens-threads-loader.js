// The threaded CPU worker (built by scripts/build-threads.sh), started by the page instead of
// worker_loader.js when it is cross-origin isolated and computes on the CPU: its wasm memory is
// shared with the pool's workers (convlens-thread.js). A failure to load is thrown outside
// the promise, so the page sees the worker's error event and starts the single-thread worker.
importScripts('./convlens-threads.js');
wasm_bindgen('./convlens-threads_bg.wasm').catch((e) => setTimeout(() => { throw e; }));
