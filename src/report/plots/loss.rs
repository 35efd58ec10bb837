//! loss.png: training loss per step on the left axis (log when it spans
//! decades) — the raw batch losses faint, their exponential moving average
//! bold, because a batch-20 loss is a band of noise — and accuracy on a 0..1
//! right axis. The first plot anyone opens.

use super::chart::{
    builder, draw_markers, draw_mesh, draw_note, draw_segments, draw_step_marks, Area, Dash,
    DrawResult, DualChart, Ticks,
};
use super::font::FONT;
use super::legend::{self, Legend, Swatch};
use super::series::{
    bounds, clamp_segments, ema, line_segments, segment_values, Point, Scale, Segment,
};
use super::PlotData;
use plotters::prelude::*;

/// Loss spanning more decades than this is drawn on a log axis.
const LOG_DECADES: f64 = 2.0;
/// Accuracy axis, padded so values of exactly 0 and 1 stay visible.
const ACCURACY_RANGE: std::ops::Range<f64> = -0.02..1.02;
/// More test evaluations than this get a line only: markers would smear.
const MAX_MARKERS: usize = 200;

const LOSS_COLOR: RGBColor = RGBColor(31, 119, 180);
/// The raw batch losses behind the smoothed line.
const RAW_LOSS_COLOR: RGBColor = RGBColor(160, 196, 226);
const TEST_LOSS_COLOR: RGBColor = RGBColor(0, 0, 128);
const BATCH_ACC_COLOR: RGBColor = RGBColor(255, 160, 60);
const TEST_ACC_COLOR: RGBColor = RGBColor(44, 160, 44);

/// Log scale only when the positive, finite loss spans more than [`LOG_DECADES`].
fn loss_scale(points: &[Point]) -> Scale {
    match bounds(points.iter().map(|p| p.1).filter(|&v| v > 0.0)) {
        Some((lo, hi)) if hi.log10() - lo.log10() > LOG_DECADES => Scale::Log,
        _ => Scale::Linear,
    }
}

/// The loss curves (train, test) in axis units, with the scale they use.
struct LossLines {
    scale: Scale,
    train: Vec<Segment>,
    smooth: Vec<Segment>,
    /// The EMA span in steps, for the legend.
    span: f64,
    test: Vec<Segment>,
    y: std::ops::Range<f64>,
}

/// EMA span: a twentieth of the run, at least 5 and at most 200 steps —
/// long enough to average batch noise, short enough to keep a divergence.
fn smoothing_span(steps: usize) -> f64 {
    (steps as f64 / 20.0).clamp(5.0, 200.0).round()
}

/// Train and test loss on one shared y range (test loss, when evaluated,
/// must be comparable to the training curve).
fn loss_lines(data: &PlotData) -> LossLines {
    let steps = &data.rec.steps;
    let train_raw: Vec<Point> = steps.iter().map(|s| (s.step as f64, s.loss)).collect();
    let test_raw: Vec<Point> = steps
        .iter()
        .filter_map(|s| s.test_loss.map(|v| (s.step as f64, v)))
        .collect();
    let scale = loss_scale(&train_raw);
    let span = smoothing_span(train_raw.len());
    let mut train = line_segments(&train_raw, scale);
    let mut smooth = line_segments(&ema(&train_raw, span), scale);
    let mut test = line_segments(&test_raw, scale);
    let y = scale.range(bounds(segment_values(&train).chain(segment_values(&test))));
    clamp_segments(&mut train, &y);
    clamp_segments(&mut smooth, &y);
    clamp_segments(&mut test, &y);
    LossLines {
        scale,
        train,
        smooth,
        span,
        test,
        y,
    }
}

/// Why the loss plot is empty, if it is.
fn loss_note(data: &PlotData, lines: &LossLines) -> Option<&'static str> {
    if data.rec.steps.is_empty() {
        Some("no data recorded")
    } else if lines.train.is_empty() && lines.test.is_empty() {
        Some("no finite loss values")
    } else {
        None
    }
}

/// Draws loss.png onto `area`.
pub(super) fn draw(area: &Area, data: &PlotData) -> DrawResult<()> {
    let lines = loss_lines(data);
    let (chart_area, legend_area) = legend::split(area);
    let metric = data
        .rec
        .task_evals
        .first()
        .map_or("accuracy", |e| e.headline_name());
    let mut chart = builder(&chart_area, &format!("Training loss and {metric}"))
        .right_y_label_area_size(60)
        .build_cartesian_2d(data.x.clone(), lines.y.clone())?
        .set_secondary_coord(data.x.clone(), ACCURACY_RANGE);
    let y_desc = match lines.scale {
        Scale::Log => "loss (log scale)",
        _ => "loss",
    };
    draw_mesh(&mut chart, y_desc, &Ticks::for_scale(lines.scale, &lines.y))?;
    chart
        .configure_secondary_axes()
        .y_desc(metric)
        .label_style((FONT, 14))
        .axis_desc_style((FONT, 16))
        .draw()?;
    let mut legend = Legend::default();
    draw_accuracy(&mut chart, data, &mut legend)?;
    let raw_style = RAW_LOSS_COLOR.stroke_width(1);
    draw_segments(chart.plotting_area(), &lines.train, raw_style, Dash::Solid)?;
    legend.add(
        "training loss (each batch)",
        Swatch::Line(raw_style, Dash::Solid),
    );
    let loss_style = LOSS_COLOR.stroke_width(2);
    draw_segments(
        chart.plotting_area(),
        &lines.smooth,
        loss_style,
        Dash::Solid,
    )?;
    legend.add(
        format!("training loss, smoothed (EMA over {} steps)", lines.span),
        Swatch::Line(loss_style, Dash::Solid),
    );
    if !lines.test.is_empty() {
        let style = TEST_LOSS_COLOR.stroke_width(2);
        draw_segments(chart.plotting_area(), &lines.test, style, Dash::Dashed)?;
        legend.add("test loss", Swatch::Line(style, Dash::Dashed));
    }
    let marks = data.step_marks("loss.png", None);
    draw_step_marks(&mut chart, &marks, &mut legend)?;
    if let Some(note) = loss_note(data, &lines) {
        draw_note(&chart, note)?;
    }
    legend.draw(&legend_area)
}

/// Batch accuracy (thin line) and test accuracy (markers + line) on the
/// secondary axis; legend entries go on the primary chart, which owns the legend.
fn draw_accuracy<'a, 'b: 'a>(
    chart: &mut DualChart<'a, 'b>,
    data: &PlotData,
    legend: &mut Legend,
) -> DrawResult<()> {
    let steps = &data.rec.steps;
    let batch: Vec<Point> = steps
        .iter()
        .map(|s| (s.step as f64, s.batch_accuracy))
        .collect();
    let mut test: Vec<Point> = steps
        .iter()
        .filter_map(|s| s.test_accuracy.map(|v| (s.step as f64, v)))
        .collect();
    // Regression / multilabel: R^2 or exact match instead of accuracy (an
    // R^2 below 0 sits on the axis floor).
    let task = data.rec.task_evals.first();
    if task.is_some() {
        test = data
            .rec
            .task_evals
            .iter()
            .filter_map(|e| e.headline().map(|v| (e.step as f64, v.max(0.0))))
            .collect();
    }
    let mut batch = line_segments(&batch, Scale::Linear);
    let mut test = line_segments(&test, Scale::Linear);
    clamp_segments(&mut batch, &ACCURACY_RANGE);
    clamp_segments(&mut test, &ACCURACY_RANGE);
    let secondary = chart.secondary_plotting_area().clone();
    if !batch.is_empty() {
        let style = BATCH_ACC_COLOR.stroke_width(1);
        draw_segments(&secondary, &batch, style, Dash::Solid)?;
        legend.add(
            "batch accuracy (right axis)",
            Swatch::Line(style, Dash::Solid),
        );
    }
    if !test.is_empty() {
        let style = TEST_ACC_COLOR.stroke_width(2);
        draw_segments(&secondary, &test, style, Dash::Solid)?;
        let points: Vec<Point> = test.iter().flatten().copied().collect();
        if points.len() <= MAX_MARKERS {
            draw_markers(&secondary, &points, TEST_ACC_COLOR)?;
        }
        let label = match task {
            Some(e) => format!("{} {} (right axis)", e.fit.set, e.headline_name()),
            None => "test accuracy (right axis)".to_string(),
        };
        legend.add(label, Swatch::LineWithMarker(style));
    }
    Ok(())
}
