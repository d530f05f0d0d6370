//! The page (browser only): a thin Yew shell around the worker. State rules live in
//! `crate::app_state`; components under `components/` only draw and forward user input.

mod app;
mod components;
mod export;
mod hooks;
mod progress;
mod worker_link;

use std::rc::Rc;

use yew::Reducible;

use crate::app_state::{Action, State};

impl Reducible for State {
    type Action = Action;
    fn reduce(self: Rc<Self>, action: Action) -> Rc<Self> {
        Rc::new((*self).clone().reduce(action))
    }
}

/// The app inside the progress board's provider ([`progress::ProgressRoot`]).
#[yew::function_component(Root)]
fn root() -> yew::Html {
    yew::html! { <progress::ProgressRoot><app::App /></progress::ProgressRoot> }
}

/// Mounts the app on `<body>`.
pub fn run() {
    yew::Renderer::<Root>::new().render();
}
