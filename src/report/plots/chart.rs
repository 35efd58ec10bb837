//! Shared chart furniture: layer colours, axes, broken polylines, legend
//! entries, notes and the non-finite marker. Every plot is assembled from
//! these so all five look alike and share the same defences against bad data.

use super::font::FONT;
use super::legend::{Legend, Swatch};
use super::series::{step_tick, LogAxis, Point, Scale, Segment};
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

/// How the y axis is ticked and labelled.
pub(crate) struct Ticks {
    pub fmt: Box<dyn Fn(&f64) -> String>,
    /// Only whole axis units get ticks (decades on log and symlog axes).
    pub whole: bool,
}

impl Ticks {
    pub(crate) fn for_scale(scale: Scale, range: &Range<f64>) -> Ticks {
        Ticks {
            fmt: scale.tick_formatter(range),
            whole: !matches!(scale, Scale::Linear),
        }
    }

    pub(crate) fn log(axis: &LogAxis) -> Ticks {
        Ticks {
            fmt: axis.tick_formatter(),
            whole: true,
        }
    }
}

/// Title, y label, ranges and tick labels of one chart.
pub(crate) struct Axes<'t> {
    pub title: &'t str,
    pub y_desc: &'t str,
    pub x: Range<f64>,
    pub y: Range<f64>,
    pub ticks: Ticks,
}

/// A chart builder with the common caption and margins; callers that need a
/// second y axis reserve its label area before building.
pub(crate) fn builder<'a, 'b>(
    area: &'a Area<'b>,
    title: &str,
) -> ChartBuilder<'a, 'a, BitMapBackend<'b>> {
    let mut b = ChartBuilder::on(area);
    b.caption(title, (FONT, 20))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(75);
    b
}

/// A single-axis chart with its mesh already drawn.
pub(crate) fn build_chart<'a, 'b>(area: &'a Area<'b>, axes: &Axes) -> DrawResult<Chart<'a, 'b>> {
    let mut chart = builder(area, axes.title).build_cartesian_2d(axes.x.clone(), axes.y.clone())?;
    draw_mesh(&mut chart, axes.y_desc, &axes.ticks)?;
    Ok(chart)
}

/// Grid, ticks and axis labels.
pub(crate) fn draw_mesh<'a, 'b: 'a>(
    chart: &mut Chart<'a, 'b>,
    y_desc: &str,
    ticks: &Ticks,
) -> DrawResult<()> {
    let y_labels = y_label_count(chart, ticks);
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
        .y_label_formatter(&ticks.fmt)
        .light_line_style(RGBColor(238, 238, 238))
        .bold_line_style(RGBColor(215, 215, 215))
        .draw()
}

/// Tick labels per axis when nothing else limits them.
const MAX_LABELS: usize = 10;
/// Least vertical distance in pixels between two y tick labels: 14-px text
/// plus room to tell them apart. A 230-px panel of a log plot spanning
/// eight decades used to get eight labels 17 px apart, which overlapped.
pub(crate) const MIN_LABEL_GAP: u32 = 28;

/// The y labels asked of plotters: one per whole unit on log axes, and no
/// more than the plot's height fits at [`MIN_LABEL_GAP`] (plotters then
/// picks a coarser step, e.g. every second decade).
fn y_label_count(chart: &Chart, ticks: &Ticks) -> usize {
    let wanted = if ticks.whole {
        whole_label_count(&chart.y_range())
    } else {
        MAX_LABELS
    };
    let (_, height) = chart.plotting_area().dim_in_pixel();
    wanted.min(label_budget(height))
}

/// How many labels fit along `pixels` at [`MIN_LABEL_GAP`] (at least 2, so
/// an axis always shows where it starts and ends).
pub(crate) fn label_budget(pixels: u32) -> usize {
    usize::try_from(pixels / MIN_LABEL_GAP)
        .unwrap_or(usize::MAX)
        .saturating_add(1)
        .max(2)
}

/// The y tick labels [`draw_mesh`] draws on `chart`, bottom to top.
pub(crate) fn y_tick_labels(chart: &Chart, ticks: &Ticks) -> Vec<String> {
    use plotters::coord::ranged1d::{BoldPoints, Ranged};
    let n = y_label_count(chart, ticks);
    chart
        .as_coord_spec()
        .y_spec()
        .key_points(BoldPoints(n))
        .iter()
        .map(|v| (ticks.fmt)(v))
        .collect()
}

/// The x (step) tick labels [`draw_mesh`] draws on `chart`, left to right.
pub(crate) fn x_tick_labels(chart: &Chart) -> Vec<String> {
    use plotters::coord::ranged1d::{BoldPoints, Ranged};
    let n = whole_label_count(&chart.x_range());
    chart
        .as_coord_spec()
        .x_spec()
        .key_points(BoldPoints(n))
        .iter()
        .map(step_tick)
        .collect()
}

/// The smallest pixel distance between two adjacent y tick labels that
/// [`draw_mesh`] draws on `chart`, computed the way plotters places them
/// (the key points of the y range for the requested label count). Tick
/// labels the formatter leaves empty (the gap below a log axis's zero row)
/// do not count.
pub(crate) fn y_label_gap(chart: &Chart, ticks: &Ticks) -> Option<i32> {
    use plotters::coord::ranged1d::{BoldPoints, Ranged};
    let n = y_label_count(chart, ticks);
    let x = chart.x_range().start;
    let mut ys: Vec<i32> = chart
        .as_coord_spec()
        .y_spec()
        .key_points(BoldPoints(n))
        .into_iter()
        .filter(|v| !(ticks.fmt)(v).is_empty())
        .map(|v| chart.backend_coord(&(x, v)).1)
        .collect();
    ys.sort_unstable();
    ys.windows(2).map(|w| w[1] - w[0]).min()
}

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

/// A vertical line at a step: the first non-finite value (red, solid) or
/// the step where a diagnosis was first seen (dashed), labelled at the top.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StepMark {
    pub step: usize,
    pub label: String,
    pub alarm: bool,
}

/// Colour of diagnosis markers: dark magenta, apart from every layer colour.
const MARK: RGBColor = RGBColor(150, 0, 120);

/// Draws every mark as a vertical line and adds it to the legend; the
/// non-finite mark also gets its label hanging from the top (on the side
/// with more room), as the one landmark that must be read in place.
pub(crate) fn draw_step_marks<'a, 'b: 'a>(
    chart: &mut Chart<'a, 'b>,
    marks: &[StepMark],
    legend: &mut Legend,
) -> DrawResult<()> {
    let (xr, y) = (chart.x_range(), chart.y_range());
    let plot = chart.plotting_area();
    for (i, mark) in marks.iter().enumerate() {
        let x = mark.step as f64;
        let (color, dash) = if mark.alarm {
            (ALARM, Dash::Solid)
        } else {
            (MARK, Dash::Dashed)
        };
        let style = color.stroke_width(2);
        draw_segments(plot, &[vec![(x, y.start), (x, y.end)]], style, dash)?;
        legend.add(mark.label.clone(), Swatch::Line(style, dash));
        if !mark.alarm {
            // Named in the legend only: a label in the data area covers data.
            continue;
        }
        let span = xr.end - xr.start;
        let on_left = span > 0.0 && (x - xr.start) / span > 0.6;
        let (anchor, dx) = if on_left {
            (HPos::Right, -5)
        } else {
            (HPos::Left, 5)
        };
        let text_style = TextStyle::from((FONT, 13).into_font())
            .color(&color)
            .pos(Pos::new(anchor, VPos::Top));
        let dy = 5 + 16 * i32::try_from(i).unwrap_or(0);
        plot.draw(
            &(EmptyElement::at((x, y.end)) + Text::new(mark.label.clone(), (dx, dy), text_style)),
        )?;
    }
    Ok(())
}

/// A horizontal dashed guide across the whole chart at axis value `y`.
pub(crate) fn draw_guide<'a, 'b: 'a>(
    chart: &mut Chart<'a, 'b>,
    y: f64,
    label: &str,
    legend: &mut Legend,
) -> DrawResult<()> {
    let x = chart.x_range();
    let style = MUTED.stroke_width(1);
    let seg = vec![(x.start, y), (x.end, y)];
    draw_segments(chart.plotting_area(), &[seg], style, Dash::Dashed)?;
    legend.add(label, Swatch::Line(style, Dash::Dashed));
    Ok(())
}

/// On a log axis with a zero row: a dotted separator between the row and the
/// positive decades, so the "0" row is not read as one more decade.
pub(crate) fn draw_zero_row<'a, 'b: 'a>(
    chart: &mut Chart<'a, 'b>,
    axis: &LogAxis,
    legend: &mut Legend,
) -> DrawResult<()> {
    let Some(zero) = axis.zero else {
        return Ok(());
    };
    let x = chart.x_range();
    let y = (zero + axis.positive_start) / 2.0;
    let style = RGBColor(170, 170, 170).stroke_width(1);
    chart.plotting_area().draw(&DashedPathElement::new(
        vec![(x.start, y), (x.end, y)],
        2,
        4,
        style,
    ))?;
    legend.add(
        "exact zeros: bottom row \"0\"",
        Swatch::Line(style, Dash::Dashed),
    );
    Ok(())
}
