//! The compute worker binary, built by Trunk as a web worker (`data-type="worker"`).

fn main() {
    #[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
    convlens::worker::start();
}
