//! Overlay plots of two runs: the loss and each layer's weight-gradient
//! norm, run A solid and run B dashed, on log axes drawn with the report's
//! own chart furniture (report::plots): decade tick labels ("1e-2", "1",
//! never plotters' default "-0.0"), exact zeros on a "0" row, non-finite
//! and negative values left out and counted, and the legend in a column
//! beside the data, where it cannot cover a curve.
//!
//! Losses of two different functions (an MSE run against a cross-entropy
//! run) are not on one scale, so they get one panel and one y axis each.

use crate::monitor::record::Recording;
use crate::report::plots::chart::{
    build_chart, draw_segments, draw_zero_row, x_tick_labels, y_tick_labels, Area, Axes, Dash,
    DrawResult, Ticks,
};
use crate::report::plots::font::{ensure_font, FONT};
use crate::report::plots::legend::{self, Legend, Swatch};
use crate::report::plots::series::{LogAxis, Point};
use crate::report::plots::{layer_color, PlotError, PLOT_SIZE};
use plotters::prelude::*;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// One run as the overlay needs it: its recording and the name of its
/// loss function ("MSE", "cross-entropy": `LossKind`'s Display).
pub struct Run<'r> {
    pub rec: &'r Recording,
    pub loss: String,
}

/// Height of one panel when a figure has more than one.
const PANEL_HEIGHT: u32 = 380;

/// One line of a panel: its legend label, colour, dash and raw values.
struct Line {
    label: String,
    color: RGBColor,
    dash: Dash,
    points: Vec<Point>,
}

/// One chart of a figure, on its own y axis.
struct Panel {
    title: String,
    y_desc: String,
    lines: Vec<Line>,
}

/// What an overlay figure drew, for tests: per panel its title, y label
/// and tick labels; the legend's entries and where it sits.
#[derive(Debug, Default)]
// Only the tests read what was drawn; production drops it.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) struct Drawn {
    pub panels: Vec<DrawnPanel>,
    pub legend: Vec<String>,
    /// Left edge of the legend column and right edge of every data area,
    /// in image pixels: the legend is beside the data when the first is
    /// not left of the second.
    pub legend_left: i32,
    pub data_right: i32,
}

#[derive(Debug)]
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) struct DrawnPanel {
    pub title: String,
    pub y_desc: String,
    pub y_ticks: Vec<String>,
    pub x_ticks: Vec<String>,
}

/// (step, value) pairs; counts the values a log axis cannot show (negative
/// or non-finite; zeros are drawn on the zero row).
fn points(pts: impl Iterator<Item = (usize, f64)>, left_out: &mut usize) -> Vec<Point> {
    pts.map(|(s, v)| {
        if !(v.is_finite() && v >= 0.0) {
            *left_out += 1;
        }
        (s as f64, v)
    })
    .collect()
}

/// The loss figure's panels: one shared axis when both runs use the same
/// loss function, else one panel per run.
fn loss_panels(a: &Run, b: &Run, left_out: &mut usize) -> Vec<Panel> {
    let la = points(a.rec.steps.iter().map(|s| (s.step, s.loss)), left_out);
    let lb = points(b.rec.steps.iter().map(|s| (s.step, s.loss)), left_out);
    let line = |label: &str, color, dash, points| Line {
        label: label.to_string(),
        color,
        dash,
        points,
    };
    if a.loss == b.loss {
        return vec![Panel {
            title: format!("Loss ({})", a.loss),
            y_desc: format!("{} (log scale)", a.loss),
            lines: vec![
                line("run A (solid)", layer_color(1), Dash::Solid, la),
                line("run B (dashed)", layer_color(2), Dash::Dashed, lb),
            ],
        }];
    }
    // One panel per run, drawn solid (A) or dashed (B).
    let own = |run: &str, loss: &dyn std::fmt::Display, color, dash, mark: &str, pts| Panel {
        title: format!("Run {run}: {loss} loss"),
        y_desc: format!("{loss} (log scale)"),
        lines: vec![line(
            &format!("run {run}, {loss} ({mark})"),
            color,
            dash,
            pts,
        )],
    };
    vec![
        own("A", &a.loss, layer_color(1), Dash::Solid, "solid", la),
        own("B", &b.loss, layer_color(2), Dash::Dashed, "dashed", lb),
    ]
}

/// The gradient-norm figure: both runs' layers on one axis (a norm is a
/// norm whatever the loss), each layer in its colour, B dashed.
fn gradient_panel(a: &Run, b: &Run, left_out: &mut usize) -> Panel {
    // Layers declared or only seen in the rows (a run format without them).
    let depth = |r: &Recording| {
        let rows = r.rows.iter().map(|row| row.layer).max().unwrap_or(0);
        r.layers.len().max(rows)
    };
    let layers = depth(a.rec).max(depth(b.rec));
    let mut lines = Vec::new();
    for layer in 1..=layers {
        for (run, name, dash) in [(a, "A", Dash::Solid), (b, "B", Dash::Dashed)] {
            let pts = points(
                run.rec.layer_rows(layer).map(|r| (r.step, r.grad_w_norm)),
                left_out,
            );
            if pts.iter().any(|p| p.1.is_finite()) {
                lines.push(Line {
                    label: format!("{name} layer {layer}"),
                    color: layer_color(layer),
                    dash,
                    points: pts,
                });
            }
        }
    }
    Panel {
        title: "Weight-gradient L2 norm per layer: A solid, B dashed".into(),
        y_desc: "||dL/dW|| (log scale)".into(),
        lines,
    }
}

/// The x range of every line, padded like the report's plots.
fn x_range(panels: &[Panel]) -> Range<f64> {
    let xs = panels
        .iter()
        .flat_map(|p| p.lines.iter().flat_map(|l| l.points.iter().map(|p| p.0)));
    match crate::report::plots::series::bounds(xs) {
        None => 0.0..1.0,
        Some((lo, hi)) if hi - lo < 1.0 => (lo - 1.0)..(hi + 1.0),
        Some((lo, hi)) => {
            let pad = (hi - lo) * 0.02;
            (lo - pad)..(hi + pad)
        }
    }
}

/// Image size for `panels` panels.
fn size(panels: usize) -> (u32, u32) {
    let n = u32::try_from(panels.max(1)).unwrap_or(u32::MAX);
    (
        PLOT_SIZE.0,
        PLOT_SIZE
            .1
            .max(PANEL_HEIGHT.saturating_mul(n).saturating_add(50)),
    )
}

/// Draws `panels` stacked under `title`, with one legend column beside them.
fn draw(area: &Area, title: &str, note: &str, panels: &[Panel]) -> DrawResult<Drawn> {
    let body = area.titled(title, (FONT, 22))?;
    let (column, legend_area) = legend::split(&body);
    let mut drawn = Drawn {
        legend_left: legend_area.get_base_pixel().0,
        ..Drawn::default()
    };
    let x = x_range(panels);
    let mut legend = Legend::default();
    let areas = column.split_evenly((panels.len().max(1), 1));
    for (panel, chart_area) in panels.iter().zip(&areas) {
        let values: Vec<f64> = panel
            .lines
            .iter()
            .flat_map(|l| l.points.iter().map(|p| p.1))
            .collect();
        let axis = LogAxis::new(&values, &[]);
        let axes = Axes {
            title: &panel.title,
            y_desc: &panel.y_desc,
            x: x.clone(),
            y: axis.range.clone(),
            ticks: Ticks::log(&axis),
        };
        let mut chart = build_chart(chart_area, &axes)?;
        draw_zero_row(&mut chart, &axis, &mut legend)?;
        for line in &panel.lines {
            let style = line.color.stroke_width(2);
            draw_segments(
                chart.plotting_area(),
                &axis.segments(&line.points),
                style,
                line.dash,
            )?;
            legend.add(line.label.clone(), Swatch::Line(style, line.dash));
        }
        drawn.data_right = drawn
            .data_right
            .max(chart.plotting_area().get_pixel_range().0.end);
        drawn.panels.push(DrawnPanel {
            title: panel.title.clone(),
            y_desc: panel.y_desc.clone(),
            y_ticks: y_tick_labels(&chart, &axes.ticks),
            x_ticks: x_tick_labels(&chart),
        });
    }
    if !note.is_empty() {
        legend.add(note, Swatch::Band(WHITE));
    }
    legend.draw(&legend_area)?;
    drawn.legend = legend.labels();
    Ok(drawn)
}

/// Draws one figure into `path`.
fn figure(path: &Path, title: &str, note: &str, panels: &[Panel]) -> Result<PathBuf, PlotError> {
    let root = BitMapBackend::new(path, size(panels.len())).into_drawing_area();
    root.fill(&WHITE)
        .and_then(|_| draw(&root, title, note, panels).map(drop))
        .and_then(|_| root.present())
        .map_err(|e| PlotError::Draw {
            file: path.display().to_string(),
            message: e.to_string(),
        })?;
    Ok(path.to_path_buf())
}

fn left_out_note(n: usize) -> String {
    if n == 0 {
        String::new()
    } else {
        format!("{n} negative or non-finite values left out")
    }
}

/// Writes loss.png and gradient_norms.png into `dir` (created if needed).
pub fn write(dir: &Path, a: &Run, b: &Run) -> Result<Vec<PathBuf>, PlotError> {
    if !ensure_font() {
        return Err(PlotError::Font);
    }
    std::fs::create_dir_all(dir).map_err(|e| PlotError::Draw {
        file: dir.display().to_string(),
        message: e.to_string(),
    })?;
    let mut dropped = 0;
    let panels = loss_panels(a, b, &mut dropped);
    let loss = figure(
        &dir.join("loss.png"),
        "Loss: run A and run B",
        &left_out_note(dropped),
        &panels,
    )?;
    let mut dropped = 0;
    let grads = [gradient_panel(a, b, &mut dropped)];
    let grads = figure(
        &dir.join("gradient_norms.png"),
        "Weight-gradient norms: run A and run B",
        &left_out_note(dropped),
        &grads,
    )?;
    Ok(vec![loss, grads])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::record::{LayerRow, StepRow};

    /// A run whose loss goes from `start` to `end` (geometric), with two
    /// layers' gradient norms around 1e-2 and 1.
    fn run(steps: usize, start: f64, end: f64) -> Recording {
        let mut rec = Recording::default();
        for s in 0..steps {
            let t = s as f64 / (steps.max(2) - 1) as f64;
            rec.steps.push(StepRow {
                step: s,
                loss: start * (end / start).powf(t),
                batch_accuracy: 0.5,
                test_loss: None,
                test_accuracy: None,
            });
            for layer in 1..=2 {
                rec.rows.push(LayerRow {
                    step: s,
                    layer,
                    act_min: 0.0,
                    act_max: 1.0,
                    act_mean: 0.5,
                    act_std: 0.1,
                    pre_min: -1.0,
                    pre_max: 1.0,
                    pre_mean_abs: 0.5,
                    saturated_frac: None,
                    dead_frac: None,
                    grad_w_norm: if layer == 1 { 1e-2 } else { 1.0 },
                    grad_b_norm: 0.0,
                    weight_norm: 1.0,
                    update_ratio: 1e-3,
                    nonfinite: 0,
                });
            }
        }
        rec
    }

    fn drawn(title: &str, panels: &[Panel]) -> Drawn {
        assert!(ensure_font());
        let (w, h) = size(panels.len());
        let mut buf = vec![0u8; (w * h * 3) as usize];
        let area = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        area.fill(&WHITE).unwrap();
        draw(&area, title, "", panels).unwrap()
    }

    #[test]
    fn different_loss_functions_get_an_axis_each() {
        // Issue (new user): compare put an MSE run and a cross-entropy run
        // on one "log10 loss" axis, as if the numbers were comparable.
        let (ra, rb) = (run(50, 0.5, 0.05), run(50, 2.3, 0.3));
        let a = Run {
            rec: &ra,
            loss: "MSE".into(),
        };
        let b = Run {
            rec: &rb,
            loss: "cross-entropy".into(),
        };
        let d = drawn("loss", &loss_panels(&a, &b, &mut 0));
        let descs: Vec<&str> = d.panels.iter().map(|p| p.y_desc.as_str()).collect();
        assert_eq!(descs, ["MSE (log scale)", "cross-entropy (log scale)"]);
        assert_eq!(d.panels[1].title, "Run B: cross-entropy loss");
        // The same function: one shared axis.
        let b = Run {
            rec: &rb,
            loss: "MSE".into(),
        };
        assert_eq!(drawn("loss", &loss_panels(&a, &b, &mut 0)).panels.len(), 1);
    }

    #[test]
    fn legend_is_beside_the_data_and_ticks_never_read_minus_zero() {
        // Issue: the legend box sat in the upper right of the data area,
        // over the curves, and plotters' default labels read "-0.0".
        // Losses near 1 put the axis across log10 = 0, where "-0.0" was.
        let (ra, rb) = (run(40, 3.0, 0.3), run(40, 2.0, 0.8));
        let (a, b) = (
            Run {
                rec: &ra,
                loss: "MSE".into(),
            },
            Run {
                rec: &rb,
                loss: "MSE".into(),
            },
        );
        for panels in [
            loss_panels(&a, &b, &mut 0),
            vec![gradient_panel(&a, &b, &mut 0)],
        ] {
            let d = drawn("t", &panels);
            assert!(
                d.legend_left >= d.data_right,
                "legend at x={} overlaps data ending at x={}",
                d.legend_left,
                d.data_right
            );
            assert!(!d.legend.is_empty());
            for p in &d.panels {
                assert!(p.y_ticks.len() >= 2, "{p:?}");
                for t in p.y_ticks.iter().chain(&p.x_ticks) {
                    assert!(!t.starts_with("-0"), "tick label {t:?} in {p:?}");
                    assert!(!t.contains(".0e") && t != "0.0", "{t:?}");
                }
                assert!(p.y_ticks.iter().any(|t| t == "1"), "{p:?}");
            }
        }
    }

    #[test]
    fn writes_both_files() {
        let (ra, rb) = (run(10, 1.0, 0.1), run(10, 1.0, f64::NAN));
        let dir = tempfile::tempdir().unwrap();
        let a = Run {
            rec: &ra,
            loss: "MSE".into(),
        };
        let b = Run {
            rec: &rb,
            loss: "cross-entropy".into(),
        };
        let files = write(dir.path(), &a, &b).unwrap();
        assert_eq!(files.len(), 2);
        assert!(files.iter().all(|f| f.exists()));
    }
}
