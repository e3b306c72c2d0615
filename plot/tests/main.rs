//! The pictures are valid files of the size asked for, with something drawn on them.

use ardent_plot::{Chart, Format, Mark, PlotError, Reference, Series, SimplexPanel};

fn decode(bytes: &[u8]) -> (u32, u32, Vec<u8>) {
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().expect("a PNG header");
    let mut buf = vec![0; reader.output_buffer_size().expect("a buffer size")];
    let info = reader.next_frame(&mut buf).expect("PNG image data");
    buf.truncate(info.buffer_size());
    assert_eq!(info.color_type, png::ColorType::Rgb);
    (info.width, info.height, buf)
}

fn distinct_colors(rgb: &[u8]) -> usize {
    let mut seen: Vec<[u8; 3]> = rgb.chunks_exact(3).map(|c| [c[0], c[1], c[2]]).collect();
    seen.sort_unstable();
    seen.dedup();
    seen.len()
}

fn pareto() -> Chart {
    Chart {
        title: "accuracy against exported parameters".into(),
        x_label: "exported parameters".into(),
        y_label: "test accuracy, %".into(),
        x_log: true,
        series: vec![
            Series {
                label: "ARD (λ sweep)".into(),
                points: vec![(900.0, 61.0), (4_000.0, 84.0), (20_000.0, 88.0)],
                mark: Mark::LinePoints,
                color: 0,
                faint: false,
            },
            Series {
                label: "magnitude".into(),
                points: vec![(900.0, 20.0), (4_000.0, 70.0), (f64::NAN, 1.0), (-1.0, 5.0)],
                mark: Mark::Line,
                color: 0,
                faint: true,
            },
        ],
        references: vec![Reference {
            x: 11_500.0,
            y: 88.9,
            label: "DARTS-CC".into(),
        }],
        y_range: None,
    }
}

#[test]
fn chart_png_has_the_size_asked_for_and_is_drawn() {
    let bytes = ardent_plot::charts(&[pareto()], 1, (640, 420), Format::Png).expect("drawn");
    let (w, h, rgb) = decode(&bytes);
    assert_eq!((w, h), (640, 420));
    // Background, axes, text (anti-aliased), two series colours and the reference marker.
    assert!(distinct_colors(&rgb) > 20, "{}", distinct_colors(&rgb));
    // The ARD series' blue is on the picture.
    assert!(rgb.chunks_exact(3).any(|c| c == [31, 119, 180]));
}

#[test]
fn chart_grid_and_svg() {
    let mut second = pareto();
    second.x_log = false;
    second.title = "linear".into();
    let png = ardent_plot::charts(
        &[pareto(), second.clone(), second],
        2,
        (900, 700),
        Format::Png,
    )
    .expect("drawn");
    assert_eq!(decode(&png).0, 900);
    let svg = ardent_plot::charts(&[pareto()], 1, (500, 300), Format::Svg).expect("drawn");
    let text = String::from_utf8(svg).expect("UTF-8");
    assert!(text.starts_with("<svg"), "{}", &text[..40.min(text.len())]);
    assert!(text.contains("width=\"500\"") && text.contains("height=\"300\""));
    assert!(text.contains("DARTS-CC") && text.contains("magnitude"));
    assert!(text.trim_end().ends_with("</svg>"));
}

#[test]
fn simplex_grid_draws_every_panel() {
    // Dirichlet(2, 2, 2): ln p = ln Γ(6) − 3 ln Γ(2) + Σ ln γ_i, largest at the centre.
    let panels = vec![
        SimplexPanel {
            title: "centre".into(),
            ln_density: Box::new(|g: [f64; 3]| 120f64.ln() + g.iter().map(|x| x.ln()).sum::<f64>()),
        },
        SimplexPanel {
            title: "corner".into(),
            ln_density: Box::new(|g: [f64; 3]| -g[2].ln()),
        },
    ];
    let bytes =
        ardent_plot::simplex_grid(&panels, 2, (600, 320), ["a", "b", "c"], "two").expect("drawn");
    let (w, h, rgb) = decode(&bytes);
    assert_eq!((w, h), (600, 320));
    let at = |x: usize, y: usize| {
        let i = (y * w as usize + x) * 3;
        [rgb[i], rgb[i + 1], rgb[i + 2]]
    };
    // The left triangle's centroid (around x = 150) is the brightest end of viridis there,
    // the right panel's centroid is not (its density peaks at the bottom edge).
    let (mut left_best, mut right_best) = (0u32, 0u32);
    for y in 150..260 {
        left_best = left_best.max(at(150, y).iter().map(|&v| v as u32).sum());
        right_best = right_best.max(at(450, y).iter().map(|&v| v as u32).sum());
    }
    assert!(left_best > 450, "left panel centre brightness {left_best}");
    assert!(distinct_colors(&rgb) > 50);
}

#[test]
fn bad_requests_are_errors() {
    assert!(matches!(
        ardent_plot::charts(&[], 1, (100, 100), Format::Png),
        Err(PlotError::Empty(_))
    ));
    assert!(matches!(
        ardent_plot::charts(&[pareto()], 1, (0, 100), Format::Png),
        Err(PlotError::Size(0, 100))
    ));
    let mut empty = pareto();
    empty.series.clear();
    empty.references.clear();
    let e = ardent_plot::charts(&[empty], 1, (200, 200), Format::Svg).expect_err("no points");
    assert!(e.to_string().contains("no finite points"), "{e}");
    let nowhere = vec![SimplexPanel {
        title: "nan".into(),
        ln_density: Box::new(|_| f64::NAN),
    }];
    let e = ardent_plot::simplex_grid(&nowhere, 1, (200, 200), ["a", "b", "c"], "")
        .expect_err("not finite");
    assert!(e.to_string().contains("not finite anywhere"), "{e}");
}
