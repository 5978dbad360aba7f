//! PNG charts of a run: training loss, learning rate and evaluation metrics over steps, and
//! heat maps (confusion matrices) for the tasks.
//!
//! Self-contained on purpose: machines without fonts or a plotting stack still get their
//! plots. Text uses a small built-in 3x5 bitmap font (upper case, digits, a few symbols),
//! drawn scaled.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

type Rgb = [u8; 3];

const WHITE: Rgb = [255, 255, 255];
const BLACK: Rgb = [30, 30, 30];
const GRID: Rgb = [225, 225, 225];
const COLORS: [Rgb; 8] = [
    [31, 119, 180],
    [214, 39, 40],
    [44, 160, 44],
    [148, 103, 189],
    [255, 127, 14],
    [140, 86, 75],
    [227, 119, 194],
    [127, 127, 127],
];

/// 3x5 glyphs, one row of 3 bits per entry, top row first.
fn glyph(c: char) -> [u8; 5] {
    match c.to_ascii_uppercase() {
        '0' => [7, 5, 5, 5, 7],
        '1' => [2, 6, 2, 2, 7],
        '2' => [7, 1, 7, 4, 7],
        '3' => [7, 1, 3, 1, 7],
        '4' => [5, 5, 7, 1, 1],
        '5' => [7, 4, 7, 1, 7],
        '6' => [7, 4, 7, 5, 7],
        '7' => [7, 1, 1, 2, 2],
        '8' => [7, 5, 7, 5, 7],
        '9' => [7, 5, 7, 1, 7],
        'A' => [2, 5, 7, 5, 5],
        'B' => [6, 5, 6, 5, 6],
        'C' => [3, 4, 4, 4, 3],
        'D' => [6, 5, 5, 5, 6],
        'E' => [7, 4, 6, 4, 7],
        'F' => [7, 4, 6, 4, 4],
        'G' => [3, 4, 5, 5, 3],
        'H' => [5, 5, 7, 5, 5],
        'I' => [7, 2, 2, 2, 7],
        'J' => [1, 1, 1, 5, 2],
        'K' => [5, 5, 6, 5, 5],
        'L' => [4, 4, 4, 4, 7],
        'M' => [5, 7, 7, 5, 5],
        'N' => [6, 5, 5, 5, 5],
        'O' => [2, 5, 5, 5, 2],
        'P' => [6, 5, 6, 4, 4],
        'Q' => [2, 5, 5, 6, 3],
        'R' => [6, 5, 6, 5, 5],
        'S' => [3, 4, 2, 1, 6],
        'T' => [7, 2, 2, 2, 2],
        'U' => [5, 5, 5, 5, 7],
        'V' => [5, 5, 5, 5, 2],
        'W' => [5, 5, 7, 7, 5],
        'X' => [5, 5, 2, 5, 5],
        'Y' => [5, 5, 2, 2, 2],
        'Z' => [7, 1, 2, 4, 7],
        '.' => [0, 0, 0, 0, 2],
        ',' => [0, 0, 0, 2, 4],
        '-' => [0, 0, 7, 0, 0],
        '+' => [0, 2, 7, 2, 0],
        ':' => [0, 2, 0, 2, 0],
        '_' => [0, 0, 0, 0, 7],
        '/' => [1, 1, 2, 4, 4],
        '(' => [1, 2, 2, 2, 1],
        ')' => [4, 2, 2, 2, 4],
        '%' => [5, 1, 2, 4, 5],
        '=' => [0, 7, 0, 7, 0],
        _ => [0, 0, 0, 0, 0],
    }
}

/// An RGB canvas.
pub struct Canvas {
    width: usize,
    height: usize,
    pixels: Vec<Rgb>,
}

impl Canvas {
    pub fn new(width: usize, height: usize) -> Self {
        Self {
            width,
            height,
            pixels: vec![WHITE; width * height],
        }
    }

    fn set(&mut self, x: i64, y: i64, color: Rgb) {
        if x >= 0 && y >= 0 && (x as usize) < self.width && (y as usize) < self.height {
            self.pixels[y as usize * self.width + x as usize] = color;
        }
    }

    pub fn rect(&mut self, x0: i64, y0: i64, x1: i64, y1: i64, color: Rgb) {
        for y in y0.min(y1)..=y0.max(y1) {
            for x in x0.min(x1)..=x0.max(x1) {
                self.set(x, y, color);
            }
        }
    }

    /// A line `thickness` pixels wide (Bresenham with a square pen).
    pub fn line(&mut self, (x0, y0): (i64, i64), (x1, y1): (i64, i64), color: Rgb, thickness: i64) {
        let (dx, dy) = ((x1 - x0).abs(), -(y1 - y0).abs());
        let (sx, sy) = (if x0 < x1 { 1 } else { -1 }, if y0 < y1 { 1 } else { -1 });
        let (mut x, mut y, mut err) = (x0, y0, dx + dy);
        loop {
            self.rect(x, y, x + thickness - 1, y + thickness - 1, color);
            if x == x1 && y == y1 {
                break;
            }
            let e2 = 2 * err;
            if e2 >= dy {
                err += dy;
                x += sx;
            }
            if e2 <= dx {
                err += dx;
                y += sy;
            }
        }
    }

    /// Text with its top-left corner at (x, y), `scale` pixels per font dot.
    pub fn text(&mut self, x: i64, y: i64, text: &str, scale: i64, color: Rgb) {
        for (i, c) in text.chars().enumerate() {
            let rows = glyph(c);
            let left = x + i as i64 * 4 * scale;
            for (r, bits) in rows.iter().enumerate() {
                for col in 0..3 {
                    if bits & (4 >> col) != 0 {
                        let (px, py) = (left + col * scale, y + r as i64 * scale);
                        self.rect(px, py, px + scale - 1, py + scale - 1, color);
                    }
                }
            }
        }
    }

    pub fn text_width(text: &str, scale: i64) -> i64 {
        text.chars().count() as i64 * 4 * scale - scale
    }

    /// Writes the canvas as an 8-bit RGB PNG, atomically.
    pub fn save_png(&self, path: &Path) -> Result<()> {
        let mut bytes = Vec::new();
        {
            let mut encoder = png::Encoder::new(&mut bytes, self.width as u32, self.height as u32);
            encoder.set_color(png::ColorType::Rgb);
            encoder.set_depth(png::BitDepth::Eight);
            let mut writer = encoder.write_header()?;
            let flat: Vec<u8> = self.pixels.iter().flatten().copied().collect();
            writer.write_image_data(&flat)?;
        }
        encoder::fsutil::write_atomic(path, &bytes)
            .with_context(|| format!("cannot write {}", path.display()))
    }
}

/// A compact label for an axis tick: 0.00012 -> "1.2E-4", 1500 -> "1500".
fn tick_label(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    if !(1e-2..1e5).contains(&a) {
        format!("{v:.1e}").to_uppercase()
    } else if a >= 10.0 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// A line chart of one or more series of (x, y) points.
pub fn line_chart(
    path: &Path,
    title: &str,
    x_label: &str,
    series: &[(&str, Vec<(f64, f64)>)],
) -> Result<()> {
    let (width, height) = (900i64, 540i64);
    let (left, right, top, bottom) = (110i64, 30i64, 60i64, 70i64);
    let mut canvas = Canvas::new(width as usize, height as usize);
    let points: Vec<(f64, f64)> = series.iter().flat_map(|(_, p)| p.iter().copied()).collect();
    let (mut x_min, mut x_max, mut y_min, mut y_max) = points.iter().fold(
        (
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ),
        |(a, b, c, d), &(x, y)| (a.min(x), b.max(x), c.min(y), d.max(y)),
    );
    if points.is_empty() {
        (x_min, x_max, y_min, y_max) = (0.0, 1.0, 0.0, 1.0);
    }
    if x_max <= x_min {
        x_max = x_min + 1.0;
    }
    if y_max <= y_min {
        let pad = if y_min == 0.0 { 1.0 } else { y_min.abs() * 0.1 };
        (y_min, y_max) = (y_min - pad, y_max + pad);
    }
    let pad = (y_max - y_min) * 0.05;
    let (y_min, y_max) = (y_min - pad, y_max + pad);
    let (plot_w, plot_h) = (width - left - right, height - top - bottom);
    let to_px = |x: f64, y: f64| {
        (
            left + ((x - x_min) / (x_max - x_min) * plot_w as f64).round() as i64,
            top + plot_h - ((y - y_min) / (y_max - y_min) * plot_h as f64).round() as i64,
        )
    };
    for i in 0..=5 {
        let fy = y_min + (y_max - y_min) * i as f64 / 5.0;
        let (_, py) = to_px(x_min, fy);
        canvas.line((left, py), (left + plot_w, py), GRID, 1);
        let label = tick_label(fy);
        canvas.text(
            left - 10 - Canvas::text_width(&label, 2),
            py - 5,
            &label,
            2,
            BLACK,
        );
        let fx = x_min + (x_max - x_min) * i as f64 / 5.0;
        let (px, _) = to_px(fx, y_min);
        canvas.line((px, top), (px, top + plot_h), GRID, 1);
        let label = tick_label(fx);
        canvas.text(
            px - Canvas::text_width(&label, 2) / 2,
            top + plot_h + 12,
            &label,
            2,
            BLACK,
        );
    }
    canvas.line((left, top), (left, top + plot_h), BLACK, 2);
    canvas.line(
        (left, top + plot_h),
        (left + plot_w, top + plot_h),
        BLACK,
        2,
    );
    canvas.text(left, 20, title, 3, BLACK);
    canvas.text(
        left + plot_w / 2 - Canvas::text_width(x_label, 2) / 2,
        height - 28,
        x_label,
        2,
        BLACK,
    );
    for (i, (name, pts)) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        for pair in pts.windows(2) {
            canvas.line(
                to_px(pair[0].0, pair[0].1),
                to_px(pair[1].0, pair[1].1),
                color,
                2,
            );
        }
        if pts.len() == 1 {
            let (x, y) = to_px(pts[0].0, pts[0].1);
            canvas.rect(x - 3, y - 3, x + 3, y + 3, color);
        }
        if series.len() > 1 {
            let y = top + 8 + i as i64 * 18;
            let x = left + plot_w - 200;
            canvas.rect(x, y + 2, x + 14, y + 8, color);
            canvas.text(x + 22, y, name, 2, BLACK);
        }
    }
    canvas.save_png(path)
}

/// A heat map of counts (e.g. a confusion matrix: rows gold, columns predicted).
pub fn heat_map(path: &Path, title: &str, labels: &[String], counts: &[Vec<usize>]) -> Result<()> {
    let n = labels.len().max(1) as i64;
    let cell = (480 / n).clamp(24, 120);
    let (left, top) = (220i64, 90i64);
    let (width, height) = (left + n * cell + 40, top + n * cell + 60);
    let mut canvas = Canvas::new(width as usize, height as usize);
    let max = counts.iter().flatten().copied().max().unwrap_or(1).max(1) as f64;
    canvas.text(20, 20, title, 3, BLACK);
    canvas.text(left, top - 44, "PREDICTED", 2, BLACK);
    for (c, label) in labels.iter().enumerate() {
        let label: String = label.chars().take((cell / 8).max(1) as usize).collect();
        let x = left + c as i64 * cell + cell / 2 - Canvas::text_width(&label, 2) / 2;
        canvas.text(x, top - 18, &label, 2, BLACK);
    }
    canvas.text(20, top + n * cell + 20, "ROWS: GOLD", 2, BLACK);
    for (r, row) in counts.iter().enumerate() {
        let label: String = labels[r].chars().take(24).collect();
        let y = top + r as i64 * cell;
        canvas.text(
            left - 10 - Canvas::text_width(&label, 2),
            y + cell / 2 - 5,
            &label,
            2,
            BLACK,
        );
        for (c, &count) in row.iter().enumerate() {
            let x = left + c as i64 * cell;
            let shade = (255.0 - 200.0 * count as f64 / max) as u8;
            canvas.rect(x, y, x + cell - 2, y + cell - 2, [shade, shade, 255]);
            let text = count.to_string();
            let ink = if shade < 140 { WHITE } else { BLACK };
            let scale = if cell >= 48 { 2 } else { 1 };
            canvas.text(
                x + cell / 2 - Canvas::text_width(&text, scale) / 2,
                y + cell / 2 - 5,
                &text,
                scale,
                ink,
            );
        }
    }
    canvas.save_png(path)
}

/// Draws `plots/train_loss.png`, `plots/learning_rate.png` and one `plots/eval_<metric>.png`
/// per evaluation metric from a run's `metrics.jsonl`.
pub fn plot_run(output_dir: &Path) -> Result<Vec<std::path::PathBuf>> {
    let log = std::fs::read_to_string(output_dir.join("metrics.jsonl"))
        .with_context(|| format!("cannot read {}", output_dir.join("metrics.jsonl").display()))?;
    let records: Vec<serde_json::Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let series = |key: &str| -> Vec<(f64, f64)> {
        records
            .iter()
            .filter_map(|r| Some((r.get("step")?.as_f64()?, r.get(key)?.as_f64()?)))
            .collect()
    };
    let dir = output_dir.join("plots");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut written = Vec::new();
    let mut draw = |file: String, title: &str, key: &str| -> Result<()> {
        let points = series(key);
        if !points.is_empty() {
            let path = dir.join(file);
            line_chart(&path, title, "STEP", &[(key, points)])?;
            written.push(path);
        }
        Ok(())
    };
    draw("train_loss.png".into(), "TRAINING LOSS", "loss")?;
    draw("learning_rate.png".into(), "LEARNING RATE", "learning_rate")?;
    let mut eval_keys: Vec<String> = records
        .iter()
        .filter_map(|r| r.as_object())
        .flat_map(|o| {
            o.keys()
                .filter(|k| k.starts_with("eval_"))
                .cloned()
                .collect::<Vec<_>>()
        })
        .collect();
    eval_keys.sort();
    eval_keys.dedup();
    for key in eval_keys {
        let title = key.replace('_', " ").to_uppercase();
        draw(format!("{key}.png"), &title, &key)?;
    }
    Ok(written)
}

/// `lr-find`'s plot, `plots/lr_find.png` in `output_dir`: the loss and the smoothed loss
/// (`points`: learning rate, loss, smoothed loss) against log10 of the learning rate, capped
/// at 4 times the lowest smoothed loss, and the `suggested` rate as a vertical line.
pub fn lr_find(
    output_dir: &Path,
    points: &[(f64, f64, f64)],
    suggested: Option<f64>,
) -> Result<PathBuf> {
    let dir = output_dir.join("plots");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    // Losses are drawn up to 4 times the lowest smoothed loss (the divergence threshold), so
    // that the last exploding steps do not flatten the rest of the curve.
    let ceiling = 4.0 * points.iter().map(|p| p.2).fold(f64::INFINITY, f64::min);
    let series = |value: fn(&(f64, f64, f64)) -> f64| -> Vec<(f64, f64)> {
        points
            .iter()
            .map(|p| (p.0.log10(), value(p).min(ceiling)))
            .collect()
    };
    let mut lines = vec![
        ("loss", series(|p| p.1)),
        ("smoothed loss", series(|p| p.2)),
    ];
    let label;
    if let Some(rate) = suggested {
        let x = rate.log10();
        let (low, high) = lines
            .iter()
            .flat_map(|(_, l)| l.iter())
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &(_, y)| {
                (a.min(y), b.max(y))
            });
        label = format!("suggested {rate:.1e}");
        lines.push((label.as_str(), vec![(x, low), (x, high)]));
    }
    let path = dir.join("lr_find.png");
    line_chart(
        &path,
        "LEARNING RATE RANGE TEST",
        "LOG10 LEARNING RATE",
        &lines,
    )?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_short() {
        assert_eq!(tick_label(0.0), "0");
        assert_eq!(tick_label(2e-5), "2.0E-5");
        assert_eq!(tick_label(0.5432), "0.543");
        assert_eq!(tick_label(1500.0), "1500");
    }

    #[test]
    fn a_chart_is_a_png_with_the_series_drawn() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.png");
        line_chart(
            &path,
            "LOSS",
            "STEP",
            &[("loss", vec![(0.0, 1.0), (10.0, 0.5)])],
        )
        .unwrap();
        let decoder =
            png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&path).unwrap()));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!((info.width, info.height), (900, 540));
        let blue = buf.chunks(3).filter(|p| p == &COLORS[0]).count();
        assert!(blue > 500, "the line is drawn ({blue} pixels)");
    }
}
