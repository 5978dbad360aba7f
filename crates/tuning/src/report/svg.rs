//! Charts as inline SVG for the HTML reports ([`super::html`]): a line chart (a metric over
//! steps, one line per setting) and a scatter with error bars (a metric against trainable
//! parameters, time or frozen layers).
//!
//! Written here rather than with a plotting crate: the charts are a few dozen SVG elements,
//! the browser sets the text in real fonts (the PNG renderer in [`super::plot`] has a bitmap
//! font of capitals only), and the report stays one self-contained file without a new
//! dependency. Not a general plotting library: linear or log-10 axes, up to ten colours.

use std::fmt::Write;

/// Colour-blind-safe palette (Okabe-Ito), then greys.
const COLOURS: [&str; 10] = [
    "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442",
    "#777777", "#BBBBBB",
];
const WIDTH: f64 = 720.0;
/// The least height; a chart with many settings grows so that its legend fits.
const MIN_HEIGHT: f64 = 400.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 190.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 55.0;

/// Text for SVG and HTML: `&`, `<`, `>` and quotes escaped.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The chart's height for a legend of `entries` lines.
fn chart_height(entries: usize) -> f64 {
    (TOP + 18.0 * entries as f64 + 24.0).max(MIN_HEIGHT)
}

/// How series `i` is drawn: beyond the ten colours, the line is dashed and the marker a
/// square, then dotted with a diamond, so 30 settings stay apart.
fn style(i: usize) -> (&'static str, &'static str, usize) {
    let round = (i / COLOURS.len()) % 3;
    (COLOURS[i % COLOURS.len()], ["", "6 3", "2 2"][round], round)
}

/// A marker of `shape` (0 circle, 1 square, 2 diamond) with an optional tooltip.
fn marker(svg: &mut String, shape: usize, (x, y): (f64, f64), r: f64, colour: &str, tip: &str) {
    let tip = if tip.is_empty() {
        String::new()
    } else {
        format!("<title>{tip}</title>")
    };
    let _ = match shape {
        0 => write!(
            svg,
            r#"<circle cx="{x:.1}" cy="{y:.1}" r="{r}" fill="{colour}">{tip}</circle>"#
        ),
        1 => write!(
            svg,
            r#"<rect x="{:.1}" y="{:.1}" width="{w}" height="{w}" fill="{colour}">{tip}</rect>"#,
            x - r,
            y - r,
            w = 2.0 * r
        ),
        _ => write!(
            svg,
            r#"<polygon points="{x:.1},{:.1} {:.1},{y:.1} {x:.1},{:.1} {:.1},{y:.1}" fill="{colour}">{tip}</polygon>"#,
            y - 1.3 * r,
            x + 1.3 * r,
            y + 1.3 * r,
            x - 1.3 * r
        ),
    };
}

/// One axis: the data range mapped onto pixels, linear or log-10.
struct Axis {
    lo: f64,
    hi: f64,
    log: bool,
    from: f64,
    to: f64,
}

impl Axis {
    fn new(values: impl Iterator<Item = f64>, log: bool, from: f64, to: f64) -> Self {
        let values: Vec<f64> = values
            .filter(|v| v.is_finite() && (!log || *v > 0.0))
            .map(|v| if log { v.log10() } else { v })
            .collect();
        let (mut lo, mut hi) = values
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
                (a.min(v), b.max(v))
            });
        if !lo.is_finite() {
            (lo, hi) = (0.0, 1.0);
        }
        if hi - lo < 1e-12 {
            (lo, hi) = (lo - 0.5, hi + 0.5);
        }
        let pad = (hi - lo) * 0.05;
        Self {
            lo: lo - pad,
            hi: hi + pad,
            log,
            from,
            to,
        }
    }

    fn at(&self, value: f64) -> f64 {
        let v = if self.log { value.log10() } else { value };
        self.from + (v - self.lo) / (self.hi - self.lo) * (self.to - self.from)
    }

    /// About five round tick values inside the range.
    fn ticks(&self) -> Vec<f64> {
        if self.log {
            let (a, b) = (self.lo.ceil() as i32, self.hi.floor() as i32);
            return (a..=b).map(|e| 10f64.powi(e)).collect();
        }
        let span = self.hi - self.lo;
        let raw = span / 5.0;
        let magnitude = 10f64.powf(raw.log10().floor());
        let step = [1.0, 2.0, 2.5, 5.0, 10.0]
            .iter()
            .map(|m| m * magnitude)
            .find(|s| *s >= raw)
            .unwrap_or(raw);
        let mut tick = (self.lo / step).ceil() * step;
        let mut out = Vec::new();
        while tick <= self.hi + 1e-12 {
            out.push(tick);
            tick += step;
        }
        out
    }
}

/// A tick label: short, no float noise.
fn label(value: f64) -> String {
    let a = value.abs();
    if a < 1e-9 {
        return "0".into(); // not "-0" from rounding
    }
    if a >= 1e6 {
        format!("{:.3}M", value / 1e6)
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
            .replace(".M", "M")
    } else if a >= 1e4 {
        format!("{:.0}k", value / 1e3)
    } else if a >= 100.0 || a == 0.0 {
        format!("{value:.0}")
    } else {
        let text = format!("{value:.4}");
        let text = text.trim_end_matches('0').trim_end_matches('.');
        text.to_string()
    }
}

struct Frame {
    x: Axis,
    y: Axis,
    svg: String,
}

impl Frame {
    fn new(title: &str, x_label: &str, y_label: &str, x: Axis, y: Axis, height: f64) -> Self {
        let mut svg = String::new();
        let _ = write!(
            svg,
            r#"<svg class="chart" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" role="img" aria-label="{t}" font-family="sans-serif" font-size="12">"#,
            t = escape(title)
        );
        let _ = write!(
            svg,
            r#"<rect x="0" y="0" width="{WIDTH}" height="{height}" fill="white"/><text x="{cx}" y="22" text-anchor="middle" font-size="15" font-weight="bold">{t}</text>"#,
            cx = (LEFT + WIDTH - RIGHT) / 2.0,
            t = escape(title)
        );
        let (x0, x1, y0, y1) = (LEFT, WIDTH - RIGHT, height - BOTTOM, TOP);
        for t in x.ticks() {
            let px = x.at(t);
            let _ = write!(
                svg,
                r##"<line x1="{px:.1}" y1="{y1}" x2="{px:.1}" y2="{y0}" stroke="#e5e5e5"/><text x="{px:.1}" y="{ly:.1}" text-anchor="middle">{l}</text>"##,
                ly = y0 + 16.0,
                l = label(t)
            );
        }
        for t in y.ticks() {
            let py = y.at(t);
            let _ = write!(
                svg,
                r##"<line x1="{x0}" y1="{py:.1}" x2="{x1}" y2="{py:.1}" stroke="#e5e5e5"/><text x="{lx:.1}" y="{ty:.1}" text-anchor="end">{l}</text>"##,
                lx = x0 - 6.0,
                ty = py + 4.0,
                l = label(t)
            );
        }
        let _ = write!(
            svg,
            r##"<rect x="{x0}" y="{y1}" width="{w}" height="{h}" fill="none" stroke="#333"/><text x="{cx}" y="{by}" text-anchor="middle">{xl}</text><text transform="translate(16 {cy}) rotate(-90)" text-anchor="middle">{yl}</text>"##,
            w = x1 - x0,
            h = y0 - y1,
            cx = (x0 + x1) / 2.0,
            by = height - 12.0,
            cy = (y0 + y1) / 2.0,
            xl = escape(x_label),
            yl = escape(y_label)
        );
        Self { x, y, svg }
    }

    fn legend(&mut self, index: usize, name: &str) {
        let (colour, dash, shape) = style(index);
        let y = TOP + 8.0 + 18.0 * index as f64;
        let x = WIDTH - RIGHT + 10.0;
        let _ = write!(
            self.svg,
            r#"<line x1="{x}" y1="{ly}" x2="{x2}" y2="{ly}" stroke="{colour}" stroke-width="2" stroke-dasharray="{dash}"/>"#,
            ly = y - 4.0,
            x2 = x + 20.0
        );
        marker(&mut self.svg, shape, (x + 10.0, y - 4.0), 4.0, colour, "");
        let _ = write!(
            self.svg,
            r#"<text x="{tx}" y="{y}">{n}</text>"#,
            tx = x + 26.0,
            n = escape(name)
        );
    }

    fn finish(mut self) -> String {
        self.svg.push_str("</svg>");
        self.svg
    }
}

/// One line per named series of `(x, y)` points.
pub fn line_chart(
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[(&str, Vec<(f64, f64)>)],
) -> String {
    let x = Axis::new(
        series.iter().flat_map(|(_, p)| p.iter().map(|q| q.0)),
        false,
        LEFT,
        WIDTH - RIGHT,
    );
    let height = chart_height(series.len());
    let y = Axis::new(
        series.iter().flat_map(|(_, p)| p.iter().map(|q| q.1)),
        false,
        height - BOTTOM,
        TOP,
    );
    let mut frame = Frame::new(title, x_label, y_label, x, y, height);
    for (i, (name, points)) in series.iter().enumerate() {
        let (colour, dash, shape) = style(i);
        let path: Vec<String> = points
            .iter()
            .map(|&(a, b)| format!("{:.1},{:.1}", frame.x.at(a), frame.y.at(b)))
            .collect();
        let _ = write!(
            frame.svg,
            r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="2" stroke-dasharray="{dash}"/>"#,
            path.join(" ")
        );
        for &(a, b) in points {
            let at = (frame.x.at(a), frame.y.at(b));
            marker(&mut frame.svg, shape, at, 2.5, colour, "");
        }
        frame.legend(i, name);
    }
    frame.finish()
}

/// A labelled point with a vertical error bar (± `error`, e.g. one standard deviation).
pub struct Point<'a> {
    pub name: &'a str,
    pub x: f64,
    pub y: f64,
    pub error: f64,
}

/// Points with error bars; `log_x` for quantities over orders of magnitude (parameters).
/// `connect` draws a line through the points in the order given (a curve over k).
pub fn scatter(
    title: &str,
    x_label: &str,
    y_label: &str,
    points: &[Point],
    log_x: bool,
    connect: bool,
) -> String {
    let x = Axis::new(points.iter().map(|p| p.x), log_x, LEFT, WIDTH - RIGHT);
    let height = chart_height(points.len());
    let y = Axis::new(
        points.iter().flat_map(|p| [p.y - p.error, p.y + p.error]),
        false,
        height - BOTTOM,
        TOP,
    );
    let mut frame = Frame::new(title, x_label, y_label, x, y, height);
    if connect && points.len() > 1 {
        let path: Vec<String> = points
            .iter()
            .map(|p| format!("{:.1},{:.1}", frame.x.at(p.x), frame.y.at(p.y)))
            .collect();
        let _ = write!(
            frame.svg,
            r##"<polyline points="{}" fill="none" stroke="#999" stroke-width="1.5"/>"##,
            path.join(" ")
        );
    }
    for (i, p) in points.iter().enumerate() {
        let (colour, _, shape) = style(i);
        let (px, py) = (frame.x.at(p.x), frame.y.at(p.y));
        if p.error > 0.0 {
            let _ = write!(
                frame.svg,
                r#"<line x1="{px:.1}" y1="{a:.1}" x2="{px:.1}" y2="{b:.1}" stroke="{colour}" stroke-width="1.5"/>"#,
                a = frame.y.at(p.y - p.error),
                b = frame.y.at(p.y + p.error)
            );
        }
        let tip = format!("{}: {}", escape(p.name), label(p.y));
        marker(&mut frame.svg, shape, (px, py), 5.0, colour, &tip);
        frame.legend(i, p.name);
    }
    frame.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_land_inside_the_plot_area_and_names_are_escaped() {
        let svg = line_chart(
            "Eval <accuracy>",
            "step",
            "accuracy",
            &[("a&b", vec![(0.0, 0.5), (100.0, 0.9)])],
        );
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("Eval &lt;accuracy&gt;") && svg.contains("a&amp;b"));
        let circles: Vec<&str> = svg.split("<circle").skip(1).collect();
        // Two data points, then the legend's marker (right of the plot area).
        assert_eq!(circles.len(), 3);
        for circle in &circles[..2] {
            let num = |key: &str| -> f64 {
                let at = circle.find(key).unwrap() + key.len();
                circle[at..].split('"').next().unwrap().parse().unwrap()
            };
            let (cx, cy) = (num("cx=\""), num("cy=\""));
            assert!((LEFT..=WIDTH - RIGHT).contains(&cx), "{cx}");
            assert!((TOP..=MIN_HEIGHT - BOTTOM).contains(&cy), "{cy}");
        }
    }

    #[test]
    fn many_settings_get_a_taller_chart_and_distinct_styles() {
        let series: Vec<(String, Vec<(f64, f64)>)> = (0..25)
            .map(|i| {
                (
                    format!("s{i}"),
                    vec![(0.0, i as f64), (1.0, i as f64 + 1.0)],
                )
            })
            .collect();
        let named: Vec<(&str, Vec<(f64, f64)>)> = series
            .iter()
            .map(|(n, p)| (n.as_str(), p.clone()))
            .collect();
        let svg = line_chart("t", "x", "y", &named);
        let height = TOP + 18.0 * 25.0 + 24.0;
        assert!(
            svg.contains(&format!("height=\"{height}\"")),
            "the legend fits"
        );
        let styles: std::collections::HashSet<_> = (0..25).map(style).collect();
        assert_eq!(styles.len(), 25, "no two settings drawn alike");
        // Settings 10-19 dashed: their lines and their legend samples.
        assert_eq!(svg.matches("stroke-dasharray=\"6 3\"").count(), 2 * 10);
    }

    #[test]
    fn axes_tick_at_round_values_and_log_axes_at_powers_of_ten() {
        let linear = Axis::new([0.81, 0.86].into_iter(), false, 0.0, 100.0);
        let ticks = linear.ticks();
        assert!(ticks.len() >= 3, "{ticks:?}");
        assert!(
            ticks
                .iter()
                .all(|t| (t * 100.0 - (t * 100.0).round()).abs() < 1e-9)
        );
        let log = Axis::new([1e3, 2.2e7].into_iter(), true, 0.0, 100.0);
        assert_eq!(log.ticks(), vec![1e3, 1e4, 1e5, 1e6, 1e7]);
        assert_eq!(label(22_713_986.0), "22.714M");
        assert_eq!(label(0.8456), "0.8456");
        assert_eq!(label(0.85), "0.85");
        assert_eq!(label(-1e-17), "0");
    }
}
