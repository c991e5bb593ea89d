//! The engine against independently computed reference values (`reference/generate.py` writes
//! `reference/vectors.json` with gbstats, scipy and statsmodels; see the script for versions and sources).

use super::effect::{effect, Difference, Method, NotEstimable, Prior, StudentT, Tails};
use super::power::{power_at, Design};
use super::srm::srm_p_value;
use super::statistic::{Moments, Statistic, Variable};
use super::{adjust, Correction};
use serde_json::Value;
use statrs::distribution::{ContinuousCDF, Normal};

fn vectors() -> Value {
    serde_json::from_str(include_str!("reference/vectors.json")).expect("vectors.json parses")
}

/// Agreement to 1e-6 relative, or 1e-9 absolute for values near zero (gbstats computes tail probabilities
/// as 1 − cdf, which cannot resolve smaller p-values).
fn close(actual: f64, expected: f64) -> bool {
    (actual - expected).abs() <= 1e-6 * expected.abs() || (actual - expected).abs() < 1e-9
}

#[track_caller]
fn assert_close(what: &str, actual: f64, expected: f64) {
    assert!(close(actual, expected), "{what}: got {actual}, expected {expected}");
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

fn variable(v: &Value) -> Variable {
    match v["kind"].as_str() {
        Some("binomial") => Variable::binomial(f(&v["n"]), f(&v["sum"])),
        Some("mean") => Variable::continuous(f(&v["n"]), f(&v["sum"]), f(&v["sum_squares"])),
        other => panic!("not a variable: {other:?}"),
    }
}

fn moments(v: &Value) -> Moments {
    variable(v).moments
}

fn statistic(v: &Value) -> Statistic {
    match v["kind"].as_str() {
        Some("ratio") => Statistic::Ratio {
            numerator: moments(&v["numerator"]),
            denominator: moments(&v["denominator"]),
            cross_sum: f(&v["cross_sum"]),
        },
        Some("cuped") => {
            Statistic::Adjusted { post: variable(&v["post"]), pre: variable(&v["pre"]), cross_sum: f(&v["cross_sum"]) }
        }
        _ => Statistic::Single(variable(v)),
    }
}

fn method(case: &Value) -> Method {
    match case["method"].as_str().unwrap() {
        "frequentist" => Method::Frequentist {
            tails: match case["tails"].as_str().unwrap() {
                "two" => Tails::Two,
                "greater" => Tails::Greater,
                _ => Tails::Less,
            },
        },
        "sequential" => Method::Sequential { tuning: f(&case["tuning"]) },
        _ => Method::Bayesian {
            prior: case["prior"].as_object().map(|p| Prior { mean: f(&p["mean"]), variance: f(&p["variance"]) }),
        },
    }
}

#[test]
fn comparisons_agree_with_gbstats() {
    let vectors = vectors();
    let cases = vectors["comparisons"].as_array().unwrap();
    assert!(cases.len() > 500);
    for case in cases {
        let label = format!("{} {} {:?}", case["name"], case["method"], case);
        let difference = if case["relative"].as_bool().unwrap() { Difference::Relative } else { Difference::Absolute };
        let result = effect(
            &statistic(&case["control"]),
            &statistic(&case["treatment"]),
            difference,
            method(case),
            f(&case["alpha"]),
            case["inverse"].as_bool().unwrap_or(false),
        );
        match case["error"].as_str() {
            Some(message) => {
                let expected = match message {
                    "ZERO_NEGATIVE_VARIANCE" => NotEstimable::ZeroVariance,
                    "ZERO_NEGATIVE_BASELINE_VARIATION" => NotEstimable::BaselineZero,
                    _ => NotEstimable::NoUnits,
                };
                assert_eq!(result, Err(expected), "{label}");
                continue;
            }
            None => {
                let e = result.unwrap_or_else(|err| panic!("{label}: {err}"));
                assert_close(&format!("estimate of {label}"), e.estimate, f(&case["estimate"]));
                assert_close(&format!("stddev of {label}"), e.stddev, f(&case["stddev"]));
                for (bound, expected) in [(e.ci_low, &case["ci"][0]), (e.ci_high, &case["ci"][1])] {
                    match expected.as_f64() {
                        Some(x) => assert_close(&format!("ci of {label}"), bound, x),
                        None => assert!(bound.is_infinite(), "open interval end in {label}"),
                    }
                }
                if let Some(p) = case["p_value"].as_f64() {
                    assert_close(&format!("p-value of {label}"), e.p_value.unwrap(), p);
                }
                if let Some(ctw) = case["chance_to_win"].as_f64() {
                    assert_close(&format!("chance to win of {label}"), e.chance_to_win.unwrap(), ctw);
                    let risk = e.risk.unwrap();
                    assert_close(&format!("risk[0] of {label}"), risk[0], f(&case["risk"][0]));
                    assert_close(&format!("risk[1] of {label}"), risk[1], f(&case["risk"][1]));
                }
            }
        }
    }
}

#[test]
fn published_gbstats_results_are_reproduced() {
    // Values printed in gbstats' own unit tests (rounded to 5 decimals there).
    let mean_a = Statistic::Single(Variable::continuous(3407.0, 1396.87, 52377.9767));
    let mean_b = Statistic::Single(Variable::continuous(3461.0, 2422.7, 134698.29));
    let two = Method::Frequentist { tails: Tails::Two };
    let e = effect(&mean_a, &mean_b, Difference::Relative, two, 0.05, false).unwrap();
    let rounded = |x: f64| (x * 1e5).round() / 1e5;
    assert_eq!([rounded(e.estimate), rounded(e.ci_low), rounded(e.ci_high)], [0.70732, -0.03526, 1.44989]);
    assert_eq!(rounded(e.p_value.unwrap()), 0.06191);
    let e = effect(&mean_a, &mean_b, Difference::Absolute, two, 0.05, false).unwrap();
    assert_eq!([rounded(e.ci_low), rounded(e.ci_high), rounded(e.p_value.unwrap())], [0.04538, 0.53462, 0.02016]);
    let (a, b) =
        (Statistic::Single(Variable::binomial(100.0, 49.0)), Statistic::Single(Variable::binomial(100.0, 51.0)));
    let e = effect(&a, &b, Difference::Relative, Method::Bayesian { prior: None }, 0.05, false).unwrap();
    assert_eq!([rounded(e.estimate), rounded(e.ci_low), rounded(e.ci_high)], [0.04082, -0.24779, 0.32943]);
    assert_eq!(e.risk.unwrap().map(rounded), [0.0814, 0.04058]);
}

#[test]
fn welch_t_tests_agree_with_scipy() {
    for case in vectors()["welch"].as_array().unwrap() {
        let (a, b) = (statistic(&case["control"]), statistic(&case["treatment"]));
        let e = effect(&a, &b, Difference::Absolute, Method::Frequentist { tails: Tails::Two }, 0.05, false).unwrap();
        assert_close("t statistic", e.estimate / e.stddev, f(&case["t"]));
        assert_close("scipy p-value", e.p_value.unwrap(), f(&case["p_value"]));
    }
}

/// Up to degrees of freedom no experiment reaches: statrs alone stops converging near 1e8 (a hang, found by the
/// fuzz suite) and drifts beyond 1e12.
#[test]
fn student_t_agrees_with_scipy_at_any_degrees_of_freedom() {
    for case in vectors()["student_t"].as_array().unwrap() {
        let t = StudentT::new(f(&case["dof"])).unwrap();
        assert_close(&format!("quantile at {case}"), t.quantile(f(&case["p"])), f(&case["quantile"]));
        assert_close(&format!("tail at {case}"), t.sf(f(&case["x"])), f(&case["sf"]));
    }
}

#[test]
fn sample_ratio_checks_agree_with_scipy_chisquare() {
    for case in vectors()["srm"].as_array().unwrap() {
        let observed: Vec<u64> = case["observed"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
        let weights: Vec<f64> = case["weights"].as_array().unwrap().iter().map(f).collect();
        assert_close(&format!("srm {observed:?}"), srm_p_value(&observed, &weights), f(&case["p_value"]));
    }
}

#[test]
fn corrections_agree_with_statsmodels_multipletests() {
    for case in vectors()["adjustments"].as_array().unwrap() {
        let p: Vec<f64> = case["p_values"].as_array().unwrap().iter().map(f).collect();
        for (correction, key) in [(Correction::Holm, "holm"), (Correction::Bh, "bh")] {
            let expected: Vec<f64> = case[key].as_array().unwrap().iter().map(f).collect();
            for (actual, expected) in adjust(&p, correction).iter().zip(&expected) {
                assert_close(key, *actual, *expected);
            }
        }
    }
}

fn design(case: &Value) -> Design {
    Design {
        mean: f(&case["mean"]),
        variance: f(&case["variance"]),
        variations: case["variations"].as_u64().unwrap() as u32,
        alpha: case["alpha"].as_f64().unwrap_or(0.05),
        two_tailed: case["two_tailed"].as_bool().unwrap_or(true),
        sequential_tuning: case["sequential_tuning_parameter"].as_f64(),
    }
}

#[test]
fn power_and_mde_agree_with_growthbooks_calculator() {
    let vectors = vectors();
    for case in vectors["power"].as_array().unwrap() {
        let d = design(case);
        let (effect, units) = (f(&case["relative_effect"]), f(&case["total_units"]));
        assert_close(&format!("power {case}"), d.power(effect, units), f(&case["power"]));
        match case["mde_at_80"].as_f64() {
            Some(mde) => assert_close(&format!("mde {case}"), d.minimum_detectable_effect(0.8, units).unwrap(), mde),
            None => assert!(d.minimum_detectable_effect(0.8, units).is_err()),
        }
    }
    // The values GrowthBook's own tests publish, to their 5 decimals.
    let published = &vectors["published_power"];
    let rounded = |x: f64| (x * 1e5).round() / 1e5;
    for case in published["single"].as_array().unwrap() {
        let d = design(case);
        let units = f(&case["total_units"]);
        assert_eq!(rounded(d.power(f(&case["relative_effect"]), units)), f(&case["power"]), "{case}");
        assert_eq!(rounded(d.minimum_detectable_effect(0.8, units).unwrap()), f(&case["mde"]), "{case}");
    }
    let metrics = published["metrics"].as_array().unwrap();
    for week in 1..=9 {
        let units = f(&published["units_per_week"]) * week as f64;
        for (i, metric) in metrics.iter().enumerate() {
            let d = Design {
                variations: published["variations"].as_u64().unwrap() as u32,
                alpha: f(&published["alpha"]),
                two_tailed: true,
                sequential_tuning: None,
                ..design(&serde_json::json!({"mean": metric["mean"], "variance": metric["variance"], "variations": 3}))
            };
            let index = (week - 1) * 2 + i;
            let power = d.power(f(&metric["relative_effect"]), units);
            assert_eq!(rounded(power), f(&published["power"][index]), "week {week} metric {i}");
            let mde = d.minimum_detectable_effect(0.8, units).unwrap();
            assert_eq!(rounded(mde), f(&published["mde"][index]), "week {week} metric {i}");
        }
    }
}

#[test]
fn absolute_power_agrees_with_statsmodels() {
    let normal = Normal::new(0.0, 1.0).unwrap();
    for case in vectors()["absolute_power"].as_array().unwrap() {
        let (alpha, two_tailed) = (f(&case["alpha"]), case["two_tailed"].as_bool().unwrap());
        let z = normal.inverse_cdf(1.0 - if two_tailed { alpha / 2.0 } else { alpha });
        let se = f(&case["sd"]) * (2.0 / f(&case["units_per_variation"])).sqrt();
        assert_close(&format!("{case}"), power_at(f(&case["effect"]), se, z, two_tailed), f(&case["power"]));
    }
}

#[test]
fn segment_heterogeneity_agrees_with_statsmodels() {
    for case in vectors()["heterogeneity"].as_array().unwrap() {
        let estimates: Vec<(f64, f64)> =
            case["estimates"].as_array().unwrap().iter().map(|pair| (f(&pair[0]), f(&pair[1]))).collect();
        let p = super::results::heterogeneity_p_value(&estimates).unwrap();
        assert_close(&format!("{case}"), p, f(&case["p_value"]));
    }
}
