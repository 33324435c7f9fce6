use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Protective markings, lowest to highest. Stored as their rank, so that "at or below the
/// caller's clearance" is a SQL comparison.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
pub enum ProtectiveMarking {
    #[serde(rename = "OFFICIAL")]
    Official,
    #[serde(rename = "OFFICIAL: Sensitive")]
    OfficialSensitive,
    #[serde(rename = "PROTECTED")]
    Protected,
}

impl ProtectiveMarking {
    pub fn rank(self) -> i32 {
        self as i32
    }

    pub fn from_rank(rank: i32) -> anyhow::Result<Self> {
        match rank {
            0 => Ok(Self::Official),
            1 => Ok(Self::OfficialSensitive),
            2 => Ok(Self::Protected),
            other => anyhow::bail!("unexpected stored protective marking rank {other}"),
        }
    }
}
