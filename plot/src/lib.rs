//! ardent's pictures, drawn with plotters and returned as bytes (the caller writes them, atomically):
//!
//! - [`charts`]: a grid of x–y charts with lines and markers, a log or linear x axis and
//!   labelled reference points (accuracy against exported parameters; γ per edge over training),
//!   as PNG or SVG;
//! - [`simplex_grid`]: densities on the 2-simplex as a grid of heat maps (PNG).
//!
//! Text is drawn with a bundled subset of DejaVu Sans (ASCII, Greek, arrows and a few math
//! signs), so no system fonts are needed.

use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;

/// Why a picture could not be drawn.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    #[error("nothing to plot: {0}")]
    Empty(String),
    #[error("picture size {0}×{1} pixels is out of range (16 to 8192 per side)")]
    Size(u32, u32),
    #[error("drawing failed: {0}")]
    Draw(String),
    #[error("encoding the PNG failed: {0}")]
    Png(String),
}

/// The file format of a chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Png,
    Svg,
}

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    Line,
    Points,
    LinePoints,
}

/// One named series of (x, y) points; `color` indexes a fixed palette, so related series
/// (e.g. a method and its baseline on one checkpoint) can share a colour.
#[derive(Debug, Clone)]
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
    pub mark: Mark,
    pub color: usize,
    /// Dashed-looking: drawn thinner and lighter (baselines).
    pub faint: bool,
}

/// A labelled point drawn as a black star, e.g. a published result.
#[derive(Debug, Clone)]
pub struct Reference {
    pub x: f64,
    pub y: f64,
    pub label: String,
}

/// One chart of a grid.
#[derive(Debug, Clone)]
pub struct Chart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub x_log: bool,
    pub series: Vec<Series>,
    pub references: Vec<Reference>,
    /// Fixed y range; by default the data's, with a margin.
    pub y_range: Option<(f64, f64)>,
}

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

const FONT: &[u8] = include_bytes!("../fonts/DejaVuSans-subset.ttf");

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The font is a constant of this crate; a test loads it, so failure here is a build defect.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

fn check_size(w: u32, h: u32) -> Result<(), PlotError> {
    if (16..=8192).contains(&w) && (16..=8192).contains(&h) {
        Ok(())
    } else {
        Err(PlotError::Size(w, h))
    }
}

fn draw_err<E: std::fmt::Debug>(e: E) -> PlotError {
    PlotError::Draw(format!("{e:?}"))
}

/// Draws `charts` in a grid of `cols` columns on a `size` picture, as PNG or SVG bytes.
/// Non-finite points (and, on a log axis, x ≤ 0) are left out.
pub fn charts(
    charts: &[Chart],
    cols: usize,
    size: (u32, u32),
    format: Format,
) -> Result<Vec<u8>, PlotError> {
    check_size(size.0, size.1)?;
    if charts.is_empty() {
        return Err(PlotError::Empty("no charts".into()));
    }
    register_font();
    let cols = cols.clamp(1, charts.len());
    let rows = charts.len().div_ceil(cols);
    match format {
        Format::Png => png(size, |root| draw_grid(root, charts, rows, cols)),
        Format::Svg => {
            let mut s = String::new();
            {
                let root = SVGBackend::with_string(&mut s, size).into_drawing_area();
                draw_grid(&root, charts, rows, cols)?;
                root.present().map_err(draw_err)?;
            }
            Ok(s.into_bytes())
        }
    }
}

fn draw_grid<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    charts: &[Chart],
    rows: usize,
    cols: usize,
) -> Result<(), PlotError> {
    root.fill(&WHITE).map_err(draw_err)?;
    for (area, chart) in root.split_evenly((rows, cols)).iter().zip(charts) {
        draw_chart(area, chart)?;
    }
    Ok(())
}

fn finite_points(c: &Chart) -> impl Iterator<Item = (f64, f64)> + '_ {
    c.series
        .iter()
        .flat_map(|s| s.points.iter().copied())
        .chain(c.references.iter().map(|r| (r.x, r.y)))
        .filter(move |&(x, y)| x.is_finite() && y.is_finite() && (!c.x_log || x > 0.0))
}

fn range(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    values.fold(None, |acc, v| match acc {
        None => Some((v, v)),
        Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
    })
}

fn draw_chart<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    c: &Chart,
) -> Result<(), PlotError> {
    let Some((x0, x1)) = range(finite_points(c).map(|p| p.0)) else {
        return Err(PlotError::Empty(format!(
            "chart `{}` has no finite points",
            c.title
        )));
    };
    let (y0, y1) = match c.y_range {
        Some(r) => r,
        None => {
            let (lo, hi) = range(finite_points(c).map(|p| p.1)).unwrap_or((0.0, 1.0));
            let pad = ((hi - lo) * 0.05).max(1e-6);
            (lo - pad, hi + pad)
        }
    };
    let mut builder = ChartBuilder::on(area);
    builder
        .caption(&c.title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(56);
    if c.x_log {
        let (lo, hi) = (
            x0 / 1.3,
            x1 * if c.references.is_empty() { 1.3 } else { 1.8 },
        );
        let mut chart = builder
            .build_cartesian_2d((lo..hi).log_scale(), y0..y1)
            .map_err(draw_err)?;
        chart
            .configure_mesh()
            .x_desc(&c.x_label)
            .y_desc(&c.y_label)
            .x_label_formatter(&|v| compact_number(*v))
            .label_style(("sans-serif", 13))
            .draw()
            .map_err(draw_err)?;
        draw_contents(&mut chart, c)
    } else {
        let pad = ((x1 - x0) * 0.03).max(1e-6);
        let mut chart = builder
            .build_cartesian_2d((x0 - pad)..(x1 + pad), y0..y1)
            .map_err(draw_err)?;
        chart
            .configure_mesh()
            .x_desc(&c.x_label)
            .y_desc(&c.y_label)
            .label_style(("sans-serif", 13))
            .draw()
            .map_err(draw_err)?;
        draw_contents(&mut chart, c)
    }
}

fn draw_contents<'a, DB, CT>(
    chart: &mut ChartContext<'a, DB, CT>,
    c: &Chart,
) -> Result<(), PlotError>
where
    DB: DrawingBackend + 'a,
    CT: CoordTranslate<From = (f64, f64)>,
{
    for s in &c.series {
        let base = PALETTE[s.color % PALETTE.len()];
        let color = if s.faint {
            base.mix(0.55)
        } else {
            base.mix(1.0)
        };
        let width = if s.faint { 1 } else { 2 };
        let pts: Vec<(f64, f64)> = s
            .points
            .iter()
            .copied()
            .filter(|&(x, y)| x.is_finite() && y.is_finite() && (!c.x_log || x > 0.0))
            .collect();
        if pts.is_empty() {
            continue;
        }
        let style = ShapeStyle {
            color,
            filled: !s.faint,
            stroke_width: width,
        };
        let legend_style = style;
        let anno = if matches!(s.mark, Mark::Line | Mark::LinePoints) {
            chart
                .draw_series(LineSeries::new(pts.clone(), style))
                .map_err(draw_err)?
        } else {
            chart
                .draw_series(pts.iter().map(|&p| Circle::new(p, 3, style)))
                .map_err(draw_err)?
        };
        anno.label(&s.label).legend(move |(x, y)| {
            PathElement::new(vec![(x, y), (x + 18, y)], legend_style.stroke_width(2))
        });
        if s.mark == Mark::LinePoints {
            chart
                .draw_series(pts.iter().map(|&p| Circle::new(p, 3, style)))
                .map_err(draw_err)?;
        }
    }
    if !c.references.is_empty() {
        let refs: Vec<&Reference> = c
            .references
            .iter()
            .filter(|r| r.x.is_finite() && r.y.is_finite() && (!c.x_log || r.x > 0.0))
            .collect();
        chart
            .draw_series(
                refs.iter()
                    .map(|r| TriangleMarker::new((r.x, r.y), 7, BLACK.filled())),
            )
            .map_err(draw_err)?;
        chart
            .draw_series(refs.iter().map(|r| {
                Text::new(
                    format!("  {}", r.label),
                    (r.x, r.y),
                    ("sans-serif", 12).into_font(),
                )
            }))
            .map_err(draw_err)?;
    }
    if c.series.iter().any(|s| !s.label.is_empty()) {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .label_font(("sans-serif", 12))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .draw()
            .map_err(draw_err)?;
    }
    Ok(())
}

/// 1234 → "1.2K", 1_500_000 → "1.5M": parameter counts on a log axis.
pub fn compact_number(v: f64) -> String {
    let trim = |s: String| {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    };
    let a = v.abs();
    if a >= 1e6 {
        format!("{}M", trim(format!("{:.2}", v / 1e6)))
    } else if a >= 1e3 {
        format!("{}K", trim(format!("{:.1}", v / 1e3)))
    } else {
        trim(format!("{v:.2}"))
    }
}

/// One heat map on the 2-simplex: `ln_density` is evaluated at barycentric points
/// (γ₁, γ₂, γ₃) of the triangle's interior.
pub struct SimplexPanel<'a> {
    pub title: String,
    pub ln_density: Box<dyn Fn([f64; 3]) -> f64 + 'a>,
}

impl std::fmt::Debug for SimplexPanel<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimplexPanel")
            .field("title", &self.title)
            .finish_non_exhaustive()
    }
}

/// Draws each panel's density as a heat map on a triangle whose corners are the vertices
/// γ = e₁ (lower left), e₂ (lower right), e₃ (top), labelled with `corner_labels`. Colour is
/// ln p, linear between its 2nd and 98th percentile within the panel (at least one nat wide),
/// so panels whose scales differ by many orders of magnitude stay readable; the panel's note
/// gives its full ln p range. Returns PNG bytes.
pub fn simplex_grid(
    panels: &[SimplexPanel<'_>],
    cols: usize,
    size: (u32, u32),
    corner_labels: [&str; 3],
    title: &str,
) -> Result<Vec<u8>, PlotError> {
    check_size(size.0, size.1)?;
    if panels.is_empty() {
        return Err(PlotError::Empty("no panels".into()));
    }
    register_font();
    let cols = cols.clamp(1, panels.len());
    let rows = panels.len().div_ceil(cols);
    png(size, |root| {
        root.fill(&WHITE).map_err(draw_err)?;
        let body = if title.is_empty() {
            root.clone()
        } else {
            root.titled(title, ("sans-serif", 20)).map_err(draw_err)?
        };
        for (area, panel) in body.split_evenly((rows, cols)).iter().zip(panels) {
            draw_simplex(area, panel, corner_labels)?;
        }
        Ok(())
    })
}

fn draw_simplex<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    panel: &SimplexPanel<'_>,
    corners: [&str; 3],
) -> Result<(), PlotError> {
    let inner = area
        .titled(&panel.title, ("sans-serif", 15))
        .map_err(draw_err)?;
    let (w, h) = inner.dim_in_pixel();
    let margin = 22.0;
    let side = ((w as f64 - 2.0 * margin)
        .min((h as f64 - 2.0 * margin - 16.0) * 2.0 / 3f64.sqrt()))
    .max(8.0);
    let height = side * 3f64.sqrt() / 2.0;
    let left = (w as f64 - side) / 2.0;
    let bottom = margin + height;
    let corner = [
        (left, bottom),
        (left + side, bottom),
        (left + side / 2.0, margin),
    ];
    // Barycentric coordinates of a pixel centre, or None outside the triangle.
    let bary = |px: f64, py: f64| -> Option<[f64; 3]> {
        let g3 = (bottom - py) / height;
        if !(0.0..=1.0).contains(&g3) {
            return None;
        }
        let g2 = (px - left) / side - g3 / 2.0;
        let g1 = 1.0 - g2 - g3;
        (g1 > 0.0 && g2 > 0.0 && g3 > 0.0).then_some([g1, g2, g3])
    };
    let mut cells: Vec<(i32, i32, f64)> = Vec::new();
    for py in 0..h as i32 {
        for px in 0..w as i32 {
            if let Some(g) = bary(px as f64 + 0.5, py as f64 + 0.5) {
                cells.push((px, py, (panel.ln_density)(g)));
            }
        }
    }
    let mut finite: Vec<f64> = cells
        .iter()
        .map(|c| c.2)
        .filter(|v| v.is_finite())
        .collect();
    if finite.is_empty() {
        return Err(PlotError::Empty(format!(
            "panel `{}`: the density is not finite anywhere",
            panel.title
        )));
    }
    finite.sort_by(f64::total_cmp);
    let quantile = |q: f64| finite[((finite.len() - 1) as f64 * q).round() as usize];
    let (mut lo, mut hi) = (quantile(0.02), quantile(0.98));
    if hi - lo < 1.0 {
        // A nearly flat density stays one colour instead of showing rounding noise.
        let mid = 0.5 * (lo + hi);
        (lo, hi) = (mid - 0.5, mid + 0.5);
    }
    let shade = |v: f64| -> f64 {
        if v.is_nan() {
            0.0
        } else {
            ((v - lo) / (hi - lo)).clamp(0.0, 1.0)
        }
    };
    for &(px, py, v) in &cells {
        inner
            .draw_pixel((px, py), &viridis(shade(v)))
            .map_err(draw_err)?;
    }
    let outline: Vec<(i32, i32)> = corner
        .iter()
        .chain(std::iter::once(&corner[0]))
        .map(|&(x, y)| (x.round() as i32, y.round() as i32))
        .collect();
    inner
        .draw(&PathElement::new(outline, BLACK.stroke_width(1)))
        .map_err(draw_err)?;
    let font = ("sans-serif", 13).into_font();
    let place = [
        (corner[0].0 as i32 - 14, corner[0].1 as i32 + 4),
        (corner[1].0 as i32 - 10, corner[1].1 as i32 + 4),
        (corner[2].0 as i32 - 10, corner[2].1 as i32 - 18),
    ];
    for (label, at) in corners.iter().zip(place) {
        inner
            .draw(&Text::new(label.to_string(), at, font.clone()))
            .map_err(draw_err)?;
    }
    let (min, max) = (finite[0], finite[finite.len() - 1]);
    inner
        .draw(&Text::new(
            format!("ln p from {min:.1} to {max:.1}"),
            (margin as i32, (bottom + 22.0) as i32),
            font,
        ))
        .map_err(draw_err)?;
    Ok(())
}

/// The viridis colour map at t ∈ [0, 1], by linear interpolation between nine of its stops.
pub fn viridis(t: f64) -> RGBColor {
    const STOPS: [(u8, u8, u8); 9] = [
        (68, 1, 84),
        (71, 44, 122),
        (59, 81, 139),
        (44, 113, 142),
        (33, 144, 141),
        (39, 173, 129),
        (92, 200, 99),
        (170, 220, 50),
        (253, 231, 37),
    ];
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let x = t * (STOPS.len() - 1) as f64;
    let i = (x.floor() as usize).min(STOPS.len() - 2);
    let f = x - i as f64;
    let lerp = |a: u8, b: u8| (a as f64 + (b as f64 - a as f64) * f).round() as u8;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    RGBColor(lerp(a.0, b.0), lerp(a.1, b.1), lerp(a.2, b.2))
}

/// One row of an image grid: its label and its grey images, each `height × width` values in
/// [0, 1] (0 black, 1 white; values outside are clipped), row-major.
#[derive(Debug, Clone)]
pub struct ImageRow {
    pub label: String,
    pub images: Vec<Vec<f32>>,
}

/// Draws rows of small grey images side by side, each pixel `zoom` pixels wide, with each
/// row's label on its left and `title` on top. Returns PNG bytes.
pub fn image_grid(
    rows: &[ImageRow],
    (height, width): (usize, usize),
    zoom: usize,
    title: &str,
) -> Result<Vec<u8>, PlotError> {
    let cols = rows.iter().map(|r| r.images.len()).max().unwrap_or(0);
    if cols == 0 || height == 0 || width == 0 {
        return Err(PlotError::Empty("no images".into()));
    }
    if let Some(bad) = rows
        .iter()
        .flat_map(|r| &r.images)
        .find(|img| img.len() != height * width)
    {
        return Err(PlotError::Empty(format!(
            "an image has {} values, not {height}×{width}",
            bad.len()
        )));
    }
    register_font();
    let zoom = zoom.max(1);
    let (gap, label_w, title_h) = (4usize, 150usize, 36usize);
    let cell_w = width * zoom + gap;
    let cell_h = height * zoom + gap;
    let size = (
        (label_w + cols * cell_w + gap) as u32,
        (title_h + rows.len() * cell_h + gap) as u32,
    );
    check_size(size.0, size.1)?;
    png(size, |root| {
        root.fill(&WHITE).map_err(draw_err)?;
        let text = |s: &str, at: (i32, i32), px: u32| {
            root.draw(&Text::new(
                s.to_string(),
                at,
                ("sans-serif", px).into_font().color(&BLACK),
            ))
            .map_err(draw_err)
        };
        text(title, (gap as i32, 8), 18)?;
        for (r, row) in rows.iter().enumerate() {
            let top = title_h + r * cell_h;
            text(&row.label, (gap as i32, (top + cell_h / 2) as i32 - 8), 14)?;
            for (c, img) in row.images.iter().enumerate() {
                let left = label_w + c * cell_w;
                for (i, &v) in img.iter().enumerate() {
                    let g = (v.clamp(0.0, 1.0) * 255.0).round() as u8;
                    let (y, x) = (i / width, i % width);
                    let x0 = (left + x * zoom) as i32;
                    let y0 = (top + y * zoom) as i32;
                    root.draw(&Rectangle::new(
                        [(x0, y0), (x0 + zoom as i32, y0 + zoom as i32)],
                        RGBColor(g, g, g).filled(),
                    ))
                    .map_err(draw_err)?;
                }
            }
        }
        Ok(())
    })
}

/// Draws on a white RGB canvas of `size` and encodes it as PNG.
fn png(
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<BitMapBackend<'_>, Shift>) -> Result<(), PlotError>,
) -> Result<Vec<u8>, PlotError> {
    let mut buf = vec![255u8; size.0 as usize * size.1 as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut buf, size).into_drawing_area();
        draw(&root)?;
        root.present().map_err(draw_err)?;
    }
    encode_png(&buf, size)
}

fn encode_png(rgb: &[u8], (w, h): (u32, u32)) -> Result<Vec<u8>, PlotError> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc
            .write_header()
            .map_err(|e| PlotError::Png(e.to_string()))?;
        writer
            .write_image_data(rgb)
            .map_err(|e| PlotError::Png(e.to_string()))?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_font_loads() {
        assert!(plotters::style::register_font("test-font", FontStyle::Normal, FONT).is_ok());
    }

    #[test]
    fn compact_numbers() {
        assert_eq!(compact_number(11_500.0), "11.5K");
        assert_eq!(compact_number(30_000.0), "30K");
        assert_eq!(compact_number(950.0), "950");
        assert_eq!(compact_number(2_000_000.0), "2M");
        assert_eq!(compact_number(1_250_000.0), "1.25M");
        assert_eq!(compact_number(0.5), "0.5");
    }

    #[test]
    fn viridis_ends() {
        assert_eq!(viridis(0.0), RGBColor(68, 1, 84));
        assert_eq!(viridis(1.0), RGBColor(253, 231, 37));
        assert_eq!(viridis(f64::NAN), RGBColor(68, 1, 84));
    }
}
