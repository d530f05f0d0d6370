//! Threads inside one computation on the CPU kernels. Builds with the `threads` feature run the
//! large matrix products and the per-channel loops in parts on a small pool of threads: natively
//! threads of its own, in the browser web workers sharing the wasm memory, which only a
//! cross-origin-isolated page can have (`src/worker/threads.rs`, README "Threads"). Every other
//! build, and a threads build before its pool is up, runs the same loops in order on the
//! calling thread.
//!
//! The parallel loops split work into parts whose outputs do not overlap and whose sums run in
//! the same order as on one thread, so the results are the same to the bit.
//!
//! Why not rayon: its pool threads fall asleep between the short parallel loops of a forward
//! pass, and waking a web worker costs far more than waking a native thread; the caller, not
//! being one of its threads, also sits idle. With rayon ResNet-18 ran 0.89× of one thread on two
//! cores in the page (BENCHMARKS.md). Here the calling thread does parts itself, and the pool's
//! threads spin for a moment after each loop before they sleep, as the next loop often follows
//! soon.

#[cfg(feature = "threads")]
use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicUsize, Ordering};
#[cfg(feature = "threads")]
use std::sync::{Condvar, Mutex};

/// Work (multiply-adds, or values touched) below which a loop stays on the calling thread.
pub const MIN_PARALLEL_WORK: usize = 1 << 17;
#[cfg(feature = "threads")]
static MIN_WORK: AtomicUsize = AtomicUsize::new(MIN_PARALLEL_WORK);

/// Sets the work below which loops stay on the calling thread (0: every loop in parts on the
/// pool; `usize::MAX`: none). For tests that compare the two.
#[cfg(feature = "threads")]
pub fn set_min_parallel_work(work: usize) {
    MIN_WORK.store(work, Ordering::Relaxed);
}

/// Threads the parallel loops use now, the calling one included (1: everything runs on it).
pub fn threads() -> usize {
    #[cfg(feature = "threads")]
    {
        #[cfg(not(target_arch = "wasm32"))]
        native::start();
        1 + POOL.joined.load(Ordering::Acquire)
    }
    #[cfg(not(feature = "threads"))]
    1
}

/// Calls `f(i)` for each `i` in `0..n`: in parts on the pool's threads and this one when there
/// is a pool and `work` (the whole loop's) is large enough, else in order here. Each call must
/// write only its own part of any shared output.
pub fn for_each(n: usize, work: usize, f: impl Fn(usize) + Sync + Send) {
    #[cfg(feature = "threads")]
    if n > 1 && work >= MIN_WORK.load(Ordering::Relaxed) && threads() > 1 && !IN_PART.with(|p| p.get()) {
        POOL.run(n, &f);
        return;
    }
    let _ = work;
    (0..n).for_each(f);
}

#[cfg(feature = "threads")]
thread_local! {
    /// Set on the pool's threads: a loop inside a part runs in order there.
    static IN_PART: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// One parallel loop, on the caller's stack while it runs.
#[cfg(feature = "threads")]
struct Job<'a> {
    f: &'a (dyn Fn(usize) + Sync),
    n: usize,
    /// The next index to take, the indices done, and the pool threads inside the loop.
    next: AtomicUsize,
    done: AtomicUsize,
    inside: AtomicUsize,
}

#[cfg(feature = "threads")]
impl Job<'_> {
    /// Takes indices until none is left.
    fn work(&self) {
        loop {
            let i = self.next.fetch_add(1, Ordering::AcqRel);
            if i >= self.n {
                return;
            }
            (self.f)(i);
            self.done.fetch_add(1, Ordering::Release);
        }
    }
}

#[cfg(feature = "threads")]
struct Pool {
    /// Pool threads that have started.
    joined: AtomicUsize,
    /// Bumped for each loop; the pool's threads watch it.
    epoch: AtomicU32,
    /// The loop running now (null between loops). A pool thread joins it only under `gate`,
    /// and the caller clears it under `gate` before it waits for those inside to leave.
    job: AtomicPtr<Job<'static>>,
    gate: Mutex<()>,
    wake: Condvar,
}

#[cfg(feature = "threads")]
static POOL: Pool = Pool {
    joined: AtomicUsize::new(0),
    epoch: AtomicU32::new(0),
    job: AtomicPtr::new(std::ptr::null_mut()),
    gate: Mutex::new(()),
    wake: Condvar::new(),
};

/// Checks of the epoch a pool thread makes before it sleeps (tens of microseconds). Longer spins
/// (2²⁰, 2²³) were no faster in the page on two cores, and slower on MobileNetV2: a spinning
/// thread takes turns with the browser's own threads too (BENCHMARKS.md, "Threads").
#[cfg(feature = "threads")]
const SPINS: u32 = 1 << 16;

#[cfg(feature = "threads")]
impl Pool {
    fn run(&self, n: usize, f: &(dyn Fn(usize) + Sync)) {
        let job = Job { f, n, next: AtomicUsize::new(0), done: AtomicUsize::new(0), inside: AtomicUsize::new(0) };
        // SAFETY (of the lifetime's erasure): the pointer is cleared below, under `gate`, and
        // this function returns only once no pool thread is inside the job.
        let ptr = &job as *const Job<'_> as *mut Job<'static>;
        {
            let _g = self.gate.lock().unwrap_or_else(|e| e.into_inner());
            self.job.store(ptr, Ordering::Release);
            self.epoch.fetch_add(1, Ordering::Release);
        }
        self.wake.notify_all();
        // (A loop inside one of this thread's parts runs in order.)
        IN_PART.with(|p| p.set(true));
        job.work();
        IN_PART.with(|p| p.set(false));
        while job.done.load(Ordering::Acquire) < n {
            std::hint::spin_loop();
        }
        {
            let _g = self.gate.lock().unwrap_or_else(|e| e.into_inner());
            self.job.store(std::ptr::null_mut(), Ordering::Release);
        }
        while job.inside.load(Ordering::Acquire) > 0 {
            std::hint::spin_loop();
        }
    }

    /// A pool thread's life: joins each loop as it starts, spinning a moment between loops
    /// before it sleeps.
    fn serve(&self) -> ! {
        IN_PART.with(|p| p.set(true));
        let mut seen = self.epoch.load(Ordering::Acquire);
        self.joined.fetch_add(1, Ordering::AcqRel);
        loop {
            let mut spins = 0;
            while self.epoch.load(Ordering::Acquire) == seen && spins < SPINS {
                std::hint::spin_loop();
                spins += 1;
            }
            let job = {
                let mut g = self.gate.lock().unwrap_or_else(|e| e.into_inner());
                while self.epoch.load(Ordering::Acquire) == seen {
                    g = self.wake.wait(g).unwrap_or_else(|e| e.into_inner());
                }
                seen = self.epoch.load(Ordering::Acquire);
                let job = self.job.load(Ordering::Acquire);
                if !job.is_null() {
                    // SAFETY: a non-null job is alive while `gate` is held (see `run`).
                    unsafe { &*job }.inside.fetch_add(1, Ordering::AcqRel);
                }
                job
            };
            if !job.is_null() {
                // SAFETY: the caller waits for `inside` to drop to zero before the job ends.
                let job = unsafe { &*job };
                job.work();
                job.inside.fetch_sub(1, Ordering::Release);
            }
        }
    }
}

/// Runs the calling thread as one of the pool's threads, for good (the browser's pool workers,
/// `src/worker/threads.rs`).
#[cfg(feature = "threads")]
pub fn serve() -> ! {
    POOL.serve()
}

/// Natively the pool starts with the first loop: one thread per core beyond the caller's.
#[cfg(all(feature = "threads", not(target_arch = "wasm32")))]
mod native {
    pub fn start() {
        static START: std::sync::Once = std::sync::Once::new();
        START.call_once(|| {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            for i in 1..cores.min(8) {
                let _ = std::thread::Builder::new().name(format!("convlens-cpu-{i}")).spawn(|| super::serve());
            }
            // Wait (briefly) for them, so that the first loop already splits.
            let began = std::time::Instant::now();
            while super::POOL.joined.load(std::sync::atomic::Ordering::Acquire) + 1 < cores.min(8)
                && began.elapsed() < std::time::Duration::from_secs(1)
            {
                std::thread::yield_now();
            }
        });
    }
}

/// Parts per thread: the threads take parts as they come free, so one that started late (or
/// was paused by the browser) holds up the loop by a part, not by a thread's whole share.
const PARTS_PER_THREAD: usize = 4;

/// Splits `0..len` into runs of whole `unit`s (the last one shorter): one run without a pool,
/// a few per thread with one, for loops with per-part scratch buffers.
pub fn parts(len: usize, unit: usize) -> Vec<std::ops::Range<usize>> {
    let units = len.div_ceil(unit.max(1));
    let threads = threads();
    let n = if threads > 1 { threads * PARTS_PER_THREAD } else { 1 }.min(units).max(1);
    let per = units.div_ceil(n) * unit.max(1);
    (0..n).map(|p| (p * per).min(len)..((p + 1) * per).min(len)).filter(|r| !r.is_empty()).collect()
}

/// A raw pointer that may cross to the pool's threads: the loops that use it write disjoint
/// parts of the buffer it points into, and the buffer outlives the loop.
#[derive(Clone, Copy)]
pub struct SharedMut<T>(pub *mut T);
// SAFETY: see the type's documentation; each user states which parts its calls write.
unsafe impl<T> Send for SharedMut<T> {}
unsafe impl<T> Sync for SharedMut<T> {}

impl<T> SharedMut<T> {
    /// The pointer (a method, so that closures capture the whole `SharedMut`, not its field).
    pub fn ptr(&self) -> *mut T {
        self.0
    }

    /// The `len` elements from `at` as a slice.
    ///
    /// # Safety
    /// The range lies within the buffer, and no other live reference covers it.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn slice(&self, at: usize, len: usize) -> &mut [T] {
        // SAFETY: by the caller's promise.
        unsafe { std::slice::from_raw_parts_mut(self.0.add(at), len) }
    }
}

/// `f` over `values` in runs of whole `unit`s, on the pool's threads when the slice is long
/// enough: for element-wise loops ((de)quantization, clamps), whose values do not depend on
/// how the slice is split.
pub fn chunks_mut<T>(values: &mut [T], unit: usize, f: impl Fn(&mut [T]) + Sync + Send) {
    let runs = parts(values.len(), unit);
    let shared = SharedMut(values.as_mut_ptr());
    // A value costs a few multiply-adds' time (a load, a store, some arithmetic).
    for_each(runs.len(), 4 * values.len(), |p| {
        let run = runs[p].clone();
        // SAFETY: the runs are disjoint and lie within `values`, borrowed mutably for the loop.
        f(unsafe { shared.slice(run.start, run.len()) });
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_cover_the_range_in_whole_units() {
        for len in [0, 1, 7, 8, 9, 100, 1001] {
            for unit in [1, 4, 8] {
                let ps = parts(len, unit);
                let mut next = 0;
                for r in &ps {
                    assert_eq!(r.start, next);
                    assert!(r.start % unit == 0);
                    next = r.end;
                }
                assert_eq!(next, len);
                assert!(ps.len() <= threads() * PARTS_PER_THREAD);
            }
        }
    }
}
