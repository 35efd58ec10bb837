//! Tests of the plot files: they exist, are PNGs of the right size, contain
//! text, and survive the broken numbers the tool is used on. Recordings are
//! hand-made by the helpers below.

use super::*;
use crate::monitor::record::{LayerInfo, StepRow};
use chart::layer_color;
use font::FONT;

const NAMES: [&str; 7] = crate::report::PLOT_FILES;

fn info(layer: usize, units: usize, activation: Activation) -> LayerInfo {
    LayerInfo {
        kind: None,
        layer,
        units,
        fan_in: 16,
        activation,
    }
}

/// A layer row with unremarkable values, to be adjusted by each scenario.
fn row(step: usize, layer: usize) -> LayerRow {
    LayerRow {
        step,
        layer,
        act_min: 0.0,
        act_max: 1.0,
        act_mean: 0.5,
        act_std: 0.2,
        pre_min: -1.0,
        pre_max: 1.0,
        pre_mean_abs: 0.5,
        saturated_frac: None,
        dead_frac: None,
        grad_w_norm: 0.1,
        grad_b_norm: 0.01,
        weight_norm: 1.0,
        update_ratio: 1e-3,
        nonfinite: 0,
    }
}

fn step_row(step: usize, loss: f64, acc: f64) -> StepRow {
    let eval = step.is_multiple_of(50);
    StepRow {
        step,
        loss,
        batch_accuracy: acc,
        test_loss: eval.then_some(loss * 1.1),
        test_accuracy: eval.then_some(acc * 0.95),
    }
}

/// relu, relu, softmax; loss falls, accuracy rises, gradients are sane.
fn healthy(steps: usize) -> Recording {
    let layers = vec![
        info(1, 64, Activation::Relu),
        info(2, 32, Activation::Relu),
        info(3, 10, Activation::Softmax),
    ];
    let mut rec = Recording {
        layers,
        ..Recording::default()
    };
    for s in 0..steps {
        let t = s as f64;
        let wiggle = (t * 0.37).sin() * 0.05;
        let decay = (-t / 150.0).exp();
        rec.steps.push(step_row(
            s,
            2.3 * decay + 0.08 + wiggle * decay,
            0.95 - 0.85 * decay + wiggle * 0.3,
        ));
        for l in 1..=3 {
            let mut r = row(s, l);
            let lf = l as f64;
            r.act_max = if l == 3 {
                0.6 + 0.35 * (1.0 - decay)
            } else {
                2.0 + lf + wiggle * 4.0
            };
            r.act_mean = if l == 3 { 0.1 } else { 0.6 + 0.1 * lf + wiggle };
            r.dead_frac = (l < 3).then_some(0.05 * lf + 0.02 * (1.0 - decay));
            r.saturated_frac = (l == 3).then_some(0.3 * (1.0 - decay));
            r.grad_w_norm = 0.5 / lf * (0.3 + decay) * (1.0 + wiggle);
            r.update_ratio = 2e-3 * (0.2 + decay) * (1.0 + wiggle) / lf;
            rec.rows.push(r);
        }
    }
    rec
}

/// The seed case: a saturated sigmoid layer whose gradient has vanished
/// (1e-22) below a saturated softmax; the loss doesn't move.
fn seed_case(steps: usize) -> Recording {
    let layers = vec![
        info(1, 32, Activation::Sigmoid),
        info(2, 10, Activation::Softmax),
    ];
    let mut rec = Recording {
        layers,
        ..Recording::default()
    };
    for s in 0..steps {
        let t = s as f64;
        rec.steps.push(step_row(
            s,
            9.21 + (t * 0.5).sin() * 0.01,
            0.1 + (t * 0.9).sin() * 0.02,
        ));
        let mut r1 = row(s, 1);
        r1.act_min = 0.0;
        r1.act_max = 1.0;
        r1.act_mean = 0.52;
        r1.saturated_frac = Some(0.999 + (t * 0.3).sin() * 0.001);
        r1.grad_w_norm = 1e-22 * (1.0 + 0.3 * (t * 0.2).sin());
        r1.update_ratio = 1e-24;
        let mut r2 = row(s, 2);
        r2.act_min = 0.0;
        r2.act_max = 1.0;
        r2.act_mean = 0.1;
        r2.saturated_frac = Some(0.98);
        r2.grad_w_norm = 1e-6 * (1.0 + 0.3 * (t * 0.1).cos());
        r2.update_ratio = 1e-8;
        rec.rows.push(r1);
        rec.rows.push(r2);
    }
    rec
}

/// A healthy start that turns to NaN at `nan_step` and stays there.
fn nan_from(steps: usize, nan_step: usize) -> Recording {
    let mut rec = healthy(steps);
    let blowup = |s: usize| 10f64.powi((s as i32 - nan_step as i32 + 8).clamp(0, 300));
    for st in &mut rec.steps {
        if st.step >= nan_step {
            st.loss = f64::NAN;
            st.test_loss = st.test_loss.map(|_| f64::NAN);
        } else if st.step + 5 >= nan_step {
            st.loss *= blowup(st.step);
        }
    }
    for r in &mut rec.rows {
        if r.step >= nan_step {
            r.act_min = f64::NAN;
            r.act_max = f64::NAN;
            r.act_mean = f64::NAN;
            r.grad_w_norm = f64::NAN;
            r.update_ratio = f64::INFINITY;
            r.dead_frac = r.dead_frac.map(|_| f64::NAN);
            r.saturated_frac = r.saturated_frac.map(|_| f64::NAN);
        } else if r.step + 5 >= nan_step {
            r.grad_w_norm *= blowup(r.step);
            r.act_max *= blowup(r.step);
        }
    }
    rec
}

/// Width and height from the IHDR chunk, after checking the PNG signature.
fn png_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(
        &bytes[..8],
        b"\x89PNG\r\n\x1a\n",
        "{} is not a PNG",
        path.display()
    );
    assert_eq!(&bytes[12..16], b"IHDR");
    let be =
        |at: usize| u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    (be(16), be(20))
}

/// Writes the plots and checks names, order, signature and dimensions.
fn write_and_check(rec: &Recording, nonfinite: Option<usize>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let paths = write_plots(rec, dir.path(), &PlotOptions::new(nonfinite)).unwrap();
    let names: Vec<_> = paths
        .iter()
        .map(|p| p.file_name().unwrap().to_str().unwrap())
        .collect();
    assert_eq!(names, NAMES);
    let grouped = group_layers(rec);
    let layers = grouped.len();
    let pre = grouped.iter().filter(|l| l.has_pre_activation()).count();
    for p in &paths {
        assert_eq!(p.parent(), Some(dir.path()));
        let (w, h) = png_size(p);
        assert_eq!(w, PLOT_SIZE.0, "{}", p.display());
        if p.ends_with("pre_activations.png") {
            assert_eq!(h, activations::height(pre), "{}", p.display());
        } else if p.ends_with("activations.png") {
            assert_eq!(h, activations::height(layers), "{}", p.display());
        } else {
            // One chart, or one panel per layer (small multiples).
            assert!(h >= PLOT_SIZE.1, "{}", p.display());
        }
    }
    dir
}

#[test]
fn healthy_run_writes_five_pngs_of_the_right_size() {
    write_and_check(&healthy(600), None);
}

#[test]
fn seed_case_renders() {
    write_and_check(&seed_case(300), None);
}

#[test]
fn nan_run_renders_with_marker() {
    write_and_check(&nan_from(60, 40), Some(40));
}

#[test]
fn coinciding_layers_get_one_panel_each() {
    // seed_case: saturated shares 0.999 and 0.98 lie on top of each other
    // (the seed case's saturation.png once hid layer 1 under layer 2).
    let dir = write_and_check(&seed_case(300), None);
    let (_, h) = png_size(&dir.path().join("saturation.png"));
    assert_eq!(h, layers::saturation_size_for(2).1);
    // healthy: dead shares 0.05 and 0.1 and saturation 0..0.3 stay apart.
    let dir = write_and_check(&healthy(600), None);
    assert_eq!(png_size(&dir.path().join("saturation.png")), PLOT_SIZE);
}

#[test]
fn diagnoses_are_marked_in_their_plot_and_layer_panel() {
    let rec = seed_case(50);
    let d = |code: crate::diagnose::Code, layer, step| {
        crate::diagnose::Diagnosis::new(code, crate::diagnose::Severity::Error, String::new())
            .at(layer, Some(step))
    };
    let diagnoses = [
        d(crate::diagnose::Code::VanishingGradients, Some(1), 3),
        d(crate::diagnose::Code::SaturatedActivations, Some(2), 1),
        d(crate::diagnose::Code::LossPlateau, None, 1),
    ];
    let opts = PlotOptions::new(Some(40)).with_diagnoses(&diagnoses);
    let data = PlotData::new(&rec, &opts);
    let labels = |file, layer| -> Vec<String> {
        data.step_marks(file, layer)
            .into_iter()
            .map(|m| m.label)
            .collect()
    };
    assert_eq!(
        labels("gradient_ratio.png", None),
        [
            "first non-finite (step 40)",
            "vanishing-gradients L1 first seen (step 3)"
        ]
    );
    assert_eq!(labels("saturation.png", Some(1)).len(), 1);
    assert_eq!(
        labels("saturation.png", Some(2))[1],
        "saturated-activations L2 first seen (step 1)"
    );
    assert_eq!(labels("loss.png", None).len(), 2);
    write_plots(&rec, tempfile::tempdir().unwrap().path(), &opts).unwrap();
}

#[test]
fn title_text_is_drawn_with_the_embedded_font() {
    assert!(font::ensure_font());
    let (w, h) = (400u32, 120u32);
    let mut buf = vec![0u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).unwrap();
        ChartBuilder::on(&root)
            .caption("Gradient norms", (FONT, 30))
            .build_cartesian_2d(0.0..1.0, 0.0..1.0)
            .unwrap();
        root.present().unwrap();
    }
    let is_dark = |p: &[u8]| p.iter().all(|&c| c < 128);
    let row_bytes = (w * 3) as usize;
    let title = &buf[..row_bytes * 45];
    let below = &buf[row_bytes * 60..];
    assert!(
        title.chunks(3).filter(|p| is_dark(p)).count() > 100,
        "no title text drawn"
    );
    assert_eq!(below.chunks(3).filter(|p| is_dark(p)).count(), 0);
}

#[test]
fn empty_recording_renders() {
    write_and_check(&Recording::default(), None);
    write_and_check(&Recording::default(), Some(0));
}

#[test]
fn layers_without_rows_render() {
    let rec = Recording {
        layers: healthy(1).layers,
        ..Recording::default()
    };
    write_and_check(&rec, None);
}

#[test]
fn all_nan_series_render() {
    let mut rec = healthy(100);
    for s in &mut rec.steps {
        (s.loss, s.batch_accuracy) = (f64::NAN, f64::NAN);
        s.test_accuracy = s.test_accuracy.map(|_| f64::NEG_INFINITY);
    }
    for r in &mut rec.rows {
        (r.act_min, r.act_max, r.act_mean) = (f64::NAN, f64::INFINITY, f64::NAN);
        (r.grad_w_norm, r.update_ratio) = (f64::NAN, f64::NAN);
        r.dead_frac = r.dead_frac.map(|_| f64::NAN);
        r.saturated_frac = r.saturated_frac.map(|_| f64::NAN);
    }
    write_and_check(&rec, Some(0));
}

#[test]
fn zeros_on_log_axes_render() {
    let mut rec = healthy(100);
    for s in &mut rec.steps {
        s.loss = 0.0;
    }
    for r in &mut rec.rows {
        (r.grad_w_norm, r.update_ratio) = (0.0, if r.layer == 1 { 0.0 } else { -1.0 });
    }
    write_and_check(&rec, None);
}

#[test]
fn extreme_magnitudes_render() {
    let mut rec = healthy(100);
    let extremes = [
        1e300,
        1e-300,
        f64::MAX,
        -f64::MAX,
        f64::MIN_POSITIVE,
        5e-324,
        0.0,
    ];
    for (i, s) in rec.steps.iter_mut().enumerate() {
        s.loss = extremes[i % extremes.len()];
    }
    for (i, r) in rec.rows.iter_mut().enumerate() {
        let v = extremes[i % extremes.len()];
        (r.act_min, r.act_max, r.act_mean) = (-v, v, v / 2.0);
        (r.grad_w_norm, r.update_ratio) = (v, 1.0 / v);
        r.dead_frac = Some(v);
    }
    write_and_check(&rec, Some(usize::MAX));
}

#[test]
fn constant_tiny_values_render() {
    let mut rec = healthy(50);
    for r in &mut rec.rows {
        (r.act_min, r.act_max, r.act_mean) = (1e-300, 1e-300, 1e-300);
    }
    write_and_check(&rec, None);
}

#[test]
fn single_step_renders() {
    write_and_check(&healthy(1), None);
    write_and_check(&seed_case(1), Some(0));
}

#[test]
fn long_run_renders() {
    write_and_check(&nan_from(50_000, 45_000), Some(45_000));
}

#[test]
fn ten_layers_get_distinct_colours_and_a_tall_activation_plot() {
    let mut rec = Recording::default();
    for l in 1..=10 {
        rec.layers
            .push(info(l, 8, Activation::ALL[l % Activation::ALL.len()]));
        for s in 0..20 {
            let mut r = row(s, l);
            r.grad_w_norm = 10f64.powi(-(l as i32) * 2);
            rec.rows.push(r);
        }
    }
    write_and_check(&rec, None);
    let colours: std::collections::HashSet<_> = (1..=10)
        .map(|l| {
            layer_color(l).0 as u32 * 65536
                + layer_color(l).1 as u32 * 256
                + layer_color(l).2 as u32
        })
        .collect();
    assert_eq!(colours.len(), 10);
    assert!(activations::height(10) > PLOT_SIZE.1);
}

#[test]
fn rows_of_undeclared_layers_are_plotted() {
    let mut rec = healthy(20);
    rec.layers.truncate(1);
    write_and_check(&rec, None);
}

#[test]
fn missing_directory_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("does-not-exist");
    match write_plots(&healthy(5), &missing, &PlotOptions::new(None)) {
        Err(PlotError::Draw { file, .. }) => assert!(file.ends_with("loss.png"), "{file}"),
        other => panic!("expected a draw error, got {other:?}"),
    }
}

/// Renders the three reference scenarios for a person to look at:
/// `NN_DOCTOR_PLOT_SAMPLES=/some/dir cargo test -- --ignored render_samples`.
#[test]
#[ignore]
fn render_samples() {
    let root = PathBuf::from(std::env::var("NN_DOCTOR_PLOT_SAMPLES").unwrap());
    let cases = [
        ("healthy", healthy(600), None),
        ("seed", seed_case(300), None),
        ("nan", nan_from(60, 40), Some(40)),
        ("empty", Recording::default(), None),
        ("one_step", healthy(1), Some(0)),
        ("long", nan_from(50_000, 45_000), Some(45_000)),
        (
            "extremes",
            {
                let mut r = healthy(100);
                let extremes = [1e300, 1e-300, f64::MAX, 5e-324, 0.0, 1.0];
                for (i, row) in r.rows.iter_mut().enumerate() {
                    let v = extremes[(i / 3) % extremes.len()];
                    (row.act_max, row.grad_w_norm) = (v, v);
                }
                r
            },
            None,
        ),
        (
            "zeros",
            {
                let mut r = seed_case(50);
                r.rows
                    .iter_mut()
                    .for_each(|r| (r.grad_w_norm, r.saturated_frac) = (0.0, None));
                r
            },
            None,
        ),
    ];
    for (name, rec, nonfinite) in cases {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        write_plots(&rec, &dir, &PlotOptions::new(nonfinite)).unwrap();
    }
}

/// The layers of examples/mnist_cnn.toml plus a dropout layer, as the
/// recorder describes them (engine::hook::LayerInfo: `kind` set for every
/// non-dense layer, activation "linear" for the parameter-free ones), with
/// the parameter-free layers' gradient/weight/update columns empty (NaN),
/// as monitor::recorder leaves them. The two conv layers' gradient ratios
/// coincide, so gradient_ratio.png is drawn as small multiples.
fn cnn_case(steps: usize) -> Recording {
    let kinds: [(&str, Activation, usize, usize); 7] = [
        ("conv2d", Activation::Relu, 8, 25),
        ("max_pool2d", Activation::Linear, 8, 8),
        ("conv2d", Activation::Relu, 16, 200),
        ("max_pool2d", Activation::Linear, 16, 16),
        ("flatten", Activation::Linear, 256, 256),
        ("dropout", Activation::Linear, 256, 256),
        ("dense", Activation::Softmax, 10, 256),
    ];
    let mut rec = Recording::default();
    for (i, (kind, activation, units, fan_in)) in kinds.iter().enumerate() {
        rec.layers.push(LayerInfo {
            kind: (*kind != "dense").then(|| kind.to_string()),
            layer: i + 1,
            units: *units,
            fan_in: *fan_in,
            activation: *activation,
        });
    }
    for s in 0..steps {
        rec.steps.push(step_row(s, 2.3 - s as f64 * 0.01, 0.5));
        for info in &rec.layers {
            let mut r = row(s, info.layer);
            if info.has_params() {
                // RMS gradient 1e-2 in both conv layers and the head: ratio 1.
                r.grad_w_norm = 1e-2 * ((info.units * info.fan_in) as f64).sqrt();
            } else {
                (r.grad_w_norm, r.grad_b_norm) = (f64::NAN, f64::NAN);
                (r.weight_norm, r.update_ratio) = (f64::NAN, f64::NAN);
            }
            if info.activation == Activation::Relu {
                r.dead_frac = Some(0.1);
            }
            rec.rows.push(r);
        }
    }
    rec
}

/// Draws one per-layer figure into memory and returns what it drew.
fn figure_of(
    rec: &Recording,
    file: &str,
    draw: impl Fn(&chart::Area, &PlotData) -> chart::DrawResult<layers::Figure>,
    size: impl Fn(&PlotData) -> (u32, u32),
) -> layers::Figure {
    assert!(font::ensure_font());
    let data = PlotData::new(rec, &PlotOptions::new(None));
    let (w, h) = size(&data);
    let mut buf = vec![0u8; (w * h * 3) as usize];
    let area = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
    area.fill(&WHITE).unwrap();
    draw(&area, &data).unwrap_or_else(|e| panic!("{file}: {e}"))
}

#[test]
fn cnn_log_plots_leave_out_parameter_free_layers() {
    // Issue (new user, CNN config): gradient_norms.png listed
    // "layer 2 (linear): no finite values" for every pool/flatten layer.
    let rec = cnn_case(40);
    let spec = layers::gradient_norms();
    let fig = figure_of(
        &rec,
        "gradient_norms.png",
        |a, d| layers::draw_log_layers(a, d, &spec),
        |d| layers::size(d, &spec),
    );
    assert_eq!(fig.legends.len(), 1, "{fig:?}");
    let legend = &fig.legends[0];
    assert_eq!(
        legend,
        &[
            "layer 1 (conv2d, relu)",
            "layer 3 (conv2d, relu)",
            "layer 7 (softmax)"
        ],
        "{fig:?}"
    );
    let spec = layers::update_ratio();
    let fig = figure_of(
        &rec,
        "update_ratio.png",
        |a, d| layers::draw_log_layers(a, d, &spec),
        |d| layers::size(d, &spec),
    );
    let all = fig.legends.concat().join(" | ");
    assert!(!all.contains("no finite values"), "{all}");
    assert!(!all.contains("linear"), "{all}");
}

#[test]
fn gradient_ratio_panels_share_one_legend_and_readable_ticks() {
    // Issue: the small-multiples gradient_ratio.png repeated its legend
    // (thresholds, caveat) in every panel and packed eight decade labels
    // into a 230-px panel, where they overlapped.
    let rec = cnn_case(40);
    let spec = layers::gradient_ratio(&PlotOptions::new(None));
    let fig = figure_of(
        &rec,
        "gradient_ratio.png",
        |a, d| layers::draw_log_layers(a, d, &spec),
        |d| layers::size(d, &spec),
    );
    // Output layer 7 is the reference (ratio 1), so not drawn; pool,
    // flatten and dropout have no gradient.
    assert_eq!(
        fig.panels,
        ["layer 1 (conv2d, relu)", "layer 3 (conv2d, relu)"],
        "the conv ratios coincide, so one panel each: {fig:?}"
    );
    assert_eq!(fig.legends.len(), 1, "one legend per figure: {fig:?}");
    let legend = &fig.legends[0];
    let guides = legend.iter().filter(|l| l.contains("exploding")).count();
    assert_eq!(guides, 1, "{legend:?}");
    let gap = fig.min_label_gap.expect("two or more y labels per panel");
    assert!(
        gap >= chart::MIN_LABEL_GAP as i32,
        "y tick labels {gap} px apart"
    );
}

#[test]
fn saturation_panels_share_one_legend() {
    let rec = seed_case(50);
    let fig = figure_of(&rec, "saturation.png", layers::draw_saturation, |d| {
        layers::saturation_size(d)
    });
    assert_eq!(fig.panels.len(), 2, "{fig:?}");
    assert_eq!(fig.legends.len(), 1, "{fig:?}");
}

#[test]
fn cnn_layer_panels_name_the_kind_and_skip_layers_without_the_quantity() {
    assert!(font::ensure_font());
    let rec = cnn_case(20);
    let data = PlotData::new(&rec, &PlotOptions::new(None));
    let titles = |draw: &dyn Fn(&chart::Area) -> chart::DrawResult<Vec<String>>| {
        let (w, h) = (PLOT_SIZE.0, activations::height(7));
        let mut buf = vec![0u8; (w * h * 3) as usize];
        let area = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        draw(&area).unwrap()
    };
    // Every layer has an output: all seven panels, pooling named as such.
    let act = titles(&|a| activations::draw(a, &data));
    assert_eq!(act.len(), 7);
    assert_eq!(act[1], "layer 2 (max_pool2d): activation range");
    assert_eq!(act[4], "layer 5 (flatten): activation range");
    assert_eq!(act[5], "layer 6 (dropout): activation range");
    assert!(act.iter().all(|t| !t.contains("linear")), "{act:?}");
    // Only layers that compute a pre-activation of their own.
    let pre = titles(&|a| preact::draw(a, &data));
    assert_eq!(
        pre,
        [
            "layer 1 (conv2d, relu): |pre-activation|",
            "layer 3 (conv2d, relu): |pre-activation|",
            "layer 7 (softmax): |pre-activation|"
        ]
    );
}

#[test]
fn tick_label_budget_keeps_labels_apart() {
    assert_eq!(chart::label_budget(0), 2);
    assert_eq!(chart::label_budget(140), 6);
    assert!(chart::label_budget(10_000) > 10);
}

#[test]
#[ignore]
fn render_cnn_sample() {
    let root = PathBuf::from(std::env::var("NN_DOCTOR_PLOT_SAMPLES").unwrap());
    let dir = root.join("cnn");
    std::fs::create_dir_all(&dir).unwrap();
    write_plots(&cnn_case(60), &dir, &PlotOptions::new(None)).unwrap();
}
