//! The compute worker binary, built by Trunk as a web worker (`data-type="worker"`).

fn main() {
    #[cfg(target_arch = "wasm32")]
    convlens::worker::start();
}
