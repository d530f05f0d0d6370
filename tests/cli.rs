//! The `convlens` command line prints the same top-k as the page.

use std::process::Command;

#[test]
fn predict_json_prints_espresso_first() {
    let out = Command::new(env!("CARGO_BIN_EXE_convlens"))
        .args(["predict", "static/samples/coffee.png", "--top", "3", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0]["index"], 967);
    assert_eq!(rows[0]["label"], "espresso");
    let p: Vec<f64> = rows.iter().map(|r| r["prob"].as_f64().unwrap()).collect();
    assert!(p[0] >= p[1] && p[1] >= p[2]);
}

#[test]
fn predict_reports_bad_files_without_panicking() {
    let out = Command::new(env!("CARGO_BIN_EXE_convlens")).args(["predict", "Cargo.toml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read this file as an image"));
    let out = Command::new(env!("CARGO_BIN_EXE_convlens"))
        .args(["predict", "static/samples/coffee.png", "--model", "Cargo.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ONNX"));
}

fn convlens(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_convlens")).args(args).output().unwrap()
}

/// Reads a float32 `.npy` file: (shape, values).
fn read_npy(bytes: &[u8]) -> (Vec<usize>, Vec<f32>) {
    assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00");
    let len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = std::str::from_utf8(&bytes[10..10 + len]).unwrap();
    assert_eq!((10 + len) % 64, 0, "header padded to 64 bytes");
    assert!(header.contains("'descr': '<f4'") && header.contains("'fortran_order': False"), "{header}");
    let dims = &header[header.find("'shape': (").unwrap() + 10..];
    let dims = &dims[..dims.find(')').unwrap()];
    let shape: Vec<usize> =
        dims.split(',').filter(|d| !d.trim().is_empty()).map(|d| d.trim().parse().unwrap()).collect();
    let values = bytes[10 + len..].chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    (shape, values)
}

/// `convlens attribute METHOD coffee.png ARGS…`, which must succeed; its standard output.
fn attribute_ok(args: &[&str]) -> String {
    let mut all = vec!["attribute", args[0], "static/samples/coffee.png"];
    all.extend_from_slice(&args[1..]);
    let out = convlens(&all);
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn attribute_writes_raw_maps_and_pictures() {
    let dir = std::env::temp_dir().join(format!("convlens-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let npy = dir.join("s.npy");
    attribute_ok(&["saliency", "--target", "967", "--out", npy.to_str().unwrap()]);
    let (shape, values) = read_npy(&std::fs::read(&npy).unwrap());
    assert_eq!(shape, vec![3, 227, 227]);
    assert_eq!(values.len(), 3 * 227 * 227);
    assert!(values.iter().any(|v| *v != 0.0));

    let cam = dir.join("cam.npy");
    let printed = attribute_ok(&["grad-cam", "--layer", "fire9/concat", "--out", cam.to_str().unwrap()]);
    assert!(printed.contains("espresso"), "defaults to the top-1 class");
    assert_eq!(read_npy(&std::fs::read(&cam).unwrap()).0, vec![14, 14]);

    let png = dir.join("neuron.png");
    attribute_ok(&["guided-backprop", "--neuron", "fire9/concat:7", "--view", "rgb", "--out", png.to_str().unwrap()]);
    assert_eq!(image::open(&png).unwrap().to_rgb8().dimensions(), (227, 227));
    // The sanity check's randomized copy still draws a map.
    let random = dir.join("random.npy");
    let printed = attribute_ok(&["saliency", "--randomize", "4", "--out", random.to_str().unwrap()]);
    assert!(printed.contains("[3, 227, 227]"), "{printed}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn attribute_rejects_bad_arguments_with_a_message() {
    for (args, needle) in [
        (vec!["attribute", "nonsense", "static/samples/coffee.png", "--out", "/tmp/x.png"], "unknown method"),
        (
            vec!["attribute", "saliency", "static/samples/coffee.png", "--target", "5000", "--out", "/tmp/x.png"],
            "does not exist",
        ),
        (
            vec!["attribute", "occlusion", "static/samples/coffee.png", "--window", "999", "--out", "/tmp/x.png"],
            "does not fit",
        ),
        (vec!["attribute", "saliency", "static/samples/coffee.png"], "--out"),
        (
            vec!["attribute", "saliency", "static/samples/coffee.png", "--neuron", "nope:1", "--out", "/tmp/x.png"],
            "nope",
        ),
    ] {
        let out = convlens(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}

#[test]
fn optimize_writes_the_optimised_image() {
    let out = std::env::temp_dir().join(format!("convlens-opt-{}.png", std::process::id()));
    let run = convlens(&["optimize", "class-vis", "--target", "967", "--steps", "3", "--out", out.to_str().unwrap()]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    assert!(String::from_utf8_lossy(&run.stdout).contains("3 steps"));
    assert_eq!(image::open(&out).unwrap().to_rgb8().dimensions(), (227, 227));
    std::fs::remove_file(&out).ok();
    // Every kind writes its picture at the promised size; fooling also writes the change.
    let path = |name: &str| std::env::temp_dir().join(format!("convlens-{name}-{}.png", std::process::id()));
    let (o, d) = (path("o"), path("d"));
    let (o_s, d_s) = (o.to_str().unwrap(), d.to_str().unwrap());
    let photo = "static/samples/chelsea.png";
    for (args, side, said) in [
        (vec!["fool", "--image", photo, "--target", "1", "--epsilon", "4", "--diff", d_s], 227, "fooled into class 1"),
        (
            vec![
                "style",
                "--image",
                photo,
                "--style",
                "static/samples/styles/brick.jpg",
                "--size",
                "64",
                "--steps",
                "2",
            ],
            64,
            "2 steps",
        ),
        (
            vec![
                "deepdream",
                "--image",
                photo,
                "--layer",
                "fire3/concat",
                "--size",
                "96",
                "--octaves",
                "2",
                "--steps",
                "2",
            ],
            96,
            "2 steps",
        ),
        (
            vec![
                "feature-vis",
                "--layer",
                "fire3/concat",
                "--channel",
                "5",
                "--neuron",
                "--preset",
                "lucid",
                "--steps",
                "2",
            ],
            227,
            "2 steps",
        ),
        (vec!["invert", "--image", photo, "--layer", "fire2/concat", "--steps", "2"], 227, "2 steps"),
    ] {
        let mut full = vec!["optimize"];
        full.extend(&args);
        full.extend(["--out", o_s]);
        let run = convlens(&full);
        let stdout = String::from_utf8_lossy(&run.stdout);
        assert!(
            run.status.success() && stdout.contains(said),
            "{args:?}: {stdout} {}",
            String::from_utf8_lossy(&run.stderr)
        );
        let (w, h) = image::open(&o).unwrap().to_rgb8().dimensions();
        assert_eq!(w.max(h), side, "{args:?}");
    }
    assert_eq!(image::open(&d).unwrap().to_rgb8().dimensions(), (227, 227));
    std::fs::remove_file(&o).ok();
    std::fs::remove_file(&d).ok();
    for (args, needle) in [
        (vec!["optimize", "class-vis", "--out", "/tmp/x.png"], "--target"),
        (vec!["optimize", "deepdream", "--layer", "conv1", "--out", "/tmp/x.png"], "--image"),
        (vec!["optimize", "feature-vis", "--layer", "nope", "--steps", "1", "--out", "/tmp/x.png"], "nope"),
        (vec!["optimize", "painting", "--out", "/tmp/x.png"], "unknown kind"),
        (vec!["optimize", "fool", "--image", "static/samples/coffee.png", "--out", "/tmp/x.png"], "--target"),
        (vec!["optimize", "style", "--image", "static/samples/coffee.png", "--out", "/tmp/x.png"], "--style"),
        (vec!["optimize", "class-vis", "--target", "1", "--preset", "nope", "--out", "/tmp/x.png"], "unknown preset"),
    ] {
        let r = convlens(&args);
        assert_eq!(r.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&r.stderr).contains(needle),
            "{args:?}: {}",
            String::from_utf8_lossy(&r.stderr)
        );
    }
}

/// Runs an anatomy command that writes `out` (PNG) and its JSON; returns the JSON.
fn anatomy_ok(args: &[&str], out: &std::path::Path) -> serde_json::Value {
    let mut all: Vec<&str> = args.to_vec();
    let out_str = out.to_str().unwrap();
    all.extend(["--out", out_str]);
    let o = convlens(&all);
    assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
    let img = image::open(out).unwrap();
    assert!(img.width() > 0 && img.height() > 0);
    serde_json::from_slice(&std::fs::read(out.with_extension("json")).unwrap()).unwrap()
}

#[test]
fn anatomy_commands_write_pictures_and_json() {
    let dir = std::env::temp_dir().join(format!("convlens-anatomy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = anatomy_ok(&["filters", "--model", "squeezenet"], &dir.join("filters.png"));
    assert_eq!(f["layer"], "conv1");
    assert_eq!(f["dims"], serde_json::json!([64, 3, 3, 3]));
    assert_eq!(f["on_pixels"], true);
    let a = anatomy_ok(
        &["activations", "static/samples/fashion/sneaker.png", "--model", "fashion-mnist", "--layer", "conv1_relu"],
        &dir.join("acts.png"),
    );
    assert_eq!(a["layout"]["channels"], 32);
    assert_eq!(a["layout"]["map"], serde_json::json!([28, 28]));
    let p = anatomy_ok(
        &[
            "patches",
            "--model",
            "fashion-mnist",
            "--dataset",
            "bundled",
            "--layer",
            "conv2_relu",
            "--top",
            "2",
            "--k",
            "3",
        ],
        &dir.join("patches.png"),
    );
    assert_eq!(p["images"], 2000);
    assert_eq!(p["field"]["size"], serde_json::json!([8, 8]));
    let rows = p["channels"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    let v: Vec<f64> = rows[0]["hits"].as_array().unwrap().iter().map(|h| h["value"].as_f64().unwrap()).collect();
    assert!(v.len() == 3 && v[0] >= v[1] && v[1] >= v[2], "best first: {v:?}");
    let n = anatomy_ok(
        &["neighbours", "static/samples/fashion/sneaker.png", "--model", "fashion-mnist", "--k", "5"],
        &dir.join("neighbours.png"),
    );
    assert_eq!(n["code_layer"], "fc1_relu");
    assert!(n["codes"][0]["distance"].as_f64().unwrap() < 1e-3, "the sample is in the dataset: {}", n["codes"][0]);
    let sneakers = n["codes"].as_array().unwrap().iter().filter(|h| h["label"] == "Sneaker").count();
    assert!(sneakers >= 4, "code neighbours of a sneaker are sneakers ({sneakers}/5)");
    let t = anatomy_ok(
        &["tsne", "--model", "fashion-mnist", "--iterations", "100", "--image", "static/samples/fashion/bag.png"],
        &dir.join("tsne.png"),
    );
    let points = t["points"].as_array().unwrap();
    assert_eq!(points.len(), 2000);
    assert!(points[0]["x"].is_number() && points[0]["y"].is_number() && points[0]["label"].is_number());
    assert_eq!(points[7]["index"], 7);
    assert!(t["you"].is_array());
    // A folder with a non-image in it; SqueezeNet has no bundled dataset.
    let folder = dir.join("photos");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::copy("static/samples/coffee.png", folder.join("coffee.png")).unwrap();
    std::fs::copy("static/samples/chelsea.png", folder.join("chelsea.png")).unwrap();
    std::fs::write(folder.join("notes.txt"), "not an image").unwrap();
    let p = anatomy_ok(
        &["patches", "--dataset", folder.to_str().unwrap(), "--layer", "fire9/concat", "--channel", "3", "--k", "2"],
        &dir.join("folder.png"),
    );
    assert_eq!(p["images"], 2);
    let o = convlens(&["patches", "--layer", "conv1", "--out", dir.join("x.png").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no bundled dataset"));
    let o = convlens(&["filters", "--layer", "pool1", "--out", dir.join("x.png").to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a convolution"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A float32 `.npy` written by hand with numpy's header layout (version 1.0, the shape, padded).
fn write_npy(values: &[f32], shape: &[usize]) -> Vec<u8> {
    let dims = shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ");
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({dims}), }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((header.len() as u16).to_le_bytes());
    out.extend(header.as_bytes());
    out.extend(values.iter().flat_map(|v| v.to_le_bytes()));
    out
}

#[test]
fn inspect_and_run_a_model_file() {
    let o = convlens(&["inspect", "tests/fixtures/zoo/lenet.onnx", "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let s: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(s["opset"], 11);
    assert_eq!(s["classes"], 10);
    assert_eq!(s["ops"]["Conv"], 2);
    assert!(s["ops"].get("Shape").is_none(), "the flatten's shape arithmetic is folded");
    let layers = s["layers"].as_array().unwrap();
    assert_eq!(layers[0]["shape"], serde_json::json!([1, 6, 28, 28]));
    assert_eq!(layers.iter().filter(|l| l["spatial"] == true).count(), 6);
    let text = String::from_utf8(convlens(&["inspect", "static/models/squeezenet1_1-int8.onnx"]).stdout).unwrap();
    assert!(text.contains("1000 classes") && text.contains("fire9/concat"), "{text}");

    // A raw tensor through the graph matches onnxruntime's answer for the same input.
    let dir = std::env::temp_dir().join(format!("convlens-run-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let x: Vec<f32> = (0..3 * 32 * 32u64).map(|i| ((i * 7919) % 257) as f32 / 256.0).collect();
    std::fs::write(dir.join("x.npy"), write_npy(&x, &[1, 3, 32, 32])).unwrap();
    let (xs, ys) = (dir.join("x.npy"), dir.join("y.npy"));
    let o = convlens(&[
        "run",
        "tests/fixtures/zoo/resnet50.onnx",
        "--input",
        xs.to_str().unwrap(),
        "--out",
        ys.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (shape, y) = read_npy(&std::fs::read(&ys).unwrap());
    assert_eq!(shape, vec![1, 10]);
    let reference: serde_json::Value =
        serde_json::from_slice(&std::fs::read("tests/fixtures/zoo/reference.json").unwrap()).unwrap();
    let want: Vec<f32> =
        reference["resnet50"]["outputs"][0].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
    assert!(y.iter().zip(&want).all(|(a, b)| (a - b).abs() <= 1e-4 * scale), "{y:?} vs {want:?}");
    // Bad inputs: a text file, a 3-D array.
    let refused = |name: &str, bytes: &[u8]| {
        std::fs::write(dir.join(name), bytes).unwrap();
        let input = dir.join(name);
        let args = ["run", "tests/fixtures/zoo/resnet50.onnx", "--input", input.to_str().unwrap()];
        let o = convlens(&[&args[..], &["--out", ys.to_str().unwrap()]].concat());
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    assert!(refused("bad.npy", b"hello").contains("not a .npy file"));
    assert!(refused("x3.npy", &write_npy(&x, &[3, 32, 32])).contains("must be 4-D"));
    let _ = std::fs::remove_dir_all(&dir);
}
