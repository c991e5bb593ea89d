//! The playbook as files: CSV (one row per entry, for spreadsheets) and Markdown (for wikis and documents).
//! JSON is the API's own shape. Server-only because of the CSV writer.

use super::playbook::{EntryDetail, PlaybookEntry, PlaybookQuery};
use super::stats::results::MetricRole;
use super::stats::Lift;
use std::fmt::Write;

/// The CSV columns, in order. Lists inside a cell are joined with "; ".
pub const CSV_COLUMNS: [&str; 24] = [
    "id",
    "experiment",
    "name",
    "concluded_at",
    "concluded_by",
    "decision",
    "winning_variation",
    "outcome",
    "primary_metric",
    "variation",
    "relative_lift",
    "ci_low",
    "ci_high",
    "p_value",
    "significant",
    "signals",
    "stages",
    "segments",
    "tags",
    "summary",
    "notes",
    "hypothesis",
    "deviations",
    "revision",
];

fn number(x: Option<f64>) -> String {
    x.map(|v| v.to_string()).unwrap_or_default()
}

pub fn csv(entries: &[PlaybookEntry]) -> Result<String, String> {
    let mut out = ::csv::Writer::from_writer(Vec::new());
    out.write_record(CSV_COLUMNS).map_err(|e| e.to_string())?;
    for e in entries {
        let c = &e.conclusion;
        let p = e.reading.primary.as_ref();
        let lift = p.map(|p| &p.lift);
        let record: [String; 24] = [
            e.id.to_string(),
            e.reading.experiment.clone(),
            e.reading.name.clone(),
            e.concluded_at.to_rfc3339(),
            e.concluded_by.clone(),
            c.decision.to_string(),
            c.winning_variation.clone().unwrap_or_default(),
            e.reading.outcome.to_string(),
            p.map(|p| p.metric.clone()).unwrap_or_default(),
            p.map(|p| p.variation.clone()).unwrap_or_default(),
            number(lift.map(|l| l.estimate)),
            number(lift.and_then(|l| l.ci_low)),
            number(lift.and_then(|l| l.ci_high)),
            number(lift.and_then(|l| l.adjusted_p_value)),
            p.map(|p| p.significant.to_string()).unwrap_or_default(),
            c.signals.iter().map(|s| s.key.as_str()).collect::<Vec<_>>().join("; "),
            e.stages().collect::<Vec<_>>().join("; "),
            c.segments
                .iter()
                .map(|s| format!("{}={} ({})", s.attribute, s.value, effect_word(s.effect)))
                .collect::<Vec<_>>()
                .join("; "),
            c.tags.join("; "),
            c.summary.clone(),
            c.notes.clone(),
            e.reading.hypothesis.change.clone(),
            e.reading.deviations.iter().map(|d| d.code.as_str()).collect::<Vec<_>>().join("; "),
            e.revision.to_string(),
        ];
        out.write_record(&record).map_err(|e| e.to_string())?;
    }
    let bytes = out.into_inner().map_err(|e| e.to_string())?;
    String::from_utf8(bytes).map_err(|e| e.to_string())
}

fn effect_word(effect: super::playbook::SegmentEffect) -> &'static str {
    match effect {
        super::playbook::SegmentEffect::Held => "held",
        super::playbook::SegmentEffect::Failed => "failed",
    }
}

fn pct(x: f64) -> String {
    format!("{:+.1}%", x * 100.0)
}

fn interval(lift: &Lift) -> String {
    match (lift.ci_low, lift.ci_high) {
        (Some(l), Some(h)) => format!("{} to {}", pct(l), pct(h)),
        (Some(l), None) => format!("above {}", pct(l)),
        (None, Some(h)) => format!("below {}", pct(h)),
        (None, None) => "unbounded".into(),
    }
}

/// Markdown text is escaped where it would otherwise become markup (tables, emphasis, links).
fn md(text: &str) -> String {
    text.chars()
        .flat_map(|c| match c {
            '|' | '*' | '_' | '`' | '[' | ']' | '<' | '>' | '#' | '\\' => vec!['\\', c],
            '\n' => vec![' '],
            _ => vec![c],
        })
        .collect()
}

fn entry_header(out: &mut String, e: &PlaybookEntry, level: &str) {
    let c = &e.conclusion;
    let _ = writeln!(out, "{level} {} (`{}`)\n", md(&e.reading.name), e.reading.experiment);
    let winner = c.winning_variation.as_deref().map(|v| format!(" `{v}`")).unwrap_or_default();
    let _ = writeln!(
        out,
        "**Outcome:** {} · **Decision:** {}{winner} · concluded {} by {}\n",
        e.reading.outcome,
        c.decision,
        e.concluded_at.format("%Y-%m-%d"),
        md(&e.concluded_by)
    );
    if let Some(p) = &e.reading.primary {
        let _ = writeln!(
            out,
            "**Primary metric:** {} · `{}` {} (95% interval {}){}\n",
            md(&p.metric_name),
            p.variation,
            pct(p.lift.estimate),
            interval(&p.lift),
            if p.significant { ", significant" } else { ", not significant" }
        );
    }
    let _ = writeln!(out, "**Learning:** {}\n", md(&c.summary));
    let h = &e.reading.hypothesis;
    if !h.change.is_empty() {
        let _ = writeln!(
            out,
            "**Hypothesis:** {} (segment: {}; rationale: {})\n",
            md(&h.change),
            md(&h.segment),
            md(&h.rationale)
        );
    }
    let signals: Vec<String> = c.signals.iter().map(|s| format!("{} ({})", md(&s.name), s.stage)).collect();
    let _ = writeln!(out, "**Signals:** {} · **Tags:** {}\n", signals.join(", "), md(&c.tags.join(", ")));
    for s in &c.segments {
        let note = if s.note.is_empty() { String::new() } else { format!(": {}", md(&s.note)) };
        let _ =
            writeln!(out, "- Segment {} = {}: effect {}{note}", md(&s.attribute), md(&s.value), effect_word(s.effect));
    }
    if !c.segments.is_empty() {
        out.push('\n');
    }
    for d in &e.reading.deviations {
        let _ = writeln!(out, "> ⚠ {}", md(&d.message));
    }
    if !e.reading.deviations.is_empty() {
        out.push('\n');
    }
    if !c.notes.is_empty() {
        let _ = writeln!(out, "**Notes:** {}\n", md(&c.notes));
    }
}

/// A filtered playbook view.
pub fn markdown_list(entries: &[PlaybookEntry], query: &PlaybookQuery) -> String {
    let mut out = String::from("# Playbook\n\n");
    let filters = query.to_pairs();
    if !filters.is_empty() {
        let described: Vec<String> = filters.iter().map(|(k, v)| format!("{k}: {}", md(v))).collect();
        let _ = writeln!(out, "Filtered by {}.\n", described.join(", "));
    }
    let _ = writeln!(out, "{} entries.\n", entries.len());
    for e in entries {
        entry_header(&mut out, e, "##");
    }
    out
}

/// One entry with its frozen results.
pub fn markdown_entry(detail: &EntryDetail) -> String {
    let mut out = String::new();
    entry_header(&mut out, &detail.entry, "#");
    let results = &detail.snapshot.results;
    let analysis = &results.analysis;
    let _ = writeln!(
        out,
        "## Frozen results (revision {}, data through {})\n",
        detail.shown_revision,
        results.data_through.format("%Y-%m-%d %H:%M UTC")
    );
    let split: Vec<String> =
        analysis.variations.iter().zip(&analysis.exposures).map(|(v, n)| format!("`{v}` {n}")).collect();
    let _ = writeln!(
        out,
        "Units: {}. Sample-ratio check p = {:.4}{}. Method: {:?}, alpha {}.\n",
        split.join(", "),
        analysis.srm_p_value,
        if analysis.srm_ok { "" } else { " (FAILED)" },
        results.settings.method,
        results.settings.alpha
    );
    let _ = writeln!(out, "| Metric | Role | Variation | Value | Relative lift | Interval | Significant |");
    let _ = writeln!(out, "|---|---|---|---|---|---|---|");
    for m in &analysis.metrics {
        let role = match m.role {
            MetricRole::Primary => "primary",
            MetricRole::Secondary => "secondary",
            MetricRole::Guardrail => "guardrail",
        };
        for (v, key) in m.variations.iter().zip(&analysis.variations) {
            let lift = v.comparison.as_ref().and_then(|c| c.relative_lift.as_ref());
            let significant = v.comparison.as_ref().map(|c| if c.significant { "yes" } else { "no" }).unwrap_or("");
            let _ = writeln!(
                out,
                "| {} | {role} | `{key}` | {:.4} | {} | {} | {significant} |",
                md(&m.name),
                v.value,
                lift.map(|l| pct(l.estimate)).unwrap_or_default(),
                lift.map(interval).unwrap_or_default(),
            );
        }
    }
    out
}
