//! Sync runs and what they stored, as the store keeps them and the queries read them.

use serde::Serialize;

/// One sync run.
#[derive(Debug, Clone, Serialize)]
pub struct SyncRun {
    /// The run's id; every stored row of the run carries it.
    pub id: i64,
    /// The account name the run is recorded under.
    pub account: String,
    /// When it started (RFC 3339, UTC).
    pub started_at: String,
    /// When it ended; none while it runs or after it was interrupted.
    pub finished_at: Option<String>,
    /// `running`, `complete` or `failed`.
    pub status: String,
    /// Why it failed, one line per failed type.
    pub error: Option<String>,
    /// API calls the run made.
    pub api_calls: i64,
}

/// Where an account synced from a Resource Directory sits in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DirectoryAccount {
    /// The name its runs are recorded under (its account id).
    pub account: String,
    /// The directory, `rd-...`.
    pub directory_id: String,
    /// The 16-digit account id.
    pub account_id: String,
    /// Its display name in the directory.
    pub display_name: String,
    /// Folder names from the root, `/Production/Web`; `/` for the root folder.
    pub folder_path: String,
}

/// What a run syncs against; an interrupted run is resumed only in the same context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunContext {
    /// The endpoint of each product, `ram=https://...`.
    pub endpoints: String,
    /// The account and ARN of the caller, `1234567890123456 acs:ram::...:user/x`; None
    /// when it could not be read.
    pub caller: Option<String>,
}

/// A stored resource, as the `resources` command prints it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ResourceRow {
    /// The resource type id.
    pub resource_type: String,
    /// The provider's id.
    pub id: String,
    /// The name it is referred to by.
    pub name: String,
    /// A human-friendly name.
    pub display_name: String,
    /// The `status` attribute, for users and AccessKeys.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The parent's type, for nested types.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_type: Option<String>,
    /// The parent's id, for nested types.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
    /// Its attributes; flags read back as JSON booleans.
    pub attributes: serde_json::Map<String, serde_json::Value>,
}

/// A stored grant, as the `grants` command prints it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct GrantRow {
    /// The type of the resource offering the entitlement.
    pub resource_type: String,
    /// Its id.
    pub resource_id: String,
    /// Its name.
    pub resource_name: String,
    /// The entitlement's slug.
    pub entitlement: String,
    /// The principal's type.
    pub principal_type: String,
    /// The principal's id (its name when it is not a synced resource).
    pub principal_id: String,
    /// The principal's name.
    pub principal_name: String,
    /// For role assumption: whether the principal belongs to another account.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cross_account: Option<bool>,
    /// The grant's attributes.
    pub attributes: serde_json::Map<String, serde_json::Value>,
}

/// An entitlement as stored: what a resource offers, and to which principal types.
#[derive(Debug, Clone, Serialize)]
pub struct EntitlementRow {
    /// The type of the resource offering it.
    pub resource_type: String,
    /// Its id.
    pub resource_id: String,
    /// The slug, for example `member`, `attached` or `assume`.
    pub slug: String,
    /// A display name.
    pub display_name: String,
    /// The principal types it may be granted to.
    pub grantable_to: Vec<String>,
}

/// What happened to one resource type in a sync.
#[derive(Debug, Clone)]
pub struct TypeReport {
    /// The resource type id.
    pub resource_type: String,
    /// The plugin that synced it.
    pub plugin: String,
    /// Resources of the type stored by the run.
    pub resources: usize,
    /// Grants of the type stored by the run.
    pub grants: usize,
    /// Why it failed; none when it completed.
    pub error: Option<String>,
}
