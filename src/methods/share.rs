//! Work shared with helpers: a method splits its run into numbered parts (occlusion's batches of
//! windows, SmoothGrad's and Integrated Gradients' batches of images) that are independent, so
//! any of them may run here or on a helper (in the browser, a worker on another core with its
//! own copy of the model). Each part's answer is kept apart and combined in part order, so the
//! map is the same to the bit however the parts were shared.

use std::future::Future;
use std::pin::Pin;

use super::{MethodError, Progress};

/// One part of a run, as a helper receives it.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    /// Occlusion: the target with the window at each of these top-left corners filled.
    Windows(Vec<[usize; 2]>),
    /// A gradient method: `Σᵢ weightᵢ · ∂target/∂imageᵢ` over these images (`[N, C, H, W]`
    /// values, the run's image size), `[C, H, W]`.
    Images { pixels: Vec<f32>, weights: Vec<f32> },
}

/// Helpers that take parts of a run while this worker does others. Answers name their part
/// and may come back in any order. A part is made only once a helper has room for it.
pub trait Helpers {
    /// Hands part `key` to a helper with room for it; `false` when none has.
    fn send(&mut self, key: usize, part: &dyn Fn() -> Part) -> bool;
    /// The answers that came back since the last call: a part's values, or `None` for a part
    /// its helper could not do (it is done again here).
    fn answers(&mut self) -> Vec<(usize, Option<Vec<f32>>)>;
    /// A part sent but not yet begun, taken back to be done here (its answer, if one still
    /// comes, is ignored): so this worker does not idle while parts wait in a helper's queue.
    fn take_back(&mut self) -> Option<usize>;
    /// Waits a moment for answers, when every part left is being done by a helper.
    fn wait(&mut self) -> Pin<Box<dyn Future<Output = ()> + '_>>;
}

/// Runs parts `0..units.len()` here or on `progress`'s helpers; part `k` counts `units[k]`
/// towards progress, and its answer has `answer_len(k)` values. `local(k)` does part `k` here;
/// `on_done` hears of every finished part (with every answer so far). Answers, by part.
pub(crate) async fn run(
    progress: &mut dyn Progress,
    units: &[usize],
    answer_len: impl Fn(usize) -> usize,
    part: impl Fn(usize) -> Part,
    local: impl AsyncFn(usize) -> Result<Vec<f32>, MethodError>,
    mut on_done: impl FnMut(&[Option<Vec<f32>>], &mut dyn Progress),
) -> Result<Vec<Vec<f32>>, MethodError> {
    let n = units.len();
    let total: usize = units.iter().sum();
    // Parts wait in `queue`, are out with a helper, or are answered; each is kept once.
    let mut queue: std::collections::VecDeque<usize> = (0..n).collect();
    let mut with_helper = vec![false; n];
    // Parts a helper could not do are done here (another try elsewhere could fail the same way).
    let mut here = std::collections::VecDeque::new();
    let mut answers: Vec<Option<Vec<f32>>> = vec![None; n];
    let mut done = 0;
    loop {
        // (Yields to the event loop, where helpers' answers arrive.)
        if !progress.tick(done, total).await {
            return Err(MethodError::Cancelled);
        }
        let mut finished = false;
        if let Some(helpers) = progress.helpers() {
            for (k, values) in helpers.answers() {
                if !with_helper.get(k).copied().unwrap_or(false) {
                    continue;
                }
                with_helper[k] = false;
                match values.filter(|v| v.len() == answer_len(k)) {
                    Some(v) => {
                        answers[k] = Some(v);
                        done += units[k];
                        finished = true;
                    }
                    None => here.push_back(k),
                }
            }
        }
        if finished {
            on_done(&answers, progress);
        }
        if done == total {
            break;
        }
        // This worker keeps the next part for itself (a run of one part never waits on a
        // message); helpers with room get the ones after it.
        let mut next = here.pop_front().or_else(|| queue.pop_front());
        if let Some(helpers) = progress.helpers() {
            while let Some(&k) = queue.front() {
                if !helpers.send(k, &|| part(k)) {
                    break;
                }
                queue.pop_front();
                with_helper[k] = true;
            }
            if next.is_none() {
                next = helpers.take_back().filter(|&k| with_helper.get(k) == Some(&true));
            }
        }
        let Some(k) = next else {
            match progress.helpers() {
                Some(helpers) => helpers.wait().await,
                // The helpers went away with parts still out: do those here.
                None => here.extend((0..n).filter(|&k| std::mem::take(&mut with_helper[k]))),
            }
            continue;
        };
        with_helper[k] = false;
        answers[k] = Some(local(k).await?);
        done += units[k];
        on_done(&answers, progress);
    }
    progress.tick(total, total).await;
    Ok(answers.into_iter().map(Option::unwrap_or_default).collect())
}
