//! SVG plots with plotters. Each data series is one `<polyline>` (plus its points and min–max
//! bars as `<line>`/`<circle>`); each reference curve and vertical marker is one more polyline.
//! Legend swatches are rectangles, so polylines count exactly the lines drawn.

use super::figures::{Plot, XAxis};
use plotters::prelude::*;

const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
];

/// Memory axis ticks: readable from 128 to 10,240 MB.
const MEMORY_TICKS: [f64; 7] = [128.0, 256.0, 512.0, 1024.0, 2048.0, 4096.0, 10240.0];
/// Concurrency axis ticks, up to LMI's 1,600 per environment.
const CONCURRENCY_TICKS: [f64; 12] = [
    1.0, 2.0, 3.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1600.0,
];

/// plotters' SVG backend has no dashed polyline (its dashed series draws every dash as a
/// polyline of its own): predicted curves are drawn with this opacity, used by nothing else,
/// and given a dash pattern in the SVG text afterwards.
const PREDICTED_OPACITY: f64 = 0.9;

pub fn svg(plot: &Plot) -> Result<String, String> {
    let mut out = String::new();
    draw(plot, &mut out).map_err(|e| format!("plot {}: {e}", plot.id))?;
    Ok(out.replace(
        &format!("opacity=\"{PREDICTED_OPACITY}\""),
        &format!("opacity=\"{PREDICTED_OPACITY}\" stroke-dasharray=\"7 4\""),
    ))
}

fn draw(plot: &Plot, out: &mut String) -> Result<(), String> {
    let root = SVGBackend::with_string(out, (760, 440)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut y_max = plot
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.max))
        .chain(
            plot.references
                .iter()
                .flat_map(|r| r.points.iter().map(|p| p.1)),
        )
        .chain(
            plot.predicted
                .iter()
                .flat_map(|c| c.points.iter().map(|p| p.3)),
        )
        .fold(0.0f64, f64::max);
    if y_max <= 0.0 || !y_max.is_finite() {
        y_max = 1.0;
    }
    let y_top = y_max * 1.12;
    // Memory: 128 to 10,240 MB; concurrency: 1 to the largest number at once.
    let (x_range, x_ticks, x_desc) = match plot.x_axis {
        XAxis::Memory => (
            112f64..11_000f64,
            MEMORY_TICKS.to_vec(),
            "Memory (MB, log scale)",
        ),
        XAxis::Concurrency => {
            let most = plot
                .series
                .iter()
                .flat_map(|s| s.points.iter().map(|p| p.x))
                .chain(plot.vlines.iter().map(|v| v.0 as u32))
                .max()
                .unwrap_or(1)
                .max(2) as f64;
            let ticks: Vec<f64> = CONCURRENCY_TICKS
                .iter()
                .copied()
                .filter(|&t| t <= most)
                .collect();
            (
                0.85f64..most * 1.2,
                ticks,
                "Invocations at once in one process (overlap.others_max + 1, log scale)",
            )
        }
    };
    let mut chart = ChartBuilder::on(&root)
        .caption(&plot.title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(42)
        .y_label_area_size(78)
        .build_cartesian_2d(x_range.log_scale().with_key_points(x_ticks), 0f64..y_top)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(plot.y_label.as_str())
        .x_label_formatter(&|m| format!("{}", m.round() as i64))
        .y_label_formatter(&|v| y_tick(*v, y_top))
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(err)?;

    for (i, s) in plot.series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let pts: Vec<(f64, f64)> = s.points.iter().map(|p| (p.x as f64, p.median)).collect();
        chart
            .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
            .map_err(err)?
            .label(s.name.as_str())
            .legend(move |(x, y)| Rectangle::new([(x, y - 4), (x + 14, y + 4)], color.filled()));
        chart
            .draw_series(
                pts.iter()
                    .map(|&(x, y)| Circle::new((x, y), 3, color.filled())),
            )
            .map_err(err)?;
        // Spread over repeated runs: a min–max bar where there is one.
        for p in s.points.iter().filter(|p| p.max > p.min) {
            let x = p.x as f64;
            // A zero-width rectangle outline, so it is not counted as a line series.
            chart
                .plotting_area()
                .draw(&Rectangle::new(
                    [(x, p.min), (x, p.max)],
                    color.stroke_width(1),
                ))
                .map_err(err)?;
        }
    }
    // Predictions: a dashed line (drawn as dashes, not a polyline) over a band of its range, in
    // colours after the measured series'.
    for (i, c) in plot.predicted.iter().enumerate() {
        let color = PALETTE[(plot.series.len() + i) % PALETTE.len()];
        let mut band: Vec<(f64, f64)> = c.points.iter().map(|p| (p.0, p.3)).collect();
        band.extend(c.points.iter().rev().map(|p| (p.0, p.2)));
        if band.len() >= 3 {
            chart
                .plotting_area()
                .draw(&Polygon::new(band, color.mix(0.18).filled()))
                .map_err(err)?;
        }
        // One polyline, made dashed after drawing (see `PREDICTED_OPACITY`).
        chart
            .draw_series(LineSeries::new(
                c.points.iter().map(|p| (p.0, p.1)),
                color.mix(PREDICTED_OPACITY).stroke_width(2),
            ))
            .map_err(err)?
            .label(c.name.as_str())
            .legend(move |(x, y)| Rectangle::new([(x, y - 1), (x + 14, y + 1)], color.filled()));
    }
    for r in &plot.references {
        let style = BLACK.mix(0.55).stroke_width(1);
        chart
            .draw_series(LineSeries::new(r.points.clone(), style))
            .map_err(err)?
            .label(r.name.as_str())
            .legend(|(x, y)| {
                Rectangle::new([(x, y - 1), (x + 14, y + 1)], BLACK.mix(0.55).filled())
            });
    }
    for (m, label) in &plot.vlines {
        chart
            .draw_series(LineSeries::new(
                vec![(*m, 0.0), (*m, y_top)],
                RGBColor(170, 170, 170).stroke_width(1),
            ))
            .map_err(err)?;
        chart
            .draw_series(std::iter::once(Text::new(
                label.clone(),
                (*m * 1.03, y_top * 0.97),
                ("sans-serif", 11).into_font().color(&RGBColor(90, 90, 90)),
            )))
            .map_err(err)?;
    }
    for mk in &plot.marks {
        let color = plot
            .series
            .iter()
            .position(|s| s.name == mk.series)
            .map(|i| PALETTE[i % PALETTE.len()])
            .unwrap_or(BLACK);
        let at = (mk.x as f64, mk.value);
        if mk.label == "cheapest" {
            chart
                .draw_series(std::iter::once(TriangleMarker::new(at, 9, color.filled())))
                .map_err(err)?;
        } else {
            chart
                .draw_series(std::iter::once(Circle::new(at, 8, color.stroke_width(2))))
                .map_err(err)?;
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .label_font(("sans-serif", 12))
        .draw()
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Tick labels precise enough for the axis' range (sub-millisecond durations, USD per call).
fn y_tick(v: f64, y_top: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if y_top >= 100.0 {
        format!("{v:.0}")
    } else if y_top >= 1.0 {
        format!("{v:.2}")
    } else if y_top >= 0.001 {
        format!("{v:.4}")
    } else {
        format!("{v:.2e}")
    }
}
