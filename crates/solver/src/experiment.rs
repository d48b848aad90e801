//! The solver experiment (`quilt experiment solver`): decision time and decision quality of every
//! algorithm on generated graphs, as in the reference's Figures 9(b) and 10, for each generator
//! [`Family`] (the reference's, tight limits, heavy async calls).
//!
//! Quality is reported two ways: the reference's **optimality gap** `(cost − opt)/(baseline − opt)`
//! where `exact` proved the optimum, and the **ratio** of cost to the best cost any algorithm found
//! on that graph. We also report `cost/opt − 1` (the excess over the optimum) where it is known,
//! `exact`'s proof rate, and every cost's gap to the best lower bound known for its graph (the
//! optimum where proven, else [`crate::lower_bound`]).

use crate::generate::{generate, Family};
use crate::{solve, Algorithm, SolveOptions};
use plotters::prelude::*;
use serde::Serialize;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What to run.
#[derive(Debug, Clone, PartialEq)]
pub struct ExperimentConfig {
    /// Graph sizes (nodes).
    pub sizes: Vec<usize>,
    /// Graphs per size.
    pub trials: usize,
    /// Base seed; graph `t` of size `n` uses seed `seed + 1000·n + t`.
    pub seed: u64,
    /// Time limit for each `exact` run.
    pub exact_time_limit: Duration,
    /// Generator families, each run at every size.
    pub families: Vec<Family>,
}

/// One algorithm on one graph.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Record {
    /// Generator family.
    pub family: String,
    /// Graph size.
    pub nodes: usize,
    /// Trial index within the size.
    pub trial: usize,
    /// Generator seed.
    pub seed: u64,
    /// Algorithm name.
    pub algorithm: String,
    /// Cost found.
    pub cost: u64,
    /// Cost of merging nothing.
    pub baseline_cost: u64,
    /// Proven optimum, if `exact` finished.
    pub optimum: Option<u64>,
    /// Best cost any algorithm found on this graph.
    pub best_known: u64,
    /// Whether this run proved its answer optimal.
    pub proven: bool,
    /// Decision time.
    pub seconds: f64,
    /// `(cost − opt)/(baseline − opt)`, the reference's optimality gap.
    pub gap: Option<f64>,
    /// `cost/opt − 1`.
    pub excess: Option<f64>,
    /// `cost/best_known` (absent when the best known cost is 0).
    pub ratio: Option<f64>,
    /// Best lower bound known: the proven optimum, else `exact`'s first bound.
    pub bound: u64,
    /// `cost/bound − 1` (absent when the bound is 0).
    pub bound_gap: Option<f64>,
}

/// Aggregates of one algorithm at one size.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Generator family.
    pub family: String,
    /// Graph size.
    pub nodes: usize,
    /// Algorithm name.
    pub algorithm: String,
    /// Graphs run.
    pub trials: usize,
    /// Median decision time.
    pub median_seconds: f64,
    /// Slowest decision time.
    pub max_seconds: f64,
    /// Mean optimality gap over graphs with a proven optimum.
    pub mean_gap: Option<f64>,
    /// Mean of `cost/opt − 1` over graphs with a proven optimum.
    pub mean_excess: Option<f64>,
    /// `Σcost/Σopt − 1` over graphs with a proven optimum.
    pub total_excess: Option<f64>,
    /// Mean `cost/best_known`.
    pub mean_ratio: Option<f64>,
    /// Graphs where this algorithm matched the best known cost.
    pub matched_best: usize,
    /// Graphs where `exact` proved the optimum (same for every algorithm of a size).
    pub proven: usize,
    /// Mean `cost/bound − 1`.
    pub mean_bound_gap: Option<f64>,
}

/// Runs every concrete algorithm on `trials` generated graphs of each size. `progress` receives
/// one line per graph.
pub fn run(
    config: &ExperimentConfig,
    mut progress: impl FnMut(&str),
) -> Result<Vec<Record>, crate::SolverError> {
    let mut records = Vec::new();
    for (family, n) in config
        .families
        .iter()
        .flat_map(|&f| config.sizes.iter().map(move |&n| (f, n)))
    {
        for trial in 0..config.trials {
            let seed = config.seed + 1000 * n as u64 + trial as u64;
            let graph = generate(&family.params(n, seed));
            let limits = graph.limits(None, None, None)?;
            let mut runs = Vec::new();
            for alg in Algorithm::CONCRETE {
                let opts = SolveOptions {
                    algorithm: alg,
                    time_limit: config.exact_time_limit,
                    seed,
                };
                runs.push((alg, solve(&graph, &limits, &opts)?));
            }
            let optimum = runs
                .iter()
                .find(|(a, p)| *a == Algorithm::Exact && p.optimal)
                .map(|(_, p)| p.cost);
            let best_known = runs.iter().map(|(_, p)| p.cost).min().unwrap_or(0);
            let bound = match optimum {
                Some(o) => o,
                None => crate::lower_bound(&graph, &limits)?,
            };
            let mut line = format!("{} n={n:<4} trial {trial:<3}", family.name());
            for (alg, plan) in runs {
                let _ = write!(line, " {alg}={} ({:.3}s)", plan.cost, plan.seconds);
                let gap = optimum.and_then(|o| {
                    (plan.baseline_cost > o)
                        .then(|| (plan.cost - o) as f64 / (plan.baseline_cost - o) as f64)
                });
                let excess =
                    optimum.and_then(|o| (o > 0).then(|| plan.cost as f64 / o as f64 - 1.0));
                records.push(Record {
                    family: family.name().to_string(),
                    nodes: n,
                    trial,
                    seed,
                    algorithm: alg.name().to_string(),
                    cost: plan.cost,
                    baseline_cost: plan.baseline_cost,
                    optimum,
                    best_known,
                    proven: plan.optimal,
                    seconds: plan.seconds,
                    gap,
                    excess,
                    ratio: (best_known > 0).then(|| plan.cost as f64 / best_known as f64),
                    bound,
                    bound_gap: (bound > 0).then(|| plan.cost as f64 / bound as f64 - 1.0),
                });
            }
            progress(&line);
        }
    }
    Ok(records)
}

fn mean(xs: &[f64]) -> Option<f64> {
    (!xs.is_empty()).then(|| xs.iter().sum::<f64>() / xs.len() as f64)
}

/// Aggregates records per family, size and algorithm: families in order of first appearance,
/// sizes ascending, algorithms in [`Algorithm::CONCRETE`] order.
pub fn summarize(records: &[Record]) -> Vec<Summary> {
    let mut families: Vec<&str> = Vec::new();
    for r in records {
        if !families.contains(&r.family.as_str()) {
            families.push(&r.family);
        }
    }
    let mut sizes: Vec<usize> = records.iter().map(|r| r.nodes).collect();
    sizes.sort_unstable();
    sizes.dedup();
    let mut out = Vec::new();
    for (family, n) in families
        .iter()
        .flat_map(|&f| sizes.iter().map(move |&n| (f, n)))
    {
        for alg in Algorithm::CONCRETE {
            let rs: Vec<&Record> = records
                .iter()
                .filter(|r| r.family == family && r.nodes == n && r.algorithm == alg.name())
                .collect();
            if rs.is_empty() {
                continue;
            }
            let mut secs: Vec<f64> = rs.iter().map(|r| r.seconds).collect();
            secs.sort_by(f64::total_cmp);
            let with_opt: Vec<&&Record> = rs.iter().filter(|r| r.optimum.is_some()).collect();
            let (sum_cost, sum_opt) = with_opt.iter().fold((0u64, 0u64), |(c, o), r| {
                (c + r.cost, o + r.optimum.unwrap_or(0))
            });
            out.push(Summary {
                family: family.to_string(),
                nodes: n,
                algorithm: alg.name().to_string(),
                trials: rs.len(),
                median_seconds: secs[secs.len() / 2],
                max_seconds: secs[secs.len() - 1],
                mean_gap: mean(&rs.iter().filter_map(|r| r.gap).collect::<Vec<_>>()),
                mean_excess: mean(&rs.iter().filter_map(|r| r.excess).collect::<Vec<_>>()),
                total_excess: (sum_opt > 0).then(|| sum_cost as f64 / sum_opt as f64 - 1.0),
                mean_ratio: mean(&rs.iter().filter_map(|r| r.ratio).collect::<Vec<_>>()),
                matched_best: rs.iter().filter(|r| r.cost == r.best_known).count(),
                proven: with_opt.len(),
                mean_bound_gap: mean(&rs.iter().filter_map(|r| r.bound_gap).collect::<Vec<_>>()),
            });
        }
    }
    out
}

/// Writes `results.json`, `results.csv`, `summary.csv`, `SUMMARY.md` and the SVG plots
/// (`decision_time.svg`, `optimality_gap.svg`, `cost_ratio.svg`) into `dir`. Returns the paths.
pub fn write_outputs(
    dir: &Path,
    config: &ExperimentConfig,
    records: &[Record],
    summaries: &[Summary],
) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    let mut put = |name: &str, bytes: &[u8]| -> std::io::Result<()> {
        let path = dir.join(name);
        quilt_atomic_file::write(&path, bytes)?;
        written.push(path);
        Ok(())
    };
    let json = serde_json::json!({
        "config": {
            "sizes": config.sizes, "trials": config.trials, "seed": config.seed,
            "exact_time_limit": config.exact_time_limit.as_secs_f64(),
            "families": config.families.iter().map(|f| f.name()).collect::<Vec<_>>(),
        },
        "records": records,
        "summary": summaries,
    });
    put(
        "results.json",
        serde_json::to_string_pretty(&json)?.as_bytes(),
    )?;
    put("results.csv", records_csv(records).as_bytes())?;
    put("summary.csv", summary_csv(summaries).as_bytes())?;
    put("SUMMARY.md", markdown(config, summaries).as_bytes())?;
    let plots: [(&str, &str, Metric); 3] = [
        (
            "decision_time.svg",
            "Median decision time (s)",
            Metric::Seconds,
        ),
        (
            "optimality_gap.svg",
            "Mean optimality gap (cost−opt)/(baseline−opt)",
            Metric::Gap,
        ),
        ("cost_ratio.svg", "Mean cost / best known", Metric::Ratio),
    ];
    for (name, title, metric) in plots {
        put(name, plot(summaries, title, metric)?.as_bytes())?;
    }
    Ok(written)
}

fn opt(x: Option<f64>) -> String {
    x.map(|v| format!("{v:.6}")).unwrap_or_default()
}

fn records_csv(records: &[Record]) -> String {
    let mut s = String::from(
        "family,nodes,trial,seed,algorithm,cost,baseline_cost,optimum,best_known,proven,seconds,gap,excess,ratio,bound,bound_gap\n",
    );
    for r in records {
        let _ = writeln!(
            s,
            "{},{},{},{},{},{},{},{},{},{},{:.6},{},{},{},{},{}",
            r.family,
            r.nodes,
            r.trial,
            r.seed,
            r.algorithm,
            r.cost,
            r.baseline_cost,
            r.optimum.map(|o| o.to_string()).unwrap_or_default(),
            r.best_known,
            r.proven,
            r.seconds,
            opt(r.gap),
            opt(r.excess),
            opt(r.ratio),
            r.bound,
            opt(r.bound_gap)
        );
    }
    s
}

fn summary_csv(summaries: &[Summary]) -> String {
    let mut s = String::from(
        "family,nodes,algorithm,trials,median_seconds,max_seconds,mean_gap,mean_excess,total_excess,mean_ratio,matched_best,proven,mean_bound_gap\n",
    );
    for x in summaries {
        let _ = writeln!(
            s,
            "{},{},{},{},{:.6},{:.6},{},{},{},{},{},{},{}",
            x.family,
            x.nodes,
            x.algorithm,
            x.trials,
            x.median_seconds,
            x.max_seconds,
            opt(x.mean_gap),
            opt(x.mean_excess),
            opt(x.total_excess),
            opt(x.mean_ratio),
            x.matched_best,
            x.proven,
            opt(x.mean_bound_gap)
        );
    }
    s
}

fn pct(x: Option<f64>) -> String {
    x.map(|v| format!("{:.1}%", 100.0 * v))
        .unwrap_or_else(|| "–".into())
}

fn markdown(config: &ExperimentConfig, summaries: &[Summary]) -> String {
    let mut s = String::from("# Merge solver experiment\n\n");
    let _ = writeln!(
        s,
        "Generated graphs (families: {}; `reference` is the reference's generator), {} per size, base seed {}; `exact` limited to {:.1} s per graph. Gap = (cost − \
         opt)/(baseline − opt) as in the reference; excess = cost/opt − 1; ratio = cost / best cost any \
         algorithm found; bound gap = cost/bound − 1 with the best lower bound known (the proven \
         optimum, else `exact`'s first bound).\n",
        config
            .families
            .iter()
            .map(|f| {
                let g = f.params(0, 0);
                format!(
                    "{} = K {}, async probability {}, weights ≤ {}",
                    f.name(),
                    g.constraint_factor,
                    g.async_prob,
                    g.max_weight
                )
            })
            .collect::<Vec<_>>()
            .join("; "),
        config.trials,
        config.seed,
        config.exact_time_limit.as_secs_f64()
    );
    s.push_str("| family | nodes | algorithm | median s | max s | proven opt | mean gap | mean excess | Σcost/Σopt − 1 | mean ratio to best | matched best | mean bound gap |\n");
    s.push_str("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for x in summaries {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.4} | {:.4} | {}/{} | {} | {} | {} | {} | {}/{} | {} |",
            x.family,
            x.nodes,
            x.algorithm,
            x.median_seconds,
            x.max_seconds,
            x.proven,
            x.trials,
            pct(x.mean_gap),
            pct(x.mean_excess),
            pct(x.total_excess),
            x.mean_ratio
                .map(|v| format!("{v:.3}"))
                .unwrap_or_else(|| "–".into()),
            x.matched_best,
            x.trials,
            pct(x.mean_bound_gap)
        );
    }
    s.push_str("\nPlots: `decision_time.svg`, `optimality_gap.svg`, `cost_ratio.svg`. Raw data: `results.csv`, `results.json`.\n");
    s
}

#[derive(Clone, Copy, PartialEq)]
enum Metric {
    Seconds,
    Gap,
    Ratio,
}

fn plot(summaries: &[Summary], title: &str, metric: Metric) -> std::io::Result<String> {
    plot_svg(summaries, title, metric).map_err(|e| std::io::Error::other(format!("plot: {e}")))
}

type PlotResult<T> = Result<T, Box<dyn std::error::Error>>;

fn plot_svg(summaries: &[Summary], title: &str, metric: Metric) -> PlotResult<String> {
    let value = |x: &Summary| match metric {
        Metric::Seconds => Some(x.median_seconds.max(1e-5)),
        Metric::Gap => x.mean_gap,
        Metric::Ratio => x.mean_ratio,
    };
    // One series per family and algorithm; the family is named only when there are several.
    let several = summaries.iter().any(|x| x.family != summaries[0].family);
    let points: Vec<(usize, String, f64)> = summaries
        .iter()
        .filter_map(|x| {
            let label = if several {
                format!("{} {}", x.family, x.algorithm)
            } else {
                x.algorithm.clone()
            };
            value(x).map(|v| (x.nodes, label, v))
        })
        .collect();
    let xmin = points.iter().map(|p| p.0).min().unwrap_or(1).max(1) as f64;
    let xmax = (points.iter().map(|p| p.0).max().unwrap_or(10) as f64).max(xmin * 2.0);
    let ymin = points.iter().map(|p| p.2).fold(f64::INFINITY, f64::min);
    let ymax = points.iter().map(|p| p.2).fold(0.0, f64::max);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (800, 500)).into_drawing_area();
        root.fill(&WHITE)?;
        let x_range = ((xmin / 1.2)..(xmax * 1.2)).log_scale();
        if metric == Metric::Seconds {
            let lo = if ymin.is_finite() { ymin / 2.0 } else { 1e-5 };
            let mut chart = ChartBuilder::on(&root)
                .caption(title, ("sans-serif", 22))
                .margin(15)
                .x_label_area_size(40)
                .y_label_area_size(70)
                .build_cartesian_2d(x_range, (lo..(ymax * 2.0).max(lo * 10.0)).log_scale())?;
            chart
                .configure_mesh()
                .x_desc("graph size (nodes)")
                .y_desc("seconds")
                .draw()?;
            draw_all(&mut chart, &points)?;
            chart
                .configure_series_labels()
                .border_style(BLACK)
                .background_style(WHITE)
                .draw()?;
        } else {
            let lo = if metric == Metric::Ratio {
                ymin.min(1.0) * 0.95
            } else {
                0.0
            };
            let hi = (ymax * 1.15).max(lo + 0.05);
            let mut chart = ChartBuilder::on(&root)
                .caption(title, ("sans-serif", 22))
                .margin(15)
                .x_label_area_size(40)
                .y_label_area_size(70)
                .build_cartesian_2d(x_range, lo..hi)?;
            chart.configure_mesh().x_desc("graph size (nodes)").draw()?;
            draw_all(&mut chart, &points)?;
            chart
                .configure_series_labels()
                .border_style(BLACK)
                .background_style(WHITE)
                .draw()?;
        }
        root.present()?;
    }
    Ok(svg)
}

fn draw_all<DB: DrawingBackend, CT: CoordTranslate<From = (f64, f64)>>(
    chart: &mut ChartContext<'_, DB, CT>,
    points: &[(usize, String, f64)],
) -> PlotResult<()>
where
    DB::ErrorType: 'static,
{
    let colors = [RED, BLUE, GREEN, MAGENTA, CYAN, BLACK];
    let mut labels: Vec<&str> = Vec::new();
    for p in points {
        if !labels.contains(&p.1.as_str()) {
            labels.push(&p.1);
        }
    }
    for (i, label) in labels.iter().enumerate() {
        let pts: Vec<(f64, f64)> = points
            .iter()
            .filter(|p| p.1 == *label)
            .map(|p| (p.0 as f64, p.2))
            .collect();
        draw_series(chart, &pts, colors[i % colors.len()], label)?;
    }
    Ok(())
}

fn draw_series<DB: DrawingBackend, CT: CoordTranslate<From = (f64, f64)>>(
    chart: &mut ChartContext<'_, DB, CT>,
    pts: &[(f64, f64)],
    color: RGBColor,
    label: &str,
) -> PlotResult<()>
where
    DB::ErrorType: 'static,
{
    chart
        .draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2)))
        .map_err(|e| e.to_string())?
        .label(label.to_string())
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
    chart
        .draw_series(pts.iter().map(|&p| Circle::new(p, 4, color.filled())))
        .map_err(|e| e.to_string())?;
    Ok(())
}
