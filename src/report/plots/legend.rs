//! Legends: entries declared apart from the (segmented) data, and a placement
//! that puts the box in the corner with the least data under it, so the
//! legend never hides the curve that shows the problem.

use super::chart::{Chart, Dash, DrawResult};
use super::font::FONT;
use super::series::{Point, Segment};
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use std::ops::Range;

/// What a legend entry shows next to its label.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Swatch {
    Line(ShapeStyle, Dash),
    LineWithMarker(ShapeStyle),
    Band(RGBColor),
}

/// Adds a legend entry without data: lines are drawn segment by segment, so
/// the legend is declared once on an empty series instead.
pub(crate) fn legend_entry<'a, 'b: 'a>(
    chart: &mut Chart<'a, 'b>,
    label: &str,
    swatch: Swatch,
) -> DrawResult<()> {
    let anno = chart.draw_series(std::iter::empty::<PathElement<Point>>())?;
    anno.label(label);
    match swatch {
        Swatch::Line(style, Dash::Solid) => {
            anno.legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 22, y)], style))
        }
        Swatch::Line(style, Dash::Dashed) => anno
            .legend(move |(x, y)| DashedPathElement::new(vec![(x, y), (x + 22, y)], 5, 3, style)),
        Swatch::LineWithMarker(style) => anno.legend(move |(x, y)| {
            EmptyElement::at((x, y))
                + PathElement::new(vec![(0, 0), (22, 0)], style)
                + Circle::new((11, 0), 4, style.color.filled())
        }),
        Swatch::Band(color) => anno.legend(move |(x, y)| {
            Rectangle::new([(x, y - 5), (x + 22, y + 5)], color.mix(0.3).filled())
        }),
    };
    Ok(())
}

/// Draws the legend box at `position`.
pub(crate) fn draw_legend<'a, 'b: 'a>(
    chart: &mut Chart<'a, 'b>,
    position: SeriesLabelPosition,
) -> DrawResult<()> {
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(160, 160, 160))
        .label_font((FONT, 14))
        .draw()
}

/// Candidate legend places, in order of preference, with the region of the
/// plot (x and y as fractions of the data area) each one covers.
const CORNERS: [(SeriesLabelPosition, Range<f64>, Range<f64>); 5] = [
    (SeriesLabelPosition::UpperRight, 0.65..1.01, 0.68..1.01),
    (SeriesLabelPosition::LowerRight, 0.65..1.01, -0.01..0.32),
    (SeriesLabelPosition::UpperLeft, -0.01..0.35, 0.68..1.01),
    (SeriesLabelPosition::LowerLeft, -0.01..0.35, -0.01..0.32),
    (SeriesLabelPosition::MiddleRight, 0.65..1.01, 0.34..0.66),
];

/// Weight of a drawn label: it must never be covered, so it outweighs data.
const LABEL_WEIGHT: usize = 1_000_000;

/// How much is drawn in each legend corner of one chart.
pub(crate) struct Occupancy {
    x: Range<f64>,
    y: Range<f64>,
    /// Pixel size of the data area, to place text boxes.
    pixels: (u32, u32),
    counts: [usize; CORNERS.len()],
}

impl Occupancy {
    /// An empty tally for `chart`'s primary axes.
    pub(crate) fn new(chart: &Chart) -> Self {
        Self {
            x: chart.x_range(),
            y: chart.y_range(),
            pixels: chart.plotting_area().dim_in_pixel(),
            counts: [0; CORNERS.len()],
        }
    }

    /// Where `x` sits across the data area, 0 = left edge, 1 = right edge.
    pub(crate) fn x_fraction(&self, x: f64) -> f64 {
        fraction(x, &self.x)
    }

    /// Counts the points of `segments`, whose y values are in `y_range`
    /// (a secondary axis passes its own range).
    pub(crate) fn add_segments(&mut self, segments: &[Segment], y_range: &Range<f64>) {
        for &(x, y) in segments.iter().flatten() {
            self.add_fraction(fraction(x, &self.x), fraction(y, y_range), 1);
        }
    }

    /// Counts points given in primary-axis units.
    pub(crate) fn add_points(&mut self, points: impl IntoIterator<Item = Point>) {
        for (x, y) in points {
            self.add_fraction(fraction(x, &self.x), fraction(y, &self.y), 1);
        }
    }

    /// Marks the box of a label hanging from the top of the plot at `x`,
    /// extending left or right by its pixel width.
    pub(crate) fn add_label_box(&mut self, x: f64, (w, h): (u32, u32), to_left: bool) {
        let fx = fraction(x, &self.x);
        let fw = f64::from(w) / f64::from(self.pixels.0.max(1));
        let fh = f64::from(h + 5) / f64::from(self.pixels.1.max(1));
        let (left, right) = if to_left {
            (fx - fw, fx)
        } else {
            (fx, fx + fw)
        };
        for fx in [left, (left + right) / 2.0, right] {
            for fy in [1.0, 1.0 - fh] {
                self.add_fraction(fx, fy, LABEL_WEIGHT);
            }
        }
    }

    /// Marks a vertical marker line at `x`: the legend shouldn't hide it either.
    pub(crate) fn add_vertical_line(&mut self, x: f64) {
        let fx = fraction(x, &self.x);
        for i in 0..=10 {
            self.add_fraction(fx, f64::from(i) / 10.0, LABEL_WEIGHT);
        }
    }

    fn add_fraction(&mut self, fx: f64, fy: f64, weight: usize) {
        for (count, (_, xs, ys)) in self.counts.iter_mut().zip(CORNERS.iter()) {
            if xs.contains(&fx) && ys.contains(&fy) {
                *count = count.saturating_add(weight);
            }
        }
    }

    /// The emptiest corner; ties go to the earlier (conventional) one.
    pub(crate) fn best(&self) -> SeriesLabelPosition {
        let mut best = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            if c < self.counts[best] {
                best = i;
            }
        }
        CORNERS[best].0.clone()
    }
}

/// Position of `v` within `range` as a fraction (0 at start, 1 at end).
fn fraction(v: f64, range: &Range<f64>) -> f64 {
    let span = range.end - range.start;
    if span > 0.0 && span.is_finite() {
        (v - range.start) / span
    } else {
        0.5
    }
}
