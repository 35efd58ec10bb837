//! The embedded font: registers DejaVu Sans with plotters once per process,
//! because the tool runs on machines (CI boxes, containers) that have no
//! system fonts, where any text would otherwise fail to render.

use std::sync::OnceLock;

/// The family name every text element uses; it resolves to the embedded font.
pub(crate) const FONT: &str = "sans-serif";

/// Registers the embedded font under [`FONT`] the first time it is called.
///
/// Returns false when the font bytes were rejected, which leaves plotters
/// unable to draw any text.
pub(crate) fn ensure_font() -> bool {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    *REGISTERED.get_or_init(|| {
        plotters::style::register_font(
            FONT,
            plotters::style::FontStyle::Normal,
            dejavu::sans::regular(),
        )
        .is_ok()
    })
}
