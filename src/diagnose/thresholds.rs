//! Every threshold a diagnosis uses, in one place, with where it comes from.
//! The published tools' own authors say thresholds "depend on tasks"
//! (AUTOTRAINER), so each is a field a later `[thresholds]` table can
//! override; the defaults are chosen to be quiet on healthy networks.

/// The numbers the rules compare against.
#[derive(Debug, Clone, PartialEq)]
pub struct Thresholds {
    /// Trend and persistence windows span this share of the recorded rows...
    pub window_share: f64,
    /// ...but at least this many rows (one noisy step never decides)...
    pub window_min: usize,
    /// ...and at most this many.
    pub window_max: usize,
    /// saturated-activations: median saturated share over a window at or
    /// above this is a warning (DeepDiagnosis uses "> 50% of values").
    pub saturation_warning: f64,
    /// ...and at or above this an error: almost no unit can learn.
    pub saturation_error: f64,
    /// dead-relus: median share of units inactive for a whole batch (warning).
    pub dead_warning: f64,
    /// dead-relus: error level (AUTOTRAINER flags at 70% zero gradients).
    pub dead_error: f64,
    /// vanishing-gradients: a layer's RMS weight gradient below this share of
    /// the output layer's (AUTOTRAINER: ||g_first|| / ||g_last|| < 1e-3).
    pub vanishing_ratio: f64,
    /// exploding-gradients: a lower layer's RMS gradient above this multiple
    /// of the output layer's (AUTOTRAINER uses 70 on norms).
    pub exploding_ratio: f64,
    /// exploding-gradients: growth of the global gradient norm from the first
    /// to the last window.
    pub exploding_growth: f64,
    /// unscaled-inputs: RMS of the input features above this (unit-scaled
    /// MNIST is ~0.3, standardised data 1, raw pixels ~80).
    pub input_rms: f64,
    /// unscaled-inputs: ratio of the largest to the smallest non-zero
    /// per-feature magnitude (max |x|).
    pub feature_scale_ratio: f64,
    /// poor-initialization: mean(W^2) * fan_in above this (He init gives 2,
    /// Xavier at most 2): pre-activations grow layer over layer.
    pub init_gain_high: f64,
    /// poor-initialization: mean(W^2) * fan_in below this: signals shrink
    /// layer over layer.
    pub init_gain_low: f64,
    /// poor-initialization: |mean(W)| above this multiple of std(W) means the
    /// weights share a sign, so fan_in terms add up instead of cancelling.
    pub init_mean_shift: f64,
    /// loss-plateau: relative loss drop from the first to the last window
    /// below this...
    pub plateau_drop: f64,
    /// ...and no significant downward slope at this p-value.
    pub plateau_p: f64,
    /// loss-diverging: last-window median loss above this multiple of the
    /// first window's...
    pub diverging_growth: f64,
    /// ...with an upward slope significant at this p-value.
    pub diverging_p: f64,
    /// Trend rules need at least this many loss values.
    pub trend_min_points: usize,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            window_share: 0.1,
            window_min: 3,
            window_max: 20,
            saturation_warning: 0.5,
            saturation_error: 0.9,
            dead_warning: 0.5,
            dead_error: 0.9,
            vanishing_ratio: 1e-3,
            exploding_ratio: 1e2,
            exploding_growth: 1e3,
            input_rms: 4.0,
            feature_scale_ratio: 1e3,
            init_gain_high: 6.0,
            init_gain_low: 0.01,
            init_mean_shift: 1.0,
            plateau_drop: 0.01,
            plateau_p: 0.05,
            diverging_growth: 1.5,
            diverging_p: 0.01,
            trend_min_points: 20,
        }
    }
}

impl Thresholds {
    /// The persistence window for a series of `n` recorded rows.
    pub fn window(&self, n: usize) -> usize {
        let w = (n as f64 * self.window_share).round() as usize;
        w.clamp(self.window_min, self.window_max).min(n.max(1))
    }
}
