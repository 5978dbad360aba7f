//! `tuning::report::compare`: reading finished runs and summarising seed groups, on run directories
//! written here with known values.

use std::path::Path;

use tuning::report::compare::{markdown_table, read_group};

/// Writes the four files a finished run leaves behind.
fn write_run(dir: &Path, seed: u64, best: f64, curve: &[(u64, f64)], runtime: f64) {
    std::fs::create_dir_all(dir).unwrap();
    let train = serde_json::json!({
        "epoch": 2.0, "global_step": 100, "total_params": 1000, "trainable_params": 250,
        "train_runtime": runtime, "train_samples_per_second": 50.0,
    });
    std::fs::write(dir.join("train_results.json"), train.to_string()).unwrap();
    let eval = serde_json::json!({"eval_accuracy": best, "eval_macro_f1": best - 0.1});
    std::fs::write(dir.join("eval_results.json"), eval.to_string()).unwrap();
    let args = serde_json::json!({"learning_rate": 5e-5, "seed": seed});
    std::fs::write(dir.join("training_args.json"), args.to_string()).unwrap();
    let mut log = String::from("{\"step\":10,\"loss\":0.6}\n");
    for &(step, value) in curve {
        log.push_str(&format!("{{\"step\":{step},\"eval_accuracy\":{value}}}\n"));
    }
    // The final evaluation logged a second time at the same step must count once.
    if let Some(&(step, value)) = curve.last() {
        log.push_str(&format!("{{\"step\":{step},\"eval_accuracy\":{value}}}\n"));
    }
    std::fs::write(dir.join("metrics.jsonl"), log).unwrap();
}

#[test]
fn a_folder_of_seed_runs_reports_mean_spread_and_mean_curve() {
    let root = tempfile::tempdir().unwrap();
    let group = root.path().join("lora-8");
    write_run(
        &group.join("seed-43"),
        43,
        0.80,
        &[(50, 0.70), (100, 0.80)],
        30.0,
    );
    write_run(
        &group.join("seed-42"),
        42,
        0.90,
        &[(50, 0.60), (100, 0.90)],
        10.0,
    );
    write_run(
        &group.join("seed-44"),
        44,
        0.85,
        &[(50, 0.65), (100, 0.85)],
        20.0,
    );
    std::fs::create_dir_all(group.join("not-a-run")).unwrap();

    let g = read_group(&group, "accuracy").unwrap();
    assert_eq!(g.name, "lora-8");
    let seeds: Vec<_> = g.runs.iter().map(|r| r.seed).collect();
    assert_eq!(
        seeds,
        [Some(42), Some(43), Some(44)],
        "seed runs in name order"
    );
    assert!((g.mean_best() - 0.85).abs() < 1e-12);
    // Sample standard deviation of 0.90, 0.80, 0.85: sqrt((0.0025 + 0.0025 + 0) / 2) = 0.05.
    assert!((g.std_best() - 0.05).abs() < 1e-12);
    let curve = g.mean_curve();
    assert_eq!(
        curve.len(),
        2,
        "duplicate final evaluation counted once: {curve:?}"
    );
    assert!((curve[0].1 - 0.65).abs() < 1e-12 && (curve[1].1 - 0.85).abs() < 1e-12);
    let row = g.to_json();
    assert_eq!(
        row["seconds_per_epoch"], 10.0,
        "mean of 5, 10 and 15 s per epoch"
    );
    assert_eq!(row["trainable_share"], 0.25);

    let table = markdown_table(&[g], "accuracy");
    assert!(
        table.contains("| lora-8 | 0.8500 ± 0.0500 (3) | 0.9000 0.8000 0.8500 |"),
        "{table}"
    );
}

#[test]
fn a_single_run_is_its_own_group() {
    let root = tempfile::tempdir().unwrap();
    let run = root.path().join("full");
    write_run(&run, 42, 0.91, &[(100, 0.91)], 8.0);
    let g = read_group(&run, "accuracy").unwrap();
    assert_eq!(g.runs.len(), 1);
    assert_eq!(g.std_best(), 0.0);
    let table = markdown_table(&[g], "accuracy");
    assert!(table.contains("| full | 0.9100 | 0.9100 |"), "{table}");
}

#[test]
fn missing_metric_and_empty_folders_are_named_errors() {
    let root = tempfile::tempdir().unwrap();
    let run = root.path().join("full");
    write_run(&run, 42, 0.91, &[(100, 0.91)], 8.0);
    let err = read_group(&run, "f1").unwrap_err().to_string();
    assert!(err.contains("no eval_f1 in eval_results.json"), "{err}");
    let empty = root.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let err = format!("{:#}", read_group(&empty, "accuracy").unwrap_err());
    assert!(err.contains("neither a finished run"), "{err}");
}

/// Three settings of three seeds each, with different trainable parameters and times, for
/// the HTML report.
fn study(root: &Path) -> Vec<std::path::PathBuf> {
    let settings = [
        ("full", [0.90, 0.92, 0.91], 1000, 30.0),
        ("freeze-bottom-2", [0.89, 0.90, 0.91], 600, 20.0),
        ("lora-8", [0.80, 0.82, 0.81], 20, 24.0),
    ];
    let mut dirs = Vec::new();
    for (name, bests, trainable, runtime) in settings {
        let group = root.join(name);
        for (i, best) in bests.into_iter().enumerate() {
            let run = group.join(format!("seed-{}", 42 + i));
            write_run(
                &run,
                42 + i as u64,
                best,
                &[(50, best - 0.1), (100, best)],
                runtime,
            );
            let path = run.join("train_results.json");
            let mut train: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            train["trainable_params"] = trainable.into();
            std::fs::write(&path, train.to_string()).unwrap();
        }
        dirs.push(group);
    }
    dirs
}

fn compare_runs_html(dirs: &[std::path::PathBuf], page: &Path) {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_compare-runs"));
    command
        .args(dirs)
        .arg("--html")
        .arg(page)
        .args(["--title", "A study"]);
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn compare_runs_writes_a_self_contained_html_report() {
    let root = tempfile::tempdir().unwrap();
    let dirs = study(root.path());
    let page = root.path().join("report.html");
    compare_runs_html(&dirs, &page);
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("<title>A study</title>"));
    assert!(
        html.contains("--html"),
        "the page names the command that made it"
    );
    assert_eq!(
        html.matches("<svg").count(),
        4,
        "steps, parameters, time, frozen layers"
    );
    assert!(html.contains("<b>Best:</b> full with 91.00 accuracy ± 1.00 over 3 seeds."));
    assert!(html.contains("2 layers: −1.00 points, 33% less time per epoch"));
    assert!(html.contains("lora-8 trains 2.00% of the weights (20)"));
    for needle in ["<script", "<link", "src=", "http:", "https:"] {
        assert!(!html.contains(needle), "{needle}");
    }
}

/// Chromium from Debian renders the page: the screenshot has the page's text and the charts'
/// colours. Ignored by `cargo test` because it needs `chromium` on the PATH; CI installs it
/// and runs this test with `--ignored` (.ci/run, step "the HTML report in headless Chromium").
#[test]
#[ignore = "needs chromium (Debian package); .ci/run installs it and runs this with --ignored"]
fn the_html_report_renders_in_headless_chromium() {
    let root = tempfile::tempdir().unwrap();
    let dirs = study(root.path());
    let page = root.path().join("report.html");
    compare_runs_html(&dirs, &page);
    let shot = root.path().join("report.png");
    let out = std::process::Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1000,2600",
        ])
        .arg(format!(
            "--user-data-dir={}",
            root.path().join("profile").display()
        ))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium on the PATH (apt-get install chromium)");
    assert!(
        out.status.success() && shot.is_file(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&shot).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut pixels).unwrap();
    assert_eq!((info.width, info.height), (1000, 2600));
    let channels = info.color_type.samples();
    let rgb: Vec<&[u8]> = pixels[..info.buffer_size()]
        .chunks(channels)
        .map(|p| &p[..3])
        .collect();
    let inked = rgb.iter().filter(|p| p.iter().any(|&c| c < 200)).count();
    // Text, table rules and charts: a blank or unstyled failure page has far less ink.
    assert!(
        inked > rgb.len() / 100,
        "{inked} of {} pixels inked",
        rgb.len()
    );
    // The charts' first colour (#0072B2, "full") is drawn: the SVG rendered.
    let blue = rgb
        .iter()
        .filter(|p| p[0] < 30 && (90..140).contains(&p[1]) && (150..210).contains(&p[2]))
        .count();
    assert!(blue > 200, "{blue} pixels of the charts' blue");
    if let Ok(dir) = std::env::var("FINETUNE_KEEP_SCREENSHOT") {
        std::fs::copy(&shot, Path::new(&dir).join("report.png")).unwrap();
    }
}

#[test]
fn reported_figures_can_come_from_a_set_that_chose_nothing() {
    use tuning::report::compare::{Reported, read_group_reported};
    let root = tempfile::tempdir().unwrap();
    let group = root.path().join("full");
    for (seed, best) in [(42, 0.90), (43, 0.80)] {
        let run = group.join(format!("seed-{seed}"));
        write_run(&run, seed, best, &[(100, best)], 10.0);
        // What `<task> eval --data dev.tsv` writes into the run directory.
        let dev = serde_json::json!({"data": "dev.tsv", "report": {"accuracy": best - 0.10}});
        std::fs::write(run.join("eval_dev.json"), dev.to_string()).unwrap();
    }
    let reported = Reported::parse("eval_dev.json", "accuracy");
    let g = read_group_reported(&group, "accuracy", Some(&reported)).unwrap();
    assert!((g.mean_best() - 0.75).abs() < 1e-12, "the dev figures");
    assert!(
        (g.mean_selection().unwrap() - 0.85).abs() < 1e-12,
        "the selection set's"
    );
    let wrong = Reported::parse("eval_dev.json:f1", "accuracy");
    let err = format!(
        "{:#}",
        read_group_reported(&group, "accuracy", Some(&wrong)).unwrap_err()
    );
    assert!(err.contains("eval_dev.json: no number `f1`"), "{err}");
    assert!(err.contains("accuracy"), "lists the keys there are: {err}");
}
