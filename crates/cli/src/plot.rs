//! Small SVG charts for reports (plotters, SVG backend).

use anyhow::{anyhow, Result};
use plotters::prelude::*;
use std::path::Path;

/// A bar chart of labelled values.
pub fn bars(path: &Path, title: &str, values: &[(&str, f64)]) -> Result<()> {
    let tmp = quilt_build::temp_path(path);
    {
        let root = SVGBackend::new(&tmp, (640, 400)).into_drawing_area();
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
    }
    std::fs::rename(&tmp, path)?;
    Ok(())
}
