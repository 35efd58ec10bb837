//! Overlay plots of two runs: the loss and each layer's weight-gradient
//! norm, run A solid and run B dashed, on log10 axes (zeros and non-finite
//! values are left out and counted in the title).

use crate::monitor::record::Recording;
use crate::report::plots::font::{ensure_font, FONT};
use crate::report::plots::{layer_color, PlotError};
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

type Points = Vec<(f64, f64)>;

/// log10 of the positive finite values; the number left out.
fn log_points(pts: impl Iterator<Item = (usize, f64)>) -> (Points, usize) {
    let mut out = Vec::new();
    let mut dropped = 0;
    for (s, v) in pts {
        if v.is_finite() && v > 0.0 {
            out.push((s as f64, v.log10()));
        } else {
            dropped += 1;
        }
    }
    (out, dropped)
}

/// One chart with the A and B series of each panel entry.
fn chart(
    path: &Path,
    title: &str,
    y_desc: &str,
    series: &[(String, Points, Points)],
) -> Result<PathBuf, PlotError> {
    let draw_err = |e: String| PlotError::Draw {
        file: path.display().to_string(),
        message: e,
    };
    let all = series.iter().flat_map(|(_, a, b)| a.iter().chain(b.iter()));
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in all {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if x0 > x1 {
        (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
    }
    let (x1, y1) = (x1.max(x0 + 1.0), y1.max(y0 + 0.1));
    let pad = (y1 - y0) * 0.05;
    let root = BitMapBackend::new(path, (1000, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| draw_err(e.to_string()))?;
    let mut c = ChartBuilder::on(&root)
        .caption(title, (FONT, 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        // Headroom above the data for the legend.
        .build_cartesian_2d(x0..x1, (y0 - pad)..(y1 + 6.0 * pad))
        .map_err(|e| draw_err(e.to_string()))?;
    c.configure_mesh()
        .x_desc("step")
        .y_desc(y_desc)
        .label_style((FONT, 14))
        .draw()
        .map_err(|e| draw_err(e.to_string()))?;
    for (i, (label, a, b)) in series.iter().enumerate() {
        // One series (the loss): two colours; per layer: the layer's colour.
        let ca = layer_color(i + 1);
        let cb = if series.len() == 1 {
            layer_color(2)
        } else {
            ca
        };
        c.draw_series(LineSeries::new(a.clone(), ca.stroke_width(2)))
            .map_err(|e| draw_err(e.to_string()))?
            .label(format!("A {label}"))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], ca.stroke_width(2)));
        c.draw_series(std::iter::once(DashedPathElement::new(
            b.clone(),
            6,
            4,
            cb.stroke_width(2),
        )))
        .map_err(|e| draw_err(e.to_string()))?
        .label(format!("B {label} (dashed)"))
        .legend(move |(x, y)| {
            DashedPathElement::new(vec![(x, y), (x + 20, y)], 5, 3, cb.stroke_width(2))
        });
    }
    c.configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font((FONT, 14))
        .draw()
        .map_err(|e| draw_err(e.to_string()))?;
    root.present().map_err(|e| draw_err(e.to_string()))?;
    Ok(path.to_path_buf())
}

/// Writes loss.png and gradient_norms.png into `dir` (created if needed).
pub fn write(dir: &Path, a: &Recording, b: &Recording) -> Result<Vec<PathBuf>, PlotError> {
    if !ensure_font() {
        return Err(PlotError::Font);
    }
    std::fs::create_dir_all(dir).map_err(|e| PlotError::Draw {
        file: dir.display().to_string(),
        message: e.to_string(),
    })?;
    let (la, da) = log_points(a.steps.iter().map(|s| (s.step, s.loss)));
    let (lb, db) = log_points(b.steps.iter().map(|s| (s.step, s.loss)));
    let loss_title = format!(
        "Loss: A solid, B dashed (each in its own loss function; {} non-positive or non-finite values left out)",
        da + db
    );
    let loss = chart(
        &dir.join("loss.png"),
        &loss_title,
        "log10 loss",
        &[("loss".into(), la, lb)],
    )?;
    let layers = a.layers.len().max(b.layers.len());
    let mut series = Vec::new();
    let mut dropped = 0;
    for layer in 1..=layers {
        let (pa, d1) = log_points(a.layer_rows(layer).map(|r| (r.step, r.grad_w_norm)));
        let (pb, d2) = log_points(b.layer_rows(layer).map(|r| (r.step, r.grad_w_norm)));
        dropped += d1 + d2;
        series.push((format!("layer {layer}"), pa, pb));
    }
    let title = format!(
        "Weight-gradient L2 norm per layer: A solid, B dashed ({dropped} zero or non-finite values left out)"
    );
    let grads = chart(
        &dir.join("gradient_norms.png"),
        &title,
        "log10 ||dL/dW||",
        &series,
    )?;
    Ok(vec![loss, grads])
}
