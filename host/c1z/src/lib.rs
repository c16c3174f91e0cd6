//! ConductorOne baton's c1z file, in the SQLite format (v1) that every baton-sdk reader
//! opens: the magic `C1ZF\0`, then one zstd frame (with its content size and checksum)
//! holding a SQLite database with baton-sdk's `v1_` tables, one finished full sync in
//! `v1_sync_runs`, and every row's `data` a binary `c1.connector.v2` message.
//!
//! Ids follow baton connectors: a resource is `type:id`, an entitlement
//! `type:id:slug`, a grant `type:id:slug:principal_type:principal_id`.

pub mod proto;

use anyhow::{Context, Result};
use prost::Message;
use ramsync_model::{EntitlementRow, GrantRow, ResourceRow};
use rusqlite::{Connection, params};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;

/// The first bytes of a c1z file in the SQLite format.
pub const MAGIC: &[u8; 5] = b"C1ZF\0";

/// One sync to write.
pub struct Sync<'a> {
    /// Resource types as (id, display name), in listing order.
    pub resource_types: &'a [(String, String)],
    pub resources: &'a [ResourceRow],
    pub entitlements: &'a [EntitlementRow],
    pub grants: &'a [GrantRow],
    pub started_at: time::OffsetDateTime,
    pub ended_at: time::OffsetDateTime,
}

/// baton-sdk's tables (pkg/dotc1z: resouce_types.go, resources.go, entitlements.go,
/// sync_runs.go, grants.go, assets.go, session_store.go), as its SQLite writer creates them.
const SCHEMA: &str = "
create table v1_resource_types (
    id integer primary key, external_id text not null, data blob not null,
    sync_id text not null, discovered_at datetime not null);
create unique index idx_resource_types_external_sync_v1 on v1_resource_types (external_id, sync_id);
create table v1_resources (
    id integer primary key, resource_type_id text not null, external_id text not null,
    parent_resource_type_id text, parent_resource_id text, data blob not null,
    sync_id text not null, discovered_at datetime not null);
create index idx_resources_resource_type_id_v1 on v1_resources (resource_type_id);
create index idx_resources_external_sync_v1 on v1_resources (parent_resource_type_id, parent_resource_id);
create unique index idx_resources_parent_resource_id_v1 on v1_resources (external_id, sync_id);
create table v1_entitlements (
    id integer primary key, resource_type_id text not null, resource_id text not null,
    external_id text not null, data blob not null, sync_id text not null,
    discovered_at datetime not null);
create index idx_entitlements_resource_id_v1 on v1_entitlements (resource_type_id, resource_id);
create unique index idx_entitlements_external_sync_v1 on v1_entitlements (external_id, sync_id);
create table v1_sync_runs (
    id integer primary key, sync_id text not null, started_at datetime not null,
    ended_at datetime, sync_token text not null, sync_type text not null default 'full',
    parent_sync_id text not null default '', linked_sync_id text not null default '',
    supports_diff integer not null default 0, grants_backfilled integer not null default 0,
    stats text, ingest_invariant_generation text not null default '',
    ingest_invariant_coverage text not null default '',
    ingest_invariant_mode text not null default '');
create unique index idx_sync_runs_sync_id_v1 on v1_sync_runs (sync_id);
create table v1_grants (
    id integer primary key, resource_type_id text not null, resource_id text not null,
    entitlement_id text not null, principal_resource_type_id text not null,
    principal_resource_id text not null, external_id text not null, expansion blob,
    needs_expansion integer not null default 0, data blob not null, sync_id text not null,
    discovered_at datetime not null);
create index idx_grants_resource_type_id_resource_id_v1 on v1_grants (resource_type_id, resource_id);
create index idx_grants_principal_id_v1 on v1_grants (principal_resource_type_id, principal_resource_id);
create index idx_grants_entitlement_id_principal_id_v1 on v1_grants (entitlement_id, principal_resource_type_id, principal_resource_id);
create unique index idx_grants_external_sync_v1 on v1_grants (external_id, sync_id);
create index idx_grants_entitlement_sync_grant_v1 on v1_grants (entitlement_id, sync_id, id);
create table v1_assets (
    id integer primary key, external_id text not null, content_type text not null,
    data blob not null, sync_id text not null, discovered_at datetime not null);
create unique index idx_assets_external_sync_v1 on v1_assets (external_id, sync_id);
create table v1_connector_sessions (
    id integer primary key, sync_id text not null, key text not null, value blob not null);
create unique index idx_session_store_sync_key_v1 on v1_connector_sessions (sync_id, key);
";

/// baton's entitlement id: `type:id:slug`.
pub fn entitlement_id(resource_type: &str, resource_id: &str, slug: &str) -> String {
    format!("{resource_type}:{resource_id}:{slug}")
}

/// baton's grant id: the entitlement id, then the principal's type and id.
pub fn grant_id(g: &GrantRow) -> String {
    format!(
        "{}:{}:{}",
        entitlement_id(&g.resource_type, &g.resource_id, &g.entitlement),
        g.principal_type,
        g.principal_id
    )
}

/// The c1z file of `sync`, as bytes.
pub fn encode(sync: &Sync<'_>) -> Result<Vec<u8>> {
    let dir = tempfile::tempdir().context("cannot create a temporary directory for the c1z")?;
    let path = dir.path().join("c1z.db");
    {
        let mut conn = Connection::open(&path)?;
        conn.execute_batch(SCHEMA)?;
        let tx = conn.transaction()?;
        write_sync(&tx, sync)?;
        tx.commit()?;
        conn.execute_batch("PRAGMA optimize")?;
    }
    let db = std::fs::read(&path)?;
    let mut out = Vec::with_capacity(db.len() / 4);
    out.extend_from_slice(MAGIC);
    let mut encoder = zstd::stream::write::Encoder::new(out, 3)?;
    encoder.include_checksum(true)?;
    encoder.include_contentsize(true)?;
    encoder.set_pledged_src_size(Some(db.len() as u64))?;
    encoder.write_all(&db)?;
    Ok(encoder.finish()?)
}

/// baton's timestamp text: `2006-01-02 15:04:05.999999999`, no zone (the writer's
/// local time in baton-sdk; UTC here).
fn sqlite_time(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    let mut s = format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    if t.nanosecond() != 0 {
        let frac = format!("{:09}", t.nanosecond());
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s
}

fn traits_of(resource_type: &str) -> Vec<i32> {
    match resource_type {
        "user" => vec![proto::Trait::User as i32],
        "group" => vec![proto::Trait::Group as i32],
        "role" => vec![proto::Trait::Role as i32],
        _ => Vec::new(),
    }
}

fn resource_id(resource_type: &str, id: &str) -> proto::ResourceId {
    proto::ResourceId {
        resource_type: resource_type.to_string(),
        resource: id.to_string(),
    }
}

/// A JSON value as a `google.protobuf.Value`.
fn value(v: &serde_json::Value) -> prost_types::Value {
    use prost_types::value::Kind;
    let kind = match v {
        serde_json::Value::Null => Kind::NullValue(0),
        serde_json::Value::Bool(b) => Kind::BoolValue(*b),
        serde_json::Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or_default()),
        serde_json::Value::String(s) => Kind::StringValue(s.clone()),
        serde_json::Value::Array(a) => Kind::ListValue(prost_types::ListValue {
            values: a.iter().map(value).collect(),
        }),
        serde_json::Value::Object(o) => Kind::StructValue(structure(o)),
    };
    prost_types::Value { kind: Some(kind) }
}

fn structure(map: &serde_json::Map<String, serde_json::Value>) -> prost_types::Struct {
    prost_types::Struct {
        fields: map.iter().map(|(k, v)| (k.clone(), value(v))).collect(),
    }
}

fn timestamp(
    attributes: &serde_json::Map<String, serde_json::Value>,
    key: &str,
) -> Option<prost_types::Timestamp> {
    let text = attributes.get(key)?.as_str()?;
    let t =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    Some(prost_types::Timestamp {
        seconds: t.unix_timestamp(),
        nanos: t.nanosecond() as i32,
    })
}

/// A resource as baton's `Resource`: its id, parent, name, status, its ramsync attributes
/// as the profile, and the trait of its type.
fn resource(r: &ResourceRow) -> proto::Resource {
    let status = r.status.as_deref().map(|s| proto::Status {
        status: match s {
            "active" | "enabled" => proto::ResourceStatusValue::Enabled,
            "frozen" | "inactive" | "disabled" => proto::ResourceStatusValue::Disabled,
            _ => proto::ResourceStatusValue::Unspecified,
        } as i32,
        details: s.to_string(),
    });
    let mut annotations = Vec::new();
    match r.resource_type.as_str() {
        "user" => {
            let text = |k: &str| r.attributes.get(k).and_then(|v| v.as_str()).unwrap_or("");
            let user = proto::UserTrait {
                emails: Some(text("email"))
                    .filter(|e| !e.is_empty())
                    .map(|e| proto::Email {
                        address: e.to_string(),
                        is_primary: true,
                    })
                    .into_iter()
                    .collect(),
                status: status.clone(),
                account_type: proto::AccountType::Human as i32,
                login: r.name.clone(),
                last_login: timestamp(&r.attributes, "last_login_date"),
                mfa_status: r
                    .attributes
                    .get("mfa_enabled")
                    .and_then(|v| v.as_bool())
                    .map(|mfa_enabled| proto::MfaStatus { mfa_enabled }),
            };
            annotations.push(proto::annotation("UserTrait", &user));
        }
        "group" => annotations.push(proto::annotation("GroupTrait", &proto::GroupTrait {})),
        "role" => annotations.push(proto::annotation("RoleTrait", &proto::RoleTrait {})),
        _ => {}
    }
    proto::Resource {
        id: Some(resource_id(&r.resource_type, &r.id)),
        parent_resource_id: match (&r.parent_type, &r.parent_id) {
            (Some(t), Some(id)) => Some(resource_id(t, id)),
            _ => None,
        },
        display_name: if r.display_name.is_empty() {
            r.name.clone()
        } else {
            r.display_name.clone()
        },
        annotations,
        description: r.name.clone(),
        profile: Some(structure(&r.attributes)),
        status,
        created_at: timestamp(&r.attributes, "create_date"),
    }
}

fn write_sync(tx: &rusqlite::Transaction<'_>, sync: &Sync<'_>) -> Result<()> {
    use svix_ksuid::KsuidLike;
    let sync_id = svix_ksuid::Ksuid::new(Some(sync.started_at), None).to_string();
    let discovered = sqlite_time(sync.ended_at);
    tx.execute(
        "INSERT INTO v1_sync_runs (sync_id, started_at, ended_at, sync_token, sync_type, grants_backfilled)
         VALUES (?1, ?2, ?3, '', 'full', 1)",
        params![sync_id, sqlite_time(sync.started_at), sqlite_time(sync.ended_at)],
    )?;

    // Resource types: every listed type, then any type a grant's principal has that was
    // not listed (another account, a service), so that every principal's type resolves.
    let mut types: BTreeMap<String, proto::ResourceType> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    let with_entitlements: std::collections::HashSet<&str> = sync
        .entitlements
        .iter()
        .map(|e| e.resource_type.as_str())
        .collect();
    let mut add_type = |id: &str, display_name: &str| {
        if types.contains_key(id) {
            return;
        }
        let annotations = if with_entitlements.contains(id) {
            Vec::new()
        } else {
            vec![proto::annotation(
                "SkipEntitlementsAndGrants",
                &proto::SkipEntitlementsAndGrants {},
            )]
        };
        types.insert(
            id.to_string(),
            proto::ResourceType {
                id: id.to_string(),
                display_name: display_name.to_string(),
                traits: traits_of(id),
                annotations,
                description: String::new(),
            },
        );
        order.push(id.to_string());
    };
    for (id, display_name) in sync.resource_types {
        add_type(id, display_name);
    }
    for g in sync.grants {
        add_type(&g.principal_type, &g.principal_type);
    }
    {
        let mut insert = tx.prepare(
            "INSERT INTO v1_resource_types (external_id, data, sync_id, discovered_at) VALUES (?1, ?2, ?3, ?4)",
        )?;
        for id in &order {
            insert.execute(params![id, types[id].encode_to_vec(), sync_id, discovered])?;
        }
    }

    let mut resources: HashMap<(&str, &str), proto::Resource> = HashMap::new();
    {
        let mut insert = tx.prepare(
            "INSERT INTO v1_resources (resource_type_id, external_id, parent_resource_type_id, parent_resource_id, data, sync_id, discovered_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (external_id, sync_id) DO UPDATE SET data = excluded.data",
        )?;
        for r in sync.resources {
            let message = resource(r);
            insert.execute(params![
                r.resource_type,
                format!("{}:{}", r.resource_type, r.id),
                r.parent_type,
                r.parent_id,
                message.encode_to_vec(),
                sync_id,
                discovered,
            ])?;
            resources.insert((&r.resource_type, &r.id), message);
        }
    }
    // Embedded in entitlements and grants: the resource's id and name, as connectors do.
    let brief = |resource_type: &str, id: &str, name: &str| -> proto::Resource {
        match resources.get(&(resource_type, id)) {
            Some(r) => proto::Resource {
                id: r.id.clone(),
                parent_resource_id: r.parent_resource_id.clone(),
                display_name: r.display_name.clone(),
                ..Default::default()
            },
            None => proto::Resource {
                id: Some(resource_id(resource_type, id)),
                display_name: name.to_string(),
                ..Default::default()
            },
        }
    };

    let mut entitlements: HashMap<String, proto::Entitlement> = HashMap::new();
    {
        let mut insert = tx.prepare(
            "INSERT INTO v1_entitlements (resource_type_id, resource_id, external_id, data, sync_id, discovered_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (external_id, sync_id) DO UPDATE SET data = excluded.data",
        )?;
        for e in sync.entitlements {
            let id = entitlement_id(&e.resource_type, &e.resource_id, &e.slug);
            let message = proto::Entitlement {
                resource: Some(brief(&e.resource_type, &e.resource_id, "")),
                id: id.clone(),
                display_name: e.display_name.clone(),
                description: String::new(),
                grantable_to: e
                    .grantable_to
                    .iter()
                    .map(|t| proto::ResourceType {
                        id: t.clone(),
                        display_name: types.get(t).map_or(t.clone(), |t| t.display_name.clone()),
                        traits: traits_of(t),
                        ..Default::default()
                    })
                    .collect(),
                annotations: Vec::new(),
                purpose: match e.slug.as_str() {
                    "attached" => proto::Purpose::Permission,
                    _ => proto::Purpose::Assignment,
                } as i32,
                slug: e.slug.clone(),
            };
            insert.execute(params![
                e.resource_type,
                e.resource_id,
                id,
                message.encode_to_vec(),
                sync_id,
                discovered
            ])?;
            entitlements.insert(id, message);
        }
    }

    let mut insert = tx.prepare(
        "INSERT INTO v1_grants (resource_type_id, resource_id, entitlement_id, principal_resource_type_id, principal_resource_id, external_id, data, sync_id, discovered_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (external_id, sync_id) DO UPDATE SET data = excluded.data",
    )?;
    for g in sync.grants {
        let ent_id = entitlement_id(&g.resource_type, &g.resource_id, &g.entitlement);
        let entitlement = match entitlements.get(&ent_id) {
            Some(e) => proto::Entitlement {
                resource: e.resource.clone(),
                id: e.id.clone(),
                display_name: e.display_name.clone(),
                purpose: e.purpose,
                slug: e.slug.clone(),
                ..Default::default()
            },
            None => proto::Entitlement {
                resource: Some(brief(&g.resource_type, &g.resource_id, &g.resource_name)),
                id: ent_id.clone(),
                display_name: g.entitlement.clone(),
                slug: g.entitlement.clone(),
                ..Default::default()
            },
        };
        let annotations = if g.attributes.is_empty() {
            Vec::new()
        } else {
            vec![proto::annotation(
                "GrantMetadata",
                &proto::GrantMetadata {
                    metadata: Some(structure(&g.attributes)),
                },
            )]
        };
        let id = grant_id(g);
        let message = proto::Grant {
            entitlement: Some(entitlement),
            principal: Some(brief(&g.principal_type, &g.principal_id, &g.principal_name)),
            id: id.clone(),
            annotations,
        };
        insert.execute(params![
            g.resource_type,
            g.resource_id,
            ent_id,
            g.principal_type,
            g.principal_id,
            id,
            message.encode_to_vec(),
            sync_id,
            discovered
        ])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_written_as_baton_writes_them() {
        let t = time::macros::datetime!(2026-03-03 09:45:13.056791 UTC);
        assert_eq!(sqlite_time(t), "2026-03-03 09:45:13.056791");
        let t = time::macros::datetime!(2026-03-03 09:45:13 UTC);
        assert_eq!(sqlite_time(t), "2026-03-03 09:45:13");
    }
}
