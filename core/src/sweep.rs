//! A sweep configuration's name (`lr=0.05 batch=256`), shared by the two places that show a
//! sweep's progress: the `series` tool (`status`, the report) and the scheduler's ops page,
//! which reads the configurations straight from `rb_series_round.params` and does not depend
//! on the research crate. One function, so both say the same words for the same configuration.

use std::fmt::Write as _;

use serde::Deserialize;

/// The swept parameters of one configuration, as a round's `params` JSON holds them (other
/// fields of that JSON are ignored).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub struct SweepPoint {
    pub learning_rate: f64,
    pub batch_size: u64,
    pub train_epochs: u64,
    pub sample_count: u64,
}

/// `c`'s name among `all`: the values that vary across `all` only (`lr=0.05 batch=64`), or all
/// four when nothing varies.
pub fn label(c: &SweepPoint, all: &[SweepPoint]) -> String {
    type Part = (&'static str, fn(&SweepPoint) -> String);
    let parts: [Part; 4] = [
        ("lr", |p| p.learning_rate.to_string()),
        ("batch", |p| p.batch_size.to_string()),
        ("epochs", |p| p.train_epochs.to_string()),
        ("samples", |p| p.sample_count.to_string()),
    ];
    let varies = |f: fn(&SweepPoint) -> String| all.iter().any(|o| f(o) != f(c));
    let any = parts.iter().any(|(_, f)| varies(*f));
    let mut s = String::new();
    for (name, f) in parts {
        if !any || varies(f) {
            if !s.is_empty() {
                s.push(' ');
            }
            let _ = write!(s, "{name}={}", f(c));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(learning_rate: f64, batch_size: u64) -> SweepPoint {
        SweepPoint {
            learning_rate,
            batch_size,
            train_epochs: 10,
            sample_count: 8000,
        }
    }

    #[test]
    fn a_label_names_what_varies_or_everything() {
        let all = [point(0.05, 64), point(0.05, 256), point(0.1, 64)];
        assert_eq!(label(&all[0], &all), "lr=0.05 batch=64");
        assert_eq!(label(&all[2], &all), "lr=0.1 batch=64");
        let one = [point(0.05, 256)];
        assert_eq!(
            label(&one[0], &one),
            "lr=0.05 batch=256 epochs=10 samples=8000"
        );
    }

    #[test]
    fn a_round_s_params_json_reads_as_a_point() {
        let p: SweepPoint = serde_json::from_str(
            r#"{"sample_count":600,"train_epochs":2,"batch_size":60,"learning_rate":0.2,
                "val_count":null,"noise_std":0.0,"export_weights":true}"#,
        )
        .unwrap();
        assert_eq!(
            p,
            SweepPoint {
                learning_rate: 0.2,
                batch_size: 60,
                train_epochs: 2,
                sample_count: 600
            }
        );
    }
}
