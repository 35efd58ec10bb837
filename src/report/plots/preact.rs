//! pre_activations.png: per layer, the mean and the largest |z| (z = xW + b)
//! on a log axis, with the |z| beyond which the activation is saturated.
//! A sigmoid layer whose outputs look like a calm 0..1 band can have mean
//! |z| = 54 — nine times the bound: this plot is where saturation is seen.

use super::activations::draw_empty_panel;
use super::chart::{
    build_chart, draw_guide, draw_note, draw_segments, draw_step_marks, draw_zero_row, Area, Axes,
    Dash, DrawResult, Ticks,
};
use super::font::FONT;
use super::legend::{self, Legend, Swatch};
use super::series::{format_number, LogAxis};
use super::{LayerSeries, PlotData};
use crate::engine::activation::{Activation, SIGMOID_SATURATION_Z, TANH_SATURATION_Z};
use plotters::style::{Color, WHITE};

const FILE: &str = "pre_activations.png";

/// The |z| beyond which an activation's slope is below 1% of its maximum
/// (the saturation rule of engine::activation), if it has such a bound.
fn saturation_bound(a: Option<Activation>) -> Option<f64> {
    match a? {
        Activation::Sigmoid => Some(SIGMOID_SATURATION_Z),
        Activation::Tanh => Some(TANH_SATURATION_Z),
        _ => None,
    }
}

/// The layers drawn: those with a pre-activation of their own (see
/// [`LayerSeries::has_pre_activation`]).
pub(super) fn layers<'d, 'r>(data: &'d PlotData<'r>) -> Vec<&'d LayerSeries<'r>> {
    data.layers
        .iter()
        .filter(|l| l.has_pre_activation())
        .collect()
}

/// Draws pre_activations.png onto `area`: one panel per layer; returns the
/// panel titles.
pub(super) fn draw(area: &Area, data: &PlotData) -> DrawResult<Vec<String>> {
    let body = area.titled("Pre-activation magnitude |z| per layer", (FONT, 26))?;
    let layers = layers(data);
    if layers.is_empty() {
        draw_empty_panel(&body, data, FILE, "|z|")?;
        return Ok(Vec::new());
    }
    let panels = body.split_evenly((layers.len(), 1));
    let mut titles = Vec::new();
    for (panel, layer) in panels.iter().zip(layers) {
        titles.push(draw_panel(panel, layer, data)?);
    }
    Ok(titles)
}

fn draw_panel(area: &Area, layer: &LayerSeries, data: &PlotData) -> DrawResult<String> {
    let mean = layer.points(|r| r.pre_mean_abs);
    let max = layer.points(|r| r.pre_min.abs().max(r.pre_max.abs()));
    let bound = saturation_bound(layer.activation);
    let values: Vec<f64> = mean.iter().chain(&max).map(|p| p.1).collect();
    let guides: Vec<f64> = bound.iter().map(|b| b.log10()).collect();
    let axis = LogAxis::new(&values, &guides);
    let (chart_area, legend_area) = legend::split(area);
    let title = format!("{}: |pre-activation|", layer.label());
    let axes = Axes {
        title: &title,
        y_desc: "|z| (log scale)",
        x: data.x.clone(),
        y: axis.range.clone(),
        ticks: Ticks::log(&axis),
    };
    let mut chart = build_chart(&chart_area, &axes)?;
    let mut legend = Legend::default();
    match (bound, layer.activation) {
        (Some(b), Some(a)) => {
            let label = format!(
                "saturated beyond |z| = {} ({a} slope < 1% of max)",
                format_number(b)
            );
            draw_guide(&mut chart, b.log10(), &label, &mut legend)?;
        }
        (None, Some(Activation::Softmax)) => legend.add(
            "softmax: saturation depends on the logits' spread (see saturation.png)",
            Swatch::Band(WHITE),
        ),
        _ => {}
    }
    draw_zero_row(&mut chart, &axis, &mut legend)?;
    let color = layer.color();
    let mean_style = color.stroke_width(2);
    let max_style = color.mix(0.8).stroke_width(1);
    let mean_segs = axis.segments(&mean);
    let max_segs = axis.segments(&max);
    draw_segments(chart.plotting_area(), &max_segs, max_style, Dash::Dashed)?;
    draw_segments(chart.plotting_area(), &mean_segs, mean_style, Dash::Solid)?;
    legend.add("mean |z|", Swatch::Line(mean_style, Dash::Solid));
    legend.add("max |z|", Swatch::Line(max_style, Dash::Dashed));
    let marks = data.step_marks(FILE, Some(layer.layer));
    draw_step_marks(&mut chart, &marks, &mut legend)?;
    if layer.rows.is_empty() {
        draw_note(&chart, "no data recorded")?;
    } else if mean_segs.is_empty() && max_segs.is_empty() {
        draw_note(&chart, "no finite values")?;
    }
    legend.draw(&legend_area)?;
    Ok(title)
}
