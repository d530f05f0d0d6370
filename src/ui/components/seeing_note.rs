//! A panel's collapsible "what am I seeing?" note (text from `lecture::panel_note`).

use yew::prelude::*;

#[derive(PartialEq, Properties)]
pub struct SeeingNoteProps {
    /// The note's text.
    pub text: &'static str,
}

#[function_component(SeeingNote)]
pub fn seeing_note(props: &SeeingNoteProps) -> Html {
    if props.text.is_empty() {
        return Html::default();
    }
    html! {
        <details class="seeing" data-testid="seeing-note">
            <summary>{"what am I seeing?"}</summary>
            <p>{props.text}</p>
        </details>
    }
}
