//! Dual control (four eyes): access that reaches client content, administers access or
//! clears for more than `OFFICIAL: Sensitive` takes effect only when a second person approves
//! it, so no single administrator can give themselves (or an account they control) that
//! access. Which roles need it comes from the policy (`dual_control, required`).
use super::CompiledPolicy;
use crate::domain::ProtectiveMarking;

/// The highest clearance one person may grant alone.
pub const SINGLE_APPROVAL_CLEARANCE: ProtectiveMarking = ProtectiveMarking::OfficialSensitive;

/// An account's access: what its roles, clearance and organisation let it reach.
#[derive(Debug, Clone, Copy)]
pub struct Access<'a> {
    pub roles: &'a [String],
    pub clearance: ProtectiveMarking,
    pub organisation_id: &'a str,
}

/// Whether moving an account from access `from` (None for a new account) to `to` needs a
/// second person's approval: it gains a role under dual control that its current roles do
/// not already cover (a team leader made a caseworker gains nothing), a clearance above
/// [`SINGLE_APPROVAL_CLEARANCE`] it did not have, or, holding such a role, another
/// organisation's records. Losing access never does.
pub fn needs_second_approval(
    policy: &CompiledPolicy,
    from: Option<Access<'_>>,
    to: Access<'_>,
) -> bool {
    let Some(from) = from else {
        return policy.requires_dual_control(to.roles) || to.clearance > SINGLE_APPROVAL_CLEARANCE;
    };
    let gains_role = to
        .roles
        .iter()
        .filter(|role| !from.roles.contains(role))
        .any(|role| {
            policy.requires_dual_control(std::slice::from_ref(role))
                && !policy.covered_by(role, from.roles)
        });
    let gains_clearance = to.clearance > from.clearance.max(SINGLE_APPROVAL_CLEARANCE);
    let moves_with_content =
        to.organisation_id != from.organisation_id && policy.requires_dual_control(to.roles);
    gains_role || gains_clearance || moves_with_content
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authz::policy::{PolicySource, compile};
    use ProtectiveMarking::*;

    fn roles(names: &[&str]) -> Vec<String> {
        names.iter().map(|name| name.to_string()).collect()
    }

    fn access<'a>(roles: &'a [String], clearance: ProtectiveMarking, org: &'a str) -> Access<'a> {
        Access {
            roles,
            clearance,
            organisation_id: org,
        }
    }

    async fn policy() -> std::sync::Arc<CompiledPolicy> {
        compile(&PolicySource::BuiltIn).await.unwrap()
    }

    #[tokio::test]
    async fn a_new_account_with_a_client_content_role_needs_a_second_approval() {
        let policy = policy().await;
        for role in [
            "dept_caseworker",
            "dept_team_leader",
            "csp_worker",
            "csp_manager",
        ] {
            let granted = roles(&[role]);
            let to = access(&granted, Official, "org");
            assert!(needs_second_approval(&policy, None, to), "{role}");
        }
    }

    #[tokio::test]
    async fn a_new_account_as_privacy_officer_or_administrator_needs_a_second_approval() {
        let policy = policy().await;
        for role in ["privacy_officer", "dept_admin"] {
            let granted = roles(&[role]);
            let to = access(&granted, Official, "org");
            assert!(needs_second_approval(&policy, None, to), "{role}");
        }
    }

    #[tokio::test]
    async fn a_new_account_without_client_content_at_sensitive_clearance_needs_one_approval() {
        let policy = policy().await;
        let granted = roles(&["records_manager"]);
        let to = access(&granted, OfficialSensitive, "org");
        assert!(!needs_second_approval(&policy, None, to));
    }

    #[tokio::test]
    async fn a_clearance_above_sensitive_needs_a_second_approval() {
        let policy = policy().await;
        let granted = roles(&["records_manager"]);
        let from = access(&granted, OfficialSensitive, "org");
        let to = access(&granted, Protected, "org");
        assert!(needs_second_approval(&policy, None, to));
        assert!(needs_second_approval(&policy, Some(from), to));
    }

    #[tokio::test]
    async fn gaining_an_inherited_role_needs_a_second_approval() {
        let policy = policy().await;
        let (held, wanted) = (
            roles(&["dept_caseworker"]),
            roles(&["dept_caseworker", "dept_team_leader"]),
        );
        let from = access(&held, OfficialSensitive, "org");
        let to = access(&wanted, OfficialSensitive, "org");
        assert!(needs_second_approval(&policy, Some(from), to));
    }

    #[tokio::test]
    async fn a_role_the_current_roles_inherit_is_not_a_gain() {
        let policy = policy().await;
        let (held, kept) = (roles(&["dept_team_leader"]), roles(&["dept_caseworker"]));
        let from = access(&held, Protected, "org");
        let to = access(&kept, Protected, "org");
        assert!(!needs_second_approval(&policy, Some(from), to));
    }

    #[tokio::test]
    async fn losing_access_needs_no_second_approval() {
        let policy = policy().await;
        let (held, kept) = (
            roles(&["dept_caseworker", "dept_team_leader"]),
            roles(&["dept_caseworker"]),
        );
        let from = access(&held, Protected, "org");
        let to = access(&kept, OfficialSensitive, "org");
        assert!(!needs_second_approval(&policy, Some(from), to));
    }

    #[tokio::test]
    async fn moving_a_client_content_account_to_another_organisation_needs_a_second_approval() {
        let policy = policy().await;
        let held = roles(&["dept_caseworker"]);
        let from = access(&held, OfficialSensitive, "housing");
        let to = access(&held, OfficialSensitive, "family");
        assert!(needs_second_approval(&policy, Some(from), to));
        let other = roles(&["records_manager"]);
        let (from, to) = (
            access(&other, OfficialSensitive, "housing"),
            access(&other, OfficialSensitive, "family"),
        );
        assert!(!needs_second_approval(&policy, Some(from), to));
    }
}
