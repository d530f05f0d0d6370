//! Backend, model, latency and busy/ready/error status, with stable test hooks.

use yew::prelude::*;

use crate::app_state::{State, Status};

#[derive(PartialEq, Properties)]
pub struct StatusBarProps {
    pub state: UseReducerHandle<State>,
}

#[function_component(StatusBar)]
pub fn status_bar(props: &StatusBarProps) -> Html {
    let s = &*props.state;
    let status_text = match &s.status {
        Status::Starting(m) | Status::Busy(m) => m.clone(),
        Status::Ready => String::new(),
        Status::Error(m) => format!("error: {m}"),
    };
    let backend = s.backend.map(|b| b.as_str()).unwrap_or("");
    let model = s.model.as_ref().map(|m| {
        format!("{} · {:.2} MB · {:.2} M parameters", m.name, m.file_bytes as f64 / 1e6, m.parameters as f64 / 1e6)
    });
    let forward = s.shown.as_ref().map(|r| format!("{:.1}", r.forward_ms)).unwrap_or_default();
    html! {
        <div class="status-bar">
            <span class={classes!("status", s.status.code())} data-testid="status" data-state={s.status.code()} title={status_text.clone()}>
                {s.status.code()}
            </span>
            <span class="detail">{status_text}</span>
            <span class="backend-label">{"backend: "}<b data-testid="backend">{backend}</b></span>
            if let Some(note) = &s.backend_note {
                <span class="note" data-testid="backend-note">{note}</span>
            }
            if let Some(m) = model {
                <span class="model" data-testid="model">{m}</span>
            }
            <span class="latency">{"forward: "}<b data-testid="forward-ms">{forward}</b>{" ms"}</span>
        </div>
    }
}
