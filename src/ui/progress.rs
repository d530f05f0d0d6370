//! Progress of running work, drawn apart from the app: a sweep or a top-patch search reports
//! about ten times a second, and each report through the app's state drew the whole page
//! again (1–9 ms of the page's main thread, on a core the workers want). [`ProgressRoot`] keeps
//! the counts ([`ProgressBoard`]) and hands each to the rows that show it
//! ([`use_run_progress`]); the app only sends reports ([`ProgressSink`]) and is not drawn again.

use std::rc::Rc;

use yew::prelude::*;

use crate::app_state::ProgressBoard;

/// `(run id, done, total)`.
impl Reducible for ProgressBoard {
    type Action = (u64, usize, usize);
    fn reduce(self: Rc<Self>, (id, done, total): Self::Action) -> Rc<Self> {
        let mut board = (*self).clone();
        board.report(id, done, total);
        Rc::new(board)
    }
}

/// Where the page sends a run's progress (the same for the page's whole life).
pub type ProgressSink = UseReducerDispatcher<ProgressBoard>;

#[derive(PartialEq, Properties)]
pub struct ProgressRootProps {
    pub children: Html,
}

/// Holds the runs' progress for everything inside it. A report draws this component again and
/// the rows that read the board; its children are the same nodes as before, so Yew leaves them
/// (the app inside them) as they are.
#[function_component(ProgressRoot)]
pub fn progress_root(props: &ProgressRootProps) -> Html {
    let board = use_reducer(ProgressBoard::default);
    html! {
        <ContextProvider<ProgressSink> context={board.dispatcher()}>
            <ContextProvider<UseReducerHandle<ProgressBoard>> context={board}>
                { props.children.clone() }
            </ContextProvider<UseReducerHandle<ProgressBoard>>>
        </ContextProvider<ProgressSink>>
    }
}

/// Run `id`'s latest `(done, total)`, if it has reported one.
#[hook]
pub fn use_run_progress(id: u64) -> Option<(usize, usize)> {
    use_context::<UseReducerHandle<ProgressBoard>>().and_then(|board| board.of(id))
}
