//! The annual attestation's checklist (`policies/attestation.toml`): the questions a CSP's
//! manager answers. Loaded, checked and reloaded with the policy (`casebridge policy check`,
//! SIGHUP), so that the department changes it without a code change.
use std::collections::BTreeSet;

use serde::Deserialize;

/// One edition of the checklist.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checklist {
    /// Named by every attestation answered against it.
    pub version: String,
    /// Days after a year from the end of the last attested period (or the contract's start)
    /// before a CSP's attestation is overdue.
    pub grace_days: u16,
    pub questions: Vec<Question>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Question {
    pub id: String,
    pub text: String,
}

const MAX_GRACE_DAYS: u16 = 365;

impl Checklist {
    /// Parses and checks `attestation.toml`: a version, at least one question, ids of
    /// lower-case letters, digits and `_` that are unique, no empty text.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let checklist: Checklist =
            toml::from_str(text).map_err(|error| anyhow::anyhow!("attestation.toml: {error}"))?;
        let mut problems = Vec::new();
        if checklist.version.trim().is_empty() {
            problems.push("`version` must not be empty".to_owned());
        }
        if checklist.grace_days > MAX_GRACE_DAYS {
            problems.push(format!("`grace_days` must be at most {MAX_GRACE_DAYS}"));
        }
        if checklist.questions.is_empty() {
            problems.push("there must be at least one question".to_owned());
        }
        let mut seen = BTreeSet::new();
        for question in &checklist.questions {
            let id = &question.id;
            let well_formed = !id.is_empty()
                && id.len() <= 64
                && id
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !well_formed {
                problems.push(format!(
                    "question id {id:?} must be 1 to 64 lower-case letters, digits or `_`"
                ));
            }
            if !seen.insert(id.as_str()) {
                problems.push(format!("question id {id:?} is used twice"));
            }
            if question.text.trim().is_empty() {
                problems.push(format!("question {id:?} has no text"));
            }
        }
        if problems.is_empty() {
            Ok(checklist)
        } else {
            anyhow::bail!("attestation.toml: {}", problems.join("; "))
        }
    }

    pub fn question(&self, id: &str) -> Option<&Question> {
        self.questions.iter().find(|question| question.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_checklist_parses() {
        let checklist = Checklist::parse(super::super::policy::DEFAULT_CHECKLIST).unwrap();
        assert!(!checklist.questions.is_empty());
        assert!(checklist.question("staff_trained").is_some());
    }

    #[test]
    fn every_problem_of_a_checklist_is_named() {
        let text = "version = \"\"\ngrace_days = 400\n[[questions]]\nid = \"A\"\ntext = \"x\"\n\
                    [[questions]]\nid = \"b\"\ntext = \" \"\n[[questions]]\nid = \"b\"\ntext = \"y\"\n";
        let error = Checklist::parse(text).unwrap_err().to_string();
        for expected in [
            "`version`",
            "`grace_days`",
            "\"A\" must be",
            "\"b\" is used twice",
            "\"b\" has no text",
        ] {
            assert!(error.contains(expected), "{expected} in {error}");
        }
        let unknown = Checklist::parse("version = \"1\"\ngrace_days = 1\nquestions = []\nx = 1\n");
        assert!(unknown.is_err());
    }
}
