//! `trace.toml`: the declared conventions of a dumped step and the files
//! that hold its tensors. The conventions are the contract: the reference is
//! converted to them before any comparison, so a trace that silently uses
//! another convention shows up as a finding. Unknown keys are errors (a
//! misspelt `grad_wieght` must not silently skip a check).
//!
//! Two versions share this file. Version 1 (no `version` key) describes an
//! MLP: per layer an activation and weight/bias files. Version 2
//! (`version = 2`) describes any stack of the engine's layer kinds: per layer
//! a `kind` with its config keys (the names of the run config), `params` and
//! `grads` tables naming one file per parameter tensor, a `mask` for
//! dropout and a `grad_input` (dL/d input) per layer. Keys of the other
//! version are errors naming the layer, so a trace is read one way only.

use super::error::TraceError;
use crate::config::locate::line_col;
use crate::config::LossKind;
use crate::engine::activation::Activation;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// How weight matrices are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Layout {
    /// weight[j][i] connects input i to unit j: [units, fan_in] (PyTorch).
    OutIn,
    /// y = x . W: [fan_in, units] (NumPy `x @ W`, hmatrix, the engine).
    InOut,
}

impl Layout {
    pub fn name(self) -> &'static str {
        match self {
            Layout::OutIn => "out_in",
            Layout::InOut => "in_out",
        }
    }
    pub fn other(self) -> Layout {
        match self {
            Layout::OutIn => Layout::InOut,
            Layout::InOut => Layout::OutIn,
        }
    }
}

/// How the loss combines the samples of the batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reduction {
    #[default]
    Mean,
    Sum,
}

/// The precision the implementation computed in (sets the tolerances).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    F32,
    F64,
}

/// The whole `trace.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceSpec {
    /// 1 (the default, MLP traces) or 2 (layer kinds, named parameters).
    #[serde(default = "version_one")]
    pub version: u32,
    /// Version 2: the per-sample shape of `input`, e.g. [C, H, W]; default
    /// the input file's shape without its batch dimension.
    pub input_shape: Option<Vec<usize>>,
    pub loss: LossKind,
    #[serde(default)]
    pub reduction: Reduction,
    /// MSE only (ignored for cross-entropy); default true.
    pub mse_half: Option<bool>,
    pub weight_layout: Layout,
    pub input: String,
    pub target: String,
    pub loss_value: Option<f64>,
    /// Optional: "f32" or "f64". Default: f32 when any `.npy` file is
    /// float32, or when every CSV input and parameter is exactly a float32.
    pub precision: Option<Precision>,
    pub layers: Vec<LayerSpec>,
}

fn version_one() -> u32 {
    1
}

/// The layer kinds a version 2 trace can name (the run config's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LayerKind {
    Dense,
    Conv2d,
    MaxPool2d,
    AvgPool2d,
    Flatten,
    Dropout,
    BatchNorm,
    Activation,
}

impl LayerKind {
    pub fn name(self) -> &'static str {
        match self {
            LayerKind::Dense => "dense",
            LayerKind::Conv2d => "conv2d",
            LayerKind::MaxPool2d => "max_pool2d",
            LayerKind::AvgPool2d => "avg_pool2d",
            LayerKind::Flatten => "flatten",
            LayerKind::Dropout => "dropout",
            LayerKind::BatchNorm => "batch_norm",
            LayerKind::Activation => "activation",
        }
    }

    /// The config keys the kind takes (beyond `kind`), required ones first.
    fn keys(self) -> (&'static [&'static str], &'static [&'static str]) {
        match self {
            LayerKind::Dense => (&["units"], &["activation"]),
            LayerKind::Conv2d => (&["filters", "kernel"], &["stride", "padding", "activation"]),
            LayerKind::MaxPool2d | LayerKind::AvgPool2d => (&["size"], &["stride"]),
            LayerKind::Flatten => (&[], &[]),
            LayerKind::Dropout => (&["rate"], &[]),
            LayerKind::BatchNorm => (&[], &["eps", "momentum"]),
            LayerKind::Activation => (&["activation"], &[]),
        }
    }

    /// The parameter tensors of the kind, in the engine's order.
    pub fn params(self) -> &'static [&'static str] {
        match self {
            LayerKind::Dense | LayerKind::Conv2d | LayerKind::BatchNorm => &["weight", "bias"],
            _ => &[],
        }
    }
}

/// An int or an [h, w] pair (`kernel`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Pair {
    One(usize),
    Two([usize; 2]),
}

impl Pair {
    pub fn hw(self) -> [usize; 2] {
        match self {
            Pair::One(k) => [k, k],
            Pair::Two(p) => p,
        }
    }
}

/// `padding`: "valid", "same" or a number of zeros on each side.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Padding {
    Zeros(usize),
    Named(String),
}

/// One `[[layers]]` table (both versions; `validate` keeps each to its keys).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerSpec {
    /// Version 2: the layer kind.
    pub kind: Option<LayerKind>,
    pub activation: Option<Activation>,
    // Version 2 config keys, as in the run config.
    pub units: Option<usize>,
    pub filters: Option<usize>,
    pub kernel: Option<Pair>,
    pub stride: Option<usize>,
    pub padding: Option<Padding>,
    pub size: Option<usize>,
    pub rate: Option<f64>,
    pub eps: Option<f64>,
    pub momentum: Option<f64>,
    // Version 1 parameter and gradient files.
    pub weight: Option<String>,
    pub bias: Option<String>,
    pub grad_weight: Option<String>,
    pub grad_bias: Option<String>,
    // Version 2 files: one per named parameter, its gradient, the mask.
    pub params: Option<BTreeMap<String, String>>,
    pub grads: Option<BTreeMap<String, String>>,
    pub mask: Option<String>,
    pub grad_input: Option<String>,
    // Both versions.
    pub pre_activation: Option<String>,
    pub output: Option<String>,
    pub delta: Option<String>,
}

impl LayerSpec {
    /// The activation applied by the layer (linear when it has none).
    pub fn activation(&self) -> Activation {
        self.activation.unwrap_or(Activation::Linear)
    }

    /// The kind (dense in version 1).
    pub fn kind(&self) -> LayerKind {
        self.kind.unwrap_or(LayerKind::Dense)
    }

    /// The file of parameter `name` (version 1: weight/bias keys).
    pub fn param_file(&self, name: &str) -> Option<&String> {
        match (&self.params, name) {
            (Some(p), _) => p.get(name),
            (None, "weight") => self.weight.as_ref(),
            (None, "bias") => self.bias.as_ref(),
            _ => None,
        }
    }

    /// The file of the gradient of parameter `name`.
    pub fn grad_file(&self, name: &str) -> Option<&String> {
        match (&self.grads, name) {
            (Some(g), _) => g.get(name),
            (None, "weight") => self.grad_weight.as_ref(),
            (None, "bias") => self.grad_bias.as_ref(),
            _ => None,
        }
    }

    /// The keys set in this table, by name (for the per-version checks).
    fn set_keys(&self) -> Vec<&'static str> {
        let mut k = Vec::new();
        let mut add = |name, set: bool| {
            if set {
                k.push(name)
            }
        };
        add("kind", self.kind.is_some());
        add("activation", self.activation.is_some());
        add("units", self.units.is_some());
        add("filters", self.filters.is_some());
        add("kernel", self.kernel.is_some());
        add("stride", self.stride.is_some());
        add("padding", self.padding.is_some());
        add("size", self.size.is_some());
        add("rate", self.rate.is_some());
        add("eps", self.eps.is_some());
        add("momentum", self.momentum.is_some());
        add("weight", self.weight.is_some());
        add("bias", self.bias.is_some());
        add("grad_weight", self.grad_weight.is_some());
        add("grad_bias", self.grad_bias.is_some());
        add("params", self.params.is_some());
        add("grads", self.grads.is_some());
        add("mask", self.mask.is_some());
        add("grad_input", self.grad_input.is_some());
        k
    }

    /// Version 1: activation, weight and bias required, no version 2 key.
    fn validate_v1(&self, at: &str) -> Result<(), String> {
        const V1: [&str; 5] = ["activation", "weight", "bias", "grad_weight", "grad_bias"];
        if let Some(k) = self.set_keys().into_iter().find(|k| !V1.contains(k)) {
            return Err(format!(
                "{at}: `{k}` is a version 2 key; add `version = 2` at the top of trace.toml"
            ));
        }
        for (name, set) in [
            ("activation", self.activation.is_some()),
            ("weight", self.weight.is_some()),
            ("bias", self.bias.is_some()),
        ] {
            if !set {
                return Err(format!("{at}: missing `{name}`"));
            }
        }
        Ok(())
    }

    /// Version 2: a kind, its required keys, no key of another kind, one
    /// file per parameter of the kind and nothing else.
    fn validate_v2(&self, at: &str) -> Result<(), String> {
        let kind = self.kind.ok_or_else(|| {
            format!("{at}: missing `kind` (dense, conv2d, max_pool2d, avg_pool2d, flatten, dropout, batch_norm, activation)")
        })?;
        let (required, optional) = kind.keys();
        let files = [
            "params",
            "grads",
            "mask",
            "grad_input",
            "pre_activation",
            "output",
            "delta",
        ];
        for k in self.set_keys() {
            if ["weight", "bias", "grad_weight", "grad_bias"].contains(&k) {
                return Err(format!(
                    "{at}: `{k}` is a version 1 key; version 2 names parameter files in `params = {{ weight = \"...\", bias = \"...\" }}` and gradients in `grads`"
                ));
            }
            let allowed = k == "kind"
                || required.contains(&k)
                || optional.contains(&k)
                || (files.contains(&k) && k != "mask")
                || (k == "mask" && kind == LayerKind::Dropout);
            if !allowed {
                return Err(format!(
                    "{at}: `{k}` does not apply to kind {}",
                    kind.name()
                ));
            }
        }
        let set = self.set_keys();
        if let Some(k) = required.iter().find(|k| !set.contains(k)) {
            return Err(format!("{at}: kind {} needs `{k}`", kind.name()));
        }
        if kind == LayerKind::Dropout && self.mask.is_none() {
            return Err(format!(
                "{at}: a dropout layer needs its `mask` file (the 0/1 mask of the step) to be recomputed"
            ));
        }
        if let Some(r) = self.rate {
            if !(0.0..1.0).contains(&r) {
                return Err(format!("{at}: rate {r}, expected 0 <= rate < 1"));
            }
        }
        if let Some(Padding::Named(p)) = &self.padding {
            if p != "valid" && p != "same" {
                return Err(format!(
                    "{at}: padding \"{p}\", expected \"valid\", \"same\" or a number"
                ));
            }
        }
        for (table, map) in [("params", &self.params), ("grads", &self.grads)] {
            let names: Vec<&str> = map
                .iter()
                .flat_map(|m| m.keys().map(String::as_str))
                .collect();
            if let Some(n) = names.iter().find(|n| !kind.params().contains(n)) {
                return Err(format!(
                    "{at}: {table}.{n}: kind {} has {}",
                    kind.name(),
                    if kind.params().is_empty() {
                        "no parameters".to_string()
                    } else {
                        format!("the parameters {}", kind.params().join(", "))
                    }
                ));
            }
        }
        if let Some(n) = kind
            .params()
            .iter()
            .find(|n| self.params.as_ref().is_none_or(|p| !p.contains_key(**n)))
        {
            return Err(format!("{at}: missing params.{n} (the file of its {n})"));
        }
        Ok(())
    }
}

impl TraceSpec {
    /// Reads and validates `path`; errors name the file and line.
    pub fn read(path: &Path) -> Result<Self, TraceError> {
        let bytes = crate::input::read_bounded(path, crate::input::MAX_TEXT_FILE)
            .map_err(|e| TraceError::file(path, format!("cannot read: {e}")))?;
        let text = String::from_utf8(bytes)
            .map_err(|_| TraceError::file(path, "cannot read: not UTF-8 text"))?;
        Self::parse(path, &text)
    }

    /// Parses and validates the text of a trace.toml read from `path` (the
    /// path only names the file in errors).
    pub fn parse(path: &Path, text: &str) -> Result<Self, TraceError> {
        let spec: TraceSpec = toml::from_str(text).map_err(|e| {
            let at = e
                .span()
                .map(|s| {
                    let (line, col) = line_col(text, s.start);
                    format!("line {line}, column {col}: ")
                })
                .unwrap_or_default();
            TraceError::file(path, format!("{at}{}", e.message().trim()))
        })?;
        spec.validate().map_err(|m| TraceError::file(path, m))?;
        Ok(spec)
    }

    fn validate(&self) -> Result<(), String> {
        if self.layers.is_empty() {
            return Err("no [[layers]]: a trace needs at least one layer".into());
        }
        if !matches!(self.version, 1 | 2) {
            return Err(format!(
                "version = {}: this nn-doctor reads trace versions 1 and 2",
                self.version
            ));
        }
        if self.version == 1 && self.input_shape.is_some() {
            return Err("`input_shape` is a version 2 key; add `version = 2`".into());
        }
        for (i, l) in self.layers.iter().enumerate() {
            let at = format!("layers[{}]", i + 1);
            if self.version == 1 {
                l.validate_v1(&at)?;
            } else {
                l.validate_v2(&at)?;
            }
        }
        let last = self.layers.len() - 1;
        if let Some(i) = self.layers[..last]
            .iter()
            .position(|l| l.activation == Some(Activation::Softmax))
        {
            return Err(format!(
                "layers[{}]: softmax is only supported on the last layer",
                i + 1
            ));
        }
        Ok(())
    }

    /// Whether the declared MSE carries the 1/2.
    pub fn mse_half(&self) -> bool {
        self.mse_half.unwrap_or(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "version = 2\nloss = \"cross_entropy\"\nweight_layout = \"out_in\"\ninput = \"x.npy\"\ntarget = \"t.npy\"\n";

    fn parse(layers: &str) -> Result<TraceSpec, String> {
        TraceSpec::parse(Path::new("trace.toml"), &format!("{HEAD}{layers}"))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn version_2_reads_kinds_config_keys_and_named_files() {
        let s = parse(
            "[[layers]]\nkind = \"conv2d\"\nfilters = 3\nkernel = [3, 2]\npadding = \"same\"\nactivation = \"relu\"\nparams = { weight = \"w.npy\", bias = \"b.npy\" }\ngrads = { weight = \"gw.npy\" }\ngrad_input = \"gi.npy\"\n\n[[layers]]\nkind = \"dropout\"\nrate = 0.5\nmask = \"m.npy\"\n\n[[layers]]\nkind = \"flatten\"\n",
        )
        .unwrap();
        assert_eq!(s.version, 2);
        let conv = &s.layers[0];
        assert_eq!(conv.kind(), LayerKind::Conv2d);
        assert_eq!(conv.kernel.map(Pair::hw), Some([3, 2]));
        assert_eq!(conv.param_file("bias").map(String::as_str), Some("b.npy"));
        assert_eq!(conv.grad_file("weight").map(String::as_str), Some("gw.npy"));
        assert_eq!(conv.grad_file("bias"), None);
        assert_eq!(s.layers[2].activation(), Activation::Linear);
    }

    #[test]
    fn keys_of_the_other_version_or_kind_are_errors_naming_the_layer() {
        for (layers, want) in [
            ("[[layers]]\nkind = \"dense\"\nunits = 3\nweight = \"w.npy\"\n", "layers[1]: `weight` is a version 1 key"),
            ("[[layers]]\nkind = \"max_pool2d\"\nsize = 2\nrate = 0.1\n", "layers[1]: `rate` does not apply to kind max_pool2d"),
            ("[[layers]]\nkind = \"conv2d\"\nfilters = 3\nparams = { weight = \"w.npy\", bias = \"b.npy\" }\n", "kind conv2d needs `kernel`"),
            ("[[layers]]\nkind = \"dropout\"\nrate = 0.5\n", "needs its `mask` file"),
            ("[[layers]]\nkind = \"dropout\"\nrate = 1.5\nmask = \"m.npy\"\n", "rate 1.5"),
            ("[[layers]]\nkind = \"batch_norm\"\nparams = { weight = \"g.npy\" }\n", "missing params.bias"),
            ("[[layers]]\nkind = \"flatten\"\nparams = { weight = \"g.npy\" }\n", "kind flatten has no parameters"),
            ("[[layers]]\nkind = \"conv2d\"\nfilters = 1\nkernel = 3\npadding = \"full\"\nparams = { weight = \"w.npy\", bias = \"b.npy\" }\n", "padding \"full\""),
            ("[[layers]]\nkind = \"pool\"\n", "line 7"),
            ("[[layers]]\nunits = 3\n", "missing `kind`"),
        ] {
            let e = parse(layers).unwrap_err();
            assert!(e.contains(want), "{layers}: {e}");
        }
        let v1 = TraceSpec::parse(
            Path::new("trace.toml"),
            &format!("{}[[layers]]\nactivation = \"relu\"\nweight = \"w.npy\"\nbias = \"b.npy\"\nkind = \"dense\"\n", HEAD.replace("version = 2\n", "")),
        )
        .unwrap_err()
        .to_string();
        assert!(v1.contains("`kind` is a version 2 key"), "{v1}");
        let none = parse("layers = []\n").unwrap_err();
        assert!(none.contains("no [[layers]]"), "{none}");
        let v3 = TraceSpec::parse(
            Path::new("trace.toml"),
            &format!(
                "{}[[layers]]\nkind = \"flatten\"\n",
                HEAD.replace("version = 2", "version = 3")
            ),
        )
        .unwrap_err()
        .to_string();
        assert!(v3.contains("reads trace versions 1 and 2"), "{v3}");
    }
}
