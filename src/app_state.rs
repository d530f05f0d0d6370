//! The page's state and the actions that change it, with no DOM code, so the rules
//! ("an error never wipes the last good result") are tested natively.

use std::rc::Rc;

use crate::protocol::{
    BackendKind, Colormap, DatasetImage, ExplainJob, GridLayout, Look, MethodParams, ModelSummary, OptimizeJob,
    PatchRow, Prediction, Response, Target, View,
};

/// Busy / ready / error, as shown in `data-testid="status"`.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    Starting(String),
    Busy(String),
    Ready,
    Error(String),
}

impl Status {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Starting(_) | Self::Busy(_) => "busy",
            Self::Ready => "ready",
            Self::Error(_) => "error",
        }
    }
}

/// The last successful classification.
#[derive(Debug, Clone, PartialEq)]
pub struct Shown {
    pub source: String,
    pub crop_png: Rc<Vec<u8>>,
    pub top5: Vec<Prediction>,
    pub forward_ms: f64,
}

/// An attribution map of the shown crop.
#[derive(Debug, Clone, PartialEq)]
pub struct Explanation {
    pub id: u64,
    pub job: ExplainJob,
    /// What was explained, in words ("Egyptian cat", "fire9/concat channel 7").
    pub label: String,
    pub png: Rc<Vec<u8>>,
    pub score: f32,
    pub lo: f32,
    pub hi: f32,
    pub ms: f64,
    /// Drawn again from the worker's copy of an earlier map (a new look, the same numbers).
    pub cached: bool,
    /// CPU workers that computed it (more than 1: helpers on other cores took part).
    pub workers: usize,
}

/// An explanation in progress.
#[derive(Debug, Clone, PartialEq)]
pub struct Running {
    pub id: u64,
    pub job: ExplainJob,
    /// A rough first map (PNG) while the rest is computed.
    pub preview: Option<Rc<Vec<u8>>>,
}

/// The live occluder's last answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    pub x: u32,
    pub y: u32,
    pub size: u32,
    pub prob: f32,
    pub top5: Vec<Prediction>,
    pub ms: f64,
}

/// An optimization over the image: running, then finished.
#[derive(Debug, Clone, PartialEq)]
pub struct Optimization {
    pub id: u64,
    pub job: OptimizeJob,
    /// Steps done, and the objective after each (for the chart).
    pub values: Vec<f32>,
    /// The latest terms (name, weighted value).
    pub terms: Vec<(String, f32)>,
    /// The latest image (PNG).
    pub png: Option<Rc<Vec<u8>>>,
    /// Time since the start at the latest step.
    pub elapsed_ms: f64,
    /// Compute time when finished.
    pub ms: Option<f64>,
    pub running: bool,
    pub paused: bool,
    /// A fooling image's verdict.
    pub fooled: Option<Verdict>,
}

/// What the network makes of a fooling image.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub target: usize,
    pub succeeded: bool,
    pub top5: Vec<Prediction>,
    /// The largest pixel change, in 1/255 levels.
    pub linf: u32,
    /// The difference from the photo, amplified `gain` times (PNG).
    pub difference: Option<Rc<Vec<u8>>>,
    pub gain: f32,
}

/// The sample style images under `samples/styles/` (file, caption); see its ATTRIBUTION.md.
pub const STYLES: &[(&str, &str)] = &[
    ("styles/stained-glass.jpg", "stained glass (generated)"),
    ("hubble_deep_field.jpg", "Hubble deep field"),
    ("styles/brick.jpg", "brick wall (grey)"),
    ("styles/gravel.jpg", "gravel (grey)"),
    ("styles/grass.jpg", "grass (grey)"),
];
pub const DEFAULT_STYLE: &str = "styles/stained-glass.jpg";

/// How many finished optimizations the page keeps side by side (newest first).
pub const MADE: usize = 8;

/// Work done and to do, `(done, total)`, of the last few runs, by run id. Kept apart from
/// [`State`]: progress arrives about ten times a second while a sweep or a search runs, and the
/// page draws only the rows that show it from here, not the whole app again for each report
/// (the page sends [`Response::Progress`] here, not to [`State::reduce`]).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ProgressBoard(std::collections::VecDeque<(u64, (usize, usize))>);

impl ProgressBoard {
    /// Runs whose counts are kept (the latest; a progress row reads only its own run's).
    pub const KEPT: usize = 16;

    /// Run `id`'s count is now `(done, total)`.
    pub fn report(&mut self, id: u64, done: usize, total: usize) {
        match self.0.iter_mut().find(|(run, _)| *run == id) {
            Some((_, count)) => *count = (done, total),
            None => {
                self.0.push_back((id, (done, total)));
                if self.0.len() > Self::KEPT {
                    self.0.pop_front();
                }
            }
        }
    }

    /// Run `id`'s latest count, if it has reported one (and is among the last [`Self::KEPT`]).
    pub fn of(&self, id: u64) -> Option<(usize, usize)> {
        self.0.iter().find(|(run, _)| *run == id).map(|(_, count)| *count)
    }
}

/// Network anatomy's views of the current model (cleared when another model loads).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Anatomy {
    /// The request running now: id, what it does (in words); its progress is on the
    /// [`ProgressBoard`].
    pub running: Option<(u64, String)>,
    pub filters: Option<FiltersView>,
    pub activations: Option<ActivationsView>,
    pub tile: Option<TileView>,
    pub dataset: Option<DatasetView>,
    pub patches: Option<PatchesView>,
    pub neighbours: Option<NeighboursView>,
    pub tsne: Option<TsneView>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FiltersView {
    pub layer: String,
    pub dims: [usize; 4],
    pub on_pixels: bool,
    pub columns: usize,
    pub rows: usize,
    pub layers: Vec<String>,
    pub png: Rc<Vec<u8>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ActivationsView {
    pub layer: String,
    pub layout: GridLayout,
    pub png: Rc<Vec<u8>>,
    /// Every value, `[C, H, W]`, for hovering.
    pub values: Rc<Vec<f32>>,
}

impl ActivationsView {
    /// The value at a channel's cell.
    pub fn value(&self, channel: usize, y: usize, x: usize) -> Option<f32> {
        let [h, w] = self.layout.map;
        if y >= h || x >= w {
            return None;
        }
        self.values.get(channel * h * w + y * w + x).copied()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct TileView {
    pub layer: String,
    pub channel: usize,
    pub lo: f32,
    pub hi: f32,
    pub png: Rc<Vec<u8>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DatasetView {
    pub name: String,
    pub count: usize,
    pub labels: Option<Vec<usize>>,
    pub classes: Vec<String>,
    pub sources: Vec<String>,
    pub skipped: Vec<String>,
    pub thumb: u32,
    pub columns: usize,
    /// All thumbnails in one PNG, `columns` per row.
    pub thumbnails: Rc<Vec<u8>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PatchesView {
    pub layer: String,
    pub field: [usize; 2],
    pub rows: Vec<PatchRow>,
    pub cell: u32,
    pub images: usize,
    pub ms: f64,
    pub png: Rc<Vec<u8>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NeighboursView {
    pub layer: String,
    pub codes: Vec<DatasetImage>,
    pub pixels: Vec<DatasetImage>,
    pub cell: u32,
    pub png: Rc<Vec<u8>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TsneView {
    pub id: u64,
    pub iteration: usize,
    pub iterations: usize,
    pub kl: Option<f32>,
    pub points: Rc<Vec<f32>>,
    pub you: Option<[f32; 2]>,
    pub done: bool,
    pub ms: f64,
}

/// How many maps the gallery keeps (newest first).
pub const GALLERY: usize = 6;

#[derive(Debug, Clone, PartialEq)]
pub struct State {
    pub status: Status,
    pub backend: Option<BackendKind>,
    pub backend_note: Option<String>,
    pub model: Option<ModelSummary>,
    pub warmup_ms: Option<f64>,
    pub shown: Option<Shown>,
    /// The image being classified now (its source name).
    pub pending: Option<(u64, String)>,
    /// The last error, shown once in a banner until the next action.
    pub error: Option<String>,
    /// Why the worker was restarted on the CPU, if it was.
    pub crash: Option<String>,
    /// Finished maps of the shown image, newest first.
    pub explanations: Vec<Explanation>,
    /// Explanations being computed, in request order.
    pub explaining: Vec<Running>,
    /// The live occluder's latest answer while it is on.
    pub probe: Option<Probe>,
    pub occluder: bool,
    pub settings: Settings,
    /// The last optimization over the image (running or finished).
    pub optimization: Option<Optimization>,
    /// Finished optimizations, newest first (e.g. inversions from several layers).
    pub made: Vec<Optimization>,
    /// Optimizations waiting to start after the running one (a series of inversions).
    pub queue: Vec<OptimizeJob>,
    pub anatomy: Anatomy,
    /// The file name of the user's own model while it is the one loaded.
    pub own_model: Option<String>,
    /// The user's model file being loaded (it replaces the model only once it runs).
    pub own_model_loading: Option<String>,
}

impl Default for State {
    fn default() -> Self {
        Self {
            status: Status::Starting("starting the compute worker…".into()),
            backend: None,
            backend_note: None,
            model: None,
            warmup_ms: None,
            shown: None,
            pending: None,
            error: None,
            crash: None,
            explanations: Vec::new(),
            explaining: Vec::new(),
            probe: None,
            occluder: false,
            settings: Settings::default(),
            optimization: None,
            made: Vec::new(),
            queue: Vec::new(),
            anatomy: Anatomy::default(),
            own_model: None,
            own_model_loading: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// A message from the worker (the crop's PNG bytes travel with `Classified`).
    Worker(Response, Option<Rc<Vec<u8>>>),
    /// The user gave an image; the page sends it to the worker under the returned id.
    Submit {
        id: u64,
        source: String,
    },
    /// The user asked for an attribution map of the shown image.
    Explain {
        id: u64,
        job: ExplainJob,
    },
    /// The user stopped every running explanation.
    CancelExplanations,
    /// The live occluder was switched on or off.
    Occluder(bool),
    ClearGallery,
    /// The explain panel's choices changed.
    Settings(Settings),
    /// A picture was chosen: the sample's name (for a shared link), or empty for any other picture.
    Image(String),
    /// The user started an optimization over the image.
    Optimize {
        id: u64,
        job: OptimizeJob,
    },
    /// The user stopped the optimization (the image so far stays) and the ones queued.
    StopOptimizing,
    /// The user paused or resumed the optimization.
    PauseOptimizing(bool),
    /// Run these after the current optimization, in order.
    Queue(Vec<OptimizeJob>),
    ClearMade,
    /// The user started a network-anatomy request (`what` in words).
    Anatomy {
        id: u64,
        what: String,
    },
    /// The user stopped the running anatomy request.
    StopAnatomy,
    /// The user switched to another bundled model; `reclassify` is the id under which the
    /// worker classifies the shown photo again.
    SwitchModel {
        key: String,
        reclassify: Option<u64>,
    },
    /// The user opened their own model file (its name); like `SwitchModel` otherwise.
    OpenModel {
        name: String,
        reclassify: Option<u64>,
    },
    /// Something failed on the page side (a file could not be read, a sample is missing).
    PageError(String),
    /// The worker died (device lost, out of memory); the page restarts it on the CPU.
    WorkerCrashed(String),
    DismissError,
}

impl State {
    pub fn can_submit(&self) -> bool {
        self.model.is_some() && !matches!(self.status, Status::Starting(_))
    }

    /// An explanation can start when an image is shown and no classification is running.
    pub fn can_explain(&self) -> bool {
        self.can_submit() && self.shown.is_some() && self.pending.is_none()
    }

    /// The name of a class, from the model's labels or the shown top-5.
    pub fn class_label(&self, class: usize) -> String {
        self.model
            .as_ref()
            .and_then(|m| m.labels.get(class).cloned())
            .or_else(|| self.shown.as_ref()?.top5.iter().find(|p| p.index == class).map(|p| p.label.clone()))
            .unwrap_or_else(|| format!("class {class}"))
    }

    pub fn target_label(&self, target: &Target) -> String {
        match target {
            Target::Class(c) => self.class_label(*c),
            Target::Channel { layer, channel } => format!("{layer} channel {channel}"),
        }
    }

    fn settle(&mut self) {
        if self.pending.is_none() && self.explaining.is_empty() && self.model.is_some() {
            self.status = Status::Ready;
        }
    }

    /// Whether `id` is the anatomy request the page waits for; if so it is over.
    fn anatomy_done(&mut self, id: u64) -> bool {
        let current = self.anatomy.running.as_ref().is_some_and(|r| r.0 == id);
        if current {
            self.anatomy.running = None;
        }
        current
    }

    pub fn reduce(mut self, action: Action) -> Self {
        let action_is_file = matches!(action, Action::OpenModel { .. });
        match action {
            Action::Submit { id, source } => {
                self.status = Status::Busy(format!("classifying {source}…"));
                self.pending = Some((id, source));
                self.error = None;
            }
            Action::Explain { id, job } => {
                self.status = Status::Busy(format!("computing {}…", job.method));
                self.explaining.push(Running { id, job, preview: None });
                self.error = None;
            }
            Action::CancelExplanations => {
                self.explaining.clear();
                self.settle();
            }
            Action::Occluder(on) => {
                self.occluder = on;
                self.probe = None;
            }
            Action::ClearGallery => self.explanations.clear(),
            Action::Settings(settings) => self.settings = settings,
            Action::Image(name) => self.settings.image = name,
            Action::Optimize { id, job } => {
                if self.queue.first() == Some(&job) {
                    self.queue.remove(0);
                }
                let png = self.optimization.take().and_then(|o| o.png);
                self.optimization = Some(Optimization {
                    id,
                    job,
                    values: Vec::new(),
                    terms: Vec::new(),
                    png,
                    elapsed_ms: 0.0,
                    ms: None,
                    running: true,
                    paused: false,
                    fooled: None,
                });
                self.error = None;
            }
            Action::StopOptimizing => {
                if let Some(o) = &mut self.optimization {
                    o.running = false;
                    o.paused = false;
                }
                self.queue.clear();
            }
            Action::PauseOptimizing(paused) => {
                if let Some(o) = self.optimization.as_mut().filter(|o| o.running) {
                    o.paused = paused;
                }
            }
            Action::Queue(jobs) => self.queue.extend(jobs),
            Action::ClearMade => self.made.clear(),
            Action::Anatomy { id, what } => {
                self.anatomy.running = Some((id, what));
                self.error = None;
            }
            Action::StopAnatomy => self.anatomy.running = None,
            Action::SwitchModel { key, reclassify } | Action::OpenModel { name: key, reclassify } => {
                if action_is_file {
                    self.own_model_loading = Some(key);
                } else {
                    self.settings.model = key;
                    self.own_model = None;
                }
                self.status = Status::Starting("loading the model…".into());
                self.anatomy = Anatomy::default();
                self.explanations.clear();
                self.explaining.clear();
                self.probe = None;
                self.occluder = false;
                self.queue.clear();
                match (reclassify, &self.shown) {
                    (Some(id), Some(shown)) => self.pending = Some((id, shown.source.clone())),
                    _ => self.shown = None,
                }
            }
            Action::PageError(message) => {
                self.error = Some(message);
                self.queue.clear();
                self.status = if self.model.is_some() { Status::Ready } else { Status::Error("not ready".into()) };
            }
            Action::WorkerCrashed(message) => {
                self.pending = None;
                self.explaining.clear();
                self.queue.clear();
                if let Some(o) = &mut self.optimization {
                    o.running = false;
                    o.paused = false;
                }
                self.error = Some(format!("the compute worker stopped ({message}); restarting on the CPU"));
                self.status = Status::Starting("restarting on the CPU…".into());
                self.model = None;
                self.crash = Some(message);
            }
            Action::DismissError => self.error = None,
            Action::Worker(response, png) => match response {
                Response::Started => self.status = Status::Starting("loading the model…".into()),
                // Between a worker and its CPU helpers only.
                Response::HelperReady | Response::Measured { .. } => {}
                Response::Loading { message } => self.status = Status::Starting(message),
                Response::Ready { backend, note, model, warmup_ms } => {
                    self.backend = Some(backend);
                    if backend == BackendKind::Cpu {
                        self.settings.optimize.lighten();
                    }
                    self.backend_note = match &self.crash {
                        Some(reason) => Some(format!("switched to the CPU after the compute worker stopped: {reason}")),
                        None => note,
                    };
                    if self.model.as_ref().is_some_and(|m| m.name != model.name) {
                        self.anatomy = Anatomy::default();
                    }
                    if let Some(name) = self.own_model_loading.take() {
                        self.own_model = Some(name);
                    }
                    self.settings.optimize.fit_layers(&model.layers);
                    self.model = Some(model);
                    self.warmup_ms = Some(warmup_ms);
                    self.status =
                        if self.pending.is_some() { Status::Busy("classifying…".into()) } else { Status::Ready };
                }
                Response::Classified { id, top5, forward_ms, .. } => {
                    if let Some((pending, source)) = self.pending.take() {
                        if pending == id {
                            self.shown = Some(Shown { source, crop_png: png.unwrap_or_default(), top5, forward_ms });
                            self.explanations.clear();
                            self.probe = None;
                            // Views of the previous image go; the dataset's stay.
                            self.anatomy.activations = None;
                            self.anatomy.tile = None;
                            self.anatomy.neighbours = None;
                        } else {
                            self.pending = Some((pending, source));
                        }
                    }
                    if self.pending.is_none() {
                        self.status = Status::Ready;
                    }
                }
                // The page keeps progress on a [`ProgressBoard`] of its own.
                Response::Progress { .. } => {}
                Response::Preview { id } => {
                    if let Some(r) = self.explaining.iter_mut().find(|r| r.id == id) {
                        r.preview = png;
                    }
                }
                Response::Explained { id, job, score, lo, hi, ms, cached, workers } => {
                    // A map that was cancelled, or belongs to an earlier image, is dropped.
                    if let Some(k) = self.explaining.iter().position(|r| r.id == id) {
                        self.explaining.remove(k);
                        let label = self.target_label(&job.target);
                        let png = png.unwrap_or_default();
                        self.explanations
                            .insert(0, Explanation { id, job, label, png, score, lo, hi, ms, cached, workers });
                        self.explanations.truncate(GALLERY);
                        self.settle();
                    }
                }
                Response::OptStep { id, value, terms, ms, .. } => {
                    if let Some(o) = self.optimization.as_mut().filter(|o| o.id == id && o.running) {
                        o.values.push(value);
                        o.elapsed_ms = ms;
                        o.terms = terms;
                        if png.is_some() {
                            o.png = png;
                        }
                    }
                }
                Response::Optimized { id, ms, .. } => {
                    if let Some(o) = self.optimization.as_mut().filter(|o| o.id == id) {
                        o.running = false;
                        o.paused = false;
                        o.ms = Some(ms);
                        if png.is_some() {
                            o.png = png;
                        }
                        self.made.insert(0, o.clone());
                        self.made.truncate(MADE);
                    }
                }
                Response::Fooled { id, target, succeeded, top5, linf, gain } => {
                    if let Some(o) = self.optimization.as_mut().filter(|o| o.id == id) {
                        o.fooled = Some(Verdict { target, succeeded, top5, linf, difference: png, gain });
                    }
                }
                Response::Filters { id, layer, dims, on_pixels, columns, rows, layers } => {
                    if self.anatomy_done(id) {
                        let png = png.unwrap_or_default();
                        self.anatomy.filters = Some(FiltersView { layer, dims, on_pixels, columns, rows, layers, png });
                    }
                }
                Response::Activations { id, layer, layout, png_len } => {
                    if self.anatomy_done(id) {
                        let bytes = png.unwrap_or_default();
                        let png_len = png_len.min(bytes.len());
                        let values = bytes[png_len..]
                            .chunks_exact(4)
                            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                            .collect();
                        self.anatomy.tile = None;
                        self.anatomy.activations = Some(ActivationsView {
                            layer,
                            layout,
                            png: Rc::new(bytes[..png_len].to_vec()),
                            values: Rc::new(values),
                        });
                    }
                }
                Response::Tile { id, layer, channel, lo, hi } => {
                    if self.anatomy_done(id) {
                        self.anatomy.tile = Some(TileView { layer, channel, lo, hi, png: png.unwrap_or_default() });
                    }
                }
                Response::Dataset { id, name, count, labels, classes, sources, skipped, thumb, columns } => {
                    if self.anatomy_done(id) {
                        self.anatomy.patches = None;
                        self.anatomy.neighbours = None;
                        self.anatomy.tsne = None;
                        self.anatomy.dataset = Some(DatasetView {
                            name,
                            count,
                            labels,
                            classes,
                            sources,
                            skipped,
                            thumb,
                            columns,
                            thumbnails: png.unwrap_or_default(),
                        });
                    }
                }
                Response::Patches { id, layer, field, rows, cell, images, ms } => {
                    if self.anatomy_done(id) {
                        let png = png.unwrap_or_default();
                        self.anatomy.patches = Some(PatchesView { layer, field, rows, cell, images, ms, png });
                    }
                }
                Response::Neighbours { id, layer, codes, pixels, cell } => {
                    if self.anatomy_done(id) {
                        let png = png.unwrap_or_default();
                        self.anatomy.neighbours = Some(NeighboursView { layer, codes, pixels, cell, png });
                    }
                }
                Response::TsneStep { id, iteration, iterations, kl, points, you, done, ms } => {
                    if self.anatomy.running.as_ref().is_some_and(|r| r.0 == id) {
                        let kl = kl.or(self.anatomy.tsne.as_ref().filter(|t| t.id == id).and_then(|t| t.kl));
                        let points = Rc::new(points);
                        self.anatomy.tsne = Some(TsneView { id, iteration, iterations, kl, points, you, done, ms });
                        if done {
                            self.anatomy.running = None;
                        }
                    }
                }
                Response::Probed { x, y, size, prob, top5, ms, .. } => {
                    if self.occluder {
                        self.probe = Some(Probe { x, y, size, prob, top5, ms });
                    }
                }
                Response::Failed { id, message } => {
                    if id.is_none() {
                        self.own_model_loading = None;
                    }
                    if id.is_none() || self.pending.as_ref().map(|p| p.0) == id {
                        self.pending = None;
                    }
                    let cancelled = message == "cancelled";
                    if let Some(o) = self.optimization.as_mut().filter(|o| Some(o.id) == id) {
                        o.running = false;
                        o.paused = false;
                        self.queue.clear();
                    }
                    self.explaining.retain(|r| id.is_some() && Some(r.id) != id);
                    if self.anatomy.running.as_ref().is_some_and(|r| Some(r.0) == id) {
                        self.anatomy.running = None;
                    }
                    if !cancelled {
                        self.error = Some(message);
                    }
                    self.settle();
                }
                Response::Fatal { message } => {
                    self.pending = None;
                    self.explaining.clear();
                    self.status = Status::Error(message.clone());
                    self.error = Some(message);
                }
            },
        }
        self
    }
}

/// The explain panel's choices: what the next map will be. Kept in the page's URL so a link
/// reproduces the view.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub method: String,
    /// A class to explain; `None` follows the shown image's top-1.
    pub class: Option<usize>,
    /// A neuron (layer, channel) to explain instead of a class.
    pub neuron: Option<(String, usize)>,
    pub params: MethodParams,
    pub look: Look,
    /// The live occluder's square side in crop pixels.
    pub occluder_size: u32,
    /// The "Make an image" panel's job.
    pub optimize: OptimizeJob,
    /// Neural style's sample style image (a file name under `samples/styles/`; empty for an
    /// uploaded one).
    pub style: String,
    /// The bundled model (`protocol::MODELS` key).
    pub model: String,
    /// The sample photo shown (a file under `samples/`), empty for the user's own picture.
    pub image: String,
    /// The open step of the lecture path (`lecture::STEPS` index).
    pub step: Option<usize>,
    /// The open tab of "Inside the network" (`lecture::ANATOMY_TABS` key).
    pub tab: String,
    /// Projector mode: large type, high contrast.
    pub projector: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            method: "guided-backprop".into(),
            class: None,
            neuron: None,
            params: MethodParams::default(),
            look: Look::default(),
            occluder_size: 48,
            optimize: OptimizeJob::default(),
            style: DEFAULT_STYLE.into(),
            model: crate::protocol::MODELS[0].0.into(),
            image: String::new(),
            step: None,
            tab: crate::lecture::ANATOMY_TABS[0].0.into(),
            projector: false,
        }
    }
}

fn view_name(v: View) -> &'static str {
    match v {
        View::Overlay => "overlay",
        View::Heat => "heat",
        View::Rgb => "rgb",
    }
}

impl Settings {
    /// The target for the shown image (the top-1 class unless chosen).
    pub fn target(&self, top1: usize) -> Target {
        match &self.neuron {
            Some((layer, channel)) => Target::Channel { layer: layer.clone(), channel: *channel },
            None => Target::Class(self.class.unwrap_or(top1)),
        }
    }

    /// These settings with a lecture step open (or the path left, `None`): the step's panel is
    /// set up for it (its method, its kind of image with the `light` CPU defaults or not, its
    /// tab); everything else stays.
    pub fn at_step(&self, step: Option<usize>, light: bool) -> Settings {
        use crate::lecture::{Place, STEPS};
        let step = step.filter(|i| *i < STEPS.len());
        let mut s = Settings { step, ..self.clone() };
        match step.map(|i| STEPS[i].place) {
            Some(Place::Anatomy(tab)) => s.tab = tab.into(),
            Some(Place::Explain(method)) => s.method = method.into(),
            Some(Place::Optimize(kind)) if s.optimize.kind != kind => {
                let (steps, size) = OptimizeJob::defaults(kind, light);
                s.optimize = OptimizeJob { steps, size, kind: kind.into(), ..s.optimize.clone() }
            }
            _ => {}
        }
        s
    }

    pub fn job(&self, top1: usize) -> ExplainJob {
        ExplainJob {
            method: self.method.clone(),
            target: self.target(top1),
            params: self.params.clone(),
            look: self.look,
        }
    }

    /// `key=value` pairs for the URL (only what differs from the defaults).
    pub fn to_query(&self) -> Vec<(String, String)> {
        let d = Settings::default();
        let (p, dp) = (&self.params, &d.params);
        let mut q = vec![("method".to_string(), self.method.clone())];
        let mut add = |k: &str, v: String, default: String| {
            if v != default {
                q.push((k.to_string(), v));
            }
        };
        add("class", self.class.map(|c| c.to_string()).unwrap_or_default(), String::new());
        add("neuron", self.neuron.as_ref().map(|(l, c)| format!("{l}:{c}")).unwrap_or_default(), String::new());
        add("layer", p.layer.clone().unwrap_or_default(), String::new());
        add("window", p.window.to_string(), dp.window.to_string());
        add("stride", p.stride.to_string(), dp.stride.to_string());
        add("fill", p.fill.name(), dp.fill.name());
        add("baseline", p.baseline.to_string(), dp.baseline.to_string());
        add("steps", p.steps.to_string(), dp.steps.to_string());
        add("samples", p.samples.to_string(), dp.samples.to_string());
        add("sigma", p.sigma.to_string(), dp.sigma.to_string());
        add("seed", p.seed.to_string(), dp.seed.to_string());
        add("smooth", p.smooth.clone(), dp.smooth.clone());
        add("incremental", p.incremental.map(|b| b.to_string()).unwrap_or_default(), String::new());
        add("approximate", p.approximate.map(|t| t.to_string()).unwrap_or_default(), String::new());
        add("parallel", p.parallel.map(|b| b.to_string()).unwrap_or_default(), String::new());
        add("randomize", p.randomize.to_string(), dp.randomize.to_string());
        add("view", view_name(self.look.view).into(), view_name(d.look.view).into());
        add("colormap", self.look.colormap.name().into(), d.look.colormap.name().into());
        add("opacity", self.look.opacity.to_string(), d.look.opacity.to_string());
        add("occluder", self.occluder_size.to_string(), d.occluder_size.to_string());
        add("opt-style", self.style.clone(), d.style.clone());
        add("model", self.model.clone(), d.model.clone());
        add("image", self.image.clone(), d.image.clone());
        add(
            "step",
            self.step.and_then(|i| crate::lecture::STEPS.get(i)).map(|st| st.key.to_string()).unwrap_or_default(),
            String::new(),
        );
        add("tab", self.tab.clone(), d.tab.clone());
        add("projector", self.projector.to_string(), d.projector.to_string());
        q.extend(self.optimize.to_query());
        q
    }

    /// Reads what [`Settings::to_query`] wrote; unknown or malformed values keep their defaults.
    pub fn from_query(pairs: &[(String, String)]) -> Self {
        let mut s = Settings::default();
        for (k, v) in pairs {
            let p = &mut s.params;
            match k.as_str() {
                "method" if crate::protocol::METHOD_NAMES.contains(&v.as_str()) => s.method = v.clone(),
                "class" => s.class = v.parse().ok(),
                "neuron" => {
                    s.neuron = v.rsplit_once(':').and_then(|(l, c)| Some((l.to_string(), c.parse().ok()?)));
                }
                "layer" if !v.is_empty() => p.layer = Some(v.clone()),
                "window" => p.window = v.parse().unwrap_or(p.window).clamp(1, 1024),
                "stride" => p.stride = v.parse().unwrap_or(p.stride).clamp(1, 1024),
                "fill" => p.fill = crate::protocol::Fill::parse(v).unwrap_or(p.fill),
                "baseline" => p.baseline = v.parse().ok().filter(|b: &f32| b.is_finite()).unwrap_or(p.baseline),
                "steps" => p.steps = v.parse().unwrap_or(p.steps).clamp(1, 512),
                "samples" => p.samples = v.parse().unwrap_or(p.samples).clamp(1, 256),
                "sigma" => p.sigma = v.parse().ok().filter(|x: &f32| (0.0..=2.0).contains(x)).unwrap_or(p.sigma),
                "seed" => p.seed = v.parse().unwrap_or(p.seed),
                "randomize" => p.randomize = v.parse().unwrap_or(0).min(64),
                "incremental" => p.incremental = yes_no(v),
                "parallel" => p.parallel = yes_no(v),
                "approximate" => p.approximate = v.parse().ok().filter(|t: &f32| *t > 0.0 && *t <= 1.0),
                "smooth" if ["saliency", "guided-backprop", "deconvnet"].contains(&v.as_str()) => p.smooth = v.clone(),
                "view" => {
                    s.look.view = match v.as_str() {
                        "heat" => View::Heat,
                        "rgb" => View::Rgb,
                        _ => View::Overlay,
                    }
                }
                "colormap" => s.look.colormap = Colormap::parse(v).unwrap_or(s.look.colormap),
                "opacity" => {
                    s.look.opacity = v.parse().ok().filter(|o: &f32| (0.0..=1.0).contains(o)).unwrap_or(s.look.opacity)
                }
                "occluder" => s.occluder_size = v.parse().unwrap_or(s.occluder_size).clamp(4, 227),
                "model" if crate::protocol::MODELS.iter().any(|m| m.0 == v) => s.model = v.clone(),
                "image" if is_sample_name(v) => s.image = v.clone(),
                "step" => s.step = crate::lecture::step_index(v),
                "tab" if crate::lecture::ANATOMY_TABS.iter().any(|(t, _)| t == v) => s.tab = v.clone(),
                "projector" => s.projector = matches!(v.as_str(), "true" | "1" | "yes"),
                "opt-style" if v.is_empty() || STYLES.iter().any(|(f, _)| f == v) => s.style = v.clone(),
                k => {
                    s.optimize.set_from_query(k, v);
                }
            }
        }
        s
    }
}

/// Whether a name can be a sample photo's path under `samples/` (a shared link may carry any
/// text; only plain relative names of images are fetched).
pub fn is_sample_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    !name.is_empty()
        && name.len() <= 128
        && name.split('/').all(|part| !part.is_empty() && part != "..")
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
        && [".png", ".jpg", ".jpeg"].iter().any(|e| lower.ends_with(e))
}

/// A link's yes/no value; anything else leaves the choice to the device.
fn yes_no(v: &str) -> Option<bool> {
    match v {
        "false" | "0" | "no" => Some(false),
        "true" | "1" | "yes" => Some(true),
        _ => None,
    }
}
