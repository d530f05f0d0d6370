//! The page's rules, natively: errors never wipe the last good result; stale answers are ignored.

use std::rc::Rc;

use convlens::app_state::{Action, State, Status};
use convlens::protocol::{BackendChoice, BackendKind, Explain, ModelSummary, Prediction, Request, Response};

fn ready() -> State {
    State::default().reduce(Action::Worker(
        Response::Ready {
            backend: BackendKind::Cpu,
            note: None,
            model: ModelSummary { name: "m".into(), file_bytes: 1, parameters: 1, input_size: 227 },
            warmup_ms: 1.0,
        },
        None,
    ))
}

fn classified(id: u64) -> Action {
    let top5 = vec![Prediction { index: 967, label: "espresso".into(), prob: 0.9 }];
    Action::Worker(Response::Classified { id, top5, forward_ms: 12.0 }, Some(Rc::new(vec![1, 2])))
}

#[test]
fn starts_busy_then_ready() {
    let s = State::default();
    assert_eq!(s.status.code(), "busy");
    assert!(!s.can_submit());
    let s = ready();
    assert_eq!(s.status, Status::Ready);
    assert_eq!(s.backend, Some(BackendKind::Cpu));
    assert!(s.can_submit());
}

#[test]
fn a_failed_image_keeps_the_previous_result() {
    let s = ready().reduce(Action::Submit { id: 1, source: "coffee.png".into() }).reduce(classified(1));
    let shown = s.shown.clone().expect("result shown");
    assert_eq!(shown.source, "coffee.png");
    let s = s.reduce(Action::Submit { id: 2, source: "broken.png".into() }).reduce(Action::Worker(
        Response::Failed { id: Some(2), message: "cannot read this file as an image".into() },
        None,
    ));
    assert_eq!(s.shown, Some(shown));
    assert_eq!(s.status, Status::Ready);
    assert!(s.error.as_deref().unwrap().contains("cannot read"));
    let s = s.reduce(Action::DismissError);
    assert_eq!(s.error, None);
}

#[test]
fn stale_answers_do_not_replace_newer_requests() {
    let s = ready()
        .reduce(Action::Submit { id: 1, source: "a".into() })
        .reduce(Action::Submit { id: 2, source: "b".into() })
        .reduce(classified(1));
    assert!(s.shown.is_none());
    assert_eq!(s.status.code(), "busy");
    let s = s.reduce(classified(2));
    assert_eq!(s.shown.unwrap().source, "b");
}

#[test]
fn worker_crash_restarts_and_keeps_result() {
    let s = ready().reduce(Action::Submit { id: 1, source: "a".into() }).reduce(classified(1));
    let s = s.reduce(Action::WorkerCrashed("device lost".into()));
    assert!(s.shown.is_some());
    assert_eq!(s.status.code(), "busy");
    assert!(!s.can_submit());
    let s = s.reduce(Action::Worker(
        Response::Ready {
            backend: BackendKind::Cpu,
            note: Some("CPU requested".into()),
            model: ModelSummary { name: "m".into(), file_bytes: 1, parameters: 1, input_size: 227 },
            warmup_ms: 1.0,
        },
        None,
    ));
    assert!(s.backend_note.unwrap().contains("device lost"));
    assert!(s.shown.is_some());
}

#[test]
fn protocol_round_trips_and_backend_param() {
    let r = Request::Init { backend: BackendChoice::WebGpu, model_url: "models/x.onnx".into() };
    assert_eq!(Request::from_json(&r.to_json()).unwrap(), r);
    assert!(Response::from_json("{nonsense").is_err());
    assert_eq!(BackendChoice::from_param(Some("cpu")), BackendChoice::Cpu);
    assert_eq!(BackendChoice::from_param(Some("WebGPU")), BackendChoice::WebGpu);
    assert_eq!(BackendChoice::from_param(None), BackendChoice::Auto);
}

#[test]
fn explanations_follow_the_shown_image() {
    let s = ready().reduce(Action::Submit { id: 1, source: "a".into() }).reduce(classified(1));
    assert!(s.can_explain());
    let s = s.reduce(Action::Explain { id: 2, method: Explain::Saliency });
    assert!(!s.can_explain());
    let s = s.reduce(Action::Worker(Response::Progress { id: 2, done: 3, total: 9 }, None));
    assert_eq!(s.explaining.as_ref().unwrap().2, Some((3, 9)));
    let done =
        Response::Explained { id: 2, method: Explain::Saliency, class: 967, score: 1.0, lo: 0.0, hi: 2.0, ms: 5.0 };
    let s = s.reduce(Action::Worker(done, Some(Rc::new(vec![9]))));
    let e = s.explanation.clone().unwrap();
    assert_eq!((e.class, e.label.as_str(), e.hi), (967, "espresso", 2.0));
    assert_eq!(s.status, Status::Ready);
    // A failed explanation keeps the image and frees the buttons.
    let s = s
        .reduce(Action::Explain { id: 3, method: Explain::GradCam })
        .reduce(Action::Worker(Response::Failed { id: Some(3), message: "no layer".into() }, None));
    assert!(s.can_explain() && s.shown.is_some());
    // A new image clears the old map.
    let s = s.reduce(Action::Submit { id: 4, source: "b".into() }).reduce(classified(4));
    assert!(s.explanation.is_none());
}
