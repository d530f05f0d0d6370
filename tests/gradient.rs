//! The executor runs under Burn's autodiff: the gradient of a class score with respect to the
//! input image matches central finite differences on a tiny net.

mod common;
use common::{OnnxBuilder, device};
use convlens::model::Network;
use convlens::{Tensor, TensorData};

fn tiny_net() -> Network {
    // conv 3×3 (2 filters, pad 1) → relu → max-pool 2 → global avg → flatten → gemm to 3 classes.
    let w: Vec<f32> = (0..18).map(|i| ((i * 7 % 11) as f32 - 5.0) / 10.0).collect();
    let fc: Vec<f32> = (0..6).map(|i| ((i * 5 % 7) as f32 - 3.0) / 4.0).collect();
    let m = OnnxBuilder::new("x")
        .f32("w", &[2, 1, 3, 3], &w)
        .f32("b", &[2], &[0.1, -0.2])
        .f32("fc", &[3, 2], &fc)
        .f32("fb", &[3], &[0.0, 0.1, 0.2])
        .node("Conv", &["x", "w", "b"], "c", vec![("pads", common::Attr::Ints(vec![1, 1, 1, 1]))])
        .node("Relu", &["c"], "r", vec![])
        .node(
            "MaxPool",
            &["r"],
            "p",
            vec![("kernel_shape", common::Attr::Ints(vec![2, 2])), ("strides", common::Attr::Ints(vec![2, 2]))],
        )
        .node("GlobalAveragePool", &["p"], "g", vec![])
        .node("Flatten", &["g"], "f", vec![])
        .node("Gemm", &["f", "fc", "fb"], "logits", vec![("transB", common::Attr::Int(1))])
        .output("logits")
        .model();
    m.bind(&device()).unwrap().1
}

fn score(net: &Network, x: &[f32], class: usize) -> f32 {
    let t = Tensor::<4>::from_data(TensorData::new(x.to_vec(), [1, 1, 6, 6]), &device());
    let acts = net.forward(t, &[]).unwrap();
    let v = acts.get("logits").unwrap().tensor.clone().into_data().try_into_vec::<f32>().unwrap();
    v[class]
}

#[test]
fn input_gradient_matches_finite_differences() {
    let net = tiny_net();
    // Irregular values: no ties inside pooling windows, so the function is smooth around x.
    let x: Vec<f32> = (0..36).map(|i| (i as f32 * 1.7).sin() * 0.9 + 0.03 * i as f32).collect();
    for class in 0..3 {
        let input =
            Tensor::<4>::from_data(TensorData::new(x.clone(), [1, 1, 6, 6]), &device()).autodiff().require_grad();
        let acts = net.forward(input.clone(), &[]).unwrap();
        let s = acts.get("logits").unwrap().tensor.clone().slice([0..1, class..class + 1, 0..1, 0..1]).sum();
        let grads = s.backward();
        let g = input.grad(&grads).expect("input has a gradient").into_data().try_into_vec::<f32>().unwrap();
        let eps = 1e-3f32;
        let mut nonzero = 0;
        for i in 0..36 {
            let (mut up, mut down) = (x.clone(), x.clone());
            up[i] += eps;
            down[i] -= eps;
            let fd = (score(&net, &up, class) - score(&net, &down, class)) / (2.0 * eps);
            assert!((fd - g[i]).abs() < 2e-3, "class {class} pixel {i}: autodiff {} vs finite difference {fd}", g[i]);
            if g[i].abs() > 1e-4 {
                nonzero += 1;
            }
        }
        assert!(nonzero > 4, "gradient is suspiciously empty for class {class}");
    }
}
