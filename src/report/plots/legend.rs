//! Legends: entries are collected while a chart is drawn and then set in a
//! column to the right of the data area, so a legend never covers the curve
//! that shows the problem (a spike, a marker line, a collapsed layer).

use super::chart::{Area, Dash, DrawResult};
use super::font::FONT;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// Width of the legend column beside every chart.
pub(crate) const LEGEND_WIDTH: u32 = 250;
/// Vertical distance between entries.
const ROW: i32 = 20;
/// Longest label in characters before it is wrapped onto a second line.
const WRAP: usize = 30;

/// What a legend entry shows next to its label.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Swatch {
    Line(ShapeStyle, Dash),
    LineWithMarker(ShapeStyle),
    Band(RGBColor),
}

/// The entries of one chart's legend, in drawing order.
#[derive(Default)]
pub(crate) struct Legend {
    entries: Vec<(String, Swatch)>,
}

impl Legend {
    pub(crate) fn add(&mut self, label: impl Into<String>, swatch: Swatch) {
        let label = label.into();
        if !self.entries.iter().any(|(l, _)| *l == label) {
            self.entries.push((label, swatch));
        }
    }

    /// The entries' labels, in order.
    pub(crate) fn labels(&self) -> Vec<String> {
        self.entries.iter().map(|(l, _)| l.clone()).collect()
    }

    /// Draws the entries top-down into `area` (the legend column), starting
    /// level with the top of the data area below the caption.
    pub(crate) fn draw(&self, area: &Area) -> DrawResult<()> {
        let style = TextStyle::from((FONT, 14).into_font())
            .color(&BLACK)
            .pos(Pos::new(HPos::Left, VPos::Center));
        let mut y = 52;
        for (label, swatch) in &self.entries {
            draw_swatch(area, (6, y), *swatch)?;
            for line in wrap(label) {
                area.draw(&Text::new(line, (36, y), style.clone()))?;
                y += ROW - 3;
            }
            y += 3;
        }
        Ok(())
    }
}

/// Splits a long label at spaces into lines of at most [`WRAP`] characters.
fn wrap(label: &str) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for word in label.split(' ') {
        match lines.last_mut() {
            Some(l) if l.chars().count() + 1 + word.chars().count() <= WRAP => {
                l.push(' ');
                l.push_str(word);
            }
            _ => lines.push(word.to_string()),
        }
    }
    lines
}

fn draw_swatch(area: &Area, (x, y): (i32, i32), swatch: Swatch) -> DrawResult<()> {
    match swatch {
        Swatch::Line(style, Dash::Solid) => {
            area.draw(&PathElement::new(vec![(x, y), (x + 24, y)], style))
        }
        Swatch::Line(style, Dash::Dashed) => area.draw(&DashedPathElement::new(
            vec![(x, y), (x + 24, y)],
            5,
            3,
            style,
        )),
        Swatch::LineWithMarker(style) => {
            area.draw(&PathElement::new(vec![(x, y), (x + 24, y)], style))?;
            area.draw(&Circle::new((x + 12, y), 4, style.color.filled()))
        }
        Swatch::Band(color) => area.draw(&Rectangle::new(
            [(x, y - 5), (x + 24, y + 5)],
            color.mix(0.3).filled(),
        )),
    }
}

/// Splits an image (or panel) into the chart area and the legend column.
pub(crate) fn split<'b>(area: &Area<'b>) -> (Area<'b>, Area<'b>) {
    let (w, _) = area.dim_in_pixel();
    let chart_w = w.saturating_sub(LEGEND_WIDTH).max(w / 2);
    area.split_horizontally(chart_w)
}

#[cfg(test)]
mod tests {
    #[test]
    fn long_labels_wrap_at_spaces() {
        let lines = super::wrap("saturated-activations L1 first seen (step 1)");
        assert!(lines.iter().all(|l| l.chars().count() <= super::WRAP));
        assert_eq!(
            lines.join(" "),
            "saturated-activations L1 first seen (step 1)"
        );
    }
}
