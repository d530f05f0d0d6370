//! "Inside the network": the model's filters, one image's activations, the dataset patches that
//! most excite a channel, nearest neighbours by codes and by pixels, and a t-SNE map. Dataset
//! work (the model's bundled set, the sample photos, or a folder the user opens) shows its
//! progress and can be stopped.

use std::rc::Rc;

use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{JsFuture, spawn_local};
use web_sys::{HtmlInputElement, HtmlSelectElement};
use yew::prelude::*;

use super::image_input::SAMPLES;
use super::tsne_map::TsneMap;
use crate::app_state::State;
use crate::protocol::AnatomyJob;
use crate::ui::hooks::use_png_url;

/// What a request is (the worker's job), its bytes (packed files), and what to call it.
pub type AnatomyRequest = (AnatomyJob, Option<Vec<u8>>, String);

#[derive(PartialEq, Properties)]
pub struct AnatomyPanelProps {
    pub state: UseReducerHandle<State>,
    pub on_request: Callback<AnatomyRequest>,
    pub on_stop: Callback<()>,
    pub on_error: Callback<String>,
    /// The open tab (`lecture::ANATOMY_TABS` key; the page keeps it in the URL).
    pub tab: String,
    pub on_tab: Callback<String>,
}

/// Most bytes of images the page reads from one folder.
const MAX_FOLDER_BYTES: f64 = 512.0 * 1024.0 * 1024.0;

use crate::lecture::ANATOMY_TABS as TABS;

fn select_value(e: &Event) -> String {
    e.target_unchecked_into::<HtmlSelectElement>().value()
}

fn input_value(e: &Event) -> String {
    e.target_unchecked_into::<HtmlInputElement>().value()
}

fn is_image_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp"].iter().any(|e| n.ends_with(e))
}

/// Reads the chosen files (images only, up to the byte limit) and packs them for the worker.
fn read_files(
    files: &web_sys::FileList,
    name: String,
    on_request: Callback<AnatomyRequest>,
    on_error: Callback<String>,
) {
    // Taken out now: the list empties when the input is reset.
    let files: Vec<web_sys::File> = (0..files.length()).filter_map(|i| files.get(i)).collect();
    spawn_local(async move {
        let mut packed = Vec::new();
        let mut total = 0.0;
        for file in files {
            if !is_image_name(&file.name()) {
                continue;
            }
            total += file.size();
            if total > MAX_FOLDER_BYTES || packed.len() >= crate::protocol::MAX_DATASET_IMAGES {
                on_error.emit(format!("only the first {} images were read (size or count limit)", packed.len()));
                break;
            }
            match JsFuture::from(file.array_buffer()).await {
                Ok(buffer) => packed.push((file.name(), js_sys::Uint8Array::new(&buffer).to_vec())),
                Err(_) => on_error.emit(format!("cannot read {}", file.name())),
            }
        }
        if packed.is_empty() {
            return on_error.emit("no images (PNG, JPEG, GIF, BMP, WebP) among the chosen files".into());
        }
        let count = packed.len();
        let bytes = crate::protocol::pack_files(&packed);
        on_request.emit((
            AnatomyJob::Dataset { bundled: false, name: name.clone() },
            Some(bytes),
            format!("reading {count} images"),
        ));
    });
}

/// Fetches the sample photos and sends them as a dataset.
fn sample_dataset(on_request: Callback<AnatomyRequest>, on_error: Callback<String>) {
    spawn_local(async move {
        let Some(window) = web_sys::window() else { return };
        let mut packed = Vec::new();
        for (file, _) in SAMPLES {
            let url = format!("samples/{file}");
            match crate::wire::fetch_bytes(window.fetch_with_str(&url), &url).await {
                Ok(b) => packed.push((file.to_string(), b)),
                Err(e) => return on_error.emit(e),
            }
        }
        let bytes = crate::protocol::pack_files(&packed);
        on_request.emit((
            AnatomyJob::Dataset { bundled: false, name: "sample photos".into() },
            Some(bytes),
            "reading the sample photos".into(),
        ));
    });
}

/// The (channel, row, column) under the pointer on the activation grid picture (which the page
/// may show smaller than its natural size).
fn hit_at(e: &MouseEvent, v: &crate::app_state::ActivationsView) -> Option<(usize, usize, usize)> {
    let img = e.target()?.dyn_into::<web_sys::HtmlImageElement>().ok()?;
    let scale = img.natural_width() as f64 / img.client_width().max(1) as f64;
    v.layout.hit((e.offset_x() as f64 * scale) as u32, (e.offset_y() as f64 * scale) as u32)
}

#[function_component(AnatomyPanel)]
pub fn anatomy_panel(props: &AnatomyPanelProps) -> Html {
    let s = &*props.state;
    let tab = &props.tab;
    let filter_layer = use_state(String::new);
    let act_layer = use_state(String::new);
    let per_tile = use_state(|| true);
    let patch_layer = use_state(String::new);
    let patch_channel = use_state(String::new);
    let top = use_state(|| 8usize);
    let k = use_state(|| 8usize);
    let perplexity = use_state(|| 30.0f32);
    let iterations = use_state(|| 1000usize);
    let hover = use_state(|| None::<String>);

    let a = &s.anatomy;
    let ready = s.can_submit();
    let busy = a.running.is_some();
    let layers: Vec<String> = s.model.as_ref().map(|m| m.layers.clone()).unwrap_or_default();
    let has_bundled = s.model.as_ref().is_some_and(|m| m.dataset);
    let first_spatial = layers.iter().find(|l| l.contains("relu") || l.contains("concat")).cloned().unwrap_or_default();
    let pick = |chosen: &str, fallback: &str| if chosen.is_empty() { fallback.to_string() } else { chosen.to_string() };

    let filters_png = use_png_url(a.filters.as_ref().map(|f| f.png.clone()));
    let acts_png = use_png_url(a.activations.as_ref().map(|v| v.png.clone()));
    let tile_png = use_png_url(a.tile.as_ref().map(|t| t.png.clone()));
    let patches_png = use_png_url(a.patches.as_ref().map(|p| p.png.clone()));
    let neighbours_png = use_png_url(a.neighbours.as_ref().map(|n| n.png.clone()));
    let thumbs_png = use_png_url(a.dataset.as_ref().map(|d| d.thumbnails.clone()));

    let request = {
        let on_request = props.on_request.clone();
        move |job: AnatomyJob, what: &str| {
            let on_request = on_request.clone();
            let what = what.to_string();
            Callback::from(move |_: MouseEvent| on_request.emit((job.clone(), None, what.clone())))
        }
    };

    let tabs = TABS.iter().map(|(key, title)| {
        let key = key.to_string();
        let selected = *tab == key;
        let onclick = {
            let (key, on_tab) = (key.clone(), props.on_tab.clone());
            Callback::from(move |_| on_tab.emit(key.clone()))
        };
        html! {
            <button class={classes!("tab", selected.then_some("selected"))} role="tab" aria-selected={selected.to_string()}
                    data-testid={format!("anatomy-tab-{key}")} {onclick}>{*title}</button>
        }
    });

    let layer_select = |value: String, state: UseStateHandle<String>, options: &[String], testid: &str| {
        let onchange = Callback::from(move |e: Event| state.set(select_value(&e)));
        html! {
            <select data-testid={testid.to_string()} {onchange}>
                { for options.iter().map(|l| html! { <option value={l.clone()} selected={*l == value}>{l}</option> }) }
            </select>
        }
    };

    // The dataset row, shared by patches, neighbours and t-SNE.
    let dataset_row = {
        let bundled =
            request(AnatomyJob::Dataset { bundled: true, name: String::new() }, "loading the bundled dataset");
        let samples = {
            let (r, e) = (props.on_request.clone(), props.on_error.clone());
            Callback::from(move |_: MouseEvent| sample_dataset(r.clone(), e.clone()))
        };
        let on_files = {
            let (r, e) = (props.on_request.clone(), props.on_error.clone());
            Callback::from(move |ev: Event| {
                let input: HtmlInputElement = ev.target_unchecked_into();
                if let Some(files) = input.files() {
                    let name = files
                        .get(0)
                        .and_then(|f| js_sys::Reflect::get(&f, &"webkitRelativePath".into()).ok()?.as_string())
                        .and_then(|p| p.split('/').next().map(str::to_string))
                        .filter(|p| !p.is_empty())
                        .unwrap_or_else(|| "your images".into());
                    read_files(&files, name, r.clone(), e.clone());
                }
                input.set_value("");
            })
        };
        let summary = match &a.dataset {
            Some(d) => html! {
                <span class="dataset-summary" data-testid="dataset-summary" data-count={d.count.to_string()}>
                    {format!("{}: {} images{}", d.name, d.count, if d.labels.is_some() { ", labelled" } else { "" })}
                    if !d.skipped.is_empty() {
                        <span class="muted" title={d.skipped.join("\n")}>{format!(" ({} files skipped)", d.skipped.len())}</span>
                    }
                </span>
            },
            None => html! { <span class="muted">{"No dataset loaded yet."}</span> },
        };
        html! {
            <div class="dataset-row">
                <strong>{"Dataset: "}</strong>
                if has_bundled {
                    <button onclick={bundled} disabled={!ready || busy} data-testid="dataset-bundled">{"the model's own (2,000 test images)"}</button>
                } else {
                    <button onclick={samples} disabled={!ready || busy} data-testid="dataset-samples">{"the sample photos"}</button>
                }
                <label class="file-button">
                    {"open a folder…"}
                    <input type="file" multiple=true webkitdirectory=true accept="image/*"
                           onchange={on_files.clone()} disabled={!ready || busy} data-testid="dataset-folder" />
                </label>
                <label class="file-button">
                    {"or images…"}
                    <input type="file" multiple=true accept="image/*" onchange={on_files} disabled={!ready || busy} data-testid="dataset-files" />
                </label>
                {summary}
            </div>
        }
    };

    let progress = match &a.running {
        Some((id, what)) => html! { <RunRow id={*id} what={what.clone()} on_stop={props.on_stop.clone()} /> },
        None => html! {},
    };

    let body = match tab.as_str() {
        "weights" => {
            let conv_layers = a.filters.as_ref().map(|f| f.layers.clone()).unwrap_or_default();
            let chosen = pick(&filter_layer, conv_layers.first().map(String::as_str).unwrap_or(""));
            let show = request(AnatomyJob::Filters { layer: chosen.clone() }, "drawing the filters");
            html! {
                <div>
                    <p class="hint">{"Only the first convolution acts directly on pixels, so only its filters can be read as little pictures. Deeper filters weigh the previous layer's channels: each row below is one filter, each grey tile its weights on one input channel."}</p>
                    <div class="controls">
                        if !conv_layers.is_empty() {
                            <label>{"Layer "}{layer_select(chosen.clone(), filter_layer.clone(), &conv_layers, "filters-layer")}</label>
                        }
                        <button onclick={show} disabled={!ready || busy} data-testid="filters-show">{"Show filters"}</button>
                    </div>
                    if let (Some(f), Some(url)) = (&a.filters, filters_png) {
                        <figure class="anatomy-figure">
                            <a href={url.clone()} target="_blank" title="open full size">
                                <img src={url} alt={format!("filters of {}", f.layer)} data-testid="filters-image" class="pixelated" />
                            </a>
                            <figcaption>{format!("{}: {} filters of {}×{}×{} ({}), each scaled on its own from its smallest weight (black) to its largest (white){}",
                                f.layer, f.dims[0], f.dims[1], f.dims[2], f.dims[3],
                                if f.on_pixels { "on pixels" } else { "on feature maps" },
                                if f.on_pixels { "" } else { "; one row per filter, one tile per input channel" })}</figcaption>
                        </figure>
                    }
                </div>
            }
        }
        "activations" => {
            let chosen = pick(&act_layer, &first_spatial);
            let show =
                request(AnatomyJob::Activations { layer: chosen.clone(), per_tile: *per_tile }, "running the image");
            let toggle = {
                let per_tile = per_tile.clone();
                Callback::from(move |e: Event| per_tile.set(e.target_unchecked_into::<HtmlInputElement>().checked()))
            };
            let view = a.activations.clone();
            let onmousemove = {
                let hover = hover.clone();
                let view = view.clone();
                Callback::from(move |e: MouseEvent| {
                    let Some(v) = &view else { return };
                    hover.set(hit_at(&e, v).map(|(c, y, x)| {
                        format!("channel {c}, position ({y}, {x}): {:.4}", v.value(c, y, x).unwrap_or(f32::NAN))
                    }));
                })
            };
            let onclick = {
                let view = view.clone();
                let on_request = props.on_request.clone();
                Callback::from(move |e: MouseEvent| {
                    let Some(v) = &view else { return };
                    if let Some((channel, _, _)) = hit_at(&e, v) {
                        let job = AnatomyJob::Tile { layer: v.layer.clone(), channel };
                        on_request.emit((job, None, format!("enlarging channel {channel}")));
                    }
                })
            };
            html! {
                <div>
                    <div class="controls">
                        <label>{"Layer "}{layer_select(chosen.clone(), act_layer.clone(), &layers, "activations-layer")}</label>
                        <label><input type="checkbox" checked={*per_tile} onchange={toggle} data-testid="activations-per-tile" />{" one colour scale per tile"}</label>
                        <button onclick={show} disabled={!ready || busy || s.shown.is_none()} data-testid="activations-show">{"Show activations"}</button>
                    </div>
                    if s.shown.is_none() {
                        <p class="hint">{"Choose an image first: its activations are shown here."}</p>
                    }
                    if let (Some(v), Some(url)) = (&view, acts_png) {
                        <div class="activations">
                            <figure class="anatomy-figure">
                                <img src={url} alt={format!("activations of {}", v.layer)} class="pixelated clickable"
                                     data-testid="activations-image" data-channels={v.layout.channels.to_string()}
                                     onmousemove={onmousemove} onclick={onclick} />
                                <figcaption>
                                    {format!("{}: {} channels of {}×{} (viridis, {}). Hover for values, click a tile to see it over the image. ",
                                        v.layer, v.layout.channels, v.layout.map[0], v.layout.map[1],
                                        if v.layout.ranges.windows(2).all(|w| w[0] == w[1]) { "one scale for all" } else { "each tile on its own scale" })}
                                    <span data-testid="activations-hover">{(*hover).clone().unwrap_or_default()}</span>
                                </figcaption>
                            </figure>
                            if let (Some(t), Some(url)) = (&a.tile, tile_png) {
                                <figure class="anatomy-figure tile-large">
                                    <img src={url} alt={format!("{} channel {}", t.layer, t.channel)} data-testid="activation-tile" />
                                    <figcaption>{format!("{} channel {} over the image ({:.3} … {:.3})", t.layer, t.channel, t.lo, t.hi)}</figcaption>
                                </figure>
                            }
                        </div>
                    }
                </div>
            }
        }
        "patches" => {
            let chosen = pick(&patch_layer, &first_spatial);
            let channel: Option<usize> = patch_channel.trim().parse().ok();
            let run = request(
                AnatomyJob::Patches { layer: chosen.clone(), channel, top: *top, k: *k },
                "searching the dataset",
            );
            let on_channel = {
                let c = patch_channel.clone();
                Callback::from(move |e: Event| c.set(input_value(&e)))
            };
            let on_k = {
                let k = k.clone();
                Callback::from(move |e: Event| k.set(input_value(&e).parse().unwrap_or(8).clamp(1, 32)))
            };
            let on_top = {
                let top = top.clone();
                Callback::from(move |e: Event| top.set(input_value(&e).parse().unwrap_or(8).clamp(1, 32)))
            };
            html! {
                <div>
                    {dataset_row.clone()}
                    <div class="controls">
                        <label>{"Layer "}{layer_select(chosen.clone(), patch_layer.clone(), &layers, "patches-layer")}</label>
                        <label>{"Channel "}<input type="number" min="0" placeholder="most active" value={(*patch_channel).clone()} onchange={on_channel} data-testid="patches-channel" /></label>
                        <label>{"channels "}<input type="number" min="1" max="32" value={top.to_string()} onchange={on_top} data-testid="patches-top" /></label>
                        <label>{"patches each "}<input type="number" min="1" max="32" value={k.to_string()} onchange={on_k} data-testid="patches-k" /></label>
                        <button onclick={run} disabled={!ready || busy || a.dataset.is_none()} data-testid="patches-run">{"Find top patches"}</button>
                    </div>
                    if let (Some(p), Some(url)) = (&a.patches, patches_png) {
                        <figure class="anatomy-figure">
                            <img src={url} alt={format!("top patches of {}", p.layer)} data-testid="patches-image" data-rows={p.rows.len().to_string()} data-ms={p.ms.to_string()} />
                            <figcaption>
                                {format!("{}: the {} strongest images of {} for each channel, cropped to the {}×{} px receptive field (grey: outside the image); {:.1} s.",
                                    p.layer, p.rows.first().map_or(0, |r| r.hits.len()), p.images, p.field[0], p.field[1], p.ms / 1000.0)}
                                <ol class="patch-rows">
                                    { for p.rows.iter().map(|r| html! {
                                        <li>{format!("channel {}: {}", r.channel, r.hits.iter().map(|h| match &h.label {
                                            Some(l) => format!("{:.2} ({l})", h.value),
                                            None => format!("{:.2}", h.value),
                                        }).collect::<Vec<_>>().join(", "))}</li>
                                    }) }
                                </ol>
                            </figcaption>
                        </figure>
                    }
                </div>
            }
        }
        "neighbours" => {
            let run = request(AnatomyJob::Neighbours { k: *k }, "computing codes");
            html! {
                <div>
                    {dataset_row.clone()}
                    <div class="controls">
                        <button onclick={run} disabled={!ready || busy || a.dataset.is_none() || s.shown.is_none()} data-testid="neighbours-run">{"Find neighbours of the image"}</button>
                    </div>
                    if let (Some(n), Some(url)) = (&a.neighbours, neighbours_png) {
                        <figure class="anatomy-figure">
                            <img src={url} alt="nearest neighbours" data-testid="neighbours-image" />
                            <figcaption>
                                {format!("Top row: your image, then the dataset images nearest to it by their {} codes. Bottom row: nearest by raw pixels, for contrast.", n.layer)}
                                <br />
                                {format!("codes: {}", n.codes.iter().map(|h| h.label.clone().unwrap_or_else(|| h.source.clone())).collect::<Vec<_>>().join(", "))}
                                <br />
                                {format!("pixels: {}", n.pixels.iter().map(|h| h.label.clone().unwrap_or_else(|| h.source.clone())).collect::<Vec<_>>().join(", "))}
                            </figcaption>
                        </figure>
                    }
                </div>
            }
        }
        _ => {
            let run = request(AnatomyJob::Tsne { perplexity: *perplexity, iterations: *iterations, seed: 0 }, "t-SNE");
            let on_perp = {
                let p = perplexity.clone();
                Callback::from(move |e: Event| p.set(input_value(&e).parse().unwrap_or(30.0f32).clamp(2.0, 100.0)))
            };
            let on_iters = {
                let it = iterations.clone();
                Callback::from(move |e: Event| it.set(input_value(&e).parse().unwrap_or(1000usize).clamp(50, 5000)))
            };
            html! {
                <div>
                    {dataset_row}
                    <div class="controls">
                        <label>{"Perplexity "}<input type="number" min="2" max="100" value={perplexity.to_string()} onchange={on_perp} data-testid="tsne-perplexity" /></label>
                        <label>{"Iterations "}<input type="number" min="50" max="5000" step="50" value={iterations.to_string()} onchange={on_iters} data-testid="tsne-iterations" /></label>
                        <button onclick={run} disabled={!ready || busy || a.dataset.is_none()} data-testid="tsne-run">{"Make the map"}</button>
                    </div>
                    if let (Some(t), Some(d)) = (&a.tsne, &a.dataset) {
                        <TsneMap points={t.points.clone()} labels={d.labels.clone().map(Rc::new)} classes={Rc::new(d.classes.clone())}
                                 sources={Rc::new(d.sources.clone())} thumbnails={thumbs_png.clone()} thumb={d.thumb}
                                 columns={d.columns} you={t.you} />
                        <p class="muted" data-testid="tsne-status" data-iteration={t.iteration.to_string()} data-done={t.done.to_string()} data-ms={t.ms.to_string()}>
                            {format!("iteration {} of {}{}{}", t.iteration, t.iterations,
                                t.kl.map(|k| format!(", KL divergence {k:.3}")).unwrap_or_default(),
                                if t.done { format!(", {:.1} s", t.ms / 1000.0) } else { String::new() })}
                        </p>
                    }
                </div>
            }
        }
    };

    html! {
        <div class="anatomy-panel" data-testid="anatomy-panel">
            <h2>{"Inside the network"}</h2>
            <div class="tabs" role="tablist" aria-label="views of the network">{ for tabs }</div>
            <super::SeeingNote text={crate::lecture::panel_note(&format!("anatomy/{tab}"))} />
            {progress}
            {body}
        </div>
    }
}

#[derive(PartialEq, Properties)]
struct RunRowProps {
    id: u64,
    what: String,
    on_stop: Callback<()>,
}

/// The running request's row: what it does, its progress once it reports some, and Stop. Drawn
/// again for each progress report, without the panel ([`crate::ui::progress`]).
#[function_component(RunRow)]
fn run_row(props: &RunRowProps) -> Html {
    let (done, total) = crate::ui::progress::use_run_progress(props.id).unwrap_or((0, 0));
    let stop = props.on_stop.reform(|_| ());
    html! {
        <div class="progress-row" data-testid="anatomy-progress">
            <span>{format!("{}…", props.what)}</span>
            if total > 0 {
                <progress max={total.to_string()} value={done.to_string()}></progress>
                <span>{format!("{done} / {total}")}</span>
            }
            <button onclick={stop} data-testid="anatomy-stop">{"Stop"}</button>
        </div>
    }
}
