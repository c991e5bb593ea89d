//! An experiment's results: exposures unified per person, each person's orders, events and signal matches
//! around their first exposure, every attached metric computed and compared with control. The data is kept in
//! memory per experiment and brought up to date incrementally (`ExperimentData`).

use crate::auth::Caller;
use crate::domain::access::Access;
use crate::domain::signals::{record_occurrence, CompiledSignal, Occurrence, RuleKind, SignalState};
use crate::domain::stats::metrics::{Activity, Measure, MetricSpec, UnitValue};
use crate::domain::stats::results::{
    analyze, heterogeneity, one_unit_per_person, timeline_moments, Analysis, ExperimentResults, ExposedUnit,
    MetricRole, MetricValues, ResultsQuery, SegmentBreakdown, SegmentResult, Timeline, TimelinePoint, TIMELINE_POINTS,
};
use crate::domain::stats::{map_in_parallel, AnalysisSettings, Correction};

use crate::domain::experiment::Status;
use crate::error::AppError;
use crate::model::Experiment;
use crate::storage::results::People;
use crate::storage::{metrics as metric_store, results as store, signals as signal_store, Db};
use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// At most this many segments are analysed (the largest); the rest would be too small to read anyway.
const MAX_SEGMENTS: usize = 20;

/// Overlap between incremental reads: a person changed by a transaction that committed this long after its
/// `changed_at` was taken (or on an instance whose clock is this far behind) would otherwise be missed.
const OVERLAP: Duration = Duration::seconds(10);
/// The data of an experiment nobody asked about for this long is dropped.
const IDLE: std::time::Duration = std::time::Duration::from_secs(15 * 60);

pub async fn results(
    db: &Db,
    cache: &ResultsCache,
    caller: &Caller,
    key: &str,
    query: &ResultsQuery,
) -> Result<ExperimentResults, AppError> {
    caller.require(Access::Results)?;
    let experiment = crate::services::experiments::find(db, key).await?;
    query.settings().map_err(AppError::invalid)?;
    let metrics = attached_metrics(db, &experiment).await?;
    let slot = cache.slot(experiment.id);
    let mut data = slot.lock().await;
    let data = up_to_date(&mut data, db, &experiment, &metrics).await?;
    let segment = query.segment.as_deref().map(str::trim).filter(|a| !a.is_empty());
    let (mut results, breakdowns) =
        analyse(&experiment, &metrics, data, query, Breakdowns::Only(segment.into_iter().collect()))?;
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

/// An experiment's results under `query`'s settings, with a breakdown per attribute asked for, from a fresh
/// read of the database (what the playbook freezes). One read of the data serves them all.
pub(crate) async fn compute(
    db: &Db,
    experiment: &Experiment,
    query: &ResultsQuery,
    breakdowns: Breakdowns<'_>,
) -> Result<(ExperimentResults, Vec<SegmentBreakdown>), AppError> {
    query.settings().map_err(AppError::invalid)?;
    let metrics = attached_metrics(db, experiment).await?;
    let data = ExperimentData::read(db, experiment, Needs::of(db, &metrics).await?).await?;
    analyse(experiment, &metrics, &data, query, breakdowns)
}

/// The kept data of running experiments brought up to date, so that a results page read again later is fresh
/// and fast; data nobody asked for in `IDLE` is dropped. Experiments nobody asked about are not read: a full read
/// of a large experiment costs a minute of CPU and gigabytes of memory, which would come out of the assignment
/// API's share of the machine.
pub async fn keep_fresh(db: &Db, cache: &ResultsCache) -> Result<(), AppError> {
    cache.forget_idle();
    let kept = cache.kept();
    if kept.is_empty() {
        return Ok(());
    }
    let experiments = crate::storage::experiments::list(db).await?;
    for (experiment_id, slot) in kept {
        let running = experiments.iter().find(|e| e.id == experiment_id && e.status == Status::Running);
        let Some(experiment) = running else { continue };
        let mut data = slot.lock().await;
        if data.is_some() {
            let metrics = attached_metrics(db, experiment).await?;
            up_to_date(&mut data, db, experiment, &metrics).await?;
        }
    }
    Ok(())
}

/// Each experiment's data (`ExperimentData`), kept between requests and brought up to date incrementally.
#[derive(Clone, Default)]
pub struct ResultsCache(Arc<Mutex<HashMap<i64, (Slot, Instant)>>>);

type Slot = Arc<tokio::sync::Mutex<Option<ExperimentData>>>;

impl ResultsCache {
    /// The experiment's slot, marked as asked for now.
    fn slot(&self, experiment_id: i64) -> Slot {
        let mut slots = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let (slot, used) = slots.entry(experiment_id).or_insert_with(|| (Slot::default(), Instant::now()));
        *used = Instant::now();
        slot.clone()
    }

    /// Every experiment's slot.
    fn kept(&self) -> Vec<(i64, Slot)> {
        let slots = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        slots.iter().map(|(id, (slot, _))| (*id, slot.clone())).collect()
    }

    fn forget_idle(&self) {
        let mut slots = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        slots.retain(|_, (_, used)| used.elapsed() < IDLE);
    }
}

/// The slot's data, read in full when there is none yet or the metrics now need other events, else brought up
/// to date incrementally.
async fn up_to_date<'a>(
    slot: &'a mut Option<ExperimentData>,
    db: &Db,
    experiment: &Experiment,
    metrics: &[(MetricSpec, MetricRole)],
) -> Result<&'a ExperimentData, AppError> {
    let needs = Needs::of(db, metrics).await?;
    let refreshed = match slot.as_mut() {
        Some(data) if data.needs == needs => data.refresh(db, experiment).await,
        _ => Ok(false),
    };
    match refreshed {
        Ok(true) => {}
        Ok(false) => *slot = Some(ExperimentData::read(db, experiment, needs).await?),
        Err(err) => {
            // Half brought up to date is not to be trusted: the next request reads in full.
            *slot = None;
            return Err(err);
        }
    }
    slot.as_ref().ok_or_else(|| AppError::internal("an experiment's results data vanished while read"))
}

/// What the metrics need read besides orders: events by name, the library signals they count (at their current
/// versions), and how many days before the first exposure (the longest window: CUPED's pre-period).
struct Needs {
    event_names: Vec<String>,
    signals: Vec<CompiledSignal>,
    filter: store::EventFilter,
    lookback_days: u32,
}

impl PartialEq for Needs {
    fn eq(&self, other: &Self) -> bool {
        let versions = |needs: &Needs| needs.signals.iter().map(|s| (s.key.clone(), s.version)).collect::<Vec<_>>();
        self.event_names == other.event_names
            && self.filter == other.filter
            && self.lookback_days == other.lookback_days
            && versions(self) == versions(other)
    }
}

impl Needs {
    async fn of(db: &Db, metrics: &[(MetricSpec, MetricRole)]) -> Result<Self, AppError> {
        let event_names: Vec<String> = metrics
            .iter()
            .filter_map(|(m, _)| match &m.measure {
                Measure::Event { name } => Some(name.clone()),
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
        let filter = store::EventFilter {
            names: event_names
                .iter()
                .cloned()
                .chain(signals.iter().filter(|s| s.rule.kind == RuleKind::Track).map(|s| s.rule.event.clone()))
                .collect::<BTreeSet<String>>()
                .into_iter()
                .collect(),
            views: signals.iter().any(|s| s.rule.kind == RuleKind::View),
        };
        let lookback_days = metrics.iter().map(|(m, _)| m.window_days).max().unwrap_or(0);
        Ok(Needs { event_names, signals, filter, lookback_days })
    }
}

/// Everything an experiment's results are computed from, as of `read_at`: each exposed unit, one unit per
/// person, and each exposed person's orders, events and signal matches. Kept in memory between requests:
/// bringing it up to date re-reads only the exposures recorded and the people changed since the last read,
/// so a results request costs the statistics, not a scan of the raw events.
pub(crate) struct ExperimentData {
    needs: Needs,
    /// Events are read from here on (the first exposure less the lookback); `None` before any exposure.
    since: Option<DateTime<Utc>>,
    exposed: HashMap<String, ExposedUnit>,
    units: Vec<ExposedUnit>,
    people_in_several_variations: u64,
    activity: HashMap<i64, Activity>,
    read_at: DateTime<Utc>,
}

impl ExperimentData {
    async fn read(db: &Db, experiment: &Experiment, needs: Needs) -> Result<Self, AppError> {
        let read_at = Utc::now();
        let mut data = ExperimentData {
            needs,
            since: None,
            exposed: HashMap::new(),
            units: Vec::new(),
            people_in_several_variations: 0,
            activity: HashMap::new(),
            read_at,
        };
        data.add_exposures(experiment, store::exposures(db, experiment.id, None).await?);
        let lookback = Duration::days(i64::from(data.needs.lookback_days));
        data.since = data.exposed.values().map(|u| u.exposed_at).min().map(|first| first - lookback);
        if let Some(since) = data.since {
            data.activity = activity(db, People::ExposedTo(experiment.id), since, &data.needs).await?;
        }
        data.regroup();
        Ok(data)
    }

    /// Reads what changed since the last read. False when the data must be read in full instead: the first
    /// exposures, or an exposure earlier than the events read so far cover.
    async fn refresh(&mut self, db: &Db, experiment: &Experiment) -> Result<bool, AppError> {
        let read_at = Utc::now();
        let from = self.read_at - OVERLAP;
        let recorded = store::exposures(db, experiment.id, Some(from)).await?;
        let changed = store::units_of_changed_people(db, experiment.id, from).await?;
        let lookback = Duration::days(i64::from(self.needs.lookback_days));
        let covered = |at: DateTime<Utc>| self.since.is_some_and(|since| at - lookback >= since);
        if !recorded.iter().all(|row| covered(row.first_exposed_at)) {
            return Ok(false);
        }
        let mut reread: BTreeSet<i64> = BTreeSet::new();
        let mut moved = false;
        for row in &recorded {
            if let Some(person) = row.profile_id.filter(|p| !self.activity.contains_key(p)) {
                reread.insert(person);
            }
        }
        let regroup = !recorded.is_empty() || !changed.is_empty();
        self.add_exposures(experiment, recorded);
        for (unit_id, person) in changed {
            if let Some(unit) = self.exposed.get_mut(&unit_id) {
                moved |= unit.person.is_some_and(|p| p != person);
                unit.person = Some(person);
            }
            reread.insert(person);
        }
        if let Some(since) = self.since {
            let reread: Vec<i64> = reread.into_iter().collect();
            for people in reread.chunks(store::MAX_LISTED) {
                let mut fresh = activity(db, People::Listed(people), since, &self.needs).await?;
                for person in people {
                    self.activity.insert(*person, fresh.remove(person).unwrap_or_default());
                }
            }
        }
        if moved {
            // Stitched-away people have no units left; their activity now belongs to whoever they became.
            let people: HashSet<i64> = self.exposed.values().filter_map(|u| u.person).collect();
            self.activity.retain(|person, _| people.contains(person));
        }
        if regroup {
            self.regroup();
        }
        self.read_at = read_at;
        Ok(true)
    }

    /// Adds exposures not seen yet (a unit's first exposure never changes), of variations the experiment has.
    fn add_exposures(&mut self, experiment: &Experiment, rows: Vec<store::ExposureRow>) {
        let variations = experiment.spec.variations.len();
        for row in rows.into_iter().filter(|row| (row.variation_index as usize) < variations) {
            self.exposed.entry(row.unit_id).or_insert_with(|| ExposedUnit {
                variation: row.variation_index as usize,
                exposed_at: row.first_exposed_at,
                person: row.profile_id,
                attributes: Arc::new(row.attributes.0),
            });
        }
    }

    fn regroup(&mut self) {
        let (units, mixed) = one_unit_per_person(self.exposed.values().cloned().collect());
        self.units = units;
        self.people_in_several_variations = mixed;
    }
}

/// The results of `data` under `query`'s settings, with a breakdown per attribute asked for.
fn analyse(
    experiment: &Experiment,
    metrics: &[(MetricSpec, MetricRole)],
    data: &ExperimentData,
    query: &ResultsQuery,
    breakdowns: Breakdowns<'_>,
) -> Result<(ExperimentResults, Vec<SegmentBreakdown>), AppError> {
    let settings = query.settings().map_err(AppError::invalid)?;
    let cuped = query.cuped.unwrap_or(true);
    let variations: Vec<String> = experiment.spec.variations.iter().map(|v| v.key.clone()).collect();
    let weights = experiment.spec.weights();
    let units = &data.units;
    let nothing = Activity::default();
    // Each unit with its person's activity, looked up once for every metric and segment.
    let everyone: Vec<(&ExposedUnit, &Activity)> =
        units.iter().map(|unit| (unit, unit.person.and_then(|p| data.activity.get(&p)).unwrap_or(&nothing))).collect();
    let analysis_of = |units: &[(&ExposedUnit, &Activity)]| {
        analyse_units(units, metrics, &variations, &weights, &settings, cuped, data.read_at)
    };
    let analysis = analysis_of(&everyone);
    let attributes: Vec<String> = match breakdowns {
        Breakdowns::Only(attributes) => attributes.into_iter().map(str::to_string).collect(),
        Breakdowns::Every => segment_attributes(units),
    };
    let breakdowns = attributes
        .into_iter()
        .map(|attribute| {
            let mut groups: HashMap<String, Vec<(&ExposedUnit, &Activity)>> = HashMap::new();
            for &(unit, activity) in &everyone {
                groups.entry(segment_value(unit.attributes.get(&attribute))).or_default().push((unit, activity));
            }
            let mut groups: Vec<(String, Vec<(&ExposedUnit, &Activity)>)> = groups.into_iter().collect();
            groups.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then_with(|| a.0.cmp(&b.0)));
            let values: Vec<SegmentResult> = groups
                .into_iter()
                .take(MAX_SEGMENTS)
                .map(|(value, units)| SegmentResult { value, analysis: analysis_of(&units) })
                .collect();
            SegmentBreakdown { heterogeneity: heterogeneity(&values, &variations), attribute, values }
        })
        .collect();
    let results = ExperimentResults {
        experiment: experiment.spec.key.clone(),
        settings,
        cuped,
        computed_at: Utc::now(),
        data_through: data.read_at,
        people_in_several_variations: data.people_in_several_variations,
        planned_mde: experiment.spec.hypothesis.mde,
        analysis,
        segments: None,
        timeline: query
            .timeline
            .unwrap_or(false)
            .then(|| timeline(metrics, &everyone, &variations, &weights, &settings, cuped, data.read_at))
            .flatten(),
    };
    Ok((results, breakdowns))
}

/// The cumulative effect on the primary metric (the first metric without one) at each of `timeline_moments`:
/// the units exposed by then, with what they had done by then.
fn timeline(
    metrics: &[(MetricSpec, MetricRole)],
    everyone: &[(&ExposedUnit, &Activity)],
    variations: &[String],
    weights: &[f64],
    settings: &AnalysisSettings,
    cuped: bool,
    through: DateTime<Utc>,
) -> Option<Timeline> {
    let primary = metrics.iter().find(|(_, role)| *role == MetricRole::Primary).or(metrics.first())?;
    let first = everyone.iter().map(|(unit, _)| unit.exposed_at).min()?;
    // One metric alone: no family to correct for.
    let settings = AnalysisSettings { correction: Correction::None, ..*settings };
    let points = timeline_moments(first, through, TIMELINE_POINTS)
        .into_iter()
        .map(|at| {
            let so_far: Vec<(&ExposedUnit, &Activity)> =
                everyone.iter().copied().filter(|(unit, _)| unit.exposed_at <= at).collect();
            let analysis =
                analyse_units(&so_far, std::slice::from_ref(primary), variations, weights, &settings, cuped, at);
            let lifts = analysis.metrics[0]
                .variations
                .iter()
                .skip(1)
                .map(|v| v.comparison.as_ref().and_then(|c| c.relative_lift.clone()))
                .collect();
            TimelinePoint { at, units: so_far.len() as u64, lifts }
        })
        .collect();
    Some(Timeline { metric: primary.0.key.clone(), variations: variations[1..].to_vec(), points })
}

/// The analysis of `units` on `metrics`, counting what they did up to `data_through`.
fn analyse_units(
    units: &[(&ExposedUnit, &Activity)],
    metrics: &[(MetricSpec, MetricRole)],
    variations: &[String],
    weights: &[f64],
    settings: &AnalysisSettings,
    cuped: bool,
    data_through: DateTime<Utc>,
) -> Analysis {
    let mut exposures = vec![0u64; variations.len()];
    for (unit, _) in units {
        exposures[unit.variation] += 1;
    }
    let values: Vec<MetricValues> =
        map_in_parallel(metrics, |(spec, role)| metric_values(spec, *role, units, variations.len(), data_through));
    analyze(variations, &exposures, weights, &values, settings, cuped)
}

/// The exposure attributes that split the units into 2 to `MAX_SEGMENTS` groups, sorted by name.
fn segment_attributes(units: &[ExposedUnit]) -> Vec<String> {
    let mut values: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for unit in units {
        for (name, value) in unit.attributes.iter() {
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

/// Each of `people`'s orders, and the events and signal matches the metrics need.
async fn activity(
    db: &Db,
    people: People<'_>,
    since: DateTime<Utc>,
    needs: &Needs,
) -> Result<HashMap<i64, Activity>, AppError> {
    let mut activity: HashMap<i64, Activity> = HashMap::new();
    for order in store::orders(db, people).await? {
        activity.entry(order.profile_id).or_default().orders.push((order.at, order.revenue.unwrap_or(0.0)));
    }
    let mut states: HashMap<(i64, usize), SignalState> = HashMap::new();
    for event in store::events(db, people, since, &needs.filter).await? {
        let person = activity.entry(event.profile_id).or_default();
        if let Some(name) = event.event.as_deref().filter(|n| needs.event_names.iter().any(|e| e == n)) {
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
        for (i, signal) in needs.signals.iter().enumerate().filter(|(_, s)| s.matches(&occurrence)) {
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
    units: &[(&ExposedUnit, &Activity)],
    variations: usize,
    data_through: DateTime<Utc>,
) -> MetricValues {
    let mut values: Vec<Vec<UnitValue>> = vec![Vec::new(); variations];
    for (unit, activity) in units {
        if let Some(value) = spec.unit_value(unit.exposed_at, activity, data_through) {
            values[unit.variation].push(value);
        }
    }
    MetricValues { spec: spec.clone(), role, values }
}
