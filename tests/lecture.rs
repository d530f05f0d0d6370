//! The lecture path's steps point at things the page has, in the lecture's order, and every
//! panel has its "what am I seeing?" note.

use convlens::lecture::{ANATOMY_TABS, Place, STEPS, panel_note, step_index};
use convlens::protocol::{METHOD_NAMES, OPTIMIZE_KINDS};

#[test]
fn every_step_points_at_a_real_method_kind_or_tab() {
    for step in STEPS {
        match step.place {
            Place::Anatomy(tab) => assert!(ANATOMY_TABS.iter().any(|(t, _)| *t == tab), "{}: tab {tab}", step.key),
            Place::Explain(m) => assert!(METHOD_NAMES.contains(&m), "{}: method {m}", step.key),
            Place::Optimize(k) => assert!(OPTIMIZE_KINDS.contains(&k), "{}: kind {k}", step.key),
            Place::Occluder | Place::Compare => {}
        }
    }
}

#[test]
fn steps_are_complete_and_keys_unique() {
    for (i, step) in STEPS.iter().enumerate() {
        assert_eq!(step_index(step.key), Some(i), "duplicate key {}", step.key);
        for (field, text) in
            [("title", step.title), ("what", step.what), ("formula", step.formula), ("look for", step.look_for)]
        {
            assert!(text.trim().len() > 10, "{}: {field} is empty", step.key);
            // Formulas space their parts on purpose; prose never has two spaces (a broken line join).
            assert!(field == "formula" || !text.contains("  "), "{}: {field} has a double space", step.key);
        }
        let p = step.paper;
        assert!(p.url.starts_with("https://"), "{}: {}", step.key, p.url);
        assert!((1990..=2026).contains(&p.year) && !p.authors.is_empty() && !p.title.is_empty());
        assert!(p.citation().contains(p.title));
        assert!(!step.place.note().is_empty(), "{}: no note for its section", step.key);
    }
    assert_eq!(step_index("no such step"), None);
}

#[test]
fn the_path_follows_the_lecture_order() {
    let keys: Vec<&str> = STEPS.iter().map(|s| s.key).collect();
    let order = [
        "activations",
        "filters",
        "patches",
        "tsne",
        "occlusion",
        "saliency",
        "backprop-compare",
        "class-model",
        "inversion",
        "deepdream",
        "style",
        "fooling",
    ];
    let positions: Vec<usize> = order.iter().map(|k| keys.iter().position(|x| x == k).expect(k)).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{keys:?}");
}

#[test]
fn every_panel_and_tab_has_a_note() {
    for section in ["photo", "explain", "optimize", "quiz"] {
        assert!(panel_note(section).len() > 40, "{section}");
    }
    for (tab, _) in ANATOMY_TABS {
        assert!(panel_note(&format!("anatomy/{tab}")).len() > 40, "{tab}");
    }
    assert_eq!(panel_note("nothing"), "");
}
