//! The class names offered by a search box (a `<datalist>`), drawn once per model: a redraw of
//! the panel around it compares the names and keeps the 1,000 options as they are.

use yew::prelude::*;

#[derive(PartialEq, Properties)]
pub struct ClassNamesProps {
    /// The list's id, named by the input's `list` attribute.
    pub id: AttrValue,
    pub labels: Vec<String>,
}

#[function_component(ClassNames)]
pub fn class_names(props: &ClassNamesProps) -> Html {
    html! {
        <datalist id={props.id.clone()}>
            { for props.labels.iter().map(|l| html! { <option value={l.clone()} /> }) }
        </datalist>
    }
}
