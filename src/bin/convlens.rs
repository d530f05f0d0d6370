//! `convlens`: the command line for scripting, slides and tests (native only).
//!
//! ```text
//! convlens predict IMAGE [--model FILE] [--top K] [--json]
//! convlens attribute METHOD IMAGE [--target K | --neuron LAYER:CHANNEL] [--model FILE]
//!     [--layer NAME] [--window W] [--stride S] [--fill grey|zero|mean|blur|V] [--baseline V]
//!     [--steps N] [--samples N] [--sigma S] [--seed N] [--smooth RULE] [--randomize K] [--view overlay|heat|rgb]
//!     --out FILE.png|FILE.npy
//! ```

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    match cli::run(std::env::args().skip(1).collect()) {
        Ok(out) => print!("{out}"),
        Err(message) => {
            eprintln!("convlens: {message}");
            std::process::exit(2);
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
#[path = "../cli/anatomy.rs"]
mod anatomy_cli;
#[cfg(not(target_arch = "wasm32"))]
#[path = "../cli/model.rs"]
mod model_cli;

#[cfg(not(target_arch = "wasm32"))]
mod cli {
    use convlens::classify::{class_probabilities, top_k};
    use convlens::methods::{Fill, Method, MethodParams, Target};
    use convlens::model::{Model, ModelInfo, Network};
    use convlens::protocol::{Colormap, Look, View};

    /// The bundled default model, the same file the web app loads.
    static DEFAULT_MODEL: &[u8] = include_bytes!("../../static/models/squeezenet1_1-int8.onnx");

    const USAGE: &str = "usage: convlens predict IMAGE [--model FILE] [--top K] [--json]
       convlens attribute METHOD IMAGE [--target K | --neuron LAYER:CHANNEL] [--model FILE] [--layer NAME]
           [--window W] [--stride S] [--fill grey|zero|mean|blur|V] [--baseline V] [--steps N]
           [--samples N] [--sigma S] [--seed N] [--smooth RULE] [--randomize K] [--view overlay|heat|rgb] --out FILE.png|FILE.npy
       convlens optimize KIND [--model FILE] [--target K] [--layer NAME] [--channel C] [--neuron] [--preset NAME]
           [--steps N] [--seed S] [--image FILE] [--style FILE] [--size PX] [--octaves N]
           [--style-layers A,B,..] [--style-weight W] [--tv-weight W] [--epsilon E] [--diff FILE.png] --out FILE.png
       convlens filters [--model M] [--layer NAME] [--zoom Z] [--max-filters N] [--max-inputs N] --out FILE.png
       convlens activations IMAGE [--model M] --layer NAME [--scaling shared|per-tile] [--zoom Z] --out FILE.png
       convlens patches [--model M] [--dataset bundled|DIR] --layer NAME [--channel C | --top N] [--k K] [--cell PX] --out FILE.png
       convlens neighbours IMAGE [--model M] [--dataset bundled|DIR] [--k K] --out FILE.png
       convlens tsne [--model M] [--dataset bundled|DIR] [--image FILE] [--perplexity P] [--iterations N] [--seed S]
           [--thumbnails] --out FILE.png
       convlens inspect MODEL.onnx [--json]
       convlens run MODEL.onnx --input X.npy --out Y.npy   (raw NCHW float32 in, the first graph output out)
       M (anatomy commands): a file, or squeezenet / fashion-mnist (the bundled models); each writes FILE.json beside FILE.png
       KIND: class-vis, feature-vis, deepdream, invert, style, fool
       PRESET (class-vis, feature-vis): default, cs231n, yosinski, lucid
       METHOD: saliency, guided-backprop, deconvnet, smoothgrad, integrated-gradients, grad-cam,
               guided-grad-cam, occlusion";

    pub fn run(args: Vec<String>) -> Result<String, String> {
        let mut args = args.into_iter();
        match args.next().as_deref() {
            Some("predict") => predict(args.collect()),
            Some("attribute") => attribute(args.collect()),
            Some("optimize") => optimize(args.collect()),
            Some("inspect") => crate::model_cli::inspect(args.collect()),
            Some("run") => crate::model_cli::run(args.collect(), npy_f32),
            Some(cmd @ ("filters" | "activations" | "patches" | "neighbours" | "tsne")) => {
                crate::anatomy_cli::run(cmd, args.collect())
            }
            Some("-h" | "--help") | None => Ok(format!("{USAGE}\n")),
            Some(other) => Err(format!("unknown command '{other}'\n{USAGE}")),
        }
    }

    fn predict(args: Vec<String>) -> Result<String, String> {
        let (mut image, mut model_path, mut top, mut json) = (None, None, 5usize, false);
        let mut it = args.into_iter();
        while let Some(a) = it.next() {
            match a.as_str() {
                "--model" => model_path = Some(it.next().ok_or("--model needs a file")?),
                "--top" => {
                    let k = it.next().ok_or("--top needs a number")?;
                    top = k.parse().map_err(|_| format!("--top: '{k}' is not a number"))?;
                }
                "--json" => json = true,
                s if s.starts_with("--") => return Err(format!("unknown option {s}\n{USAGE}")),
                _ if image.is_none() => image = Some(a),
                _ => return Err(format!("unexpected argument '{a}'\n{USAGE}")),
            }
        }
        let image = image.ok_or(USAGE)?;
        let (info, net, crop) = load(model_path.as_deref(), &image)?;
        let probs = pollster::block_on(class_probabilities(&net, &crop)).map_err(|e| e.to_string())?;
        let best = top_k(&probs, top, &info);
        if json {
            return serde_json::to_string(&best).map(|s| s + "\n").map_err(|e| e.to_string());
        }
        Ok(best.iter().map(|p| format!("{:>7.3}%  {:>4}  {}\n", p.prob * 100.0, p.index, p.label)).collect())
    }

    /// The model (bundled by default) on the CPU, and the image's centre crop.
    fn load(model_path: Option<&str>, image: &str) -> Result<(ModelInfo, Network, image::RgbImage), String> {
        let model_bytes = match model_path {
            Some(p) => std::fs::read(p).map_err(|e| format!("cannot read model {p}: {e}"))?,
            None => DEFAULT_MODEL.to_vec(),
        };
        let model = Model::from_bytes(&model_bytes).map_err(|e| e.to_string())?;
        let (info, net) = model.bind(&convlens::Device::flex()).map_err(|e| e.to_string())?;
        let bytes = std::fs::read(image).map_err(|e| format!("cannot read {image}: {e}"))?;
        let rgb = convlens::image::decode_rgb(&bytes).map_err(|e| e.to_string())?;
        let crop = convlens::image::center_crop(&rgb, info.resize_shorter as u32, info.input_size as u32);
        Ok((info, net, crop))
    }

    /// The value after `flag`, parsed.
    fn number<T: std::str::FromStr>(flag: &str, v: Option<String>) -> Result<T, String> {
        let v = v.ok_or(format!("{flag} needs a value"))?;
        v.parse().map_err(|_| format!("{flag}: '{v}' is not valid"))
    }

    fn attribute(args: Vec<String>) -> Result<String, String> {
        let mut positional = Vec::new();
        let (mut model_path, mut out, mut class, mut neuron) = (None, None, None, None);
        let mut look = Look::default();
        let mut p = MethodParams::default();
        let (mut fill_given, mut baseline_given) = (false, false);
        let mut it = args.into_iter();
        while let Some(a) = it.next() {
            match a.as_str() {
                "--model" => model_path = Some(it.next().ok_or("--model needs a file")?),
                "--out" => out = Some(it.next().ok_or("--out needs a file")?),
                "--target" => class = Some(number::<usize>("--target", it.next())?),
                "--neuron" => neuron = Some(it.next().ok_or("--neuron needs LAYER:CHANNEL")?),
                "--layer" => p.layer = Some(it.next().ok_or("--layer needs a name")?),
                "--window" => p.window = number("--window", it.next())?,
                "--stride" => p.stride = number("--stride", it.next())?,
                "--steps" => p.steps = number("--steps", it.next())?,
                "--samples" => p.samples = number("--samples", it.next())?,
                "--sigma" => p.sigma = number("--sigma", it.next())?,
                "--seed" => p.seed = number("--seed", it.next())?,
                "--colormap" => {
                    let name = it.next().unwrap_or_default();
                    look.colormap = Colormap::parse(&name)
                        .ok_or(format!("--colormap: '{name}' is not inferno, viridis or turbo"))?;
                }
                "--opacity" => look.opacity = number("--opacity", it.next())?,
                "--randomize" => p.randomize = number("--randomize", it.next())?,
                "--smooth" => p.smooth = it.next().ok_or("--smooth needs a rule")?,
                "--baseline" => {
                    p.baseline = number("--baseline", it.next())?;
                    baseline_given = true;
                }
                "--fill" => {
                    p.fill = Fill::parse(&it.next().ok_or("--fill needs a value")?)?;
                    fill_given = true;
                }
                "--view" => {
                    look.view = match it.next().as_deref() {
                        Some("overlay") => View::Overlay,
                        Some("heat") => View::Heat,
                        Some("rgb") => View::Rgb,
                        other => return Err(format!("--view: {other:?} is not overlay, heat or rgb")),
                    }
                }
                s if s.starts_with("--") => return Err(format!("unknown option {s}\n{USAGE}")),
                _ => positional.push(a),
            }
        }
        let [method, image] = <[String; 2]>::try_from(positional).map_err(|_| USAGE.to_string())?;
        let out = out.ok_or("attribute needs --out FILE.png or FILE.npy")?;
        // Captum's occlusion baseline is the value painted into the window.
        if method == "occlusion" && baseline_given && !fill_given {
            p.fill = Fill::Value(p.baseline);
        }
        let method = Method::from_name(&method, &p).map_err(|e| e.to_string())?;
        let (info, net, crop) = load(model_path.as_deref(), &image)?;
        let target = match (class, neuron) {
            (Some(_), Some(_)) => return Err("give --target or --neuron, not both".into()),
            (Some(k), None) => Target::Class(k),
            (None, Some(spec)) => {
                let (layer, channel) = spec.rsplit_once(':').ok_or("--neuron needs LAYER:CHANNEL")?;
                let channel = channel.parse().map_err(|_| format!("--neuron: '{channel}' is not a channel number"))?;
                Target::Channel { layer: layer.to_string(), channel }
            }
            (None, None) => {
                let probs = pollster::block_on(class_probabilities(&net, &crop)).map_err(|e| e.to_string())?;
                Target::Class(top_k(&probs, 1, &info).first().map(|p| p.index).unwrap_or(0))
            }
        };
        let x = convlens::image::to_tensor(&crop, net.device());
        // The sanity check: the same method on a copy whose top layers are random.
        let net = if p.randomize > 0 { net.randomized(p.randomize, p.seed).map_err(|e| e.to_string())? } else { net };
        let a = pollster::block_on(method.attribute(&net, &x, &target, &mut |_, _| true)).map_err(|e| e.to_string())?;
        let what = match &target {
            Target::Class(k) => format!("class {k} ({})", info.label(*k)),
            Target::Channel { layer, channel } => format!("{layer} channel {channel}"),
        };
        if out.to_ascii_lowercase().ends_with(".npy") {
            std::fs::write(&out, npy_f32(&a.values, &a.shape)).map_err(|e| format!("cannot write {out}: {e}"))?;
        } else {
            let picture = convlens::render::picture(&crop, &a, &look);
            picture.image.save(&out).map_err(|e| format!("cannot write {out}: {e}"))?;
        }
        Ok(format!("{} of {what}: score {:.6}, map {:?} written to {out}\n", method.name(), a.score, a.shape))
    }

    /// A little-endian float32 `.npy` file (format version 1.0). Written by hand: the format is
    /// a ten-line header, not worth a dependency.
    pub fn npy_f32(values: &[f32], shape: &[usize]) -> Vec<u8> {
        let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
        let tuple = if dims.len() == 1 { format!("({},)", dims[0]) } else { format!("({})", dims.join(", ")) };
        let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {tuple}, }}");
        // Magic (6) + version (2) + length (2) + header + newline, padded to a multiple of 64.
        let unpadded = 10 + header.len() + 1;
        header.push_str(&" ".repeat(unpadded.next_multiple_of(64) - unpadded));
        header.push('\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        out.extend(values.iter().flat_map(|v| v.to_le_bytes()));
        out
    }

    /// Optimization over the image (`src/optvis/job.rs`, the same engine as the page): the
    /// optimised picture, written as a PNG.
    fn optimize(args: Vec<String>) -> Result<String, String> {
        use convlens::optvis::job::{Made, Pictures, make};
        use convlens::protocol::OptimizeJob;
        let mut positional = Vec::new();
        let (mut model_path, mut out, mut diff, mut image, mut style) = (None, None, None, None, None);
        let mut job = OptimizeJob::default();
        let (mut steps, mut target_given) = (None, false);
        let mut it = args.into_iter();
        while let Some(a) = it.next() {
            match a.as_str() {
                "--model" => model_path = Some(number::<String>("--model", it.next())?),
                "--out" => out = Some(number::<String>("--out", it.next())?),
                "--diff" => diff = Some(number::<String>("--diff", it.next())?),
                "--image" => image = Some(number::<String>("--image", it.next())?),
                "--style" => style = Some(number::<String>("--style", it.next())?),
                "--target" => {
                    job.class = number("--target", it.next())?;
                    target_given = true;
                }
                "--layer" => job.layer = number("--layer", it.next())?,
                "--channel" => job.channel = number("--channel", it.next())?,
                "--neuron" => job.neuron = true,
                "--preset" => job.preset = number("--preset", it.next())?,
                "--steps" => steps = Some(number("--steps", it.next())?),
                "--seed" => job.seed = number("--seed", it.next())?,
                "--size" => job.size = number("--size", it.next())?,
                "--octaves" => job.octaves = number("--octaves", it.next())?,
                "--style-layers" => {
                    let v: String = number("--style-layers", it.next())?;
                    job.style_layers = v.split(',').filter(|l| !l.is_empty()).map(String::from).collect();
                }
                "--style-weight" => job.style_weight = number("--style-weight", it.next())?,
                "--tv-weight" => job.tv_weight = number("--tv-weight", it.next())?,
                "--epsilon" => job.epsilon = number("--epsilon", it.next())?,
                s if s.starts_with("--") => return Err(format!("unknown option {s}\n{USAGE}")),
                _ => positional.push(a),
            }
        }
        let [kind] = <[String; 1]>::try_from(positional).map_err(|_| USAGE.to_string())?;
        job.steps = steps.unwrap_or(OptimizeJob::default_steps(&kind));
        job.kind = kind;
        let out = out.ok_or("optimize needs --out FILE.png")?;
        let model_bytes = match &model_path {
            Some(f) => std::fs::read(f).map_err(|e| format!("cannot read model {f}: {e}"))?,
            None => DEFAULT_MODEL.to_vec(),
        };
        let (info, net) = Model::from_bytes(&model_bytes)
            .and_then(|m| m.bind(&convlens::Device::flex()))
            .map_err(|e| e.to_string())?;
        let read = |f: Option<String>| -> Result<Option<image::RgbImage>, String> {
            let Some(f) = f else { return Ok(None) };
            let bytes = std::fs::read(&f).map_err(|e| format!("cannot read {f}: {e}"))?;
            convlens::image::decode_rgb(&bytes).map(Some).map_err(|e| format!("{f}: {e}"))
        };
        if !target_given && matches!(job.kind.as_str(), "class-vis" | "fool") {
            return Err(format!("{} needs --target K", job.kind));
        }
        if image.is_none() && matches!(job.kind.as_str(), "deepdream" | "invert" | "style" | "fool") {
            return Err(format!("{} needs --image FILE", job.kind));
        }
        if style.is_none() && job.kind == "style" {
            return Err("style needs --style FILE".into());
        }
        let pictures = Pictures { photo: read(image)?, style: read(style)? };
        let mut last = (0.0, Vec::new());
        let made = pollster::block_on(make(&net, &info, &job, &pictures, &mut |s: &convlens::optvis::Step| {
            last = (s.value, s.terms.clone());
            true
        }))
        .map_err(|e| e.to_string())?;
        let save = |x: &convlens::Tensor<4>, f: &str| -> Result<(), String> {
            // A grey model sees the mean of the channels: save that.
            let x = if info.channels == 1 { x.clone().mean_dim(1).repeat_dim(1, 3) } else { x.clone() };
            let [_, _, h, w] = x.dims();
            let data = x.clone().into_data().try_to_vec::<f32>().map_err(|e| format!("{e:?}"))?;
            convlens::image::from_chw(&data, h, w).save(f).map_err(|e| format!("cannot write {f}: {e}"))
        };
        save(made.image(), &out)?;
        let terms: Vec<String> = last.1.iter().map(|(n, v)| format!("{n} {v:.4}")).collect();
        match &made {
            Made::Fooled { photo, fooled } => {
                if let Some(d) = &diff {
                    save(&convlens::optvis::fool::amplified_difference(fooled.image.clone(), photo.clone(), 10.0), d)?;
                }
                let top: Vec<String> = top_k(&fooled.probabilities, 5, &info)
                    .iter()
                    .map(|p| format!("{} {:.1}%", p.label, p.prob * 100.0))
                    .collect();
                let verdict =
                    if fooled.succeeded(job.class) { "fooled" } else { "not fooled (raise --epsilon or --steps)" };
                Ok(format!(
                    "fool: {verdict} into class {} ({}) in {} steps; top-5 now: {}; written to {out}\n",
                    job.class,
                    info.label(job.class),
                    fooled.steps,
                    top.join(", ")
                ))
            }
            Made::Image(_) => Ok(format!(
                "{}: {} steps, objective {:.4} ({}), written to {out}\n",
                job.kind,
                job.steps,
                last.0,
                terms.join(", ")
            )),
        }
    }
}
