//! Metric definitions and how one unit's activity after (and before) its first exposure becomes the values
//! the statistics are computed on. Pure: the storage layer hands in each unit's orders, events and signal
//! matches; this module decides what counts.

use super::statistic::{Moments, Statistic, Variable};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// What a metric measures per exposed unit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Measure {
    /// Converted: placed at least one order.
    Purchase,
    /// Converted: at least one occurrence of a signal from the library.
    Signal { key: String },
    /// Converted: at least one event with this name.
    Event { name: String },
    /// Revenue per unit.
    Revenue,
    /// Orders per unit.
    Orders,
    /// Revenue per order over all units of a variation (a ratio of sums).
    AverageOrderValue,
    /// At least two orders; `among_purchasers` reads it as the share of purchasers who came back.
    RepeatPurchase {
        #[serde(default)]
        among_purchasers: bool,
    },
    /// Cumulative revenue per unit at the window's end (the horizon), counting only units whose horizon has
    /// fully elapsed.
    LifetimeValue,
}

/// How a metric's statistic is built.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum MetricKind {
    Conversion,
    Mean,
    Ratio,
}

/// Outliers are winsorized: values above the cap count as the cap.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Capping {
    Absolute {
        cap: f64,
    },
    /// The cap is this quantile (0–1) of the pooled values, zeros left out when `ignore_zeros`.
    Percentile {
        percentile: f64,
        #[serde(default)]
        ignore_zeros: bool,
    },
}

fn default_window() -> u32 {
    14
}
fn yes() -> bool {
    true
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct MetricSpec {
    pub key: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub measure: Measure,
    /// Days after first exposure that count (the horizon for lifetime value).
    #[serde(default = "default_window")]
    pub window_days: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capping: Option<Capping>,
    /// False for metrics that should go down (refunds, time to checkout).
    #[serde(default = "yes")]
    pub higher_is_better: bool,
}

impl MetricSpec {
    pub fn kind(&self) -> MetricKind {
        match self.measure {
            Measure::Purchase | Measure::Signal { .. } | Measure::Event { .. } => MetricKind::Conversion,
            Measure::RepeatPurchase { among_purchasers: false } => MetricKind::Conversion,
            Measure::RepeatPurchase { among_purchasers: true } | Measure::AverageOrderValue => MetricKind::Ratio,
            Measure::Revenue | Measure::Orders | Measure::LifetimeValue => MetricKind::Mean,
        }
    }

    /// Every problem with the definition, each naming its field.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        if let Err(e) = crate::domain::experiment::check_key(&self.key) {
            problems.push(format!("key: {e}"));
        }
        if self.name.trim().is_empty() {
            problems.push("name: required".into());
        }
        if self.window_days == 0 || self.window_days > 730 {
            problems.push("window_days: between 1 and 730".into());
        }
        match &self.measure {
            Measure::Signal { key } if key.trim().is_empty() => problems.push("measure.key: name a signal".into()),
            Measure::Event { name } if name.trim().is_empty() => problems.push("measure.name: name an event".into()),
            _ => {}
        }
        match self.capping {
            Some(_)
                if self.kind() == MetricKind::Conversion || matches!(self.measure, Measure::RepeatPurchase { .. }) =>
            {
                problems.push("capping: only values can be capped, not yes/no conversions".into())
            }
            Some(Capping::Absolute { cap }) if !(cap.is_finite() && cap > 0.0) => {
                problems.push("capping.cap: a positive number".into())
            }
            Some(Capping::Percentile { percentile, .. }) if !(percentile > 0.0 && percentile < 1.0) => {
                problems.push("capping.percentile: between 0 and 1 (e.g. 0.99)".into())
            }
            _ => {}
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

/// The metrics every installation starts with: what e-commerce teams ask first.
pub fn starter_metrics() -> Vec<MetricSpec> {
    let metric = |key: &str, name: &str, description: &str, measure: Measure, window_days: u32| MetricSpec {
        key: key.into(),
        name: name.into(),
        description: description.into(),
        measure,
        window_days,
        capping: None,
        higher_is_better: true,
    };
    let revenue_cap = Some(Capping::Percentile { percentile: 0.99, ignore_zeros: true });
    vec![
        metric(
            "purchase",
            "Purchase conversion",
            "Share of exposed units that order within 14 days.",
            Measure::Purchase,
            14,
        ),
        MetricSpec {
            capping: revenue_cap,
            ..metric(
                "revenue",
                "Revenue per unit",
                "Revenue per exposed unit within 14 days, the top 1 % of spenders capped.",
                Measure::Revenue,
                14,
            )
        },
        metric("orders", "Orders per unit", "Orders per exposed unit within 14 days.", Measure::Orders, 14),
        MetricSpec {
            capping: revenue_cap,
            ..metric(
                "aov",
                "Average order value",
                "Revenue per order within 14 days (delta method across units).",
                Measure::AverageOrderValue,
                14,
            )
        },
        metric(
            "repeat-purchase",
            "Repeat purchase",
            "Share of exposed units with two or more orders within 30 days.",
            Measure::RepeatPurchase { among_purchasers: false },
            30,
        ),
        metric(
            "repeat-among-purchasers",
            "Repeat purchase among purchasers",
            "Share of purchasers who order again within 30 days.",
            Measure::RepeatPurchase { among_purchasers: true },
            30,
        ),
        MetricSpec {
            capping: revenue_cap,
            ..metric(
                "ltv-30",
                "Lifetime value, 30 days",
                "Revenue per unit 30 days after exposure; units exposed less than 30 days ago are not counted yet.",
                Measure::LifetimeValue,
                30,
            )
        },
        MetricSpec {
            capping: revenue_cap,
            ..metric(
                "ltv-60",
                "Lifetime value, 60 days",
                "Revenue per unit 60 days after exposure, mature units only.",
                Measure::LifetimeValue,
                60,
            )
        },
        MetricSpec {
            capping: revenue_cap,
            ..metric(
                "ltv-90",
                "Lifetime value, 90 days",
                "Revenue per unit 90 days after exposure, mature units only.",
                Measure::LifetimeValue,
                90,
            )
        },
    ]
}

/// One unit's activity, as the storage layer found it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Activity {
    /// (time, revenue) of each order.
    pub orders: Vec<(DateTime<Utc>, f64)>,
    /// (time, event name) of each event.
    pub events: Vec<(DateTime<Utc>, String)>,
    /// (time, signal key) of each signal match.
    pub signals: Vec<(DateTime<Utc>, String)>,
}

/// A unit's value for one metric: the numerator, its denominator (1 unless a ratio) and the same two in the
/// pre-exposure period of the same length (the CUPED covariate).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct UnitValue {
    pub value: f64,
    pub denominator: f64,
    pub pre_value: f64,
}

impl MetricSpec {
    /// The unit's value over `[exposed_at, exposed_at + window)` (nothing after `data_through` exists yet);
    /// `None` for a lifetime value whose horizon has not fully elapsed.
    pub fn unit_value(
        &self,
        exposed_at: DateTime<Utc>,
        activity: &Activity,
        data_through: DateTime<Utc>,
    ) -> Option<UnitValue> {
        let window = Duration::days(i64::from(self.window_days));
        if self.measure == Measure::LifetimeValue && exposed_at + window > data_through {
            return None;
        }
        let after = (exposed_at, exposed_at + window);
        let before = (exposed_at - window, exposed_at);
        let (value, denominator) = self.measure_in(activity, after);
        let (pre_value, _) = self.measure_in(activity, before);
        Some(UnitValue { value, denominator, pre_value })
    }

    fn measure_in(&self, activity: &Activity, (from, to): (DateTime<Utc>, DateTime<Utc>)) -> (f64, f64) {
        let inside = |at: &DateTime<Utc>| *at >= from && *at < to;
        let orders = || activity.orders.iter().filter(|(at, _)| inside(at));
        let yes = |b: bool| if b { 1.0 } else { 0.0 };
        match &self.measure {
            Measure::Purchase => (yes(orders().next().is_some()), 1.0),
            Measure::Signal { key } => (yes(activity.signals.iter().any(|(at, k)| inside(at) && k == key)), 1.0),
            Measure::Event { name } => (yes(activity.events.iter().any(|(at, n)| inside(at) && n == name)), 1.0),
            Measure::Revenue | Measure::LifetimeValue => (orders().map(|(_, r)| r).sum(), 1.0),
            Measure::Orders => (orders().count() as f64, 1.0),
            Measure::AverageOrderValue => (orders().map(|(_, r)| r).sum(), orders().count() as f64),
            Measure::RepeatPurchase { among_purchasers } => {
                let count = orders().count();
                let purchased = yes(count >= 1);
                (yes(count >= 2), if *among_purchasers { purchased } else { 1.0 })
            }
        }
    }

    /// The cap values are winsorized at, from the pooled values of every unit in the analysis.
    pub fn cap(&self, values: &[UnitValue]) -> Option<f64> {
        match self.capping? {
            Capping::Absolute { cap } => Some(cap),
            Capping::Percentile { percentile, ignore_zeros } => {
                let mut pooled: Vec<f64> =
                    values.iter().map(|v| v.value).filter(|v| !(ignore_zeros && *v == 0.0)).collect();
                if pooled.is_empty() {
                    return None;
                }
                pooled.sort_by(f64::total_cmp);
                // Linear interpolation between order statistics (numpy's default quantile).
                let position = percentile * (pooled.len() - 1) as f64;
                let (low, high) = (position.floor() as usize, position.ceil() as usize);
                Some(pooled[low] + (pooled[high] - pooled[low]) * (position - low as f64))
            }
        }
    }

    /// The variation's statistic from its units' values, capped at `cap`; with `cuped` the pre-exposure
    /// values are the covariate (conversion and mean metrics only).
    pub fn statistic(&self, values: &[UnitValue], cap: Option<f64>, cuped: bool) -> Statistic {
        let capped = |x: f64| cap.map_or(x, |c| x.min(c));
        let mut value = Moments::default();
        let mut denominator = Moments::default();
        let mut pre = Moments::default();
        let (mut cross, mut post_pre) = (0.0, 0.0);
        for v in values {
            let (x, d, p) = (capped(v.value), v.denominator, capped(v.pre_value));
            value = Moments::new(value.n + 1.0, value.sum + x, value.sum_squares + x * x);
            denominator = Moments::new(denominator.n + 1.0, denominator.sum + d, denominator.sum_squares + d * d);
            pre = Moments::new(pre.n + 1.0, pre.sum + p, pre.sum_squares + p * p);
            cross += x * d;
            post_pre += x * p;
        }
        let post = match self.kind() {
            MetricKind::Conversion => Variable::binomial(value.n, value.sum),
            MetricKind::Mean | MetricKind::Ratio => Variable { scale: super::Scale::Continuous, moments: value },
        };
        match self.kind() {
            MetricKind::Ratio => Statistic::Ratio { numerator: value, denominator, cross_sum: cross },
            _ if cuped => {
                Statistic::Adjusted { post, pre: Variable { scale: post.scale, moments: pre }, cross_sum: post_pre }
            }
            _ => Statistic::Single(post),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(day: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 0).unwrap() + Duration::days(day)
    }

    fn metric(measure: Measure) -> MetricSpec {
        MetricSpec {
            key: "m".into(),
            name: "M".into(),
            description: String::new(),
            measure,
            window_days: 14,
            capping: None,
            higher_is_better: true,
        }
    }

    fn shopper() -> Activity {
        Activity {
            orders: vec![(at(-3), 40.0), (at(2), 60.0), (at(9), 100.0), (at(20), 500.0)],
            events: vec![(at(1), "Size Guide Viewed".into())],
            signals: vec![(at(-1), "wishlist".into()), (at(30), "wishlist".into())],
        }
    }

    #[test]
    fn only_activity_inside_the_window_after_exposure_counts() {
        let through = at(60);
        let value = |m: Measure| metric(m).unit_value(at(0), &shopper(), through).unwrap();
        assert_eq!(value(Measure::Revenue).value, 160.0);
        assert_eq!(value(Measure::Revenue).pre_value, 40.0, "the pre-period is the 14 days before exposure");
        assert_eq!(value(Measure::Orders).value, 2.0);
        assert_eq!(
            (value(Measure::AverageOrderValue).value, value(Measure::AverageOrderValue).denominator),
            (160.0, 2.0)
        );
        assert_eq!(value(Measure::Purchase).value, 1.0);
        assert_eq!(value(Measure::RepeatPurchase { among_purchasers: false }).value, 1.0);
        assert_eq!(value(Measure::Signal { key: "wishlist".into() }).value, 0.0, "before and after the window");
        assert_eq!(value(Measure::Event { name: "Size Guide Viewed".into() }).value, 1.0);
    }

    #[test]
    fn lifetime_value_waits_for_the_horizon() {
        let ltv = MetricSpec { window_days: 30, ..metric(Measure::LifetimeValue) };
        assert_eq!(ltv.unit_value(at(0), &shopper(), at(29)), None);
        assert_eq!(ltv.unit_value(at(0), &shopper(), at(30)).unwrap().value, 660.0);
    }

    #[test]
    fn percentile_caps_winsorize_like_numpy() {
        let revenue = MetricSpec {
            capping: Some(Capping::Percentile { percentile: 0.5, ignore_zeros: true }),
            ..metric(Measure::Revenue)
        };
        let values: Vec<UnitValue> = [0.0, 0.0, 10.0, 20.0, 1000.0]
            .iter()
            .map(|&v| UnitValue { value: v, denominator: 1.0, pre_value: 0.0 })
            .collect();
        let cap = revenue.cap(&values).unwrap();
        assert_eq!(cap, 20.0);
        let Statistic::Single(v) = revenue.statistic(&values, Some(cap), false) else { panic!("a mean") };
        assert_eq!(v.moments.sum, 50.0);
    }

    #[test]
    fn the_starter_metrics_are_valid_and_distinct() {
        let metrics = starter_metrics();
        for m in &metrics {
            assert_eq!(m.validate(), Ok(()), "{}", m.key);
        }
        let keys: std::collections::BTreeSet<_> = metrics.iter().map(|m| &m.key).collect();
        assert_eq!(keys.len(), metrics.len());
    }

    #[test]
    fn definitions_are_checked_field_by_field() {
        let mut bad = metric(Measure::Purchase);
        bad.key = "Bad Key".into();
        bad.capping = Some(Capping::Absolute { cap: 10.0 });
        bad.window_days = 0;
        let problems = bad.validate().unwrap_err();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(metric(Measure::AverageOrderValue).validate().is_ok());
    }
}
