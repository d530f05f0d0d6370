//! Bad input gives typed errors, never a panic: corrupt models, unsupported operators,
//! shape mismatches, corrupt or huge images.

mod common;
use common::{Attr, OnnxBuilder, device};
use convlens::model::Model;
use convlens::{ImageError, ModelError, Tensor, TensorData};

#[test]
fn garbage_bytes_are_not_onnx() {
    assert!(matches!(Model::from_bytes(b""), Err(ModelError::NotOnnx(_))));
    assert!(matches!(Model::from_bytes(&[0xff; 64]), Err(ModelError::NotOnnx(_))));
    let png = std::fs::read("static/samples/coffee.png").unwrap();
    assert!(Model::from_bytes(&png).is_err());
}

#[test]
fn truncated_model_is_an_error() {
    let bytes = std::fs::read("static/models/squeezenet1_1-int8.onnx").unwrap();
    for cut in [10, 1000, bytes.len() / 2, bytes.len() - 3] {
        assert!(Model::from_bytes(&bytes[..cut]).is_err(), "cut at {cut} parsed");
    }
}

#[test]
fn unsupported_operator_is_named() {
    let bytes = OnnxBuilder::new("x").node("Einsum", &["x"], "y", vec![]).output("y").bytes();
    match Model::from_bytes(&bytes) {
        Err(ModelError::UnsupportedOp { op_type, node, .. }) => {
            assert_eq!(op_type, "Einsum");
            assert_eq!(node, "y");
        }
        other => panic!("expected UnsupportedOp, got {other:?}"),
    }
}

#[test]
fn undefined_input_and_missing_output() {
    let bytes = OnnxBuilder::new("x").node("Relu", &["nope"], "y", vec![]).output("y").bytes();
    assert!(matches!(Model::from_bytes(&bytes), Err(ModelError::BadNode { .. })));
    let bytes = OnnxBuilder::new("x").node("Relu", &["x"], "y", vec![]).output("z").bytes();
    assert!(matches!(Model::from_bytes(&bytes), Err(ModelError::Malformed(_))));
}

#[test]
fn shape_mismatch_is_an_error_not_a_panic() {
    // Weight wants 3 input channels; the input has 1.
    let m = OnnxBuilder::new("x")
        .f32("w", &[1, 3, 1, 1], &[1.0; 3])
        .node("Conv", &["x", "w"], "y", vec![])
        .output("y")
        .model();
    let device = device();
    let (_, net) = m.bind(&device).unwrap();
    let x = Tensor::<4>::from_data(TensorData::new(vec![0.0f32; 4], [1, 1, 2, 2]), &device);
    assert!(matches!(net.forward(x, &[]), Err(ModelError::BadNode { .. })));

    let m = OnnxBuilder::new("x")
        .node("MaxPool", &["x"], "y", vec![("kernel_shape", Attr::Ints(vec![5, 5]))])
        .output("y")
        .model();
    let (_, net) = m.bind(&device).unwrap();
    let x = Tensor::<4>::from_data(TensorData::new(vec![0.0f32; 4], [1, 1, 2, 2]), &device);
    assert!(net.forward(x, &[]).is_err());

    let m = OnnxBuilder::new("x").node("Relu", &["x"], "y", vec![]).output("y").model();
    let (_, net) = m.bind(&device).unwrap();
    let x = Tensor::<4>::from_data(TensorData::new(vec![0.0f32; 4], [1, 1, 2, 2]), &device);
    assert!(matches!(net.forward(x, &["missing"]), Err(ModelError::UnknownTap(_))));
}

#[test]
fn bundled_model_rejects_wrong_input_size() {
    let bytes = std::fs::read("static/models/squeezenet1_1-int8.onnx").unwrap();
    let device = device();
    let (_, net) = Model::from_bytes(&bytes).unwrap().bind(&device).unwrap();
    let x = Tensor::<4>::from_data(TensorData::new(vec![0.0f32; 3 * 16 * 16], [1, 3, 16, 16]), &device);
    assert!(matches!(net.forward(x, &[]), Err(ModelError::InputShape { .. })));
}

/// A BMP header claiming 20000×20000 pixels (no pixel data follows).
fn huge_bmp() -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(b"BM");
    b.extend_from_slice(&(54u32 + 16).to_le_bytes());
    b.extend_from_slice(&[0; 4]);
    b.extend_from_slice(&54u32.to_le_bytes());
    b.extend_from_slice(&40u32.to_le_bytes());
    b.extend_from_slice(&20_000i32.to_le_bytes());
    b.extend_from_slice(&20_000i32.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&24u16.to_le_bytes());
    b.extend_from_slice(&[0; 24]);
    b.extend_from_slice(&[0; 16]);
    b
}

#[test]
fn bad_images_give_typed_errors() {
    use convlens::image::decode_rgb;
    assert_eq!(decode_rgb(b""), Err(ImageError::Empty));
    assert!(matches!(decode_rgb(b"definitely not an image"), Err(ImageError::Decode(_))));
    let png = std::fs::read("static/samples/coffee.png").unwrap();
    assert!(matches!(decode_rgb(&png[..png.len() / 3]), Err(ImageError::Decode(_))));
    assert!(matches!(decode_rgb(&huge_bmp()), Err(ImageError::TooLarge { width: 20_000, .. })));
    // A PNG declaring 20000×20000 (a decompression bomb): refused from its header.
    assert!(matches!(decode_rgb(&png_header(20_000, 20_000)), Err(ImageError::TooLarge { height: 20_000, .. })));
    // Zero-size.
    assert!(decode_rgb(&png_header(0, 10)).is_err());
}

/// A PNG signature and IHDR chunk (8-bit RGB) declaring `w`×`h`, then an empty IDAT and IEND.
fn png_header(w: u32, h: u32) -> Vec<u8> {
    fn crc32(bytes: &[u8]) -> u32 {
        let mut c = 0xffff_ffffu32;
        for &b in bytes {
            c ^= b as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 { 0xedb8_8320 ^ (c >> 1) } else { c >> 1 };
            }
        }
        !c
    }
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut chunk = |kind: &[u8], data: &[u8]| {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let body: Vec<u8> = kind.iter().chain(data).copied().collect();
        out.extend_from_slice(&body);
        out.extend_from_slice(&crc32(&body).to_be_bytes());
    };
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(b"IHDR", &ihdr);
    chunk(b"IDAT", &[]);
    chunk(b"IEND", &[]);
    out
}

/// Pictures as phones and editors save them: EXIF-rotated, 16-bit, CMYK, animated, 1×1.
#[test]
fn unusual_images_decode_as_they_look() {
    use convlens::image::decode_rgb;
    let read = |name: &str| decode_rgb(&std::fs::read(format!("tests/fixtures/{name}")).unwrap()).unwrap();
    // Stored 40×20 (left red, right blue, a green block top-left) with EXIF orientation 6:
    // shown rotated 90° clockwise, 20×40, red on top, the green block top-right.
    let r = read("exif-rotate-90.jpg");
    assert_eq!(r.dimensions(), (20, 40));
    let near = |p: &image::Rgb<u8>, want: [u8; 3]| p.0.iter().zip(want).all(|(a, b)| a.abs_diff(b) < 60);
    assert!(near(r.get_pixel(10, 5), [255, 0, 0]), "top: {:?}", r.get_pixel(10, 5));
    assert!(near(r.get_pixel(10, 35), [0, 0, 255]), "bottom: {:?}", r.get_pixel(10, 35));
    assert!(near(r.get_pixel(18, 1), [0, 255, 0]), "top right: {:?}", r.get_pixel(18, 1));
    // 16-bit grey: a left-to-right ramp to 8 bits.
    let g = read("grey16.png");
    assert_eq!(g.dimensions(), (16, 8));
    assert!(
        g.get_pixel(0, 0).0[0] < 5
            && g.get_pixel(15, 0).0[0] > 230
            && g.get_pixel(15, 0).0[1] == g.get_pixel(15, 0).0[0]
    );
    // CMYK JPEG of pure red.
    let c = read("cmyk.jpg");
    assert_eq!(c.dimensions(), (12, 10));
    assert!(near(c.get_pixel(5, 5), [255, 0, 0]), "cmyk: {:?}", c.get_pixel(5, 5));
    // Animated GIF: its first frame (red).
    let a = read("animated.gif");
    assert!(near(a.get_pixel(5, 5), [255, 0, 0]), "gif: {:?}", a.get_pixel(5, 5));
    // 1×1.
    let one = convlens::image::encode_png(&image::RgbImage::from_pixel(1, 1, image::Rgb([9, 8, 7])));
    assert_eq!(decode_rgb(&one).unwrap().get_pixel(0, 0).0, [9, 8, 7]);
}

#[test]
fn pictures_sent_to_the_page_decode_to_the_same_pixels() {
    // Lossless, on a photo's noise and on a map's smooth ramps.
    use convlens::image::decode_rgb;
    let photo = decode_rgb(&std::fs::read("static/samples/chelsea.png").unwrap()).unwrap();
    let ramp = image::RgbImage::from_fn(227, 131, |x, y| image::Rgb([x as u8, y as u8, (x ^ y) as u8]));
    for img in [photo, ramp] {
        let png = convlens::image::encode_png(&img);
        assert_eq!(decode_rgb(&png).unwrap(), img);
    }
}

#[test]
fn non_image_inputs_are_refused_politely() {
    use onnx_ir::{Message, ModelProto};
    let base = ModelProto::parse_from_bytes(&std::fs::read("tests/fixtures/zoo/resnet18.onnx").unwrap()).unwrap();
    let refused =
        |m: ModelProto| convlens::model::Model::from_bytes(&m.write_to_bytes().unwrap()).unwrap_err().to_string();
    // Two inputs.
    let mut two = base.clone();
    let g = two.graph.as_mut().unwrap();
    let mut second = g.input[0].clone();
    second.name = "mask".into();
    g.input.push(second);
    assert!(refused(two).contains("takes 2 inputs ('input', 'mask'); convlens feeds one image"));
    // A vector input.
    let mut flat = base.clone();
    let shape = flat.graph.as_mut().unwrap().input[0].type_.as_mut().unwrap().mut_tensor_type().shape.as_mut().unwrap();
    shape.dim.truncate(2);
    assert!(refused(flat).contains("has 2 dimensions; an image model takes 4"));
    // Two outputs that are not one vector of scores (here the pooled features beside the logits).
    let mut two_out = base.clone();
    let g = two_out.graph.as_mut().unwrap();
    let pooled = g.node.iter().find(|n| n.op_type == "GlobalAveragePool").unwrap().output[0].clone();
    let mut extra = g.output[0].clone();
    extra.name = pooled;
    g.output.push(extra);
    let message = refused(two_out);
    assert!(message.contains("has 2 outputs") && message.contains("one vector of class scores"), "{message}");
    // Integer input.
    let mut ints = base;
    ints.graph.as_mut().unwrap().input[0].type_.as_mut().unwrap().mut_tensor_type().elem_type = 7;
    assert!(refused(ints).contains("element type 7"));
}

#[test]
fn integer_operator_models_with_unsupported_parts_are_named() {
    use onnx_ir::{Message, ModelProto};
    let base = ModelProto::parse_from_bytes(&std::fs::read("tests/fixtures/zoo/resnet18_int8_qoperator.onnx").unwrap())
        .unwrap();
    let refused =
        |m: &ModelProto| convlens::model::Model::from_bytes(&m.write_to_bytes().unwrap()).unwrap_err().to_string();
    // A contrib op we do not rewrite names itself with its domain.
    let mut other = base.clone();
    let g = other.graph.as_mut().unwrap();
    let add = g.node.iter_mut().find(|n| n.op_type == "QLinearAdd").unwrap();
    add.op_type = "QAttention".into();
    let message = refused(&other);
    assert!(message.contains("com.microsoft::QAttention"), "{message}");
    // A QLinearConv whose bias is not a constant.
    let mut computed = base.clone();
    let g = computed.graph.as_mut().unwrap();
    let conv = g.node.iter_mut().find(|n| n.op_type == "QLinearConv").unwrap();
    conv.input.resize(9, String::new());
    conv.input[8] = g.input[0].name.clone();
    let message = refused(&computed);
    assert!(message.contains("must be a constant"), "{message}");
    // Pooling over channels-last quantized data.
    let mut nhwc = base;
    let g = nhwc.graph.as_mut().unwrap();
    let pool = g.node.iter_mut().find(|n| n.op_type == "QLinearGlobalAveragePool").unwrap();
    pool.attribute.retain(|a| a.name != "channels_last");
    pool.attribute.push(onnx_ir::AttributeProto { name: "channels_last".into(), i: 1, ..Default::default() });
    let message = refused(&nhwc);
    assert!(message.contains("channels_last"), "{message}");
}

/// The page recognizes a failed device by the start of the error's text.
#[test]
fn device_failures_keep_the_prefix_the_page_watches_for() {
    let message = ModelError::Device("Destroyed: Device was destroyed.".into()).to_string();
    assert!(message.starts_with(convlens::error::DEVICE_FAILED), "{message}");
}
