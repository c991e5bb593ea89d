//! Targeting conditions on the attributes a service sends with an assignment request (device type, country,
//! channel, intent stage, …), in the MongoDB-style syntax GrowthBook uses, so existing conditions carry over:
//!
//! ```json
//! {"country": {"$in": ["DE", "AT"]}, "$or": [{"device": "mobile"}, {"visits": {"$gte": 3}}]}
//! ```
//!
//! Supported: field equality, `$eq $ne $in $nin $gt $gte $lt $lte $exists $not` on a field, and `$and $or $nor
//! $not` over conditions; dotted paths reach into nested attributes. Conditions are parsed once, when an
//! experiment is saved, so an unsupported operator is an error for the marketer then, not a silent mismatch later.

use serde_json::{Map, Value};
use std::cmp::Ordering;

#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// Every condition holds (a JSON object with several keys is an implicit `$and`).
    All(Vec<Condition>),
    /// At least one holds (`$or`; an empty list holds, as in GrowthBook).
    Any(Vec<Condition>),
    /// None holds (`$nor`).
    NoneOf(Vec<Condition>),
    Not(Box<Condition>),
    Field {
        path: String,
        test: ValueTest,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum ValueTest {
    /// `{"country": "DE"}`: the value equals this JSON value.
    Equals(Value),
    /// `{"visits": {"$gte": 3, "$lt": 10}}`: every operator holds.
    Operators(Vec<Operator>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Operator {
    Eq(Value),
    Ne(Value),
    In(Vec<Value>),
    NotIn(Vec<Value>),
    Compare(Ordering, bool, Value),
    Exists(bool),
    Not(Box<ValueTest>),
}

impl Condition {
    /// Parses a condition object, with a message naming the offending part.
    pub fn parse(json: &Value) -> Result<Condition, String> {
        let object = json.as_object().ok_or_else(|| format!("a condition must be a JSON object, not {json}"))?;
        let mut parts = Vec::with_capacity(object.len());
        for (key, value) in object {
            parts.push(match key.as_str() {
                "$and" => Condition::All(parse_list(key, value)?),
                "$or" => Condition::Any(parse_list(key, value)?),
                "$nor" => Condition::NoneOf(parse_list(key, value)?),
                "$not" => Condition::Not(Box::new(Condition::parse(value)?)),
                op if op.starts_with('$') => return Err(format!("unsupported condition operator '{op}'")),
                path => Condition::Field { path: path.to_string(), test: ValueTest::parse(path, value)? },
            });
        }
        Ok(if parts.len() == 1 { parts.remove(0) } else { Condition::All(parts) })
    }

    pub fn matches(&self, attributes: &Map<String, Value>) -> bool {
        match self {
            Condition::All(parts) => parts.iter().all(|c| c.matches(attributes)),
            Condition::Any(parts) => parts.is_empty() || parts.iter().any(|c| c.matches(attributes)),
            Condition::NoneOf(parts) => !parts.iter().any(|c| c.matches(attributes)),
            Condition::Not(inner) => !inner.matches(attributes),
            Condition::Field { path, test } => test.matches(lookup(attributes, path)),
        }
    }
}

fn parse_list(key: &str, value: &Value) -> Result<Vec<Condition>, String> {
    value
        .as_array()
        .ok_or_else(|| format!("'{key}' takes a list of conditions"))?
        .iter()
        .map(Condition::parse)
        .collect()
}

impl ValueTest {
    fn parse(path: &str, value: &Value) -> Result<ValueTest, String> {
        let operators = match value.as_object() {
            Some(object) if !object.is_empty() && object.keys().all(|k| k.starts_with('$')) => object,
            _ => return Ok(ValueTest::Equals(value.clone())),
        };
        let mut parsed = Vec::with_capacity(operators.len());
        for (op, operand) in operators {
            let list =
                || operand.as_array().cloned().ok_or_else(|| format!("'{op}' on '{path}' takes a list of values"));
            parsed.push(match op.as_str() {
                "$eq" => Operator::Eq(operand.clone()),
                "$ne" => Operator::Ne(operand.clone()),
                "$in" => Operator::In(list()?),
                "$nin" => Operator::NotIn(list()?),
                "$gt" => Operator::Compare(Ordering::Greater, false, comparable(path, op, operand)?),
                "$gte" => Operator::Compare(Ordering::Greater, true, comparable(path, op, operand)?),
                "$lt" => Operator::Compare(Ordering::Less, false, comparable(path, op, operand)?),
                "$lte" => Operator::Compare(Ordering::Less, true, comparable(path, op, operand)?),
                "$exists" => Operator::Exists(
                    operand.as_bool().ok_or_else(|| format!("'$exists' on '{path}' takes true or false"))?,
                ),
                "$not" => Operator::Not(Box::new(ValueTest::parse(path, operand)?)),
                other => return Err(format!("unsupported operator '{other}' on '{path}'")),
            });
        }
        Ok(ValueTest::Operators(parsed))
    }

    fn matches(&self, actual: Option<&Value>) -> bool {
        match self {
            ValueTest::Equals(expected) => actual == Some(expected),
            ValueTest::Operators(ops) => ops.iter().all(|op| op.matches(actual)),
        }
    }
}

fn comparable(path: &str, op: &str, operand: &Value) -> Result<Value, String> {
    match operand {
        Value::Number(_) | Value::String(_) => Ok(operand.clone()),
        _ => Err(format!("'{op}' on '{path}' compares with a number or a string")),
    }
}

impl Operator {
    fn matches(&self, actual: Option<&Value>) -> bool {
        let present = actual.filter(|v| !v.is_null());
        match self {
            Operator::Eq(expected) => actual == Some(expected),
            Operator::Ne(expected) => actual != Some(expected),
            Operator::In(list) => present.is_some_and(|v| is_in(v, list)),
            Operator::NotIn(list) => !present.is_some_and(|v| is_in(v, list)),
            Operator::Compare(wanted, or_equal, expected) => present
                .and_then(|v| compare(v, expected))
                .is_some_and(|ord| ord == *wanted || (*or_equal && ord == Ordering::Equal)),
            Operator::Exists(should) => present.is_some() == *should,
            Operator::Not(test) => !test.matches(actual),
        }
    }
}

/// An array attribute is "in" a list when any of its elements is (so `tags: ["vip","new"]` matches `$in: ["vip"]`).
fn is_in(actual: &Value, list: &[Value]) -> bool {
    match actual {
        Value::Array(items) => items.iter().any(|item| list.contains(item)),
        value => list.contains(value),
    }
}

/// Numbers compare numerically, strings lexicographically; anything else does not compare.
fn compare(actual: &Value, expected: &Value) -> Option<Ordering> {
    match (actual, expected) {
        (Value::Number(a), Value::Number(b)) => a.as_f64()?.partial_cmp(&b.as_f64()?),
        (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
        _ => None,
    }
}

/// Follows a dotted path (`"geo.country"`) into nested objects.
fn lookup<'a>(attributes: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    if let Some(value) = attributes.get(path) {
        return Some(value);
    }
    let mut segments = path.split('.');
    let mut current = attributes.get(segments.next()?)?;
    for segment in segments {
        current = current.as_object()?.get(segment)?;
    }
    Some(current)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(condition: Value, attributes: Value) -> bool {
        Condition::parse(&condition).unwrap().matches(attributes.as_object().unwrap())
    }

    #[test]
    fn field_equality_and_implicit_and() {
        let c = json!({"country": "DE", "device": "mobile"});
        assert!(check(c.clone(), json!({"country": "DE", "device": "mobile", "x": 1})));
        assert!(!check(c.clone(), json!({"country": "DE", "device": "desktop"})));
        assert!(!check(c, json!({"country": "DE"})));
    }

    #[test]
    fn in_and_not_in() {
        let c = json!({"channel": {"$in": ["app", "web"]}});
        assert!(check(c.clone(), json!({"channel": "app"})));
        assert!(!check(c.clone(), json!({"channel": "email"})));
        assert!(!check(c, json!({})), "a missing attribute is not in any list");
        let c = json!({"channel": {"$nin": ["store"]}});
        assert!(check(c.clone(), json!({"channel": "web"})));
        assert!(check(c.clone(), json!({})), "a missing attribute is not in the excluded list");
        assert!(!check(c, json!({"channel": "store"})));
        assert!(check(json!({"tags": {"$in": ["vip"]}}), json!({"tags": ["new", "vip"]})));
    }

    #[test]
    fn numeric_and_string_comparisons() {
        let c = json!({"visits": {"$gte": 3, "$lt": 10}});
        assert!(check(c.clone(), json!({"visits": 3})));
        assert!(check(c.clone(), json!({"visits": 9.5})));
        assert!(!check(c.clone(), json!({"visits": 10})));
        assert!(!check(c.clone(), json!({"visits": 2})));
        assert!(!check(c, json!({"visits": "5"})), "a string does not compare with a number");
        assert!(check(json!({"stage": {"$gt": "consideration"}}), json!({"stage": "intent"})));
    }

    #[test]
    fn exists_eq_ne_and_not() {
        assert!(check(json!({"email": {"$exists": true}}), json!({"email": "a@b.c"})));
        assert!(!check(json!({"email": {"$exists": true}}), json!({"email": null})));
        assert!(check(json!({"email": {"$exists": false}}), json!({})));
        assert!(check(json!({"device": {"$ne": "tablet"}}), json!({})));
        assert!(check(json!({"device": {"$eq": "tablet"}}), json!({"device": "tablet"})));
        assert!(check(json!({"device": {"$not": {"$in": ["tablet", "tv"]}}}), json!({"device": "mobile"})));
    }

    #[test]
    fn boolean_combinators() {
        let c = json!({"$or": [{"device": "mobile"}, {"visits": {"$gte": 3}}]});
        assert!(check(c.clone(), json!({"device": "mobile"})));
        assert!(check(c.clone(), json!({"device": "desktop", "visits": 4})));
        assert!(!check(c, json!({"device": "desktop", "visits": 1})));
        assert!(check(json!({"$or": []}), json!({})));
        assert!(check(json!({"$and": [{"a": 1}, {"b": 2}]}), json!({"a": 1, "b": 2})));
        assert!(!check(json!({"$nor": [{"a": 1}, {"b": 2}]}), json!({"b": 2})));
        assert!(check(json!({"$not": {"a": 1}}), json!({"a": 2})));
    }

    #[test]
    fn dotted_paths_reach_nested_attributes() {
        assert!(check(json!({"geo.country": "FR"}), json!({"geo": {"country": "FR"}})));
        assert!(check(json!({"geo.country": "FR"}), json!({"geo.country": "FR"})));
        assert!(!check(json!({"geo.country": "FR"}), json!({"geo": "FR"})));
    }

    #[test]
    fn unsupported_syntax_is_refused_with_a_message() {
        let err = |c: Value| Condition::parse(&c).unwrap_err();
        assert_eq!(err(json!({"name": {"$regex": "^a"}})), "unsupported operator '$regex' on 'name'");
        assert_eq!(err(json!({"$where": "1"})), "unsupported condition operator '$where'");
        assert!(err(json!({"country": {"$in": "DE"}})).contains("takes a list"));
        assert!(err(json!({"visits": {"$gt": [1]}})).contains("compares with a number or a string"));
        assert!(err(json!([1])).contains("must be a JSON object"));
        assert!(err(json!({"$or": {"a": 1}})).contains("takes a list of conditions"));
    }
}
