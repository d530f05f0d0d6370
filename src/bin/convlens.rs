//! `convlens`: the command line for scripting, slides and tests (native only).
//!
//! ```text
//! convlens predict IMAGE [--model FILE] [--top K] [--json]
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
    use convlens::model::Model;

    /// The bundled default model, the same file the web app loads.
    static DEFAULT_MODEL: &[u8] = include_bytes!("../../static/models/squeezenet1_1-int8.onnx");

    const USAGE: &str = "usage: convlens predict IMAGE [--model FILE] [--top K] [--json]";

    pub fn run(args: Vec<String>) -> Result<String, String> {
        let mut args = args.into_iter();
        match args.next().as_deref() {
            Some("predict") => predict(args.collect()),
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
        let model_bytes = match &model_path {
            Some(p) => std::fs::read(p).map_err(|e| format!("cannot read model {p}: {e}"))?,
            None => DEFAULT_MODEL.to_vec(),
        };
        let model = Model::from_bytes(&model_bytes).map_err(|e| e.to_string())?;
        let device = convlens::Device::flex();
        let (info, net) = model.bind(&device).map_err(|e| e.to_string())?;
        let bytes = std::fs::read(&image).map_err(|e| format!("cannot read {image}: {e}"))?;
        let rgb = convlens::image::decode_rgb(&bytes).map_err(|e| e.to_string())?;
        let crop = convlens::image::center_crop(&rgb, info.resize_shorter as u32, info.input_size as u32);
        let probs = pollster::block_on(class_probabilities(&net, &crop)).map_err(|e| e.to_string())?;
        let best = top_k(&probs, top, &info);
        if json {
            return serde_json::to_string(&best).map(|s| s + "\n").map_err(|e| e.to_string());
        }
        Ok(best.iter().map(|p| format!("{:>7.3}%  {:>4}  {}\n", p.prob * 100.0, p.index, p.label)).collect())
    }
}
