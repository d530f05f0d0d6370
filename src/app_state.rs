//! The page's state and the actions that change it, with no DOM code, so the rules
//! ("an error never wipes the last good result") are tested natively.

use std::rc::Rc;

use crate::protocol::{BackendKind, Explain, ModelSummary, Prediction, Response};

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

/// The last attribution map shown over the crop.
#[derive(Debug, Clone, PartialEq)]
pub struct Explanation {
    pub method: Explain,
    pub class: usize,
    pub label: String,
    pub png: Rc<Vec<u8>>,
    pub lo: f32,
    pub hi: f32,
    pub ms: f64,
}

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
    pub explanation: Option<Explanation>,
    /// The explanation being computed: request id, method, progress (done, total).
    pub explaining: Option<(u64, Explain, Option<(usize, usize)>)>,
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
            explanation: None,
            explaining: None,
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
        method: Explain,
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

    /// An explanation can start when an image is shown and nothing else is running.
    pub fn can_explain(&self) -> bool {
        self.can_submit() && self.shown.is_some() && self.pending.is_none() && self.explaining.is_none()
    }

    pub fn reduce(mut self, action: Action) -> Self {
        match action {
            Action::Submit { id, source } => {
                self.status = Status::Busy(format!("classifying {source}…"));
                self.pending = Some((id, source));
                self.error = None;
            }
            Action::Explain { id, method } => {
                self.explaining = Some((id, method, None));
                self.status = Status::Busy(format!("computing {}…", method.name()));
                self.error = None;
            }
            Action::PageError(message) => {
                self.error = Some(message);
                self.status = if self.model.is_some() { Status::Ready } else { Status::Error("not ready".into()) };
            }
            Action::WorkerCrashed(message) => {
                self.pending = None;
                self.explaining = None;
                self.error = Some(format!("the compute worker stopped ({message}); restarting on the CPU"));
                self.status = Status::Starting("restarting on the CPU…".into());
                self.model = None;
                self.crash = Some(message);
            }
            Action::DismissError => self.error = None,
            Action::Worker(response, png) => match response {
                Response::Started => self.status = Status::Starting("loading the model…".into()),
                Response::Loading { message } => self.status = Status::Starting(message),
                Response::Ready { backend, note, model, warmup_ms } => {
                    self.backend = Some(backend);
                    self.backend_note = match &self.crash {
                        Some(reason) => Some(format!("switched to the CPU after the compute worker stopped: {reason}")),
                        None => note,
                    };
                    self.model = Some(model);
                    self.warmup_ms = Some(warmup_ms);
                    self.status = Status::Ready;
                }
                Response::Classified { id, top5, forward_ms, .. } => {
                    if let Some((pending, source)) = self.pending.take() {
                        if pending == id {
                            self.shown = Some(Shown { source, crop_png: png.unwrap_or_default(), top5, forward_ms });
                            self.explanation = None;
                        } else {
                            self.pending = Some((pending, source));
                        }
                    }
                    if self.pending.is_none() {
                        self.status = Status::Ready;
                    }
                }
                Response::Progress { id, done, total } => {
                    if let Some((running, _, progress)) = &mut self.explaining
                        && *running == id
                    {
                        *progress = Some((done, total));
                    }
                }
                Response::Explained { id, method, class, lo, hi, ms, .. } => {
                    if self.explaining.as_ref().map(|e| e.0) == Some(id) {
                        self.explaining = None;
                        let label = self
                            .shown
                            .as_ref()
                            .and_then(|s| s.top5.iter().find(|p| p.index == class))
                            .map(|p| p.label.clone())
                            .unwrap_or_else(|| format!("class {class}"));
                        let png = png.unwrap_or_default();
                        self.explanation = Some(Explanation { method, class, label, png, lo, hi, ms });
                        if self.pending.is_none() {
                            self.status = Status::Ready;
                        }
                    }
                }
                Response::Failed { id, message } => {
                    if id.is_none() || self.pending.as_ref().map(|p| p.0) == id {
                        self.pending = None;
                    }
                    if id.is_none() || self.explaining.as_ref().map(|e| e.0) == id {
                        self.explaining = None;
                    }
                    self.error = Some(message);
                    self.status = Status::Ready;
                }
                Response::Fatal { message } => {
                    self.pending = None;
                    self.explaining = None;
                    self.status = Status::Error(message.clone());
                    self.error = Some(message);
                }
            },
        }
        self
    }
}
