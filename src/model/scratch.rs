//! Working buffers kept per thread between calls of the CPU kernels. A kernel that writes a
//! buffer in full before it reads it need not have it zeroed on every call, which allocating it
//! anew does (`calloc` was 3.6% of a QDQ ResNet-18 pass in wasm, BENCHMARKS.md); it borrows its
//! thread's buffer instead, grown as needed. The wasm memory's high-water mark stays what each
//! pass allocated anyway. Used by the integer convolutions; the float ones' im2col and Winograd
//! buffers showed no gain this way (BENCHMARKS.md).

use std::cell::RefCell;
use std::thread::LocalKey;

thread_local! {
    pub static I16: RefCell<Vec<i16>> = const { RefCell::new(Vec::new()) };
    pub static I32: RefCell<Vec<i32>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` on the first `len` values of this thread's buffer `kept` (grown with zeros if it is
/// shorter; a fresh one while `kept` is in use further up the stack). The values are an earlier
/// call's: `f` must write each before it reads it.
pub fn with<T: Copy + Default, R>(
    kept: &'static LocalKey<RefCell<Vec<T>>>,
    len: usize,
    f: impl FnOnce(&mut [T]) -> R,
) -> R {
    kept.with(|cell| {
        let mut fresh = Vec::new();
        let mut borrowed = cell.try_borrow_mut();
        let values = borrowed.as_deref_mut().unwrap_or(&mut fresh);
        if values.len() < len {
            values.resize(len, T::default());
        }
        f(&mut values[..len])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_in_use_is_not_handed_out_twice() {
        with(&I32, 4, |outer| {
            outer.fill(1);
            // Nested: a fresh buffer, zeroed, that leaves the outer one alone.
            with(&I32, 8, |inner| {
                assert_eq!(inner, &[0; 8]);
                inner.fill(2);
            });
            assert_eq!(outer, &[1; 4]);
        });
        // Afterwards the kept buffer comes back with the last values written to it.
        with(&I32, 2, |again| assert_eq!(again, &[1; 2]));
    }
}
