//! Incoming events: one normalizer for the native API and the Segment-compatible tracking API.
//!
//! A raw event is a JSON object in either spelling (`message_id` or `messageId`, `user_id` or `userId`, …). It
//! becomes an [`Event`] with a skew-corrected time, a normalized context (device, platform, location without the
//! IP, campaign, page, channel) and its consent, or a [`Rejection`] that says which rule it broke. Events of a
//! batch are judged one by one, so one bad event never sinks the others.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Largest accepted event, serialized (Segment's limit).
pub const MAX_EVENT_BYTES: usize = 32 * 1024;
/// Events whose (corrected) time is further in the future than this are refused: a clock cannot be that wrong
/// after correction, so the data is.
pub const MAX_FUTURE: Duration = Duration::hours(24);
/// …or further in the past (imports of older history are possible within it).
pub const MAX_PAST: Duration = Duration::days(730);
const MAX_ID_CHARS: usize = 256;
const MAX_NAME_CHARS: usize = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    Track,
    Page,
    Screen,
    Identify,
    Alias,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Track => "track",
            EventType::Page => "page",
            EventType::Screen => "screen",
            EventType::Identify => "identify",
            EventType::Alias => "alias",
        }
    }

    pub fn parse(text: &str) -> Option<EventType> {
        Some(match text {
            "track" => EventType::Track,
            "page" => EventType::Page,
            "screen" => EventType::Screen,
            "identify" => EventType::Identify,
            "alias" => EventType::Alias,
            _ => return None,
        })
    }

    /// Page and screen views are both "a view" for signals and channels.
    pub fn is_view(self) -> bool {
        matches!(self, EventType::Page | EventType::Screen)
    }
}

/// Which API the event came through: the native API requires `message_id`; Segment SDKs always send one, but
/// other senders of the Segment format may not, so there a missing id is derived from the content (a retry of
/// the same payload is then still recognised).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Native,
    Segment,
}

/// What a person allowed, by category (lower-case: `analytics`, `personalization`, `advertising`, …). A category
/// that is not mentioned is allowed: consent is collected upstream, and only an explicit `false` withholds it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
#[serde(transparent)]
pub struct Consent(pub BTreeMap<String, bool>);

impl Consent {
    pub const ANALYTICS: &'static str = "analytics";
    pub const PERSONALIZATION: &'static str = "personalization";

    pub fn allows(&self, category: &str) -> bool {
        self.0.get(category).copied().unwrap_or(true)
    }

    /// Reads `{"analytics": true, "personalization": false}` and Segment's
    /// `{"categoryPreferences": {"Analytics": true, …}}` alike.
    pub fn parse(value: Option<&Value>) -> Consent {
        let mut categories = BTreeMap::new();
        if let Some(Value::Object(object)) = value {
            let preferences = object.get("categoryPreferences").and_then(Value::as_object);
            for (name, allowed) in object.iter().chain(preferences.into_iter().flatten()) {
                if let Some(allowed) = allowed.as_bool() {
                    categories.insert(name.trim().to_ascii_lowercase(), allowed);
                }
            }
        }
        Consent(categories)
    }
}

/// An accepted event, normalized.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub message_id: String,
    pub kind: EventType,
    /// Track: the event name; page/screen: the page name, when given.
    pub event: Option<String>,
    pub user_id: Option<String>,
    pub anonymous_id: Option<String>,
    /// Alias: the id being merged into `user_id`.
    pub previous_id: Option<String>,
    /// When it happened, corrected for the sender's clock skew.
    pub timestamp: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    pub channel: String,
    pub properties: Map<String, Value>,
    pub traits: Map<String, Value>,
    /// Shared by the events of a batch that came with the same context (see [`Normalizer`]).
    pub context: Arc<Value>,
    pub consent: Consent,
}

impl Event {
    /// The ids this event carries: each one identifies the same person.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        [&self.user_id, &self.anonymous_id, &self.previous_id].into_iter().flatten().map(String::as_str)
    }

    /// `Some(true)` when this event opts its person out (an identify with the `opted_out` trait), `Some(false)`
    /// when it opts them back in.
    pub fn opt_out_change(&self) -> Option<bool> {
        (self.kind == EventType::Identify).then(|| self.traits.get("opted_out").and_then(Value::as_bool)).flatten()
    }
}

/// Why one event of a batch was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
pub struct Rejection {
    pub index: usize,
    pub code: &'static str,
    pub message: String,
}

fn reject(code: &'static str, message: impl Into<String>) -> (&'static str, String) {
    (code, message.into())
}

/// Batch-wide values a Segment `/v1/batch` body carries once for all its events.
#[derive(Debug, Clone, Default)]
pub struct BatchDefaults {
    pub sent_at: Option<Value>,
    pub context: Option<Map<String, Value>>,
}

/// Normalizes one raw event received at `received_at`; `index` is its position in the batch.
pub fn normalize(
    index: usize,
    raw: &Value,
    dialect: Dialect,
    defaults: &BatchDefaults,
    received_at: DateTime<Utc>,
) -> Result<Event, Rejection> {
    Normalizer::new(dialect, defaults, received_at).normalize(index, raw)
}

/// Normalizes the events of one batch. A batch usually comes from one device, and its events repeat the same
/// context: when an event's raw context (and what else its normalized context depends on) equals the previous
/// event's, the normalized context is shared instead of derived again.
pub struct Normalizer<'a> {
    dialect: Dialect,
    defaults: &'a BatchDefaults,
    received_at: DateTime<Utc>,
    previous: Option<ContextMemo>,
}

struct ContextMemo {
    kind: EventType,
    raw_context: Option<Value>,
    /// Page and screen calls also take page fields from their properties.
    view_properties: Option<Value>,
    context: Arc<Value>,
    channel: String,
    consent: Consent,
}

impl<'a> Normalizer<'a> {
    pub fn new(dialect: Dialect, defaults: &'a BatchDefaults, received_at: DateTime<Utc>) -> Self {
        Normalizer { dialect, defaults, received_at, previous: None }
    }

    /// Normalizes one raw event; `index` is its position in the batch.
    pub fn normalize(&mut self, index: usize, raw: &Value) -> Result<Event, Rejection> {
        self.normalize_inner(raw).map_err(|(code, message)| Rejection { index, code, message })
    }

    fn normalize_inner(&mut self, raw: &Value) -> Result<Event, (&'static str, String)> {
        let (dialect, defaults, received_at) = (self.dialect, self.defaults, self.received_at);
        let object = raw.as_object().ok_or_else(|| reject("invalid_event", "an event must be a JSON object"))?;
        let size = serialized_size(raw);
        if size > MAX_EVENT_BYTES {
            return Err(reject(
                "event_too_large",
                format!("the event is {size} bytes; at most {MAX_EVENT_BYTES} are accepted"),
            ));
        }
        let field = |names: &[&str]| names.iter().find_map(|name| object.get(*name)).filter(|v| !v.is_null());

        let kind_text = field(&["type"]).and_then(Value::as_str).unwrap_or(match dialect {
            Dialect::Native => "",
            Dialect::Segment => "track",
        });
        let kind = EventType::parse(kind_text).ok_or_else(|| {
            reject(
                "invalid_type",
                format!("unknown event type '{kind_text}': expected track, page, screen, identify or alias"),
            )
        })?;

        let user_id = id_field(field(&["user_id", "userId"]), "user_id")?;
        let anonymous_id = id_field(field(&["anonymous_id", "anonymousId"]), "anonymous_id")?;
        let previous_id = id_field(field(&["previous_id", "previousId"]), "previous_id")?;
        if user_id.is_none() && anonymous_id.is_none() {
            return Err(reject("missing_identity", "an event needs a user_id or an anonymous_id"));
        }
        if kind == EventType::Alias && (user_id.is_none() || previous_id.is_none()) {
            return Err(reject("missing_identity", "an alias needs both user_id and previous_id"));
        }

        let event = match kind {
            EventType::Track => {
                let name = field(&["event"]).and_then(Value::as_str).map(str::trim).unwrap_or_default();
                if name.is_empty() {
                    return Err(reject("missing_event_name", "a track event needs a non-empty 'event' name"));
                }
                Some(bounded_text(name, "event", MAX_NAME_CHARS)?)
            }
            EventType::Page | EventType::Screen => field(&["name", "event"])
                .and_then(Value::as_str)
                .map(|n| bounded_text(n.trim(), "name", MAX_NAME_CHARS))
                .transpose()?
                .filter(|n| !n.is_empty()),
            EventType::Identify | EventType::Alias => None,
        };

        let properties = object_field(field(&["properties"]), "properties")?;
        let mut traits = object_field(field(&["traits"]), "traits")?;
        let raw_context = field(&["context"]);
        let view_properties = if kind.is_view() { field(&["properties"]) } else { None };
        let reusable = self.previous.as_ref().filter(|previous| {
            // Identify calls also read traits from the context.
            kind != EventType::Identify
                && previous.kind == kind
                && previous.raw_context.as_ref() == raw_context
                && previous.view_properties.as_ref() == view_properties
        });
        let (context, channel, consent) = match reusable {
            Some(previous) => (previous.context.clone(), previous.channel.clone(), previous.consent.clone()),
            None => {
                let mut context = defaults.context.clone().unwrap_or_default();
                context.extend(object_field(raw_context, "context")?);
                if kind == EventType::Identify {
                    // RudderStack's SDKs (and some Segment libraries) send identify traits in `context.traits`;
                    // traits at the top level win where both name the same trait.
                    if let Some(Value::Object(context_traits)) = context.get("traits") {
                        for (name, value) in context_traits {
                            traits.entry(name.clone()).or_insert_with(|| value.clone());
                        }
                    }
                }
                let consent = Consent::parse(context.get("consent"));
                let (context, channel) = normalize_context(&context, &properties, kind);
                let context = Arc::new(context);
                self.previous = Some(ContextMemo {
                    kind,
                    raw_context: raw_context.cloned(),
                    view_properties: view_properties.cloned(),
                    context: context.clone(),
                    channel: channel.clone(),
                    consent: consent.clone(),
                });
                (context, channel, consent)
            }
        };

        let timestamp = time_field(field(&["timestamp", "originalTimestamp", "original_timestamp"]), "timestamp")?;
        let sent_at = time_field(field(&["sent_at", "sentAt"]).or(defaults.sent_at.as_ref()), "sent_at")?;
        let timestamp = corrected_time(timestamp, sent_at, received_at)?;

        let message_id = match id_field(field(&["message_id", "messageId"]), "message_id")? {
            Some(id) => id,
            None if dialect == Dialect::Segment => content_id(raw),
            None => {
                return Err(reject(
                    "missing_message_id",
                    "every event needs a message_id, so that retries are not counted twice",
                ))
            }
        };

        Ok(Event {
            message_id,
            kind,
            event,
            user_id,
            anonymous_id,
            previous_id,
            timestamp,
            received_at,
            channel,
            properties,
            traits,
            context,
            consent,
        })
    }
}

/// The length of `value` as compact JSON, counted without building the text.
fn serialized_size(value: &Value) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    match serde_json::to_writer(&mut counter, value) {
        Ok(()) => counter.0,
        Err(_) => usize::MAX,
    }
}

/// Event time with the sender's clock skew removed: `received_at − (sent_at − timestamp)`. The device measured
/// both `timestamp` and `sent_at` with the same (possibly wrong) clock, so their difference is trustworthy and the
/// server's `received_at` anchors it. Without `sent_at` the timestamp is taken as sent; without either, the
/// receipt time.
pub fn corrected_time(
    timestamp: Option<DateTime<Utc>>,
    sent_at: Option<DateTime<Utc>>,
    received_at: DateTime<Utc>,
) -> Result<DateTime<Utc>, (&'static str, String)> {
    let corrected = match (timestamp, sent_at) {
        (Some(timestamp), Some(sent_at)) => received_at - (sent_at - timestamp),
        (Some(timestamp), None) => timestamp,
        (None, _) => received_at,
    };
    if corrected > received_at + MAX_FUTURE {
        return Err(reject(
            "timestamp_out_of_range",
            format!(
                "the event time {} is more than {} hours in the future",
                corrected.to_rfc3339(),
                MAX_FUTURE.num_hours()
            ),
        ));
    }
    if corrected < received_at - MAX_PAST {
        return Err(reject(
            "timestamp_out_of_range",
            format!("the event time {} is more than {} days in the past", corrected.to_rfc3339(), MAX_PAST.num_days()),
        ));
    }
    Ok(corrected)
}

/// A stable id for an event sent without one: the hash of its content (without the send time, which differs
/// between retries).
fn content_id(raw: &Value) -> String {
    let mut content = raw.clone();
    if let Value::Object(object) = &mut content {
        object.remove("sentAt");
        object.remove("sent_at");
        object.remove("writeKey");
    }
    let digest = Sha256::digest(content.to_string().as_bytes());
    format!("content-{}", hex_prefix(&digest, 16))
}

fn hex_prefix(bytes: &[u8], n: usize) -> String {
    bytes.iter().take(n).map(|b| format!("{b:02x}")).collect()
}

fn id_field(value: Option<&Value>, name: &str) -> Result<Option<String>, (&'static str, String)> {
    let text = match value {
        None => return Ok(None),
        Some(Value::String(s)) => s.trim().to_string(),
        // Some SDKs send numeric user ids.
        Some(Value::Number(n)) => n.to_string(),
        Some(other) => {
            return Err(reject("invalid_field", format!("'{name}' must be a string, not {}", type_name(other))))
        }
    };
    if text.is_empty() {
        return Ok(None);
    }
    bounded_text(&text, name, MAX_ID_CHARS).map(Some)
}

fn bounded_text(text: &str, name: &str, max: usize) -> Result<String, (&'static str, String)> {
    if text.chars().count() > max {
        return Err(reject("invalid_field", format!("'{name}' is longer than {max} characters")));
    }
    Ok(text.to_string())
}

fn object_field(value: Option<&Value>, name: &str) -> Result<Map<String, Value>, (&'static str, String)> {
    match value {
        None => Ok(Map::new()),
        Some(Value::Object(object)) => Ok(object.clone()),
        Some(other) => Err(reject("invalid_field", format!("'{name}' must be an object, not {}", type_name(other)))),
    }
}

fn time_field(value: Option<&Value>, name: &str) -> Result<Option<DateTime<Utc>>, (&'static str, String)> {
    let Some(value) = value else { return Ok(None) };
    let text = value
        .as_str()
        .ok_or_else(|| reject("invalid_timestamp", format!("'{name}' must be an ISO 8601 / RFC 3339 string")))?;
    DateTime::parse_from_rfc3339(text.trim()).map(|t| Some(t.with_timezone(&Utc))).map_err(|_| {
        reject(
            "invalid_timestamp",
            format!("'{name}' is not an ISO 8601 / RFC 3339 time: '{text}' (e.g. 2026-11-25T10:00:00Z)"),
        )
    })
}

pub fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Channels intentlab knows; a sender may name another (a lower-case slug) in `context.channel`.
pub const CHANNELS: &[&str] = &["web", "app", "email", "ads", "social", "sms", "store", "server"];

/// The normalized context kept with an event, and its channel. Kept: device (type, OS, browser, user agent),
/// platform (app or web), location (country, region, city — the IP and coordinates are dropped here, before
/// anything is stored), referrer, campaign (UTM), page or screen, locale, library, plus any other fields the
/// sender added. Consent is stored separately.
pub fn normalize_context(
    context: &Map<String, Value>,
    properties: &Map<String, Value>,
    kind: EventType,
) -> (Value, String) {
    let text = |value: Option<&Value>| {
        value.and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty()).map(String::from)
    };
    let get = |path: &str| {
        let mut current = context.get(path.split('.').next()?)?;
        for segment in path.split('.').skip(1) {
            current = current.get(segment)?;
        }
        Some(current)
    };

    let user_agent = text(get("userAgent").or(get("user_agent")));
    let device = device_info(get("device"), get("os"), user_agent.as_deref());
    let library = text(get("library.name")).unwrap_or_default().to_ascii_lowercase();
    let is_app = get("app").is_some()
        || kind == EventType::Screen
        || matches!(device.os_family.as_str(), "ios" | "android") && user_agent.is_none()
        || ["ios", "android", "react-native", "flutter", "swift", "kotlin"].iter().any(|l| library.contains(l));
    let platform = if is_app {
        "app"
    } else if kind == EventType::Page || get("page").is_some() || user_agent.is_some() {
        "web"
    } else {
        "server"
    };

    let page = page_info(get("page"), properties, kind);
    let campaign = campaign_info(get("campaign"), page.get("url").and_then(Value::as_str));
    let referrer = text(get("referrer.url"))
        .or_else(|| text(get("referrer")))
        .or_else(|| page.get("referrer").and_then(Value::as_str).map(String::from));
    let location: Map<String, Value> = ["country", "region", "city"]
        .into_iter()
        .filter_map(|k| text(get(&format!("location.{k}"))).map(|v| (k.to_string(), Value::String(v))))
        .collect();

    let explicit_channel = text(get("channel")).map(|c| c.to_ascii_lowercase()).filter(|c| is_slug(c));
    let medium = campaign.get("medium").and_then(Value::as_str).unwrap_or_default().to_ascii_lowercase();
    let is_store = get("store").is_some() || library.contains("pos");
    let channel = explicit_channel.or_else(|| medium_channel(&medium).map(String::from)).unwrap_or_else(|| {
        if is_store {
            "store".into()
        } else {
            platform.into()
        }
    });

    let mut normalized = Map::new();
    normalized.insert("channel".into(), json!(channel));
    normalized.insert("platform".into(), json!(platform));
    normalized.insert(
        "device".into(),
        json!({"type": device.kind, "os": device.os, "browser": device.browser, "model": text(get("device.model"))}),
    );
    if let Some(ua) = user_agent {
        normalized.insert("user_agent".into(), json!(ua));
    }
    if !location.is_empty() {
        normalized.insert("location".into(), Value::Object(location));
    }
    if let Some(referrer) = referrer {
        normalized.insert("referrer".into(), json!(referrer));
    }
    if !campaign.is_empty() {
        normalized.insert("campaign".into(), Value::Object(campaign));
    }
    if !page.is_empty() {
        normalized.insert(if kind == EventType::Screen { "screen" } else { "page" }.into(), Value::Object(page));
    }
    for key in ["locale", "timezone", "library", "app"] {
        if let Some(value) = context.get(key) {
            normalized.insert(key.into(), value.clone());
        }
    }
    // Whatever else the sender put in the context is kept as sent — minus what must never be stored.
    const HANDLED: &[&str] = &[
        "ip",
        "userAgent",
        "user_agent",
        "device",
        "os",
        "location",
        "referrer",
        "campaign",
        "page",
        "screen",
        "channel",
        "consent",
        "locale",
        "timezone",
        "library",
        "app",
    ];
    let extra: Map<String, Value> =
        context.iter().filter(|(k, _)| !HANDLED.contains(&k.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect();
    if !extra.is_empty() {
        normalized.insert("extra".into(), Value::Object(extra));
    }
    (Value::Object(normalized), channel)
}

/// Keys of a normalized context that change from one event to the next: where on the site or in the app it happened.
/// The rest (device, user agent, campaign, location, locale, library) repeats over a device's events.
const OWN_CONTEXT_KEYS: &[&str] = &["page", "screen", "referrer"];

/// A normalized context split for storage: what the events of one device repeat (`shared`, stored once for all of
/// them) and what is this event's own (`own`). [`join_context`] puts them back together.
pub fn split_context(context: &Value) -> (Map<String, Value>, Map<String, Value>) {
    let Value::Object(all) = context else { return (Map::new(), Map::new()) };
    all.iter().map(|(k, v)| (k.clone(), v.clone())).partition(|(key, _)| !OWN_CONTEXT_KEYS.contains(&key.as_str()))
}

/// The context [`split_context`] split; events stored before contexts were shared have all of it as their own.
pub fn join_context(shared: Option<Map<String, Value>>, own: Value) -> Value {
    match (shared, own) {
        (Some(mut shared), Value::Object(own)) => {
            shared.extend(own);
            Value::Object(shared)
        }
        (Some(shared), _) => Value::Object(shared),
        (None, own) => own,
    }
}

fn is_slug(text: &str) -> bool {
    !text.is_empty() && text.len() <= 32 && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Paid, email and social traffic is told apart by its campaign medium (UTM conventions).
fn medium_channel(medium: &str) -> Option<&'static str> {
    Some(match medium {
        "email" | "e-mail" | "newsletter" | "crm" => "email",
        "cpc" | "ppc" | "paid" | "paidsearch" | "paid_search" | "display" | "cpm" | "banner" | "retargeting"
        | "paid_social" | "paidsocial" | "affiliate" | "shopping" => "ads",
        "social" | "organic_social" | "social-network" => "social",
        "sms" | "text" | "push" => "sms",
        _ => return None,
    })
}

struct DeviceInfo {
    kind: &'static str,
    os: Option<String>,
    os_family: String,
    browser: Option<String>,
}

/// Device type, OS and browser: from the SDK's `device`/`os` fields when present (apps), else from the user agent.
fn device_info(device: Option<&Value>, os: Option<&Value>, user_agent: Option<&str>) -> DeviceInfo {
    let sdk_type = device.and_then(|d| d.get("type")).and_then(Value::as_str).unwrap_or_default().to_ascii_lowercase();
    let model = device.and_then(|d| d.get("model")).and_then(Value::as_str).unwrap_or_default().to_ascii_lowercase();
    let sdk_os = os.and_then(|o| o.get("name")).and_then(Value::as_str).map(String::from);
    let parsed = user_agent.and_then(parse_user_agent);
    let ua_lower = user_agent.unwrap_or_default().to_ascii_lowercase();

    let tablet =
        model.contains("ipad") || model.contains("tablet") || ua_lower.contains("ipad") || ua_lower.contains("tablet");
    let kind = match (sdk_type.as_str(), parsed.as_ref().map(|p| p.category.as_str())) {
        ("mobile" | "phone" | "ios" | "android", _) if !tablet => "mobile",
        ("tablet" | "ios" | "android", _) => "tablet",
        ("desktop" | "pc", _) => "desktop",
        (_, Some("smartphone" | "mobilephone")) if !tablet => "mobile",
        (_, Some("smartphone" | "mobilephone")) => "tablet",
        (_, Some("pc")) if tablet => "tablet",
        (_, Some("pc")) => "desktop",
        (_, Some("crawler")) => "bot",
        _ if sdk_type.is_empty() && parsed.is_none() => "unknown",
        _ => "other",
    };
    let known = |s: &str| s != "UNKNOWN" && !s.is_empty();
    let os_name = sdk_os.or_else(|| parsed.as_ref().map(|p| p.os.to_string()).filter(|s| known(s)));
    let os_family = match (sdk_type.as_str(), os_name.as_deref().map(str::to_ascii_lowercase)) {
        ("ios", _) => "ios".to_string(),
        ("android", _) => "android".to_string(),
        (_, Some(os)) if os.contains("ios") || os.contains("iphone") || os.contains("ipad") => "ios".to_string(),
        (_, Some(os)) if os.contains("android") => "android".to_string(),
        (_, Some(os)) => os,
        _ => String::new(),
    };
    let browser = parsed.as_ref().map(|p| p.name.to_string()).filter(|s| known(s));
    DeviceInfo { kind, os: os_name, os_family, browser }
}

/// What the user-agent parser says about a browser; user agents repeat endlessly, so answers are remembered.
#[derive(Clone)]
struct UserAgent {
    category: String,
    os: String,
    name: String,
}

fn parse_user_agent(ua: &str) -> Option<UserAgent> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static KNOWN: OnceLock<Mutex<HashMap<String, Option<UserAgent>>>> = OnceLock::new();
    const REMEMBERED: usize = 10_000;
    let known = KNOWN.get_or_init(Mutex::default);
    if let Some(answer) = known.lock().unwrap_or_else(|p| p.into_inner()).get(ua) {
        return answer.clone();
    }
    let answer = woothee::parser::Parser::new().parse(ua).map(|p| UserAgent {
        category: p.category.to_string(),
        os: p.os.to_string(),
        name: p.name.to_string(),
    });
    let mut known = known.lock().unwrap_or_else(|p| p.into_inner());
    if known.len() >= REMEMBERED {
        known.clear();
    }
    known.insert(ua.to_string(), answer.clone());
    answer
}

/// Page fields from `context.page`, filled in from the properties of a page call (where analytics.js puts them).
fn page_info(page: Option<&Value>, properties: &Map<String, Value>, kind: EventType) -> Map<String, Value> {
    let mut info = Map::new();
    for key in ["path", "url", "title", "referrer", "search", "name"] {
        let value = page
            .and_then(|p| p.get(key))
            .or_else(|| kind.is_view().then(|| properties.get(key)).flatten())
            .filter(|v| v.is_string());
        if let Some(value) = value {
            info.insert(key.into(), value.clone());
        }
    }
    info
}

/// Campaign (UTM) fields from `context.campaign`, else from the page URL's `utm_*` parameters.
fn campaign_info(campaign: Option<&Value>, url: Option<&str>) -> Map<String, Value> {
    const FIELDS: [&str; 5] = ["source", "medium", "name", "term", "content"];
    let mut info = Map::new();
    if let Some(Value::Object(given)) = campaign {
        for key in FIELDS {
            if let Some(value) = given.get(key).filter(|v| v.is_string()) {
                info.insert(key.into(), value.clone());
            }
        }
    }
    if info.is_empty() {
        let query = url.and_then(|u| u.split_once('?')).map(|(_, q)| q.split('#').next().unwrap_or(q)).unwrap_or("");
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            let field = match name.strip_prefix("utm_") {
                Some("campaign") => "name",
                Some(other) if FIELDS.contains(&other) => other,
                _ => continue,
            };
            if !value.is_empty() {
                info.insert(field.into(), json!(value));
            }
        }
    }
    info
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    fn native(raw: Value) -> Result<Event, Rejection> {
        normalize(0, &raw, Dialect::Native, &BatchDefaults::default(), at("2026-11-25T12:00:00Z"))
    }

    #[test]
    fn clock_skew_is_removed_using_the_senders_own_clock() {
        // The device clock is 2 hours fast: it says the event happened at 14:00 and was sent at 14:05.
        let event = native(json!({
            "message_id": "m1", "type": "track", "event": "Product Viewed", "anonymous_id": "a1",
            "timestamp": "2026-11-25T14:00:00Z", "sent_at": "2026-11-25T14:05:00Z"
        }))
        .unwrap();
        assert_eq!(event.timestamp, at("2026-11-25T11:55:00Z"));
        // Without sent_at the timestamp is taken as is; without both, the receipt time.
        let plain = native(
            json!({"message_id": "m", "type": "page", "anonymous_id": "a", "timestamp": "2026-11-25T11:00:00+01:00"}),
        );
        assert_eq!(plain.unwrap().timestamp, at("2026-11-25T10:00:00Z"));
        let none = native(json!({"message_id": "m", "type": "page", "anonymous_id": "a"}));
        assert_eq!(none.unwrap().timestamp, at("2026-11-25T12:00:00Z"));
    }

    #[test]
    fn absurd_times_are_refused_with_a_reason() {
        let future = native(
            json!({"message_id": "m", "type": "page", "anonymous_id": "a", "timestamp": "2027-01-01T00:00:00Z"}),
        );
        assert_eq!(future.unwrap_err().code, "timestamp_out_of_range");
        let past = native(
            json!({"message_id": "m", "type": "page", "anonymous_id": "a", "timestamp": "2001-01-01T00:00:00Z"}),
        );
        let err = past.unwrap_err();
        assert_eq!(err.code, "timestamp_out_of_range");
        assert!(err.message.contains("in the past"), "{}", err.message);
        let garbage = native(json!({"message_id": "m", "type": "page", "anonymous_id": "a", "timestamp": "yesterday"}));
        assert_eq!(garbage.unwrap_err().code, "invalid_timestamp");
    }

    #[test]
    fn each_broken_rule_has_its_own_code() {
        let cases = [
            (json!([1]), "invalid_event"),
            (json!({"message_id": "m", "type": "click", "anonymous_id": "a"}), "invalid_type"),
            (json!({"message_id": "m", "type": "track", "anonymous_id": "a"}), "missing_event_name"),
            (json!({"message_id": "m", "type": "track", "event": "X"}), "missing_identity"),
            (json!({"message_id": "m", "type": "alias", "user_id": "u"}), "missing_identity"),
            (json!({"type": "track", "event": "X", "user_id": "u"}), "missing_message_id"),
            (
                json!({"message_id": "m", "type": "track", "event": "X", "user_id": "u", "properties": [1]}),
                "invalid_field",
            ),
            (json!({"message_id": {"a": 1}, "type": "track", "event": "X", "user_id": "u"}), "invalid_field"),
            (
                json!({"message_id": "m", "type": "track", "event": "X", "user_id": "u", "properties": {"blob": "x".repeat(40_000)}}),
                "event_too_large",
            ),
        ];
        for (raw, code) in cases {
            assert_eq!(native(raw.clone()).unwrap_err().code, code, "{raw}");
        }
    }

    #[test]
    fn the_size_limit_counts_the_compact_json_text() {
        let raw = json!({"message_id": "m", "properties": {"name": "Jürgen \"J\" Ötzi", "n": [1.5, null, true]}});
        assert_eq!(serialized_size(&raw), serde_json::to_string(&raw).unwrap().len());
    }

    #[test]
    fn segment_spelling_and_batch_defaults_are_understood() {
        let defaults = BatchDefaults {
            sent_at: Some(json!("2026-11-25T12:10:00Z")),
            context: Some(json!({"library": {"name": "analytics-python"}}).as_object().unwrap().clone()),
        };
        let raw = json!({"type": "track", "event": "Product Added", "userId": 42, "anonymousId": "anon-1",
                         "timestamp": "2026-11-25T12:09:00Z", "properties": {"sku": "S1"}});
        let event = normalize(3, &raw, Dialect::Segment, &defaults, at("2026-11-25T12:00:00Z")).unwrap();
        assert_eq!(event.user_id.as_deref(), Some("42"));
        assert_eq!(event.timestamp, at("2026-11-25T11:59:00Z"));
        assert!(event.message_id.starts_with("content-"));
        // The derived id is stable across retries that differ only in their send time.
        let mut retry = raw.clone();
        retry["sentAt"] = json!("2026-11-25T12:11:00Z");
        let again = normalize(0, &retry, Dialect::Segment, &defaults, at("2026-11-25T12:00:00Z")).unwrap();
        assert_eq!(again.message_id, event.message_id);
        assert_eq!(event.context["library"]["name"], "analytics-python");
        assert_eq!(event.channel, "server");
    }

    #[test]
    fn events_of_a_batch_share_a_repeated_context_and_only_that() {
        let defaults = BatchDefaults::default();
        let mut normalizer = Normalizer::new(Dialect::Native, &defaults, at("2026-11-25T12:00:00Z"));
        let mut next = |raw: Value| normalizer.normalize(0, &raw).unwrap();
        let context = json!({"userAgent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0", "locale": "de-DE"});
        let track = |id: &str, context: &Value| json!({"message_id": id, "type": "track", "event": "X", "anonymous_id": "a", "context": context});
        let first = next(track("1", &context));
        let second = next(track("2", &context));
        assert!(Arc::ptr_eq(&first.context, &second.context));
        assert_eq!(first.channel, second.channel);

        let mut other = context.clone();
        other["campaign"] = json!({"medium": "email"});
        let third = next(track("3", &other));
        assert!(!Arc::ptr_eq(&second.context, &third.context));
        assert_eq!((second.channel.as_str(), third.channel.as_str()), ("web", "email"));

        // A page call's context also depends on its properties, and on being a page call.
        let page = |id: &str, path: &str| json!({"message_id": id, "type": "page", "anonymous_id": "a", "context": other, "properties": {"path": path}});
        let (p1, p2) = (next(page("4", "/a")), next(page("5", "/b")));
        assert!(!Arc::ptr_eq(&third.context, &p1.context));
        assert_eq!(
            (p1.context["page"]["path"].as_str(), p2.context["page"]["path"].as_str()),
            (Some("/a"), Some("/b"))
        );

        // Identify calls take traits from their context every time.
        let identify = |id: &str| json!({"message_id": id, "type": "identify", "user_id": "u", "context": {"traits": {"plan": "gold"}}});
        assert_eq!(next(identify("6")).traits["plan"], "gold");
        assert_eq!(next(identify("7")).traits["plan"], "gold");
    }

    #[test]
    fn context_is_normalized_and_the_ip_dropped() {
        let raw = json!({
            "message_id": "m", "type": "page", "anonymous_id": "a",
            "properties": {"url": "https://shop.example/p/1?utm_source=newsletter&utm_medium=email&utm_campaign=black%20friday", "path": "/p/1"},
            "context": {
                "ip": "203.0.113.9",
                "userAgent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
                "location": {"country": "DE", "city": "Berlin", "latitude": 52.5},
                "consent": {"categoryPreferences": {"Analytics": true, "Personalization": false}},
                "groupId": "g1"
            }
        });
        let event = native(raw).unwrap();
        let text = event.context.to_string();
        assert!(!text.contains("203.0.113.9") && !text.contains("52.5"), "{text}");
        assert_eq!(event.context["device"]["type"], "mobile");
        assert_eq!(event.context["platform"], "web");
        assert_eq!(event.context["location"], json!({"country": "DE", "city": "Berlin"}));
        assert_eq!(
            event.context["campaign"],
            json!({"source": "newsletter", "medium": "email", "name": "black friday"})
        );
        assert_eq!(event.context["page"]["path"], "/p/1");
        assert_eq!(event.context["extra"], json!({"groupId": "g1"}));
        assert_eq!(event.channel, "email");
        assert!(event.consent.allows(Consent::ANALYTICS));
        assert!(!event.consent.allows(Consent::PERSONALIZATION));
    }

    #[test]
    fn channels_are_derived_when_not_given() {
        let channel =
            |context: Value, kind: EventType| normalize_context(context.as_object().unwrap(), &Map::new(), kind).1;
        assert_eq!(channel(json!({"channel": "Store"}), EventType::Track), "store");
        assert_eq!(channel(json!({"app": {"name": "Shop"}, "device": {"type": "ios"}}), EventType::Track), "app");
        assert_eq!(channel(json!({"campaign": {"medium": "cpc"}}), EventType::Page), "ads");
        assert_eq!(channel(json!({"library": {"name": "acme-pos"}}), EventType::Track), "store");
        assert_eq!(
            channel(json!({"userAgent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0"}), EventType::Track),
            "web"
        );
        assert_eq!(channel(json!({}), EventType::Track), "server");
        assert_eq!(channel(json!({}), EventType::Screen), "app");
    }

    #[test]
    fn consent_reads_both_shapes_and_defaults_to_allowed() {
        assert!(Consent::parse(None).allows(Consent::ANALYTICS));
        assert!(!Consent::parse(Some(&json!({"analytics": false}))).allows(Consent::ANALYTICS));
        assert!(!Consent::parse(Some(&json!({"categoryPreferences": {"Analytics": false}}))).allows("analytics"));
    }

    #[test]
    fn identify_traits_may_come_in_the_context() {
        let raw = json!({"message_id": "m", "type": "identify", "user_id": "u",
                         "traits": {"plan": "gold"}, "context": {"traits": {"plan": "silver", "email": "a@b.example"}}});
        let event = native(raw).unwrap();
        assert_eq!(Value::Object(event.traits), json!({"plan": "gold", "email": "a@b.example"}));
    }

    #[test]
    fn identify_traits_carry_opt_outs() {
        let event =
            native(json!({"message_id": "m", "type": "identify", "user_id": "u", "traits": {"opted_out": true}}))
                .unwrap();
        assert_eq!(event.opt_out_change(), Some(true));
        let track = native(
            json!({"message_id": "m", "type": "track", "event": "X", "user_id": "u", "traits": {"opted_out": true}}),
        );
        assert_eq!(track.unwrap().opt_out_change(), None);
    }

    #[test]
    fn a_context_splits_into_what_a_device_repeats_and_what_is_the_events_own_and_joins_back() {
        let page = |path: &str| {
            native(json!({"message_id": "m", "type": "page", "anonymous_id": "a", "properties": {"path": path},
                          "context": {"userAgent": "Mozilla/5.0 (Macintosh) Firefox/120.0", "locale": "de-DE",
                                      "referrer": {"url": "https://search.example/"}}}))
            .unwrap()
            .context
        };
        let (first, second) = (page("/a"), page("/b"));
        let (shared, own) = split_context(&first);
        assert_eq!(shared, split_context(&second).0, "two pages of one device share the rest of their context");
        assert!(shared.contains_key("user_agent") && shared.contains_key("device") && shared.contains_key("locale"));
        assert_eq!(own.keys().collect::<Vec<_>>(), ["page", "referrer"]);
        assert_eq!(join_context(Some(shared), Value::Object(own)), *first);
        // Stored before contexts were shared: the whole context is the event's own.
        assert_eq!(join_context(None, (*first).clone()), *first);
    }
}
