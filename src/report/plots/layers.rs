//! The per-layer time-series plots: gradient_norms.png and update_ratio.png
//! (log axes, where vanishing and exploding show as decades apart) and
//! saturation.png (fractions in [0, 1]).

use super::chart::{
    build_chart, draw_guide, draw_nonfinite_marker, draw_note, draw_segments, Area, Axes, Dash,
    DrawResult,
};
use super::legend::{draw_legend, legend_entry, Occupancy, Swatch};
use super::series::{
    bounds, clamp_segments, line_segments, log_empty_reason, segment_values, Scale, Segment,
};
use super::{LayerSeries, PlotData};
use crate::monitor::record::LayerRow;
use plotters::prelude::*;

/// Saturation axis, padded so fractions of exactly 0 and 1 stay visible.
const FRACTION_RANGE: std::ops::Range<f64> = -0.02..1.02;
/// The usual healthy ||dW||/||W|| per step.
const UPDATE_RATIO_GUIDE: f64 = 1e-3;

/// What a per-layer log plot shows.
struct LogPlot<'t> {
    title: &'t str,
    y_desc: &'t str,
    value: fn(&LayerRow) -> f64,
    /// A horizontal reference line: (value, legend label).
    guide: Option<(f64, &'t str)>,
}

/// Draws gradient_norms.png onto `area`.
pub(super) fn draw_gradient_norms(area: &Area, data: &PlotData) -> DrawResult<()> {
    let spec = LogPlot {
        title: "Weight-gradient L2 norm per layer",
        y_desc: "||dL/dW|| (log scale)",
        value: |r| r.grad_w_norm,
        guide: None,
    };
    draw_log_layers(area, data, &spec)
}

/// Draws update_ratio.png onto `area`.
pub(super) fn draw_update_ratio(area: &Area, data: &PlotData) -> DrawResult<()> {
    let spec = LogPlot {
        title: "Relative weight update ||dW|| / ||W|| per layer",
        y_desc: "||dW|| / ||W|| (log scale)",
        value: |r| r.update_ratio,
        guide: Some((UPDATE_RATIO_GUIDE, "1e-3 (rule of thumb)")),
    };
    draw_log_layers(area, data, &spec)
}

/// One layer's log-axis line, or why it has none.
struct LayerLine<'d, 'r> {
    layer: &'d LayerSeries<'r>,
    segments: Vec<Segment>,
    empty_reason: Option<&'static str>,
}

/// One line per layer on a shared log axis.
fn draw_log_layers(area: &Area, data: &PlotData, spec: &LogPlot) -> DrawResult<()> {
    let mut lines: Vec<LayerLine> = data
        .layers
        .iter()
        .map(|layer| {
            let raw = layer.points(spec.value);
            let values: Vec<f64> = raw.iter().map(|p| p.1).collect();
            LayerLine {
                layer,
                segments: line_segments(&raw, Scale::Log),
                empty_reason: log_empty_reason(&values),
            }
        })
        .collect();
    let guide = spec.guide.map(|(v, label)| (v.log10(), label));
    let data_values = lines.iter().flat_map(|l| segment_values(&l.segments));
    let y = Scale::Log.range(bounds(data_values.chain(guide.map(|g| g.0))));
    for line in &mut lines {
        clamp_segments(&mut line.segments, &y);
    }
    let axes = Axes {
        title: spec.title,
        y_desc: spec.y_desc,
        x: data.x.clone(),
        y: y.clone(),
        scale: Scale::Log,
    };
    let mut chart = build_chart(area, &axes)?;
    let mut occupancy = Occupancy::new(&chart);
    draw_nonfinite_marker(&mut chart, data.nonfinite, &mut occupancy)?;
    if let Some((g, label)) = guide.filter(|g| y.contains(&g.0)) {
        draw_guide(&mut chart, g, label)?;
    }
    for line in &lines {
        let style = line.layer.color().stroke_width(2);
        draw_segments(chart.plotting_area(), &line.segments, style, Dash::Solid)?;
        occupancy.add_segments(&line.segments, &y);
        let label = match line.empty_reason {
            Some(reason) => format!("{}: {reason}", line.layer.label()),
            None => line.layer.label(),
        };
        legend_entry(&mut chart, &label, Swatch::Line(style, Dash::Solid))?;
    }
    if let Some(note) = log_plot_note(&lines) {
        draw_note(&chart, note)?;
    }
    draw_legend(&mut chart, occupancy.best())
}

/// Why a log plot shows no line at all, if it doesn't.
fn log_plot_note(lines: &[LayerLine]) -> Option<&'static str> {
    if lines.iter().any(|l| !l.segments.is_empty()) {
        return None;
    }
    let reasons: Vec<&str> = lines.iter().filter_map(|l| l.empty_reason).collect();
    match reasons.as_slice() {
        [] => Some("no data recorded"),
        [first, rest @ ..] if rest.iter().all(|r| r == first) => Some(first),
        _ => Some("no positive finite values (nothing to show on a log axis)"),
    }
}

/// Draws saturation.png onto `area`: saturated share solid, dead share dashed.
pub(super) fn draw_saturation(area: &Area, data: &PlotData) -> DrawResult<()> {
    let axes = Axes {
        title: "Saturated (solid) and dead (dashed) units per layer",
        y_desc: "fraction",
        x: data.x.clone(),
        y: FRACTION_RANGE,
        scale: Scale::Linear,
    };
    let mut chart = build_chart(area, &axes)?;
    let mut occupancy = Occupancy::new(&chart);
    draw_nonfinite_marker(&mut chart, data.nonfinite, &mut occupancy)?;
    let mut drawn_any = false;
    for layer in &data.layers {
        let fractions = [
            (
                layer.optional_points(|r| r.saturated_frac),
                Dash::Solid,
                "saturated",
            ),
            (layer.optional_points(|r| r.dead_frac), Dash::Dashed, "dead"),
        ];
        for (points, dash, what) in fractions {
            let Some(points) = points else { continue };
            let mut segments = line_segments(&points, Scale::Linear);
            clamp_segments(&mut segments, &FRACTION_RANGE);
            let style = layer.color().stroke_width(2);
            draw_segments(chart.plotting_area(), &segments, style, dash)?;
            occupancy.add_segments(&segments, &FRACTION_RANGE);
            let label = format!("{} {what}", layer.label());
            legend_entry(&mut chart, &label, Swatch::Line(style, dash))?;
            drawn_any = true;
        }
    }
    if data.rec.rows.is_empty() {
        draw_note(&chart, "no data recorded")?;
    } else if !drawn_any {
        draw_note(&chart, "no saturating or ReLU-family layers")?;
    }
    if drawn_any || data.nonfinite.is_some() {
        draw_legend(&mut chart, occupancy.best())?;
    }
    Ok(())
}
