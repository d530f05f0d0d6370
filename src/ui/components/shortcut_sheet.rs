//! The keyboard-shortcut sheet (`?`): every key the page answers to.

use yew::prelude::*;

/// (keys, what they do); the handler is `ui::keys`.
pub const SHORTCUTS: &[(&str, &str)] = &[
    ("?", "show or hide this sheet"),
    ("l", "start or leave the lecture path"),
    ("n  or  Page Down", "next step of the lecture path"),
    ("p  or  Page Up", "previous step"),
    ("r", "run the step (or explain with the chosen method)"),
    ("m  /  Shift+M", "next / previous attribution method"),
    ("c", "compare backprop, guided backprop and deconvnet"),
    ("o", "live occluder on or off (then arrows move it, Shift for big steps, + / − resize)"),
    ("s  /  Shift+S", "next / previous sample photo"),
    ("w", "camera on or off"),
    ("f", "projector mode: full screen, large type, high contrast"),
    ("1 – 4  then  Enter", "in the quiz (when it has the focus): answer, then the next image"),
    ("Esc", "stop every run (and close this sheet)"),
];

#[derive(PartialEq, Properties)]
pub struct ShortcutSheetProps {
    pub on_close: Callback<()>,
}

#[function_component(ShortcutSheet)]
pub fn shortcut_sheet(props: &ShortcutSheetProps) -> Html {
    let close = {
        let on_close = props.on_close.clone();
        Callback::from(move |_: MouseEvent| on_close.emit(()))
    };
    let node = use_node_ref();
    {
        let node = node.clone();
        use_effect_with((), move |_| {
            if let Some(el) = node.cast::<web_sys::HtmlElement>() {
                let _ = el.focus();
            }
        });
    }
    html! {
        <div class="sheet-backdrop">
            <div class="sheet" role="dialog" aria-modal="true" aria-labelledby="keys-title" tabindex="-1" ref={node}
                 data-testid="shortcut-sheet">
                <div class="lecture-head">
                    <h2 id="keys-title">{"Keyboard shortcuts"}</h2>
                    <button class="link" onclick={close} aria-label="close the shortcut sheet">{"×"}</button>
                </div>
                <table>
                    <tbody>
                        { for SHORTCUTS.iter().map(|(k, what)| html! {
                            <tr><th scope="row"><kbd>{*k}</kbd></th><td>{*what}</td></tr>
                        }) }
                    </tbody>
                </table>
                <p class="muted">{"Keys work anywhere except while typing in a field. Tab moves through every control."}</p>
            </div>
        </div>
    }
}
