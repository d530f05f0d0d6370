//! The lecture path's card: the open step's explanation, formula, what to look for and paper,
//! with previous / run / next, and a row of every step to jump to.

use yew::prelude::*;

use crate::lecture::STEPS;

#[derive(PartialEq, Properties)]
pub struct LectureCardProps {
    /// The open step (`lecture::STEPS` index).
    pub step: usize,
    /// Go to a step, or leave the path (`None`).
    pub on_step: Callback<Option<usize>>,
    /// Run what the step shows (the panel's own button).
    pub on_run: Callback<()>,
}

#[function_component(LectureCard)]
pub fn lecture_card(props: &LectureCardProps) -> Html {
    let Some(step) = STEPS.get(props.step) else { return Html::default() };
    let i = props.step;
    let go = |to: Option<usize>| {
        let on_step = props.on_step.clone();
        Callback::from(move |_: MouseEvent| on_step.emit(to))
    };
    let run = {
        let on_run = props.on_run.clone();
        Callback::from(move |_: MouseEvent| on_run.emit(()))
    };
    let paper = step.paper;
    html! {
        <aside class="lecture-card" id="lecture-card" tabindex="-1" data-testid="lecture-card" data-step={step.key}
               aria-labelledby="lecture-title">
            <div class="lecture-head">
                <span class="muted">{format!("Lecture path · step {} of {}", i + 1, STEPS.len())}</span>
                <button class="link" onclick={go(None)} aria-label="leave the lecture path" data-testid="lecture-close">{"×"}</button>
            </div>
            <h2 id="lecture-title">{step.title}</h2>
            <p>{step.what}</p>
            <p class="formula" aria-label="formula"><code>{step.formula}</code></p>
            <p><b>{"Look for: "}</b>{step.look_for}</p>
            <p class="muted cite">{paper.citation()}{" "}
                <a href={paper.url} target="_blank" rel="noopener noreferrer">{"the paper"}</a>
            </p>
            <div class="lecture-nav">
                <button class="method" onclick={go(i.checked_sub(1))} disabled={i == 0} data-testid="lecture-prev"
                        aria-keyshortcuts="p PageUp">{"← previous"}</button>
                <button class="method primary" onclick={run} data-testid="lecture-run" aria-keyshortcuts="r">{"Run it"}</button>
                <button class="method" onclick={go(Some(i + 1))} disabled={i + 1 >= STEPS.len()} data-testid="lecture-next"
                        aria-keyshortcuts="n PageDown">{"next →"}</button>
                <span class="muted">{"keys: n / p, r to run, ? for all"}</span>
            </div>
            <ol class="lecture-steps" aria-label="all steps">
                { for STEPS.iter().enumerate().map(|(j, s)| html! {
                    <li>
                        <button class={classes!("step-dot", (j == i).then_some("current"))} onclick={go(Some(j))}
                                aria-current={(j == i).then_some("step")} title={s.title}
                                aria-label={format!("step {}: {}", j + 1, s.title)}>{j + 1}</button>
                    </li>
                }) }
            </ol>
        </aside>
    }
}
