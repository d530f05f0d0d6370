// A CPU helper worker (src/worker/helpers.rs). Its parent, the page's CPU worker, posts its own
// compiled WebAssembly module and that module's glue script first: the helper instantiates that
// module instead of fetching and compiling the file again, so it is ready sooner. A failure to
// load is thrown outside the promise, so the parent sees the worker's error event and drops the
// helper.
self.onmessage = (event) => {
  self.onmessage = null;
  const { glue, module } = event.data ?? {};
  if (!['./worker.js', './worker-relaxed.js'].includes(glue) || !(module instanceof WebAssembly.Module)) {
    throw new Error('helper-loader.js: expected the parent worker\'s module and glue script');
  }
  importScripts(glue);
  wasm_bindgen({ module_or_path: module }).catch((e) => setTimeout(() => { throw e; }));
};
