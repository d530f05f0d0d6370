//! The lecture path: the page's methods in the order a "visualizing and understanding ConvNets"
//! lecture takes them, each step with what is computed, the one formula that matters, what to
//! look for and the paper; and the "what am I seeing?" note of every panel. Text only, no DOM.

/// Where a step happens on the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// "Inside the network", on this tab (an [`ANATOMY_TABS`] key).
    Anatomy(&'static str),
    /// The live occluder on the crop, and the occlusion sweep.
    Occluder,
    /// "Why this class?" with this method (a `protocol::METHOD_NAMES` entry).
    Explain(&'static str),
    /// "Why this class?": backprop, guided backprop and deconvnet side by side.
    Compare,
    /// "Make an image" with this kind (a `protocol::OPTIMIZE_KINDS` entry).
    Optimize(&'static str),
}

impl Place {
    /// The page section the step lives in (an id in the page, and a [`panel_note`] key).
    pub fn section(self) -> &'static str {
        match self {
            Place::Anatomy(_) => "anatomy",
            Place::Occluder => "photo",
            Place::Explain(_) | Place::Compare => "explain",
            Place::Optimize(_) => "optimize",
        }
    }

    /// The "what am I seeing?" note of the panel the step opens.
    pub fn note(self) -> &'static str {
        match self {
            Place::Anatomy(tab) => panel_note(&format!("anatomy/{tab}")),
            other => panel_note(other.section()),
        }
    }
}

/// The tabs of "Inside the network" (key, title).
pub const ANATOMY_TABS: &[(&str, &str)] = &[
    ("weights", "Weights"),
    ("activations", "Activations"),
    ("patches", "Top patches"),
    ("neighbours", "Neighbours"),
    ("tsne", "t-SNE map"),
];

/// A paper, cited in full so a student can find it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paper {
    pub authors: &'static str,
    pub title: &'static str,
    pub venue: &'static str,
    pub year: u16,
    pub url: &'static str,
}

impl Paper {
    pub fn citation(&self) -> String {
        format!("{} ({}). {}. {}.", self.authors, self.year, self.title, self.venue)
    }
}

/// One step of the lecture path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// Stable name, used in the URL (`?step=`).
    pub key: &'static str,
    pub title: &'static str,
    pub place: Place,
    /// What is computed, in plain words.
    pub what: &'static str,
    /// The one formula that matters (plain text with Unicode maths).
    pub formula: &'static str,
    /// What to look for on the screen.
    pub look_for: &'static str,
    pub paper: Paper,
}

const ZEILER_FERGUS: Paper = Paper {
    authors: "M. D. Zeiler, R. Fergus",
    title: "Visualizing and Understanding Convolutional Networks",
    venue: "ECCV",
    year: 2014,
    url: "https://arxiv.org/abs/1311.2901",
};

const KRIZHEVSKY: Paper = Paper {
    authors: "A. Krizhevsky, I. Sutskever, G. E. Hinton",
    title: "ImageNet Classification with Deep Convolutional Neural Networks",
    venue: "NeurIPS",
    year: 2012,
    url: "https://papers.nips.cc/paper/4824-imagenet-classification-with-deep-convolutional-neural-networks",
};

const SIMONYAN: Paper = Paper {
    authors: "K. Simonyan, A. Vedaldi, A. Zisserman",
    title: "Deep Inside Convolutional Networks: Visualising Image Classification Models and Saliency Maps",
    venue: "ICLR workshop",
    year: 2014,
    url: "https://arxiv.org/abs/1312.6034",
};

/// The path, in lecture order.
pub const STEPS: &[Step] = &[
    Step {
        key: "activations",
        title: "Activations: what each channel sees in this photo",
        place: Place::Anatomy("activations"),
        what: "Every convolution layer turns the image into a stack of maps, one per filter (a channel). \
               Each tile here is one channel's map for the photo: bright where that filter found its pattern.",
        formula: "aˡ = ReLU(Wˡ ∗ aˡ⁻¹ + bˡ)",
        look_for: "Early layers keep the photo's layout and respond to edges and colours almost everywhere; \
                   deeper layers are coarser and sparse: few channels light up, and only on parts of the object.",
        paper: Paper {
            authors: "J. Yosinski, J. Clune, A. Nguyen, T. Fuchs, H. Lipson",
            title: "Understanding Neural Networks Through Deep Visualization",
            venue: "ICML Deep Learning workshop",
            year: 2015,
            url: "https://arxiv.org/abs/1506.06579",
        },
    },
    Step {
        key: "filters",
        title: "Filters: the first layer's templates",
        place: Place::Anatomy("weights"),
        what: "The first convolution slides small weight templates over the pixels and takes a dot product at \
               every position. Its weights live in pixel space, so they can be drawn as little pictures.",
        formula: "a[c, y, x] = Σᵢⱼₖ W[c, k, i, j] · x[k, y+i, x+j] + b[c]",
        look_for: "Oriented edges, bars and colour blobs, much like the Gabor filters of the visual cortex. \
                   Deeper layers' filters act on channels, not pixels, so their pictures mean much less.",
        paper: KRIZHEVSKY,
    },
    Step {
        key: "patches",
        title: "Top patches: the images that excite a unit most",
        place: Place::Anatomy("patches"),
        what: "Run a whole dataset through the network, and for one channel keep the images where it fires \
               hardest, cropped to the part of the image that unit can see (its receptive field).",
        formula: "top-k over images i of  maxᵧₓ aᶜ(xᵢ)[y, x]",
        look_for: "A channel's patches share something: a texture, a part (eyes, wheels), a colour. \
                   Deeper layers have larger fields and more meaningful, more object-like patches.",
        paper: Paper {
            authors: "R. Girshick, J. Donahue, T. Darrell, J. Malik",
            title: "Rich Feature Hierarchies for Accurate Object Detection and Semantic Segmentation",
            venue: "CVPR",
            year: 2014,
            url: "https://arxiv.org/abs/1311.2524",
        },
    },
    Step {
        key: "neighbours",
        title: "Nearest neighbours: similar codes, not similar pixels",
        place: Place::Anatomy("neighbours"),
        what: "The last layers turn an image into a vector (its code). Images whose codes are close are the ones \
               the network thinks alike; compare them with the images closest pixel by pixel.",
        formula: "nearest i by ‖φ(x) − φ(xᵢ)‖₂   versus   ‖x − xᵢ‖₂",
        look_for: "Code neighbours share the class even in other poses and colours; pixel neighbours only share \
                   brightness and layout.",
        paper: KRIZHEVSKY,
    },
    Step {
        key: "tsne",
        title: "t-SNE: the whole dataset on one map",
        place: Place::Anatomy("tsne"),
        what: "Every image's code becomes a dot on a plane, placed so that images with near codes stay near. \
               t-SNE moves the dots until neighbourhoods on the plane match neighbourhoods among the codes.",
        formula: "minimise KL(P ‖ Q) = Σᵢⱼ pᵢⱼ log(pᵢⱼ / qᵢⱼ),   qᵢⱼ ∝ (1 + ‖yᵢ − yⱼ‖²)⁻¹",
        look_for: "Classes form islands; confusable classes (shirt, T-shirt, pullover) touch or mix. \
                   Distances between islands mean little; who is next to whom means a lot.",
        paper: Paper {
            authors: "L. van der Maaten, G. Hinton",
            title: "Visualizing Data using t-SNE",
            venue: "Journal of Machine Learning Research 9",
            year: 2008,
            url: "https://www.jmlr.org/papers/v9/vandermaaten08a.html",
        },
    },
    Step {
        key: "occlusion",
        title: "Occlusion: hide a part, watch the probability",
        place: Place::Occluder,
        what: "Cover part of the image with a grey square and classify again. If the class probability drops, \
               the network was using that part. Sliding the square everywhere gives a map.",
        formula: "Δ(y, x) = p(c | x) − p(c | x with a square at y, x)",
        look_for: "The probability falls when the square covers the object itself (the cat's face, the cup), \
                   not the background. Sometimes it rises: that part argued for another class.",
        paper: ZEILER_FERGUS,
    },
    Step {
        key: "saliency",
        title: "Saliency: the gradient of the score with respect to the pixels",
        place: Place::Explain("saliency"),
        what: "One backward pass gives, for every pixel, how much a tiny change there would move the class score. \
               The map shows its size, largest over the three colours.",
        formula: "M[y, x] = maxₖ |∂S_c / ∂x[k, y, x]|",
        look_for: "Speckled but roughly on the object: the network is sensitive there. \
                   It says where the score is sensitive, not what the network saw.",
        paper: SIMONYAN,
    },
    Step {
        key: "backprop-compare",
        title: "Backprop, guided backprop and deconvnet side by side",
        place: Place::Compare,
        what: "The three differ only in how the gradient crosses each ReLU on the way back. Guided backprop \
               passes only positive gradients where the forward signal was positive, and gives the sharpest pictures.",
        formula: "ReLU backward:  backprop g·[x > 0],   deconvnet g·[g > 0],   guided g·[x > 0]·[g > 0]",
        look_for: "Guided backprop draws crisp edges of the object; deconvnet looks similar for any class. \
                   Crisp does not mean faithful: the sanity check (randomize top layers) barely changes guided maps.",
        paper: Paper {
            authors: "J. T. Springenberg, A. Dosovitskiy, T. Brox, M. Riedmiller",
            title: "Striving for Simplicity: The All Convolutional Net",
            venue: "ICLR workshop",
            year: 2015,
            url: "https://arxiv.org/abs/1412.6806",
        },
    },
    Step {
        key: "grad-cam",
        title: "Grad-CAM: where the class evidence sits",
        place: Place::Explain("grad-cam"),
        what: "Take the last convolutional layer, weight each channel by the average gradient of the class score \
               on it, add them up and keep the positive part: a coarse map of where the class is.",
        formula: "L = ReLU(Σₖ αₖ Aᵏ),   αₖ = mean over y, x of ∂S_c / ∂Aᵏ[y, x]",
        look_for: "A blob on the object, and a different blob when you pick another class in the same photo \
                   (the cat, not the sofa). Class-discriminative, unlike guided backprop.",
        paper: Paper {
            authors: "R. R. Selvaraju, M. Cogswell, A. Das, R. Vedantam, D. Parikh, D. Batra",
            title: "Grad-CAM: Visual Explanations from Deep Networks via Gradient-based Localization",
            venue: "ICCV",
            year: 2017,
            url: "https://arxiv.org/abs/1610.02391",
        },
    },
    Step {
        key: "class-model",
        title: "Class model: the image the network likes best",
        place: Place::Optimize("class-vis"),
        what: "Start from a plain image and climb the gradient of one class's score with respect to the pixels, \
               with a penalty that keeps the image natural.",
        formula: "x* = argmaxₓ S_c(x) − λ R(x)",
        look_for: "Parts of the class repeated over the image (many eyes, many wheels) rather than one object. \
                   The regulariser R matters: try the recipes and watch the image change.",
        paper: SIMONYAN,
    },
    Step {
        key: "inversion",
        title: "Feature inversion: what a layer's code keeps",
        place: Place::Optimize("invert"),
        what: "Find an image whose code at one layer matches the photo's code. What survives the match is what \
               that layer remembers about the photo.",
        formula: "x* = argminₓ ‖φₗ(x) − φₗ(x₀)‖² + λ R(x)",
        look_for: "Early layers give the photo back almost exactly; deeper ones keep the parts and their kind \
                   but lose colours, positions and fine detail.",
        paper: Paper {
            authors: "A. Mahendran, A. Vedaldi",
            title: "Understanding Deep Image Representations by Inverting Them",
            venue: "CVPR",
            year: 2015,
            url: "https://arxiv.org/abs/1412.0035",
        },
    },
    Step {
        key: "deepdream",
        title: "DeepDream: amplify whatever a layer sees",
        place: Place::Optimize("deepdream"),
        what: "Start from the photo and push it so the chosen layer fires even more at whatever it already detects, \
               over several scales (octaves).",
        formula: "x ← x + η · ∇ₓ ½‖aₗ(x)‖² / mean|∇ₓ ½‖aₗ(x)‖²|",
        look_for: "Shallow layers add swirls and textures; deep layers grow eyes, dog faces and animal parts \
                   where there were only hints of them.",
        paper: Paper {
            authors: "A. Mordvintsev, C. Olah, M. Tyka",
            title: "Inceptionism: Going Deeper into Neural Networks",
            venue: "Google Research blog",
            year: 2015,
            url: "https://research.google/blog/inceptionism-going-deeper-into-neural-networks/",
        },
    },
    Step {
        key: "style",
        title: "Neural style: content from one image, texture from another",
        place: Place::Optimize("style"),
        what: "Texture is summarised by which channels fire together (a Gram matrix per layer), content by the \
               activations themselves. Optimise an image to match the photo's content and the style image's Grams.",
        formula: "Gˡ = Fˡ Fˡᵀ,   L = α ‖Fᶜ − Pᶜ‖² + β Σₗ wₗ ‖Gˡ − Aˡ‖²",
        look_for: "The photo's layout stays; colours, strokes and textures come from the style image. \
                   Raise the style weight and the content dissolves.",
        paper: Paper {
            authors: "L. A. Gatys, A. S. Ecker, M. Bethge",
            title: "Image Style Transfer Using Convolutional Neural Networks",
            venue: "CVPR",
            year: 2016,
            url: "https://openaccess.thecvf.com/content_cvpr_2016/html/Gatys_Image_Style_Transfer_CVPR_2016_paper.html",
        },
    },
    Step {
        key: "fooling",
        title: "Fooling images: an invisible change, another class",
        place: Place::Optimize("fool"),
        what: "Climb the gradient of another class's score, but let no pixel move more than a few levels. \
               The network changes its mind; a person sees no difference.",
        formula: "x′ = x + δ,   maximise S_target(x + δ)   subject to ‖δ‖∞ ≤ ε",
        look_for: "The new top-1 is the target class while the image looks the same; the amplified difference \
                   is structured noise, not a drawing of the target.",
        paper: Paper {
            authors: "C. Szegedy, W. Zaremba, I. Sutskever, J. Bruna, D. Erhan, I. Goodfellow, R. Fergus",
            title: "Intriguing Properties of Neural Networks",
            venue: "ICLR",
            year: 2014,
            url: "https://arxiv.org/abs/1312.6199",
        },
    },
];

/// The step with this key.
pub fn step_index(key: &str) -> Option<usize> {
    STEPS.iter().position(|s| s.key == key)
}

/// The "what am I seeing?" note of a page section ([`Place::section`] keys, plus the anatomy tabs as
/// `anatomy/<tab>`).
pub fn panel_note(section: &str) -> &'static str {
    match section {
        "photo" => {
            "The square picture is exactly what the network is fed: the photo's centre, resized to the model's \
             input size. The bars are its five most likely classes with their softmax probabilities. \
             The live occluder hides a square of it and classifies again at every move."
        }
        "explain" => {
            "Each map gives every pixel a number for one target (a class or a channel). Bright or red: \
             the pixel counts for the target; blue in signed views: it counts against. The legend under \
             each map gives the range of values. Maps are explanations of the network, not of the world: \
             compare methods before trusting one."
        }
        "optimize" => {
            "These images are made, not found: the page starts from noise, grey or the photo and changes \
             the pixels step by step, following the gradient of an objective (shown in the chart). \
             What appears is what the network responds to, with a prior that keeps it image-like."
        }
        "quiz" => {
            "A Fashion-MNIST test image, enlarged. The choices are its true class and the classes people \
             confuse it with. After the class answers, the network classifies the same 28×28 picture: its top-5 \
             and its saliency map (where a small change would move its answer most) appear beside the image."
        }
        "anatomy/weights" => {
            "Each small picture is one filter's weights, scaled on its own so its pattern shows. \
             Only the first layer's filters look at pixels; deeper ones look at the channels below."
        }
        "anatomy/activations" => {
            "One tile per channel of the chosen layer, for the shown photo, in the viridis colours \
             (dark: zero, yellow: the largest value). Hover a tile for a value; click it to see it over the photo."
        }
        "anatomy/patches" => {
            "Each row is one channel; its images are the dataset images where that channel fires most, \
             cropped to the part of the image the unit sees. Grey where that part leaves the image."
        }
        "anatomy/neighbours" => {
            "The first row: dataset images whose codes (the network's summary before its last layer) are \
             nearest the photo's. The second: the nearest by raw pixels, for comparison."
        }
        "anatomy/tsne" => {
            "Every dot is a dataset image, placed so that images with similar codes end up near each other. \
             Colours are classes (named in the legend); the black ring is the shown photo."
        }
        _ => "",
    }
}
