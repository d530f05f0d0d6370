//! The page binary: mounts the Yew app. Compute happens in the worker binary.

fn main() {
    #[cfg(target_arch = "wasm32")]
    convlens::ui::run();
}
