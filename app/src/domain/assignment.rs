//! Assigning a unit to a variation: the hot path of the assignment API. Experiments are compiled once (parsed
//! targeting, precomputed bucket ranges) into a `Snapshot`; evaluating is then hashing and comparisons only.
//! The order of the checks follows GrowthBook's SDK: running → holdout → namespace → targeting → coverage.

use super::experiment::{ExperimentSpec, Status};
use super::hashing::{bucket_ranges, choose_variation, hash, holdout_hash, in_namespace, BucketRange};
use super::targeting::Condition;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    Assigned,
    NotTargeted,
    Coverage,
    Namespace,
    Holdout,
    NotRunning,
    OptedOut,
    UnknownExperiment,
    /// The experiment hashes on an attribute the request did not send.
    MissingHashAttribute,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
pub struct Assignment {
    pub experiment: String,
    pub variation: Option<String>,
    pub variation_index: Option<usize>,
    pub in_experiment: bool,
    pub hash: Option<f64>,
    pub reason: Reason,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<Value>,
}

impl Assignment {
    fn excluded(experiment: &str, reason: Reason, hash: Option<f64>) -> Self {
        Assignment {
            experiment: experiment.to_string(),
            variation: None,
            variation_index: None,
            in_experiment: false,
            hash,
            reason,
            payload: None,
        }
    }
}

/// An experiment ready for evaluation.
#[derive(Debug, Clone)]
pub struct CompiledExperiment {
    /// The stored experiment's id, recorded with exposures.
    pub id: i64,
    pub key: String,
    pub status: Status,
    pub variation_keys: Vec<String>,
    pub payloads: Vec<Option<Value>>,
    pub ranges: Vec<BucketRange>,
    pub seed: String,
    pub hash_attribute: String,
    pub hash_version: u8,
    pub condition: Option<Condition>,
    pub namespace: Option<(String, f64, f64)>,
}

impl CompiledExperiment {
    /// Compiles a validated spec; fails only if the spec was not validated.
    pub fn compile(id: i64, spec: &ExperimentSpec, status: Status) -> Result<Self, String> {
        Ok(CompiledExperiment {
            id,
            key: spec.key.clone(),
            status,
            variation_keys: spec.variations.iter().map(|v| v.key.clone()).collect(),
            payloads: spec.variations.iter().map(|v| v.payload.clone()).collect(),
            ranges: bucket_ranges(spec.variations.len(), spec.coverage, Some(&spec.weights())),
            seed: spec.effective_seed().to_string(),
            hash_attribute: spec.hash_attribute.clone(),
            hash_version: spec.hash_version,
            condition: spec.condition()?,
            namespace: spec.namespace.as_ref().map(|ns| (ns.name.clone(), ns.range.0, ns.range.1)),
        })
    }

    /// The value hashed for this unit: the request's unit id for `id`, otherwise the named attribute (a string or
    /// a number).
    fn hash_value<'a>(&self, unit_id: &'a str, attributes: &'a Map<String, Value>) -> Option<Cow<'a, str>> {
        let value = if self.hash_attribute == "id" {
            Cow::Borrowed(unit_id)
        } else {
            match attributes.get(&self.hash_attribute) {
                Some(Value::String(s)) => Cow::Borrowed(s.as_str()),
                Some(Value::Number(n)) => Cow::Owned(n.to_string()),
                _ => return None,
            }
        };
        Some(value).filter(|v| !v.is_empty())
    }

    pub fn assign(&self, unit_id: &str, attributes: &Map<String, Value>, holdout: f64) -> Assignment {
        if self.status != Status::Running {
            return Assignment::excluded(&self.key, Reason::NotRunning, None);
        }
        if holdout > 0.0 && holdout_hash(unit_id) < holdout {
            return Assignment::excluded(&self.key, Reason::Holdout, None);
        }
        let Some(hash_value) = self.hash_value(unit_id, attributes) else {
            return Assignment::excluded(&self.key, Reason::MissingHashAttribute, None);
        };
        if let Some((name, start, end)) = &self.namespace {
            if !in_namespace(&hash_value, name, *start, *end) {
                return Assignment::excluded(&self.key, Reason::Namespace, None);
            }
        }
        if let Some(condition) = &self.condition {
            if !condition.matches(attributes) {
                return Assignment::excluded(&self.key, Reason::NotTargeted, None);
            }
        }
        let n = hash(&self.seed, &hash_value, self.hash_version).unwrap_or(1.0);
        match choose_variation(n, &self.ranges) {
            Some(index) => Assignment {
                experiment: self.key.clone(),
                variation: Some(self.variation_keys[index].clone()),
                variation_index: Some(index),
                in_experiment: true,
                hash: Some(n),
                reason: Reason::Assigned,
                payload: self.payloads[index].clone(),
            },
            None => Assignment::excluded(&self.key, Reason::Coverage, Some(n)),
        }
    }
}

/// Every experiment the assignment API can answer for, with the global holdout. Immutable: a change builds a new
/// snapshot that replaces the old one atomically.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    experiments: HashMap<String, CompiledExperiment>,
    /// Running experiments' keys, sorted, for "all running experiments".
    running: Vec<String>,
    /// Share of units (0–1) kept out of every experiment.
    pub holdout: f64,
    /// Changes whenever the content changes: the ETag of the config and OpenFeature endpoints.
    pub version: String,
    /// The running experiments as SDKs evaluate them locally (`GET /api/v1/config`).
    pub config: Value,
    /// Ids of people who opted out: they see the default experience and are never exposed.
    pub opted_out: HashSet<String>,
    /// Some running experiment targets on the unit's intent stage, which the server can fill in.
    pub uses_intent_stage: bool,
}

impl Snapshot {
    pub fn new(experiments: Vec<CompiledExperiment>, holdout: f64, version: String, config: Value) -> Self {
        let mut running: Vec<String> =
            experiments.iter().filter(|e| e.status == Status::Running).map(|e| e.key.clone()).collect();
        running.sort();
        let experiments = experiments.into_iter().map(|e| (e.key.clone(), e)).collect();
        Snapshot { experiments, running, holdout, version, config, opted_out: HashSet::new(), uses_intent_stage: false }
    }

    /// One experiment's assignment for the unit: an opted-out person is kept out of running experiments.
    pub fn assign_experiment(
        &self,
        experiment: &CompiledExperiment,
        unit_id: &str,
        attributes: &Map<String, Value>,
    ) -> Assignment {
        if experiment.status == Status::Running && self.opted_out.contains(unit_id) {
            return Assignment::excluded(&experiment.key, Reason::OptedOut, None);
        }
        experiment.assign(unit_id, attributes, self.holdout)
    }

    pub fn get(&self, key: &str) -> Option<&CompiledExperiment> {
        self.experiments.get(key)
    }

    pub fn running(&self) -> impl Iterator<Item = &CompiledExperiment> {
        self.running.iter().filter_map(|k| self.experiments.get(k))
    }

    /// Assignments for the requested experiments (unknown keys answered as such), or for every running one.
    pub fn assign(&self, unit_id: &str, attributes: &Map<String, Value>, keys: Option<&[String]>) -> Vec<Assignment> {
        match keys {
            Some(keys) => keys
                .iter()
                .map(|key| match self.experiments.get(key) {
                    Some(e) => self.assign_experiment(e, unit_id, attributes),
                    None => Assignment::excluded(key, Reason::UnknownExperiment, None),
                })
                .collect(),
            None => self.running().map(|e| self.assign_experiment(e, unit_id, attributes)).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn compiled(extra: Value, status: Status) -> CompiledExperiment {
        let mut spec = json!({"key": "exp", "name": "Exp", "variations": [
            {"key": "control", "payload": {"autoplay": false}}, {"key": "treatment", "payload": {"autoplay": true}}
        ]});
        spec.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        let spec: ExperimentSpec = serde_json::from_value(spec).unwrap();
        spec.validate().unwrap();
        CompiledExperiment::compile(1, &spec, status).unwrap()
    }

    fn attrs(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn running_experiments_assign_deterministically_with_the_payload() {
        let e = compiled(json!({}), Status::Running);
        let a = e.assign("user-1", &Map::new(), 0.0);
        assert!(a.in_experiment);
        assert_eq!(a.reason, Reason::Assigned);
        let n = hash("exp", "user-1", 2).unwrap();
        assert_eq!(a.hash, Some(n));
        let expected = if n < 0.5 { 0 } else { 1 };
        assert_eq!(a.variation_index, Some(expected));
        assert_eq!(a.payload, Some(json!({"autoplay": expected == 1})));
        assert_eq!(e.assign("user-1", &Map::new(), 0.0), a, "same unit, same answer");
    }

    #[test]
    fn drafts_and_stopped_experiments_assign_nobody() {
        for status in [Status::Draft, Status::Stopped, Status::Concluded] {
            let a = compiled(json!({}), status).assign("u", &Map::new(), 0.0);
            assert_eq!((a.in_experiment, a.reason), (false, Reason::NotRunning));
        }
    }

    #[test]
    fn targeting_filters_units() {
        let e = compiled(json!({"targeting": {"device": "mobile"}}), Status::Running);
        assert_eq!(e.assign("u", &attrs(json!({"device": "desktop"})), 0.0).reason, Reason::NotTargeted);
        assert_eq!(e.assign("u", &attrs(json!({"device": "mobile"})), 0.0).reason, Reason::Assigned);
    }

    #[test]
    fn coverage_leaves_units_out_but_reports_their_hash() {
        let e = compiled(json!({"coverage": 0.0}), Status::Running);
        let a = e.assign("u", &Map::new(), 0.0);
        assert_eq!(a.reason, Reason::Coverage);
        assert!(a.hash.is_some());
        let e = compiled(json!({"coverage": 0.3}), Status::Running);
        let covered = (0..10_000).filter(|i| e.assign(&i.to_string(), &Map::new(), 0.0).in_experiment).count();
        assert!((2_800..3_200).contains(&covered), "{covered}");
    }

    #[test]
    fn namespaces_split_units_between_experiments() {
        let left = compiled(json!({"namespace": {"name": "checkout", "range": [0.0, 0.5]}}), Status::Running);
        let right = compiled(json!({"namespace": {"name": "checkout", "range": [0.5, 1.0]}}), Status::Running);
        for i in 0..2_000 {
            let id = format!("u{i}");
            let (l, r) = (left.assign(&id, &Map::new(), 0.0), right.assign(&id, &Map::new(), 0.0));
            assert!(l.in_experiment != r.in_experiment, "unit {id} must be in exactly one");
            let out = if l.in_experiment { r } else { l };
            assert_eq!(out.reason, Reason::Namespace);
        }
    }

    #[test]
    fn the_holdout_excludes_the_same_units_from_every_experiment() {
        let a = compiled(json!({}), Status::Running);
        let b = compiled(json!({"seed": "other"}), Status::Running);
        let held: Vec<bool> =
            (0..5_000).map(|i| a.assign(&i.to_string(), &Map::new(), 0.1).reason == Reason::Holdout).collect();
        let share = held.iter().filter(|h| **h).count() as f64 / held.len() as f64;
        assert!((share - 0.1).abs() < 0.015, "{share}");
        for (i, h) in held.iter().enumerate() {
            assert_eq!(b.assign(&i.to_string(), &Map::new(), 0.1).reason == Reason::Holdout, *h);
        }
    }

    #[test]
    fn other_hash_attributes_come_from_the_request() {
        let e = compiled(json!({"hash_attribute": "device_id"}), Status::Running);
        assert_eq!(e.assign("u", &Map::new(), 0.0).reason, Reason::MissingHashAttribute);
        let a = e.assign("u", &attrs(json!({"device_id": "d-42"})), 0.0);
        assert_eq!(a.hash, hash("exp", "d-42", 2));
        let numeric = e.assign("u", &attrs(json!({"device_id": 42})), 0.0);
        assert_eq!(numeric.hash, hash("exp", "42", 2));
    }

    #[test]
    fn snapshots_answer_for_requested_or_all_running_experiments() {
        let mut running = compiled(json!({}), Status::Running);
        running.key = "b-running".into();
        let mut draft = compiled(json!({}), Status::Draft);
        draft.key = "a-draft".into();
        let snapshot = Snapshot::new(vec![running, draft], 0.0, "v1".into(), Value::Null);
        let all = snapshot.assign("u", &Map::new(), None);
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].experiment, "b-running");
        let asked = snapshot.assign("u", &Map::new(), Some(&["a-draft".into(), "nope".into()]));
        assert_eq!(asked[0].reason, Reason::NotRunning);
        assert_eq!(asked[1].reason, Reason::UnknownExperiment);
    }

    #[test]
    fn opted_out_units_are_kept_out_of_running_experiments_only() {
        let mut snapshot = Snapshot::new(vec![compiled(json!({}), Status::Running)], 0.0, "v".into(), Value::Null);
        snapshot.opted_out.insert("user-1".into());
        let out = snapshot.assign("user-1", &Map::new(), None);
        assert_eq!((out[0].reason, out[0].in_experiment), (Reason::OptedOut, false));
        assert!(snapshot.assign("user-2", &Map::new(), None)[0].in_experiment);
        let stopped = Snapshot {
            opted_out: snapshot.opted_out.clone(),
            ..Snapshot::new(vec![compiled(json!({}), Status::Stopped)], 0.0, "v".into(), Value::Null)
        };
        assert_eq!(stopped.assign("user-1", &Map::new(), Some(&["exp".to_string()]))[0].reason, Reason::NotRunning);
    }
}
