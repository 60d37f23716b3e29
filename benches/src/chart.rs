//! The SVG chart of `compare --report`: grouped bars, one group per workload and one bar per
//! driver, each bar the driver's throughput relative to a reference driver (tokio-postgres),
//! so workloads measured in rows/s and in queries/s share one axis. Drawn with plotters'
//! SVG backend only (no fonts or bitmap code: text is left to the SVG viewer).

use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::BoxError;

/// What the chart shows.
pub struct Chart<'a> {
    /// The chart's title.
    pub title: &'a str,
    /// The reference driver the ratios are taken against (its bars are all 1.0).
    pub reference: &'a str,
    /// The drivers, in bar order.
    pub drivers: &'a [&'a str],
    /// Per workload: its name and, per driver, its rate over the reference's (`None`: not
    /// measured, no bar).
    pub groups: &'a [(String, Vec<Option<f64>>)],
}

/// One fill colour per driver (colour-blind-safe, from Okabe and Ito's palette).
const COLOURS: [RGBColor; 4] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
];

/// Writes the chart as an SVG file at `path`.
pub fn write_svg(chart: &Chart<'_>, path: &Path) -> Result<(), BoxError> {
    let groups = chart.groups.len().max(1);
    let width = (140 + 110 * groups as u32).max(800);
    let root = SVGBackend::new(path, (width, 520)).into_drawing_area();
    root.fill(&WHITE)?;
    let top = chart
        .groups
        .iter()
        .flat_map(|(_, r)| r.iter().flatten())
        .fold(1.0f64, |m, &r| m.max(r));
    let y_max = (top * 1.15).max(1.2);
    let bars = chart.drivers.len().max(1) as f64;

    let mut ctx = ChartBuilder::on(&root)
        .caption(chart.title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(70)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..groups as f64, 0f64..y_max)?;
    ctx.configure_mesh()
        .disable_x_mesh()
        // The workload names are drawn below, horizontally and wrapped.
        .x_labels(0)
        .y_desc(format!("throughput relative to {} (x)", chart.reference))
        .y_label_formatter(&|y| format!("{y:.1}"))
        .draw()?;

    for (d, driver) in chart.drivers.iter().enumerate() {
        let colour = COLOURS[d % COLOURS.len()];
        let rects = chart.groups.iter().enumerate().filter_map(|(g, (_, r))| {
            let ratio = (*r.get(d)?)?;
            let x0 = g as f64 + 0.1 + 0.8 * d as f64 / bars;
            let x1 = x0 + 0.8 / bars;
            Some(Rectangle::new([(x0, 0.0), (x1, ratio)], colour.filled()))
        });
        ctx.draw_series(rects)?
            .label(*driver)
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 12, y + 6)], colour.filled()));
        // The value above each bar, for reading it without the grid.
        let labels = chart.groups.iter().enumerate().filter_map(|(g, (_, r))| {
            let ratio = (*r.get(d)?)?;
            let x = g as f64 + 0.1 + 0.8 * (d as f64 + 0.5) / bars;
            Some(Text::new(
                format!("{ratio:.2}"),
                (x, ratio + y_max * 0.01),
                ("sans-serif", 10)
                    .into_font()
                    .transform(FontTransform::Rotate270),
            ))
        });
        ctx.draw_series(labels)?;
    }
    // The reference line: 1.0 = as fast as the reference driver.
    ctx.draw_series(LineSeries::new(
        [(0.0, 1.0), (groups as f64, 1.0)],
        BLACK.stroke_width(1),
    ))?;
    // Workload names under their groups, wrapped to the group's width; "n/a" where the
    // reference driver did not run the workload.
    let label_font =
        TextStyle::from(("sans-serif", 12).into_font()).pos(Pos::new(HPos::Center, VPos::Top));
    for (g, (name, ratios)) in chart.groups.iter().enumerate() {
        let (x, y) = ctx.backend_coord(&(g as f64 + 0.5, 0.0));
        for (k, line) in wrap(name, 15).iter().enumerate() {
            root.draw(&Text::new(
                line.clone(),
                (x, y + 8 + 14 * k as i32),
                label_font.clone(),
            ))?;
        }
        if ratios.iter().all(Option::is_none) {
            let (_, y1) = ctx.backend_coord(&(0.0, y_max * 0.1));
            root.draw(&Text::new(
                format!("n/a for {}", chart.reference),
                (x, y1),
                label_font.clone(),
            ))?;
        }
    }
    ctx.configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

/// Splits `text` into lines of at most `width` characters at spaces (a longer word stays
/// whole on its own line).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for word in text.split_whitespace() {
        match lines.last_mut() {
            Some(line) if line.chars().count() + 1 + word.chars().count() <= width => {
                line.push(' ');
                line.push_str(word);
            }
            _ => lines.push(word.to_string()),
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::wrap;

    #[test]
    fn wraps_at_spaces_within_the_width() {
        assert_eq!(
            wrap("P1 pool checkout per get", 15),
            ["P1 pool", "checkout per", "get"]
        );
        assert_eq!(
            wrap("W5 insert-1-by-1-very-long", 10),
            ["W5", "insert-1-by-1-very-long"]
        );
        assert!(wrap("", 10).is_empty());
    }
}
