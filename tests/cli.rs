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
