//! The demo shop: a seeded simulation of shoppers across channels and devices whose micro-conversions follow the
//! intent stages, with purchases, repeat purchases, consent mixes, identity stitching and a few data-quality
//! problems, exposed to experiments with **known** planted effects. Pure and deterministic: person `i` of seed `s`
//! is always the same (each person draws from their own ChaCha stream), so runs can be compared and the planted
//! effects checked against what the results pages recover.

use chrono::{DateTime, Duration, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp, LogNormal, Poisson};
use serde_json::{json, Map, Value};

/// How big a shop to simulate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DemoPlan {
    pub users: usize,
    /// Visits happen over the last `days` days.
    pub days: u32,
    pub seed: u64,
    /// The simulation's "now": the newest visit is just before it.
    pub now: DateTime<Utc>,
}

/// What an experiment does to the shoppers who get its treatment.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Planted {
    /// Multiplies each treated shopper's chance of buying at all by `1 + lift`.
    Conversion { lift: f64 },
    /// Multiplies order values by `1 + lift`, for orders in the app only.
    AovInApp { lift: f64 },
    /// Changes nothing.
    Null,
    /// Changes nothing, but the exposure logging of the treatment loses `lost` of its units: a sample-ratio
    /// mismatch.
    LostExposures { lost: f64 },
}

/// An experiment the demo runs, with the truth about it.
#[derive(Clone, Debug, PartialEq)]
pub struct PlantedExperiment {
    /// The body of `POST /api/v1/experiments`.
    pub spec: Value,
    pub planted: Planted,
    /// The truth, as people should read it off the results page.
    pub truth: &'static str,
}

impl PlantedExperiment {
    /// The experiment's key, from its spec.
    pub fn key(&self) -> &str {
        self.spec["key"].as_str().unwrap_or_default()
    }
}

/// The demo's experiments: two real effects, a null test and a broken one.
pub fn experiments(seed: u64) -> Vec<PlantedExperiment> {
    let experiment = |key: &str, name: &str, change: &str, rationale: &str, primary: &str, secondary: &[&str]| {
        json!({
            "key": key, "name": name, "seed": format!("{key}-{seed}"),
            "description": "Demo data: the true effect is planted by the simulator.",
            "hypothesis": {"change": change, "segment": "All visitors", "primary_metric": primary,
                           "direction": "increase", "mde": 0.1, "rationale": rationale},
            "variations": [{"key": "control", "name": "Control"}, {"key": "treatment", "name": "Treatment"}],
            "metrics": {"primary": primary, "secondary": secondary, "guardrails": ["repeat-purchase"]},
        })
    };
    vec![
        PlantedExperiment {
            spec: experiment(
                "demo-video-gallery",
                "Product video first in the gallery",
                "Show the product video as the first gallery item",
                "Shoppers who watch 75 % of a product video buy more often (video-watched-75)",
                "purchase",
                &["revenue", "aov"],
            ),
            planted: Planted::Conversion { lift: 0.2 },
            truth: "purchase conversion +20 % (relative), AOV unchanged",
        },
        PlantedExperiment {
            spec: experiment(
                "demo-app-bundles",
                "Bundle suggestions at the app checkout",
                "Suggest a matching accessory at the app checkout",
                "Cart returns in the app show shoppers are ready to buy more (cart-return)",
                "aov",
                &["purchase", "revenue"],
            ),
            planted: Planted::AovInApp { lift: 0.1 },
            truth: "AOV +10 % on orders in the app, nothing elsewhere; conversion unchanged",
        },
        PlantedExperiment {
            spec: experiment(
                "demo-size-guide",
                "Bigger size-guide link",
                "Make the size-guide link a button",
                "Size-guide users hesitate (size-guide-viewed)",
                "purchase",
                &["aov"],
            ),
            planted: Planted::Null,
            truth: "no effect on anything",
        },
        PlantedExperiment {
            spec: experiment(
                "demo-wishlist-reminder",
                "Wishlist reminder banner",
                "Remind returning visitors of their wishlist",
                "Wishlist adds signal intent (wishlist-add)",
                "purchase",
                &["aov"],
            ),
            planted: Planted::LostExposures { lost: 0.2 },
            truth: "no effect, but 20 % of treatment exposures are never logged: the sample-ratio check must fail",
        },
    ]
}

/// An exposure to write: the unit id and attributes as the assignment request would have sent them.
#[derive(Clone, Debug, PartialEq)]
pub struct PlannedExposure {
    pub experiment: usize,
    pub unit_id: String,
    pub variation: usize,
    pub at: DateTime<Utc>,
    pub attributes: Map<String, Value>,
}

/// One simulated person: the exposures to log and the raw events their devices send (oldest first, in the native
/// API's shape, including the duplicates and malformed events a real shop produces).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Person {
    pub exposures: Vec<PlannedExposure>,
    pub events: Vec<Value>,
    pub orders: usize,
}

fn pick<'a, T>(rng: &mut ChaCha8Rng, weighted: &'a [(T, f64)]) -> &'a T {
    let total: f64 = weighted.iter().map(|(_, w)| w).sum();
    let mut x = rng.gen::<f64>() * total;
    for (item, weight) in weighted {
        if x < *weight {
            return item;
        }
        x -= weight;
    }
    &weighted[weighted.len() - 1].0
}

const CHANNELS: [(&str, f64); 5] = [("web", 0.45), ("app", 0.22), ("email", 0.12), ("ads", 0.16), ("store", 0.05)];
const COUNTRIES: [(&str, f64); 5] = [("DE", 0.3), ("FR", 0.2), ("GB", 0.2), ("US", 0.2), ("NL", 0.1)];
/// Share of people who send events without analytics consent (counted, not stored).
const NO_CONSENT: f64 = 0.07;
/// Share of signed-in people who opt out at their last visit.
const OPT_OUT: f64 = 0.02;
const LOGIN: f64 = 0.45;
const SECOND_DEVICE: f64 = 0.3;
const SKEWED_CLOCK: f64 = 0.04;
const DUPLICATE: f64 = 0.01;
const MALFORMED: f64 = 0.003;
const REPEAT_BUYER: f64 = 0.3;

/// The bucketing the demo runs through: `(experiment index, unit id, attributes)` → the variation index, or
/// `None` when the unit is not in the experiment.
pub type Bucketing<'a> = dyn Fn(usize, &str, &Map<String, Value>) -> Option<usize> + 'a;

/// Simulates person `index`, bucketed by `assign` (the real assignment snapshot when loading the demo).
pub fn person(plan: &DemoPlan, experiments: &[PlantedExperiment], index: usize, assign: &Bucketing) -> Person {
    let mut rng = ChaCha8Rng::seed_from_u64(plan.seed);
    rng.set_stream(index as u64);
    let channel = *pick(&mut rng, &CHANNELS);
    let device = match channel {
        "app" => "mobile",
        "store" => "desktop",
        _ => *pick(&mut rng, &[("mobile", 0.6), ("desktop", 0.33), ("tablet", 0.07)]),
    };
    let country = *pick(&mut rng, &COUNTRIES);
    let consent = rng.gen::<f64>() >= NO_CONSENT;
    // How close to buying this person is: most browse, a few are ready.
    let eagerness: f64 = rng.gen::<f64>().powi(2);
    let anonymous_id = format!("anon-{}-{index}", plan.seed);
    let user_id = (rng.gen::<f64>() < LOGIN).then(|| format!("shopper-{}-{index}", plan.seed));
    let second_device = user_id.is_some() && rng.gen::<f64>() < SECOND_DEVICE;
    let clock_skew = (rng.gen::<f64>() < SKEWED_CLOCK).then(|| Duration::minutes(rng.gen_range(-600..600)));

    // A visit lasts well under an hour (fewer than 16 events, at most 4 minutes apart): visits start at least
    // two hours before `now`, so no event is in the future.
    let span = Duration::days(i64::from(plan.days.max(1)));
    let latest_start = plan.now - Duration::hours(2);
    let first_visit = plan.now - span + Duration::seconds(rng.gen_range(0..span.num_seconds() - 7200));
    let visits = 1 + Poisson::new(0.5 + 4.0 * eagerness).map(|p| p.sample(&mut rng) as usize).unwrap_or(0).min(12);
    let gap = Exp::new(1.0 / 30.0).expect("a positive rate"); // hours between visits
    let mut times = vec![first_visit];
    for _ in 1..visits {
        let next = *times.last().unwrap() + Duration::minutes((gap.sample(&mut rng) * 60.0) as i64 + 31);
        if next >= latest_start {
            break;
        }
        times.push(next);
    }

    // Exposure at the first visit, with the attributes a backend would send.
    let first_unit = if channel == "app" { format!("app-{}-{index}", plan.seed) } else { anonymous_id.clone() };
    let mut attributes = Map::new();
    attributes.insert("device".into(), json!(device));
    attributes.insert("country".into(), json!(country));
    attributes.insert("channel".into(), json!(channel));
    let mut person = Person::default();
    let mut treated: Vec<Planted> = Vec::new();
    for (i, experiment) in experiments.iter().enumerate() {
        let Some(variation) = assign(i, &first_unit, &attributes) else { continue };
        if variation > 0 {
            treated.push(experiment.planted);
        }
        let lost =
            matches!(experiment.planted, Planted::LostExposures { lost } if variation > 0 && rng.gen::<f64>() < lost);
        if !lost {
            person.exposures.push(PlannedExposure {
                experiment: i,
                unit_id: first_unit.clone(),
                variation,
                at: first_visit,
                attributes: attributes.clone(),
            });
        }
    }
    let conversion_lift: f64 = treated
        .iter()
        .map(|p| match p {
            Planted::Conversion { lift } => 1.0 + lift,
            _ => 1.0,
        })
        .product();
    let buys = rng.gen::<f64>() < ((0.03 + 0.25 * eagerness) * conversion_lift).min(1.0);
    let buying_visit = buys.then(|| rng.gen_range(0..times.len()));
    let repeat_visit = buying_visit
        .filter(|v| *v + 1 < times.len() && rng.gen::<f64>() < REPEAT_BUYER)
        .map(|v| rng.gen_range(v + 1..times.len()));
    let order_value = LogNormal::new(55f64.ln(), 0.45).expect("valid log-normal");

    let mut writer = EventWriter { plan, index, clock_skew, consent, channel, device, events: Vec::new() };
    for (visit, &at) in times.iter().enumerate() {
        // Later visits may come from the second device, in the app, signed in.
        let (unit, visit_channel) = if second_device && visit > 0 && visit % 2 == 1 {
            (format!("app-{}-{index}", plan.seed), "app")
        } else {
            (first_unit.clone(), channel)
        };
        let signed_in = user_id.is_some() && (visit > 0 || rng.gen::<f64>() < 0.5);
        let ids = Ids { anonymous: &unit, user: if signed_in { user_id.as_deref() } else { None } };
        let mut clock = at;
        let mut step = |rng: &mut ChaCha8Rng| {
            clock += Duration::seconds(rng.gen_range(20..240));
            clock
        };
        writer.page(&ids, visit_channel, step(&mut rng), "/");
        if signed_in && (visit == 0 || unit.starts_with("app-") && visit == 1) {
            let mut traits = json!({"email": format!("{}@example.com", user_id.as_deref().unwrap_or_default())});
            if visit + 1 == times.len() && rng.gen::<f64>() < OPT_OUT {
                traits["opted_out"] = json!(true);
            }
            writer.identify(&ids, visit_channel, step(&mut rng), traits);
        }
        let views = 1 + rng.gen_range(0..4);
        for _ in 0..views {
            writer.track(
                &ids,
                visit_channel,
                step(&mut rng),
                "Product Viewed",
                json!({"product_id": format!("p{}", rng.gen_range(1..300))}),
            );
        }
        let will_buy = buying_visit == Some(visit) || repeat_visit == Some(visit);
        let interest = if will_buy { 0.9 } else { eagerness };
        let video_boost = if treated.iter().any(|p| matches!(p, Planted::Conversion { .. })) { 1.3 } else { 1.0 };
        if rng.gen::<f64>() < (0.15 + 0.5 * interest) * video_boost {
            let percent = (rng.gen::<f64>().powf(0.7) * 100.0).round();
            writer.track(&ids, visit_channel, step(&mut rng), "Video Watched", json!({"percent": percent}));
        }
        if rng.gen::<f64>() < 0.1 + 0.3 * interest {
            writer.track(&ids, visit_channel, step(&mut rng), "Size Guide Viewed", json!({}));
        }
        if rng.gen::<f64>() < 0.05 + 0.3 * interest {
            writer.track(&ids, visit_channel, step(&mut rng), "Product Added to Wishlist", json!({}));
        }
        if rng.gen::<f64>() < 0.02 + 0.1 * interest {
            writer.track(&ids, visit_channel, step(&mut rng), "Price Alert Subscribed", json!({}));
        }
        if will_buy || rng.gen::<f64>() < 0.1 + 0.5 * interest {
            writer.track(&ids, visit_channel, step(&mut rng), "Product Added", json!({}));
            writer.track(&ids, visit_channel, step(&mut rng), "Cart Viewed", json!({}));
        }
        if will_buy {
            writer.track(&ids, visit_channel, step(&mut rng), "Checkout Started", json!({}));
            let aov_lift: f64 = treated
                .iter()
                .map(|p| match p {
                    Planted::AovInApp { lift } if visit_channel == "app" => 1.0 + lift,
                    _ => 1.0,
                })
                .product();
            let revenue = (order_value.sample(&mut rng) * aov_lift * 100.0).round() / 100.0;
            let order_id = format!("o-{}-{index}-{visit}", plan.seed);
            writer.track(
                &ids,
                visit_channel,
                step(&mut rng),
                "Order Completed",
                json!({"order_id": order_id, "revenue": revenue, "currency": "EUR"}),
            );
            person.orders += 1;
        }
    }
    // Data-quality problems: retries of the same message, and a few malformed events.
    let mut events = Vec::with_capacity(writer.events.len() + 2);
    for event in writer.events {
        let duplicate = rng.gen::<f64>() < DUPLICATE;
        if rng.gen::<f64>() < MALFORMED {
            let mut broken = event.clone();
            broken["timestamp"] = json!("yesterday-ish");
            events.push(broken);
            continue;
        }
        if duplicate {
            events.push(event.clone());
        }
        events.push(event);
    }
    person.events = events;
    person
}

struct Ids<'a> {
    anonymous: &'a str,
    user: Option<&'a str>,
}

/// Builds one person's raw events with their context.
struct EventWriter<'a> {
    plan: &'a DemoPlan,
    index: usize,
    clock_skew: Option<Duration>,
    consent: bool,
    channel: &'a str,
    device: &'a str,
    events: Vec<Value>,
}

impl EventWriter<'_> {
    fn push(&mut self, ids: &Ids, channel: &str, at: DateTime<Utc>, mut event: Value) {
        let n = self.events.len();
        event["message_id"] = json!(format!("demo-{}-{}-{n}", self.plan.seed, self.index));
        event["anonymous_id"] = json!(ids.anonymous);
        if let Some(user) = ids.user {
            event["user_id"] = json!(user);
        }
        let campaign = match self.channel {
            "email" => json!({"source": "newsletter", "medium": "email", "name": "weekly"}),
            "ads" => json!({"source": "search", "medium": "cpc", "name": "brand"}),
            _ => Value::Null,
        };
        event["context"] = json!({
            "channel": channel,
            "device": {"type": if channel == "app" { "mobile" } else { self.device }},
            "consent": {"analytics": self.consent, "personalization": self.consent},
            "campaign": campaign,
        });
        // A skewed device clock: both times are off by the same amount, so the server's correction recovers `at`.
        match self.clock_skew {
            Some(skew) => {
                event["timestamp"] = json!((at + skew).to_rfc3339());
                event["sent_at"] = json!((self.plan.now + skew).to_rfc3339());
            }
            None => event["timestamp"] = json!(at.to_rfc3339()),
        }
        self.events.push(event);
    }

    fn page(&mut self, ids: &Ids, channel: &str, at: DateTime<Utc>, path: &str) {
        self.push(ids, channel, at, json!({"type": "page", "properties": {"path": path}}));
    }

    fn track(&mut self, ids: &Ids, channel: &str, at: DateTime<Utc>, name: &str, properties: Value) {
        self.push(ids, channel, at, json!({"type": "track", "event": name, "properties": properties}));
    }

    fn identify(&mut self, ids: &Ids, channel: &str, at: DateTime<Utc>, traits: Value) {
        self.push(ids, channel, at, json!({"type": "identify", "traits": traits}));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(seed: u64) -> DemoPlan {
        DemoPlan { users: 100, days: 30, seed, now: DateTime::from_timestamp(1_764_000_000, 0).unwrap() }
    }

    /// Alternating buckets, everyone in.
    fn split(_: usize, unit: &str, _: &Map<String, Value>) -> Option<usize> {
        Some(unit.len() % 2)
    }

    #[test]
    fn a_seed_always_makes_the_same_people() {
        let experiments = experiments(7);
        for i in 0..50 {
            assert_eq!(person(&plan(7), &experiments, i, &split), person(&plan(7), &experiments, i, &split));
        }
        let a: Vec<Person> = (0..50).map(|i| person(&plan(7), &experiments, i, &split)).collect();
        let b: Vec<Person> = (0..50).map(|i| person(&plan(8), &experiments, i, &split)).collect();
        assert_ne!(a, b, "another seed, another shop");
    }

    #[test]
    fn people_visit_within_the_window_and_buy_sometimes() {
        let p = plan(3);
        let experiments = experiments(3);
        let people: Vec<Person> = (0..2000).map(|i| person(&p, &experiments, i, &split)).collect();
        let buyers = people.iter().filter(|x| x.orders > 0).count() as f64 / people.len() as f64;
        assert!((0.05..0.3).contains(&buyers), "{buyers}");
        for event in people.iter().flat_map(|x| &x.events) {
            let Some(Ok(at)) = event["timestamp"].as_str().map(DateTime::parse_from_rfc3339) else { continue };
            if event.get("sent_at").is_none() {
                assert!(at <= p.now && at >= p.now - Duration::days(31), "{event}");
            }
        }
        let lost = people.iter().flat_map(|x| &x.exposures).filter(|e| e.experiment == 3).count();
        let kept = people.iter().flat_map(|x| &x.exposures).filter(|e| e.experiment == 0).count();
        assert!(lost < kept, "the broken experiment loses treatment exposures");
    }
}
