//! The CLI's network-anatomy commands: filters, activations, patches, neighbours, tsne.
//! Each writes a PNG and, next to it, a JSON file with the numbers behind the picture.

use convlens::anatomy::activations::{Scaling, activation_grid, zoom_for};
use convlens::anatomy::filters::{GridLook, conv_layers, filter_bank, filter_grid};
use convlens::anatomy::patches::{crop, sheet};
use convlens::anatomy::tsne::{Tsne, TsneParams};
use convlens::anatomy::{Dataset, ScanWants, code_of, nearest, plot, receptive_fields, scan};
use convlens::model::{Model, ModelInfo, Network};
use convlens::render::Palette;
use image::RgbImage;
use serde_json::json;

static SQUEEZENET: &[u8] = include_bytes!("../../static/models/squeezenet1_1-int8.onnx");
static FASHION: &[u8] = include_bytes!("../../static/models/fashion-mnist-cnn-int8.onnx");
static FASHION_ATLAS: &[u8] = include_bytes!("../../static/datasets/fashion-mnist-test-2000.png");
static FASHION_JSON: &[u8] = include_bytes!("../../static/datasets/fashion-mnist-test-2000.json");

/// Options shared by the anatomy commands.
#[derive(Default)]
struct Opts {
    positional: Vec<String>,
    model: Option<String>,
    dataset: Option<String>,
    out: Option<String>,
    layer: Option<String>,
    channel: Option<usize>,
    top: Option<usize>,
    k: Option<usize>,
    zoom: Option<u32>,
    cell: Option<u32>,
    max_filters: Option<usize>,
    max_inputs: Option<usize>,
    scaling: Option<Scaling>,
    image: Option<String>,
    perplexity: Option<f32>,
    iterations: Option<usize>,
    seed: Option<u64>,
    thumbnails: bool,
}

fn number<T: std::str::FromStr>(flag: &str, v: Option<String>) -> Result<T, String> {
    let v = v.ok_or(format!("{flag} needs a value"))?;
    v.parse().map_err(|_| format!("{flag}: '{v}' is not valid"))
}

fn parse(args: Vec<String>) -> Result<Opts, String> {
    let mut o = Opts::default();
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--model" => o.model = Some(it.next().ok_or("--model needs a file or name")?),
            "--dataset" => o.dataset = Some(it.next().ok_or("--dataset needs 'bundled' or a folder")?),
            "--out" => o.out = Some(it.next().ok_or("--out needs a file")?),
            "--layer" => o.layer = Some(it.next().ok_or("--layer needs a name")?),
            "--image" => o.image = Some(it.next().ok_or("--image needs a file")?),
            "--channel" => o.channel = Some(number("--channel", it.next())?),
            "--top" => o.top = Some(number("--top", it.next())?),
            "--k" => o.k = Some(number("--k", it.next())?),
            "--zoom" => o.zoom = Some(number("--zoom", it.next())?),
            "--cell" => o.cell = Some(number("--cell", it.next())?),
            "--max-filters" => o.max_filters = Some(number("--max-filters", it.next())?),
            "--max-inputs" => o.max_inputs = Some(number("--max-inputs", it.next())?),
            "--perplexity" => o.perplexity = Some(number("--perplexity", it.next())?),
            "--iterations" => o.iterations = Some(number("--iterations", it.next())?),
            "--seed" => o.seed = Some(number("--seed", it.next())?),
            "--thumbnails" => o.thumbnails = true,
            "--scaling" => {
                o.scaling = Some(match it.next().as_deref() {
                    Some("shared") => Scaling::Shared,
                    Some("per-tile") => Scaling::PerTile,
                    other => return Err(format!("--scaling: {other:?} is not shared or per-tile")),
                })
            }
            s if s.starts_with("--") => return Err(format!("unknown option {s}")),
            _ => o.positional.push(a),
        }
    }
    Ok(o)
}

/// The model by name or file, on the CPU.
fn model(name: Option<&str>) -> Result<(ModelInfo, Network), String> {
    let bytes = match name {
        None | Some("squeezenet") => SQUEEZENET.to_vec(),
        Some("fashion-mnist") => FASHION.to_vec(),
        Some(p) => std::fs::read(p).map_err(|e| format!("cannot read model {p}: {e}"))?,
    };
    let model = Model::from_bytes(&bytes).map_err(|e| e.to_string())?;
    model.bind(&convlens::Device::flex()).map_err(|e| e.to_string())
}

/// `bundled` (the model's own dataset) or a folder of images.
fn dataset(spec: Option<&str>, model_name: Option<&str>, info: &ModelInfo) -> Result<Dataset, String> {
    match spec.unwrap_or("bundled") {
        "bundled" => match info.dataset.as_deref() {
            Some("datasets/fashion-mnist-test-2000.png") => {
                Dataset::from_atlas(FASHION_ATLAS, FASHION_JSON, info.input_size).map_err(|e| e.to_string())
            }
            Some(path) => {
                // Relative to the site root: the model file's folder's parent (static/).
                let root = model_name
                    .and_then(|m| std::path::Path::new(m).parent()?.parent().map(|p| p.to_path_buf()))
                    .unwrap_or_default();
                let png = std::fs::read(root.join(path)).map_err(|e| format!("cannot read {path}: {e}"))?;
                let json_path = root.join(path.trim_end_matches(".png").to_string() + ".json");
                let json =
                    std::fs::read(&json_path).map_err(|e| format!("cannot read {}: {e}", json_path.display()))?;
                Dataset::from_atlas(&png, &json, info.input_size).map_err(|e| e.to_string())
            }
            None => Err(convlens::anatomy::AnatomyError::NoBundledDataset.to_string()),
        },
        dir => {
            let mut names: Vec<_> = std::fs::read_dir(dir)
                .map_err(|e| format!("cannot read folder {dir}: {e}"))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .collect();
            names.sort();
            let files = names
                .iter()
                .filter_map(|p| Some((p.file_name()?.to_string_lossy().into_owned(), std::fs::read(p).ok()?)))
                .collect();
            let (data, skipped) = Dataset::from_files(dir, files, info).map_err(|e| e.to_string())?;
            for s in skipped {
                eprintln!("convlens: skipped {s}");
            }
            Ok(data)
        }
    }
}

fn photo(path: &str, info: &ModelInfo) -> Result<RgbImage, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    let rgb = convlens::image::decode_rgb(&bytes).map_err(|e| e.to_string())?;
    Ok(convlens::image::center_crop(&rgb, info.resize_shorter as u32, info.input_size as u32))
}

/// Writes the PNG and its JSON sidecar.
fn write(out: &str, img: &RgbImage, doc: serde_json::Value) -> Result<String, String> {
    img.save(out).map_err(|e| format!("cannot write {out}: {e}"))?;
    let json_path = std::path::Path::new(out).with_extension("json");
    std::fs::write(&json_path, serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?)
        .map_err(|e| format!("cannot write {}: {e}", json_path.display()))?;
    Ok(json_path.display().to_string())
}

fn progress(label: &'static str) -> impl FnMut(usize, usize) -> bool {
    move |done, total| {
        if total > 0 && (done == total || done % 256 == 0) {
            eprintln!("{label}: {done}/{total}");
        }
        true
    }
}

pub fn run(command: &str, args: Vec<String>) -> Result<String, String> {
    let o = parse(args)?;
    let out = o.out.clone().ok_or(format!("{command} needs --out FILE.png"))?;
    let (info, net) = model(o.model.as_deref())?;
    match command {
        "filters" => {
            let layers = conv_layers(net.graph());
            let layer = o.layer.clone().or_else(|| layers.first().cloned()).ok_or("this model has no convolutions")?;
            let bank = filter_bank(net.graph(), &layer).map_err(|e| e.to_string())?;
            let on_pixels = bank.on_pixels(net.graph());
            let mut look = GridLook::default();
            look.zoom = o.zoom.unwrap_or(look.zoom);
            look.max_filters = o.max_filters.unwrap_or(look.max_filters);
            look.max_inputs = o.max_inputs.unwrap_or(look.max_inputs);
            let (img, columns, rows) = filter_grid(&bank, on_pixels, look);
            let json = write(
                &out,
                &img,
                json!({"layer": layer, "dims": bank.dims, "on_pixels": on_pixels, "columns": columns, "rows": rows,
                       "normalization": "per filter, min to 0 and max to 1", "layers": layers}),
            )?;
            Ok(format!(
                "{layer}: {:?} filters ({}) written to {out} and {json}\n",
                bank.dims,
                if on_pixels { "on pixels" } else { "on feature maps" }
            ))
        }
        "activations" => {
            let image = o.positional.first().ok_or("activations needs an IMAGE")?;
            let layer = o.layer.clone().ok_or("activations needs --layer NAME")?;
            let crop = photo(image, &info)?;
            let x = convlens::image::to_tensor(&crop, net.device());
            let acts = net.forward(x, &[layer.as_str()]).map_err(|e| e.to_string())?;
            let v = acts.get(&layer).map_err(|e| e.to_string())?;
            let (c, map) = (
                v.shape.get(1).copied().unwrap_or(1),
                [v.shape.get(2).copied().unwrap_or(1), v.shape.get(3).copied().unwrap_or(1)],
            );
            let values =
                pollster::block_on(convlens::classify::read_f32(v.tensor.clone())).map_err(|e| e.to_string())?;
            let zoom = o.zoom.unwrap_or_else(|| zoom_for(c, map, 1024));
            let (img, layout) =
                activation_grid(&values, c, map, o.scaling.unwrap_or(Scaling::PerTile), Palette::Viridis, zoom);
            let json = write(&out, &img, json!({"layer": layer, "layout": layout}))?;
            Ok(format!("{layer}: {c} channels of {}×{} written to {out} and {json}\n", map[0], map[1]))
        }
        "patches" => {
            let layer = o.layer.clone().ok_or("patches needs --layer NAME")?;
            let data = dataset(o.dataset.as_deref(), o.model.as_deref(), &info)?;
            let k = o.k.unwrap_or(9).max(1);
            let wants = ScanWants { layer: Some((layer.clone(), k)), codes: false, batch: 32 };
            let found =
                pollster::block_on(scan(&net, &data, &wants, &mut progress("patches"))).map_err(|e| e.to_string())?;
            let (topk, _) = found.topk.ok_or("the scan found nothing")?;
            let channels: Vec<usize> = match o.channel {
                Some(c) if c < topk.channel_count() => vec![c],
                Some(c) => {
                    return Err(format!("{layer} has {} channels; there is no channel {c}", topk.channel_count()));
                }
                None => topk.most_active(o.top.unwrap_or(8)),
            };
            let fields = receptive_fields(net.graph(), info.input_size).map_err(|e| e.to_string())?;
            let field = *fields.get(&layer).ok_or(format!("no receptive field for {layer}"))?;
            let rows: Vec<Vec<RgbImage>> = channels
                .iter()
                .map(|&c| topk.channel(c).iter().map(|h| crop(&data.images[h.image], &field, h)).collect())
                .collect();
            let img = sheet(&rows, o.cell.unwrap_or(64));
            let hits: Vec<_> = channels
                .iter()
                .map(|&c| {
                    json!({"channel": c, "hits": topk.channel(c).iter().map(|h| json!({
                        "value": h.value, "image": h.image, "source": data.sources.get(h.image), "label": data.label_of(h.image),
                        "y": h.y, "x": h.x, "window": field.window(h.y, h.x)})).collect::<Vec<_>>()})
                })
                .collect();
            let json = write(
                &out,
                &img,
                json!({"layer": layer, "field": field, "dataset": data.name, "images": data.len(), "channels": hits}),
            )?;
            Ok(format!(
                "{layer}: top {k} of {} images for channels {channels:?} (field {}×{} px) written to {out} and {json}\n",
                data.len(),
                field.size[0],
                field.size[1]
            ))
        }
        "neighbours" => {
            let image = o.positional.first().ok_or("neighbours needs an IMAGE")?;
            let data = dataset(o.dataset.as_deref(), o.model.as_deref(), &info)?;
            let k = o.k.unwrap_or(8).max(1);
            let wants = ScanWants { layer: None, codes: true, batch: 32 };
            let found =
                pollster::block_on(scan(&net, &data, &wants, &mut progress("codes"))).map_err(|e| e.to_string())?;
            let query = photo(image, &info)?;
            let mine = pollster::block_on(code_of(&net, query.clone())).map_err(|e| e.to_string())?;
            let by_code = nearest(&found.codes, found.code_dims, &mine, k);
            let pixels = |img: &RgbImage| img.as_raw().iter().map(|&p| p as f32 / 255.0).collect::<Vec<f32>>();
            let all: Vec<f32> = data.images.iter().flat_map(pixels).collect();
            let by_pixels = nearest(&all, query.as_raw().len(), &pixels(&query), k);
            let row = |hits: &[(usize, f32)]| {
                std::iter::once(query.clone())
                    .chain(hits.iter().map(|(i, _)| data.images[*i].clone()))
                    .collect::<Vec<_>>()
            };
            let img = sheet(&[row(&by_code), row(&by_pixels)], o.cell.unwrap_or(96));
            let describe = |hits: &[(usize, f32)]| {
                hits.iter().map(|&(i, d)| json!({"image": i, "distance": d, "source": data.sources.get(i), "label": data.label_of(i)})).collect::<Vec<_>>()
            };
            let json = write(
                &out,
                &img,
                json!({"code_layer": found.code_layer, "code_dims": found.code_dims,
                "codes": describe(&by_code), "pixels": describe(&by_pixels)}),
            )?;
            Ok(format!(
                "nearest {k} of {} images by {} codes (row 1) and by pixels (row 2) written to {out} and {json}\n",
                data.len(),
                found.code_layer
            ))
        }
        "tsne" => {
            let data = dataset(o.dataset.as_deref(), o.model.as_deref(), &info)?;
            let wants = ScanWants { layer: None, codes: true, batch: 32 };
            let found =
                pollster::block_on(scan(&net, &data, &wants, &mut progress("codes"))).map_err(|e| e.to_string())?;
            let mut params = TsneParams::default();
            params.perplexity = o.perplexity.unwrap_or(params.perplexity);
            params.iterations = o.iterations.unwrap_or(params.iterations);
            params.seed = o.seed.unwrap_or(params.seed);
            let started = std::time::Instant::now();
            let mut tsne = Tsne::new(&found.codes, data.len(), found.code_dims, params).map_err(|e| e.to_string())?;
            while !tsne.is_done() {
                tsne.step(50);
            }
            let seconds = started.elapsed().as_secs_f64();
            let you = match &o.image {
                Some(path) => {
                    let mine = pollster::block_on(code_of(&net, photo(path, &info)?)).map_err(|e| e.to_string())?;
                    Some(tsne.place(&mine).map_err(|e| e.to_string())?)
                }
                None => None,
            };
            let y = tsne.embedding();
            let thumbs = o.thumbnails.then_some(data.images.as_slice());
            let img = plot::scatter(y, data.labels.as_deref(), thumbs, you, 1024, 28);
            let points: Vec<_> = (0..data.len())
                .map(|i| json!({"x": y[2 * i], "y": y[2 * i + 1], "label": data.labels.as_ref().and_then(|l| l.get(i)), "index": i}))
                .collect();
            let json = write(
                &out,
                &img,
                json!({"code_layer": found.code_layer, "kl_divergence": tsne.kl_divergence(),
                "seconds": seconds, "you": you, "points": points}),
            )?;
            Ok(format!(
                "t-SNE of {} {}-dimensional {} codes in {seconds:.1} s (KL {:.3}) written to {out} and {json}\n",
                data.len(),
                found.code_dims,
                found.code_layer,
                tsne.kl_divergence()
            ))
        }
        other => Err(format!("unknown command '{other}'")),
    }
}
