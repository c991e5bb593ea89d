//! OpenFeature Remote Evaluation Protocol (OFREP) views of assignments: an experiment is a flag whose key is the
//! experiment key and whose value is the variation key, or — for the flag `<experiment>.payload`, which an SDK
//! evaluates as an object — the variation's payload. The protocol carries no requested type, so the key says it.
//! Units outside the experiment get the first variation (the control), as OpenFeature's `DEFAULT`.

use super::assignment::{Assignment, CompiledExperiment, Reason};
use serde_json::{json, Map, Value};

pub const PAYLOAD_SUFFIX: &str = ".payload";

/// The experiment a flag key names, and whether the payload is asked for.
pub fn parse_flag_key(flag: &str) -> (&str, bool) {
    match flag.strip_suffix(PAYLOAD_SUFFIX) {
        Some(experiment) => (experiment, true),
        None => (flag, false),
    }
}

/// An OFREP `evaluationSuccess` for an assignment.
pub fn evaluation(flag_key: &str, experiment: &CompiledExperiment, assignment: &Assignment, payload: bool) -> Value {
    let index = assignment.variation_index.unwrap_or(0);
    let variant = &experiment.variation_keys[index];
    let value = if payload { experiment.payloads[index].clone().unwrap_or_else(|| json!({})) } else { json!(variant) };
    let reason = match assignment.reason {
        Reason::Assigned => "SPLIT",
        Reason::NotRunning => "DISABLED",
        _ => "DEFAULT",
    };
    // Metadata values must be booleans, strings or numbers.
    let mut metadata = Map::new();
    metadata.insert("inExperiment".into(), json!(assignment.in_experiment));
    metadata.insert("assignmentReason".into(), serde_json::to_value(assignment.reason).unwrap_or(Value::Null));
    if let Some(hash) = assignment.hash {
        metadata.insert("hash".into(), json!(hash));
    }
    json!({ "key": flag_key, "value": value, "variant": variant, "reason": reason, "metadata": metadata })
}

/// The flag keys a bulk evaluation returns for an experiment: its key, and `<key>.payload` when any variation has a
/// payload.
pub fn flag_keys(experiment: &CompiledExperiment) -> Vec<(String, bool)> {
    let mut keys = vec![(experiment.key.clone(), false)];
    if experiment.payloads.iter().any(Option::is_some) {
        keys.push((format!("{}{PAYLOAD_SUFFIX}", experiment.key), true));
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::experiment::{ExperimentSpec, Status};

    fn experiment(status: Status) -> CompiledExperiment {
        let spec: ExperimentSpec = serde_json::from_value(json!({"key": "exp", "name": "E", "variations": [
            {"key": "control"}, {"key": "treatment", "payload": {"autoplay": true}}
        ]}))
        .unwrap();
        CompiledExperiment::compile(7, &spec, status).unwrap()
    }

    #[test]
    fn flag_keys_name_the_experiment_and_the_payload() {
        assert_eq!(parse_flag_key("exp"), ("exp", false));
        assert_eq!(parse_flag_key("exp.payload"), ("exp", true));
        assert_eq!(
            flag_keys(&experiment(Status::Running)),
            [("exp".to_string(), false), ("exp.payload".to_string(), true)]
        );
    }

    #[test]
    fn assigned_units_get_their_variation_as_a_split() {
        let e = experiment(Status::Running);
        let id = (0..100)
            .map(|i| i.to_string())
            .find(|id| e.assign(id, &Map::new(), 0.0).variation_index == Some(1))
            .unwrap();
        let a = e.assign(&id, &Map::new(), 0.0);
        let v = evaluation("exp", &e, &a, false);
        assert_eq!(
            (v["value"].as_str(), v["variant"].as_str(), v["reason"].as_str()),
            (Some("treatment"), Some("treatment"), Some("SPLIT"))
        );
        assert_eq!(v["metadata"]["inExperiment"], true);
        let p = evaluation("exp.payload", &e, &a, true);
        assert_eq!(p["value"], json!({"autoplay": true}));
    }

    #[test]
    fn units_outside_get_the_control() {
        let e = experiment(Status::Stopped);
        let a = e.assign("u", &Map::new(), 0.0);
        let v = evaluation("exp", &e, &a, false);
        assert_eq!((v["value"].as_str(), v["reason"].as_str()), (Some("control"), Some("DISABLED")));
        assert_eq!(v["metadata"]["assignmentReason"], "not_running");
        assert_eq!(evaluation("exp.payload", &e, &a, true)["value"], json!({}), "an object flag always gets an object");
    }
}
