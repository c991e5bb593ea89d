//! Who may do what: user roles, API-key scopes, and the one table that maps both onto the kinds of access an
//! endpoint needs. Every server function and API route asks `Principal::may` through `auth::Caller::require`.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A person's role. Ordered: each role can do everything the roles before it can.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Stakeholders: read the playbook and results, nothing else.
    Viewer,
    /// Marketers: create and edit experiments and signals.
    Editor,
    /// Users, API keys and settings.
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Editor, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Admin => "admin",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Role::Viewer => "Viewer",
            Role::Editor => "Editor",
            Role::Admin => "Admin",
        }
    }
}

/// What an API key may be used for. Keys carry a set of scopes; people carry a role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Fetch bucket assignments.
    Assign,
    /// Send events.
    Ingest,
    /// Read configuration, results and the playbook.
    Read,
    /// Change configuration: experiments, signals, users, keys.
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 4] = [Scope::Assign, Scope::Ingest, Scope::Read, Scope::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Assign => "assign",
            Scope::Ingest => "ingest",
            Scope::Read => "read",
            Scope::Admin => "admin",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            Scope::Assign => "fetch bucket assignments",
            Scope::Ingest => "send events",
            Scope::Read => "read configuration and results",
            Scope::Admin => "change configuration, users and keys",
        }
    }
}

macro_rules! impl_text {
    ($ty:ty, $what:literal) => {
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $ty {
            type Err = String;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let wanted = s.trim().to_ascii_lowercase();
                Self::ALL.into_iter().find(|v| v.as_str() == wanted).ok_or_else(|| {
                    let known: Vec<&str> = Self::ALL.iter().map(|v| v.as_str()).collect();
                    format!("unknown {} '{}': expected one of {}", $what, s.trim(), known.join(", "))
                })
            }
        }
    };
}
impl_text!(Role, "role");
impl_text!(Scope, "scope");

/// Parses a comma-separated scope list such as `assign,ingest,read`: trimmed, deduplicated, sorted.
/// An empty list is an error: a key that can do nothing is a mistake, not a feature.
pub fn parse_scopes(list: &str) -> Result<Vec<Scope>, String> {
    let mut scopes =
        list.split(',').filter(|s| !s.trim().is_empty()).map(Scope::from_str).collect::<Result<Vec<_>, _>>()?;
    scopes.sort();
    scopes.dedup();
    if scopes.is_empty() {
        return Err("at least one scope is required (assign, ingest, read, admin)".into());
    }
    Ok(scopes)
}

/// Formats scopes the way `parse_scopes` reads them (and the way they are stored).
pub fn format_scopes(scopes: &[Scope]) -> String {
    scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(",")
}

/// The kinds of access an endpoint can need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Read experiments, their results and the playbook (what stakeholders read).
    Results,
    /// Read everything else: signals, metrics, profiles, ingestion statistics, settings.
    Read,
    /// Create or change experiments and signals.
    Write,
    /// Manage users, API keys and settings.
    Admin,
    /// Fetch assignments.
    Assign,
    /// Send events.
    Ingest,
}

/// Who is calling, reduced to what decides access.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal<'a> {
    User(Role),
    ApiKey(&'a [Scope]),
}

impl Principal<'_> {
    /// The access matrix. People: viewers read experiments, results and the playbook, nothing else (profiles hold
    /// personal data); editors also read the rest, write, assign and ingest (to try things from the browser);
    /// admins do everything. Keys: each scope grants its own access, `read` covers all reading, `admin` also
    /// grants writes, and `admin` implies `read` because changing configuration you cannot see is not useful.
    pub fn may(&self, access: Access) -> bool {
        match self {
            Principal::User(role) => match access {
                Access::Results => true,
                Access::Read | Access::Write | Access::Assign | Access::Ingest => *role >= Role::Editor,
                Access::Admin => *role == Role::Admin,
            },
            Principal::ApiKey(scopes) => {
                let has = |s: Scope| scopes.contains(&s);
                match access {
                    Access::Results | Access::Read => has(Scope::Read) || has(Scope::Admin),
                    Access::Write | Access::Admin => has(Scope::Admin),
                    Access::Assign => has(Scope::Assign),
                    Access::Ingest => has(Scope::Ingest),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_and_scopes_round_trip_through_text() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert_eq!(" Admin ".parse::<Role>(), Ok(Role::Admin));
        assert!("owner".parse::<Role>().unwrap_err().contains("viewer, editor, admin"));
        for scope in Scope::ALL {
            assert_eq!(scope.as_str().parse::<Scope>(), Ok(scope));
        }
    }

    #[test]
    fn scope_lists_are_normalised() {
        assert_eq!(parse_scopes("read, assign,read,"), Ok(vec![Scope::Assign, Scope::Read]));
        assert_eq!(format_scopes(&parse_scopes("ingest,assign").unwrap()), "assign,ingest");
        assert!(parse_scopes(" , ").is_err());
        assert!(parse_scopes("read,write").unwrap_err().contains("unknown scope 'write'"));
    }

    #[test]
    fn viewers_only_read_results_and_the_playbook() {
        let viewer = Principal::User(Role::Viewer);
        assert!(viewer.may(Access::Results));
        for access in [Access::Read, Access::Write, Access::Admin, Access::Assign, Access::Ingest] {
            assert!(!viewer.may(access), "{access:?}");
        }
    }

    #[test]
    fn editors_write_but_do_not_administer() {
        let editor = Principal::User(Role::Editor);
        assert!(editor.may(Access::Write));
        assert!(!editor.may(Access::Admin));
        assert!(Principal::User(Role::Admin).may(Access::Admin));
    }

    #[test]
    fn key_scopes_grant_only_their_access() {
        let assign_only = [Scope::Assign];
        let key = Principal::ApiKey(&assign_only);
        assert!(key.may(Access::Assign));
        assert!(!key.may(Access::Ingest));
        assert!(!key.may(Access::Read) && !key.may(Access::Results));
        assert!(!key.may(Access::Write));

        let admin = [Scope::Admin];
        let key = Principal::ApiKey(&admin);
        assert!(key.may(Access::Read) && key.may(Access::Write) && key.may(Access::Admin));
        assert!(!key.may(Access::Assign), "admin keys do not silently gain the hot-path scopes");
    }
}
