//! activations.png: one panel per layer, stacked, each showing the act_min ..
//! act_max band and the act_mean line — where dying units and blow-ups are
//! seen directly (a symmetric-log axis when values span decades, so growth
//! over many steps is not flattened). A softmax's mean is always 1/C and is
//! not drawn.

use super::chart::{
    build_chart, draw_note, draw_segments, draw_step_marks, Area, Axes, Dash, DrawResult, Plot,
    Ticks,
};
use super::font::FONT;
use super::legend::{self, Legend, Swatch};
use super::series::{
    band_segments, bounds, clamp_segments, line_segments, segment_values, BandPoint, Scale,
};
use super::{LayerSeries, PlotData, PLOT_SIZE};
use crate::engine::activation::Activation;
use plotters::prelude::*;

/// Height of one layer's panel.
const PANEL_HEIGHT: u32 = 260;
/// Height of the figure title above the panels.
const TITLE_HEIGHT: u32 = 50;

/// Image height for `layers` panels; never below a single-chart image.
pub(crate) fn height(layers: usize) -> u32 {
    let layers = u32::try_from(layers.max(1)).unwrap_or(u32::MAX);
    TITLE_HEIGHT
        .saturating_add(PANEL_HEIGHT.saturating_mul(layers))
        .max(PLOT_SIZE.1)
}

/// Draws activations.png onto `area`; returns the panel titles. Every
/// layer has an output, so every layer gets a panel.
pub(super) fn draw(area: &Area, data: &PlotData) -> DrawResult<Vec<String>> {
    let body = area.titled("Activations per layer", (FONT, 26))?;
    if data.layers.is_empty() {
        draw_empty_panel(&body, data, "activations.png", "activation")?;
        return Ok(Vec::new());
    }
    let panels = body.split_evenly((data.layers.len(), 1));
    let mut titles = Vec::new();
    for (panel, layer) in panels.iter().zip(&data.layers) {
        titles.push(draw_panel(panel, layer, data)?);
    }
    Ok(titles)
}

/// The placeholder panel of a recording without layers.
pub(super) fn draw_empty_panel(
    area: &Area,
    data: &PlotData,
    file: &str,
    y_desc: &str,
) -> DrawResult<()> {
    let (chart_area, legend_area) = legend::split(area);
    let y = 0.0..1.0;
    let axes = Axes {
        title: "no layers",
        y_desc,
        x: data.x.clone(),
        ticks: Ticks::for_scale(Scale::Linear, &y),
        y,
    };
    let mut chart = build_chart(&chart_area, &axes)?;
    draw_note(&chart, "no data recorded")?;
    let mut legend = Legend::default();
    draw_step_marks(&mut chart, &data.step_marks(file, None), &mut legend)?;
    legend.draw(&legend_area)
}

/// One layer's band and mean line.
fn draw_panel(area: &Area, layer: &LayerSeries, data: &PlotData) -> DrawResult<String> {
    let band_raw: Vec<BandPoint> = layer
        .rows
        .iter()
        .map(|r| (r.step as f64, r.act_min, r.act_max))
        .collect();
    let all: Vec<f64> = band_raw.iter().flat_map(|p| [p.1, p.2]).collect();
    let scale = Scale::for_signed(&all);
    let band = band_segments(&band_raw, scale);
    let softmax = layer.activation == Some(Activation::Softmax);
    let mut mean = if softmax {
        Vec::new()
    } else {
        line_segments(&layer.points(|r| r.act_mean), scale)
    };
    let band_values = band.iter().flatten().flat_map(|p| [p.1, p.2]);
    let y = scale.range(bounds(band_values.chain(segment_values(&mean))));
    clamp_segments(&mut mean, &y);
    let title = match scale {
        Scale::SymLog { .. } => {
            format!("{}: activation range (symmetric log scale)", layer.label())
        }
        _ => format!("{}: activation range", layer.label()),
    };
    let (chart_area, legend_area) = legend::split(area);
    let axes = Axes {
        title: &title,
        y_desc: "activation",
        x: data.x.clone(),
        ticks: Ticks::for_scale(scale, &y),
        y,
    };
    let mut chart = build_chart(&chart_area, &axes)?;
    let mut legend = Legend::default();
    let color = layer.color();
    for seg in &band {
        draw_band(chart.plotting_area(), seg, color)?;
    }
    legend.add("min .. max", Swatch::Band(color));
    let style = color.stroke_width(2);
    if softmax {
        legend.add(
            "mean not drawn: a softmax's mean is always 1/classes",
            Swatch::Band(RGBColor(255, 255, 255)),
        );
    } else {
        draw_segments(chart.plotting_area(), &mean, style, Dash::Solid)?;
        legend.add("mean", Swatch::Line(style, Dash::Solid));
    }
    let marks = data.step_marks("activations.png", Some(layer.layer));
    draw_step_marks(&mut chart, &marks, &mut legend)?;
    if layer.rows.is_empty() {
        draw_note(&chart, "no data recorded")?;
    } else if band.is_empty() && mean.is_empty() {
        draw_note(&chart, "no finite values")?;
    }
    legend.draw(&legend_area)?;
    Ok(title)
}

/// A shaded band between the low and high edges; a single step becomes a
/// vertical bar so it remains visible.
fn draw_band(plot: &Plot, seg: &[BandPoint], color: RGBColor) -> DrawResult<()> {
    let fill = color.mix(0.25).filled();
    if let [(x, lo, hi)] = seg {
        return plot.draw(&PathElement::new(
            vec![(*x, *lo), (*x, *hi)],
            color.mix(0.5).stroke_width(6),
        ));
    }
    let upper = seg.iter().map(|&(x, _, hi)| (x, hi));
    let lower = seg.iter().rev().map(|&(x, lo, _)| (x, lo));
    plot.draw(&Polygon::new(upper.chain(lower).collect::<Vec<_>>(), fill))
}
