//! Multiple-testing corrections of p-values taken across metrics × variations.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Correction {
    #[default]
    None,
    /// Holm–Bonferroni: controls the family-wise error rate.
    Holm,
    /// Benjamini–Hochberg: controls the false discovery rate.
    Bh,
}

/// Adjusted p-values in the order given (statsmodels' `multipletests` `holm` and `fdr_bh`).
pub fn adjust(p_values: &[f64], correction: Correction) -> Vec<f64> {
    let m = p_values.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p_values[a].total_cmp(&p_values[b]));
    let mut adjusted = p_values.to_vec();
    match correction {
        Correction::None => {}
        Correction::Holm => {
            // Step-down: the k-th smallest is multiplied by (m − k), kept non-decreasing.
            let mut running = 0.0_f64;
            for (rank, &i) in order.iter().enumerate() {
                running = running.max(((m - rank) as f64 * p_values[i]).min(1.0));
                adjusted[i] = running;
            }
        }
        Correction::Bh => {
            // Step-up: the k-th smallest is multiplied by m / k, kept non-increasing from the largest down.
            let mut running = 1.0_f64;
            for (rank, &i) in order.iter().enumerate().rev() {
                running = running.min((m as f64 / (rank + 1) as f64 * p_values[i]).min(1.0));
                adjusted[i] = running;
            }
        }
    }
    adjusted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corrections_never_lower_a_p_value_and_keep_the_order() {
        let p = [0.04, 0.001, 0.2, 0.03];
        for correction in [Correction::Holm, Correction::Bh] {
            let adjusted = adjust(&p, correction);
            for (raw, adj) in p.iter().zip(&adjusted) {
                assert!(adj >= raw && *adj <= 1.0);
            }
            assert!(adjusted[1] <= adjusted[3] && adjusted[3] <= adjusted[0] && adjusted[0] <= adjusted[2]);
        }
        assert_eq!(adjust(&p, Correction::None), p);
        assert!(adjust(&[], Correction::Holm).is_empty());
    }
}
