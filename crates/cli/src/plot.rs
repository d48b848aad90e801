//! Small SVG charts for reports (plotters, SVG backend).

use anyhow::{anyhow, Result};
use plotters::prelude::*;
use std::path::Path;

/// A bar chart of labelled values.
pub fn bars(path: &Path, title: &str, values: &[(&str, f64)]) -> Result<()> {
    quilt_atomic_file::replace_with(path, |tmp: &Path| -> Result<()> {
        let root = SVGBackend::new(tmp, (640, 400)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
        let top = values.iter().map(|v| v.1).fold(0.0, f64::max).max(1e-9) * 1.15;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(16)
            .x_label_area_size(30)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..values.len() as f64, 0.0..top)
            .map_err(|e| anyhow!("{e}"))?;
        let labels: Vec<String> = values.iter().map(|v| v.0.to_string()).collect();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(values.len() * 2 + 1)
            .x_label_formatter(&|x| {
                let i = x.floor() as usize;
                if (x - i as f64 - 0.5).abs() < 0.01 {
                    labels.get(i).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .draw()
            .map_err(|e| anyhow!("{e}"))?;
        chart
            .draw_series(values.iter().enumerate().map(|(i, v)| {
                let color = Palette99::pick(i).filled();
                Rectangle::new([(i as f64 + 0.15, 0.0), (i as f64 + 0.85, v.1)], color)
            }))
            .map_err(|e| anyhow!("{e}"))?;
        root.present().map_err(|e| anyhow!("{e}"))?;
        Ok(())
    })
}

/// One curve of a line chart: a label and its points, in drawing order.
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend text.
    pub label: String,
    /// `(x, y)` points.
    pub points: Vec<(f64, f64)>,
}

/// A line chart with a marker at every point and a legend, e.g. latency against throughput. With
/// `log_y` the y axis is logarithmic (non-positive values are left out).
pub fn lines(
    path: &Path,
    title: &str,
    (x_label, y_label): (&str, &str),
    series: &[Series],
    log_y: bool,
) -> Result<()> {
    let finite = |v: f64| v.is_finite() && (!log_y || v > 0.0);
    let points: Vec<(f64, f64)> = series
        .iter()
        .flat_map(|s| s.points.iter().copied())
        .filter(|p| p.0.is_finite() && finite(p.1))
        .collect();
    let x_max = points.iter().map(|p| p.0).fold(0.0, f64::max).max(1e-9) * 1.05;
    let y_max = points.iter().map(|p| p.1).fold(0.0, f64::max).max(1e-9);
    let y_min = points.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
    quilt_atomic_file::replace_with(path, |tmp: &Path| -> Result<()> {
        let root = SVGBackend::new(tmp, (800, 500)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
        let mut builder = ChartBuilder::on(&root);
        builder
            .caption(title, ("sans-serif", 20))
            .margin(16)
            .x_label_area_size(40)
            .y_label_area_size(70);
        macro_rules! draw {
            ($chart:expr) => {{
                let mut chart = $chart.map_err(|e| anyhow!("{e}"))?;
                chart
                    .configure_mesh()
                    .x_desc(x_label)
                    .y_desc(y_label)
                    .draw()
                    .map_err(|e| anyhow!("{e}"))?;
                for (i, s) in series.iter().enumerate() {
                    let color = Palette99::pick(i).to_rgba();
                    let pts: Vec<(f64, f64)> = s
                        .points
                        .iter()
                        .copied()
                        .filter(|p| p.0.is_finite() && finite(p.1))
                        .collect();
                    chart
                        .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
                        .map_err(|e| anyhow!("{e}"))?
                        .label(s.label.clone())
                        .legend(move |(x, y)| {
                            PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
                        });
                    chart
                        .draw_series(pts.iter().map(|p| Circle::new(*p, 3, color.filled())))
                        .map_err(|e| anyhow!("{e}"))?;
                }
                chart
                    .configure_series_labels()
                    .position(SeriesLabelPosition::UpperLeft)
                    .background_style(WHITE.mix(0.85))
                    .border_style(BLACK)
                    .draw()
                    .map_err(|e| anyhow!("{e}"))?;
            }};
        }
        // A logarithmic axis within one decade would show no labels at all.
        if log_y && y_min.is_finite() && y_max / y_min > 20.0 {
            draw!(builder.build_cartesian_2d(0.0..x_max, (y_min / 1.5..y_max * 1.5).log_scale()));
        } else {
            draw!(builder.build_cartesian_2d(0.0..x_max, 0.0..y_max * 1.1));
        }
        root.present().map_err(|e| anyhow!("{e}"))?;
        Ok(())
    })
}

/// Bars grouped by category, one colour per series, with a legend: `series[s].1[g]` is the value of
/// series `s` in group `g`.
pub fn grouped_bars(
    path: &Path,
    title: &str,
    y_label: &str,
    groups: &[String],
    series: &[(String, Vec<f64>)],
) -> Result<()> {
    let top = series
        .iter()
        .flat_map(|s| s.1.iter().copied())
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max)
        .max(1e-9)
        * (1.2 + 0.1 * series.len() as f64);
    let width = (groups.len() as u32 * 90).clamp(640, 1600);
    quilt_atomic_file::replace_with(path, |tmp: &Path| -> Result<()> {
        let root = SVGBackend::new(tmp, (width, 480)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(16)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(0.0..groups.len().max(1) as f64, 0.0..top)
            .map_err(|e| anyhow!("{e}"))?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .y_desc(y_label)
            .x_labels(groups.len() * 2 + 1)
            .x_label_style(("sans-serif", 11))
            .x_label_formatter(&|x| {
                let i = x.floor() as usize;
                if (x - i as f64 - 0.5).abs() < 0.01 {
                    groups.get(i).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .draw()
            .map_err(|e| anyhow!("{e}"))?;
        let n = series.len().max(1) as f64;
        let slot = 0.8 / n;
        for (s, (label, values)) in series.iter().enumerate() {
            let color = Palette99::pick(s).to_rgba();
            chart
                .draw_series(
                    values
                        .iter()
                        .enumerate()
                        .filter(|v| v.1.is_finite())
                        .map(|(g, v)| {
                            let x0 = g as f64 + 0.1 + s as f64 * slot;
                            Rectangle::new([(x0, 0.0), (x0 + slot * 0.9, *v)], color.filled())
                        }),
                )
                .map_err(|e| anyhow!("{e}"))?
                .label(label.clone())
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled())
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(|e| anyhow!("{e}"))?;
        root.present().map_err(|e| anyhow!("{e}"))?;
        Ok(())
    })
}
