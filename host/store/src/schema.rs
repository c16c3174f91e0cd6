//! The database schema and its version; older versions are upgraded in place.

/// Version 2 added the checkpoint tables, version 3 the context of each run, version 4
/// the Resource Directory placement of accounts; older databases are upgraded in place.
pub(crate) const SCHEMA_VERSION: i64 = 4;

pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS sync_runs (
    id INTEGER PRIMARY KEY,
    account TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    status TEXT NOT NULL CHECK (status IN ('running', 'complete', 'failed')),
    error TEXT,
    api_calls INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS sync_runs_latest ON sync_runs (account, status, id);
CREATE TABLE IF NOT EXISTS resource_types (
    sync_id INTEGER NOT NULL REFERENCES sync_runs (id),
    id TEXT NOT NULL,
    display_name TEXT NOT NULL,
    plugin TEXT NOT NULL,
    error TEXT,
    PRIMARY KEY (sync_id, id)
);
CREATE TABLE IF NOT EXISTS resources (
    sync_id INTEGER NOT NULL REFERENCES sync_runs (id),
    resource_type TEXT NOT NULL,
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    display_name TEXT NOT NULL,
    parent_type TEXT,
    parent_id TEXT,
    attributes TEXT NOT NULL,
    PRIMARY KEY (sync_id, resource_type, id)
);
CREATE INDEX IF NOT EXISTS resources_by_name ON resources (sync_id, resource_type, name);
CREATE TABLE IF NOT EXISTS entitlements (
    sync_id INTEGER NOT NULL REFERENCES sync_runs (id),
    resource_type TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    slug TEXT NOT NULL,
    display_name TEXT NOT NULL,
    grantable_to TEXT NOT NULL,
    PRIMARY KEY (sync_id, resource_type, resource_id, slug)
);
CREATE TABLE IF NOT EXISTS grants (
    sync_id INTEGER NOT NULL REFERENCES sync_runs (id),
    resource_type TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    entitlement TEXT NOT NULL,
    principal_type TEXT NOT NULL,
    principal_id TEXT NOT NULL,
    principal_name TEXT NOT NULL,
    attributes TEXT NOT NULL,
    PRIMARY KEY (sync_id, resource_type, resource_id, entitlement, principal_type, principal_id)
);
CREATE INDEX IF NOT EXISTS grants_by_principal ON grants (sync_id, principal_type, principal_id);
-- Checkpoints of unfinished runs, per plugin: how far its listing got (per parent
-- resource; '' for top-level types), which resources' access it stored, and whether it
-- finished. Cleared when a run ends.
CREATE TABLE IF NOT EXISTS list_progress (
    sync_id INTEGER NOT NULL REFERENCES sync_runs (id),
    plugin TEXT NOT NULL,
    parent_id TEXT NOT NULL,
    next_token TEXT,
    done INTEGER NOT NULL,
    PRIMARY KEY (sync_id, plugin, parent_id)
);
CREATE TABLE IF NOT EXISTS access_done (
    sync_id INTEGER NOT NULL REFERENCES sync_runs (id),
    plugin TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    PRIMARY KEY (sync_id, plugin, resource_type, resource_id)
);
CREATE TABLE IF NOT EXISTS plugins_done (
    sync_id INTEGER NOT NULL REFERENCES sync_runs (id),
    plugin TEXT NOT NULL,
    PRIMARY KEY (sync_id, plugin)
);
-- What a run synced against: its endpoints, and the identity STS GetCallerIdentity named
-- (NULL when it could not be read). A run is resumed only against the same context.
CREATE TABLE IF NOT EXISTS run_context (
    sync_id INTEGER PRIMARY KEY REFERENCES sync_runs (id),
    endpoints TEXT NOT NULL,
    caller TEXT
);
-- Accounts found in a Resource Directory, by the name their runs are recorded under: the
-- directory, the display name and the folder path as last listed.
CREATE TABLE IF NOT EXISTS directory_accounts (
    account TEXT PRIMARY KEY,
    directory_id TEXT NOT NULL,
    account_id TEXT NOT NULL,
    display_name TEXT NOT NULL,
    folder_path TEXT NOT NULL,
    listed_at TEXT NOT NULL
);
";
