//! The human-vs-network quiz: reproducible questions with the truth among look-alike choices,
//! and the scores.

use convlens::quiz::{CHOICES, FASHION_LOOKALIKES, Score, question};

fn labels() -> Vec<usize> {
    (0..2000).map(|i| (i * 7 + i / 13) % 10).collect()
}

#[test]
fn questions_are_reproducible_and_vary() {
    let labels = labels();
    let q = question(&labels, 10, 42, 3).unwrap();
    assert_eq!(question(&labels, 10, 42, 3), Some(q.clone()), "same seed and round, same question");
    let images: std::collections::HashSet<usize> =
        (0..50).map(|r| question(&labels, 10, 42, r).unwrap().image).collect();
    assert!(images.len() > 40, "rounds draw different images ({})", images.len());
    assert_ne!(question(&labels, 10, 43, 3).unwrap().image, q.image, "another seed, another quiz");
}

#[test]
fn the_truth_is_offered_with_look_alikes_in_shuffled_places() {
    let labels = labels();
    let mut truth_first = 0;
    for round in 0..400 {
        let q = question(&labels, 10, 7, round).unwrap();
        assert_eq!(q.truth, labels[q.image]);
        assert_eq!(q.choices.len(), CHOICES);
        assert_eq!(q.choices.iter().filter(|c| **c == q.truth).count(), 1, "{q:?}");
        let mut sorted = q.choices.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), CHOICES, "no repeated choice: {q:?}");
        // A top (shirt, coat, …) is offered with other tops; footwear with footwear.
        let group = FASHION_LOOKALIKES.iter().find(|g| g.contains(&q.truth)).unwrap();
        let alike = q.choices.iter().filter(|c| group.contains(c)).count();
        assert_eq!(alike, group.len().min(CHOICES), "{q:?}");
        truth_first += (q.choices[0] == q.truth) as usize;
    }
    assert!((60..140).contains(&truth_first), "the truth is first about a quarter of the time: {truth_first}/400");
}

#[test]
fn small_or_empty_datasets() {
    assert_eq!(question(&[], 10, 1, 0), None);
    assert_eq!(question(&[5], 0, 1, 0), None);
    assert_eq!(question(&[12], 10, 1, 0), None, "a label past the classes");
    let q = question(&[1, 0], 2, 1, 0).unwrap();
    assert_eq!(q.choices.len(), 2);
}

#[test]
fn scores_count_both_players() {
    let s = Score::default().record(3, 3, 4).record(6, 0, 6).record(2, 2, 2);
    assert_eq!(s.human, (2, 3));
    assert_eq!(s.network, (2, 3));
}
