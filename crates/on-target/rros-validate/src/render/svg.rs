//! `histogram.svg`: the latency plot people expect (OSADL style): one panel per scenario,
//! log-scale sample counts over latency in µs, one step line per measured CPU, the budget
//! marked. Text is emitted as SVG `<text>`, so no font file is needed to draw it.

use anyhow::{Result, anyhow};
use plotters::coord::combinators::LogCoord;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use rros_contract::report::{Report, ScenarioReport, Verdict};

const WIDTH: u32 = 1000;
const PANEL_HEIGHT: u32 = 460;
/// Counts of zero are drawn at this level, just under the lowest decade.
const FLOOR: f64 = 0.5;

const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
    RGBColor(188, 189, 34),
    RGBColor(127, 127, 127),
];
const BUDGET: RGBColor = RGBColor(214, 39, 40);
const P99_BUDGET: RGBColor = RGBColor(255, 127, 14);

/// Step-line points (`histeps`) of sparse bins `[lower µs, count]` with bucket width `w`,
/// dropping to the floor across empty buckets.
pub fn steps(bins: &[(f64, u64)], w: f64) -> Vec<(f64, f64)> {
    let mut pts = Vec::with_capacity(bins.len() * 4 + 2);
    let mut prev_end: Option<f64> = None;
    for &(lo, c) in bins {
        let c = c as f64;
        match prev_end {
            Some(end) if (lo - end).abs() < w * 1e-6 => {}
            Some(end) => {
                pts.push((end, FLOOR));
                pts.push((lo, FLOOR));
            }
            None => pts.push((lo, FLOOR)),
        }
        pts.push((lo, c));
        pts.push((lo + w, c));
        prev_end = Some(lo + w);
    }
    if let Some(end) = prev_end {
        pts.push((end, FLOOR));
    }
    pts
}

/// The x range of a panel: the data with some room, extended to the budget when the budget
/// is near enough to be drawn without squashing the data (else it is noted at the edge).
fn x_range(s: &ScenarioReport) -> (f64, bool) {
    // The data as far as the histogram holds them (samples beyond it are noted in the legend).
    let data_max = s
        .per_cpu
        .iter()
        .map(|c| {
            let last = c
                .histogram
                .bins
                .last()
                .map_or(0.0, |b| b.0 + c.histogram.bucket_width_us);
            if c.histogram.overflow > 0 {
                c.histogram.range_us
            } else {
                last
            }
        })
        .fold(0.0f64, f64::max);
    let t = s.threshold.max_us;
    let base = (data_max * 1.15).max(10.0);
    if t <= base * 4.0 {
        (base.max(t * 1.12), true)
    } else {
        (base, false)
    }
}

/// The panel's chart: latency in µs over log-scale sample counts.
type Chart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, LogCoord<f64>>>;

/// Drawing failed (plotters' error, with what was being drawn).
fn draw_error<E: std::error::Error + Send + Sync>(err: DrawingAreaErrorKind<E>) -> anyhow::Error {
    anyhow!("cannot draw the histogram: {err}")
}

/// One scenario's panel: the axes, a step line per CPU, the budgets, the legend.
fn draw_panel(
    area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    board: &str,
    s: &ScenarioReport,
) -> Result<()> {
    let (x_max, budget_on_scale) = x_range(s);
    let max_count = s
        .per_cpu
        .iter()
        .flat_map(|c| c.histogram.bins.iter().map(|b| b.1))
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let y_max = 10f64.powf((max_count * 3.0).log10().ceil());
    let mut chart = axes(area, board, s, x_max, y_max)?;
    draw_cpus(&mut chart, s)?;
    if budget_on_scale {
        draw_budget(&mut chart, s.threshold.max_us, x_max, y_max)?;
    } else {
        note_budget_off_scale(&mut chart, s, x_max, y_max)?;
    }
    if let Some(p) = s.threshold.p99_us
        && p <= x_max
    {
        draw_p99_budget(&mut chart, p, y_max)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.4))
        .label_font(("sans-serif", 13))
        .draw()
        .map_err(draw_error)?;
    Ok(())
}

/// The panel's title (coloured by verdict) and axes.
fn axes<'a, 'b>(
    area: &'a DrawingArea<SVGBackend<'b>, plotters::coord::Shift>,
    board: &str,
    s: &ScenarioReport,
    x_max: f64,
    y_max: f64,
) -> Result<Chart<'a, 'b>> {
    let max_text = s.max_us.map_or("-".into(), |m| format!("{m:.1} µs"));
    let title = format!(
        "{board} · {} · {}: {} samples, max {max_text}, budget {} µs",
        s.name, s.verdict, s.samples, s.threshold.max_us
    );
    let title_colour = match s.verdict {
        Verdict::Pass => RGBColor(0, 110, 0),
        Verdict::Fail => BUDGET,
        Verdict::Inconclusive => RGBColor(170, 110, 0),
        Verdict::Error => RGBColor(120, 120, 120),
    };
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 18).into_font().color(&title_colour))
        .margin(12)
        .x_label_area_size(42)
        .y_label_area_size(64)
        .build_cartesian_2d(0f64..x_max, (FLOOR..y_max).log_scale())
        .map_err(draw_error)?;
    chart
        .configure_mesh()
        .x_desc("latency (µs)")
        .y_desc("samples (log scale)")
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_label_formatter(&count_label)
        .light_line_style(WHITE.mix(0.0))
        .bold_line_style(BLACK.mix(0.08))
        .draw()
        .map_err(draw_error)?;
    Ok(chart)
}

/// A count axis label: plain up to 1000, then `1eN`; none below 1 (the floor).
fn count_label(v: &f64) -> String {
    if *v < 1.0 {
        return String::new();
    }
    let exp = v.log10().round() as i32;
    if exp <= 3 {
        format!("{v:.0}")
    } else {
        format!("1e{exp}")
    }
}

/// One step line per measured CPU, labelled with its maximum and what lies beyond the range.
fn draw_cpus(chart: &mut Chart<'_, '_>, s: &ScenarioReport) -> Result<()> {
    for (i, c) in s.per_cpu.iter().enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        let pts = steps(&c.histogram.bins, c.histogram.bucket_width_us);
        let mut label = format!(
            "CPU {}: max {}",
            c.cpu,
            c.max_us.map_or("-".into(), |m| format!("{m:.1} µs"))
        );
        if c.histogram.overflow > 0 {
            label += &format!(
                ", {} beyond {:.0} µs",
                c.histogram.overflow, c.histogram.range_us
            );
        }
        chart
            .draw_series(LineSeries::new(pts, colour.stroke_width(2)))
            .map_err(draw_error)?
            .label(label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
            });
    }
    Ok(())
}

/// The max budget as a dashed line, labelled beside it on the side with room.
fn draw_budget(chart: &mut Chart<'_, '_>, t: f64, x_max: f64, y_max: f64) -> Result<()> {
    let left_room = t > x_max / 2.0;
    chart
        .draw_series(DashedLineSeries::new(
            vec![(t, FLOOR), (t, y_max)],
            8,
            5,
            BUDGET.stroke_width(2),
        ))
        .map_err(draw_error)?
        .label(format!("budget (max) {t} µs"))
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BUDGET.stroke_width(2)));
    chart
        .draw_series(std::iter::once(Text::new(
            if left_room {
                format!("budget {t} µs ")
            } else {
                format!(" budget {t} µs")
            },
            (t, (y_max * FLOOR).sqrt()),
            ("sans-serif", 14).into_font().color(&BUDGET).pos(Pos::new(
                if left_room { HPos::Right } else { HPos::Left },
                VPos::Center,
            )),
        )))
        .map_err(draw_error)?;
    Ok(())
}

/// A budget too far right to draw without squashing the data: noted at the right edge.
fn note_budget_off_scale(
    chart: &mut Chart<'_, '_>,
    s: &ScenarioReport,
    x_max: f64,
    y_max: f64,
) -> Result<()> {
    let t = s.threshold.max_us;
    let margin = s
        .margin_us
        .map_or(String::new(), |m| format!(" (margin {m:.0} µs)"));
    chart
        .draw_series(std::iter::once(Text::new(
            format!("budget {t} µs is off the right edge{margin} →"),
            (x_max * 0.98, (y_max * FLOOR).sqrt()),
            ("sans-serif", 14)
                .into_font()
                .color(&BUDGET)
                .pos(Pos::new(HPos::Right, VPos::Center)),
        )))
        .map_err(draw_error)?;
    Ok(())
}

/// The p99 budget as a thinner dashed line.
fn draw_p99_budget(chart: &mut Chart<'_, '_>, p: f64, y_max: f64) -> Result<()> {
    chart
        .draw_series(DashedLineSeries::new(
            vec![(p, FLOOR), (p, y_max)],
            4,
            4,
            P99_BUDGET.stroke_width(1),
        ))
        .map_err(draw_error)?
        .label(format!("budget (p99) {p} µs"))
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], P99_BUDGET.stroke_width(1)));
    Ok(())
}

/// Renders every measured scenario of the report; a run without measurements gets a short
/// note instead of empty axes.
pub fn render(report: &Report) -> Result<String> {
    let board = report
        .board
        .as_ref()
        .map_or("unknown board", |b| b.name.as_str())
        .to_owned();
    let measured: Vec<&ScenarioReport> =
        report.scenarios.iter().filter(|s| s.samples > 0).collect();
    let panels = measured.len().max(1) as u32;
    let mut svg = String::new();
    {
        let root =
            SVGBackend::with_string(&mut svg, (WIDTH, PANEL_HEIGHT * panels)).into_drawing_area();
        let e = |err: DrawingAreaErrorKind<_>| anyhow!("cannot draw the histogram: {err}");
        root.fill(&WHITE).map_err(e)?;
        if measured.is_empty() {
            root.draw(&Text::new(
                format!(
                    "{board} · run {}: {} — nothing was measured",
                    report.run_id, report.verdict
                ),
                (20, 40),
                ("sans-serif", 18).into_font(),
            ))
            .map_err(e)?;
            root.draw(&Text::new(
                report.summary.clone(),
                (20, 70),
                ("sans-serif", 14).into_font(),
            ))
            .map_err(e)?;
        } else {
            for (area, s) in root.split_evenly((measured.len(), 1)).iter().zip(&measured) {
                draw_panel(area, &board, s)?;
            }
        }
        root.present().map_err(e)?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_drop_to_the_floor_between_gaps() {
        let pts = steps(&[(3.0, 10), (4.0, 5), (7.0, 1)], 1.0);
        assert_eq!(
            pts,
            vec![
                (3.0, FLOOR),
                (3.0, 10.0),
                (4.0, 10.0),
                (4.0, 5.0),
                (5.0, 5.0),
                (5.0, FLOOR),
                (7.0, FLOOR),
                (7.0, 1.0),
                (8.0, 1.0),
                (8.0, FLOOR)
            ]
        );
        assert!(steps(&[], 1.0).is_empty());
    }
}
