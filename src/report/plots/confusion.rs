//! confusion.png: the final confusion matrix as a grid, rows = true class,
//! columns = predicted class, each cell shaded by its share of the row (so
//! a small class is as visible as a large one) and labelled with its count.
//! A column that collects every row is a network predicting one class.

use super::font::FONT;
use super::PlotError;
use crate::monitor::confusion::Confusion;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::{Path, PathBuf};

/// Image size: square cells need a square grid.
pub const SIZE: (u32, u32) = (800, 800);

/// Cells are labelled with counts up to this many classes.
const LABELLED: usize = 20;

/// Writes confusion.png to `path`.
pub fn write(c: &Confusion, path: &Path) -> Result<PathBuf, PlotError> {
    if !super::font::ensure_font() {
        return Err(PlotError::Font);
    }
    super::render(path, SIZE, |root| draw(root, c))
}

fn draw(root: &super::chart::Area, c: &Confusion) -> super::chart::DrawResult<()> {
    let n = c.matrix.len().max(1);
    let (w, h) = (SIZE.0 as i32, SIZE.1 as i32);
    let (left, top, right, bottom) = (90, 80, 30, 90);
    let cell = ((w - left - right).min(h - top - bottom) / n as i32).max(1);
    let title = TextStyle::from((FONT, 22).into_font()).pos(Pos::new(HPos::Center, VPos::Top));
    let accuracy: usize = (0..c.matrix.len())
        .map(|i| c.matrix[i].get(i).copied().unwrap_or(0))
        .sum();
    let total: usize = c.matrix.iter().flatten().sum();
    root.draw(&Text::new(
        format!(
            "Confusion matrix ({} set: accuracy {:.3}, chance {:.3})",
            c.set,
            accuracy as f64 / total.max(1) as f64,
            c.chance_accuracy
        ),
        (w / 2, 15),
        title,
    ))?;
    let label = TextStyle::from((FONT, 16).into_font()).pos(Pos::new(HPos::Center, VPos::Center));
    let small = TextStyle::from((FONT, 13).into_font()).pos(Pos::new(HPos::Center, VPos::Center));
    root.draw(&Text::new(
        "predicted class",
        (left + cell * n as i32 / 2, top + cell * n as i32 + 55),
        label.clone(),
    ))?;
    root.draw(&Text::new(
        "true class",
        (30, top + cell * n as i32 / 2),
        label.transform(FontTransform::Rotate270),
    ))?;
    for (i, row) in c.matrix.iter().enumerate() {
        let row_total: usize = row.iter().sum();
        let y = top + i as i32 * cell;
        root.draw(&Text::new(
            i.to_string(),
            (left - 15, y + cell / 2),
            small.clone(),
        ))?;
        for (j, &count) in row.iter().enumerate() {
            let x = left + j as i32 * cell;
            let share = count as f64 / row_total.max(1) as f64;
            // White (0) to dark blue (the whole row); the diagonal in green
            // tones so correct predictions read apart from confusions.
            let shade = |full: u8| (255.0 - share * (255.0 - f64::from(full))) as u8;
            let color = if i == j {
                RGBColor(shade(30), shade(140), shade(60))
            } else {
                RGBColor(shade(40), shade(70), shade(170))
            };
            root.draw(&Rectangle::new(
                [(x, y), (x + cell, y + cell)],
                color.filled(),
            ))?;
            root.draw(&Rectangle::new(
                [(x, y), (x + cell, y + cell)],
                RGBColor(200, 200, 200).stroke_width(1),
            ))?;
            if n <= LABELLED {
                let ink = if share > 0.5 { WHITE } else { BLACK };
                root.draw(&Text::new(
                    count.to_string(),
                    (x + cell / 2, y + cell / 2),
                    small.clone().color(&ink),
                ))?;
            }
        }
    }
    for j in 0..c.matrix.len() {
        root.draw(&Text::new(
            j.to_string(),
            (
                left + j as i32 * cell + cell / 2,
                top + n as i32 * cell + 15,
            ),
            small.clone(),
        ))?;
    }
    Ok(())
}
