//! The playbook: what each concluded experiment taught. A conclusion (decision, learning, signals, segments,
//! tags, notes) is checked here; the outcome badge, the deviations from the pre-registered plan, full-text search,
//! filters and the signal leaderboard are computed here from frozen result snapshots. Pure.

use super::experiment::{ExperimentSpec, Hypothesis};
use super::stats::metrics::{Measure, MetricKind};
use super::stats::power::Design;
use super::stats::results::{underpowered, ExperimentResults, MetricResult, MetricRole, SegmentBreakdown};
use super::stats::{Lift, MethodName};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// What the team decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Roll out the winning variation.
    Ship,
    /// Learn from it and test a better version.
    Iterate,
    /// Keep control; the idea did not pay.
    Abandon,
}

impl Decision {
    pub const ALL: [Decision; 3] = [Decision::Ship, Decision::Iterate, Decision::Abandon];

    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Ship => "ship",
            Decision::Iterate => "iterate",
            Decision::Abandon => "abandon",
        }
    }
}

/// What the primary metric says, read without overclaiming.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Significantly better on the primary metric, with a sound split.
    Win,
    /// Significantly worse.
    Loss,
    /// No significant change, and the interval rules out the planned effect.
    Flat,
    /// Anything else: no primary metric, a broken split, or too little data to rule out the planned effect.
    Inconclusive,
}

impl Outcome {
    pub const ALL: [Outcome; 4] = [Outcome::Win, Outcome::Loss, Outcome::Flat, Outcome::Inconclusive];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Win => "win",
            Outcome::Loss => "loss",
            Outcome::Flat => "flat",
            Outcome::Inconclusive => "inconclusive",
        }
    }
}

macro_rules! display_as_str {
    ($($ty:ty),*) => {$(
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    )*};
}
display_as_str!(Decision, Outcome);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum SegmentEffect {
    Held,
    Failed,
}

/// A segment where the effect held or failed, e.g. `{"attribute": "channel", "value": "app", "effect": "held"}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct SegmentFinding {
    pub attribute: String,
    pub value: String,
    pub effect: SegmentEffect,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
}

impl SegmentFinding {
    pub fn label(&self) -> String {
        format!("{} = {}", self.attribute, self.value)
    }
}

/// `POST /api/v1/experiments/{key}/conclude`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ConcludeRequest {
    pub decision: Decision,
    #[serde(default)]
    pub winning_variation: Option<String>,
    /// The learning, in a sentence or a paragraph.
    pub summary: String,
    /// Keys of the library signals the test was about.
    #[serde(default)]
    pub signals: Vec<String>,
    #[serde(default)]
    pub segments: Vec<SegmentFinding>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Qualitative notes: customer care, merchandising feedback.
    #[serde(default)]
    pub notes: String,
    /// How the frozen results are computed; the defaults of the results page when absent.
    #[serde(default)]
    pub analysis: Option<super::stats::results::ResultsQuery>,
}

const MAX_TAGS: usize = 20;
const MAX_TAG_CHARS: usize = 40;
const MAX_SUMMARY_CHARS: usize = 5_000;
const MAX_NOTES_CHARS: usize = 20_000;

impl ConcludeRequest {
    /// Trims text, lower-cases and deduplicates tags and signals.
    pub fn normalized(mut self) -> Self {
        self.summary = self.summary.trim().to_string();
        self.notes = self.notes.trim().to_string();
        self.winning_variation = self.winning_variation.map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        for list in [&mut self.signals, &mut self.tags] {
            *list = list.iter().map(|s| s.trim().to_lowercase()).filter(|s| !s.is_empty()).collect();
            list.sort();
            list.dedup();
        }
        for segment in &mut self.segments {
            segment.attribute = segment.attribute.trim().to_lowercase();
            segment.value = segment.value.trim().to_string();
            segment.note = segment.note.trim().to_string();
        }
        self
    }

    /// Every problem, each naming its field. Whether the signals exist is the service's question.
    pub fn validate(&self, experiment: &ExperimentSpec) -> Result<(), super::experiment::Problems> {
        let mut problems = Vec::new();
        if self.summary.is_empty() {
            problems.push("summary: say what the test taught (the learning) in a sentence or more".to_string());
        } else if self.summary.chars().count() > MAX_SUMMARY_CHARS {
            problems.push(format!("summary: at most {MAX_SUMMARY_CHARS} characters"));
        }
        if self.notes.chars().count() > MAX_NOTES_CHARS {
            problems.push(format!("notes: at most {MAX_NOTES_CHARS} characters"));
        }
        let treatments: Vec<&str> = experiment.variations.iter().skip(1).map(|v| v.key.as_str()).collect();
        match (self.decision, self.winning_variation.as_deref()) {
            (Decision::Ship, None) => problems.push(format!(
                "winning_variation: shipping needs the variation to ship (one of {})",
                treatments.join(", ")
            )),
            (Decision::Ship, Some(v)) if !treatments.contains(&v) => problems.push(format!(
                "winning_variation: '{v}' is not a treatment of this experiment (one of {}); to keep control, \
                 decide 'abandon'",
                treatments.join(", ")
            )),
            (Decision::Iterate | Decision::Abandon, Some(_)) => problems.push(format!(
                "winning_variation: only a 'ship' decision names a winning variation, not '{}'",
                self.decision
            )),
            _ => {}
        }
        if self.signals.is_empty() {
            problems.push("signals: name the signal(s) from the library the test was about".to_string());
        }
        if self.segments.is_empty() {
            problems.push(
                "segments: name at least one segment where the effect held or failed (attribute 'all', value \
                 'everyone' for the whole audience)"
                    .to_string(),
            );
        }
        for (i, s) in self.segments.iter().enumerate() {
            if s.attribute.is_empty() || s.value.is_empty() {
                problems.push(format!("segments[{i}]: both an attribute (e.g. channel) and a value (e.g. app)"));
            }
        }
        if self.tags.is_empty() {
            problems.push("tags: at least one tag, so the learning can be found again".to_string());
        }
        if self.tags.len() > MAX_TAGS {
            problems.push(format!("tags: at most {MAX_TAGS}"));
        }
        for tag in self.tags.iter().filter(|t| t.chars().count() > MAX_TAG_CHARS) {
            problems.push(format!("tags: '{tag}' is longer than {MAX_TAG_CHARS} characters"));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(super::experiment::Problems(problems))
        }
    }
}

/// A signal as it was when the entry was concluded: the playbook filters by its stage and channels even if the
/// library changes later.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
pub struct SignalRef {
    pub key: String,
    pub name: String,
    pub stage: String,
    pub channels: Vec<String>,
}

/// The conclusion as stored: fixed at conclusion time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
pub struct Conclusion {
    pub decision: Decision,
    pub winning_variation: Option<String>,
    pub summary: String,
    pub signals: Vec<SignalRef>,
    pub segments: Vec<SegmentFinding>,
    pub tags: Vec<String>,
    pub notes: String,
}

/// A way the test departed from its pre-registered plan, shown next to the outcome.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
pub struct Deviation {
    /// Stable: `primary_metric_changed`, `no_primary_metric`, `sample_ratio_mismatch`, `stopped_early`,
    /// `no_estimate`, `underpowered`.
    pub code: String,
    pub message: String,
}

fn deviation(code: &str, message: String) -> Deviation {
    Deviation { code: code.to_string(), message }
}

/// The frozen results of one revision of an entry. Never changes once stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
pub struct Snapshot {
    /// The experiment as it was concluded, with its pre-registered hypothesis.
    pub experiment: ExperimentSpec,
    pub started_at: Option<DateTime<Utc>>,
    pub stopped_at: Option<DateTime<Utc>>,
    /// The primary metric registered when the experiment first started.
    pub registered_primary_metric: Option<String>,
    pub results: ExperimentResults,
    /// Breakdowns by each exposure attribute seen (device, country, channel, intent stage, …).
    pub breakdowns: Vec<SegmentBreakdown>,
    pub deviations: Vec<Deviation>,
}

/// The primary metric's result for the variation that matters: the shipped one, or else the treatment with the
/// strongest evidence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
pub struct PrimaryEffect {
    pub metric: String,
    pub metric_name: String,
    pub kind: MetricKind,
    pub variation: String,
    pub lift: Lift,
    pub significant: bool,
}

pub fn primary_effect(results: &ExperimentResults, winning_variation: Option<&str>) -> Option<PrimaryEffect> {
    let analysis = &results.analysis;
    let metric = analysis.metrics.iter().find(|m| m.role == MetricRole::Primary)?;
    let candidates = metric.variations.iter().zip(&analysis.variations).skip(1).filter_map(|(v, key)| {
        let c = v.comparison.as_ref()?;
        Some((key, c.relative_lift.clone()?, c.significant))
    });
    let chosen = match winning_variation {
        Some(winner) => candidates.into_iter().find(|(key, _, _)| key.as_str() == winner),
        None => candidates.min_by(|a, b| {
            let p = |l: &Lift| l.adjusted_p_value.unwrap_or(1.0);
            (!a.2, p(&a.1)).partial_cmp(&(!b.2, p(&b.1))).unwrap_or(std::cmp::Ordering::Equal)
        }),
    }?;
    Some(PrimaryEffect {
        metric: metric.key.clone(),
        metric_name: metric.name.clone(),
        kind: metric.kind,
        variation: chosen.0.clone(),
        lift: chosen.1,
        significant: chosen.2,
    })
}

/// The outcome badge, from the primary metric of the frozen results.
pub fn outcome(results: &ExperimentResults, primary: Option<&PrimaryEffect>) -> Outcome {
    let Some(effect) = primary.filter(|_| results.analysis.srm_ok) else {
        return Outcome::Inconclusive;
    };
    let higher_is_better =
        results.analysis.metrics.iter().find(|m| m.key == effect.metric).is_none_or(|m| m.higher_is_better);
    if effect.significant {
        if (effect.lift.estimate > 0.0) == higher_is_better {
            Outcome::Win
        } else {
            Outcome::Loss
        }
    } else if results.planned_mde.is_some() && !underpowered(&effect.lift, false, results.planned_mde) {
        Outcome::Flat
    } else {
        Outcome::Inconclusive
    }
}

/// What the conclusion departs from in the pre-registered plan.
pub fn deviations(
    results: &ExperimentResults,
    registered_primary_metric: Option<&str>,
    primary: Option<&PrimaryEffect>,
) -> Vec<Deviation> {
    let mut found = Vec::new();
    let analysed = results.analysis.metrics.iter().find(|m| m.role == MetricRole::Primary);
    match (registered_primary_metric, analysed) {
        (_, None) => found.push(deviation(
            "no_primary_metric",
            "No primary metric was attached: every result is exploratory.".to_string(),
        )),
        (Some(registered), Some(m)) if registered != m.key => found.push(deviation(
            "primary_metric_changed",
            format!("The primary metric was '{registered}' when the test started, but '{}' was analysed.", m.key),
        )),
        _ => {}
    }
    if !results.analysis.srm_ok {
        found.push(deviation(
            "sample_ratio_mismatch",
            format!(
                "The split between variations failed the sample-ratio check (p = {:.2e}): randomization or \
                 exposure logging was broken, so no result is trustworthy.",
                results.analysis.srm_p_value
            ),
        ));
    }
    if let (Some(metric), Some(mde)) = (analysed, results.planned_mde) {
        if let Some(deviation) = stopped_early(results, metric, mde) {
            found.push(deviation);
        }
    }
    if let (Some(metric), None) = (analysed, primary) {
        found.push(deviation(
            "no_estimate",
            format!(
                "No lift on the primary metric ({}) could be estimated: the test ended with too little data to \
                 say anything about it.",
                metric.name
            ),
        ));
    }
    if let Some(effect) = primary.filter(|e| underpowered(&e.lift, e.significant, results.planned_mde)) {
        found.push(deviation(
            "underpowered",
            format!(
                "Underpowered: the interval of {} on {} still includes the planned effect of {:.1}%, so a real \
                 effect of that size is not ruled out.",
                effect.variation,
                effect.metric_name,
                results.planned_mde.unwrap_or_default() * 100.0
            ),
        ));
    }
    found
}

/// A fixed-horizon test read before it reached the units its planned effect needed is a peek: its p-values are
/// not valid. Sequential and Bayesian reads are exempt.
fn stopped_early(results: &ExperimentResults, metric: &MetricResult, mde: f64) -> Option<Deviation> {
    if results.settings.method != MethodName::Frequentist {
        return None;
    }
    let control = metric.variations.first()?;
    let design = Design {
        mean: control.value,
        variance: control.stddev * control.stddev,
        variations: u32::try_from(results.analysis.variations.len()).ok()?,
        alpha: results.settings.alpha,
        two_tailed: results.settings.tails == super::stats::Tails::Two,
        sequential_tuning: None,
    };
    if !(design.mean.abs() > 0.0 && design.variance > 0.0) {
        return None;
    }
    let needed = design.units_needed(mde, 0.8)?;
    let units: f64 = metric.variations.iter().map(|v| v.units).sum();
    (units < needed).then(|| {
        deviation(
            "stopped_early",
            format!(
                "Stopped early without a sequential method: {units:.0} units were analysed, but detecting the \
                 planned {:.1}% effect with 80% power needed about {needed:.0}. Fixed-horizon p-values read \
                 before the planned size overstate the evidence.",
                mde * 100.0
            ),
        )
    })
}

/// What a revision's snapshot says, in the few fields lists, cards and filters need. Derived once, when the
/// revision is written (snapshots are immutable, so this is too).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
pub struct Reading {
    pub experiment: String,
    pub name: String,
    pub hypothesis: Hypothesis,
    pub outcome: Outcome,
    pub primary: Option<PrimaryEffect>,
    pub deviations: Vec<Deviation>,
    /// Keys of every metric in the frozen results.
    pub metrics: Vec<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub data_through: DateTime<Utc>,
}

impl Reading {
    pub fn of(snapshot: &Snapshot, winning_variation: Option<&str>) -> Self {
        let primary = primary_effect(&snapshot.results, winning_variation);
        Reading {
            experiment: snapshot.experiment.key.clone(),
            name: snapshot.experiment.name.clone(),
            hypothesis: snapshot.experiment.hypothesis.clone(),
            outcome: outcome(&snapshot.results, primary.as_ref()),
            primary,
            deviations: snapshot.deviations.clone(),
            metrics: snapshot.results.analysis.metrics.iter().map(|m| m.key.clone()).collect(),
            started_at: snapshot.started_at,
            data_through: snapshot.results.data_through,
        }
    }
}

/// One playbook entry as lists and exports show it: the conclusion and the latest revision's reading.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
pub struct PlaybookEntry {
    pub id: i64,
    #[serde(flatten)]
    pub reading: Reading,
    #[serde(flatten)]
    pub conclusion: Conclusion,
    pub concluded_at: DateTime<Utc>,
    pub concluded_by: String,
    /// The latest revision's number (1 until a re-analysis).
    pub revision: u32,
}

impl PlaybookEntry {
    /// The stages of the signals it concerned.
    pub fn stages(&self) -> impl Iterator<Item = &str> {
        self.conclusion.signals.iter().map(|s| s.stage.as_str())
    }

    /// Channels it speaks about: its signals' channels and the channel segments of its findings.
    pub fn channels(&self) -> impl Iterator<Item = &str> {
        self.conclusion
            .signals
            .iter()
            .flat_map(|s| s.channels.iter().map(String::as_str))
            .chain(self.conclusion.segments.iter().filter(|s| s.attribute == "channel").map(|s| s.value.as_str()))
    }

    /// Everything full-text search looks at.
    fn text(&self) -> String {
        let h = &self.reading.hypothesis;
        let mut parts: Vec<&str> = vec![
            &self.reading.name,
            &self.reading.experiment,
            &h.change,
            &h.segment,
            &h.primary_metric,
            &h.rationale,
            &self.conclusion.summary,
            &self.conclusion.notes,
        ];
        parts.extend(self.conclusion.tags.iter().map(String::as_str));
        parts.extend(self.conclusion.signals.iter().flat_map(|s| [s.key.as_str(), s.name.as_str()]));
        parts.extend(self.conclusion.segments.iter().flat_map(|s| [s.value.as_str(), s.note.as_str()]));
        parts.join(" ")
    }
}

/// Lower-case words of letters and digits (any script).
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase).collect()
}

/// How well `entry` matches the search words: 0 when some word is missing. Every query word must start a word
/// of the entry ("video" finds "videos"); whole-word hits and hits in the learning count more.
fn relevance(entry: &PlaybookEntry, query: &[String]) -> u32 {
    let all = words(&entry.text());
    let learning = words(&entry.conclusion.summary);
    let mut score = 0;
    for q in query {
        let exact = all.iter().filter(|w| *w == q).count() as u32;
        let prefix = all.iter().filter(|w| w.starts_with(q.as_str())).count() as u32;
        if prefix == 0 {
            return 0;
        }
        score += prefix + 2 * exact + 3 * learning.iter().filter(|w| w.starts_with(q.as_str())).count() as u32;
    }
    score
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum SortOrder {
    /// Newest conclusion first (best match first when searching).
    #[default]
    Date,
    /// Largest absolute relative lift on the primary metric first.
    Effect,
}

/// Search words and filters of the playbook (the page's URL and the API's query string are the same).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
#[serde(default, deny_unknown_fields)]
pub struct PlaybookQuery {
    pub q: Option<String>,
    pub signal: Option<String>,
    pub stage: Option<String>,
    pub channel: Option<String>,
    /// A segment finding's value, or `attribute=value`.
    pub segment: Option<String>,
    pub metric: Option<String>,
    pub decision: Option<Decision>,
    pub outcome: Option<Outcome>,
    pub tag: Option<String>,
    /// Concluded on or after this day (YYYY-MM-DD).
    pub from: Option<NaiveDate>,
    /// Concluded on or before this day.
    pub to: Option<NaiveDate>,
    pub sort: Option<SortOrder>,
}

impl PlaybookQuery {
    /// Empty strings (a form's untouched fields) mean "no filter".
    pub fn normalized(mut self) -> Self {
        for field in [
            &mut self.q,
            &mut self.signal,
            &mut self.stage,
            &mut self.channel,
            &mut self.segment,
            &mut self.metric,
            &mut self.tag,
        ] {
            *field = field.take().map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        }
        self
    }

    pub fn is_empty(&self) -> bool {
        *self == PlaybookQuery::default()
    }

    /// Reads a query string's pairs; empty values are absent filters, unknown names an error.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self, String> {
        let fields: serde_json::Map<String, serde_json::Value> = pairs
            .into_iter()
            .filter(|(_, value)| !value.trim().is_empty())
            .map(|(name, value)| (name.to_string(), serde_json::Value::String(value.trim().to_string())))
            .collect();
        serde_json::from_value::<PlaybookQuery>(serde_json::Value::Object(fields))
            .map(Self::normalized)
            .map_err(|e| format!("invalid playbook filter: {e}"))
    }

    /// The filters as query-string pairs (the inverse of `from_pairs`).
    pub fn to_pairs(&self) -> Vec<(String, String)> {
        let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(self) else { return Vec::new() };
        fields
            .into_iter()
            .filter_map(|(name, value)| match value {
                serde_json::Value::String(text) => Some((name, text)),
                _ => None,
            })
            .collect()
    }

    /// `a=1&b=2`, empty without filters.
    pub fn query_string(&self) -> String {
        let mut out = form_urlencoded::Serializer::new(String::new());
        for (name, value) in self.to_pairs() {
            out.append_pair(&name, &value);
        }
        out.finish()
    }

    /// The entries that match, in the requested order.
    pub fn apply(&self, entries: Vec<PlaybookEntry>) -> Vec<PlaybookEntry> {
        let query_words = self.q.as_deref().map(words).unwrap_or_default();
        let same = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
        let wanted = |filter: &Option<String>, mut values: Box<dyn Iterator<Item = &str> + '_>| {
            filter.as_deref().is_none_or(|f| values.any(|v| same(v, f)))
        };
        let mut matched: Vec<(u32, PlaybookEntry)> = entries
            .into_iter()
            .filter(|e| wanted(&self.signal, Box::new(e.conclusion.signals.iter().map(|s| s.key.as_str()))))
            .filter(|e| wanted(&self.stage, Box::new(e.stages())))
            .filter(|e| wanted(&self.channel, Box::new(e.channels())))
            .filter(|e| wanted(&self.metric, Box::new(e.reading.metrics.iter().map(String::as_str))))
            .filter(|e| wanted(&self.tag, Box::new(e.conclusion.tags.iter().map(String::as_str))))
            .filter(|e| {
                self.segment.as_deref().is_none_or(|f| {
                    e.conclusion.segments.iter().any(|s| {
                        same(&s.value, f) || same(&format!("{}={}", s.attribute, s.value), &f.replace(' ', ""))
                    })
                })
            })
            .filter(|e| self.decision.is_none_or(|d| e.conclusion.decision == d))
            .filter(|e| self.outcome.is_none_or(|o| e.reading.outcome == o))
            .filter(|e| self.from.is_none_or(|from| e.concluded_at.date_naive() >= from))
            .filter(|e| self.to.is_none_or(|to| e.concluded_at.date_naive() <= to))
            .filter_map(|e| {
                let score = if query_words.is_empty() { 1 } else { relevance(&e, &query_words) };
                (score > 0).then_some((score, e))
            })
            .collect();
        let effect = |e: &PlaybookEntry| e.reading.primary.as_ref().map_or(-1.0, |p| p.lift.estimate.abs());
        match self.sort.unwrap_or_default() {
            SortOrder::Date => matched.sort_by(|(sa, a), (sb, b)| {
                let by_relevance = if query_words.is_empty() { std::cmp::Ordering::Equal } else { sb.cmp(sa) };
                by_relevance.then(b.concluded_at.cmp(&a.concluded_at)).then(b.id.cmp(&a.id))
            }),
            SortOrder::Effect => matched
                .sort_by(|(_, a), (_, b)| effect(b).total_cmp(&effect(a)).then(b.concluded_at.cmp(&a.concluded_at))),
        }
        matched.into_iter().map(|(_, e)| e).collect()
    }
}

/// Entries that share a signal or a tag with `entry`, most shared first.
pub fn related<'a>(entry: &PlaybookEntry, all: &'a [PlaybookEntry]) -> Vec<&'a PlaybookEntry> {
    let mut scored: Vec<(usize, &PlaybookEntry)> = all
        .iter()
        .filter(|other| other.id != entry.id)
        .map(|other| {
            let signals = other
                .conclusion
                .signals
                .iter()
                .filter(|s| entry.conclusion.signals.iter().any(|mine| mine.key == s.key))
                .count();
            let tags = other.conclusion.tags.iter().filter(|t| entry.conclusion.tags.contains(t)).count();
            (signals + tags, other)
        })
        .filter(|(shared, _)| *shared > 0)
        .collect();
    scored.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.concluded_at.cmp(&a.1.concluded_at)));
    scored.into_iter().map(|(_, e)| e).collect()
}

/// An inverse-variance (fixed-effect) pooled relative lift across tests.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
pub struct PooledEffect {
    pub tests: u32,
    pub estimate: f64,
    pub stddev: f64,
    /// 95% interval.
    pub ci_low: f64,
    pub ci_high: f64,
}

/// Pools `(estimate, stddev)` pairs; estimates without a positive, finite spread are left out.
pub fn pool(effects: &[(f64, f64)]) -> Option<PooledEffect> {
    let usable: Vec<&(f64, f64)> = effects.iter().filter(|(e, s)| e.is_finite() && s.is_finite() && *s > 0.0).collect();
    if usable.is_empty() {
        return None;
    }
    let weight: f64 = usable.iter().map(|(_, s)| 1.0 / (s * s)).sum();
    let estimate = usable.iter().map(|(e, s)| e / (s * s)).sum::<f64>() / weight;
    let stddev = (1.0 / weight).sqrt();
    // 1.959963984540054 = the standard normal's 97.5% quantile.
    let z = 1.959_963_984_540_054;
    Some(PooledEffect {
        tests: usable.len() as u32,
        estimate,
        stddev,
        ci_low: estimate - z * stddev,
        ci_high: estimate + z * stddev,
    })
}

/// What a metric measures, for the leaderboard's three outcome columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum OutcomeFamily {
    Conversion,
    Aov,
    Ltv,
}

/// One signal's record across the playbook.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
pub struct SignalRecord {
    pub signal: String,
    pub name: String,
    pub stage: String,
    pub tests: u32,
    pub wins: u32,
    pub losses: u32,
    /// Pooled relative lift of the shipped (or strongest) variation on each outcome family.
    pub conversion: Option<PooledEffect>,
    pub aov: Option<PooledEffect>,
    pub ltv: Option<PooledEffect>,
    /// Per segment attribute (channel, device, intent stage), the segment where the pooled conversion lift was
    /// largest, with every segment's pooled lift.
    pub segments: Vec<SegmentLeader>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
pub struct SegmentLeader {
    pub attribute: String,
    pub best: String,
    pub effects: BTreeMap<String, PooledEffect>,
}

/// The attributes the leaderboard breaks signals down by.
pub const LEADERBOARD_ATTRIBUTES: [&str; 4] = ["channel", "device", "intent_stage", "stage"];

/// Which outcome family a metric belongs to.
fn family(metric: &MetricResult) -> Option<OutcomeFamily> {
    match metric.measure {
        Measure::Purchase => Some(OutcomeFamily::Conversion),
        Measure::AverageOrderValue => Some(OutcomeFamily::Aov),
        Measure::LifetimeValue => Some(OutcomeFamily::Ltv),
        _ => None,
    }
}

/// The metric of a family an analysis is read on: the first conversion or AOV metric (primary first), and the
/// lifetime value at the longest horizon. One per test, so no test counts twice in a pool.
fn family_metric(metrics: &[MetricResult], wanted: OutcomeFamily) -> Option<&MetricResult> {
    let mut candidates = metrics.iter().filter(|m| family(m) == Some(wanted));
    if wanted == OutcomeFamily::Ltv {
        candidates.max_by_key(|m| m.window_days)
    } else {
        candidates.next()
    }
}

/// The relative lift of `variation` on a metric of the analysis.
fn lift_of(metric: &MetricResult, variations: &[String], variation: &str) -> Option<(f64, f64)> {
    let index = variations.iter().position(|v| v == variation)?;
    let lift = metric.variations.get(index)?.comparison.as_ref()?.relative_lift.as_ref()?;
    Some((lift.estimate, lift.stddev))
}

/// Per signal: tests, wins and losses, pooled effects on conversion, AOV and LTV, and the segments where the
/// effect on conversion was strongest. Tests with a failed sample-ratio check are counted but not pooled.
pub fn leaderboard(entries: &[(PlaybookEntry, Snapshot)]) -> Vec<SignalRecord> {
    let mut by_signal: BTreeMap<String, Vec<&(PlaybookEntry, Snapshot)>> = BTreeMap::new();
    for pair in entries {
        for signal in &pair.0.conclusion.signals {
            by_signal.entry(signal.key.clone()).or_default().push(pair);
        }
    }
    let mut records: Vec<SignalRecord> = by_signal
        .into_iter()
        .map(|(key, tests)| {
            let signal = tests[0].0.conclusion.signals.iter().find(|s| s.key == key).cloned();
            let mut families: BTreeMap<OutcomeFamily, Vec<(f64, f64)>> = BTreeMap::new();
            let mut segments: BTreeMap<(String, String), Vec<(f64, f64)>> = BTreeMap::new();
            for (entry, snapshot) in &tests {
                let Some(variation) = entry.reading.primary.as_ref().map(|p| p.variation.as_str()) else { continue };
                let analysis = &snapshot.results.analysis;
                if !analysis.srm_ok {
                    continue;
                }
                for f in [OutcomeFamily::Conversion, OutcomeFamily::Aov, OutcomeFamily::Ltv] {
                    let metric = family_metric(&analysis.metrics, f);
                    if let Some(l) = metric.and_then(|m| lift_of(m, &analysis.variations, variation)) {
                        families.entry(f).or_default().push(l);
                    }
                }
                for breakdown in snapshot.breakdowns.iter().filter(|b| LEADERBOARD_ATTRIBUTES.contains(&&*b.attribute))
                {
                    for segment in &breakdown.values {
                        let conversion = family_metric(&segment.analysis.metrics, OutcomeFamily::Conversion);
                        if let Some(l) = conversion.and_then(|m| lift_of(m, &segment.analysis.variations, variation)) {
                            segments.entry((breakdown.attribute.clone(), segment.value.clone())).or_default().push(l);
                        }
                    }
                }
            }
            let mut leaders: BTreeMap<String, BTreeMap<String, PooledEffect>> = BTreeMap::new();
            for ((attribute, value), effects) in segments {
                if let Some(pooled) = pool(&effects) {
                    leaders.entry(attribute).or_default().insert(value, pooled);
                }
            }
            SignalRecord {
                name: signal.as_ref().map(|s| s.name.clone()).unwrap_or_else(|| key.clone()),
                stage: signal.map(|s| s.stage).unwrap_or_default(),
                tests: tests.len() as u32,
                wins: tests.iter().filter(|(e, _)| e.reading.outcome == Outcome::Win).count() as u32,
                losses: tests.iter().filter(|(e, _)| e.reading.outcome == Outcome::Loss).count() as u32,
                conversion: families.get(&OutcomeFamily::Conversion).and_then(|e| pool(e)),
                aov: families.get(&OutcomeFamily::Aov).and_then(|e| pool(e)),
                ltv: families.get(&OutcomeFamily::Ltv).and_then(|e| pool(e)),
                segments: leaders
                    .into_iter()
                    .filter_map(|(attribute, effects)| {
                        let best = effects
                            .iter()
                            .max_by(|a, b| a.1.estimate.total_cmp(&b.1.estimate))
                            .map(|(value, _)| value.clone())?;
                        Some(SegmentLeader { attribute, best, effects })
                    })
                    .collect(),
                signal: key,
            }
        })
        .collect();
    records.sort_by(|a, b| {
        let lift = |r: &SignalRecord| r.conversion.as_ref().map_or(f64::NEG_INFINITY, |c| c.estimate);
        b.tests.cmp(&a.tests).then(lift(b).total_cmp(&lift(a))).then(a.signal.cmp(&b.signal))
    });
    records
}

/// One entry with everything its page shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
pub struct EntryDetail {
    #[serde(flatten)]
    pub entry: PlaybookEntry,
    /// The revision `snapshot` belongs to (the latest unless another was asked for).
    pub shown_revision: u32,
    pub snapshot: Snapshot,
    pub revisions: Vec<Revision>,
    /// Entries sharing a signal or a tag, most shared first (at most a few).
    pub related: Vec<PlaybookEntry>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
pub struct Revision {
    pub revision: u32,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    /// "Concluded" for the first; the re-analysis reason for the others.
    pub reason: String,
}

/// `POST /api/v1/playbook/{id}/revisions`: re-analyse with today's data or other settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ReanalyzeRequest {
    pub reason: String,
    #[serde(default)]
    pub analysis: Option<super::stats::results::ResultsQuery>,
}

/// `POST /api/v1/playbook/{id}/follow-up`: a new draft experiment from the entry's hypothesis, metrics and
/// targeting.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct FollowUpRequest {
    pub key: String,
    #[serde(default)]
    pub name: Option<String>,
}

/// Builds the follow-up's configuration: the concluded experiment's hypothesis, variations, metrics, targeting,
/// hashing and namespace, under a new key (and therefore a fresh seed: a follow-up must not reuse the old split).
pub fn follow_up_spec(concluded: &ExperimentSpec, entry_id: i64, request: &FollowUpRequest) -> ExperimentSpec {
    let mut spec = concluded.clone();
    spec.key = request.key.trim().to_string();
    spec.name = request
        .name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| format!("{} (follow-up)", concluded.name));
    spec.description =
        format!("Follow-up of playbook entry #{entry_id} ({}). {}", concluded.key, concluded.description)
            .trim()
            .to_string();
    spec.seed = None;
    spec
}

/// What a share link opens: one entry, or the entries a filter selects.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ShareScope {
    Entry(i64),
    View(PlaybookQuery),
}

/// `POST /api/v1/playbook/shares`: exactly one of `entry_id` and `filter`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ShareRequest {
    #[serde(default)]
    pub entry_id: Option<i64>,
    #[serde(default)]
    pub filter: Option<PlaybookQuery>,
    #[serde(default)]
    pub label: String,
    /// 1 to 365 days; 30 when absent.
    #[serde(default)]
    pub expires_in_days: Option<u32>,
}

pub const DEFAULT_SHARE_DAYS: u32 = 30;
pub const MAX_SHARE_DAYS: u32 = 365;

impl ShareRequest {
    pub fn scope(&self) -> Result<ShareScope, String> {
        match (self.entry_id, &self.filter) {
            (Some(id), None) => Ok(ShareScope::Entry(id)),
            (None, Some(filter)) => Ok(ShareScope::View(filter.clone().normalized())),
            _ => Err("share either one entry (entry_id) or a filtered view (filter), not both or neither".into()),
        }
    }

    pub fn days(&self) -> Result<u32, String> {
        match self.expires_in_days.unwrap_or(DEFAULT_SHARE_DAYS) {
            days @ 1..=MAX_SHARE_DAYS => Ok(days),
            other => Err(format!("expires_in_days: {other} is not between 1 and {MAX_SHARE_DAYS}")),
        }
    }
}

/// A share link as its creators see it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
pub struct ShareLink {
    pub id: i64,
    pub scope: ShareScope,
    pub label: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl ShareLink {
    pub fn active(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at > now
    }
}

/// Returned once, when the link is made: the token is not stored and cannot be shown again.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
pub struct CreatedShareLink {
    pub link: ShareLink,
    pub token: String,
    /// The page to send people to (`/share/<token>`).
    pub path: String,
}

/// How staff appear to someone outside the team: by role, never by email.
pub fn outsider_label(role: Option<crate::domain::access::Role>) -> String {
    use crate::domain::access::Role;
    match role {
        Some(Role::Admin) => "an admin",
        Some(Role::Editor) => "an editor",
        Some(Role::Viewer) => "a viewer",
        None => "a team member",
    }
    .to_string()
}

impl PlaybookEntry {
    /// The entry as a share link shows it: who concluded it by role (`label_of` maps a staff email to it).
    pub fn for_outsiders(mut self, label_of: &impl Fn(&str) -> String) -> PlaybookEntry {
        self.concluded_by = label_of(&self.concluded_by);
        self
    }
}

impl EntryDetail {
    /// The entry as a share link shows it: staff named by role, no related entries (outside the link's scope).
    pub fn for_outsiders(mut self, label_of: &impl Fn(&str) -> String) -> EntryDetail {
        self.entry = self.entry.for_outsiders(label_of);
        for revision in &mut self.revisions {
            revision.created_by = label_of(&revision.created_by);
        }
        self.related.clear();
        self
    }
}

/// What a share link shows to someone without an account.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SharedView {
    Entry { label: String, expires_at: DateTime<Utc>, entry: Box<EntryDetail> },
    View { label: String, expires_at: DateTime<Utc>, filter: PlaybookQuery, entries: Vec<PlaybookEntry> },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::stats::calculator::VariationResult;
    use crate::domain::stats::results::Analysis;
    use crate::domain::stats::{AnalysisSettings, Comparison};

    fn lift(estimate: f64, half_width: f64, p: f64) -> Lift {
        Lift {
            estimate,
            stddev: half_width / 1.96,
            ci_low: Some(estimate - half_width),
            ci_high: Some(estimate + half_width),
            p_value: Some(p),
            adjusted_p_value: Some(p),
        }
    }

    /// Results with a primary purchase metric whose treatment `b` has this lift, over `units` per variation.
    fn results(treatment: Lift, significant: bool, srm_ok: bool, mde: Option<f64>, units: f64) -> ExperimentResults {
        let comparison = Comparison {
            absolute_lift: None,
            relative_lift: Some(treatment),
            chance_to_win: None,
            risk: None,
            significant,
            not_estimable: None,
            variance_reduction: None,
        };
        let variation = |comparison| VariationResult { units, value: 0.1, stddev: 0.3, comparison };
        let metric = MetricResult {
            key: "purchase".into(),
            name: "Purchase".into(),
            role: MetricRole::Primary,
            kind: MetricKind::Conversion,
            measure: Measure::Purchase,
            higher_is_better: true,
            window_days: 14,
            cap: None,
            mature_units_only: false,
            variations: vec![variation(None), variation(Some(comparison))],
        };
        ExperimentResults {
            experiment: "e".into(),
            settings: AnalysisSettings::default(),
            cuped: false,
            computed_at: DateTime::UNIX_EPOCH,
            data_through: DateTime::UNIX_EPOCH,
            people_in_several_variations: 0,
            planned_mde: mde,
            analysis: Analysis {
                variations: vec!["control".into(), "b".into()],
                exposures: vec![units as u64; 2],
                srm_p_value: if srm_ok { 0.5 } else { 1e-6 },
                srm_ok,
                metrics: vec![metric],
            },
            segments: None,
            timeline: None,
        }
    }

    fn outcome_of(r: &ExperimentResults) -> Outcome {
        outcome(r, primary_effect(r, None).as_ref())
    }

    #[test]
    fn outcomes_never_claim_more_than_the_primary_metric_shows() {
        assert_eq!(outcome_of(&results(lift(0.1, 0.05, 0.001), true, true, Some(0.05), 1e4)), Outcome::Win);
        assert_eq!(outcome_of(&results(lift(-0.1, 0.05, 0.001), true, true, Some(0.05), 1e4)), Outcome::Loss);
        assert_eq!(
            outcome_of(&results(lift(0.1, 0.05, 0.001), true, false, Some(0.05), 1e4)),
            Outcome::Inconclusive,
            "a broken split wins nothing"
        );
        assert_eq!(outcome_of(&results(lift(0.0, 0.02, 0.9), false, true, Some(0.05), 1e4)), Outcome::Flat);
        assert_eq!(
            outcome_of(&results(lift(0.0, 0.08, 0.9), false, true, Some(0.05), 1e4)),
            Outcome::Inconclusive,
            "the interval still holds the planned effect"
        );
        assert_eq!(
            outcome_of(&results(lift(0.0, 0.02, 0.9), false, true, None, 1e4)),
            Outcome::Inconclusive,
            "without a planned effect, flat cannot be told from too small"
        );
    }

    #[test]
    fn deviations_name_each_departure_from_the_plan() {
        let codes = |r: &ExperimentResults, registered: Option<&str>| -> Vec<String> {
            deviations(r, registered, primary_effect(r, None).as_ref()).into_iter().map(|d| d.code).collect()
        };
        let clean = results(lift(0.1, 0.05, 0.001), true, true, Some(0.05), 1e6);
        assert!(codes(&clean, Some("purchase")).is_empty(), "{:?}", codes(&clean, Some("purchase")));
        assert_eq!(codes(&clean, Some("revenue")), ["primary_metric_changed"]);
        let broken = results(lift(0.1, 0.05, 0.001), true, false, Some(0.05), 1e6);
        assert_eq!(codes(&broken, Some("purchase")), ["sample_ratio_mismatch"]);
        let small = results(lift(0.0, 0.08, 0.9), false, true, Some(0.05), 500.0);
        assert_eq!(codes(&small, Some("purchase")), ["stopped_early", "underpowered"]);
        let mut sequential = small.clone();
        sequential.settings.method = MethodName::Sequential;
        assert_eq!(codes(&sequential, Some("purchase")), ["underpowered"], "peeking is safe with sequential reads");
        let mut nothing = clean.clone();
        nothing.analysis.metrics[0].variations[1].comparison.as_mut().unwrap().relative_lift = None;
        assert_eq!(codes(&nothing, Some("purchase")), ["no_estimate"]);
        let mut none = clean.clone();
        none.analysis.metrics[0].role = MetricRole::Secondary;
        assert_eq!(codes(&none, None), ["no_primary_metric"]);
    }

    fn spec() -> ExperimentSpec {
        serde_json::from_value(serde_json::json!({
            "key": "banner", "name": "Banner", "variations": [{"key": "control"}, {"key": "b"}, {"key": "c"}]
        }))
        .unwrap()
    }

    fn request(decision: Decision, winner: Option<&str>) -> ConcludeRequest {
        ConcludeRequest {
            decision,
            winning_variation: winner.map(str::to_string),
            summary: " Learned. ".into(),
            signals: vec!["Video-Watched-75 ".into(), "video-watched-75".into()],
            segments: vec![SegmentFinding {
                attribute: " Channel".into(),
                value: "app ".into(),
                effect: SegmentEffect::Held,
                note: String::new(),
            }],
            tags: vec!["Fit".into(), "fit".into(), " ".into()],
            notes: String::new(),
            analysis: None,
        }
        .normalized()
    }

    #[test]
    fn conclusions_are_normalised_and_checked_against_the_experiment() {
        let ok = request(Decision::Ship, Some("c"));
        assert_eq!(ok.signals, ["video-watched-75"]);
        assert_eq!(ok.tags, ["fit"]);
        assert_eq!((ok.segments[0].attribute.as_str(), ok.segments[0].value.as_str()), ("channel", "app"));
        assert_eq!(ok.validate(&spec()), Ok(()));
        let problems = |r: ConcludeRequest| r.validate(&spec()).unwrap_err().to_string();
        assert!(problems(request(Decision::Ship, None)).contains("b, c"));
        assert!(problems(request(Decision::Ship, Some("control"))).contains("abandon"));
        assert!(problems(request(Decision::Abandon, Some("b"))).contains("only a 'ship'"));
        let mut empty = request(Decision::Iterate, None);
        empty.summary.clear();
        empty.tags.clear();
        let text = problems(empty);
        assert!(text.contains("summary") && text.contains("tags"), "{text}");
    }

    fn entry(id: i64, summary: &str, tags: &[&str], lift_estimate: f64, day: u32) -> PlaybookEntry {
        let r = results(lift(lift_estimate, 0.05, 0.01), true, true, None, 1e4);
        let snapshot = Snapshot {
            experiment: spec(),
            started_at: None,
            stopped_at: None,
            registered_primary_metric: Some("purchase".into()),
            results: r,
            breakdowns: Vec::new(),
            deviations: Vec::new(),
        };
        let conclusion = Conclusion {
            decision: Decision::Iterate,
            winning_variation: None,
            summary: summary.into(),
            signals: vec![SignalRef {
                key: "wishlist-add".into(),
                name: "Wishlist".into(),
                stage: "intent".into(),
                channels: vec!["web".into()],
            }],
            segments: Vec::new(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            notes: String::new(),
        };
        PlaybookEntry {
            id,
            reading: Reading::of(&snapshot, None),
            conclusion,
            concluded_at: DateTime::from_timestamp(1_700_000_000 + i64::from(day) * 86_400, 0).unwrap(),
            concluded_by: "someone".into(),
            revision: 1,
        }
    }

    #[test]
    fn search_matches_word_beginnings_ranks_by_relevance_and_filters() {
        let entries = vec![
            entry(1, "Videos lift purchases.", &["video"], 0.02, 1),
            entry(2, "Wishlist reminders work; a video helped a little.", &["email"], 0.3, 2),
            entry(3, "Size guides do nothing.", &["fit"], -0.01, 3),
        ];
        let ids = |q: PlaybookQuery| q.apply(entries.clone()).iter().map(|e| e.id).collect::<Vec<_>>();
        assert_eq!(ids(PlaybookQuery::default()), [3, 2, 1], "newest first");
        let search = |text: &str| PlaybookQuery { q: Some(text.into()), ..Default::default() };
        assert_eq!(ids(search("video")), [1, 2], "the tag and the learning both say video for 1");
        assert_eq!(ids(search("VID remind")), [2]);
        assert!(ids(search("nothing-like-this")).is_empty());
        assert_eq!(ids(PlaybookQuery { tag: Some("FIT".into()), ..Default::default() }), [3]);
        assert_eq!(ids(PlaybookQuery { sort: Some(SortOrder::Effect), ..Default::default() }), [2, 1, 3]);
        assert_eq!(
            ids(PlaybookQuery { channel: Some("web".into()), stage: Some("intent".into()), ..Default::default() })
                .len(),
            3
        );
        let parsed = PlaybookQuery::from_pairs([("q", " video "), ("tag", ""), ("decision", "ship")]).unwrap();
        assert_eq!(
            (parsed.q.as_deref(), parsed.tag.as_deref(), parsed.decision),
            (Some("video"), None, Some(Decision::Ship))
        );
        assert_eq!(
            PlaybookQuery::from_pairs(parsed.to_pairs().iter().map(|(k, v)| (k.as_str(), v.as_str()))),
            Ok(parsed)
        );
        assert!(PlaybookQuery::from_pairs([("colour", "red")]).unwrap_err().contains("colour"));
        let related_ids: Vec<i64> = related(&entries[0], &entries).iter().map(|e| e.id).collect();
        assert_eq!(related_ids, [3, 2], "all share the signal; newest first");
    }

    #[test]
    fn pooling_weights_precise_tests_more() {
        let pooled = pool(&[(0.1, 0.1), (0.0, 0.05), (5.0, 0.0)]).unwrap();
        assert_eq!(pooled.tests, 2, "an estimate without spread is left out");
        // Weights 100 and 400: (0.1·100 + 0·400) / 500.
        assert!((pooled.estimate - 0.02).abs() < 1e-12);
        assert!((pooled.stddev - (1.0f64 / 500.0).sqrt()).abs() < 1e-12);
        assert!(pool(&[]).is_none());
    }
}
