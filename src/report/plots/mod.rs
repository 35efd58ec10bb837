//! PNG plots of a run's recorded statistics: loss/accuracy, pre-activation
//! magnitudes, gradients relative to the output layer, gradient norms,
//! activation ranges, saturation and update ratios — the pictures a person
//! reads to see why a network doesn't train. Owns the public entry point
//! [`write_plots`], the catalogue of plots ([`PLOTS`], [`plot_for`]), the
//! error type and the per-layer grouping of the data.
//!
//! The plots are made for broken runs: NaN, infinities, zeros on log axes,
//! empty or huge recordings all render (with a note) instead of failing.

mod activations;
pub(crate) mod chart;
pub(crate) use chart::layer_color;
pub mod confusion;
pub(crate) mod font;
mod layers;
pub(crate) mod legend;
mod loss;
mod preact;
pub(crate) mod series;
#[cfg(test)]
mod tests;

use crate::diagnose::{Diagnosis, Plot};
use crate::engine::activation::Activation;
use crate::monitor::record::{LayerRow, Recording};
use chart::{Area, DrawResult, StepMark};
use plotters::prelude::*;
use plotters::style::RGBColor;
use series::Point;
use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// Size of every single-chart image.
pub const PLOT_SIZE: (u32, u32) = (1000, 600);

/// Every plot, in the order the reports show them, with what it shows.
pub const PLOTS: [(&str, &str); 7] = [
    ("loss.png", "Loss (raw and smoothed) and accuracy"),
    (
        "pre_activations.png",
        "Pre-activation magnitude |z| per layer (mean and max, log scale) against the saturation bound",
    ),
    (
        "gradient_ratio.png",
        "RMS weight gradient per layer relative to the output layer (what vanishing/exploding-gradients judge)",
    ),
    (
        "saturation.png",
        "Saturated (solid) and dead (dashed) fractions per layer",
    ),
    (
        "update_ratio.png",
        "Update/weight norm ratio per layer (log scale; guide at 1e-3)",
    ),
    (
        "gradient_norms.png",
        "Weight-gradient L2 norm per layer (log scale)",
    ),
    (
        "activations.png",
        "Activation range (min..max band, mean line) per layer",
    ),
];

/// The plot that shows the quantity a diagnosis judged, if one does (the
/// rule's descriptor names the quantity; the file is the report's).
pub fn plot_for(d: &Diagnosis) -> Option<&'static str> {
    Some(match d.code.rule().plot_for(d)? {
        Plot::Loss => "loss.png",
        Plot::PreActivations => "pre_activations.png",
        Plot::Saturation => "saturation.png",
        Plot::GradientRatio => "gradient_ratio.png",
        Plot::GradientNorms => "gradient_norms.png",
        Plot::UpdateRatio => "update_ratio.png",
        Plot::Confusion => crate::report::CONFUSION_FILE,
    })
}

/// Why the plots could not be written.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// plotters rejected the embedded font, so no text could be drawn.
    #[error("could not register the embedded DejaVu Sans font")]
    Font,
    /// Drawing or encoding one image failed (e.g. the directory isn't writable).
    #[error("could not draw {file}: {message}")]
    Draw { file: String, message: String },
}

/// What the plots mark besides the recorded series.
#[derive(Debug, Clone, PartialEq)]
pub struct PlotOptions {
    /// The step where training first produced NaN/Inf, if it did; every
    /// plot marks it with a red vertical line.
    pub first_nonfinite_step: Option<usize>,
    /// Diagnoses to mark where first seen, each in the plot [`plot_for`] names.
    pub marks: Vec<DiagnosisMark>,
    /// vanishing-gradients / exploding-gradients thresholds (ratio to the
    /// output layer's RMS gradient), drawn on gradient_ratio.png.
    pub vanishing_ratio: f64,
    pub exploding_ratio: f64,
}

/// One diagnosis' first-seen step, to be marked in its plot.
#[derive(Debug, Clone, PartialEq)]
pub struct DiagnosisMark {
    pub file: &'static str,
    pub layer: Option<usize>,
    pub step: usize,
    pub code: String,
}

impl PlotOptions {
    /// Options with default thresholds and no diagnoses.
    pub fn new(first_nonfinite_step: Option<usize>) -> Self {
        let th = crate::diagnose::Thresholds::default();
        PlotOptions {
            first_nonfinite_step,
            marks: Vec::new(),
            vanishing_ratio: th.vanishing_ratio,
            exploding_ratio: th.exploding_ratio,
        }
    }

    /// Marks every diagnosis that has a step and a plot.
    pub fn with_diagnoses(mut self, diagnoses: &[Diagnosis]) -> Self {
        self.marks = diagnoses
            .iter()
            .filter_map(|d| {
                Some(DiagnosisMark {
                    file: plot_for(d)?,
                    layer: d.layer,
                    step: d.step?,
                    code: d.code.to_string(),
                })
            })
            .collect();
        self
    }
}

/// Writes every plot of [`PLOTS`] into `dir` (which must exist) and returns
/// their paths in that order.
pub fn write_plots(
    rec: &Recording,
    dir: &Path,
    opts: &PlotOptions,
) -> Result<Vec<PathBuf>, PlotError> {
    if !font::ensure_font() {
        return Err(PlotError::Font);
    }
    let ctx = PlotData::new(rec, opts);
    let stacked = (PLOT_SIZE.0, activations::height(ctx.layers.len()));
    let preact_size = (PLOT_SIZE.0, activations::height(preact::layers(&ctx).len()));
    let mut out = Vec::new();
    let note = ctx.omitted_note();
    for (file, _) in PLOTS {
        let path = dir.join(file);
        // loss.png draws no layers; every other plot says which it shows.
        let note = note.as_deref().filter(|_| file != "loss.png");
        let render = |path: &Path, size, draw: &dyn Fn(&Area) -> DrawResult<()>| {
            render(path, size, |a| {
                draw(a)?;
                match note {
                    Some(n) => draw_corner_note(a, n),
                    None => Ok(()),
                }
            })
        };
        let written = match file {
            "loss.png" => render(&path, PLOT_SIZE, &|a| loss::draw(a, &ctx)),
            "pre_activations.png" => {
                render(&path, preact_size, &|a| preact::draw(a, &ctx).map(drop))
            }
            "gradient_ratio.png" => {
                let spec = layers::gradient_ratio(opts);
                render(&path, layers::size(&ctx, &spec), &|a| {
                    layers::draw_log_layers(a, &ctx, &spec).map(drop)
                })
            }
            "saturation.png" => render(&path, layers::saturation_size(&ctx), &|a| {
                layers::draw_saturation(a, &ctx).map(drop)
            }),
            "update_ratio.png" => {
                let spec = layers::update_ratio();
                render(&path, layers::size(&ctx, &spec), &|a| {
                    layers::draw_log_layers(a, &ctx, &spec).map(drop)
                })
            }
            "gradient_norms.png" => {
                let spec = layers::gradient_norms();
                render(&path, layers::size(&ctx, &spec), &|a| {
                    layers::draw_log_layers(a, &ctx, &spec).map(drop)
                })
            }
            _ => render(&path, stacked, &|a| activations::draw(a, &ctx).map(drop)),
        };
        out.push(written?);
    }
    Ok(out)
}

/// A line of small text in the image's bottom right corner, below the
/// legend column and right of the x axis title.
fn draw_corner_note(area: &Area, note: &str) -> DrawResult<()> {
    let (w, h) = area.dim_in_pixel();
    let x = i32::try_from(w).unwrap_or(i32::MAX).saturating_sub(8);
    let y = i32::try_from(h).unwrap_or(i32::MAX).saturating_sub(4);
    let style = TextStyle::from((font::FONT, 14).into_font())
        .color(&RGBColor(90, 90, 90))
        .pos(plotters::style::text_anchor::Pos::new(
            plotters::style::text_anchor::HPos::Right,
            plotters::style::text_anchor::VPos::Bottom,
        ));
    area.draw(&Text::new(note.to_string(), (x, y), style))
}

/// Draws one image with `draw` and saves it, naming the file in any error.
fn render(
    path: &Path,
    size: (u32, u32),
    draw: impl FnOnce(&Area) -> DrawResult<()>,
) -> Result<PathBuf, PlotError> {
    let root = BitMapBackend::new(path, size).into_drawing_area();
    root.fill(&WHITE)
        .and_then(|_| draw(&root))
        .and_then(|_| root.present())
        .map_err(|e| PlotError::Draw {
            file: path.display().to_string(),
            message: e.to_string(),
        })?;
    Ok(path.to_path_buf())
}

/// The recording reorganised for plotting: rows grouped by layer once (a long
/// run has a million rows) and the step range shared by all plots, so their
/// x axes line up.
pub(crate) struct PlotData<'r> {
    pub rec: &'r Recording,
    /// The layers drawn: every layer, or [`MAX_PLOTTED_LAYERS`] of them.
    pub layers: Vec<LayerSeries<'r>>,
    /// How many layers the recording has in all.
    pub all_layers: usize,
    pub x: Range<f64>,
    pub nonfinite: Option<usize>,
    marks: Vec<DiagnosisMark>,
}

impl<'r> PlotData<'r> {
    fn new(rec: &'r Recording, opts: &PlotOptions) -> Self {
        let marked = opts
            .marks
            .iter()
            .map(|m| m.step)
            .chain(opts.first_nonfinite_step);
        let mut layers = group_layers(rec);
        let all_layers = layers.len();
        let diagnosed: Vec<usize> = opts.marks.iter().filter_map(|m| m.layer).collect();
        select_layers(&mut layers, &diagnosed);
        Self {
            rec,
            layers,
            all_layers,
            x: step_range(rec, marked),
            nonfinite: opts.first_nonfinite_step,
            marks: opts.marks.clone(),
        }
    }

    /// "16 of 3000 layers shown ..." when not every layer is drawn.
    fn omitted_note(&self) -> Option<String> {
        (self.layers.len() < self.all_layers).then(|| {
            format!(
                "{} of {} layers shown (first, last, diagnosed, evenly spaced)",
                self.layers.len(),
                self.all_layers
            )
        })
    }

    /// The vertical marks of `file` (or of its panel for `layer`): the
    /// non-finite step first, then each diagnosis judged on this plot.
    pub fn step_marks(&self, file: &str, layer: Option<usize>) -> Vec<StepMark> {
        let alarm = self.nonfinite.map(|step| StepMark {
            step,
            label: format!("first non-finite (step {step})"),
            alarm: true,
        });
        let diagnoses = self
            .marks
            .iter()
            .filter(|m| {
                m.file == file && (layer.is_none() || m.layer.is_none() || m.layer == layer)
            })
            .map(|m| StepMark {
                step: m.step,
                label: format!(
                    "{} first seen (step {})",
                    crate::report::names::code_at(&m.code, m.layer),
                    m.step
                ),
                alarm: false,
            });
        let mut marks: Vec<StepMark> = alarm.into_iter().chain(diagnoses).collect();
        marks.dedup_by(|a, b| a.label == b.label);
        marks
    }
}

/// One layer's rows in step order, with what its legend label needs.
pub(crate) struct LayerSeries<'r> {
    pub layer: usize,
    /// None for a layer that has rows but no `LayerInfo`.
    pub activation: Option<Activation>,
    /// The layer kind as `LayerInfo` names it ("conv2d", "max_pool2d", ...);
    /// None for dense layers and for layers without a `LayerInfo`.
    pub kind: Option<String>,
    /// False for the parameter-free kinds (pooling, flatten, dropout, a
    /// standalone activation): they have no weight, gradient or update to
    /// plot, so the per-layer log plots leave them out instead of drawing
    /// an empty "no finite values" line for each.
    pub has_params: bool,
    pub rows: Vec<&'r LayerRow>,
}

impl LayerSeries<'_> {
    /// "layer 1 (sigmoid)" for a dense layer, "layer 1 (conv2d, relu)" for
    /// another kind with an activation, "layer 2 (max_pool2d)" for a
    /// parameter-free one: a pooling layer's activation is the identity it
    /// is recorded with, and calling it "(linear)" misled readers into
    /// looking for a linear layer.
    pub fn label(&self) -> String {
        let kind = self.kind.as_deref().filter(|k| *k != "dense");
        let activation = self
            .activation
            .filter(|a| !(kind.is_some() && *a == Activation::Linear));
        match (kind, activation) {
            (Some("activation"), Some(a)) | (None, Some(a)) => {
                format!("layer {} ({a})", self.layer)
            }
            (Some(k), Some(a)) => format!("layer {} ({k}, {a})", self.layer),
            (Some(k), None) => format!("layer {} ({k})", self.layer),
            (None, None) => format!("layer {}", self.layer),
        }
    }

    /// Whether the layer computes a pre-activation z of its own (a weighted
    /// layer, or a standalone activation applied to its input): pooling,
    /// flatten and dropout only pass values on, so pre_activations.png
    /// leaves them out.
    pub fn has_pre_activation(&self) -> bool {
        self.has_params || self.kind.as_deref() == Some("activation")
    }

    pub fn color(&self) -> RGBColor {
        chart::layer_color(self.layer)
    }

    /// (step, value) of every row.
    pub fn points(&self, value: impl Fn(&LayerRow) -> f64) -> Vec<Point> {
        self.rows
            .iter()
            .map(|r| (r.step as f64, value(r)))
            .collect()
    }

    /// (step, value) of the rows that have the value; None when no row has
    /// it, meaning the quantity doesn't apply to this layer.
    pub fn optional_points(&self, value: impl Fn(&LayerRow) -> Option<f64>) -> Option<Vec<Point>> {
        let pts: Vec<Point> = self
            .rows
            .iter()
            .filter_map(|r| value(r).map(|v| (r.step as f64, v)))
            .collect();
        (!pts.is_empty()).then_some(pts)
    }
}

/// Layers from `rec.layers` plus any layer that only appears in the rows.
fn group_layers(rec: &Recording) -> Vec<LayerSeries<'_>> {
    let mut by_layer: BTreeMap<usize, LayerSeries<'_>> = BTreeMap::new();
    for info in &rec.layers {
        by_layer.entry(info.layer).or_insert_with(|| LayerSeries {
            layer: info.layer,
            activation: Some(info.activation),
            kind: info.kind.clone(),
            has_params: info.has_params(),
            rows: Vec::new(),
        });
    }
    for row in &rec.rows {
        by_layer
            .entry(row.layer)
            .or_insert_with(|| LayerSeries {
                layer: row.layer,
                activation: None,
                kind: None,
                // Unknown layer: assume it has what its rows say.
                has_params: true,
                rows: Vec::new(),
            })
            .rows
            .push(row);
    }
    by_layer.into_values().collect()
}

/// The most layers a per-layer plot draws: images stay a bounded size and
/// take a bounded time whatever the depth of the network.
pub const MAX_PLOTTED_LAYERS: usize = 16;

/// Keeps at most [`MAX_PLOTTED_LAYERS`] of `layers` (in layer order): the
/// first and the last (output) layer, the layers a diagnosis names, then
/// evenly spaced others.
fn select_layers(layers: &mut Vec<LayerSeries<'_>>, marked: &[usize]) {
    let n = layers.len();
    if n <= MAX_PLOTTED_LAYERS {
        return;
    }
    let mut keep = vec![false; n];
    keep[0] = true;
    keep[n - 1] = true;
    let mut kept = 2;
    for (i, l) in layers.iter().enumerate() {
        if kept < MAX_PLOTTED_LAYERS && !keep[i] && marked.contains(&l.layer) {
            keep[i] = true;
            kept += 1;
        }
    }
    // Evenly spaced: positions i * (n - 1) / (slots + 1) that are still free.
    let slots = MAX_PLOTTED_LAYERS.saturating_sub(kept);
    for k in 1..=slots {
        let i = k * (n - 1) / (slots + 1);
        if kept < MAX_PLOTTED_LAYERS && !keep[i] {
            keep[i] = true;
            kept += 1;
        }
    }
    let mut flags = keep.into_iter();
    layers.retain(|_| flags.next().unwrap_or(false));
}

/// The x range covering every recorded step and every marked step.
fn step_range(rec: &Recording, marked: impl Iterator<Item = usize>) -> Range<f64> {
    let steps = rec
        .steps
        .iter()
        .map(|s| s.step)
        .chain(rec.rows.iter().map(|r| r.step))
        .chain(marked)
        .map(|s| s as f64);
    match series::bounds(steps) {
        None => 0.0..1.0,
        Some((lo, hi)) if hi - lo < 1.0 => (lo - 1.0)..(hi + 1.0),
        Some((lo, hi)) => {
            let pad = (hi - lo) * 0.02;
            (lo - pad)..(hi + pad)
        }
    }
}
