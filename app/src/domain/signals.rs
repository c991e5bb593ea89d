//! The micro-conversion signal library and the intent score built from it.
//!
//! A signal is a rule over events ("`Video Watched` with `percent >= 75`", "`Cart Viewed` again within 7 days")
//! with a weight — its expected impact on a later purchase — and an intent stage. Every unit (a unified profile)
//! keeps, per signal, a score that decays with a half-life; the intent score is their sum and maps to a stage by
//! thresholds. Everything here is pure: time comes in as arguments.

use super::experiment::{check_key, Problems};
use super::targeting::Condition;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// What a rule looks at: named track events, or page/screen views.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum RuleKind {
    #[default]
    Track,
    /// Page views on the web and screen views in apps.
    View,
}

/// "The same thing again": the rule fires on an occurrence that comes at least `after_minutes` after the
/// unit's previous occurrence and at most `within_days` after it (a cart return, a repeat visit).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Repeat {
    #[serde(default)]
    pub after_minutes: f64,
    pub within_days: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Rule {
    #[serde(default, rename = "type")]
    pub kind: RuleKind,
    /// The event name (track) or page name (views; empty = any view).
    #[serde(default)]
    pub event: String,
    /// Conditions on the event's properties, in the targeting syntax: `{"percent": {"$gte": 75}}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat: Option<Repeat>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum PropertyType {
    String,
    Number,
    Integer,
    Boolean,
    Object,
    Array,
}

impl PropertyType {
    fn accepts(self, value: &Value) -> bool {
        match self {
            PropertyType::String => value.is_string(),
            PropertyType::Number => value.is_number(),
            PropertyType::Integer => value.is_i64() || value.is_u64(),
            PropertyType::Boolean => value.is_boolean(),
            PropertyType::Object => value.is_object(),
            PropertyType::Array => value.is_array(),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            PropertyType::String => "string",
            PropertyType::Number => "number",
            PropertyType::Integer => "integer",
            PropertyType::Boolean => "boolean",
            PropertyType::Object => "object",
            PropertyType::Array => "array",
        }
    }
}

/// The expected type of one property of the signal's event; events that break it are counted as schema
/// violations, kept apart, and never match a signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct PropertyRule {
    #[serde(rename = "type")]
    pub kind: PropertyType,
    #[serde(default)]
    pub required: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum SignalStatus {
    #[default]
    Active,
    Deprecated,
}

impl SignalStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SignalStatus::Active => "active",
            SignalStatus::Deprecated => "deprecated",
        }
    }

    pub fn parse(text: &str) -> Option<SignalStatus> {
        match text {
            "active" => Some(SignalStatus::Active),
            "deprecated" => Some(SignalStatus::Deprecated),
            _ => None,
        }
    }
}

/// What a marketer edits: everything about a signal except its status and version, which the library manages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct SignalSpec {
    pub key: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub stage: String,
    pub weight: f64,
    pub rule: Rule,
    /// Channels where the signal applies; empty means all of them.
    #[serde(default)]
    pub channels: Vec<String>,
    #[serde(default)]
    pub owner: String,
    #[serde(default)]
    pub properties_schema: BTreeMap<String, PropertyRule>,
}

/// Keys that are API paths under `/api/v1/signals/`.
const RESERVED_KEYS: &[&str] = &["preview"];

/// Largest weight a signal can carry: weights are relative, and a typo of 10000 would swamp every other signal.
pub const MAX_WEIGHT: f64 = 100.0;

impl SignalSpec {
    pub fn normalized(mut self) -> Self {
        self.key = self.key.trim().to_string();
        self.name = self.name.trim().to_string();
        self.description = self.description.trim().to_string();
        self.stage = self.stage.trim().to_ascii_lowercase();
        self.owner = self.owner.trim().to_string();
        self.rule.event = self.rule.event.trim().to_string();
        if matches!(&self.rule.conditions, Some(Value::Object(o)) if o.is_empty()) {
            self.rule.conditions = None;
        }
        self.channels = self.channels.iter().map(|c| c.trim().to_ascii_lowercase()).filter(|c| !c.is_empty()).collect();
        self.channels.sort();
        self.channels.dedup();
        self
    }

    /// Every problem at once, so a form can show them all; `stages` are the stages the installation uses.
    pub fn validate(&self, stages: &[String]) -> Result<(), Problems> {
        let mut problems = Vec::new();
        if let Err(e) = check_key(&self.key) {
            problems.push(format!("key {e}"));
        } else if RESERVED_KEYS.contains(&self.key.as_str()) {
            problems.push(format!("key '{}' is reserved by the API; choose another", self.key));
        }
        if self.name.is_empty() {
            problems.push("name is required".into());
        }
        if !stages.contains(&self.stage) {
            problems.push(format!("stage '{}' is not one of {}", self.stage, stages.join(", ")));
        }
        if !self.weight.is_finite() || !(0.0..=MAX_WEIGHT).contains(&self.weight) {
            problems.push(format!("weight must be between 0 and {MAX_WEIGHT}"));
        }
        if self.rule.kind == RuleKind::Track && self.rule.event.is_empty() {
            problems.push("rule.event is required for track rules (e.g. 'Product Added')".into());
        }
        if let Some(conditions) = &self.rule.conditions {
            if let Err(e) = Condition::parse(conditions) {
                problems.push(format!("rule.conditions: {e}"));
            }
        }
        if let Some(repeat) = self.rule.repeat {
            if !(repeat.within_days.is_finite() && repeat.within_days > 0.0) {
                problems.push("rule.repeat.within_days must be more than 0".into());
            }
            if !(repeat.after_minutes.is_finite() && repeat.after_minutes >= 0.0) {
                problems.push("rule.repeat.after_minutes must be 0 or more".into());
            } else if repeat.within_days > 0.0 && repeat.after_minutes >= repeat.within_days * 24.0 * 60.0 {
                problems.push("rule.repeat.after_minutes must be shorter than within_days".into());
            }
        }
        for channel in &self.channels {
            if !channel.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') || channel.len() > 32 {
                problems.push(format!("channel '{channel}' is not a valid channel name"));
            }
        }
        if self.properties_schema.keys().any(|k| k.trim().is_empty()) {
            problems.push("properties_schema has an empty property name".into());
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Problems(problems))
        }
    }

    /// Whether two versions differ in what they match or score: such a change makes a new version.
    pub fn rule_changed(&self, other: &SignalSpec) -> bool {
        self.rule != other.rule
            || self.weight != other.weight
            || self.stage != other.stage
            || self.channels != other.channels
            || self.properties_schema != other.properties_schema
    }
}

/// One occurrence as the signal library sees it.
#[derive(Debug, Clone, Copy)]
pub struct Occurrence<'a> {
    pub view: bool,
    /// Track: the event name; views: the page or screen name.
    pub event: Option<&'a str>,
    pub channel: &'a str,
    pub properties: &'a Map<String, Value>,
}

/// A signal ready to match: conditions parsed once.
#[derive(Debug, Clone)]
pub struct CompiledSignal {
    pub key: String,
    pub version: i64,
    pub stage: String,
    pub weight: f64,
    pub rule: Rule,
    pub channels: Vec<String>,
    pub properties_schema: BTreeMap<String, PropertyRule>,
    condition: Option<Condition>,
}

impl CompiledSignal {
    pub fn compile(spec: &SignalSpec, version: i64) -> Result<Self, String> {
        let condition = spec.rule.conditions.as_ref().map(Condition::parse).transpose()?;
        Ok(CompiledSignal {
            key: spec.key.clone(),
            version,
            stage: spec.stage.clone(),
            weight: spec.weight,
            rule: spec.rule.clone(),
            channels: spec.channels.clone(),
            properties_schema: spec.properties_schema.clone(),
            condition,
        })
    }

    /// Whether the occurrence is one this signal counts (before any repeat logic).
    pub fn matches(&self, occurrence: &Occurrence) -> bool {
        let kind_matches = match self.rule.kind {
            RuleKind::Track => !occurrence.view && occurrence.event == Some(self.rule.event.as_str()),
            RuleKind::View => {
                occurrence.view && (self.rule.event.is_empty() || occurrence.event == Some(self.rule.event.as_str()))
            }
        };
        kind_matches
            && (self.channels.is_empty() || self.channels.iter().any(|c| c == occurrence.channel))
            && self.condition.as_ref().is_none_or(|c| c.matches(occurrence.properties))
    }

    /// The schema problems of an occurrence of this signal's event (none when it is another event).
    pub fn schema_violations(&self, occurrence: &Occurrence) -> Vec<String> {
        let same_event = match self.rule.kind {
            RuleKind::Track => !occurrence.view && occurrence.event == Some(self.rule.event.as_str()),
            RuleKind::View => occurrence.view,
        };
        if !same_event {
            return Vec::new();
        }
        self.properties_schema
            .iter()
            .filter_map(|(name, rule)| match occurrence.properties.get(name) {
                None | Some(Value::Null) if rule.required => Some(format!("'{name}' is required")),
                Some(value) if !value.is_null() && !rule.kind.accepts(value) => {
                    Some(format!("'{name}' must be {}, not {}", rule.kind.as_str(), json_type(value)))
                }
                _ => None,
            })
            .collect()
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A unit's running tally for one signal.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
pub struct SignalState {
    /// How many times the signal fired.
    pub matches: i64,
    /// The latest occurrence of the rule's event (fired or not): what a repeat is measured from.
    pub last_occurrence: DateTime<Utc>,
    /// The decayed score as of `score_at`.
    pub score: f64,
    pub score_at: DateTime<Utc>,
}

/// `score` as of `to`, halving every `half_life_days` after `from`. Never grows: an earlier `to` keeps it.
pub fn decayed(score: f64, from: DateTime<Utc>, to: DateTime<Utc>, half_life_days: f64) -> f64 {
    let days = (to - from).num_milliseconds() as f64 / 86_400_000.0;
    if days <= 0.0 || score == 0.0 {
        score
    } else {
        score * 0.5f64.powf(days / half_life_days)
    }
}

/// Folds one occurrence at `at` into the unit's state for `signal`; returns the new state and whether the signal
/// fired. Occurrences may arrive out of order: each adds its weight decayed to the state's reference time.
pub fn record_occurrence(
    signal: &CompiledSignal,
    state: Option<SignalState>,
    at: DateTime<Utc>,
    half_life_days: f64,
) -> (SignalState, bool) {
    let fired = match (signal.rule.repeat, state) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(repeat), Some(previous)) => {
            let gap_minutes = (at - previous.last_occurrence).num_milliseconds().abs() as f64 / 60_000.0;
            gap_minutes >= repeat.after_minutes.max(1.0 / 60.0) && gap_minutes <= repeat.within_days * 24.0 * 60.0
        }
    };
    let mut next = state.unwrap_or(SignalState { matches: 0, last_occurrence: at, score: 0.0, score_at: at });
    next.last_occurrence = next.last_occurrence.max(at);
    if fired {
        let reference = next.score_at.max(at);
        next.score = decayed(next.score, next.score_at, reference, half_life_days)
            + decayed(signal.weight, at, reference, half_life_days);
        next.score_at = reference;
        next.matches += 1;
    }
    (next, fired)
}

/// Merges two units' states for the same signal (when identities are stitched into one profile).
pub fn merge_states(a: SignalState, b: SignalState, half_life_days: f64) -> SignalState {
    let reference = a.score_at.max(b.score_at);
    SignalState {
        matches: a.matches + b.matches,
        last_occurrence: a.last_occurrence.max(b.last_occurrence),
        score: decayed(a.score, a.score_at, reference, half_life_days)
            + decayed(b.score, b.score_at, reference, half_life_days),
        score_at: reference,
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct StageThreshold {
    pub stage: String,
    pub min_score: f64,
}

/// How scores become stages; an installation-wide setting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct IntentConfig {
    /// A signal's contribution halves every this many days.
    pub half_life_days: f64,
    /// Stages in funnel order with the score from which each begins.
    pub stages: Vec<StageThreshold>,
    /// The stage of units that completed a purchase, whatever their score.
    pub purchaser_stage: String,
}

impl Default for IntentConfig {
    fn default() -> Self {
        let stage = |stage: &str, min_score: f64| StageThreshold { stage: stage.into(), min_score };
        IntentConfig {
            half_life_days: 7.0,
            stages: vec![
                stage("curiosity", 0.0),
                stage("consideration", 3.0),
                stage("intent", 8.0),
                stage("readiness", 15.0),
            ],
            purchaser_stage: "customer".into(),
        }
    }
}

impl IntentConfig {
    /// Every stage name, in funnel order, ending with the purchaser stage.
    pub fn stage_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.stages.iter().map(|s| s.stage.clone()).collect();
        if !names.contains(&self.purchaser_stage) {
            names.push(self.purchaser_stage.clone());
        }
        names
    }

    pub fn validate(&self) -> Result<(), Problems> {
        let mut problems = Vec::new();
        if !(self.half_life_days.is_finite() && self.half_life_days > 0.0) {
            problems.push("half_life_days must be more than 0".to_string());
        }
        if self.stages.is_empty() {
            problems.push("at least one stage is needed".into());
        }
        for stage in self.stages.iter().map(|s| &s.stage).chain([&self.purchaser_stage]) {
            if let Err(e) = check_key(stage) {
                problems.push(format!("stage {e}"));
            }
        }
        if self.stages.first().is_some_and(|s| s.min_score != 0.0) {
            problems.push("the first stage must start at score 0, so every unit has a stage".into());
        }
        if self.stages.windows(2).any(|w| w[0].min_score.partial_cmp(&w[1].min_score) != Some(std::cmp::Ordering::Less))
        {
            problems.push("stage thresholds must increase strictly in funnel order".into());
        }
        let mut names: Vec<&str> = self.stages.iter().map(|s| s.stage.as_str()).collect();
        names.sort();
        if names.windows(2).any(|w| w[0] == w[1]) {
            problems.push("stage names must be unique".into());
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Problems(problems))
        }
    }

    pub fn stage_for(&self, score: f64, purchased: bool) -> &str {
        if purchased {
            return &self.purchaser_stage;
        }
        self.stages
            .iter()
            .rev()
            .find(|s| score >= s.min_score)
            .or(self.stages.first())
            .map(|s| s.stage.as_str())
            .unwrap_or("")
    }
}

/// One signal's part in a unit's score: the explanation of an intent score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
pub struct Contribution {
    pub signal: String,
    pub score: f64,
    pub matches: i64,
    pub last_matched_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
pub struct Intent {
    pub score: f64,
    pub stage: String,
    /// Contributions, largest first.
    pub contributions: Vec<Contribution>,
}

/// The unit's intent as of `now` from its per-signal states.
pub fn intent<'a>(
    states: impl IntoIterator<Item = (&'a str, &'a SignalState)>,
    purchased: bool,
    now: DateTime<Utc>,
    config: &IntentConfig,
) -> Intent {
    let mut contributions: Vec<Contribution> = states
        .into_iter()
        .filter(|(_, state)| state.matches > 0)
        .map(|(signal, state)| Contribution {
            signal: signal.to_string(),
            score: decayed(state.score, state.score_at, now, config.half_life_days),
            matches: state.matches,
            last_matched_at: state.score_at,
        })
        .collect();
    contributions.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.signal.cmp(&b.signal)));
    let score = contributions.iter().map(|c| c.score).sum::<f64>();
    Intent { score, stage: config.stage_for(score, purchased).to_string(), contributions }
}

/// Which events are purchases (the macro conversion) and where their order id and value are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct PurchaseConfig {
    pub event: String,
    pub order_id_property: String,
    /// Tried in order; the first numeric one is the order's value.
    pub revenue_properties: Vec<String>,
    pub currency_property: String,
}

impl Default for PurchaseConfig {
    fn default() -> Self {
        PurchaseConfig {
            event: "Order Completed".into(),
            order_id_property: "order_id".into(),
            revenue_properties: vec!["revenue".into(), "total".into()],
            currency_property: "currency".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
pub struct Order {
    pub order_id: String,
    pub revenue: Option<f64>,
    pub currency: Option<String>,
}

impl PurchaseConfig {
    pub fn validate(&self) -> Result<(), Problems> {
        let mut problems = Vec::new();
        if self.event.trim().is_empty() {
            problems.push("purchase.event is required".to_string());
        }
        if self.order_id_property.trim().is_empty() {
            problems.push("purchase.order_id_property is required".into());
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Problems(problems))
        }
    }

    pub fn is_purchase(&self, occurrence: &Occurrence) -> bool {
        !occurrence.view && occurrence.event == Some(self.event.as_str())
    }

    /// The order a purchase event records; `Err` says what is missing.
    pub fn order(&self, properties: &Map<String, Value>) -> Result<Order, String> {
        let order_id = match properties.get(&self.order_id_property) {
            Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
            Some(Value::Number(n)) => n.to_string(),
            _ => return Err(format!("a purchase needs the '{}' property (a string)", self.order_id_property)),
        };
        let revenue = self.revenue_properties.iter().find_map(|p| properties.get(p).and_then(Value::as_f64));
        let currency =
            properties.get(&self.currency_property).and_then(Value::as_str).map(|c| c.trim().to_ascii_uppercase());
        Ok(Order { order_id, revenue, currency })
    }
}

/// The active library as the ingest writer uses it: compiled signals plus the intent and purchase settings.
#[derive(Debug, Clone, Default)]
pub struct Library {
    pub signals: Vec<CompiledSignal>,
    pub intent: IntentConfig,
    pub purchase: PurchaseConfig,
}

impl Library {
    /// Signals that count this occurrence.
    pub fn matching<'a>(
        &'a self,
        occurrence: &'a Occurrence<'a>,
    ) -> impl Iterator<Item = (usize, &'a CompiledSignal)> + 'a {
        self.signals.iter().enumerate().filter(move |(_, s)| s.matches(occurrence))
    }

    /// Property-schema problems of an occurrence, across every signal defined on its event, de-duplicated.
    pub fn schema_violations(&self, occurrence: &Occurrence) -> Vec<String> {
        let mut problems: Vec<String> = self.signals.iter().flat_map(|s| s.schema_violations(occurrence)).collect();
        problems.sort();
        problems.dedup();
        problems
    }
}

/// The library a new installation starts with: the Segment e-commerce events plus the micro-conversions the
/// product is about. Marketers edit, add and deprecate from there.
pub fn starter_library() -> Vec<SignalSpec> {
    let signal = |key: &str, name: &str, stage: &str, weight: f64, rule: Value, description: &str| SignalSpec {
        key: key.into(),
        name: name.into(),
        description: description.into(),
        stage: stage.into(),
        weight,
        rule: serde_json::from_value(rule).expect("starter rules are valid"),
        channels: Vec::new(),
        owner: "intentlab starter library".into(),
        properties_schema: BTreeMap::new(),
    };
    let mut library = vec![
        signal(
            "product-viewed",
            "Product viewed",
            "curiosity",
            1.0,
            json!({"event": "Product Viewed"}),
            "Opened a product page.",
        ),
        signal(
            "product-list-viewed",
            "Category browsed",
            "curiosity",
            0.5,
            json!({"event": "Product List Viewed"}),
            "Browsed a category or list.",
        ),
        signal(
            "products-searched",
            "Searched the catalogue",
            "curiosity",
            1.0,
            json!({"event": "Products Searched"}),
            "Used site search.",
        ),
        signal(
            "repeat-visit",
            "Repeat visit",
            "consideration",
            2.0,
            json!({"type": "view", "repeat": {"after_minutes": 30, "within_days": 30}}),
            "Came back to the shop at least 30 minutes after a previous page view, within 30 days.",
        ),
        signal(
            "video-watched-75",
            "Product video watched to 75 %",
            "consideration",
            2.0,
            json!({"event": "Video Watched", "conditions": {"percent": {"$gte": 75}}}),
            "Watched at least three quarters of a product video.",
        ),
        signal(
            "size-guide-viewed",
            "Size guide used",
            "consideration",
            2.0,
            json!({"event": "Size Guide Viewed"}),
            "Opened the size guide of a product.",
        ),
        signal(
            "product-reviews-viewed",
            "Reviews read",
            "consideration",
            1.5,
            json!({"event": "Product Reviews Viewed"}),
            "Read a product's reviews.",
        ),
        signal(
            "wishlist-add",
            "Added to wishlist",
            "intent",
            3.0,
            json!({"event": "Product Added to Wishlist"}),
            "Saved a product for later.",
        ),
        signal(
            "price-alert",
            "Price-drop alert subscribed",
            "intent",
            4.0,
            json!({"event": "Price Alert Subscribed"}),
            "Asked to be told when the price drops.",
        ),
        signal(
            "product-added",
            "Added to cart",
            "intent",
            5.0,
            json!({"event": "Product Added"}),
            "Put a product in the cart.",
        ),
        signal(
            "cart-return",
            "Came back to the cart",
            "readiness",
            4.0,
            json!({"event": "Cart Viewed", "repeat": {"after_minutes": 60, "within_days": 7}}),
            "Viewed the cart again at least an hour after a previous look, within 7 days.",
        ),
        signal(
            "checkout-started",
            "Checkout started",
            "readiness",
            8.0,
            json!({"event": "Checkout Started"}),
            "Began the checkout.",
        ),
        signal(
            "payment-info-entered",
            "Payment details entered",
            "readiness",
            6.0,
            json!({"event": "Payment Info Entered"}),
            "Entered payment details during checkout.",
        ),
        signal(
            "order-completed",
            "Order completed",
            "customer",
            0.0,
            json!({"event": "Order Completed"}),
            "The macro conversion. Weight 0: a purchase sets the stage to customer rather than adding to the score.",
        ),
    ];
    let number = PropertyRule { kind: PropertyType::Number, required: true };
    library[4].properties_schema.insert("percent".into(), number);
    let mut order = BTreeMap::new();
    order.insert("order_id".into(), PropertyRule { kind: PropertyType::String, required: true });
    order.insert("revenue".into(), PropertyRule { kind: PropertyType::Number, required: false });
    order.insert("total".into(), PropertyRule { kind: PropertyType::Number, required: false });
    order.insert("currency".into(), PropertyRule { kind: PropertyType::String, required: false });
    library.last_mut().expect("not empty").properties_schema = order;
    library
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    fn compile(rule: Value, weight: f64) -> CompiledSignal {
        let spec = SignalSpec {
            key: "s".into(),
            name: "S".into(),
            description: String::new(),
            stage: "intent".into(),
            weight,
            rule: serde_json::from_value(rule).unwrap(),
            channels: Vec::new(),
            owner: String::new(),
            properties_schema: BTreeMap::new(),
        };
        CompiledSignal::compile(&spec, 1).unwrap()
    }

    fn track<'a>(event: &'a str, properties: &'a Map<String, Value>) -> Occurrence<'a> {
        Occurrence { view: false, event: Some(event), channel: "web", properties }
    }

    #[test]
    fn rules_match_event_name_properties_and_channel() {
        let video = compile(json!({"event": "Video Watched", "conditions": {"percent": {"$gte": 75}}}), 2.0);
        let deep = json!({"percent": 80}).as_object().unwrap().clone();
        let shallow = json!({"percent": 20}).as_object().unwrap().clone();
        assert!(video.matches(&track("Video Watched", &deep)));
        assert!(!video.matches(&track("Video Watched", &shallow)));
        assert!(!video.matches(&track("Video Started", &deep)));
        let mut app_only = video.clone();
        app_only.channels = vec!["app".into()];
        assert!(!app_only.matches(&track("Video Watched", &deep)));
        let views = compile(json!({"type": "view"}), 1.0);
        let none = Map::new();
        assert!(views.matches(&Occurrence { view: true, event: None, channel: "web", properties: &none }));
        assert!(!views.matches(&track("Video Watched", &none)));
    }

    #[test]
    fn repeats_fire_only_inside_their_window() {
        let cart_return =
            compile(json!({"event": "Cart Viewed", "repeat": {"after_minutes": 60, "within_days": 7}}), 4.0);
        let t0 = at("2026-11-01T10:00:00Z");
        let (state, fired) = record_occurrence(&cart_return, None, t0, 7.0);
        assert!(!fired);
        assert_eq!(state.matches, 0);
        // Ten minutes later is the same visit; two hours later is a return.
        let (state, fired) = record_occurrence(&cart_return, Some(state), t0 + Duration::minutes(10), 7.0);
        assert!(!fired);
        let (state, fired) = record_occurrence(&cart_return, Some(state), t0 + Duration::hours(2), 7.0);
        assert!(fired);
        assert_eq!(state.matches, 1);
        assert!((state.score - 4.0).abs() < 1e-12);
        // Eight days after the last look is too late to count as a return.
        let (_, fired) = record_occurrence(&cart_return, Some(state), t0 + Duration::days(8) + Duration::hours(2), 7.0);
        assert!(!fired);
    }

    #[test]
    fn scores_decay_with_the_half_life_even_out_of_order() {
        let signal = compile(json!({"event": "Product Added"}), 4.0);
        let t0 = at("2026-11-01T00:00:00Z");
        let (state, _) = record_occurrence(&signal, None, t0 + Duration::days(7), 7.0);
        // An older event arrives late: it counts at half weight as of the newer reference time.
        let (state, _) = record_occurrence(&signal, Some(state), t0, 7.0);
        assert!((state.score - 6.0).abs() < 1e-9, "{}", state.score);
        let config = IntentConfig::default();
        let now = t0 + Duration::days(14);
        let result = intent([("product-added", &state)], false, now, &config);
        assert!((result.score - 3.0).abs() < 1e-9);
        assert_eq!(result.stage, "consideration");
        assert_eq!(result.contributions[0].matches, 2);
        assert_eq!(intent([("product-added", &state)], true, now, &config).stage, "customer");
        let merged = merge_states(state, state, 7.0);
        assert_eq!(merged.matches, 4);
        assert!((merged.score - 12.0).abs() < 1e-9);
    }

    #[test]
    fn stages_follow_thresholds() {
        let config = IntentConfig::default();
        assert_eq!(config.stage_for(0.0, false), "curiosity");
        assert_eq!(config.stage_for(7.99, false), "consideration");
        assert_eq!(config.stage_for(8.0, false), "intent");
        assert_eq!(config.stage_for(100.0, false), "readiness");
        assert_eq!(config.stage_names().last().map(String::as_str), Some("customer"));
        let mut broken = config.clone();
        broken.stages[2].min_score = 1.0;
        assert!(broken.validate().unwrap_err().to_string().contains("increase"));
        assert!(config.validate().is_ok());
    }

    #[test]
    fn schemas_report_wrong_and_missing_properties() {
        let library = starter_library();
        let video = CompiledSignal::compile(&library[4], 1).unwrap();
        let text = json!({"percent": "eighty"}).as_object().unwrap().clone();
        assert_eq!(
            video.schema_violations(&track("Video Watched", &text)),
            vec!["'percent' must be number, not string"]
        );
        let empty = Map::new();
        assert_eq!(video.schema_violations(&track("Video Watched", &empty)), vec!["'percent' is required"]);
        assert!(video.schema_violations(&track("Product Added", &empty)).is_empty());
    }

    #[test]
    fn the_starter_library_is_valid() {
        let stages = IntentConfig::default().stage_names();
        for spec in starter_library() {
            spec.validate(&stages).unwrap_or_else(|e| panic!("{}: {e}", spec.key));
            CompiledSignal::compile(&spec, 1).unwrap();
        }
    }

    #[test]
    fn validation_lists_every_problem() {
        let spec = SignalSpec {
            key: "Bad Key".into(),
            name: String::new(),
            description: String::new(),
            stage: "dreaming".into(),
            weight: -1.0,
            rule: serde_json::from_value(json!({"conditions": {"$where": 1}, "repeat": {"within_days": 0}})).unwrap(),
            channels: vec!["we b".into()],
            owner: String::new(),
            properties_schema: BTreeMap::new(),
        };
        let problems = spec.validate(&IntentConfig::default().stage_names()).unwrap_err().0;
        assert_eq!(problems.len(), 8, "{problems:?}");
    }

    #[test]
    fn purchases_need_an_order_id() {
        let config = PurchaseConfig::default();
        let properties = json!({"order_id": "o-1", "total": 59.5, "currency": "eur"}).as_object().unwrap().clone();
        assert_eq!(
            config.order(&properties),
            Ok(Order { order_id: "o-1".into(), revenue: Some(59.5), currency: Some("EUR".into()) })
        );
        assert!(config.order(&Map::new()).is_err());
    }
}
