//! Every threshold a diagnosis uses, in one place, with where it comes from.
//! The published tools' own authors say thresholds "depend on tasks"
//! (AUTOTRAINER), so each is a field a later `[thresholds]` table can
//! override; the defaults are chosen to be quiet on healthy networks.

/// The numbers the rules compare against (in summary.json, so a report
/// re-rendered later draws the same threshold lines).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
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
    /// unscaled-targets: a regression target column whose RMS (sqrt(mean^2
    /// + std^2)) is above this is far from unit scale (standardized: 1).
    pub target_scale_high: f64,
    /// unscaled-targets: ... or whose std is below this (a target that
    /// varies by 1e-3 gives a loss and gradients 1e-6 of unit scale).
    pub target_scale_low: f64,
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
    /// lr-too-high: a layer's median ||dW||/||W|| above this (100x the
    /// ~1e-3 rule of thumb, CS231n) while the loss does not improve.
    pub update_ratio_high: f64,
    /// lr-too-low: every layer's median ||dW||/||W|| below this (100x under
    /// the rule of thumb) while the loss barely moves.
    pub update_ratio_low: f64,
    /// lr-too-low: relative loss drop over the run below this; also the
    /// fall a loss-plateau must rule out (the drop's upper confidence bound
    /// stays below it).
    pub slow_drop: f64,
    /// loss-oscillating: median |ln L(t) - ln L(t-1)| over the second half
    /// above this (ln 1.5: consecutive losses typically differ 1.5x; healthy
    /// batch noise can too, which is why no-progress is also required)...
    pub oscillation_log_step: f64,
    /// ...while the late loss stays above this share of the early loss.
    pub oscillation_progress: f64,
    /// accuracy-at-chance: accuracy within this many standard errors of the
    /// majority-class rate counts as chance.
    pub chance_sigmas: f64,
    /// Loss-curve tests compare the medians of the first and last windows of
    /// this share of the steps (longer than the persistence window: a median
    /// of more batch losses is less noisy)...
    pub loss_window_share: f64,
    /// ...but at least this many steps...
    pub loss_window_min: usize,
    /// ...and at most this many.
    pub loss_window_max: usize,
    /// A change of the loss between the first and last windows counts as
    /// real when it exceeds this many standard errors of the difference of
    /// two window medians, the standard error coming from the measured
    /// step-to-step noise (1.4826 MAD of first differences / sqrt 2). Three
    /// standard errors: a one-sided false-alarm rate of about 0.1% per test
    /// on pure noise.
    pub drop_z: f64,
    /// "Trained well": the loss fell by more than this share from the first
    /// to the last window (and accuracy is above chance). Pre-flight and
    /// symptom findings on such a run are info, not warnings.
    pub trained_well_drop: f64,
    /// lr-too-high is named whatever else follows when a layer's median
    /// update/weight ratio over the first window exceeds this: a step larger
    /// than the weights themselves replaces them (1000x the ~1e-3 rule of
    /// thumb, CS231n).
    pub update_ratio_cause: f64,
    /// lr-too-high: a loss that climbs above this multiple of its first value
    /// in the early share of training (`loss_spike_share`) spiked.
    pub loss_spike_factor: f64,
    /// The early share of training in which a spike counts.
    pub loss_spike_share: f64,
    /// A spike is judged on running medians of this many batch losses: the
    /// median of 5 per-sample losses exceeds 10x their mean only if 3 of 5
    /// do, which even a batch of one almost never gives.
    pub loss_spike_window: usize,
    /// loss-oscillating: the median consecutive jump of ln(loss) must exceed
    /// this multiple of the jump that batch sampling alone gives at this
    /// batch size (from the probe batch's per-sample loss spread).
    pub oscillation_noise_factor: f64,
    /// overfitting: the test loss ends this share above its minimum...
    pub overfit_rise: f64,
    /// ...with a rise after the minimum significant at this p-value...
    pub overfit_p: f64,
    /// ...measured on at least this many evaluations.
    pub overfit_min_evals: usize,
    /// class-imbalance: the majority class's share exceeds 1/C by at least
    /// this share of the way from 1/C to 1 (two classes: 75%; ten: 55%).
    pub imbalance_excess: f64,
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
            target_scale_high: 10.0,
            target_scale_low: 0.01,
            init_gain_high: 6.0,
            init_gain_low: 0.01,
            init_mean_shift: 1.0,
            plateau_drop: 0.01,
            plateau_p: 0.05,
            diverging_growth: 1.5,
            diverging_p: 0.01,
            trend_min_points: 20,
            update_ratio_high: 1e-1,
            update_ratio_low: 1e-5,
            slow_drop: 0.1,
            oscillation_log_step: 1.5f64.ln(),
            oscillation_progress: 0.5,
            chance_sigmas: 3.0,
            loss_window_share: 0.2,
            loss_window_min: 5,
            loss_window_max: 200,
            drop_z: 3.0,
            trained_well_drop: 0.5,
            update_ratio_cause: 1.0,
            loss_spike_factor: 10.0,
            loss_spike_share: 0.2,
            loss_spike_window: 5,
            oscillation_noise_factor: 2.0,
            overfit_rise: 0.1,
            overfit_p: 0.01,
            overfit_min_evals: 6,
            imbalance_excess: 0.5,
        }
    }
}

impl Thresholds {
    /// The persistence window for a series of `n` recorded rows.
    pub fn window(&self, n: usize) -> usize {
        let w = (n as f64 * self.window_share).round() as usize;
        w.max(self.window_min).min(self.window_max).min(n.max(1))
    }

    /// The window of the loss-curve tests for `n` steps (at most half of
    /// them, so the first and last windows never overlap).
    pub fn loss_window(&self, n: usize) -> usize {
        let w = (n as f64 * self.loss_window_share).round() as usize;
        w.max(self.loss_window_min)
            .min(self.loss_window_max)
            .min(n / 2)
            .max(1)
    }

    /// Cross-field checks of a `[thresholds]` table: (the key to blame,
    /// what was expected). Ranges that one field alone cannot violate are
    /// checked here so a config can never make a rule panic or contradict
    /// itself.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        let pairs: [(&str, f64, &str, f64); 5] = [
            (
                "window_min",
                self.window_min as f64,
                "window_max",
                self.window_max as f64,
            ),
            (
                "loss_window_min",
                self.loss_window_min as f64,
                "loss_window_max",
                self.loss_window_max as f64,
            ),
            (
                "saturation_warning",
                self.saturation_warning,
                "saturation_error",
                self.saturation_error,
            ),
            (
                "dead_warning",
                self.dead_warning,
                "dead_error",
                self.dead_error,
            ),
            (
                "init_gain_low",
                self.init_gain_low,
                "init_gain_high",
                self.init_gain_high,
            ),
        ];
        for (lo, a, hi, b) in pairs {
            if a > b {
                return Err((lo, format!("must not exceed {hi} ({b}), found {a}")));
            }
        }
        let shares: [(&'static str, f64); 12] = [
            ("window_share", self.window_share),
            ("loss_window_share", self.loss_window_share),
            ("loss_spike_share", self.loss_spike_share),
            ("saturation_warning", self.saturation_warning),
            ("saturation_error", self.saturation_error),
            ("dead_warning", self.dead_warning),
            ("dead_error", self.dead_error),
            ("plateau_p", self.plateau_p),
            ("diverging_p", self.diverging_p),
            ("overfit_p", self.overfit_p),
            ("trained_well_drop", self.trained_well_drop),
            ("imbalance_excess", self.imbalance_excess),
        ];
        for (name, v) in shares {
            if !(v > 0.0 && v <= 1.0) {
                return Err((name, format!("must be a share in (0, 1], found {v}")));
            }
        }
        let counts: [(&'static str, usize, usize); 4] = [
            ("window_min", self.window_min, 1),
            ("loss_window_min", self.loss_window_min, 1),
            ("trend_min_points", self.trend_min_points, 3),
            ("overfit_min_evals", self.overfit_min_evals, 3),
        ];
        for (name, v, min) in counts {
            if v < min {
                return Err((name, format!("must be at least {min}, found {v}")));
            }
        }
        Ok(())
    }
}

/// Names accepted in a config's `[thresholds]` table: the field names.
pub const NAMES: [&str; 42] = [
    "window_share",
    "window_min",
    "window_max",
    "saturation_warning",
    "saturation_error",
    "dead_warning",
    "dead_error",
    "vanishing_ratio",
    "exploding_ratio",
    "exploding_growth",
    "input_rms",
    "feature_scale_ratio",
    "target_scale_high",
    "target_scale_low",
    "init_gain_high",
    "init_gain_low",
    "init_mean_shift",
    "plateau_drop",
    "plateau_p",
    "diverging_growth",
    "diverging_p",
    "trend_min_points",
    "update_ratio_high",
    "update_ratio_low",
    "slow_drop",
    "oscillation_log_step",
    "oscillation_progress",
    "chance_sigmas",
    "loss_window_share",
    "loss_window_min",
    "loss_window_max",
    "drop_z",
    "trained_well_drop",
    "update_ratio_cause",
    "loss_spike_factor",
    "loss_spike_share",
    "loss_spike_window",
    "oscillation_noise_factor",
    "overfit_rise",
    "overfit_p",
    "overfit_min_evals",
    "imbalance_excess",
];

impl Thresholds {
    /// The defaults with a config's `[thresholds]` overrides applied. Names
    /// were validated against [`NAMES`] when the config was read; counts are
    /// rounded.
    pub fn with_overrides(overrides: &[(String, f64)]) -> Self {
        let mut t = Thresholds::default();
        for (name, v) in overrides {
            let v = *v;
            let count = v.round().max(0.0) as usize;
            match name.as_str() {
                "window_share" => t.window_share = v,
                "window_min" => t.window_min = count,
                "window_max" => t.window_max = count,
                "saturation_warning" => t.saturation_warning = v,
                "saturation_error" => t.saturation_error = v,
                "dead_warning" => t.dead_warning = v,
                "dead_error" => t.dead_error = v,
                "vanishing_ratio" => t.vanishing_ratio = v,
                "exploding_ratio" => t.exploding_ratio = v,
                "exploding_growth" => t.exploding_growth = v,
                "input_rms" => t.input_rms = v,
                "feature_scale_ratio" => t.feature_scale_ratio = v,
                "target_scale_high" => t.target_scale_high = v,
                "target_scale_low" => t.target_scale_low = v,
                "init_gain_high" => t.init_gain_high = v,
                "init_gain_low" => t.init_gain_low = v,
                "init_mean_shift" => t.init_mean_shift = v,
                "plateau_drop" => t.plateau_drop = v,
                "plateau_p" => t.plateau_p = v,
                "diverging_growth" => t.diverging_growth = v,
                "diverging_p" => t.diverging_p = v,
                "trend_min_points" => t.trend_min_points = count,
                "update_ratio_high" => t.update_ratio_high = v,
                "update_ratio_low" => t.update_ratio_low = v,
                "slow_drop" => t.slow_drop = v,
                "oscillation_log_step" => t.oscillation_log_step = v,
                "oscillation_progress" => t.oscillation_progress = v,
                "chance_sigmas" => t.chance_sigmas = v,
                "loss_window_share" => t.loss_window_share = v,
                "loss_window_min" => t.loss_window_min = count,
                "loss_window_max" => t.loss_window_max = count,
                "drop_z" => t.drop_z = v,
                "trained_well_drop" => t.trained_well_drop = v,
                "update_ratio_cause" => t.update_ratio_cause = v,
                "loss_spike_factor" => t.loss_spike_factor = v,
                "loss_spike_share" => t.loss_spike_share = v,
                "loss_spike_window" => t.loss_spike_window = count,
                "oscillation_noise_factor" => t.oscillation_noise_factor = v,
                "overfit_rise" => t.overfit_rise = v,
                "overfit_p" => t.overfit_p = v,
                "overfit_min_evals" => t.overfit_min_evals = count,
                "imbalance_excess" => t.imbalance_excess = v,
                _ => {}
            }
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_overrides_its_field() {
        for name in NAMES {
            let changed = Thresholds::with_overrides(&[(name.to_string(), 7.0)]);
            assert_ne!(changed, Thresholds::default(), "{name} overrides nothing");
        }
    }

    #[test]
    fn defaults_are_valid() {
        assert_eq!(Thresholds::default().validate(), Ok(()));
    }

    #[test]
    fn window_min_above_window_max_is_rejected_not_a_panic() {
        // Regression: window_min = 30 once panicked in clamp.
        let t = Thresholds::with_overrides(&[("window_min".into(), 30.0)]);
        let (key, msg) = t.validate().unwrap_err();
        assert_eq!(key, "window_min");
        assert!(msg.contains("window_max"), "{msg}");
        // And window() itself never panics on such a table.
        assert_eq!(t.window(100), 20);
    }
}
