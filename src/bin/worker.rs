//! The compute worker binary, built by Trunk as a web worker (`data-type="worker"`).

fn main() {
    #[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
    {
        // The module's constructors (`.init_array`: registries in Burn's dependencies, made
        // through the `inventory` crate), once. A binary that never calls them itself is linked "command style": the linker
        // then wraps every export in a call to all of them, so each call from JavaScript
        // (each `JsValue` made or dropped, each message, each WebGPU call) ran them all again,
        // about 10 ms per classification in the page (BENCHMARKS.md). Referring to them here
        // turns the wrappers off.
        // SAFETY: the linker's own function; nothing has run before it but the glue's start.
        unsafe { __wasm_call_ctors() };
        convlens::worker::start();
    }
}

#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
unsafe extern "C" {
    fn __wasm_call_ctors();
}
