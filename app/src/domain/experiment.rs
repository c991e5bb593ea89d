//! Experiments as marketers define them: a structured, pre-registered hypothesis, variations with weights and
//! payloads, coverage, hashing, targeting and a namespace; and the lifecycle draft → running → stopped →
//! concluded. Pure: validation and the rules of what may change when.

use super::targeting::Condition;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;

pub const MIN_VARIATIONS: usize = 2;
pub const MAX_VARIATIONS: usize = 10;
/// Weights are checked to this tolerance: 0.333 + 0.333 + 0.334 is fine, 0.3 + 0.3 + 0.3 is not.
const WEIGHT_TOLERANCE: f64 = 1e-6;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Draft,
    Running,
    Stopped,
    Concluded,
}

impl Status {
    pub const ALL: [Status; 4] = [Status::Draft, Status::Running, Status::Stopped, Status::Concluded];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Draft => "draft",
            Status::Running => "running",
            Status::Stopped => "stopped",
            Status::Concluded => "concluded",
        }
    }

    pub fn parse(text: &str) -> Result<Status, String> {
        Status::ALL.into_iter().find(|s| s.as_str() == text).ok_or_else(|| format!("unknown status '{text}'"))
    }

    /// The lifecycle only moves forward. A stopped experiment may be restarted (a paused test resumes with the
    /// same pre-registration); concluding belongs to the playbook.
    pub fn can_become(self, next: Status) -> bool {
        matches!(
            (self, next),
            (Status::Draft, Status::Running)
                | (Status::Running, Status::Stopped)
                | (Status::Stopped, Status::Running)
                | (Status::Stopped, Status::Concluded)
        )
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Increase,
    Decrease,
}

/// The pre-registered hypothesis: what changes, for whom, what should move, which way, by how much, and why.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
#[serde(default, deny_unknown_fields)]
pub struct Hypothesis {
    pub change: String,
    pub segment: String,
    pub primary_metric: String,
    pub direction: Option<Direction>,
    /// Minimum detectable effect, relative (0.05 = 5 %).
    pub mde: Option<f64>,
    /// Which micro-conversion signal(s) the test is about, and why the change should move them.
    pub rationale: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Variation {
    pub key: String,
    #[serde(default)]
    pub name: String,
    /// Share of covered traffic; when every weight is omitted the split is equal.
    #[serde(default)]
    pub weight: Option<f64>,
    /// What the backend should render for this variation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Value>,
}

/// The metrics an experiment is judged by (keys of the metric library). The primary metric is pre-registered:
/// it cannot change once the experiment has started; secondary and guardrail metrics may be added later.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
#[serde(default, deny_unknown_fields)]
pub struct MetricRoles {
    pub primary: Option<String>,
    pub secondary: Vec<String>,
    /// Metrics that must not get worse (e.g. refunds, page speed).
    pub guardrails: Vec<String>,
}

impl MetricRoles {
    /// Every metric key with its role, primary first.
    pub fn all(&self) -> impl Iterator<Item = (&str, crate::domain::stats::results::MetricRole)> {
        use crate::domain::stats::results::MetricRole;
        self.primary
            .iter()
            .map(|k| (k.as_str(), MetricRole::Primary))
            .chain(self.secondary.iter().map(|k| (k.as_str(), MetricRole::Secondary)))
            .chain(self.guardrails.iter().map(|k| (k.as_str(), MetricRole::Guardrail)))
    }
}

/// The experiment's slice `[start, end)` of a named namespace; experiments with disjoint slices of one namespace
/// never share a unit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct NamespaceRange {
    pub name: String,
    pub range: (f64, f64),
}

fn default_coverage() -> f64 {
    1.0
}
fn default_hash_attribute() -> String {
    "id".into()
}
fn default_hash_version() -> u8 {
    2
}

/// Everything about an experiment that a person configures. Only `key`, `name` and `variations` are required.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ExperimentSpec {
    pub key: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub hypothesis: Hypothesis,
    pub variations: Vec<Variation>,
    #[serde(default = "default_coverage")]
    pub coverage: f64,
    #[serde(default = "default_hash_attribute")]
    pub hash_attribute: String,
    #[serde(default = "default_hash_version")]
    pub hash_version: u8,
    /// Defaults to the key. Changing it reshuffles every unit, so it is locked once running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub targeting: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<NamespaceRange>,
    #[serde(default)]
    pub metrics: MetricRoles,
}

/// Why a spec was refused: one message per problem, each naming its field.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Problems(pub Vec<String>);

impl Problems {
    fn add(&mut self, field: &str, message: impl fmt::Display) {
        self.0.push(format!("{field}: {message}"));
    }
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("; "))
    }
}

/// Keys are slugs: they appear in URLs, SDK calls and OpenFeature flag keys.
pub fn check_key(key: &str) -> Result<(), String> {
    if key.is_empty() {
        return Err("is required".into());
    }
    let valid = !key.is_empty()
        && key.len() <= 64
        && key.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && key.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "'{key}' is not a valid key: use 1–64 lower-case letters, digits, '-' or '_', starting with a letter or digit"
        ))
    }
}

impl ExperimentSpec {
    /// The seed actually used for hashing.
    pub fn effective_seed(&self) -> &str {
        self.seed.as_deref().filter(|s| !s.is_empty()).unwrap_or(&self.key)
    }

    /// Weights as configured, or equal weights when none are given.
    pub fn weights(&self) -> Vec<f64> {
        let n = self.variations.len();
        self.variations.iter().map(|v| v.weight.unwrap_or(1.0 / n as f64)).collect()
    }

    pub fn condition(&self) -> Result<Option<Condition>, String> {
        match &self.targeting {
            None => Ok(None),
            Some(Value::Object(o)) if o.is_empty() => Ok(None),
            Some(json) => Condition::parse(json).map(Some),
        }
    }

    /// Trims text fields (so "  checkout " and "checkout" are one key).
    pub fn normalized(mut self) -> Self {
        self.key = self.key.trim().to_string();
        self.name = self.name.trim().to_string();
        self.hash_attribute = self.hash_attribute.trim().to_string();
        for v in &mut self.variations {
            v.key = v.key.trim().to_string();
            v.name = v.name.trim().to_string();
            if v.name.is_empty() {
                v.name = v.key.clone();
            }
        }
        self
    }

    pub fn validate(&self) -> Result<(), Problems> {
        let mut problems = Problems::default();
        if let Err(e) = check_key(&self.key) {
            problems.add("key", e);
        }
        if self.name.is_empty() {
            problems.add("name", "is required");
        } else if self.name.chars().count() > 200 {
            problems.add("name", "must be at most 200 characters");
        }

        let n = self.variations.len();
        if !(MIN_VARIATIONS..=MAX_VARIATIONS).contains(&n) {
            problems.add(
                "variations",
                format!("an experiment has {MIN_VARIATIONS} to {MAX_VARIATIONS} variations, not {n}"),
            );
        }
        let mut seen = std::collections::HashSet::new();
        for (i, v) in self.variations.iter().enumerate() {
            if let Err(e) = check_key(&v.key) {
                problems.add(&format!("variations[{i}].key"), e);
            } else if !seen.insert(v.key.as_str()) {
                problems.add(&format!("variations[{i}].key"), format!("'{}' is used twice", v.key));
            }
            if let Some(w) = v.weight {
                if !(0.0..=1.0).contains(&w) {
                    problems.add(&format!("variations[{i}].weight"), format!("{w} is not between 0 and 1"));
                }
            }
        }
        let given = self.variations.iter().filter(|v| v.weight.is_some()).count();
        if given != 0 && given != n {
            problems.add("variations", "give every variation a weight, or none for an equal split");
        } else if given == n && n > 0 {
            let sum: f64 = self.weights().iter().sum();
            if (sum - 1.0).abs() > WEIGHT_TOLERANCE {
                problems.add("variations", format!("weights must sum to 1, not {}", round6(sum)));
            }
        }

        if !(0.0..=1.0).contains(&self.coverage) {
            problems.add("coverage", format!("{} is not between 0 and 1", self.coverage));
        }
        if self.hash_attribute.is_empty() {
            problems.add("hash_attribute", "is required");
        }
        if !matches!(self.hash_version, 1 | 2) {
            problems.add("hash_version", format!("must be 1 or 2, not {}", self.hash_version));
        }
        if let Err(e) = self.condition() {
            problems.add("targeting", e);
        }
        if let Some(ns) = &self.namespace {
            let (start, end) = ns.range;
            if ns.name.trim().is_empty() {
                problems.add("namespace.name", "is required");
            }
            if !(0.0 <= start && start < end && end <= 1.0) {
                problems.add("namespace.range", format!("[{start}, {end}) must satisfy 0 ≤ start < end ≤ 1"));
            }
        }
        let mut seen_metrics = std::collections::HashSet::new();
        for (key, _) in self.metrics.all() {
            if let Err(e) = check_key(key) {
                problems.add("metrics", e);
            } else if !seen_metrics.insert(key) {
                problems.add("metrics", format!("'{key}' is listed twice"));
            }
        }
        if let Some(mde) = self.hypothesis.mde {
            if !(mde > 0.0 && mde.is_finite()) {
                problems.add("hypothesis.mde", format!("{mde} must be a positive relative effect, e.g. 0.05"));
            }
        }
        if problems.0.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    /// Pre-registration: once an experiment has run, only coverage may change (ramp-ups), plus the free-text
    /// name and description, and secondary and guardrail metrics may be added. Returns the locked fields that `next` would change.
    pub fn locked_changes(&self, next: &ExperimentSpec) -> Vec<&'static str> {
        let mut changed = Vec::new();
        if self.key != next.key {
            changed.push("key");
        }
        if self.hypothesis != next.hypothesis {
            changed.push("hypothesis");
        }
        if self.variations != next.variations {
            changed.push("variations");
        }
        if self.hash_attribute != next.hash_attribute
            || self.hash_version != next.hash_version
            || self.effective_seed() != next.effective_seed()
        {
            changed.push("hashing (hash_attribute, hash_version, seed)");
        }
        if self.targeting != next.targeting {
            changed.push("targeting");
        }
        if self.namespace != next.namespace {
            changed.push("namespace");
        }
        if self.metrics.primary != next.metrics.primary {
            changed.push("primary metric");
        }
        changed
    }
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(value: Value) -> ExperimentSpec {
        serde_json::from_value::<ExperimentSpec>(value).unwrap().normalized()
    }

    fn minimal() -> Value {
        json!({"key": "video-autoplay", "name": "Autoplay product videos", "variations": [{"key": "control"}, {"key": "autoplay"}]})
    }

    #[test]
    fn minimal_specs_get_defaults() {
        let s = spec(minimal());
        assert!(s.validate().is_ok());
        assert_eq!(s.coverage, 1.0);
        assert_eq!(s.hash_attribute, "id");
        assert_eq!(s.hash_version, 2);
        assert_eq!(s.effective_seed(), "video-autoplay");
        assert_eq!(s.weights(), vec![0.5, 0.5]);
        assert_eq!(s.variations[1].name, "autoplay");
    }

    #[test]
    fn weights_must_sum_to_one() {
        let mut v = minimal();
        v["variations"] = json!([{"key": "a", "weight": 0.3}, {"key": "b", "weight": 0.3}]);
        let problems = spec(v).validate().unwrap_err().to_string();
        assert!(problems.contains("weights must sum to 1, not 0.6"), "{problems}");

        let mut v = minimal();
        v["variations"] = json!([{"key": "a", "weight": 0.333333}, {"key": "b", "weight": 0.333333}, {"key": "c", "weight": 0.333334}]);
        assert!(spec(v).validate().is_ok());

        let mut v = minimal();
        v["variations"] = json!([{"key": "a", "weight": 1.0}, {"key": "b"}]);
        assert!(spec(v).validate().unwrap_err().to_string().contains("every variation a weight, or none"));
    }

    #[test]
    fn every_problem_is_reported_with_its_field() {
        let v = json!({
            "key": "Bad Key", "name": " ", "variations": [{"key": "a"}, {"key": "a"}],
            "coverage": 1.5, "hash_version": 3, "targeting": {"x": {"$regex": "y"}},
            "namespace": {"name": "checkout", "range": [0.5, 0.2]}, "hypothesis": {"mde": -1}
        });
        let problems = spec(v).validate().unwrap_err().0;
        let fields: Vec<&str> = problems.iter().map(|p| p.split(':').next().unwrap()).collect();
        assert_eq!(
            fields,
            [
                "key",
                "name",
                "variations[1].key",
                "coverage",
                "hash_version",
                "targeting",
                "namespace.range",
                "hypothesis.mde"
            ]
        );
    }

    #[test]
    fn variation_counts_are_bounded() {
        let mut v = minimal();
        v["variations"] = json!([{"key": "only"}]);
        assert!(spec(v).validate().is_err());
        let mut v = minimal();
        v["variations"] = Value::Array((0..11).map(|i| json!({"key": format!("v{i}")})).collect());
        assert!(spec(v).validate().is_err());
    }

    #[test]
    fn unknown_fields_are_refused() {
        let mut v = minimal();
        v["colour"] = json!("blue");
        assert!(serde_json::from_value::<ExperimentSpec>(v)
            .unwrap_err()
            .to_string()
            .contains("unknown field `colour`"));
    }

    #[test]
    fn keys_are_slugs() {
        assert!(check_key("checkout-v2_test").is_ok());
        for bad in ["", "-x", "Upper", "has space", "ümlaut", &"x".repeat(65)] {
            assert!(check_key(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn lifecycle_moves_forward() {
        use Status::*;
        assert!(Draft.can_become(Running));
        assert!(Running.can_become(Stopped));
        assert!(Stopped.can_become(Running));
        assert!(Stopped.can_become(Concluded));
        assert!(!Draft.can_become(Stopped));
        assert!(!Running.can_become(Draft));
        assert!(!Concluded.can_become(Running));
    }

    #[test]
    fn only_coverage_and_texts_may_change_after_start() {
        let before = spec(minimal());
        let mut ramp = before.clone();
        ramp.coverage = 0.5;
        ramp.name = "Renamed".into();
        ramp.description = "More detail".into();
        assert!(before.locked_changes(&ramp).is_empty());

        let mut edited = before.clone();
        edited.hypothesis.primary_metric = "aov".into();
        edited.variations[0].weight = Some(0.9);
        edited.seed = Some("other".into());
        assert_eq!(
            before.locked_changes(&edited),
            ["hypothesis", "variations", "hashing (hash_attribute, hash_version, seed)"]
        );
        let mut same_seed = before.clone();
        same_seed.seed = Some("video-autoplay".into());
        assert!(before.locked_changes(&same_seed).is_empty(), "an explicit seed equal to the key changes nothing");
    }
}
