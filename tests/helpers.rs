//! A run shared with helpers (the browser's extra CPU workers, each with its own copy of the
//! model) gives the same map, to the bit, as one worker alone: occlusion's batches of windows
//! and SmoothGrad's and Integrated Gradients' batches of images done elsewhere, out of order,
//! lost by a helper, answered twice or taken back are all placed right.

mod common;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;

use common::device;
use convlens::Tensor;
use convlens::methods::gradient::weighted_gradient_sum;
use convlens::methods::occlusion::Measurer;
use convlens::methods::share::{Helpers, Part};
use convlens::methods::{Attribution, Fill, Method, OcclusionParams, Progress, Target};
use convlens::model::{Model, Network, ReluRule};

/// A helper with its own copy of the network, doing the newest part it holds whenever the run
/// ticks (so answers come back out of order); `lose` parts come back undone.
struct Remote {
    net: Network,
    /// Occlusion's measurer (for windows), or the gradient rule and target (for images).
    measurer: Option<Measurer>,
    rule: ReluRule,
    target: Target,
    shape: [usize; 3],
    slots: usize,
    out: VecDeque<(usize, Part)>,
    answered: Vec<(usize, Option<Vec<f32>>)>,
    lose: fn(usize) -> bool,
    /// Sends a stale copy of every answer too.
    twice: bool,
    sent: Vec<usize>,
    /// Parts done and answered.
    measured: usize,
}

impl Remote {
    fn new(bytes: &[u8], x: &Tensor<4>, target: &Target, p: Option<&OcclusionParams>, slots: usize) -> Remote {
        let (_, net) = Model::from_bytes(bytes).unwrap().bind(&device()).unwrap();
        let measurer = p.map(|p| pollster::block_on(Measurer::new(&net, x, target, p)).unwrap());
        let [_, c, h, w] = x.dims();
        Remote {
            net,
            measurer,
            rule: ReluRule::Standard,
            target: target.clone(),
            shape: [c, h, w],
            slots,
            out: VecDeque::new(),
            answered: Vec::new(),
            lose: |_| false,
            twice: false,
            sent: Vec::new(),
            measured: 0,
        }
    }

    fn work(&mut self) {
        if let Some((k, part)) = self.out.pop_back() {
            let values = match part {
                _ if (self.lose)(k) => None,
                Part::Windows(at) => {
                    let measurer = self.measurer.as_ref().unwrap();
                    Some(pollster::block_on(measurer.measure(&self.net, &at)).unwrap())
                }
                Part::Images { pixels, weights } => {
                    let (net, shape, target, rule, cpu) = (&self.net, self.shape, &self.target, self.rule, device());
                    let sum = weighted_gradient_sum(net, pixels, shape, &weights, target, rule, &cpu);
                    Some(pollster::block_on(sum).unwrap())
                }
            };
            self.measured += usize::from(values.is_some());
            if self.twice {
                self.answered.push((k, values.clone()));
            }
            self.answered.push((k, values));
        }
    }
}

impl Helpers for Remote {
    fn send(&mut self, key: usize, part: &dyn Fn() -> Part) -> bool {
        if self.out.len() == self.slots {
            return false;
        }
        self.sent.push(key);
        self.out.push_back((key, part()));
        true
    }

    fn answers(&mut self) -> Vec<(usize, Option<Vec<f32>>)> {
        std::mem::take(&mut self.answered)
    }

    /// Parts beyond the first in the queue have not begun.
    fn take_back(&mut self) -> Option<usize> {
        if self.out.len() < 2 {
            return None;
        }
        self.out.pop_back().map(|(k, _)| k)
    }

    fn wait(&mut self) -> Pin<Box<dyn Future<Output = ()> + '_>> {
        self.work();
        Box::pin(std::future::ready(()))
    }
}

struct Shared {
    remote: Remote,
    previews: usize,
}

impl Progress for Shared {
    fn tick(&mut self, _: usize, _: usize) -> Pin<Box<dyn Future<Output = bool> + '_>> {
        // The helper works while this worker measures a batch of its own.
        self.remote.work();
        Box::pin(std::future::ready(true))
    }

    fn preview(&mut self, _: &Attribution) {
        self.previews += 1;
    }

    fn helpers(&mut self) -> Option<&mut dyn Helpers> {
        Some(&mut self.remote)
    }
}

#[test]
fn a_shared_sweep_equals_one_worker_bit_for_bit() {
    let bytes = std::fs::read("static/models/squeezenet1_1-int8.onnx").unwrap();
    let (_, net) = Model::from_bytes(&bytes).unwrap().bind(&device()).unwrap();
    let crop = image::open("tests/fixtures/crops/chelsea.png").unwrap().to_rgb8();
    let x = convlens::image::to_tensor(&crop, &device());
    let cases = [
        (Target::Class(285), OcclusionParams { window: [48; 2], strides: [36; 2], batch: 3, ..Default::default() }),
        (
            Target::Class(281),
            OcclusionParams {
                window: [64; 2],
                strides: [54; 2],
                batch: 2,
                incremental: false,
                fill: Fill::Blur,
                approximate: None,
            },
        ),
        (
            Target::Class(285),
            OcclusionParams {
                window: [32; 2],
                strides: [40; 2],
                batch: 3,
                approximate: Some(0.3),
                ..Default::default()
            },
        ),
        (
            Target::Channel { layer: "fire4/concat".into(), channel: 5 },
            OcclusionParams { window: [40; 2], strides: [64; 2], batch: 4, ..Default::default() },
        ),
    ];
    for (target, p) in cases {
        let alone =
            pollster::block_on(Method::Occlusion(p.clone()).attribute(&net, &x, &target, &mut |_, _| true)).unwrap();
        let mut previews_alone = 0;
        struct Count<'a>(&'a mut usize);
        impl Progress for Count<'_> {
            fn tick(&mut self, _: usize, _: usize) -> Pin<Box<dyn Future<Output = bool> + '_>> {
                Box::pin(std::future::ready(true))
            }
            fn preview(&mut self, _: &Attribution) {
                *self.0 += 1;
            }
        }
        pollster::block_on(Method::Occlusion(p.clone()).attribute(&net, &x, &target, &mut Count(&mut previews_alone)))
            .unwrap();
        let lossy: [fn(usize) -> bool; 3] = [|_| false, |k| k % 3 == 1, |_| true];
        for (slots, lose, twice) in [(1, lossy[0], false), (3, lossy[1], true), (2, lossy[2], false)] {
            let mut remote = Remote::new(&bytes, &x, &target, Some(&p), slots);
            remote.lose = lose;
            remote.twice = twice;
            let mut shared = Shared { remote, previews: 0 };
            let a = pollster::block_on(Method::Occlusion(p.clone()).attribute(&net, &x, &target, &mut shared)).unwrap();
            assert_eq!(a.values, alone.values, "{target:?} {p:?}: slots {slots}");
            assert_eq!(a.score, alone.score);
            assert_eq!(
                shared.previews, previews_alone,
                "{target:?} slots {slots}: the coarse preview comes once, as alone"
            );
            assert!(!shared.remote.sent.is_empty(), "the helper got work");
            let (at, _) = convlens::methods::occlusion::positions(227, 227, &p);
            let batches = at.len().div_ceil(p.batch);
            if slots == 1 {
                // A helper as fast as this worker takes about half of the batches.
                assert!(shared.remote.measured * 3 >= batches, "{} of {batches}", shared.remote.measured);
            }
        }
    }
}

#[test]
fn shared_smoothgrad_and_integrated_gradients_equal_one_worker_bit_for_bit() {
    let bytes = std::fs::read("static/models/squeezenet1_1-int8.onnx").unwrap();
    let (_, net) = Model::from_bytes(&bytes).unwrap().bind(&device()).unwrap();
    let crop = image::open("tests/fixtures/crops/chelsea.png").unwrap().to_rgb8();
    let x = convlens::image::to_tensor(&crop, &device());
    let cat = Target::Class(285);
    let methods = [
        (Method::SmoothGrad { rule: ReluRule::Guided, samples: 21, sigma: 0.15, seed: 7 }, ReluRule::Guided),
        (Method::IntegratedGradients { steps: 19, baseline: 0.0 }, ReluRule::Standard),
    ];
    for (method, rule) in methods {
        let alone = pollster::block_on(method.attribute(&net, &x, &cat, &mut |_, _| true)).unwrap();
        assert!(alone.values.iter().any(|v| *v != 0.0));
        let lossy: [fn(usize) -> bool; 2] = [|_| false, |k| k == 0];
        for (slots, lose, twice) in [(1, lossy[0], false), (2, lossy[1], true)] {
            let mut remote = Remote::new(&bytes, &x, &cat, None, slots);
            (remote.rule, remote.lose, remote.twice) = (rule, lose, twice);
            let mut shared = Shared { remote, previews: 0 };
            let a = pollster::block_on(method.attribute(&net, &x, &cat, &mut shared)).unwrap();
            assert_eq!(a.values, alone.values, "{method:?}: slots {slots}");
            assert!(shared.remote.measured >= 1, "{method:?}: the helper did a part");
        }
    }
}
