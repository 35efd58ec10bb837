//! The per-layer time-series plots: gradient_ratio.png (the quantity the
//! vanishing/exploding rules judge), gradient_norms.png and update_ratio.png
//! (log axes, where vanishing and exploding show as decades apart) and
//! saturation.png (fractions in [0, 1]). Layers whose lines would lie on top
//! of each other get one panel each (small multiples), so none is hidden.

use super::chart::{
    build_chart, draw_guide, draw_note, draw_segments, draw_step_marks, draw_zero_row, y_label_gap,
    Area, Axes, Dash, DrawResult, Ticks,
};
use super::font::FONT;
use super::legend::{self, Legend, Swatch};
use super::series::{
    any_coincide, clamp_segments, line_segments, log_empty_reason, LogAxis, Point, Scale, Segment,
};
use super::{LayerSeries, PlotData, PlotOptions, PLOT_SIZE};
use crate::diagnose::series::grad_rms;
use plotters::prelude::*;

/// Saturation axis, padded so fractions of exactly 0 and 1 stay visible.
const FRACTION_RANGE: std::ops::Range<f64> = -0.02..1.02;
/// The usual healthy ||dW||/||W|| per step.
const UPDATE_RATIO_GUIDE: f64 = 1e-3;
/// Height of one layer's panel in a small-multiples image.
const PANEL_HEIGHT: u32 = 230;
/// Height of the figure title above the panels.
const TITLE_HEIGHT: u32 = 50;
/// Lines closer than this share of the axis (median over common steps) count
/// as lying on top of each other.
const COINCIDE_SHARE: f64 = 0.03;

/// What a per-layer log plot shows.
pub(super) struct LogPlot {
    file: &'static str,
    title: &'static str,
    y_desc: &'static str,
    /// The series of one layer (the whole data is passed for ratios).
    value: fn(&PlotData, &LayerSeries) -> Vec<Point>,
    /// Layers not drawn (the output layer of a ratio to itself).
    skip_output: bool,
    /// Horizontal reference lines: (value, legend label).
    guides: Vec<(f64, String)>,
    /// A legend line on what the plot cannot show, if anything.
    caveat: fn(&PlotData) -> Option<String>,
}

/// gradient_norms.png: the raw L2 norms.
pub(super) fn gradient_norms() -> LogPlot {
    LogPlot {
        file: "gradient_norms.png",
        title: "Weight-gradient L2 norm per layer",
        y_desc: "||dL/dW|| (log scale)",
        value: |_, l| l.points(|r| r.grad_w_norm),
        skip_output: false,
        guides: Vec::new(),
        caveat: |_| None,
    }
}

/// update_ratio.png.
pub(super) fn update_ratio() -> LogPlot {
    LogPlot {
        file: "update_ratio.png",
        title: "Relative weight update ||dW|| / ||W|| per layer",
        y_desc: "||dW|| / ||W|| (log scale)",
        value: |_, l| l.points(|r| r.update_ratio),
        skip_output: false,
        guides: vec![(UPDATE_RATIO_GUIDE, "1e-3 (rule of thumb)".into())],
        caveat: |_| None,
    }
}

/// gradient_ratio.png: each layer's RMS weight gradient divided by the
/// output layer's at the same recorded step — exactly the series
/// `vanishing-gradients` and `exploding-gradients` take window medians of —
/// with their thresholds drawn.
pub(super) fn gradient_ratio(opts: &PlotOptions) -> LogPlot {
    LogPlot {
        file: "gradient_ratio.png",
        title: "RMS weight gradient relative to the output layer",
        // Short enough to fit beside one small-multiples panel.
        y_desc: "RMS(dL/dW) / output's (log)",
        value: ratio_points,
        skip_output: true,
        guides: vec![
            (
                opts.exploding_ratio,
                format!(
                    "exploding above {}",
                    super::series::format_number(opts.exploding_ratio)
                ),
            ),
            (1.0, "output layer (= 1)".into()),
            (
                opts.vanishing_ratio,
                format!(
                    "vanishing below {}",
                    super::series::format_number(opts.vanishing_ratio)
                ),
            ),
        ],
        caveat: ratio_caveat,
    }
}

/// Steps where the ratio is undefined because the output layer's gradient
/// is 0 or non-finite (e.g. every unit below it dead): gaps, not zeros.
fn ratio_caveat(data: &PlotData) -> Option<String> {
    let (_, top) = grad_rms(data.rec, data.rec.layers.len());
    let undefined = top.iter().filter(|v| !(v.is_finite() && **v > 0.0)).count();
    (undefined > 0).then(|| {
        format!("no ratio at {undefined} recorded steps: the output layer's gradient is 0 or non-finite there")
    })
}

/// The per-step ratio the gradient rules use (diagnose::gradient_rules).
fn ratio_points(data: &PlotData, layer: &LayerSeries) -> Vec<Point> {
    let depth = data.rec.layers.len();
    let (steps, low) = grad_rms(data.rec, layer.layer);
    let (_, top) = grad_rms(data.rec, depth);
    steps
        .iter()
        .zip(low.iter().zip(&top))
        .map(|(&s, (&a, &b))| (s as f64, if b > 0.0 { a / b } else { f64::NAN }))
        .collect()
}

/// One layer's line in axis units, or why it has none.
struct LayerLine<'d, 'r> {
    layer: &'d LayerSeries<'r>,
    segments: Vec<Segment>,
    empty_reason: Option<&'static str>,
}

/// The lines of a log plot on one shared axis (shared across panels too,
/// so panel heights compare).
fn log_lines<'d, 'r>(data: &'d PlotData<'r>, spec: &LogPlot) -> (LogAxis, Vec<LayerLine<'d, 'r>>) {
    let output = data.rec.layers.len();
    let raw: Vec<(&LayerSeries, Vec<Point>)> = data
        .layers
        .iter()
        // Weights, gradients and updates exist only in layers with
        // parameters; a pool or flatten layer would only add an empty line.
        .filter(|l| l.has_params)
        .filter(|l| !(spec.skip_output && l.layer == output))
        .map(|l| (l, (spec.value)(data, l)))
        .collect();
    let values: Vec<f64> = raw
        .iter()
        .flat_map(|(_, p)| p.iter().map(|p| p.1))
        .collect();
    let guides: Vec<f64> = spec.guides.iter().map(|g| g.0.log10()).collect();
    let axis = LogAxis::new(&values, &guides);
    let lines = raw
        .into_iter()
        .map(|(layer, points)| {
            let values: Vec<f64> = points.iter().map(|p| p.1).collect();
            LayerLine {
                layer,
                segments: axis.segments(&points),
                empty_reason: log_empty_reason(&values).filter(|r| *r != "all zero"),
            }
        })
        .collect();
    (axis, lines)
}

/// Panels needed: one per layer when lines coincide, else one.
fn log_panels(data: &PlotData, spec: &LogPlot) -> usize {
    let (axis, lines) = log_lines(data, spec);
    let segs: Vec<Vec<Segment>> = lines.iter().map(|l| l.segments.clone()).collect();
    let tol = (axis.range.end - axis.range.start) * COINCIDE_SHARE;
    if lines.len() > 1 && any_coincide(&segs, tol) {
        lines.len()
    } else {
        1
    }
}

/// Image size of a log plot.
pub(super) fn size(data: &PlotData, spec: &LogPlot) -> (u32, u32) {
    panels_size(log_panels(data, spec))
}

fn panels_size(panels: usize) -> (u32, u32) {
    if panels <= 1 {
        return PLOT_SIZE;
    }
    let n = u32::try_from(panels).unwrap_or(u32::MAX);
    let h = TITLE_HEIGHT
        .saturating_add(PANEL_HEIGHT.saturating_mul(n))
        .max(PLOT_SIZE.1);
    (PLOT_SIZE.0, h)
}

/// What a per-layer figure drew: each panel's title and each legend's
/// entries, so tests can check the layout without reading pixels.
#[derive(Debug, Default)]
pub(super) struct Figure {
    pub panels: Vec<String>,
    pub legends: Vec<Vec<String>>,
    /// The smallest vertical distance in pixels between two y tick labels
    /// of any panel (None when no panel has two).
    pub min_label_gap: Option<i32>,
}

impl Figure {
    fn panel(&mut self, title: &str, gap: Option<i32>) {
        self.panels.push(title.to_string());
        self.min_label_gap = match (self.min_label_gap, gap) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
}

/// Draws a per-layer log plot: one chart, or one panel per layer.
pub(super) fn draw_log_layers(area: &Area, data: &PlotData, spec: &LogPlot) -> DrawResult<Figure> {
    let (axis, lines) = log_lines(data, spec);
    let mut figure = Figure::default();
    if log_panels(data, spec) <= 1 {
        let (chart_area, legend_area) = legend::split(area);
        let mut legend = Legend::default();
        let gap = draw_log_panel(
            &chart_area,
            data,
            spec,
            &axis,
            &lines,
            spec.title,
            None,
            &mut legend,
        )?;
        figure.panel(spec.title, gap);
        log_legend_tail(data, spec, &lines, &mut legend);
        legend.draw(&legend_area)?;
        figure.legends.push(legend.labels());
        return Ok(figure);
    }
    // Small multiples: the panels share one legend column for the whole
    // figure; a legend per panel repeated the guides and caveat N times.
    let body = area.titled(spec.title, (FONT, 24))?;
    let (column, legend_area) = legend::split(&body);
    let panels = column.split_evenly((lines.len(), 1));
    let mut legend = Legend::default();
    for (panel, line) in panels.iter().zip(&lines) {
        let title = line.layer.label();
        let one = std::slice::from_ref(line);
        let gap = draw_log_panel(
            panel,
            data,
            spec,
            &axis,
            one,
            &title,
            Some(line.layer.layer),
            &mut legend,
        )?;
        figure.panel(&title, gap);
    }
    log_legend_tail(data, spec, &lines, &mut legend);
    legend.draw(&legend_area)?;
    figure.legends.push(legend.labels());
    Ok(figure)
}

/// The legend entries that belong to the whole figure, after the panels'.
fn log_legend_tail(data: &PlotData, spec: &LogPlot, lines: &[LayerLine], legend: &mut Legend) {
    if let Some(caveat) = (spec.caveat)(data) {
        legend.add(caveat, Swatch::Band(WHITE));
    }
    if lines.is_empty() && data.layers.iter().any(|l| !l.has_params) {
        legend.add("no layer with parameters", Swatch::Band(WHITE));
    }
}

/// One log chart (no legend: its entries go into `legend`); returns the
/// smallest gap between its y tick labels.
#[allow(clippy::too_many_arguments)]
fn draw_log_panel(
    chart_area: &Area,
    data: &PlotData,
    spec: &LogPlot,
    axis: &LogAxis,
    lines: &[LayerLine],
    title: &str,
    layer: Option<usize>,
    legend: &mut Legend,
) -> DrawResult<Option<i32>> {
    let axes = Axes {
        title,
        y_desc: spec.y_desc,
        x: data.x.clone(),
        y: axis.range.clone(),
        ticks: Ticks::log(axis),
    };
    let mut chart = build_chart(chart_area, &axes)?;
    let gap = y_label_gap(&chart, &axes.ticks);
    for (v, label) in &spec.guides {
        let g = v.log10();
        if axis.range.contains(&g) && g >= axis.positive_start {
            draw_guide(&mut chart, g, label, legend)?;
        }
    }
    draw_zero_row(&mut chart, axis, legend)?;
    for line in lines {
        let style = line.layer.color().stroke_width(2);
        draw_segments(chart.plotting_area(), &line.segments, style, Dash::Solid)?;
        let label = match line.empty_reason {
            Some(reason) => format!("{}: {reason}", line.layer.label()),
            None => line.layer.label(),
        };
        legend.add(label, Swatch::Line(style, Dash::Solid));
    }
    let marks = data.step_marks(spec.file, layer);
    draw_step_marks(&mut chart, &marks, legend)?;
    if let Some(note) = log_plot_note(lines) {
        draw_note(&chart, note)?;
    }
    Ok(gap)
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

/// A layer's saturated and dead fractions, whichever apply.
type Fractions<'d, 'r> = (&'d LayerSeries<'r>, Vec<(Vec<Segment>, Dash, &'static str)>);

fn fraction_lines<'d, 'r>(data: &'d PlotData<'r>) -> Vec<Fractions<'d, 'r>> {
    data.layers
        .iter()
        .map(|layer| {
            let kinds = [
                (
                    layer.optional_points(|r| r.saturated_frac),
                    Dash::Solid,
                    "saturated",
                ),
                (layer.optional_points(|r| r.dead_frac), Dash::Dashed, "dead"),
            ];
            let lines = kinds
                .into_iter()
                .filter_map(|(points, dash, what)| {
                    let mut segments = line_segments(&points?, Scale::Linear);
                    clamp_segments(&mut segments, &FRACTION_RANGE);
                    Some((segments, dash, what))
                })
                .collect();
            (layer, lines)
        })
        .filter(|(_, lines): &(_, Vec<_>)| !lines.is_empty())
        .collect()
}

/// Panels of saturation.png: one per layer with a fraction when any two
/// layers' lines coincide (the seed's layer 1 hid under layer 2).
fn saturation_panels(data: &PlotData) -> usize {
    let lines = fraction_lines(data);
    let segs: Vec<Vec<Segment>> = lines
        .iter()
        .flat_map(|(_, l)| l.iter().map(|(s, _, _)| s.clone()))
        .collect();
    let span = FRACTION_RANGE.end - FRACTION_RANGE.start;
    if segs.len() > 1 && any_coincide(&segs, span * COINCIDE_SHARE) {
        lines.len()
    } else {
        1
    }
}

/// Image size of saturation.png.
pub(super) fn saturation_size(data: &PlotData) -> (u32, u32) {
    panels_size(saturation_panels(data))
}

/// Image size of saturation.png with `panels` panels.
#[cfg(test)]
pub(super) fn saturation_size_for(panels: usize) -> (u32, u32) {
    panels_size(panels)
}

/// Draws saturation.png onto `area`: saturated share solid, dead share
/// dashed; small multiples share one legend column, as the log plots do.
pub(super) fn draw_saturation(area: &Area, data: &PlotData) -> DrawResult<Figure> {
    const TITLE: &str = "Saturated (solid) and dead (dashed) units per layer";
    let lines = fraction_lines(data);
    let mut figure = Figure::default();
    let mut legend = Legend::default();
    let legend_area = if saturation_panels(data) <= 1 {
        let (chart_area, legend_area) = legend::split(area);
        let gap = draw_fraction_panel(&chart_area, data, &lines, TITLE, None, &mut legend)?;
        figure.panel(TITLE, gap);
        legend_area
    } else {
        let body = area.titled(TITLE, (FONT, 24))?;
        let (column, legend_area) = legend::split(&body);
        let panels = column.split_evenly((lines.len(), 1));
        for (panel, line) in panels.iter().zip(&lines) {
            let title = line.0.label();
            let one = std::slice::from_ref(line);
            let gap =
                draw_fraction_panel(panel, data, one, &title, Some(line.0.layer), &mut legend)?;
            figure.panel(&title, gap);
        }
        legend_area
    };
    legend.draw(&legend_area)?;
    figure.legends.push(legend.labels());
    Ok(figure)
}

fn draw_fraction_panel(
    chart_area: &Area,
    data: &PlotData,
    lines: &[Fractions],
    title: &str,
    layer: Option<usize>,
    legend: &mut Legend,
) -> DrawResult<Option<i32>> {
    let axes = Axes {
        title,
        y_desc: "fraction",
        x: data.x.clone(),
        y: FRACTION_RANGE,
        ticks: Ticks::for_scale(Scale::Linear, &FRACTION_RANGE),
    };
    let mut chart = build_chart(chart_area, &axes)?;
    let gap = y_label_gap(&chart, &axes.ticks);
    for (series, kinds) in lines {
        let style = series.color().stroke_width(2);
        for (segments, dash, what) in kinds {
            draw_segments(chart.plotting_area(), segments, style, *dash)?;
            legend.add(
                format!("{} {what}", series.label()),
                Swatch::Line(style, *dash),
            );
        }
    }
    let marks = data.step_marks("saturation.png", layer);
    draw_step_marks(&mut chart, &marks, legend)?;
    if data.rec.rows.is_empty() {
        draw_note(&chart, "no data recorded")?;
    } else if lines.is_empty() {
        draw_note(&chart, "no saturating or ReLU-family layers")?;
    }
    Ok(gap)
}
