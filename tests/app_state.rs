//! The page's rules, natively: errors never wipe the last good result; stale answers are ignored.

use std::rc::Rc;

use convlens::app_state::{Action, Settings, State, Status};
use convlens::protocol::{
    BackendChoice, BackendKind, Colormap, ExplainJob, Look, MethodParams, ModelSummary, Prediction, Request, Response,
    Target, View,
};

fn summary() -> ModelSummary {
    ModelSummary {
        name: "m".into(),
        file_bytes: 1,
        parameters: 1,
        input_size: 227,
        labels: vec![],
        layers: vec![],
        channels: 3,
        dataset: false,
        opset: 13,
        ops: vec![],
        preprocess: convlens::protocol::Preprocess::NONE,
        layer_shapes: vec![],
    }
}

fn ready() -> State {
    State::default().reduce(Action::Worker(
        Response::Ready { backend: BackendKind::Cpu, note: None, model: summary(), warmup_ms: 1.0 },
        None,
    ))
}

#[test]
fn the_cpu_gets_lighter_optimization_defaults_unless_chosen() {
    use convlens::protocol::OptimizeJob;
    let on = |backend, state: State| {
        state.reduce(Action::Worker(Response::Ready { backend, note: None, model: summary(), warmup_ms: 1.0 }, None))
    };
    let cpu = on(BackendKind::Cpu, State::default()).settings.optimize;
    assert_eq!((cpu.steps, cpu.size), OptimizeJob::light_defaults(&cpu.kind));
    let gpu = on(BackendKind::WebGpu, State::default()).settings.optimize;
    assert_eq!((gpu.steps, gpu.size), (OptimizeJob::default_steps(&gpu.kind), 0));
    let mut chosen = State::default();
    chosen.settings.optimize.steps = 7;
    assert_eq!(on(BackendKind::Cpu, chosen).settings.optimize.steps, 7, "a chosen step count stays");
    for kind in convlens::protocol::OPTIMIZE_KINDS {
        let (steps, size) = OptimizeJob::light_defaults(kind);
        assert!(
            steps <= OptimizeJob::default_steps(kind) && (size == 0 || size < OptimizeJob::default_size(kind)),
            "{kind}"
        );
    }
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
            model: summary(),
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

fn job(method: &str, class: usize) -> ExplainJob {
    ExplainJob {
        method: method.into(),
        target: Target::Class(class),
        params: MethodParams::default(),
        look: Look::default(),
    }
}

fn explained(id: u64, job: ExplainJob) -> Action {
    Action::Worker(
        Response::Explained { id, job, score: 1.0, lo: 0.0, hi: 2.0, ms: 5.0, cached: false, workers: 1 },
        Some(Rc::new(vec![9])),
    )
}

#[test]
fn explanations_follow_the_shown_image() {
    let s = ready().reduce(Action::Submit { id: 1, source: "a".into() }).reduce(classified(1));
    assert!(s.can_explain());
    let s = s.reduce(Action::Explain { id: 2, job: job("saliency", 967) });
    assert!(s.can_explain(), "several maps may be queued");
    let before = s.clone();
    let s = s.reduce(Action::Worker(Response::Progress { id: 2, done: 3, total: 9 }, None));
    assert_eq!(s, before, "progress is kept on the ProgressBoard, not in the state");
    let s = s.reduce(Action::Worker(Response::Preview { id: 2 }, Some(Rc::new(vec![7]))));
    assert_eq!(s.explaining[0].preview.as_deref(), Some(&vec![7]));
    let s = s.reduce(explained(2, job("saliency", 967)));
    let e = s.explanations[0].clone();
    assert_eq!((e.job.target.clone(), e.label.as_str(), e.hi), (Target::Class(967), "espresso", 2.0));
    assert_eq!(s.status, Status::Ready);
    // A failed explanation keeps the image and the gallery.
    let s = s
        .reduce(Action::Explain { id: 3, job: job("grad-cam", 967) })
        .reduce(Action::Worker(Response::Failed { id: Some(3), message: "no layer".into() }, None));
    assert!(s.can_explain() && s.shown.is_some() && s.explaining.is_empty());
    assert_eq!((s.explanations.len(), s.error.as_deref()), (1, Some("no layer")));
    // The lecture's side-by-side: three maps queued at once, shown newest first.
    let mut s = s;
    for (id, m) in [(5, "saliency"), (6, "guided-backprop"), (7, "deconvnet")] {
        s = s.reduce(Action::Explain { id, job: job(m, 967) });
    }
    for (id, m) in [(5, "saliency"), (6, "guided-backprop"), (7, "deconvnet")] {
        s = s.reduce(explained(id, job(m, 967)));
    }
    let names: Vec<&str> = s.explanations.iter().map(|e| e.job.method.as_str()).collect();
    assert_eq!(names, ["deconvnet", "guided-backprop", "saliency", "saliency"]);
    // Cancelling drops running maps; a late answer for them is ignored, as is "cancelled".
    let s = s.reduce(Action::Explain { id: 8, job: job("occlusion", 967) }).reduce(Action::CancelExplanations);
    assert!(s.explaining.is_empty() && s.status == Status::Ready);
    let s = s.reduce(Action::Worker(Response::Failed { id: Some(8), message: "cancelled".into() }, None));
    assert!(s.error.is_none());
    let s = s.reduce(explained(8, job("occlusion", 967)));
    assert_eq!(s.explanations.len(), 4);
    // A new image clears the old maps.
    let s = s.reduce(Action::Submit { id: 9, source: "b".into() }).reduce(classified(9));
    assert!(s.explanations.is_empty());
}

#[test]
fn the_live_occluder_shows_answers_only_while_on() {
    let s = ready().reduce(Action::Submit { id: 1, source: "a".into() }).reduce(classified(1));
    let probed =
        |prob| Action::Worker(Response::Probed { id: 2, x: 10, y: 20, size: 32, prob, top5: vec![], ms: 50.0 }, None);
    assert!(s.clone().reduce(probed(0.5)).probe.is_none());
    let s = s.reduce(Action::Occluder(true)).reduce(probed(0.25));
    assert_eq!(s.probe.as_ref().map(|p| (p.x, p.y, p.prob)), Some((10, 20, 0.25)));
    assert!(s.reduce(Action::Occluder(false)).probe.is_none());
}

#[test]
fn settings_survive_the_url() {
    use convlens::protocol::Fill;
    let q0 = |k: &str, v: &str| vec![(k.to_string(), v.to_string())];
    let d = Settings::default();
    assert_eq!(Settings::from_query(&d.to_query()), d);
    assert_eq!(d.to_query().len(), 1, "defaults stay out of the URL");
    let look = Look { view: View::Heat, colormap: Colormap::Turbo, opacity: 0.5 };
    let mut s = Settings { method: "occlusion".into(), class: Some(285), look, ..Settings::default() };
    s.params.window = 24;
    s.params.fill = Fill::Blur;
    s.neuron = Some(("fire9/concat".into(), 7));
    s.params.sigma = 0.25;
    s.params.incremental = Some(false);
    s.params.parallel = Some(false);
    s.params.approximate = Some(0.5);
    assert_eq!(Settings::from_query(&s.to_query()), s);
    assert_eq!(Settings::from_query(&q0("parallel", "maybe")).params.parallel, None);
    for bad in ["0", "-1", "1.5", "NaN", "inf", "x"] {
        assert_eq!(Settings::from_query(&q0("approximate", bad)).params.approximate, None, "{bad}");
    }
    assert_eq!(s.target(3), Target::Channel { layer: "fire9/concat".into(), channel: 7 });
    s.neuron = None;
    assert_eq!(s.job(3).target, Target::Class(285));
    // Hostile or broken values fall back to the defaults.
    let q = |k: &str, v: &str| vec![(k.to_string(), v.to_string())];
    assert_eq!(Settings::from_query(&q("method", "rm -rf")).method, d.method);
    assert_eq!(Settings::from_query(&q("window", "999999")).params.window, 1024);
    assert_eq!(Settings::from_query(&q("sigma", "NaN")).params.sigma, d.params.sigma);
    assert_eq!(Settings::from_query(&q("neuron", "x")).neuron, None);
}

#[test]
fn the_view_travels_in_the_url_sample_step_tab_projector() {
    let s = Settings {
        image: "fashion/shirt.png".into(),
        step: convlens::lecture::step_index("grad-cam"),
        tab: "tsne".into(),
        projector: true,
        ..Settings::default()
    };
    let q = s.to_query();
    assert!(q.contains(&("step".into(), "grad-cam".into())), "{q:?}");
    assert_eq!(Settings::from_query(&q), s);
    let q = |k: &str, v: &str| vec![(k.to_string(), v.to_string())];
    let d = Settings::default();
    // Only plain relative image names are taken from a link.
    for bad in ["../secret.png", "https://example.com/a.png", "/etc/x.png", "a//b.png", "coffee.svg", "a b.png", ""] {
        assert_eq!(Settings::from_query(&q("image", bad)).image, d.image, "{bad}");
    }
    assert_eq!(Settings::from_query(&q("step", "nope")).step, None);
    assert_eq!(Settings::from_query(&q("tab", "<script>")).tab, d.tab);
    assert!(!Settings::from_query(&q("projector", "maybe")).projector);
    // Opening a step sets up its panel and keeps the rest.
    let base = Settings { class: Some(7), ..Settings::default() };
    let at = |key: &str| base.at_step(convlens::lecture::step_index(key), false);
    assert_eq!(at("grad-cam").method, "grad-cam");
    assert_eq!(at("grad-cam").class, Some(7));
    assert_eq!(at("tsne").tab, "tsne");
    let style = at("style");
    assert_eq!(
        (style.optimize.kind.as_str(), style.optimize.steps),
        ("style", convlens::protocol::OptimizeJob::default_steps("style"))
    );
    assert_eq!(base.at_step(Some(999), false).step, None);
    assert_eq!(at("tsne").at_step(None, false), Settings { tab: "tsne".into(), ..base.clone() });
    // On the CPU the step's kind of image gets the light defaults.
    let light = base.at_step(convlens::lecture::step_index("style"), true).optimize;
    assert_eq!((light.steps, light.size), convlens::protocol::OptimizeJob::light_defaults("style"));
    // An index past the path writes no step.
    let past = Settings { step: Some(999), ..Settings::default() };
    assert!(!past.to_query().iter().any(|(k, _)| k == "step"));
}

#[test]
fn optimizations_stream_steps_and_stop() {
    use convlens::protocol::OptimizeJob;
    let s = ready().reduce(Action::Optimize { id: 5, job: OptimizeJob::default() });
    let step = |value: f32, png: Option<Rc<Vec<u8>>>| {
        Action::Worker(
            Response::OptStep { id: 5, step: 1, steps: 64, value, terms: vec![("class 0".into(), value)], ms: 10.0 },
            png,
        )
    };
    let s = s.reduce(step(1.0, Some(Rc::new(vec![1])))).reduce(step(2.0, None));
    let o = s.optimization.clone().unwrap();
    assert_eq!((o.values, o.png.as_deref(), o.running), (vec![1.0, 2.0], Some(&vec![1]), true));
    // Stopping keeps the picture so far; late steps are ignored.
    let s = s.reduce(Action::StopOptimizing).reduce(step(3.0, Some(Rc::new(vec![3]))));
    let o = s.optimization.clone().unwrap();
    assert_eq!((o.values.len(), o.png.as_deref(), o.running), (2, Some(&vec![1]), false));
    // A finished run keeps its image and time; a new run starts from an empty chart.
    let s = s
        .reduce(Action::Optimize { id: 6, job: OptimizeJob::default() })
        .reduce(Action::Worker(Response::Optimized { id: 6, steps: 64, ms: 900.0 }, Some(Rc::new(vec![6]))));
    let o = s.optimization.unwrap();
    assert_eq!((o.values.len(), o.ms, o.png.as_deref(), o.running), (0, Some(900.0), Some(&vec![6]), false));
}

#[test]
fn optimize_settings_travel_in_the_url() {
    use convlens::protocol::OptimizeJob;
    let mut s = Settings::default();
    s.optimize = OptimizeJob {
        kind: "style".into(),
        preset: "lucid".into(),
        class: 417,
        layer: "fire7/concat".into(),
        channel: 3,
        neuron: true,
        steps: 150,
        seed: 9,
        octaves: 4,
        size: 320,
        style_layers: vec!["conv1".into(), "fire9/concat".into()],
        style_weight: 2.5,
        tv_weight: 0.5,
        epsilon: 4,
    };
    s.style = "styles/brick.jpg".into();
    assert_eq!(Settings::from_query(&s.to_query()), s);
    let q = |k: &str, v: &str| vec![(k.to_string(), v.to_string())];
    let d = Settings::default();
    // Hostile values keep the defaults or are clamped.
    assert_eq!(Settings::from_query(&q("opt-kind", "format-disk")).optimize.kind, d.optimize.kind);
    assert_eq!(Settings::from_query(&q("opt-steps", "99999999")).optimize.steps, 2000);
    assert_eq!(Settings::from_query(&q("opt-style-weight", "-1")).optimize.style_weight, d.optimize.style_weight);
    assert_eq!(Settings::from_query(&q("opt-style", "../../etc/passwd")).style, d.style);
    assert_eq!(Settings::from_query(&q("opt-epsilon", "0")).optimize.epsilon, 1);
}

#[test]
fn queued_optimizations_pause_fool_and_fill_the_row() {
    use convlens::app_state::MADE;
    use convlens::protocol::{OptimizeJob, Prediction};
    let job = |layer: &str| OptimizeJob { kind: "invert".into(), layer: layer.into(), ..OptimizeJob::default() };
    let done = |id| Action::Worker(Response::Optimized { id, steps: 64, ms: 5.0 }, Some(Rc::new(vec![id as u8])));
    // A series: the first starts, two wait; each start takes its job off the queue.
    let s = ready().reduce(Action::Queue(vec![job("b"), job("c")])).reduce(Action::Optimize { id: 1, job: job("a") });
    assert_eq!(s.queue.len(), 2);
    let s = s.reduce(Action::PauseOptimizing(true));
    assert!(s.optimization.as_ref().unwrap().paused);
    let s = s.reduce(Action::PauseOptimizing(false)).reduce(done(1)).reduce(Action::Optimize { id: 2, job: job("b") });
    assert_eq!((s.queue.len(), s.made.len()), (1, 1));
    assert_eq!(s.made[0].job.layer, "a");
    // Stopping drops what waits; pausing a finished run does nothing.
    let s = s.reduce(Action::StopOptimizing).reduce(Action::PauseOptimizing(true));
    assert!(s.queue.is_empty());
    assert!(!s.optimization.as_ref().unwrap().paused);
    // A fooling image's verdict sits with its run.
    let top5 = vec![Prediction { index: 1, label: "goldfish".into(), prob: 0.99 }];
    let s = s
        .reduce(Action::Optimize {
            id: 3,
            job: OptimizeJob { kind: "fool".into(), class: 1, ..OptimizeJob::default() },
        })
        .reduce(Action::Worker(
            Response::Fooled { id: 3, target: 1, succeeded: true, top5: top5.clone(), linf: 2, gain: 10.0 },
            Some(Rc::new(vec![7])),
        ));
    let v = s.optimization.as_ref().unwrap().fooled.clone().unwrap();
    assert_eq!((v.succeeded, v.linf, v.top5, v.difference.as_deref()), (true, 2, top5, Some(&vec![7])));
    // The row keeps the newest MADE runs.
    let mut s = s.reduce(done(3));
    for id in 10..30 {
        s = s.reduce(Action::Optimize { id, job: job("x") }).reduce(done(id));
    }
    assert_eq!(s.made.len(), MADE);
    assert_eq!(s.made[0].id, 29);
    assert!(s.reduce(Action::ClearMade).made.is_empty());
}

fn layout(channels: usize) -> convlens::protocol::GridLayout {
    convlens::protocol::GridLayout {
        channels,
        map: [2, 2],
        columns: 2,
        rows: 1,
        zoom: 1,
        gap: 2,
        ranges: vec![(0.0, 1.0); channels],
        maxima: vec![1.0; channels],
    }
}

#[test]
fn anatomy_answers_are_routed_by_id_and_stale_ones_dropped() {
    let s = ready().reduce(Action::Anatomy { id: 5, what: "running the image".into() });
    assert_eq!(s.anatomy.running.as_ref().map(|r| r.0), Some(5));
    // (Progress goes to the page's ProgressBoard; a report reaching the state changes nothing.)
    let s = s.reduce(Action::Worker(Response::Progress { id: 5, done: 3, total: 10 }, None));
    assert_eq!(s.anatomy.running.as_ref().map(|r| r.0), Some(5));
    // An answer for another id is ignored; ours lands and ends the request.
    let mut bytes = vec![0x89, b'P', b'N', b'G'];
    let values = [0.5f32, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0];
    bytes.extend(values.iter().flat_map(|v| v.to_le_bytes()));
    let answer = |id| {
        Action::Worker(
            Response::Activations { id, layer: "conv1".into(), layout: layout(2), png_len: 4 },
            Some(Rc::new(bytes.clone())),
        )
    };
    let s = s.reduce(answer(4));
    assert!(s.anatomy.activations.is_none());
    let s = s.reduce(answer(5));
    assert!(s.anatomy.running.is_none());
    let v = s.anatomy.activations.clone().unwrap();
    assert_eq!(*v.png, vec![0x89, b'P', b'N', b'G']);
    assert_eq!(v.value(1, 0, 1), Some(5.0), "channel 1, row 0, column 1");
    assert_eq!(v.value(0, 2, 0), None, "outside the map");
    // A failure of the running request ends it and shows the message; "cancelled" shows nothing.
    let s = s.reduce(Action::Anatomy { id: 6, what: "searching".into() });
    let s = s.reduce(Action::Worker(Response::Failed { id: Some(6), message: "load a dataset first".into() }, None));
    assert!(s.anatomy.running.is_none());
    assert_eq!(s.error.as_deref(), Some("load a dataset first"));
    assert!(s.anatomy.activations.is_some(), "an error keeps what was shown");
}

#[test]
fn t_sne_streams_and_keeps_the_last_divergence() {
    let s = ready().reduce(Action::Anatomy { id: 9, what: "t-SNE".into() });
    let step = |iteration, kl, done| {
        Action::Worker(
            Response::TsneStep { id: 9, iteration, iterations: 20, kl, points: vec![0.0; 8], you: None, done, ms: 1.0 },
            None,
        )
    };
    let s = s.reduce(step(0, Some(2.0), false)).reduce(step(10, None, false));
    let t = s.anatomy.tsne.clone().unwrap();
    assert_eq!((t.iteration, t.kl, t.done), (10, Some(2.0), false));
    assert!(s.anatomy.running.is_some());
    let s = s.reduce(step(20, Some(1.5), true));
    assert_eq!(s.anatomy.tsne.as_ref().map(|t| (t.kl, t.done)), Some((Some(1.5), true)));
    assert!(s.anatomy.running.is_none());
    // After Stop, late steps of that run are ignored.
    let s = s.reduce(Action::Anatomy { id: 10, what: "t-SNE".into() }).reduce(Action::StopAnatomy);
    let late = Response::TsneStep {
        id: 10,
        iteration: 5,
        iterations: 20,
        kl: None,
        points: vec![],
        you: None,
        done: false,
        ms: 1.0,
    };
    assert_eq!(s.clone().reduce(Action::Worker(late, None)).anatomy.tsne, s.anatomy.tsne);
}

#[test]
fn switching_models_reclassifies_the_photo_and_clears_the_anatomy() {
    let s = ready().reduce(Action::Submit { id: 1, source: "coffee.png".into() }).reduce(classified(1));
    let s = s.reduce(Action::Anatomy { id: 2, what: "x".into() });
    let s = s.reduce(Action::SwitchModel { key: "fashion-mnist".into(), reclassify: Some(3) });
    assert_eq!(s.settings.model, "fashion-mnist");
    assert_eq!(s.pending, Some((3, "coffee.png".to_string())));
    assert!(s.anatomy.running.is_none());
    assert!(!s.can_submit(), "loading");
    let fashion = ModelSummary { name: "fashion".into(), channels: 1, dataset: true, ..summary() };
    let s = s.reduce(Action::Worker(
        Response::Ready { backend: BackendKind::Cpu, note: None, model: fashion, warmup_ms: 1.0 },
        None,
    ));
    assert_eq!(s.status.code(), "busy", "still classifying the photo again");
    let s = s.reduce(classified(3));
    assert_eq!(s.status, Status::Ready);
    assert_eq!(s.shown.as_ref().map(|x| x.source.as_str()), Some("coffee.png"));
    // The model is in the URL; unknown keys keep the default.
    let q = s.settings.to_query();
    assert!(q.contains(&("model".to_string(), "fashion-mnist".to_string())));
    assert_eq!(Settings::from_query(&q).model, "fashion-mnist");
    assert_eq!(Settings::from_query(&[("model".into(), "../../etc".into())]).model, "squeezenet");
    // Without a photo, nothing is reclassified.
    let s = ready().reduce(Action::SwitchModel { key: "fashion-mnist".into(), reclassify: None });
    assert!(s.pending.is_none() && s.shown.is_none());
}

#[test]
fn packed_files_round_trip_and_truncation_is_an_error() {
    use convlens::protocol::{pack_files, unpack_files};
    let files =
        vec![("a.png".to_string(), vec![1u8, 2, 3]), ("ü.jpg".to_string(), vec![]), ("b".to_string(), vec![9; 1000])];
    let packed = pack_files(&files);
    assert_eq!(unpack_files(&packed).unwrap(), files);
    assert!(unpack_files(&packed[..packed.len() - 1]).is_err());
    assert!(unpack_files(&[255, 255, 255, 255]).is_err(), "a name longer than the buffer");
    assert_eq!(unpack_files(&[]).unwrap(), vec![]);
}

#[test]
fn an_own_model_replaces_the_model_only_once_it_runs() {
    let s = ready().reduce(Action::Submit { id: 1, source: "coffee.png".into() }).reduce(classified(1));
    let s = s.reduce(Action::OpenModel { name: "mine.onnx".into(), reclassify: Some(2) });
    assert_eq!(s.own_model, None, "not yet");
    assert_eq!(s.own_model_loading.as_deref(), Some("mine.onnx"));
    // A file that does not load: the old model stays, with a message.
    let failed =
        s.clone().reduce(Action::Worker(Response::Failed { id: None, message: "not an ONNX model".into() }, None));
    assert_eq!((failed.own_model.clone(), failed.own_model_loading.clone()), (None, None));
    assert_eq!(failed.status, Status::Ready);
    assert_eq!(failed.error.as_deref(), Some("not an ONNX model"));
    assert_eq!(failed.settings.model, "squeezenet");
    // One that loads is the model now; the photo is classified again.
    let s = s.reduce(Action::Worker(
        Response::Ready { backend: BackendKind::Cpu, note: None, model: summary(), warmup_ms: 1.0 },
        None,
    ));
    assert_eq!(s.own_model.as_deref(), Some("mine.onnx"));
    let s = s.reduce(classified(2));
    assert_eq!(s.status, Status::Ready);
    // Back to a bundled model.
    let s = s.reduce(Action::SwitchModel { key: "squeezenet".into(), reclassify: None });
    assert_eq!(s.own_model, None);
}

#[test]
fn another_model_gets_layers_it_has() {
    use convlens::protocol::OptimizeJob;
    let squeeze: Vec<String> = ["conv1", "conv1_relu", "fire2/concat", "fire3/concat", "fire5/concat", "fire9/concat"]
        .map(String::from)
        .to_vec();
    let mut job = OptimizeJob::default();
    job.fit_layers(&squeeze);
    assert_eq!(job.layer, "fire5/concat", "kept");
    let fashion: Vec<String> =
        ["conv1", "conv1_relu", "pool1", "conv2", "conv2_relu", "pool2", "conv3", "conv3_relu", "fc1_relu"]
            .map(String::from)
            .to_vec();
    job.fit_layers(&fashion);
    assert!(fashion.contains(&job.layer) && job.layer.contains("relu"), "{}", job.layer);
    assert!(job.style_layers.iter().all(|l| fashion.contains(l)) && !job.style_layers.is_empty());
}

#[test]
fn labels_files_in_the_usual_forms() {
    use convlens::protocol::parse_labels;
    let want = vec!["tench".to_string(), "goldfish".into(), "great white shark".into()];
    assert_eq!(parse_labels("tench\ngoldfish\r\n\n great white shark \n").unwrap(), want);
    assert_eq!(parse_labels(r#"["tench", "goldfish", "great white shark"]"#).unwrap(), want);
    // Keras' imagenet_class_index.json, keys in string order ("10" before "2").
    let keras =
        r#"{"0": ["n01440764", "tench"], "2": ["n01484850", "great white shark"], "1": ["n01443537", "goldfish"]}"#;
    assert_eq!(parse_labels(keras).unwrap(), want);
    assert_eq!(parse_labels(r#"{"1": "goldfish", "0": "tench", "2": "great white shark"}"#).unwrap(), want);
    let eleven: std::collections::BTreeMap<String, String> =
        (0..11).map(|i| (i.to_string(), format!("c{i}"))).collect();
    assert_eq!(parse_labels(&serde_json::to_string(&eleven).unwrap()).unwrap()[10], "c10");
    for bad in ["", "  \n ", r#"{"0": "a", "2": "c"}"#, r#"{"x": "a"}"#, "[1, 2]", r#"{"0": 5}"#, "[\"a\""] {
        assert!(parse_labels(bad).is_err(), "{bad:?} was accepted");
    }
}

/// A run's progress is its latest report; the board keeps the last `KEPT` runs' counts.
#[test]
fn progress_board_keeps_each_runs_latest_count() {
    use convlens::app_state::ProgressBoard;
    let mut board = ProgressBoard::default();
    assert_eq!(board.of(7), None);
    board.report(7, 1, 9);
    board.report(8, 2, 4);
    board.report(7, 3, 9);
    assert_eq!((board.of(7), board.of(8)), (Some((3, 9)), Some((2, 4))));
    for id in 100..100 + ProgressBoard::KEPT as u64 {
        board.report(id, 0, 1);
    }
    assert_eq!((board.of(7), board.of(8)), (None, None), "the oldest runs make room");
    assert_eq!(board.of(100), Some((0, 1)));
}
