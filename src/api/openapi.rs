//! The OpenAPI 3.1 document of every endpoint: what each path takes and answers, who may call it, and the one
//! error shape. Schemas are generated from the very types the handlers read and write (`schemars`, honouring
//! their serde attributes, with their doc comments as descriptions), so the document cannot drift from the
//! code; the operations are listed here once, and a test compares them with the router's endpoints.
//!
//! Served at `GET /api/v1/openapi.json`; `docs/openapi.json` is the same document, checked by a test.

use app::auth::limits::PER_CLIENT_PER_MINUTE;
use schemars::generate::{Contract, SchemaSettings};
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde_json::{json, Map, Value};
use std::sync::OnceLock;

/// The document, built once per process.
pub fn document() -> &'static Value {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    DOCUMENT.get_or_init(build)
}

/// Who may call an operation, as the document's security requirement and a sentence.
#[derive(Clone, Copy)]
enum Access {
    /// No credentials needed.
    Public,
    /// A signed-in person of `role` or more, or a key with `scope`.
    Either { role: &'static str, scope: &'static str },
    /// A signed-in person or a key, whatever their rights.
    Anyone,
    /// An API key with `scope` only.
    Key { scope: &'static str },
    /// An API key with the `ingest` scope, as Bearer, HTTP Basic user name or `writeKey` in the body.
    WriteKey,
}

impl Access {
    fn security(self) -> Value {
        match self {
            Access::Public => json!([]),
            Access::Either { .. } | Access::Anyone => json!([{"session": []}, {"apiKey": []}]),
            Access::Key { .. } => json!([{"apiKey": []}]),
            Access::WriteKey => json!([{"apiKey": []}, {"writeKey": []}]),
        }
    }

    fn sentence(self) -> String {
        match self {
            Access::Public => "No credentials needed.".into(),
            Access::Either { role, scope } => {
                format!("Signed in with the {role} role or more, or an API key with the `{scope}` scope.")
            }
            Access::Anyone => "Any credentials: a session or an API key.".into(),
            Access::Key { scope } => format!("An API key with the `{scope}` scope; a session alone is refused."),
            Access::WriteKey => "A write key (an API key with the `ingest` scope), as `Authorization: Bearer`, as \
                                 the HTTP Basic user name, or as `writeKey` in the body."
                .into(),
        }
    }
}

const RESULTS: Access = Access::Either { role: "viewer", scope: "read" };
const READ: Access = Access::Either { role: "editor", scope: "read" };
const WRITE: Access = Access::Either { role: "editor", scope: "admin" };
const ADMIN: Access = Access::Either { role: "admin", scope: "admin" };
const ASSIGN: Access = Access::Either { role: "editor", scope: "assign" };
const INGEST: Access = Access::Either { role: "editor", scope: "ingest" };

/// Builds operations, collecting the schemas they refer to: responses as serialized, bodies and queries as
/// deserialized (`default`ed fields are optional there, not in answers).
struct Builder {
    answers: SchemaGenerator,
    inputs: SchemaGenerator,
    paths: Map<String, Value>,
}

/// One operation being described.
struct Operation<'b> {
    builder: &'b mut Builder,
    method: &'static str,
    path: &'static str,
    body: Value,
}

impl Builder {
    fn new() -> Self {
        let generator = |contract: Contract| {
            let mut settings = SchemaSettings::draft2020_12();
            settings.definitions_path = "/components/schemas".into();
            settings.contract = contract;
            settings.into_generator()
        };
        Self { answers: generator(Contract::Serialize), inputs: generator(Contract::Deserialize), paths: Map::new() }
    }

    fn op(
        &mut self,
        method: &'static str,
        path: &'static str,
        tag: &str,
        summary: &str,
        access: Access,
    ) -> Operation<'_> {
        let mut parameters = Vec::new();
        for name in path.split('/').filter_map(|s| s.strip_prefix('{')?.strip_suffix('}')) {
            let schema = if name == "id" && !shopper_id(path) {
                json!({"type": "integer", "format": "int64"})
            } else {
                json!({"type": "string", "minLength": 1})
            };
            parameters.push(json!({"name": name, "in": "path", "required": true, "schema": schema}));
        }
        let body = json!({
            "tags": [tag],
            "summary": summary,
            "description": access.sentence(),
            "operationId": operation_id(method, path),
            "security": access.security(),
            "parameters": parameters,
            "responses": {"default": {"$ref": "#/components/responses/Error"}},
        });
        Operation { builder: self, method, path, body }
    }

    fn build(self) -> Value {
        let Builder { mut answers, mut inputs, paths } = self;
        let mut schemas = answers.take_definitions(true);
        let inputs = inputs.take_definitions(true);
        // A type read and written alike is one schema; where reading it differs (defaults make fields
        // optional), the input version is `<Name>Input` and the request schemas point at it.
        let renamed: Vec<String> = inputs
            .iter()
            .filter(|(name, schema)| schemas.get(*name).is_some_and(|s| s != *schema))
            .map(|(n, _)| n.clone())
            .collect();
        let mut paths = Value::Object(paths);
        for (name, mut schema) in inputs {
            rename_refs(&mut schema, &renamed);
            let name = if renamed.contains(&name) { format!("{name}Input") } else { name };
            schemas.entry(name).or_insert(schema);
        }
        rename_input_refs(&mut paths, &renamed);
        for schema in schemas.values_mut() {
            close_objects(schema);
        }
        schemas.insert("Error".into(), error_schema());
        schemas.insert("OfrepError".into(), ofrep_error_schema());
        json!({
            "openapi": "3.1.0",
            "info": {
                "title": "intentlab",
                "version": env!("CARGO_PKG_VERSION"),
                "description": "Experiments on shoppers' micro-conversions: the REST API (`/api/v1`), the OpenFeature \
                                Remote Evaluation Protocol (`/ofrep/v1`) and the Segment-compatible tracking API \
                                (`/v1`). Backend services send `Authorization: Bearer <API key>`; the browser uses \
                                the session cookie (and must send state changes from intentlab's own pages). Every \
                                4xx and 5xx answers the `Error` shape."
            },
            "servers": [{"url": "/"}],
            "components": {
                "securitySchemes": {
                    "apiKey": {"type": "http", "scheme": "bearer", "description": "An API key (`il_…`)."},
                    "session": {"type": "apiKey", "in": "cookie", "name": "intentlab_session", "description": "The session of a person signed in with `POST /api/v1/auth/login`."},
                    "writeKey": {"type": "http", "scheme": "basic", "description": "Segment's SDKs: the write key as the user name."}
                },
                "responses": {
                    "OfrepError": {
                        "description": "An OFREP error: the protocol's `errorCode` and `errorDetails` (and the flag's `key`), with intentlab's `error` envelope beside them.",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/OfrepError"}}}
                    },
                    "Error": {
                        "description": format!("An error: 400 invalid or malformed input, 401 no or bad credentials, 403 not allowed (also a cross-site state change), 404, 405, 409 conflict, 413 too large, 415 not JSON, 429 too many requests ({PER_CLIENT_PER_MINUTE} sign-ins a minute per address; `Retry-After` says when to retry), 500, 503 unavailable or at capacity (`Retry-After`)."),
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
                    }
                },
                "schemas": schemas,
            },
            "paths": paths,
        })
    }
}

impl Operation<'_> {
    /// A JSON request body of type `T`.
    fn body<T: JsonSchema>(mut self) -> Self {
        let schema = self.builder.inputs.subschema_for::<T>();
        self.body["requestBody"] =
            json!({"required": true, "content": {"application/json": {"schema": mark_input(schema)}}});
        self
    }

    /// A JSON request body described by `schema`.
    fn body_schema(mut self, schema: Value) -> Self {
        self.body["requestBody"] = json!({"required": true, "content": {"application/json": {"schema": schema}}});
        self
    }

    /// A JSON merge patch (RFC 7396) of `T`'s fields.
    fn merge_patch(mut self, what: &str) -> Self {
        self.body["requestBody"] = json!({
            "required": true,
            "description": format!("A JSON merge patch: the {what}'s fields to change, `null` to clear one."),
            "content": {"application/json": {"schema": {"type": "object"}}, "application/merge-patch+json": {"schema": {"type": "object"}}}
        });
        self
    }

    /// Query parameters: the properties of `T`, each optional unless `T` requires it.
    fn query<T: JsonSchema>(mut self) -> Self {
        let schema = self.builder.inputs.root_schema_for::<T>();
        let schema = schema.as_value();
        let required: Vec<&str> =
            schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        if let Some(properties) = schema["properties"].as_object() {
            for (name, property) in properties {
                let mut parameter_schema = property.clone();
                if let Some(object) = parameter_schema.as_object_mut() {
                    object.remove("default");
                }
                self.param(json!({
                    "name": name,
                    "in": "query",
                    "required": required.contains(&name.as_str()),
                    "description": property.get("description").cloned().unwrap_or(Value::Null),
                    "schema": parameter_schema,
                }));
            }
        }
        self
    }

    fn param(&mut self, mut parameter: Value) {
        if parameter["description"].is_null() {
            if let Some(object) = parameter.as_object_mut() {
                object.remove("description");
            }
        }
        if let Some(list) = self.body["parameters"].as_array_mut() {
            list.push(parameter);
        }
    }

    /// One query parameter.
    fn query_param(mut self, name: &str, schema: Value, description: &str) -> Self {
        self.param(
            json!({"name": name, "in": "query", "required": false, "description": description, "schema": schema}),
        );
        self
    }

    /// Answers `status` with a JSON body of type `T`.
    fn answers<T: JsonSchema>(mut self, status: u16, description: &str) -> Self {
        let schema = self.builder.answers.subschema_for::<T>();
        self.body["responses"][status.to_string()] =
            json!({"description": description, "content": {"application/json": {"schema": schema}}});
        self
    }

    /// Answers `status` with a JSON body described by `schema`.
    fn answers_schema(mut self, status: u16, description: &str, schema: Value) -> Self {
        self.body["responses"][status.to_string()] =
            json!({"description": description, "content": {"application/json": {"schema": schema}}});
        self
    }

    /// Answers `status` with no body.
    fn empty(mut self, status: u16, description: &str) -> Self {
        self.body["responses"][status.to_string()] = json!({"description": description});
        self
    }

    /// Errors in OFREP's shape (which includes intentlab's).
    fn ofrep_errors(mut self) -> Self {
        self.body["responses"]["default"] = json!({"$ref": "#/components/responses/OfrepError"});
        self
    }

    /// Also answers in other formats (`format=csv|md`).
    fn also_as(mut self, status: u16, types: &[&str]) -> Self {
        for content_type in types {
            self.body["responses"][status.to_string()]["content"][*content_type] =
                json!({"schema": {"type": "string"}});
        }
        self
    }

    fn done(self) {
        let entry = self.builder.paths.entry(self.path.to_string()).or_insert_with(|| json!({}));
        entry[self.method.to_ascii_lowercase()] = self.body;
    }
}

/// Whether a path's `{id}` is a shopper's id (any string a shop uses) rather than one of intentlab's row ids.
fn shopper_id(path: &str) -> bool {
    ["/api/v1/profiles/", "/api/v1/units/", "/api/v1/users/{id}/opt-"].iter().any(|prefix| path.starts_with(prefix))
}

fn operation_id(method: &str, path: &str) -> String {
    let words: Vec<String> = path
        .split(['/', '-', '.'])
        .filter(|s| !s.is_empty() && *s != "api" && *s != "v1")
        .map(|s| s.trim_matches(|c| c == '{' || c == '}').to_string())
        .collect();
    format!("{}_{}", method.to_ascii_lowercase(), words.join("_"))
}

/// Marks a request schema's reference for renaming once it is known whether the input differs.
fn mark_input(schema: Schema) -> Value {
    let mut value = schema.to_value();
    mark(&mut value);
    value
}

const INPUT_MARK: &str = "x-intentlab-input";

fn mark(value: &mut Value) {
    match value {
        Value::Object(object) => {
            if object.contains_key("$ref") {
                object.insert(INPUT_MARK.into(), Value::Bool(true));
            }
            object.values_mut().for_each(mark);
        }
        Value::Array(items) => items.iter_mut().for_each(mark),
        _ => {}
    }
}

/// Points marked request references at the `Input` versions of renamed schemas, and removes the marks.
fn rename_input_refs(value: &mut Value, renamed: &[String]) {
    match value {
        Value::Object(object) => {
            if object.remove(INPUT_MARK).is_some() {
                rename_ref(object, renamed);
            }
            object.values_mut().for_each(|v| rename_input_refs(v, renamed));
        }
        Value::Array(items) => items.iter_mut().for_each(|v| rename_input_refs(v, renamed)),
        _ => {}
    }
}

/// Inside an input schema, every reference to a renamed schema points at its `Input` version.
fn rename_refs(value: &mut Value, renamed: &[String]) {
    match value {
        Value::Object(object) => {
            rename_ref(object, renamed);
            object.values_mut().for_each(|v| rename_refs(v, renamed));
        }
        Value::Array(items) => items.iter_mut().for_each(|v| rename_refs(v, renamed)),
        _ => {}
    }
}

fn rename_ref(object: &mut Map<String, Value>, renamed: &[String]) {
    let Some(Value::String(reference)) = object.get_mut("$ref") else { return };
    if let Some(name) = reference.strip_prefix("#/components/schemas/") {
        if renamed.iter().any(|r| r == name) {
            *reference = format!("{reference}Input");
        }
    }
}

/// Objects with declared properties and nothing said about others allow no others: an answer with a field
/// the document does not describe fails validation, so the document cannot fall behind the code.
fn close_objects(value: &mut Value) {
    match value {
        Value::Object(object) => {
            let has_properties = object.get("properties").is_some_and(Value::is_object);
            // A schema combining others (allOf/oneOf) is closed by its parts.
            let combines = ["allOf", "anyOf", "oneOf"].iter().any(|k| object.contains_key(*k));
            if has_properties && !combines && !object.contains_key("additionalProperties") {
                object.insert("additionalProperties".into(), Value::Bool(false));
            }
            object.values_mut().for_each(close_objects);
        }
        Value::Array(items) => items.iter_mut().for_each(close_objects),
        _ => {}
    }
}

fn ofrep_error_schema() -> Value {
    let mut schema = error_schema();
    schema["description"] = json!("An OFREP evaluation error (`TARGETING_KEY_MISSING`, `INVALID_CONTEXT`, `PARSE_ERROR`, `FLAG_NOT_FOUND`, …), with intentlab's error envelope; other failures (credentials, limits) answer the `Error` shape alone.");
    schema["properties"]["errorCode"] = json!({"type": "string"});
    schema["properties"]["errorDetails"] = json!({"type": "string"});
    schema["properties"]["key"] = json!({"type": "string"});
    schema
}

fn error_schema() -> Value {
    json!({
        "description": "The one error shape: a stable snake_case `code` clients may match on, and a message for people. 5xx messages are generic and name the request's id (`x-request-id`).",
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string", "examples": ["invalid_input", "unauthenticated", "forbidden", "not_found", "too_many_requests"]},
                    "message": {"type": "string"}
                },
                "additionalProperties": false
            },
            "code": {"type": "string", "description": "The tracking API (`/v1`) repeats the code here, where Segment's SDKs read it."},
            "message": {"type": "string", "description": "The tracking API repeats the message here."}
        },
        "additionalProperties": false
    })
}

/// Any JSON object (free-form: event properties, traits, context).
fn object() -> Value {
    json!({"type": "object"})
}

fn build() -> Value {
    use app::domain::playbook::{
        ConcludeRequest, EntryDetail, FollowUpRequest, PlaybookEntry, PlaybookQuery, ReanalyzeRequest, ShareLink,
        ShareRequest, SharedView, SignalRecord,
    };
    use app::domain::stats::calculator::{
        AdjustRequest, AdjustResponse, CompareRequest, CompareResponse, PowerRequest, PowerResponse,
    };
    use app::domain::stats::results::{ExperimentResults, ResultsQuery};
    use app::model::*;

    let mut b = Builder::new();
    let (
        health,
        auth,
        users,
        keys,
        experiments,
        playbook,
        assignment,
        settings,
        events,
        profiles,
        signals,
        metrics,
        stats,
        ofrep,
        tracking,
    ) = (
        "Health",
        "Sign-in",
        "Users",
        "API keys",
        "Experiments",
        "Playbook",
        "Assignment",
        "Settings",
        "Events",
        "Profiles",
        "Signals",
        "Metrics",
        "Statistics",
        "OpenFeature (OFREP)",
        "Tracking (Segment-compatible)",
    );

    b.op("GET", "/healthz", health, "The process is alive", Access::Public)
        .answers_schema(200, "Alive", json!({"type": "object", "properties": {"status": {"const": "ok"}, "version": {"type": "string"}}, "required": ["status", "version"]}))
        .done();
    b.op("GET", "/readyz", health, "The database answers and every migration is applied (503 otherwise)", Access::Public)
        .answers_schema(200, "Ready", json!({"type": "object", "required": ["status", "database", "migrations", "exposures"], "properties": {
            "status": {"const": "ready"}, "database": {"enum": ["sqlite", "postgres"]}, "migrations": {"type": "integer"},
            "exposures": {"type": "object", "properties": {"queued": {"type": "integer"}, "written": {"type": "integer"}, "shed": {"type": "integer"}}}}}))
        .done();

    b.op("POST", "/api/v1/auth/login", auth, "Sign in: a session cookie for the browser", Access::Public)
        .body::<crate::api::auth::LoginRequest>()
        .answers::<Me>(200, "Signed in; the session cookie is set")
        .done();
    b.op("POST", "/api/v1/auth/logout", auth, "End the session (harmless twice)", Access::Public)
        .empty(204, "Signed out")
        .done();
    b.op("GET", "/api/v1/me", auth, "Who is calling", Access::Anyone).answers::<Me>(200, "The caller").done();

    b.op("GET", "/api/v1/users", users, "List the people who sign in", ADMIN).answers::<Vec<User>>(200, "Users").done();
    b.op("POST", "/api/v1/users", users, "Add a person", ADMIN)
        .body::<NewUser>()
        .answers::<User>(201, "Created")
        .done();
    b.op("PATCH", "/api/v1/users/{id}", users, "Change a person's role or disable them", ADMIN)
        .body::<UserChange>()
        .answers::<User>(200, "Changed (a lowered role ends the person's sessions)")
        .done();

    b.op("GET", "/api/v1/api-keys", keys, "List API keys (never their secrets)", ADMIN)
        .answers::<Vec<ApiKey>>(200, "Keys")
        .done();
    b.op("POST", "/api/v1/api-keys", keys, "Create a key: the secret is shown once", ADMIN)
        .body::<NewApiKey>()
        .answers::<CreatedApiKey>(201, "Created, with its secret")
        .done();
    b.op("POST", "/api/v1/api-keys/{id}/revoke", keys, "Revoke a key", ADMIN).answers::<ApiKey>(200, "Revoked").done();

    b.op("GET", "/api/v1/experiments", experiments, "List experiments", RESULTS)
        .answers::<Vec<Experiment>>(200, "Experiments")
        .done();
    b.op("POST", "/api/v1/experiments", experiments, "Design an experiment (a draft)", WRITE)
        .body::<app::domain::experiment::ExperimentSpec>()
        .answers::<Experiment>(201, "Created")
        .done();
    b.op("GET", "/api/v1/experiments/{key}", experiments, "One experiment, with its history and exposures", RESULTS)
        .answers::<Experiment>(200, "The experiment")
        .done();
    b.op(
        "PATCH",
        "/api/v1/experiments/{key}",
        experiments,
        "Change an experiment (after the start: coverage, name, description, secondary and guardrail metrics)",
        WRITE,
    )
    .merge_patch("experiment")
    .answers::<Experiment>(200, "Changed")
    .done();
    b.op("POST", "/api/v1/experiments/{key}/start", experiments, "Start (or restart) an experiment", WRITE)
        .answers::<Experiment>(200, "Running")
        .done();
    b.op("POST", "/api/v1/experiments/{key}/stop", experiments, "Stop an experiment", WRITE)
        .answers::<Experiment>(200, "Stopped")
        .done();
    b.op("GET", "/api/v1/experiments/{key}/results", experiments, "Results of every attached metric", RESULTS)
        .query::<ResultsQuery>()
        .answers::<ExperimentResults>(200, "The results")
        .done();
    b.op(
        "POST",
        "/api/v1/experiments/{key}/conclude",
        playbook,
        "Conclude a stopped experiment into the playbook",
        WRITE,
    )
    .body::<ConcludeRequest>()
    .answers::<EntryDetail>(201, "The playbook entry, results frozen")
    .done();

    b.op("GET", "/api/v1/playbook", playbook, "Search and filter the playbook", RESULTS)
        .query::<PlaybookQuery>()
        .query_param("format", json!({"enum": ["json", "csv", "md"]}), "The answer's format (JSON by default)")
        .answers::<Vec<PlaybookEntry>>(200, "Matching entries, best match first")
        .also_as(200, &["text/csv", "text/markdown"])
        .done();
    b.op("GET", "/api/v1/playbook/signals", playbook, "The signal leaderboard: pooled lifts per signal", RESULTS)
        .answers::<Vec<SignalRecord>>(200, "Signals, strongest first")
        .done();
    b.op("GET", "/api/v1/playbook/shares", playbook, "List share links (never their tokens)", WRITE)
        .answers::<Vec<ShareLink>>(200, "Share links")
        .done();
    b.op("POST", "/api/v1/playbook/shares", playbook, "Share an entry or a view: the token is shown once", WRITE)
        .body::<ShareRequest>()
        .answers::<app::domain::playbook::CreatedShareLink>(201, "Created, with its token")
        .done();
    b.op("POST", "/api/v1/playbook/shares/{id}/revoke", playbook, "Revoke a share link", WRITE)
        .empty(204, "Revoked")
        .done();
    b.op(
        "GET",
        "/api/v1/playbook/{id}",
        playbook,
        "One entry with its frozen snapshot, revisions and related entries",
        RESULTS,
    )
    .query_param("revision", json!({"type": "integer", "minimum": 1}), "An earlier revision (the latest by default)")
    .query_param("format", json!({"enum": ["json", "csv", "md"]}), "The answer's format (JSON by default)")
    .answers::<EntryDetail>(200, "The entry")
    .also_as(200, &["text/csv", "text/markdown"])
    .done();
    b.op("POST", "/api/v1/playbook/{id}/revisions", playbook, "Re-analyse an entry as a new revision", WRITE)
        .body::<ReanalyzeRequest>()
        .answers::<EntryDetail>(201, "The entry at its new revision")
        .done();
    b.op(
        "POST",
        "/api/v1/playbook/{id}/follow-up",
        playbook,
        "A draft experiment from an entry's hypothesis, variations and metrics",
        WRITE,
    )
    .body::<FollowUpRequest>()
    .answers::<Experiment>(201, "The draft")
    .done();
    b.op(
        "GET",
        "/api/v1/shared/{token}",
        playbook,
        "What a share link shows (the token is the permission)",
        Access::Public,
    )
    .answers::<SharedView>(200, "The shared entry or view")
    .done();

    b.op(
        "GET",
        "/api/v1/experiments/{key}/assignment",
        assignment,
        "One assignment, recording its exposure",
        Access::Key { scope: "assign" },
    )
    .query_param("unit_id", json!({"type": "string", "minLength": 1, "maxLength": 256}), "The unit (a person's id)")
    .answers::<app::domain::assignment::Assignment>(200, "The assignment")
    .done();
    b.op("POST", "/api/v1/assign", assignment, "Assignments for one unit", ASSIGN)
        .body::<app::services::assignments::AssignRequest>()
        .answers::<app::services::assignments::AssignResponse>(200, "One assignment per experiment")
        .done();
    b.op("GET", "/api/v1/config", assignment, "Running experiments for SDK-side evaluation (ETag; 304 with If-None-Match)", ASSIGN)
        .answers_schema(200, "The configuration", json!({"type": "object", "required": ["version", "holdout", "experiments"], "properties": {
            "version": {"type": "string"}, "holdout": {"type": "number"}, "experiments": {"type": "array", "items": object()}}}))
        .empty(304, "Not modified")
        .done();

    b.op(
        "GET",
        "/api/v1/settings",
        settings,
        "Installation settings: global holdout, intent stages, purchase event",
        READ,
    )
    .answers::<InstallationSettings>(200, "The settings")
    .done();
    b.op("PUT", "/api/v1/settings", settings, "Change the settings given", ADMIN)
        .body::<SettingsChange>()
        .answers::<InstallationSettings>(200, "The settings now")
        .done();

    b.op("POST", "/api/v1/events", events, "Send events: answered once the accepted ones are committed", INGEST)
        .body_schema(json!({"type": "object", "required": ["events"], "properties": {"events": {"type": "array", "maxItems": 10000, "items": object()}}}))
        .answers::<app::services::ingest::IngestResponse>(200, "What was accepted, refused and why")
        .done();
    b.op("GET", "/api/v1/ingest/stats", events, "Ingestion counters per source and hour", READ)
        .query_param("hours", json!({"type": "integer", "minimum": 1, "maximum": 2160}), "How far back (48 by default)")
        .answers::<IngestStats>(200, "The counters")
        .done();
    b.op(
        "POST",
        "/api/v1/users/{id}/opt-out",
        events,
        "Stop storing and personalizing for the person behind an id",
        INGEST,
    )
    .answers::<app::services::profiles::OptOutState>(200, "Opted out")
    .done();
    b.op("POST", "/api/v1/users/{id}/opt-in", events, "Undo an opt-out", INGEST)
        .answers::<app::services::profiles::OptOutState>(200, "Opted in")
        .done();

    b.op("GET", "/api/v1/profiles", profiles, "Search profiles by id prefix or email", READ)
        .query_param("q", json!({"type": "string"}), "An id's beginning or an email")
        .query_param("stage", json!({"type": "string"}), "Only people at this intent stage")
        .answers::<Vec<ProfileSummary>>(200, "Matching profiles")
        .done();
    b.op("GET", "/api/v1/profiles/{id}", profiles, "The profile any linked id belongs to", READ)
        .answers::<Profile>(200, "The profile")
        .done();
    b.op("GET", "/api/v1/profiles/{id}/events", profiles, "The cross-channel timeline, newest first", READ)
        .query_param("limit", json!({"type": "integer", "minimum": 1, "maximum": 500}), "Events per page (50)")
        .query_param("before", json!({"type": "string"}), "The `next_before` of the previous page")
        .answers::<Timeline>(200, "A page of the timeline")
        .done();
    b.op(
        "GET",
        "/api/v1/units/{id}/intent",
        profiles,
        "A unit's intent score, stage and the signals behind them",
        Access::Either { role: "editor", scope: "read or assign" },
    )
    .answers::<app::services::profiles::UnitIntent>(200, "The intent")
    .done();

    b.op("GET", "/api/v1/signals", signals, "The signal library", READ)
        .query::<app::services::signals::SignalFilter>()
        .answers::<Vec<Signal>>(200, "Signals")
        .done();
    b.op("POST", "/api/v1/signals", signals, "Add a signal to the library", WRITE)
        .body::<app::domain::signals::SignalSpec>()
        .answers::<Signal>(201, "Created")
        .done();
    b.op("POST", "/api/v1/signals/preview", signals, "What a draft rule would have matched in the last 7 days", READ)
        .body::<app::domain::signals::SignalSpec>()
        .answers::<Preview>(200, "Units and matches")
        .done();
    b.op("GET", "/api/v1/signals/{key}", signals, "One signal with its versions and history", READ)
        .answers::<Signal>(200, "The signal")
        .done();
    b.op(
        "PATCH",
        "/api/v1/signals/{key}",
        signals,
        "Change a signal (a changed rule, weight, stage, channels or schema is a new version)",
        WRITE,
    )
    .merge_patch("signal")
    .answers::<Signal>(200, "Changed")
    .done();
    b.op("POST", "/api/v1/signals/{key}/deprecate", signals, "Stop matching new events", WRITE)
        .answers::<Signal>(200, "Deprecated")
        .done();
    b.op("POST", "/api/v1/signals/{key}/activate", signals, "Match new events again", WRITE)
        .answers::<Signal>(200, "Active")
        .done();
    b.op("GET", "/api/v1/signals/{key}/volume", signals, "Matches per day and channel", READ)
        .query_param("days", json!({"type": "integer", "minimum": 1, "maximum": 365}), "How many days back (30)")
        .answers::<Vec<VolumePoint>>(200, "Matches per day and channel")
        .done();

    b.op("GET", "/api/v1/metrics", metrics, "The metric library", RESULTS)
        .answers::<Vec<Metric>>(200, "Metrics")
        .done();
    b.op("POST", "/api/v1/metrics", metrics, "Add a metric", WRITE)
        .body::<app::domain::stats::metrics::MetricSpec>()
        .answers::<Metric>(201, "Created")
        .done();
    b.op("GET", "/api/v1/metrics/{key}", metrics, "One metric", RESULTS).answers::<Metric>(200, "The metric").done();
    b.op("PATCH", "/api/v1/metrics/{key}", metrics, "Change a metric (the key stays)", WRITE)
        .merge_patch("metric")
        .answers::<Metric>(200, "Changed")
        .done();

    b.op("POST", "/api/v1/stats/compare", stats, "Compare two variations from their sufficient statistics", RESULTS)
        .body::<CompareRequest>()
        .answers::<CompareResponse>(200, "Both variations; the treatment with its lifts")
        .done();
    b.op("POST", "/api/v1/stats/power", stats, "Power, minimum detectable effect, units and days needed", RESULTS)
        .body::<PowerRequest>()
        .answers::<PowerResponse>(200, "The plan")
        .done();
    b.op("POST", "/api/v1/stats/adjust", stats, "Holm or Benjamini–Hochberg adjusted p-values", RESULTS)
        .body::<AdjustRequest>()
        .answers::<AdjustResponse>(200, "Adjusted p-values, in input order")
        .done();
    b.op("GET", "/api/v1/openapi.json", health, "This document", Access::Public)
        .answers_schema(200, "The OpenAPI document", object())
        .done();

    let evaluation_context = json!({"type": "object", "properties": {"context": {"type": "object", "description": "`targetingKey` is the unit id; every other field is an attribute.", "properties": {"targetingKey": {"type": "string"}}}}});
    let flag = json!({"type": "object", "required": ["key"], "properties": {
        "key": {"type": "string"}, "value": {}, "reason": {"type": "string"}, "variant": {"type": "string"},
        "errorCode": {"type": "string"}, "errorDetails": {"type": "string"}, "metadata": object(), "cacheable": {"type": "boolean"}}});
    b.op("POST", "/ofrep/v1/evaluate/flags/{key}", ofrep, "Evaluate one flag (an experiment) for a context", ASSIGN)
        .ofrep_errors()
        .body_schema(evaluation_context.clone())
        .answers_schema(200, "The flag's value", flag.clone())
        .done();
    b.op("POST", "/ofrep/v1/evaluate/flags", ofrep, "Evaluate every running experiment for a context (ETag)", ASSIGN)
        .ofrep_errors()
        .body_schema(evaluation_context)
        .answers_schema(
            200,
            "Every flag",
            json!({"type": "object", "required": ["flags"], "properties": {"flags": {"type": "array", "items": flag}}}),
        )
        .empty(304, "Not modified")
        .done();
    b.op("GET", "/ofrep/v1/configuration", ofrep, "What this OFREP provider supports", Access::Public)
        .answers_schema(200, "Capabilities", object())
        .done();

    let event = json!({"type": "object", "description": "A Segment event: `type` (from the path for single calls), `event`, `userId`/`anonymousId`, `messageId`, `timestamp`, `properties`, `traits`, `context`; `writeKey` may carry the key."});
    let success = json!({"type": "object", "required": ["success"], "properties": {"success": {"const": true}}});
    for (path, summary) in [
        ("/v1/track", "Track an event"),
        ("/v1/page", "A page view"),
        ("/v1/screen", "A screen view"),
        ("/v1/identify", "Identify a person (traits, consent, opt-out)"),
        ("/v1/alias", "Link two ids of one person"),
    ] {
        b.op("POST", path, tracking, summary, Access::WriteKey)
            .body_schema(event.clone())
            .answers_schema(200, "Stored", success.clone())
            .done();
    }
    let batch = json!({"type": "object", "required": ["batch"], "properties": {"batch": {"type": "array", "items": event}, "context": object(), "sentAt": {"type": "string"}, "writeKey": {"type": "string"}}});
    let batch_answer = json!({"type": "object", "required": ["success", "accepted"], "properties": {"success": {"const": true}, "accepted": {"type": "integer"}, "duplicates": {"type": "integer"}, "consent_dropped": {"type": "integer"}, "opted_out": {"type": "integer"}, "rejected": {"type": "array", "items": object()}}});
    for path in ["/v1/batch", "/v1/import"] {
        b.op("POST", path, tracking, "Events of every type at once", Access::WriteKey)
            .body_schema(batch.clone())
            .answers_schema(200, "What was accepted and refused", batch_answer.clone())
            .done();
    }
    b.build()
}
