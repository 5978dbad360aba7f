//! `fuzz`: runs the fuzz targets (all, or those named) for a number of executions each and
//! reports runs, refused and accepted inputs, panics and speed; panicking inputs are written
//! to `--crashes` (exit status 1 when any).

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Parser;

#[derive(Parser)]
#[command(about = "Fuzz finetune's loaders, score inputs, config.json and safetensors reading")]
struct Args {
    /// Targets to run (default: every target); `--list` names them.
    targets: Vec<String>,
    /// Executions per target.
    #[arg(long, default_value_t = 100_000)]
    runs: u64,
    /// Seed of the mutations (the same seed replays the same inputs).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Where panicking inputs (and inputs slower than a second) are written.
    #[arg(long, default_value = "target/fuzz-crashes")]
    crashes: PathBuf,
    /// Also write the counts as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// List the targets and what each reads.
    #[arg(long)]
    list: bool,
}

fn main() {
    if let Err(err) = run(Args::parse()) {
        eprintln!("fuzz: error: {err:#}");
        std::process::exit(1);
    }
}

/// Writes `input` to `dir/TARGET-KINDHASH.bin`; returns the path.
fn keep(dir: &std::path::Path, target: &str, kind: &str, input: &[u8]) -> Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let hash = fuzz::runner::fnv(input);
    let path = dir.join(format!("{target}-{kind}{hash:016x}.bin"));
    std::fs::write(&path, input)?;
    Ok(path)
}

fn run(args: Args) -> Result<()> {
    let all = fuzz::targets();
    if args.list {
        for t in &all {
            println!("{:18} {}", t.name, t.what);
        }
        return Ok(());
    }
    for name in &args.targets {
        if !all.iter().any(|t| t.name == name) {
            bail!("unknown target `{name}` (--list names them)");
        }
    }
    let work = tempfile::tempdir()?;
    let mut rows = Vec::new();
    let mut crashed = 0;
    for target in all
        .iter()
        .filter(|t| args.targets.is_empty() || args.targets.iter().any(|n| n == t.name))
    {
        let seeds = target.seed_inputs()?;
        let outcome = fuzz::fuzz(target, &seeds, args.runs, args.seed, work.path());
        println!(
            "{:18} {:>9} runs  {:>9} refused  {:>8} accepted  {:>4} panics  {:>8.0} runs/s  slowest {:.1} ms",
            target.name,
            outcome.runs,
            outcome.refused,
            outcome.accepted,
            outcome.panics,
            outcome.runs as f64 / outcome.seconds.max(1e-9),
            outcome.slowest.as_secs_f64() * 1e3
        );
        for (input, message) in &outcome.crashes {
            let path = keep(&args.crashes, target.name, "", input)?;
            println!("  panic: {message} (input: {})", path.display());
        }
        for (input, took) in &outcome.slow {
            let path = keep(&args.crashes, target.name, "slow-", input)?;
            let seconds = took.as_secs_f64();
            println!("  slow: {seconds:.1} s (input: {})", path.display());
        }
        crashed += outcome.panics;
        rows.push(serde_json::json!({
            "target": target.name,
            "runs": outcome.runs,
            "refused": outcome.refused,
            "accepted": outcome.accepted,
            "panics": outcome.panics,
            "seconds": (outcome.seconds * 10.0).round() / 10.0,
            "slowest_ms": (outcome.slowest.as_secs_f64() * 1e4).round() / 10.0,
        }));
    }
    if let Some(path) = &args.json {
        let report =
            serde_json::json!({"seed": args.seed, "runs_per_target": args.runs, "targets": rows});
        std::fs::write(path, serde_json::to_string_pretty(&report)? + "\n")?;
    }
    if crashed > 0 {
        bail!(
            "{crashed} input(s) panicked; written to {}",
            args.crashes.display()
        );
    }
    Ok(())
}
