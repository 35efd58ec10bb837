//! Turns recorded numbers into drawable polylines and axis ranges:
//! downsampling that keeps spikes, breaks at non-finite values, the log
//! transform and range clamping. The chart code downstream never sees a NaN,
//! an infinity or a point outside its axes, so broken runs still plot.

use std::ops::Range;

/// Most points drawn per series; more would only cost time, not detail.
pub(crate) const MAX_POINTS: usize = 2000;
/// Largest magnitude kept on a linear axis: beyond it, padding the range could
/// overflow to infinity.
const LINEAR_LIMIT: f64 = 1e306;
/// Widest log axis in decades; data spanning more is clipped at the bottom so
/// a single 1e-300 doesn't flatten everything else into one line.
const MAX_DECADES: f64 = 320.0;

/// (step, value) in axis units.
pub(crate) type Point = (f64, f64);
/// A run of consecutive finite points, drawn as one unbroken line.
pub(crate) type Segment = Vec<Point>;
/// (step, low, high) of a shaded band.
pub(crate) type BandPoint = (f64, f64, f64);

/// How values map onto the y axis. Log axes are drawn as a linear axis over
/// log10(value), which keeps full control over ranges that plotters' own log
/// coordinates handle poorly (hundreds of decades, zeros).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Scale {
    Linear,
    Log,
    /// Signed values spanning decades: linear within ±c, then one axis unit
    /// per decade (axis 1 = c, 2 = 10c, -3 = -100c), so both a 0..1 start and
    /// a 1e37 blow-up stay readable.
    SymLog {
        c: f64,
    },
}

impl Scale {
    /// The axis coordinate of a value, or NaN where the value can't be shown.
    pub(crate) fn to_axis(self, v: f64) -> f64 {
        match self {
            Scale::Linear if v.is_finite() => v.clamp(-LINEAR_LIMIT, LINEAR_LIMIT),
            Scale::Log if v.is_finite() && v > 0.0 => v.log10(),
            Scale::SymLog { c } if v.is_finite() => {
                let r = v.abs() / c;
                if r <= 1.0 {
                    v / c
                } else {
                    v.signum() * (1.0 + r.log10())
                }
            }
            _ => f64::NAN,
        }
    }

    /// The value at axis coordinate `u` (the inverse of [`Scale::to_axis`]).
    pub(crate) fn value_at(self, u: f64) -> f64 {
        match self {
            Scale::Linear => u,
            Scale::Log => 10f64.powf(u),
            Scale::SymLog { c } if u.abs() <= 1.0 => u * c,
            Scale::SymLog { c } => u.signum() * c * 10f64.powf(u.abs() - 1.0),
        }
    }

    /// The y range that shows `bounds` (axis units) on this scale.
    pub(crate) fn range(self, bounds: Option<(f64, f64)>) -> Range<f64> {
        match self {
            Scale::Linear | Scale::SymLog { .. } => linear_range(bounds),
            Scale::Log => log_range(bounds),
        }
    }

    /// Linear, or symmetric-log when the magnitudes span more than three
    /// decades above their typical level (a blow-up a linear axis would
    /// flatten into a line at zero); the typical level is the median
    /// magnitude, rounded down to a power of ten, and becomes the linear part.
    pub(crate) fn for_signed(values: &[f64]) -> Scale {
        let mut mags: Vec<f64> = values
            .iter()
            .filter(|v| v.is_finite())
            .map(|v| v.abs())
            .collect();
        if mags.is_empty() {
            return Scale::Linear;
        }
        mags.sort_by(f64::total_cmp);
        let typical = mags[mags.len() / 2];
        let largest = mags[mags.len() - 1];
        let c = if typical > 0.0 {
            10f64.powf(typical.log10().floor())
        } else {
            1.0
        };
        if largest / c > 1e3 && c.is_finite() && c > 0.0 {
            Scale::SymLog { c }
        } else {
            Scale::Linear
        }
    }

    /// The tick-label formatter for an axis of this scale spanning `range`.
    pub(crate) fn tick_formatter(self, range: &Range<f64>) -> Box<dyn Fn(&f64) -> String> {
        let span = range.end - range.start;
        match self {
            Scale::Linear => Box::new(move |v| linear_tick_label(*v, span)),
            Scale::Log => Box::new(log_tick),
            Scale::SymLog { .. } => Box::new(move |u| {
                if u.abs() < 1e-9 {
                    "0".to_string()
                } else {
                    format_number(self.value_at(*u))
                }
            }),
        }
    }
}

/// A log axis that can also show exact zeros: they are drawn on a row of
/// their own at `zero`, one decade below the smallest positive value and
/// labelled "0", instead of vanishing as gaps (a gradient that is exactly 0
/// is the clearest evidence of dead units).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LogAxis {
    pub range: Range<f64>,
    /// Axis coordinate of the zero row, if any value is exactly zero.
    pub zero: Option<f64>,
    /// Where the positive decades begin (the zero row lies below it).
    pub positive_start: f64,
}

impl LogAxis {
    /// The axis for `values` (raw) plus `guides` (already log10).
    pub(crate) fn new(values: &[f64], guides: &[f64]) -> LogAxis {
        let logs = values
            .iter()
            .filter(|v| v.is_finite() && **v > 0.0)
            .map(|v| v.log10())
            .chain(guides.iter().copied());
        let r = Scale::Log.range(bounds(logs));
        if values.contains(&0.0) {
            let zero = r.start - 1.0;
            LogAxis {
                range: (zero - 0.3)..r.end,
                zero: Some(zero),
                positive_start: r.start,
            }
        } else {
            LogAxis {
                positive_start: r.start,
                range: r,
                zero: None,
            }
        }
    }

    /// A value series as unbroken runs in axis units: zeros on the zero row,
    /// negative and non-finite values as gaps, everything clamped into range.
    pub(crate) fn segments(&self, points: &[Point]) -> Vec<Segment> {
        let axis: Vec<Point> = points
            .iter()
            .map(|&(x, v)| match self.zero {
                Some(z) if v == 0.0 => (x, z),
                _ => (x, Scale::Log.to_axis(v)),
            })
            .collect();
        let mut segs = downsample(&axis, MAX_POINTS, |p| p.1.is_finite(), push_extremes);
        clamp_segments(&mut segs, &self.range);
        segs
    }

    /// Tick labels: powers of ten, "0" on the zero row, nothing in the gap.
    pub(crate) fn tick_formatter(&self) -> Box<dyn Fn(&f64) -> String> {
        let (zero, start) = (self.zero, self.positive_start);
        Box::new(move |e| match zero {
            Some(z) if (e - z).abs() < 1e-6 => "0".to_string(),
            Some(_) if *e < start - 1e-6 => String::new(),
            _ => log_tick(e),
        })
    }
}

/// Exponential moving average with bias correction (as TensorBoard's
/// smoothing): the first values are not dragged towards 0. `span` is the
/// usual EMA span, alpha = 2 / (span + 1). Non-finite values are skipped
/// (they stay gaps in the result) without resetting the average.
pub(crate) fn ema(points: &[Point], span: f64) -> Vec<Point> {
    let alpha = 2.0 / (span.max(1.0) + 1.0);
    let (mut avg, mut weight) = (0.0, 0.0);
    points
        .iter()
        .map(|&(x, v)| {
            if !v.is_finite() {
                return (x, f64::NAN);
            }
            avg = (1.0 - alpha) * avg + alpha * v;
            weight = (1.0 - alpha) * weight + alpha;
            (x, avg / weight)
        })
        .collect()
}

/// Whether any two series lie on top of each other: at their common steps
/// the median distance (axis units) is below `tolerance`. Such layers are
/// drawn as small multiples, one panel each, so none hides another.
pub(crate) fn any_coincide(series: &[Vec<Segment>], tolerance: f64) -> bool {
    let maps: Vec<std::collections::BTreeMap<u64, f64>> = series
        .iter()
        .map(|segs| {
            segs.iter()
                .flatten()
                .map(|p| (p.0.to_bits(), p.1))
                .collect()
        })
        .collect();
    for (i, a) in maps.iter().enumerate() {
        for b in &maps[i + 1..] {
            let mut d: Vec<f64> = a
                .iter()
                .filter_map(|(x, ya)| b.get(x).map(|yb| (ya - yb).abs()))
                .collect();
            if d.is_empty() {
                continue;
            }
            d.sort_by(f64::total_cmp);
            if d[d.len() / 2] < tolerance {
                return true;
            }
        }
    }
    false
}

/// A value series as unbroken finite runs, downsampled to about [`MAX_POINTS`].
pub(crate) fn line_segments(points: &[Point], scale: Scale) -> Vec<Segment> {
    let axis: Vec<Point> = points.iter().map(|&(x, y)| (x, scale.to_axis(y))).collect();
    downsample(&axis, MAX_POINTS, |p| p.1.is_finite(), push_extremes)
}

/// A min..max band as unbroken finite runs; downsampling widens each bucket to
/// its envelope, so no excursion disappears.
pub(crate) fn band_segments(points: &[BandPoint], scale: Scale) -> Vec<Vec<BandPoint>> {
    let axis: Vec<BandPoint> = points
        .iter()
        .map(|&(x, a, b)| {
            let (a, b) = (scale.to_axis(a), scale.to_axis(b));
            if a.is_finite() && b.is_finite() {
                (x, a.min(b), a.max(b))
            } else {
                (x, f64::NAN, f64::NAN)
            }
        })
        .collect();
    downsample(&axis, MAX_POINTS, |p| p.1.is_finite(), push_envelope)
}

/// Buckets `items`, reduces each bucket with `reduce` and breaks the output
/// wherever an invalid item occurs. A bucket holding invalid items keeps its
/// valid head and tail around one break, so the onset of NaNs stays visible.
fn downsample<T: Copy>(
    items: &[T],
    max_points: usize,
    valid: impl Fn(&T) -> bool,
    reduce: impl Fn(&[T], &mut Vec<T>),
) -> Vec<Vec<T>> {
    let mut out = Vec::new();
    let mut run = Vec::new();
    for chunk in items.chunks(bucket_len(items.len(), max_points)) {
        let first_bad = chunk.iter().position(|p| !valid(p));
        let last_bad = chunk.iter().rposition(|p| !valid(p));
        match (first_bad, last_bad) {
            (Some(first), Some(last)) => {
                reduce(&chunk[..first], &mut run);
                flush(&mut out, &mut run);
                reduce(&chunk[last + 1..], &mut run);
            }
            _ => reduce(chunk, &mut run),
        }
    }
    flush(&mut out, &mut run);
    out
}

/// Bucket length that keeps a series near `max_points` given two points per bucket.
fn bucket_len(len: usize, max_points: usize) -> usize {
    if len <= max_points {
        1
    } else {
        len.div_ceil((max_points / 2).max(1))
    }
}

fn flush<T>(out: &mut Vec<Vec<T>>, run: &mut Vec<T>) {
    if !run.is_empty() {
        out.push(std::mem::take(run));
    }
}

/// Keeps a bucket's lowest and highest points in step order: spikes survive.
fn push_extremes(chunk: &[Point], run: &mut Vec<Point>) {
    if chunk.len() <= 2 {
        run.extend_from_slice(chunk);
        return;
    }
    let (mut lo, mut hi) = (0, 0);
    for (i, p) in chunk.iter().enumerate() {
        if p.1 < chunk[lo].1 {
            lo = i;
        }
        if p.1 > chunk[hi].1 {
            hi = i;
        }
    }
    run.push(chunk[lo.min(hi)]);
    if lo != hi {
        run.push(chunk[lo.max(hi)]);
    }
}

/// Replaces a bucket by its envelope at its first and last step.
fn push_envelope(chunk: &[BandPoint], run: &mut Vec<BandPoint>) {
    let (Some(first), Some(last)) = (chunk.first(), chunk.last()) else {
        return;
    };
    if chunk.len() == 1 {
        run.push(*first);
        return;
    }
    let lo = chunk.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
    let hi = chunk.iter().map(|p| p.2).fold(f64::NEG_INFINITY, f64::max);
    run.push((first.0, lo, hi));
    run.push((last.0, lo, hi));
}

/// Smallest and largest finite value, if any.
pub(crate) fn bounds(values: impl IntoIterator<Item = f64>) -> Option<(f64, f64)> {
    values
        .into_iter()
        .filter(|v| v.is_finite())
        .fold(None, |acc, v| match acc {
            None => Some((v, v)),
            Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
        })
}

/// The y values of all segments, for [`bounds`].
pub(crate) fn segment_values(segments: &[Segment]) -> impl Iterator<Item = f64> + '_ {
    segments.iter().flatten().map(|p| p.1)
}

/// A padded linear range; a constant series gets room around it instead of a
/// zero-width axis.
fn linear_range(bounds: Option<(f64, f64)>) -> Range<f64> {
    let Some((lo, hi)) = bounds else {
        return 0.0..1.0;
    };
    let magnitude = lo.abs().max(hi.abs());
    let span = hi - lo;
    if span <= magnitude * 1e-9 {
        let pad = if magnitude > 0.0 {
            magnitude * 0.1
        } else {
            1.0
        };
        return (lo - pad)..(hi + pad);
    }
    (lo - span * 0.05)..(hi + span * 0.05)
}

/// A log10 range on whole decades, at most [`MAX_DECADES`] wide.
fn log_range(bounds: Option<(f64, f64)>) -> Range<f64> {
    let Some((lo, hi)) = bounds else {
        return -1.0..1.0;
    };
    // log10 of an f64 lies within about ±324; anything else isn't a log value.
    let hi = hi.clamp(-400.0, 400.0);
    let lo = lo.clamp(-400.0, 400.0).max(hi - MAX_DECADES);
    let pad = (hi - lo) * 0.02;
    let hi = (hi + pad).ceil();
    let lo = (lo - pad).floor().max(hi - MAX_DECADES);
    if hi - lo < 1.0 {
        (lo - 1.0)..(hi + 1.0)
    } else {
        lo..hi
    }
}

/// Pins points into the visible range; out-of-range pixels make plotters'
/// dashed lines crawl and would draw over the axes.
pub(crate) fn clamp_segments(segments: &mut [Segment], range: &Range<f64>) {
    for p in segments.iter_mut().flatten() {
        p.1 = p.1.clamp(range.start, range.end);
    }
}

/// Why a series has nothing to draw on a log axis, or None if it has.
pub(crate) fn log_empty_reason(values: &[f64]) -> Option<&'static str> {
    if values.is_empty() {
        return Some("no data recorded");
    }
    let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if finite.is_empty() {
        Some("no finite values")
    } else if finite.iter().any(|&v| v > 0.0) {
        None
    } else if finite.iter().all(|&v| v == 0.0) {
        Some("all zero")
    } else {
        Some("no positive values")
    }
}

/// Tick label on a linear value axis spanning `span`: as many digits as the
/// tick spacing needs (0.99975 next to 0.9997, not "1, 1, 0.9999, 0.9999"),
/// and a tick within rounding error of zero reads "0" (not "4.72e21" on an
/// axis reaching 1e37).
pub(crate) fn linear_tick_label(v: f64, span: f64) -> String {
    let span = if span.is_finite() && span > 0.0 {
        span
    } else {
        v.abs().max(1.0)
    };
    if v.abs() <= span * 1e-9 {
        return "0".to_string();
    }
    // plotters spaces at most MAX_LABELS ticks over the axis.
    let spacing_exp = (span / 10.0).log10().floor();
    let magnitude = v.abs();
    if (1e-3..1e5).contains(&magnitude) {
        let decimals = (1.0 - spacing_exp).clamp(0.0, 15.0) as usize;
        trim_zeros(&format!("{v:.decimals$}")).to_string()
    } else {
        let digits = (magnitude.log10().floor() - spacing_exp + 1.0).clamp(1.0, 15.0) as usize;
        let s = format!("{v:.digits$e}");
        match s.split_once('e') {
            Some((mantissa, exp)) => format!("{}e{exp}", trim_zeros(mantissa)),
            None => s,
        }
    }
}

/// Tick label on a log axis (the tick sits at log10 of the value).
pub(crate) fn log_tick(e: &f64) -> String {
    let rounded = e.round();
    if rounded == 0.0 && e.abs() < 1e-6 {
        "1".to_string()
    } else if (e - rounded).abs() < 1e-6 {
        format!("1e{}", rounded as i64)
    } else {
        format_number(10f64.powf(*e))
    }
}

/// Tick label on the step axis: steps are whole numbers.
pub(crate) fn step_tick(v: &f64) -> String {
    // A tick at -0.0 (a range padded below step 0) must not read "-0".
    if *v == 0.0 {
        "0".to_string()
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format_number(*v)
    }
}

/// Short, readable number: plain in 1e-3..1e5, scientific otherwise.
pub(crate) fn format_number(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        "0".to_string()
    } else if !(1e-3..1e5).contains(&a) {
        let s = format!("{v:.2e}");
        match s.split_once('e') {
            Some((mantissa, exp)) => format!("{}e{exp}", trim_zeros(mantissa)),
            None => s,
        }
    } else {
        trim_zeros(&format!("{v:.4}")).to_string()
    }
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(n: usize) -> Vec<Point> {
        (0..n).map(|i| (i as f64, i as f64)).collect()
    }

    #[test]
    fn short_series_pass_through_and_break_at_nan() {
        let mut pts = ramp(6);
        pts[2].1 = f64::NAN;
        pts[4].1 = f64::INFINITY;
        let segs = line_segments(&pts, Scale::Linear);
        assert_eq!(
            segs,
            vec![
                vec![(0.0, 0.0), (1.0, 1.0)],
                vec![(3.0, 3.0)],
                vec![(5.0, 5.0)]
            ]
        );
    }

    #[test]
    fn downsampling_caps_points_and_keeps_spikes() {
        let mut pts: Vec<Point> = (0..100_000).map(|i| (i as f64, 1.0)).collect();
        pts[54_321].1 = 1e9;
        let segs = line_segments(&pts, Scale::Linear);
        let n: usize = segs.iter().map(Vec::len).sum();
        assert!(n <= MAX_POINTS, "{n} points");
        assert!(segment_values(&segs).any(|v| v == 1e9));
    }

    #[test]
    fn downsampling_keeps_the_nan_onset() {
        let mut pts = ramp(50_000);
        for p in &mut pts[30_001..] {
            p.1 = f64::NAN;
        }
        let segs = line_segments(&pts, Scale::Linear);
        assert_eq!(segs.len(), 1);
        let last = segs[0].last().copied().unwrap_or_default();
        assert!(last.0 >= 29_950.0 && last.0 <= 30_000.0, "{last:?}");
    }

    #[test]
    fn log_scale_drops_non_positive_values() {
        let pts = vec![(0.0, 1e-22), (1.0, 0.0), (2.0, -1.0), (3.0, 1e300)];
        let segs = line_segments(&pts, Scale::Log);
        assert_eq!(segs.len(), 2);
        assert!((segs[0][0].1 + 22.0).abs() < 1e-9);
    }

    #[test]
    fn band_envelope_covers_extremes() {
        let pts: Vec<BandPoint> = (0..10_000)
            .map(|i| (i as f64, if i == 777 { -50.0 } else { 0.0 }, 1.0))
            .collect();
        let segs = band_segments(&pts, Scale::Linear);
        assert!(segs.iter().flatten().any(|p| p.1 == -50.0));
        assert!(segs.iter().map(Vec::len).sum::<usize>() <= MAX_POINTS);
    }

    #[test]
    fn ranges_are_finite_and_non_empty() {
        let cases = [
            None,
            Some((0.0, 0.0)),
            Some((1e-300, 1e-300)),
            Some((-1e306, 1e306)),
            Some((5.0, 5.0)),
        ];
        for b in cases {
            for scale in [Scale::Linear, Scale::Log] {
                let r = scale.range(b);
                assert!(
                    r.start.is_finite() && r.end.is_finite() && r.start < r.end,
                    "{b:?} {r:?}"
                );
            }
        }
        let r = Scale::Log.range(Some((-323.0, 300.0)));
        assert!(r.end - r.start <= MAX_DECADES + 2.0, "{r:?}");
    }

    #[test]
    fn empty_reasons() {
        assert_eq!(log_empty_reason(&[]), Some("no data recorded"));
        assert_eq!(log_empty_reason(&[0.0, 0.0]), Some("all zero"));
        assert_eq!(log_empty_reason(&[f64::NAN]), Some("no finite values"));
        assert_eq!(log_empty_reason(&[-1.0, 0.0]), Some("no positive values"));
        assert_eq!(log_empty_reason(&[0.0, 1e-30]), None);
    }

    #[test]
    fn linear_ticks_are_distinct_and_zero_is_zero() {
        // The seed case's activations.png axis: 0.9997 .. 1.0.
        let span = 0.0003;
        let ticks = [0.99970, 0.99975, 0.99980, 0.99985, 0.99990, 0.99995, 1.0];
        let labels: Vec<String> = ticks.iter().map(|&t| linear_tick_label(t, span)).collect();
        let unique: std::collections::HashSet<&String> = labels.iter().collect();
        assert_eq!(unique.len(), ticks.len(), "{labels:?}");
        assert_eq!(labels[1], "0.99975");
        // xor: an axis to 8e37 put a tick at 4.72e21 (float error around 0).
        assert_eq!(linear_tick_label(4.72e21, 1.2e38), "0");
        assert_eq!(linear_tick_label(2e37, 1.2e38), "2e37");
        assert_eq!(linear_tick_label(0.5, 1.0), "0.5");
    }

    #[test]
    fn symlog_round_trips_and_orders() {
        let s = Scale::SymLog { c: 1.0 };
        for v in [-1e37, -20.0, -0.5, 0.0, 0.3, 1.0, 7.0, 5e21] {
            let back = s.value_at(s.to_axis(v));
            assert!((back - v).abs() <= 1e-9 * v.abs().max(1.0), "{v} -> {back}");
        }
        assert_eq!(s.to_axis(10.0), 2.0);
        assert!(matches!(
            Scale::for_signed(&[0.5, 0.6, 0.7, 1e37]),
            Scale::SymLog { .. }
        ));
        assert_eq!(Scale::for_signed(&[0.0, 0.5, 1.0]), Scale::Linear);
    }

    #[test]
    fn log_axis_puts_zeros_on_their_own_row() {
        let axis = LogAxis::new(&[0.0, 1e-3, 1e-1], &[]);
        let zero = axis.zero.unwrap();
        assert!(zero < axis.positive_start && axis.range.contains(&zero));
        let segs = axis.segments(&[(0.0, 1e-1), (1.0, 0.0), (2.0, 0.0)]);
        assert_eq!(segs.len(), 1, "zeros continue the line: {segs:?}");
        assert_eq!(segs[0][1].1, zero);
        let fmt = axis.tick_formatter();
        assert_eq!(fmt(&zero), "0");
        assert_eq!(fmt(&-1.0), "1e-1");
        assert_eq!(LogAxis::new(&[1.0, 10.0], &[]).zero, None);
    }

    #[test]
    fn ema_is_unbiased_and_skips_gaps() {
        // A constant series smooths to itself from the first point on.
        let flat: Vec<Point> = (0..5).map(|i| (i as f64, 2.0)).collect();
        assert!(ema(&flat, 10.0).iter().all(|p| (p.1 - 2.0).abs() < 1e-12));
        let gap = ema(&[(0.0, 1.0), (1.0, f64::NAN), (2.0, 1.0)], 3.0);
        assert!(gap[1].1.is_nan() && (gap[2].1 - 1.0).abs() < 1e-12);
        // alpha = 0.5 for span 3: 0, then (0.5*0 + 0.5*4) / 0.75 = 2.6667.
        let step = ema(&[(0.0, 0.0), (1.0, 4.0)], 3.0);
        assert!((step[1].1 - 8.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn coinciding_lines_are_detected() {
        let a = vec![vec![(0.0, 0.99), (1.0, 1.0)]];
        let b = vec![vec![(0.0, 0.98), (1.0, 1.0)]];
        let c = vec![vec![(0.0, 0.1), (1.0, 0.2)]];
        assert!(any_coincide(&[a.clone(), b], 0.03));
        assert!(!any_coincide(&[a, c], 0.03));
    }

    #[test]
    fn tick_labels() {
        assert_eq!(log_tick(&-22.0), "1e-22");
        assert_eq!(format_number(0.25), "0.25");
        assert_eq!(format_number(1e300), "1e300");
        assert_eq!(format_number(1.5e-7), "1.5e-7");
        assert_eq!(step_tick(&20000.0), "20000");
    }
}
