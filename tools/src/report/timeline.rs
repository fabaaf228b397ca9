//! The timeline plot: what a run did over its first 200 ms, one lane per thread, per memory
//! size. The lanes come from the workload's own module (`Workload::timeline`, e.g.
//! cpu-timeline's runs and throttling pauses); nothing here knows a workload's fields.

use super::figures::series_name;
use super::input::Row;
use lambda_probe::workloads::Lane;
use plotters::prelude::*;

/// The stretch each lane shows, from its own start.
pub const WINDOW_MS: f64 = 200.0;
/// Lanes beyond these are left out (and said): the plot stays readable.
pub const MAX_LANES: usize = 32;

#[derive(Clone, Debug, PartialEq)]
pub struct TimelinePlot {
    /// Unique in the report; names the SVG file.
    pub id: String,
    pub title: String,
    pub filled: String,
    pub gap: String,
    pub marked: String,
    /// "1024 MB · x86_64 emulated · thread 0", and the lane moved to start at 0.
    pub lanes: Vec<(String, Lane)>,
    pub note: Option<String>,
}

/// One lane per thread of the first run at each memory size and series (architecture ×
/// source), by memory size; `None` when no run of the workload records a timeline.
pub fn timeline(key: &str, rows: &[&Row]) -> Option<TimelinePlot> {
    let mut picked: Vec<(u32, String, &Row)> = Vec::new();
    for r in rows {
        let series = series_name(r);
        if r.response.result.timeline().is_some()
            && !picked
                .iter()
                .any(|(m, s, _)| *m == r.memory_mb && *s == series)
        {
            picked.push((r.memory_mb, series, r));
        }
    }
    picked.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    let mut plot: Option<TimelinePlot> = None;
    let mut left_out = 0;
    for (memory_mb, series, r) in picked {
        let Some(t) = r.response.result.timeline() else {
            continue;
        };
        let p = plot.get_or_insert_with(|| TimelinePlot {
            id: format!("{key}-timeline"),
            title: format!("{} over the first {WINDOW_MS} ms", t.title),
            filled: t.filled.into(),
            gap: t.gap.into(),
            marked: t.marked.into(),
            lanes: Vec::new(),
            note: t.note.map(String::from),
        });
        for lane in t.lanes {
            if p.lanes.len() >= MAX_LANES {
                left_out += 1;
                continue;
            }
            let label = format!("{memory_mb} MB · {series} · {}", lane.label);
            p.lanes.push((label, from_zero(lane)));
        }
    }
    if let Some(p) = plot.as_mut() {
        let mut note = p.note.take().unwrap_or_default();
        note += " The first run at each memory size and series; every lane from its own start.";
        if left_out > 0 {
            note += &format!(" {left_out} more lanes left out (at most {MAX_LANES}).");
        }
        p.note = Some(note.trim().to_string());
    }
    plot
}

/// The lane on its own time axis (0 = its start), cut to the window.
fn from_zero(lane: Lane) -> Lane {
    let shift = lane.from_ms;
    let end = (lane.to_ms - shift).min(WINDOW_MS);
    Lane {
        label: lane.label,
        from_ms: 0.0,
        to_ms: end,
        gaps: lane
            .gaps
            .into_iter()
            .map(|mut g| {
                g.start_ms -= shift;
                g
            })
            .filter(|g| g.start_ms < end)
            .map(|mut g| {
                g.length_ms = g.length_ms.min(end - g.start_ms);
                g
            })
            .collect(),
    }
}

/// What the plot shows per lane, for the table beside it: running time, paused time (marked)
/// and the first stretch before the first marked gap, in the window.
pub fn table_rows(p: &TimelinePlot) -> Vec<[String; 4]> {
    p.lanes
        .iter()
        .map(|(label, lane)| {
            let paused: f64 = lane.gaps.iter().map(|g| g.length_ms).sum();
            let marked: f64 = lane
                .gaps
                .iter()
                .filter(|g| g.marked)
                .map(|g| g.length_ms)
                .sum();
            let first = lane
                .gaps
                .iter()
                .find(|g| g.marked)
                .map(|g| format!("{:.1}", g.start_ms))
                .unwrap_or_else(|| "–".into());
            [
                label.clone(),
                format!("{:.1}", lane.to_ms - paused),
                format!("{marked:.1}"),
                first,
            ]
        })
        .collect()
}

pub fn table_headers(p: &TimelinePlot) -> [String; 4] {
    [
        "Lane".into(),
        format!("{} (ms)", p.filled),
        format!("{} (ms)", p.marked),
        format!("first {} at (ms)", p.marked),
    ]
}

const RUNNING: RGBColor = RGBColor(31, 119, 180);
const MARKED: RGBColor = RGBColor(214, 39, 40);
const GAP: RGBColor = RGBColor(200, 200, 200);

pub fn svg(p: &TimelinePlot) -> Result<String, String> {
    let mut out = String::new();
    draw(p, &mut out).map_err(|e| format!("plot {}: {e}", p.id))?;
    Ok(out)
}

fn draw(p: &TimelinePlot, out: &mut String) -> Result<(), String> {
    let n = p.lanes.len().max(1);
    let height = 140 + 26 * n as u32;
    let root = SVGBackend::with_string(out, (900, height)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let labels: Vec<String> = p.lanes.iter().map(|(l, _)| l.clone()).collect();
    let mut chart = ChartBuilder::on(&root)
        .caption(&p.title, ("sans-serif", 18))
        .margin(12)
        .margin_bottom(36)
        .x_label_area_size(40)
        .y_label_area_size(260)
        .build_cartesian_2d(0f64..WINDOW_MS, -0.5f64..(n as f64 - 0.5))
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("ms from the lane's start")
        .y_labels(n)
        .y_label_formatter(&|v| {
            let i = v.round();
            if (v - i).abs() < 0.01 && i >= 0.0 {
                // Lane 0 at the top.
                labels.get(n - 1 - i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .disable_y_mesh()
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(err)?;
    for (i, (_, lane)) in p.lanes.iter().enumerate() {
        let y = (n - 1 - i) as f64;
        let (lo, hi) = (y - 0.32, y + 0.32);
        chart
            .plotting_area()
            .draw(&Rectangle::new(
                [(lane.from_ms, lo), (lane.to_ms, hi)],
                RUNNING.filled(),
            ))
            .map_err(err)?;
        for g in &lane.gaps {
            let color = if g.marked { MARKED } else { GAP };
            // At least a pixel or so wide, so a 60 µs pause is seen at all.
            let end = (g.start_ms + g.length_ms).max(g.start_ms + 0.25);
            chart
                .plotting_area()
                .draw(&Rectangle::new(
                    [(g.start_ms, lo), (end, hi)],
                    color.filled(),
                ))
                .map_err(err)?;
        }
    }
    // The legend, as swatches of the three colours.
    for (i, (name, color)) in [(&p.filled, RUNNING), (&p.marked, MARKED), (&p.gap, GAP)]
        .into_iter()
        .enumerate()
    {
        let x = 290 + 190 * i as i32;
        let y = height as i32 - 14;
        root.draw(&Rectangle::new(
            [(x, y - 6), (x + 14, y + 4)],
            color.filled(),
        ))
        .map_err(err)?;
        root.draw(&Text::new(
            name.clone(),
            (x + 20, y - 6),
            ("sans-serif", 12).into_font(),
        ))
        .map_err(err)?;
    }
    root.present().map_err(err)?;
    Ok(())
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_probe::workloads::LaneGap;

    fn lane(from: f64, to: f64, gaps: &[(f64, f64, bool)]) -> Lane {
        Lane {
            label: "thread 0".into(),
            from_ms: from,
            to_ms: to,
            gaps: gaps
                .iter()
                .map(|&(start_ms, length_ms, marked)| LaneGap {
                    start_ms,
                    length_ms,
                    marked,
                })
                .collect(),
        }
    }

    #[test]
    fn lanes_start_at_zero_and_stop_at_the_window() {
        let l = from_zero(lane(
            1.5,
            2001.5,
            &[
                (11.5, 8.0, true),
                (150.0, 0.1, false),
                (195.0, 10.0, true),
                (300.0, 5.0, true),
            ],
        ));
        assert_eq!(l.from_ms, 0.0);
        assert_eq!(l.to_ms, WINDOW_MS);
        let gaps: Vec<(f64, f64, bool)> = l
            .gaps
            .iter()
            .map(|g| (g.start_ms, g.length_ms, g.marked))
            .collect();
        assert_eq!(
            gaps,
            vec![(10.0, 8.0, true), (148.5, 0.1, false), (193.5, 6.5, true)]
        );
        let p = TimelinePlot {
            id: "x".into(),
            title: "t".into(),
            filled: "running".into(),
            gap: "paused".into(),
            marked: "throttled".into(),
            lanes: vec![("128 MB".into(), l)],
            note: None,
        };
        let rows = table_rows(&p);
        assert_eq!(rows[0][1], "185.4");
        assert_eq!(rows[0][2], "14.5");
        assert_eq!(rows[0][3], "10.0");
        let svg = svg(&p).unwrap();
        assert!(svg.contains("<svg"), "{svg}");
        assert!(svg.contains("128 MB"), "the lane is labelled");
    }
}
