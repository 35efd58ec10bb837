//! activations.png: one panel per layer, stacked, each showing the act_min ..
//! act_max band and the act_mean line — where saturation (pinned at 0/1),
//! dying units and blow-ups are seen directly.

use super::chart::{
    build_chart, draw_nonfinite_marker, draw_note, draw_segments, Area, Axes, Dash, DrawResult,
    Plot,
};
use super::font::FONT;
use super::legend::{draw_legend, legend_entry, Occupancy, Swatch};
use super::series::{band_segments, bounds, line_segments, segment_values, BandPoint, Scale};
use super::{LayerSeries, PlotData, PLOT_SIZE};
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

/// Draws activations.png onto `area`.
pub(super) fn draw(area: &Area, data: &PlotData) -> DrawResult<()> {
    let body = area.titled("Activations per layer", (FONT, 26))?;
    if data.layers.is_empty() {
        return draw_empty_panel(&body, data);
    }
    let panels = body.split_evenly((data.layers.len(), 1));
    for (panel, layer) in panels.iter().zip(&data.layers) {
        draw_panel(panel, layer, data)?;
    }
    Ok(())
}

/// The placeholder panel of a recording without layers.
fn draw_empty_panel(area: &Area, data: &PlotData) -> DrawResult<()> {
    let axes = Axes {
        title: "activation range",
        y_desc: "activation",
        x: data.x.clone(),
        y: 0.0..1.0,
        scale: Scale::Linear,
    };
    let mut chart = build_chart(area, &axes)?;
    draw_note(&chart, "no data recorded")?;
    let mut occupancy = Occupancy::new(&chart);
    draw_nonfinite_marker(&mut chart, data.nonfinite, &mut occupancy)?;
    if data.nonfinite.is_some() {
        draw_legend(&mut chart, occupancy.best())?;
    }
    Ok(())
}

/// One layer's band and mean line.
fn draw_panel(area: &Area, layer: &LayerSeries, data: &PlotData) -> DrawResult<()> {
    let band_raw: Vec<BandPoint> = layer
        .rows
        .iter()
        .map(|r| (r.step as f64, r.act_min, r.act_max))
        .collect();
    let band = band_segments(&band_raw);
    let mean = line_segments(&layer.points(|r| r.act_mean), Scale::Linear);
    let band_values = band.iter().flatten().flat_map(|p| [p.1, p.2]);
    let y = Scale::Linear.range(bounds(band_values.chain(segment_values(&mean))));
    let title = format!("{}: activation range", layer.label());
    let axes = Axes {
        title: &title,
        y_desc: "activation",
        x: data.x.clone(),
        y,
        scale: Scale::Linear,
    };
    let mut chart = build_chart(area, &axes)?;
    let mut occupancy = Occupancy::new(&chart);
    draw_nonfinite_marker(&mut chart, data.nonfinite, &mut occupancy)?;
    occupancy.add_points(
        band.iter()
            .flatten()
            .flat_map(|&(x, lo, hi)| [(x, lo), (x, (lo + hi) / 2.0), (x, hi)]),
    );
    let color = layer.color();
    for seg in &band {
        draw_band(chart.plotting_area(), seg, color)?;
    }
    legend_entry(&mut chart, "min .. max", Swatch::Band(color))?;
    let style = color.stroke_width(2);
    draw_segments(chart.plotting_area(), &mean, style, Dash::Solid)?;
    occupancy.add_points(mean.iter().flatten().copied());
    legend_entry(&mut chart, "mean", Swatch::Line(style, Dash::Solid))?;
    if layer.rows.is_empty() {
        draw_note(&chart, "no data recorded")?;
    } else if band.is_empty() && mean.is_empty() {
        draw_note(&chart, "no finite values")?;
    }
    draw_legend(&mut chart, occupancy.best())
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
