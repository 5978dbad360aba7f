//! One static, self-contained HTML page for a set of finished runs (`compare-runs --html`):
//! a strategy study's answer at a glance. No server, no script, no file or network fetch:
//! the charts are inline SVG ([`super::svg`]) and the style sheet is in the page.
//!
//! The page holds, for the groups of [`super::compare`] (one setting each, its seeds):
//! - short answers computed from the numbers: which setting is best and which ones the seeds
//!   cannot tell apart from it; what freezing the bottom layers costs in the metric and saves
//!   in time; what the parameter-efficient settings (under 10% of the weights trained) trade;
//! - the table (mean ± standard deviation over seeds, every seed, trainable parameters, time);
//! - the charts: the metric over steps, against trainable parameters, against time per epoch,
//!   and against the number of frozen layers where the runs include `freeze-bottom-K`.
//!
//! Not a dashboard: one page, written once, readable offline and in a code review.

use std::fmt::Write;

use super::compare::Group;
use super::svg::{self, Point, escape};

/// What the page is about, for its heading.
pub struct PageInfo<'a> {
    pub title: &'a str,
    /// The metric as logged, without `eval_`.
    pub metric: &'a str,
    /// The command that made the page (shown, so the page says how to make it again).
    pub command: &'a str,
    /// Where the reported figures come from when it is not the selection set (e.g.
    /// `eval_dev.json`), so the page can say which set chose the models.
    pub reported: Option<&'a str>,
}

/// Metrics logged as fractions are shown as percentages; others (SQuAD's exact match and F1
/// are percentages already, a loss is neither) as they are.
struct Scale {
    factor: f64,
    unit: &'static str,
}

impl Scale {
    fn of(groups: &[Group]) -> Self {
        let fractions = groups
            .iter()
            .flat_map(|g| g.runs.iter().map(|r| r.best))
            .all(|v| (0.0..=1.0).contains(&v));
        if fractions {
            Self {
                factor: 100.0,
                unit: " (%)",
            }
        } else {
            Self {
                factor: 1.0,
                unit: "",
            }
        }
    }

    fn show(&self, value: f64) -> String {
        format!("{:.2}", value * self.factor)
    }
}

/// `K` of a `freeze-bottom-K` group; 0 for `full`.
fn frozen_layers(name: &str) -> Option<usize> {
    if name == "full" {
        return Some(0);
    }
    name.strip_prefix("freeze-bottom-")?.parse().ok()
}

fn share(g: &Group) -> f64 {
    let r = &g.runs[0];
    r.trainable_params as f64 / r.total_params.max(1) as f64
}

fn mean_seconds(g: &Group) -> f64 {
    g.runs.iter().map(|r| r.seconds_per_epoch).sum::<f64>() / g.runs.len().max(1) as f64
}

/// A setting's time per epoch against full fine-tuning's, in words: "40% less time per
/// epoch", or "12% more time per epoch" when it took longer (a run beside another process can).
fn time_against(seconds: f64, full_seconds: f64) -> String {
    let saved = 100.0 * (1.0 - seconds / full_seconds.max(1e-9));
    if saved >= 0.0 {
        format!("{saved:.0}% less time per epoch")
    } else {
        format!("{:.0}% more time per epoch", -saved)
    }
}

/// The best setting: the highest mean on the set that selected the models when the figures
/// come from another set (so the reported set chooses nothing here either), else the highest
/// mean figure. A tie goes to the setting listed first.
fn best_group(groups: &[Group]) -> Option<&Group> {
    let by_selection = groups.iter().all(|g| g.mean_selection().is_some());
    let key = |g: &Group| {
        if by_selection {
            g.mean_selection().unwrap_or(f64::NEG_INFINITY)
        } else {
            g.mean_best()
        }
    };
    groups
        .iter()
        .reduce(|best, g| if key(g) > key(best) { g } else { best })
}

/// The answers, one paragraph each, from the numbers alone.
fn answers(groups: &[Group], scale: &Scale, metric: &str) -> Vec<String> {
    let mut out = Vec::new();
    let Some(best) = best_group(groups) else {
        return out;
    };
    let seeds = best.runs.len();
    let mut text = match best.mean_selection() {
        Some(selection) => format!(
            "<b>Best on the selection set:</b> {} ({} {metric} there), which scores {} ± {} \
             over {seeds} seed{} on the reported set.",
            escape(&best.name),
            scale.show(selection),
            scale.show(best.mean_best()),
            scale.show(best.std_best()),
            if seeds == 1 { "" } else { "s" }
        ),
        None => format!(
            "<b>Best:</b> {} with {} {metric} ± {} over {seeds} seed{}.",
            escape(&best.name),
            scale.show(best.mean_best()),
            scale.show(best.std_best()),
            if seeds == 1 { "" } else { "s" }
        ),
    };
    // Each other setting against the best, on the reported figures: within the seeds' spread
    // (the two standard deviations combined), or ahead by more (possible only when another
    // set chose the best).
    let (mut close, mut ahead) = (Vec::new(), Vec::new());
    for g in groups.iter().filter(|g| g.name != best.name) {
        let spread = (best.std_best().powi(2) + g.std_best().powi(2)).sqrt();
        let delta = g.mean_best() - best.mean_best();
        let shown = format!("{} ({})", escape(&g.name), signed(scale, delta));
        if spread > 0.0 && delta.abs() <= spread {
            close.push(shown);
        } else if delta > 0.0 {
            ahead.push(shown);
        }
    }
    if seeds < 2 {
        text.push_str(
            " One seed per setting: the differences below include the seed's own spread, \
             which this page cannot measure.",
        );
    } else {
        if close.is_empty() && ahead.is_empty() {
            text.push_str(" Every other setting is behind by more than the seeds' spread.");
        }
        if !close.is_empty() {
            let _ = write!(
                text,
                " Within the seeds' spread of it (the two standard deviations combined), so \
                 not told apart from it by these seeds: {}.",
                close.join(", ")
            );
        }
        if !ahead.is_empty() {
            let _ = write!(
                text,
                " Ahead of it on the reported set by more than the spread, though the \
                 selection set ranked them lower: {}.",
                ahead.join(", ")
            );
        }
    }
    out.push(text);

    let full = groups.iter().find(|g| g.name == "full");
    let mut frozen: Vec<(usize, &Group)> = groups
        .iter()
        .filter_map(|g| frozen_layers(&g.name).filter(|&k| k > 0).map(|k| (k, g)))
        .collect();
    frozen.sort_by_key(|(k, _)| *k);
    if let (Some(full), false) = (full, frozen.is_empty()) {
        let parts: Vec<String> = frozen
            .iter()
            .map(|(k, g)| {
                format!(
                    "{k} layer{}: {} points, {}",
                    if *k == 1 { "" } else { "s" },
                    signed(scale, g.mean_best() - full.mean_best()),
                    time_against(mean_seconds(g), mean_seconds(full))
                )
            })
            .collect();
        out.push(format!(
            "<b>Freezing the bottom layers</b>, against full fine-tuning ({}): {}.",
            scale.show(full.mean_best()),
            parts.join("; ")
        ));
    }

    let reference = full.unwrap_or(best);
    let small: Vec<String> = groups
        .iter()
        .filter(|g| share(g) < 0.10)
        .map(|g| {
            format!(
                "{} trains {:.2}% of the weights ({}) and scores {} ({} against {})",
                escape(&g.name),
                100.0 * share(g),
                g.runs[0].trainable_params,
                scale.show(g.mean_best()),
                signed(scale, g.mean_best() - reference.mean_best()),
                escape(&reference.name)
            )
        })
        .collect();
    if !small.is_empty() {
        out.push(format!(
            "<b>Parameter-efficient settings:</b> {}.",
            small.join("; ")
        ));
    }

    let spreads: Vec<f64> = groups
        .iter()
        .filter(|g| g.runs.len() > 1)
        .map(Group::std_best)
        .collect();
    if let (Some(lo), Some(hi)) = (
        spreads.iter().copied().reduce(f64::min),
        spreads.iter().copied().reduce(f64::max),
    ) {
        out.push(format!(
            "<b>How sure:</b> the standard deviation over seeds is {} to {} points; a gap \
             smaller than about twice that is not resolved by this many seeds.",
            scale.show(lo),
            scale.show(hi)
        ));
    }
    out
}

fn signed(scale: &Scale, delta: f64) -> String {
    let text = scale.show(delta.abs());
    if delta < 0.0 {
        format!("−{text}")
    } else {
        format!("+{text}")
    }
}

/// The pages' style sheet, one line; `scripts/reproduce/study-table` (the across-tasks page)
/// uses it too, adding its own few rules.
const STYLE: &str = include_str!("style.css");

/// The whole page.
pub fn study_page(info: &PageInfo, groups: &[Group]) -> String {
    let scale = Scale::of(groups);
    let metric = info.metric.replace('_', " ");
    let mut html = String::new();
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\
         <style>{style}</style></head><body><h1>{t}</h1><p>From {n} setting{s} and {r} \
         run{rs}.</p><details><summary>The command that made this page</summary><p><code>{c}\
         </code></p></details>",
        t = escape(info.title),
        style = STYLE.trim_end(),
        c = escape(info.command),
        n = groups.len(),
        s = if groups.len() == 1 { "" } else { "s" },
        r = groups.iter().map(|g| g.runs.len()).sum::<usize>(),
        rs = if groups.iter().map(|g| g.runs.len()).sum::<usize>() == 1 {
            ""
        } else {
            "s"
        },
    );
    let with_selection = groups.iter().all(|g| g.mean_selection().is_some());
    if let Some(reported) = info.reported.filter(|_| with_selection) {
        let _ = write!(
            html,
            "<p>The figures are each selected model's score in <code>{}</code>, a set that \
             chose nothing; every run selected its model on its own validation or held-out \
             set (column \"selection set\", the curves).</p>",
            escape(reported)
        );
    }
    html.push_str("<h2>What the numbers say</h2>");
    for answer in answers(groups, &scale, &metric) {
        let _ = write!(html, "<p class=\"answer\">{answer}</p>");
    }

    // One seed list for the whole table when every setting ran the same seeds.
    let seeds_of = |g: &Group| g.runs.iter().map(|r| r.seed).collect::<Vec<_>>();
    let shared_seeds = groups.first().map(seeds_of).filter(|first| {
        first.iter().all(Option::is_some) && groups.iter().all(|g| seeds_of(g) == *first)
    });
    let _ = write!(
        html,
        "<h2>Table</h2><div class=\"wide\"><table><tr><th>setting</th><th>{m}{u}: mean ± sd</th><th>per seed{ps}</th>\
         {sel}<th>learning rate</th><th>trainable parameters</th><th>share</th><th>s / epoch</th>\
         <th>samples / s</th></tr>",
        m = escape(&metric),
        u = scale.unit,
        ps = match &shared_seeds {
            Some(seeds) => format!(
                " ({})",
                seeds
                    .iter()
                    .flatten()
                    .map(|s| format!("s{s}"))
                    .collect::<Vec<_>>()
                    .join(" / ")
            ),
            None => String::new(),
        },
        sel = if with_selection {
            "<th>selection set: mean</th>"
        } else {
            ""
        }
    );
    for g in groups {
        let per_seed: Vec<String> = g
            .runs
            .iter()
            .map(|r| match (r.seed, &shared_seeds) {
                (Some(seed), None) => format!("{} (s{seed})", scale.show(r.best)),
                _ => scale.show(r.best),
            })
            .collect();
        let row = g.to_json();
        let selection = match g.mean_selection().filter(|_| with_selection) {
            Some(v) => format!("<td>{}</td>", scale.show(v)),
            None => String::new(),
        };
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{} ± {}</td><td>{}</td>{}<td>{}</td><td>{}</td><td>{:.2}%</td>\
             <td>{:.1}</td><td>{:.1}</td></tr>",
            escape(&g.name),
            scale.show(g.mean_best()),
            scale.show(g.std_best()),
            per_seed.join(" / "),
            selection,
            escape(&row["learning_rate"].to_string()),
            g.runs[0].trainable_params,
            100.0 * share(g),
            mean_seconds(g),
            row["train_samples_per_second"].as_f64().unwrap_or(0.0),
        );
    }
    html.push_str("</table></div>");

    html.push_str("<h2>Charts</h2>");
    let y_label = format!("{metric}{}", scale.unit);
    let curves: Vec<(String, Vec<(f64, f64)>)> = groups
        .iter()
        .map(|g| {
            let points = g
                .mean_curve()
                .into_iter()
                .map(|(s, v)| (s, v * scale.factor))
                .collect();
            (g.name.clone(), points)
        })
        .collect();
    let named: Vec<(&str, Vec<(f64, f64)>)> = curves
        .iter()
        .map(|(n, p)| (n.as_str(), p.clone()))
        .collect();
    html.push_str(&svg::line_chart(
        &format!("Validation {metric} over training (mean of the seeds)"),
        "optimizer step",
        &y_label,
        &named,
    ));
    fn point<'a>(g: &'a Group, x: f64, scale: &Scale) -> Point<'a> {
        Point {
            name: &g.name,
            x,
            y: g.mean_best() * scale.factor,
            error: g.std_best() * scale.factor,
        }
    }
    let by_params: Vec<Point> = groups
        .iter()
        .map(|g| point(g, g.runs[0].trainable_params.max(1) as f64, &scale))
        .collect();
    html.push_str(&svg::scatter(
        &format!("Best {metric} against trainable parameters (± 1 sd)"),
        "trainable parameters (log scale)",
        &y_label,
        &by_params,
        true,
        false,
    ));
    let by_time: Vec<Point> = groups
        .iter()
        .map(|g| point(g, mean_seconds(g), &scale))
        .collect();
    html.push_str(&svg::scatter(
        &format!("Best {metric} against training time (± 1 sd)"),
        "seconds per epoch",
        &y_label,
        &by_time,
        false,
        false,
    ));
    let mut frozen: Vec<(usize, &Group)> = groups
        .iter()
        .filter_map(|g| frozen_layers(&g.name).map(|k| (k, g)))
        .collect();
    frozen.sort_by_key(|(k, _)| *k);
    if frozen.len() > 1 {
        let points: Vec<Point> = frozen
            .iter()
            .map(|(k, g)| point(g, *k as f64, &scale))
            .collect();
        html.push_str(&svg::scatter(
            &format!("Best {metric} against frozen bottom layers (± 1 sd)"),
            "frozen bottom layers (0 = full fine-tuning)",
            &y_label,
            &points,
            false,
            true,
        ));
    }
    html.push_str("</body></html>\n");
    html
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::compare::RunResult;
    use serde_json::json;

    fn group(name: &str, bests: &[f64], trainable: u64, seconds: f64) -> Group {
        Group {
            name: name.into(),
            runs: bests
                .iter()
                .enumerate()
                .map(|(i, &best)| RunResult {
                    dir: format!("runs/{name}/seed-{}", 42 + i).into(),
                    best,
                    selection: None,
                    learning_rate: json!(5e-5),
                    seed: Some(42 + i as u64),
                    trainable_params: trainable,
                    total_params: 1_000_000,
                    seconds_per_epoch: seconds,
                    samples_per_second: 100.0,
                    curve: vec![(100.0, best - 0.05), (200.0, best)],
                })
                .collect(),
        }
    }

    #[test]
    fn the_page_answers_from_the_numbers_and_fetches_nothing() {
        let groups = [
            group("full", &[0.90, 0.92, 0.91], 1_000_000, 100.0),
            group("freeze-bottom-3", &[0.89, 0.90, 0.91], 500_000, 60.0),
            group("lora-8", &[0.80, 0.82, 0.81], 20_000, 70.0),
        ];
        let info = PageInfo {
            title: "Study <SST-2>",
            metric: "accuracy",
            command: "compare-runs a b --html r.html",
            reported: None,
        };
        let page = study_page(&info, &groups);
        assert!(page.starts_with("<!DOCTYPE html>"));
        assert!(page.contains("<title>Study &lt;SST-2&gt;</title>"));
        // Self-contained: no script, no link, no image or font fetched.
        for needle in ["<script", "<link", "src=", "http:", "https:", "url("] {
            assert!(!page.contains(needle), "{needle}");
        }
        // Four charts: over steps, parameters, time, frozen layers (full = 0 and 3).
        assert_eq!(page.matches("<svg").count(), 4);
        // Best: full at 91.00 ± 1.00; freeze-bottom-3 is 1.00 behind with spreads of 1.00
        // each (combined 1.41), so not told apart; lora-8 is 10 behind.
        assert!(page.contains("<b>Best:</b> full with 91.00 accuracy ± 1.00 over 3 seeds."));
        assert!(page.contains("not told apart from it by these seeds: freeze-bottom-3 (−1.00)."));
        assert!(!page.contains("lora-8 (−"));
        assert!(page.contains("3 layers: −1.00 points, 40% less time per epoch"));
        assert!(page.contains(
            "lora-8 trains 2.00% of the weights (20000) and scores 81.00 (−10.00 against full)"
        ));
        assert!(page.contains("<th>per seed (s42 / s43 / s44)</th>"));
        assert!(page.contains(
            "<td>freeze-bottom-3</td><td>90.00 ± 1.00</td><td>89.00 / 90.00 / 91.00</td>"
        ));
    }

    #[test]
    fn time_is_said_as_saved_or_spent() {
        assert_eq!(time_against(6.0, 10.0), "40% less time per epoch");
        assert_eq!(time_against(11.2, 10.0), "12% more time per epoch");
        assert_eq!(time_against(10.0, 10.0), "0% less time per epoch");
    }

    #[test]
    fn the_best_is_chosen_on_the_selection_set_never_on_the_reported_one() {
        let with_selection = |name: &str, bests: &[f64], selection: f64| {
            let mut g = group(name, bests, 1_000_000, 100.0);
            for r in &mut g.runs {
                r.selection = Some(selection);
            }
            g
        };
        let groups = [
            with_selection("a", &[0.80, 0.82, 0.81], 0.90),
            with_selection("b", &[0.85, 0.86, 0.87], 0.88),
            with_selection("c", &[0.805, 0.815, 0.825], 0.85),
        ];
        let info = PageInfo {
            title: "t",
            metric: "accuracy",
            command: "c",
            reported: Some("eval_dev.json"),
        };
        let page = study_page(&info, &groups);
        // `b` scores highest on the reported set, but `a` was best where the models were
        // chosen: the page names `a`, and says `b` is ahead on the reported set.
        assert!(page.contains(
            "<b>Best on the selection set:</b> a (90.00 accuracy there), which scores 81.00 \
             ± 1.00 over 3 seeds on the reported set."
        ));
        assert!(page.contains("not told apart from it by these seeds: c (+0.50)."));
        assert!(page.contains("though the selection set ranked them lower: b (+5.00)."));
        assert!(!page.contains("<b>Best:</b>"));
    }

    #[test]
    fn percentages_stay_as_they_are_and_one_seed_is_said() {
        let groups = [group("full", &[47.5], 1_000_000, 10.0)];
        let info = PageInfo {
            title: "t",
            metric: "f1",
            command: "c",
            reported: None,
        };
        let page = study_page(&info, &groups);
        assert!(page.contains("full with 47.50 f1 ± 0.00 over 1 seed."));
        assert!(page.contains("One seed per setting"));
        assert_eq!(page.matches("<svg").count(), 3, "no frozen-layer chart");
    }
}
