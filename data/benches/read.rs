//! Reading datasets: Fashion-MNIST's 60,000 training images (when installed) and the bundled
//! sets. `cargo bench -p ardent-data --bench read`.

use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};

const FASHION: &str = "/usr/share/datasets/fashion-mnist";

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("read");
    g.sample_size(10);
    let images = Path::new(FASHION).join("train-images-idx3-ubyte.gz");
    let labels = Path::new(FASHION).join("train-labels-idx1-ubyte.gz");
    if images.is_file() && labels.is_file() {
        g.bench_function("fashion-mnist train (60,000 images, gzip IDX)", |b| {
            b.iter(|| {
                let d = ardent_data::load_idx_pair(&images, &labels, &Default::default())
                    .expect("fashion-mnist");
                assert_eq!(d.len(), 60_000);
                d
            })
        });
    } else {
        eprintln!("{FASHION} not installed (apt-get install dataset-fashion-mnist): skipping it");
    }
    g.bench_function("bundled digits (1,797 rows, gzip CSV)", |b| {
        b.iter(|| ardent_data::bundled::digits().expect("digits"))
    });
    g.bench_function("bundled wine (1,599 rows, gzip CSV)", |b| {
        b.iter(|| ardent_data::bundled::wine().expect("wine"))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
