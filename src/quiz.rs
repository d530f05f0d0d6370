//! Human vs. network: a quiz on the Fashion-MNIST test images. Each round shows one image and a
//! few choices (the true class and classes people confuse it with); the class answers, then the
//! network's top-5 and its saliency map are revealed, and both scores are kept.

/// Classes of Fashion-MNIST that look alike (tops; footwear; the rest), by label index.
pub const FASHION_LOOKALIKES: &[&[usize]] = &[&[0, 2, 3, 4, 6], &[5, 7, 9], &[1, 8]];

/// Choices per question.
pub const CHOICES: usize = 4;

/// One question: a dataset image, its true class and the choices offered (the truth among them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    pub round: u64,
    pub image: usize,
    pub truth: usize,
    pub choices: Vec<usize>,
}

/// SplitMix64: a few lines of well-known arithmetic give reproducible rounds from a seed (the
/// page build carries no random-number crate).
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The question of `round` for a dataset with these labels and `classes` classes, drawn from
/// `seed`: the same seed and round give the same question. `None` for an empty dataset.
pub fn question(labels: &[usize], classes: usize, seed: u64, round: u64) -> Option<Question> {
    if labels.is_empty() || classes == 0 {
        return None;
    }
    let mut state = mix(seed ^ mix(round));
    let mut next = move |n: usize| {
        state = mix(state);
        (state % n.max(1) as u64) as usize
    };
    let image = next(labels.len());
    let truth = labels[image];
    if truth >= classes {
        return None;
    }
    // Look-alikes first (the interesting mistakes), then any other class.
    let group: &[usize] = FASHION_LOOKALIKES.iter().copied().find(|g| g.contains(&truth)).unwrap_or(&[]);
    let mut alike: Vec<usize> = group.iter().copied().filter(|c| *c != truth && *c < classes).collect();
    let mut others: Vec<usize> = (0..classes).filter(|c| *c != truth && !group.contains(c)).collect();
    let mut choices = vec![truth];
    while choices.len() < CHOICES.min(classes) {
        let pool = if alike.is_empty() { &mut others } else { &mut alike };
        let pick = next(pool.len());
        choices.push(pool.swap_remove(pick));
    }
    // Shuffle so the truth is not always first (Fisher–Yates).
    for i in (1..choices.len()).rev() {
        let j = next(i + 1);
        choices.swap(i, j);
    }
    Some(Question { round, image, truth, choices })
}

/// Right answers out of questions, for the class and for the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Score {
    pub human: (u32, u32),
    pub network: (u32, u32),
}

impl Score {
    /// Counts one round: the class's guess and the network's top-1 against the truth.
    pub fn record(self, truth: usize, guess: usize, network_top1: usize) -> Score {
        let add = |(right, total): (u32, u32), ok: bool| (right + ok as u32, total + 1);
        Score { human: add(self.human, guess == truth), network: add(self.network, network_top1 == truth) }
    }
}
