//! Shared chart furniture: layer colours, axes, broken polylines, legend
//! entries, notes and the non-finite marker. Every plot is assembled from
//! these so all five look alike and share the same defences against bad data.

use super::font::FONT;
use super::legend::{legend_entry, Occupancy, Swatch};
use super::series::{linear_tick, log_tick, step_tick, Point, Scale, Segment};
use plotters::chart::DualCoordChartContext;
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::ops::Range;

/// A whole image (or one panel of it).
pub(crate) type Area<'b> = DrawingArea<BitMapBackend<'b>, Shift>;
/// (step, axis value) coordinates, the same for every chart and y axis.
pub(crate) type Coords = Cartesian2d<RangedCoordf64, RangedCoordf64>;
/// The data region of a chart.
pub(crate) type Plot<'b> = DrawingArea<BitMapBackend<'b>, Coords>;
/// A chart with its coordinate system.
pub(crate) type Chart<'a, 'b> = ChartContext<'a, BitMapBackend<'b>, Coords>;
/// A chart with a second y axis on the right.
pub(crate) type DualChart<'a, 'b> = DualCoordChartContext<'a, BitMapBackend<'b>, Coords, Coords>;
/// What plotters reports when drawing onto a bitmap fails.
pub(crate) type DrawError =
    DrawingAreaErrorKind<<BitMapBackend<'static> as DrawingBackend>::ErrorType>;
pub(crate) type DrawResult<T> = Result<T, DrawError>;

/// Colour of the non-finite marker; no layer uses red, so it can't be confused.
pub(crate) const ALARM: RGBColor = RGBColor(220, 0, 0);
/// Colour of guide lines and notes.
pub(crate) const MUTED: RGBColor = RGBColor(110, 110, 110);

/// Per-layer colours (tableau-like, without red and grey, which mean
/// "non-finite" and "guide").
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
    RGBColor(0, 0, 128),
    RGBColor(0, 128, 128),
];

/// The colour of a (1-based) layer, the same in every plot.
pub(crate) fn layer_color(layer: usize) -> RGBColor {
    PALETTE[layer.saturating_sub(1) % PALETTE.len()]
}

/// Title, y label and ranges of one chart.
pub(crate) struct Axes<'t> {
    pub title: &'t str,
    pub y_desc: &'t str,
    pub x: Range<f64>,
    pub y: Range<f64>,
    pub scale: Scale,
}

/// A chart builder with the common caption and margins; callers that need a
/// second y axis reserve its label area before building.
pub(crate) fn builder<'a, 'b>(
    area: &'a Area<'b>,
    title: &str,
) -> ChartBuilder<'a, 'a, BitMapBackend<'b>> {
    let mut b = ChartBuilder::on(area);
    b.caption(title, (FONT, 22))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(75);
    b
}

/// A single-axis chart with its mesh already drawn.
pub(crate) fn build_chart<'a, 'b>(area: &'a Area<'b>, axes: &Axes) -> DrawResult<Chart<'a, 'b>> {
    let mut chart = builder(area, axes.title).build_cartesian_2d(axes.x.clone(), axes.y.clone())?;
    draw_mesh(&mut chart, axes.y_desc, axes.scale)?;
    Ok(chart)
}

/// Grid, ticks and axis labels; log axes label their ticks as powers of ten.
pub(crate) fn draw_mesh<'a, 'b: 'a>(
    chart: &mut Chart<'a, 'b>,
    y_desc: &str,
    scale: Scale,
) -> DrawResult<()> {
    let y_fmt: &dyn Fn(&f64) -> String = match scale {
        Scale::Linear => &linear_tick,
        Scale::Log => &log_tick,
    };
    let y_labels = match scale {
        Scale::Linear => MAX_LABELS,
        Scale::Log => whole_label_count(&chart.y_range()),
    };
    let x_labels = whole_label_count(&chart.x_range());
    chart
        .configure_mesh()
        .x_labels(x_labels)
        .y_labels(y_labels)
        .x_desc("step")
        .y_desc(y_desc)
        .label_style((FONT, 14))
        .axis_desc_style((FONT, 16))
        .x_label_formatter(&step_tick)
        .y_label_formatter(y_fmt)
        .light_line_style(RGBColor(238, 238, 238))
        .bold_line_style(RGBColor(215, 215, 215))
        .draw()
}

/// Tick labels per axis when nothing else limits them.
const MAX_LABELS: usize = 10;

/// At most one label per unit, so plotters only picks whole-number ticks:
/// whole steps on the x axis, whole decades (1e-3, 1e-2, not 0.3981) on a
/// log axis.
fn whole_label_count(range: &Range<f64>) -> usize {
    let units = (range.end - range.start).floor();
    if units.is_finite() && units >= 1.0 {
        units.min(MAX_LABELS as f64) as usize + 1
    } else {
        2
    }
}

/// How a line is stroked; dashed tells a second quantity of the same layer apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dash {
    Solid,
    Dashed,
}

/// Draws each segment as its own polyline, so gaps stay gaps; a lone point
/// becomes a dot, otherwise a one-step recording would show nothing.
pub(crate) fn draw_segments(
    plot: &Plot,
    segments: &[Segment],
    style: ShapeStyle,
    dash: Dash,
) -> DrawResult<()> {
    for seg in segments {
        match (seg.as_slice(), dash) {
            ([p], _) => plot.draw(&Circle::new(*p, 3, style.filled()))?,
            (_, Dash::Solid) => plot.draw(&PathElement::new(seg.clone(), style))?,
            (_, Dash::Dashed) => {
                plot.draw(&DashedPathElement::new(seg.iter().copied(), 8, 5, style))?
            }
        }
    }
    Ok(())
}

/// Draws a filled marker at every point.
pub(crate) fn draw_markers(plot: &Plot, points: &[Point], color: RGBColor) -> DrawResult<()> {
    for p in points {
        plot.draw(&Circle::new(*p, 4, color.filled()))?;
    }
    Ok(())
}

/// A centred message in the data region, for plots that have nothing (or
/// nothing sane) to show: the reader should know why the plot is empty.
pub(crate) fn draw_note(chart: &Chart, text: &str) -> DrawResult<()> {
    let (x, y) = (chart.x_range(), chart.y_range());
    let centre = ((x.start + x.end) / 2.0, (y.start + y.end) / 2.0);
    let style = TextStyle::from((FONT, 22).into_font())
        .color(&MUTED)
        .pos(Pos::new(HPos::Center, VPos::Center));
    chart
        .plotting_area()
        .draw(&Text::new(text.to_string(), centre, style))
}

/// The red vertical line at the first non-finite step, labelled at its top
/// (on the side with more room) and in the legend: the most important
/// landmark when a run blew up. The label is recorded in `occupancy` so the
/// legend avoids it.
pub(crate) fn draw_nonfinite_marker<'a, 'b: 'a>(
    chart: &mut Chart<'a, 'b>,
    step: Option<usize>,
    occupancy: &mut Occupancy,
) -> DrawResult<()> {
    let Some(step) = step else {
        return Ok(());
    };
    let (x, y) = (step as f64, chart.y_range());
    let style = ALARM.stroke_width(2);
    let plot = chart.plotting_area();
    plot.draw(&PathElement::new(vec![(x, y.start), (x, y.end)], style))?;
    let label = format!("first non-finite (step {step})");
    let on_left = occupancy.x_fraction(x) > 0.5;
    let (anchor, dx) = if on_left {
        (HPos::Right, -5)
    } else {
        (HPos::Left, 5)
    };
    let text_style = TextStyle::from((FONT, 13).into_font())
        .color(&ALARM)
        .pos(Pos::new(anchor, VPos::Top));
    let (text_w, text_h) = plot.estimate_text_size(&label, &text_style)?;
    plot.draw(&(EmptyElement::at((x, y.end)) + Text::new(label.clone(), (dx, 5), text_style)))?;
    occupancy.add_label_box(x, (text_w, text_h), on_left);
    occupancy.add_vertical_line(x);
    legend_entry(chart, &label, Swatch::Line(style, Dash::Solid))
}

/// A horizontal dashed guide across the whole chart at axis value `y`.
pub(crate) fn draw_guide<'a, 'b: 'a>(
    chart: &mut Chart<'a, 'b>,
    y: f64,
    label: &str,
) -> DrawResult<()> {
    let x = chart.x_range();
    let style = MUTED.stroke_width(1);
    let seg = vec![(x.start, y), (x.end, y)];
    draw_segments(chart.plotting_area(), &[seg], style, Dash::Dashed)?;
    legend_entry(chart, label, Swatch::Line(style, Dash::Dashed))
}
