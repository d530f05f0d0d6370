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
       convlens optimize KIND [--model FILE] [--target K] [--layer NAME --channel C] [--steps N] [--seed S]
           [--image FILE] [--style FILE] [--size PX] [--lr X] [--param pixels|fourier] --out FILE.png
       KIND: class-vis, feature-vis, deepdream, invert, style
       METHOD: saliency, guided-backprop, deconvnet, smoothgrad, integrated-gradients, grad-cam,
               guided-grad-cam, occlusion";

    pub fn run(args: Vec<String>) -> Result<String, String> {
        let mut args = args.into_iter();
        match args.next().as_deref() {
            Some("predict") => predict(args.collect()),
            Some("attribute") => attribute(args.collect()),
            Some("optimize") => optimize(args.collect()),
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

    /// Optimization over the image (`src/optvis`): the optimised picture, written as a PNG.
    fn optimize(args: Vec<String>) -> Result<String, String> {
        use convlens::optvis::param::Init;
        use convlens::optvis::{Objective, RenderParams, Step};
        let mut positional = Vec::new();
        let (mut model_path, mut out, mut target, mut layer, mut channel) = (None, None, None, None, None);
        let (mut image, mut style, mut size) = (None, None, None::<usize>);
        let (mut fourier, mut steps_given, mut lr_given) = (false, false, false);
        let mut p = RenderParams::default();
        let mut it = args.into_iter();
        while let Some(a) = it.next() {
            match a.as_str() {
                "--model" => model_path = Some(number::<String>("--model", it.next())?),
                "--out" => out = Some(number::<String>("--out", it.next())?),
                "--target" => target = Some(number::<usize>("--target", it.next())?),
                "--layer" => layer = Some(number::<String>("--layer", it.next())?),
                "--channel" => channel = Some(number::<usize>("--channel", it.next())?),
                "--steps" => {
                    p.steps = number("--steps", it.next())?;
                    steps_given = true;
                }
                "--seed" => p.seed = number("--seed", it.next())?,
                "--lr" => {
                    p.learning_rate = number("--lr", it.next())?;
                    lr_given = true;
                }
                "--image" => image = Some(number::<String>("--image", it.next())?),
                "--style" => style = Some(number::<String>("--style", it.next())?),
                "--size" => size = Some(number("--size", it.next())?),
                "--param" => {
                    fourier = match it.next().as_deref() {
                        Some("fourier") => true,
                        Some("pixels") => false,
                        other => return Err(format!("--param: {other:?} is not pixels or fourier")),
                    }
                }
                s if s.starts_with("--") => return Err(format!("unknown option {s}\n{USAGE}")),
                _ => positional.push(a),
            }
        }
        let [kind] = <[String; 1]>::try_from(positional).map_err(|_| USAGE.to_string())?;
        let out = out.ok_or("optimize needs --out FILE.png")?;
        let model_bytes = match &model_path {
            Some(f) => std::fs::read(f).map_err(|e| format!("cannot read model {f}: {e}"))?,
            None => DEFAULT_MODEL.to_vec(),
        };
        let (info, net) = Model::from_bytes(&model_bytes)
            .and_then(|m| m.bind(&convlens::Device::flex()))
            .map_err(|e| e.to_string())?;
        let side = size.unwrap_or(info.input_size);
        let device = net.device().clone();
        let load = |f: &str| -> Result<convlens::Tensor<4>, String> {
            let bytes = std::fs::read(f).map_err(|e| format!("cannot read {f}: {e}"))?;
            let rgb = convlens::image::decode_rgb(&bytes).map_err(|e| e.to_string())?;
            let crop = convlens::image::center_crop(&rgb, side as u32, side as u32);
            Ok(convlens::image::to_tensor(&crop, &device))
        };
        let need = |v: Option<String>, what: &str| v.ok_or(format!("{kind} needs {what}"));
        let (objective, init) = match kind.as_str() {
            "class-vis" => {
                let k = target.ok_or("class-vis needs --target K")?;
                let recipe = convlens::optvis::presets::class_vis(k, side, p.seed, &device);
                if !steps_given {
                    p.steps = recipe.render.steps;
                }
                (recipe.objective, recipe.init)
            }
            "feature-vis" => {
                let l = need(layer, "--layer NAME")?;
                (
                    Objective::Channel { layer: l, channel: channel.unwrap_or(0) },
                    Init::Noise(0.05).image([side; 2], p.seed, &device),
                )
            }
            "deepdream" => {
                let x = load(&need(image, "--image FILE")?)?;
                (Objective::Dream { layer: need(layer, "--layer NAME")? }, x)
            }
            "invert" => {
                let x = load(&need(image, "--image FILE")?)?;
                let l = need(layer, "--layer NAME")?;
                let o = Objective::content(&net, x, &l).map_err(|e| e.to_string())? - 0.05 * Objective::TotalVariation;
                (o, Init::Noise(0.05).image([side; 2], p.seed, &device))
            }
            "style" => {
                let content = load(&need(image, "--image FILE")?)?;
                let style_image = load(&need(style, "--style FILE")?)?;
                let r = convlens::optvis::presets::style_transfer(&net, content, style_image, p.seed)
                    .map_err(|e| e.to_string())?;
                let steps = if steps_given { p.steps } else { r.render.steps };
                let learning_rate = if lr_given { p.learning_rate } else { r.render.learning_rate };
                p = RenderParams { steps, learning_rate, ..r.render };
                (r.objective, r.init)
            }
            other => return Err(format!("unknown kind '{other}' (class-vis, feature-vis, deepdream, invert, style)")),
        };
        let mut last = (0.0, Vec::new());
        let param = if fourier {
            convlens::optvis::Param::Fourier(convlens::optvis::param::FourierBasis::new([side; 2], 1.0, &device))
        } else {
            convlens::optvis::Param::Pixels
        };
        let x =
            pollster::block_on(convlens::optvis::render_with(&net, &objective, &param, init, &p, &mut |s: &Step| {
                last = (s.value, s.terms.clone());
                true
            }))
            .map_err(|e| e.to_string())?;
        let data = x.into_data().try_to_vec::<f32>().map_err(|e| format!("{e:?}"))?;
        let img = convlens::image::from_chw(&data, side, side);
        img.save(&out).map_err(|e| format!("cannot write {out}: {e}"))?;
        let terms: Vec<String> = last.1.iter().map(|(n, v)| format!("{n} {v:.4}")).collect();
        Ok(format!("{kind}: {} steps, objective {:.4} ({}), written to {out}\n", p.steps, last.0, terms.join(", ")))
    }
}
