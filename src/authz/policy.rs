//! Loading, checking and compiling the Casbin policy.
//!
//! Casbin decides every (role, object, action) question once, when the policy is loaded; the
//! answers are compiled into an immutable [`CompiledPolicy`] that requests read without
//! locks, and that a reload (SIGHUP) swaps atomically. A policy that fails its check is
//! refused whole and the one in force stays.
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use arc_swap::ArcSwap;
use casbin::{CoreApi, DefaultModel, Enforcer, RbacApi, StringAdapter};

use super::catalogue::{self, Action, RESOURCES, Resource, Scope};
use super::checklist::Checklist;

pub const DEFAULT_MODEL: &str = include_str!("../../policies/model.conf");
pub const DEFAULT_POLICY: &str = include_str!("../../policies/policy.csv");
pub const DEFAULT_CHECKLIST: &str = include_str!("../../policies/attestation.toml");

/// Where a policy comes from: a directory holding `model.conf` and `policy.csv`, or the copy
/// built into the binary.
#[derive(Debug, Clone)]
pub enum PolicySource {
    Directory(PathBuf),
    BuiltIn,
}

impl fmt::Display for PolicySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicySource::Directory(dir) => write!(f, "{}", dir.display()),
            PolicySource::BuiltIn => f.write_str("the built-in default policy"),
        }
    }
}

/// The texts of a policy: the model, the lines, and the attestation checklist.
#[derive(PartialEq, Eq)]
struct PolicyTexts {
    model: String,
    policy: String,
    checklist: String,
}

impl PolicySource {
    fn read(&self) -> anyhow::Result<PolicyTexts> {
        match self {
            PolicySource::BuiltIn => Ok(PolicyTexts {
                model: DEFAULT_MODEL.to_owned(),
                policy: DEFAULT_POLICY.to_owned(),
                checklist: DEFAULT_CHECKLIST.to_owned(),
            }),
            PolicySource::Directory(dir) => {
                let read = |name: &str| {
                    let path = dir.join(name);
                    std::fs::read_to_string(&path)
                        .with_context(|| format!("reading {}", path.display()))
                };
                // A policy directory from before the checklist existed keeps working with the
                // built-in one.
                let checklist = if dir.join("attestation.toml").exists() {
                    read("attestation.toml")?
                } else {
                    DEFAULT_CHECKLIST.to_owned()
                };
                Ok(PolicyTexts {
                    model: read("model.conf")?,
                    policy: read("policy.csv")?,
                    checklist,
                })
            }
        }
    }
}

/// One problem found by the check, with the line of `policy.csv` it is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyProblem {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for PolicyProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "policy.csv line {}: {}", self.line, self.message)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("the policy has {} problem(s):\n{}", .0.len(), .0.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<PolicyProblem>),
    #[error(transparent)]
    Load(#[from] anyhow::Error),
}

/// What one role may do: actions with their row scopes, and readable and writable fields.
#[derive(Debug, Default, Clone)]
pub struct RoleGrants {
    pub actions: BTreeMap<(Resource, Action), BTreeSet<Scope>>,
    pub readable: BTreeMap<Resource, BTreeSet<&'static str>>,
    pub writable: BTreeMap<Resource, BTreeSet<&'static str>>,
}

#[derive(Debug, Default)]
pub struct CompiledPolicy {
    roles: BTreeMap<&'static str, RoleGrants>,
    checklist: Checklist,
}

impl CompiledPolicy {
    pub fn role(&self, name: &str) -> Option<&RoleGrants> {
        self.roles.get(name)
    }

    /// The annual attestation's checklist in force.
    pub fn checklist(&self) -> &Checklist {
        &self.checklist
    }

    /// Whether any of `roles` may perform `action` on `resource`, whatever the rows.
    pub fn allows(&self, roles: &[String], resource: Resource, action: Action) -> bool {
        roles
            .iter()
            .filter_map(|role| self.role(role))
            .any(|role| role.actions.contains_key(&(resource, action)))
    }

    /// Whether any of `roles` is granted `mfa, required`: its holders log in with a second
    /// factor.
    pub fn requires_mfa(&self, roles: &[String]) -> bool {
        self.any_required(roles, super::Resource::Mfa)
    }

    /// Whether any of `roles` is granted `dual_control, required`: granting it takes a second
    /// person's approval.
    pub fn requires_dual_control(&self, roles: &[String]) -> bool {
        self.any_required(roles, super::Resource::DualControl)
    }

    /// Whether everything `role` is granted (actions with their scopes, readable and writable
    /// fields) is already granted to one of `others`: holding it as well adds nothing.
    pub fn covered_by(&self, role: &str, others: &[String]) -> bool {
        let Some(wanted) = self.role(role) else {
            return true;
        };
        let held: Vec<&RoleGrants> = others.iter().filter_map(|other| self.role(other)).collect();
        let actions = wanted.actions.iter().all(|(key, scopes)| {
            scopes.iter().all(|scope| {
                held.iter()
                    .any(|grants| grants.actions.get(key).is_some_and(|s| s.contains(scope)))
            })
        });
        let fields = |of: fn(&RoleGrants) -> &BTreeMap<super::Resource, BTreeSet<&'static str>>| {
            of(wanted).iter().all(|(resource, fields)| {
                fields.iter().all(|field| {
                    held.iter()
                        .any(|grants| of(grants).get(resource).is_some_and(|f| f.contains(field)))
                })
            })
        };
        actions && fields(|grants| &grants.readable) && fields(|grants| &grants.writable)
    }

    fn any_required(&self, roles: &[String], requirement: super::Resource) -> bool {
        roles.iter().filter_map(|role| self.role(role)).any(|role| {
            role.actions
                .contains_key(&(requirement, super::Action::Required))
        })
    }

    pub fn roles(&self) -> impl Iterator<Item = (&'static str, &RoleGrants)> {
        self.roles.iter().map(|(name, grants)| (*name, grants))
    }

    /// The effective matrix, one line per role, resource and action or field set; what
    /// `casebridge policy check` prints.
    pub fn matrix(&self) -> String {
        let mut out = String::new();
        for (role, grants) in &self.roles {
            out.push_str(&format!("{role}\n"));
            for ((resource, action), scopes) in &grants.actions {
                let scopes: Vec<_> = scopes.iter().map(|s| s.name()).collect();
                out.push_str(&format!(
                    "  {:<13} {:<13} rows: {}\n",
                    resource.name(),
                    action.name(),
                    scopes.join(" | ")
                ));
            }
            for (label, fields) in [("reads", &grants.readable), ("writes", &grants.writable)] {
                for (resource, fields) in fields {
                    let fields: Vec<_> = fields.iter().copied().collect();
                    out.push_str(&format!(
                        "  {:<13} {:<13} {}\n",
                        resource.name(),
                        label,
                        fields.join(", ")
                    ));
                }
            }
        }
        out
    }
}

/// Checks the policy lines against the catalogue and returns the lines Casbin should load.
fn check_lines(policy_csv: &str) -> Result<Vec<String>, PolicyError> {
    let mut problems = Vec::new();
    let mut lines = Vec::new();
    for (index, raw) in policy_csv.lines().enumerate() {
        let line = index + 1;
        let text = raw.trim();
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        let cols: Vec<&str> = text.split(',').map(str::trim).collect();
        let mut problem = |message: String| problems.push(PolicyProblem { line, message });
        let unknown_role = |name: &str| catalogue::role(name).is_none();
        match cols.as_slice() {
            ["g", member, parent] => {
                for role in [member, parent] {
                    if unknown_role(role) {
                        problem(format!("unknown role {role:?}"));
                    }
                }
            }
            ["p", role, object, action, scope] => {
                if unknown_role(role) {
                    problem(format!("unknown role {role:?}"));
                }
                if let Some(message) = check_permission(object, action, scope) {
                    problem(message);
                }
            }
            _ => problem(
                "expected `p, role, resource, action, scope`, `p, role, resource.field, read|write, -` \
                 or `g, role, parent_role`"
                    .to_owned(),
            ),
        }
        lines.push(cols.join(", "));
    }
    if problems.is_empty() {
        Ok(lines)
    } else {
        Err(PolicyError::Invalid(problems))
    }
}

fn check_permission(object: &str, action: &str, scope: &str) -> Option<String> {
    match object.split_once('.') {
        Some((resource_name, field)) => {
            let Some(resource) = Resource::by_name(resource_name) else {
                return Some(format!("unknown resource {resource_name:?}"));
            };
            if resource.field(field).is_none() {
                return Some(format!("resource {resource_name:?} has no field {field:?}"));
            }
            if action != "read" && action != "write" {
                return Some(format!(
                    "a field permission is `read` or `write`, not {action:?}"
                ));
            }
            (scope != "-")
                .then(|| format!("a field permission takes `-` as its scope, not {scope:?}"))
        }
        None => {
            let Some(resource) = Resource::by_name(object) else {
                return Some(format!("unknown resource {object:?}"));
            };
            let Some((_, scopes)) = Action::by_name(action)
                .and_then(|action| resource.def().actions.iter().find(|(a, _)| *a == action))
            else {
                return Some(format!("resource {object:?} has no action {action:?}"));
            };
            match Scope::by_name(scope) {
                Some(scope) if scopes.contains(&scope) => None,
                _ => Some(format!(
                    "{object} {action} takes a row scope of {}, not {scope:?}",
                    scopes
                        .iter()
                        .map(|s| s.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            }
        }
    }
}

/// The texts compiled last and their table. Compiling asks Casbin a few thousand questions
/// (over a second in a debug build); the same texts always compile to the same table, so a
/// reload of an unchanged policy, and every server a test process starts, reuse it.
static LAST_COMPILED: Mutex<Option<(PolicyTexts, Arc<CompiledPolicy>)>> = Mutex::new(None);

/// Checks and compiles a policy. Casbin answers, for every catalogued role, every action and
/// field question; its answers become the compiled table.
pub async fn compile(source: &PolicySource) -> Result<Arc<CompiledPolicy>, PolicyError> {
    let texts = source.read()?;
    if let Some((last_texts, compiled)) = LAST_COMPILED.lock().expect("not poisoned").as_ref()
        && *last_texts == texts
    {
        return Ok(Arc::clone(compiled));
    }
    let compiled = Arc::new(compile_texts(&texts).await?);
    *LAST_COMPILED.lock().expect("not poisoned") = Some((texts, Arc::clone(&compiled)));
    Ok(compiled)
}

async fn compile_texts(texts: &PolicyTexts) -> Result<CompiledPolicy, PolicyError> {
    let lines = check_lines(&texts.policy)?;
    let checklist = Checklist::parse(&texts.checklist)?;
    let model = DefaultModel::from_str(&texts.model)
        .await
        .context("parsing model.conf")?;
    let enforcer = Enforcer::new(model, StringAdapter::new(lines.join("\n")))
        .await
        .context("loading the policy into Casbin")?;

    let mut roles = BTreeMap::new();
    for role in catalogue::ROLES {
        let mut grants = RoleGrants::default();
        let rules = enforcer.get_implicit_permissions_for_user(role.name, None);
        // The matcher compares object and action by equality, so only a pair some line of
        // the role (or a role it inherits) names can be allowed; Casbin decides each of those.
        // Asking it about every catalogued pair gives the same answers ~20 times slower.
        let named = |object: &str, action: &str| {
            rules.iter().any(|rule| {
                rule.get(1).map(String::as_str) == Some(object)
                    && rule.get(2).map(String::as_str) == Some(action)
            })
        };
        let allowed = |object: &str, action: &str| -> anyhow::Result<bool> {
            Ok(named(object, action) && enforce(&enforcer, role.name, object, action)?)
        };
        for def in RESOURCES {
            for (action, _) in def.actions {
                if allowed(def.name, action.name())? {
                    let scopes = rules
                        .iter()
                        .filter(|rule| rule.get(1).map(String::as_str) == Some(def.name))
                        .filter(|rule| rule.get(2).map(String::as_str) == Some(action.name()))
                        .filter_map(|rule| rule.get(3).and_then(|scope| Scope::by_name(scope)))
                        .collect();
                    grants.actions.insert((def.resource, *action), scopes);
                }
            }
            for field in def.fields {
                let object = format!("{}.{field}", def.name);
                if allowed(&object, "read")? {
                    grants
                        .readable
                        .entry(def.resource)
                        .or_default()
                        .insert(field);
                }
                if allowed(&object, "write")? {
                    grants
                        .writable
                        .entry(def.resource)
                        .or_default()
                        .insert(field);
                }
            }
        }
        check_reads_ids(role.name, &grants)?;
        roles.insert(role.name, grants);
    }
    Ok(CompiledPolicy { roles, checklist })
}

/// Every reader of a record reads its id: the contract promises `id` in every record, and a
/// record without one could be neither opened again nor told apart from another.
fn check_reads_ids(role: &str, grants: &RoleGrants) -> Result<(), PolicyError> {
    for def in RESOURCES {
        let reads = grants.actions.contains_key(&(def.resource, Action::Read));
        let has_id = def.fields.contains(&"id");
        let reads_id = grants
            .readable
            .get(&def.resource)
            .is_some_and(|fields| fields.contains("id"));
        if reads && has_id && !reads_id {
            return Err(PolicyError::Load(anyhow::anyhow!(
                "role {role} may read {0} but not {0}.id: every reader of a record reads its id",
                def.name
            )));
        }
    }
    Ok(())
}

fn enforce(enforcer: &Enforcer, role: &str, object: &str, action: &str) -> anyhow::Result<bool> {
    enforcer
        .enforce((role, object, action))
        .with_context(|| format!("asking Casbin whether {role} may {action} {object}"))
}

/// The policy in force, swapped whole on reload.
pub struct PolicyStore {
    source: PolicySource,
    current: ArcSwap<CompiledPolicy>,
}

impl PolicyStore {
    pub async fn load(source: PolicySource) -> Result<Self, PolicyError> {
        let compiled = compile(&source).await?;
        Ok(Self {
            source,
            current: ArcSwap::new(compiled),
        })
    }

    pub fn current(&self) -> Arc<CompiledPolicy> {
        self.current.load_full()
    }

    pub fn source(&self) -> &PolicySource {
        &self.source
    }

    /// Re-reads the source; on any problem the policy in force stays and the error is returned.
    pub async fn reload(&self) -> Result<(), PolicyError> {
        let compiled = compile(&self.source).await?;
        self.current.store(compiled);
        Ok(())
    }
}

impl PolicySource {
    /// `dir` when given; otherwise `./policies` if it exists, else the built-in copy.
    pub fn choose(dir: Option<&Path>) -> Self {
        match dir {
            Some(dir) => PolicySource::Directory(dir.to_owned()),
            None if Path::new("policies/policy.csv").exists() => {
                PolicySource::Directory("policies".into())
            }
            None => PolicySource::BuiltIn,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn misspellings_are_reported_with_their_line() {
        let csv = "# comment\np, dept_caseworker, client, read, division\np, dept_casewrker, client, read, division\n\np, csp_worker, client.medicare_numbr, read, -\np, csp_worker, client, read, everywhere\n";
        let PolicyError::Invalid(problems) = check_lines(csv).unwrap_err() else {
            panic!()
        };
        let lines: Vec<usize> = problems.iter().map(|p| p.line).collect();
        assert_eq!(lines, vec![3, 5, 6]);
        assert!(problems[0].message.contains("dept_casewrker"));
        assert!(problems[1].message.contains("medicare_numbr"));
    }

    #[tokio::test]
    async fn the_default_policy_compiles_with_inheritance() {
        let policy = compile(&PolicySource::BuiltIn).await.unwrap();
        let leader = policy.role("dept_team_leader").unwrap();
        assert!(leader.readable[&Resource::Client].contains("tax_file_number"));
        assert!(
            leader.readable[&Resource::Client].contains("medicare_number"),
            "inherited"
        );
        let worker = policy.role("dept_caseworker").unwrap();
        assert!(!worker.readable[&Resource::Client].contains("tax_file_number"));
        assert!(
            !worker
                .actions
                .contains_key(&(Resource::Allocation, Action::Create))
        );
        let auditor = policy.role("auditor").unwrap();
        assert!(
            !auditor
                .actions
                .contains_key(&(Resource::Client, Action::Read))
        );
    }

    #[test]
    fn a_role_that_reads_a_record_but_not_its_id_is_refused() {
        let mut grants = RoleGrants::default();
        grants
            .actions
            .insert((Resource::Client, Action::Read), BTreeSet::new());
        grants
            .readable
            .insert(Resource::Client, BTreeSet::from(["given_name"]));
        let error = check_reads_ids("csp_worker", &grants).unwrap_err();
        assert!(error.to_string().contains("client.id"), "{error}");

        grants
            .readable
            .insert(Resource::Client, BTreeSet::from(["id", "given_name"]));
        check_reads_ids("csp_worker", &grants).unwrap();
    }
}
