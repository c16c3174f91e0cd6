//! Action-level questions on the store of a 100,000-user tenant (5,000 groups, 1,000 roles,
//! 2,000 policies, half of them attached, with the synthetic tenant's varied documents):
//! `who-can ram:AttachPolicyToUser`, one principal's `can`, and the privilege-escalation
//! findings of the whole tenant (every finding is timed once, for scale). The store is synced once and kept in target/ for later runs.

#[path = "../../tests/common/mod.rs"]
mod common;

use common::Mock;
use criterion::{Criterion, criterion_group, criterion_main};
use ramsync::mock::{MockOptions, Tenant};
use ramsync::permissions::Permissions;
use ramsync::store::Store;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Instant;

const SPEC: &str = "users=100000,groups=5000,roles=1000,policies=2000";

/// The synced store, made once per tenant spec and ramsync version of the documents.
fn store_path() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let path = target.join("bench-permissions-100k-v1.db");
    if Store::open_existing(&path)
        .and_then(|s| s.readable_sync("default").map(|_| ()))
        .is_ok()
    {
        return path;
    }
    let _ = std::fs::remove_file(&path);
    let mock = Mock::start(MockOptions::with_tenant(Tenant::synthetic(SPEC).unwrap()));
    let started = Instant::now();
    mock.sync_in_process(&path);
    println!(
        "synced {SPEC} into {} in {:.0} s",
        path.display(),
        started.elapsed().as_secs_f64()
    );
    path
}

fn permissions(c: &mut Criterion) {
    let path = store_path();
    let store = Store::open_for_queries(&path).unwrap();

    // Once, with what the answers are, so the timings are of real work.
    let started = Instant::now();
    let permissions = Permissions::new(&store, "default").unwrap();
    let allowed = permissions.who_can("ram:AttachPolicyToUser", None).unwrap();
    let principals: std::collections::BTreeSet<&str> =
        allowed.iter().map(|a| a.principal.as_str()).collect();
    println!(
        "who-can ram:AttachPolicyToUser, reading the policies included: {} paths of {} principals in {:.0} ms",
        allowed.len(),
        principals.len(),
        started.elapsed().as_secs_f64() * 1000.0
    );
    let started = Instant::now();
    let findings = ramsync::findings::findings(&store, "default").unwrap();
    let escalations = findings
        .iter()
        .filter(|f| f.code == "privilege-escalation")
        .count();
    println!(
        "findings: {} in {:.2} s, {escalations} of them privilege-escalation",
        findings.len(),
        started.elapsed().as_secs_f64()
    );

    c.bench_function("permissions/load-documents", |b| {
        b.iter(|| black_box(Permissions::new(&store, "default").unwrap()))
    });
    c.bench_function("permissions/who-can-attach-policy-to-user", |b| {
        b.iter(|| {
            let p = Permissions::new(&store, "default").unwrap();
            black_box(p.who_can("ram:AttachPolicyToUser", None).unwrap())
        })
    });
    c.bench_function("permissions/can", |b| {
        b.iter(|| {
            black_box(
                permissions
                    .can("user000021", "ram:AttachPolicyToUser", None)
                    .unwrap(),
            )
        })
    });
    let mut group = c.benchmark_group("permissions/slow");
    group.sample_size(10);
    group.bench_function("privilege-escalation-findings", |b| {
        b.iter(|| black_box(ramsync::findings::privilege_escalation(&store, "default").unwrap()))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = permissions
}
criterion_main!(benches);
