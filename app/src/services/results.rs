//! An experiment's results: exposures unified per person, each person's orders, events and signal matches
//! around their first exposure, every attached metric computed and compared with control.

use crate::auth::Caller;
use crate::domain::access::Access;
use crate::domain::signals::{record_occurrence, CompiledSignal, Occurrence, RuleKind, SignalState};
use crate::domain::stats::metrics::{Activity, Measure, MetricSpec, UnitValue};
use crate::domain::stats::results::{
    analyze, heterogeneity, one_unit_per_person, Analysis, ExperimentResults, ExposedUnit, MetricRole, MetricValues,
    ResultsQuery, SegmentBreakdown, SegmentResult,
};

use crate::error::AppError;
use crate::model::Experiment;
use crate::storage::{metrics as metric_store, results as store, signals as signal_store, Db};
use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// At most this many segments are analysed (the largest); the rest would be too small to read anyway.
const MAX_SEGMENTS: usize = 20;

pub async fn results(db: &Db, caller: &Caller, key: &str, query: &ResultsQuery) -> Result<ExperimentResults, AppError> {
    caller.require(Access::Results)?;
    let experiment = crate::services::experiments::find(db, key).await?;
    let segment = query.segment.as_deref().map(str::trim).filter(|a| !a.is_empty());
    let (mut results, breakdowns) =
        compute(db, &experiment, query, Breakdowns::Only(segment.into_iter().collect())).await?;
    results.segments = breakdowns.into_iter().next();
    Ok(results)
}

/// Which exposure attributes to break the results down by.
pub(crate) enum Breakdowns<'a> {
    Only(Vec<&'a str>),
    /// Every attribute that divides the units into 2 to `MAX_SEGMENTS` groups (identifiers and constants are
    /// not segments).
    Every,
}

/// An experiment's results under `query`'s settings, with a breakdown per attribute asked for. One read of
/// the data serves them all.
pub(crate) async fn compute(
    db: &Db,
    experiment: &Experiment,
    query: &ResultsQuery,
    breakdowns: Breakdowns<'_>,
) -> Result<(ExperimentResults, Vec<SegmentBreakdown>), AppError> {
    let settings = query.settings().map_err(AppError::invalid)?;
    let metrics = attached_metrics(db, experiment).await?;
    let now = Utc::now();

    let exposed: Vec<ExposedUnit> = store::exposures(db, experiment.id)
        .await?
        .into_iter()
        .filter(|row| (row.variation_index as usize) < experiment.spec.variations.len())
        .map(|row| ExposedUnit {
            variation: row.variation_index as usize,
            exposed_at: row.first_exposed_at,
            person: row.profile_id,
            attributes: row.attributes.0,
        })
        .collect();
    let (units, people_in_several_variations) = one_unit_per_person(exposed);
    let activity = activity(db, experiment, &metrics, &units).await?;

    let cuped = query.cuped.unwrap_or(true);
    let variations: Vec<String> = experiment.spec.variations.iter().map(|v| v.key.clone()).collect();
    let weights = experiment.spec.weights();
    let analyse = |units: &[&ExposedUnit]| -> Analysis {
        let mut exposures = vec![0u64; variations.len()];
        for unit in units {
            exposures[unit.variation] += 1;
        }
        let values: Vec<MetricValues> = metrics
            .iter()
            .map(|(spec, role)| metric_values(spec, *role, units, &activity, variations.len(), now))
            .collect();
        analyze(&variations, &exposures, &weights, &values, &settings, cuped)
    };
    let everyone: Vec<&ExposedUnit> = units.iter().collect();
    let analysis = analyse(&everyone);
    let attributes: Vec<String> = match breakdowns {
        Breakdowns::Only(attributes) => attributes.into_iter().map(str::to_string).collect(),
        Breakdowns::Every => segment_attributes(&units),
    };
    let breakdowns = attributes
        .into_iter()
        .map(|attribute| {
            let mut groups: HashMap<String, Vec<&ExposedUnit>> = HashMap::new();
            for unit in &units {
                groups.entry(segment_value(unit.attributes.get(&attribute))).or_default().push(unit);
            }
            let mut groups: Vec<(String, Vec<&ExposedUnit>)> = groups.into_iter().collect();
            groups.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then_with(|| a.0.cmp(&b.0)));
            let values: Vec<SegmentResult> = groups
                .into_iter()
                .take(MAX_SEGMENTS)
                .map(|(value, units)| SegmentResult { value, analysis: analyse(&units) })
                .collect();
            SegmentBreakdown { heterogeneity: heterogeneity(&values, &variations), attribute, values }
        })
        .collect();
    let results = ExperimentResults {
        experiment: experiment.spec.key.clone(),
        settings,
        cuped,
        computed_at: now,
        data_through: now,
        people_in_several_variations,
        planned_mde: experiment.spec.hypothesis.mde,
        analysis,
        segments: None,
    };
    Ok((results, breakdowns))
}

/// The exposure attributes that split the units into 2 to `MAX_SEGMENTS` groups, sorted by name.
fn segment_attributes(units: &[ExposedUnit]) -> Vec<String> {
    let mut values: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for unit in units {
        for (name, value) in &unit.attributes {
            let seen = values.entry(name).or_default();
            if seen.len() <= MAX_SEGMENTS {
                seen.insert(segment_value(Some(value)));
            }
        }
    }
    values
        .into_iter()
        .filter(|(_, seen)| (2..=MAX_SEGMENTS).contains(&seen.len()))
        .map(|(name, _)| name.to_string())
        .collect()
}

/// The experiment's metrics from the library, primary first.
async fn attached_metrics(db: &Db, experiment: &Experiment) -> Result<Vec<(MetricSpec, MetricRole)>, AppError> {
    let mut metrics = Vec::new();
    for (key, role) in experiment.spec.metrics.all() {
        let metric = metric_store::find(db, key).await?.ok_or_else(|| {
            AppError::conflict(format!("the experiment's metric '{key}' is no longer in the library"))
        })?;
        metrics.push((metric.spec, role));
    }
    Ok(metrics)
}

fn segment_value(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => "(not sent)".into(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// Each exposed person's orders, and the events and signal matches the metrics need.
async fn activity(
    db: &Db,
    experiment: &Experiment,
    metrics: &[(MetricSpec, MetricRole)],
    units: &[ExposedUnit],
) -> Result<HashMap<i64, Activity>, AppError> {
    let mut activity: HashMap<i64, Activity> = HashMap::new();
    for order in store::orders(db, experiment.id).await? {
        activity.entry(order.profile_id).or_default().orders.push((order.at, order.revenue.unwrap_or(0.0)));
    }
    let event_names: Vec<&str> = metrics
        .iter()
        .filter_map(|(m, _)| match &m.measure {
            Measure::Event { name } => Some(name.as_str()),
            _ => None,
        })
        .collect();
    let mut signals = Vec::new();
    for (metric, _) in metrics {
        if let Measure::Signal { key } = &metric.measure {
            let signal = signal_store::find(db, key).await?.ok_or_else(|| {
                AppError::conflict(format!("metric '{}' counts signal '{key}', which is gone", metric.key))
            })?;
            signals.push(CompiledSignal::compile(&signal.spec, signal.version).map_err(AppError::internal)?);
        }
    }
    if event_names.is_empty() && signals.is_empty() {
        return Ok(activity);
    }
    // Events from the start of the earliest pre-exposure window on.
    let longest_window = metrics.iter().map(|(m, _)| m.window_days).max().unwrap_or(0);
    let Some(first_exposure) = units.iter().map(|u| u.exposed_at).min() else {
        return Ok(activity);
    };
    let since = first_exposure - Duration::days(i64::from(longest_window));
    let filter = store::EventFilter {
        names: event_names
            .iter()
            .map(|name| name.to_string())
            .chain(signals.iter().filter(|s| s.rule.kind == RuleKind::Track).map(|s| s.rule.event.clone()))
            .collect::<BTreeSet<String>>()
            .into_iter()
            .collect(),
        views: signals.iter().any(|s| s.rule.kind == RuleKind::View),
    };
    let mut states: HashMap<(i64, usize), SignalState> = HashMap::new();
    for event in store::events(db, experiment.id, since, &filter).await? {
        let person = activity.entry(event.profile_id).or_default();
        if let Some(name) = event.event.as_deref().filter(|n| event_names.contains(n)) {
            person.events.push((event.timestamp, name.to_string()));
        }
        let occurrence = Occurrence {
            view: event.kind != "track",
            event: event.event.as_deref(),
            channel: &event.channel,
            properties: &event.properties.0,
        };
        // Repeat rules (a cart return, a repeat visit) fire as ingestion scores them: each person's events come
        // oldest first.
        for (i, signal) in signals.iter().enumerate().filter(|(_, s)| s.matches(&occurrence)) {
            let state = states.get(&(event.profile_id, i)).copied();
            // The half-life only decays the intent score, which results do not read; whether it fired does not
            // depend on it.
            let (next, fired) = record_occurrence(signal, state, event.timestamp, 1.0);
            states.insert((event.profile_id, i), next);
            if fired {
                person.signals.push((event.timestamp, signal.key.clone()));
            }
        }
    }
    Ok(activity)
}

fn metric_values(
    spec: &MetricSpec,
    role: MetricRole,
    units: &[&ExposedUnit],
    activity: &HashMap<i64, Activity>,
    variations: usize,
    data_through: DateTime<Utc>,
) -> MetricValues {
    let nothing = Activity::default();
    let mut values: Vec<Vec<UnitValue>> = vec![Vec::new(); variations];
    for unit in units {
        let unit_activity = unit.person.and_then(|p| activity.get(&p)).unwrap_or(&nothing);
        if let Some(value) = spec.unit_value(unit.exposed_at, unit_activity, data_through) {
            values[unit.variation].push(value);
        }
    }
    MetricValues { spec: spec.clone(), role, values }
}
