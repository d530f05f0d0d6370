// One thread of the threaded CPU worker's pool: the message is the wasm module and the shared
// memory; once they are loaded it answers "ready" and serves the pool for good
// (src/worker/threads.rs, src/model/cpu_par.rs).
importScripts('./convlens-threads.js');
self.onmessage = (event) => {
  const [module, memory] = event.data;
  wasm_bindgen({ module_or_path: module, memory }).then(
    () => {
      self.postMessage('ready');
      wasm_bindgen.convlens_thread();
    },
    (e) => self.postMessage(`failed: ${e}`),
  );
};
