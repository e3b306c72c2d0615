//! Image augmentation against a hand check: every augmented image is its original moved by a
//! shift within range (or mirrored), uncovered pixels take the fill, every allowed shift
//! occurs, and the draws are a function of the seed.

use ardent_trainer::data::{Augment, augment};

/// 200 images of 2 channels, 5×4, each value distinct, so a moved image identifies its move.
fn batch() -> (Vec<f32>, [usize; 3]) {
    let shape = [2, 5, 4];
    let per: usize = shape.iter().product();
    ((0..200 * per).map(|v| v as f32).collect(), shape)
}

/// `img` moved by (dy, dx) after an optional mirror, as the augmentation defines it.
fn moved(
    img: &[f32],
    [c, h, w]: [usize; 3],
    dy: isize,
    dx: isize,
    flip: bool,
    fill: f32,
) -> Vec<f32> {
    let mut out = vec![fill; img.len()];
    for ch in 0..c {
        for y in 0..h {
            for x in 0..w {
                let xs = if flip { w - 1 - x } else { x };
                let (sy, sx) = (y as isize - dy, xs as isize - dx);
                if (0..h as isize).contains(&sy) && (0..w as isize).contains(&sx) {
                    out[(ch * h + y) * w + x] = img[(ch * h + sy as usize) * w + sx as usize];
                }
            }
        }
    }
    out
}

#[test]
fn augmented_images_are_their_originals_moved_within_range() {
    let (x, shape) = batch();
    let per: usize = shape.iter().product();
    let aug = Augment {
        shift: 1,
        flip: true,
    };
    let mut a = x.clone();
    augment(&mut a, shape, aug, -7.0, 11);
    let mut seen = std::collections::BTreeSet::new();
    for (orig, got) in x.chunks(per).zip(a.chunks(per)) {
        let found = (-1..=1)
            .flat_map(|dy| (-1..=1).flat_map(move |dx| [(dy, dx, false), (dy, dx, true)]))
            .find(|&(dy, dx, flip)| moved(orig, shape, dy, dx, flip, -7.0) == got);
        let m = found.unwrap_or_else(|| panic!("not a move within 1 pixel: {got:?}"));
        seen.insert(m);
    }
    // 200 images: each of the 18 moves (9 shifts, mirrored or not) turns up.
    assert_eq!(seen.len(), 18, "{seen:?}");

    let mut b = x.clone();
    augment(&mut b, shape, aug, -7.0, 11);
    assert_eq!(a, b, "same seed, same augmentation");
    let mut c = x.clone();
    augment(&mut c, shape, aug, -7.0, 12);
    assert_ne!(a, c, "another seed, another augmentation");

    // Nothing asked for, nothing changed.
    let mut d = x.clone();
    augment(&mut d, shape, Augment::default(), -7.0, 11);
    assert_eq!(d, x);
}
