//! PNG plots of a run's recorded statistics: loss/accuracy, gradient norms,
//! activation ranges, saturation and update ratios — the pictures a person
//! reads to see why a network doesn't train. Owns the public entry point
//! [`write_plots`], the error type and the per-layer grouping of the data.
//!
//! The plots are made for broken runs: NaN, infinities, zeros on log axes,
//! empty or huge recordings all render (with a note) instead of failing.

mod activations;
mod chart;
pub(crate) mod font;
mod layers;
mod legend;
mod loss;
mod series;
#[cfg(test)]
mod tests;

use crate::engine::activation::Activation;
use crate::monitor::record::{LayerRow, Recording};
use chart::{Area, DrawResult};
use plotters::prelude::*;
use plotters::style::RGBColor;
use series::Point;
use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// Size of every single-chart image.
pub const PLOT_SIZE: (u32, u32) = (1000, 600);

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

/// Writes loss.png, gradient_norms.png, activations.png, saturation.png and
/// update_ratio.png into `dir` (which must exist) and returns their paths in
/// that order.
///
/// `first_nonfinite_step`: the step where training first produced NaN/Inf,
/// if it did; every plot marks it with a red vertical line.
pub fn write_plots(
    rec: &Recording,
    dir: &Path,
    first_nonfinite_step: Option<usize>,
) -> Result<Vec<PathBuf>, PlotError> {
    if !font::ensure_font() {
        return Err(PlotError::Font);
    }
    let ctx = PlotData::new(rec, first_nonfinite_step);
    let act_size = (PLOT_SIZE.0, activations::height(ctx.layers.len()));
    Ok(vec![
        render(&dir.join("loss.png"), PLOT_SIZE, |a| loss::draw(a, &ctx))?,
        render(&dir.join("gradient_norms.png"), PLOT_SIZE, |a| {
            layers::draw_gradient_norms(a, &ctx)
        })?,
        render(&dir.join("activations.png"), act_size, |a| {
            activations::draw(a, &ctx)
        })?,
        render(&dir.join("saturation.png"), PLOT_SIZE, |a| {
            layers::draw_saturation(a, &ctx)
        })?,
        render(&dir.join("update_ratio.png"), PLOT_SIZE, |a| {
            layers::draw_update_ratio(a, &ctx)
        })?,
    ])
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
    pub layers: Vec<LayerSeries<'r>>,
    pub x: Range<f64>,
    pub nonfinite: Option<usize>,
}

impl<'r> PlotData<'r> {
    fn new(rec: &'r Recording, nonfinite: Option<usize>) -> Self {
        Self {
            rec,
            layers: group_layers(rec),
            x: step_range(rec, nonfinite),
            nonfinite,
        }
    }
}

/// One layer's rows in step order, with what its legend label needs.
pub(crate) struct LayerSeries<'r> {
    pub layer: usize,
    /// None for a layer that has rows but no `LayerInfo`.
    pub activation: Option<Activation>,
    pub rows: Vec<&'r LayerRow>,
}

impl LayerSeries<'_> {
    /// "layer 1 (sigmoid)", as in every legend.
    pub fn label(&self) -> String {
        match self.activation {
            Some(a) => format!("layer {} ({a})", self.layer),
            None => format!("layer {}", self.layer),
        }
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
            rows: Vec::new(),
        });
    }
    for row in &rec.rows {
        by_layer
            .entry(row.layer)
            .or_insert_with(|| LayerSeries {
                layer: row.layer,
                activation: None,
                rows: Vec::new(),
            })
            .rows
            .push(row);
    }
    by_layer.into_values().collect()
}

/// The x range covering every recorded step and the non-finite marker.
fn step_range(rec: &Recording, nonfinite: Option<usize>) -> Range<f64> {
    let steps = rec
        .steps
        .iter()
        .map(|s| s.step)
        .chain(rec.rows.iter().map(|r| r.step))
        .chain(nonfinite)
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
