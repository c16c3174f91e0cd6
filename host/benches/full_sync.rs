//! A full sync of a synthetic tenant (10,000 users, 500 groups) through the local API:
//! wall time under criterion, then one run of the `ramsync` binary for its API calls
//! (against the minimum needed) and its peak memory.

use criterion::{Criterion, criterion_group, criterion_main};
use ramsync::credentials::Credential;
use ramsync::engine::{Auth, CallContext, Limits, Plugins};
use ramsync::http_policy::Endpoints;
use ramsync::mock::{DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET, MockOptions, MockServer, Tenant};
use ramsync::scheduler::SyncOptions;
use ramsync::store::Store;
use std::sync::Arc;

const SPEC: &str = "users=10000,groups=500,roles=100,policies=300";

/// The fewest calls that can read the tenant: each list at its largest page size, one
/// GetRole per role for its trust policy, one ListEntitiesForPolicy per attached policy,
/// one GetPolicy per attached Custom policy, and per user one ListAccessKeys and one
/// GetLoginProfile.
fn minimum_calls(t: &Tenant) -> u64 {
    let pages = |n: usize, size: usize| n.div_ceil(size).max(1) as u64;
    let mfa_devices =
        t.users.iter().filter(|u| u.mfa_device.is_some()).count() + t.unbound_mfa_devices.len();
    2 + pages(t.users.len(), 1000)
        + 2 * t.users.len() as u64
        + pages(mfa_devices, 100)
        + pages(t.groups.len(), 100)
        + t.groups
            .iter()
            .map(|g| pages(g.members.len(), 100))
            .sum::<u64>()
        + pages(t.roles.len(), 1000)
        + t.roles.len() as u64
        + pages(t.policies.len(), 1000)
        + t.attachments.iter().filter(|a| !a.is_empty()).count() as u64
        + (0..t.policies.len())
            .filter(|&i| !t.attachments[i].is_empty() && t.policies[i].policy_type == "Custom")
            .count() as u64
}

fn full_sync(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let tenant = Tenant::synthetic(SPEC).unwrap();
    let minimum = minimum_calls(&tenant);
    let server = runtime
        .block_on(MockServer::start(
            "127.0.0.1:0",
            MockOptions::with_tenant(tenant),
        ))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();

    // One run of the real binary, for calls and peak memory.
    let db = dir.path().join("once.db");
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_ramsync"));
    cmd.args(["sync", "--db", db.to_str().unwrap()]);
    for p in ["ram", "ims", "sts"] {
        cmd.args(["--endpoint", &format!("{p}={}", server.url())]);
    }
    let before = server.total_calls();
    let out = cmd
        .env("ALIBABA_CLOUD_ACCESS_KEY_ID", DEMO_ACCESS_KEY_ID)
        .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", DEMO_ACCESS_KEY_SECRET)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let calls = server.total_calls() - before;
    println!("full sync of {SPEC} by the ramsync binary:");
    println!(
        "  {}",
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .unwrap_or_default()
    );
    println!("  API calls: {calls} (minimum {minimum})");

    let plugins = runtime
        .block_on(Plugins::builtin(Limits::default()))
        .unwrap();
    let auth = Arc::new(Auth::fixed(
        plugins.signer.clone(),
        Credential::new(DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET, None),
    ));
    let ctx = CallContext::new(
        Endpoints::all_at(&server.url()).unwrap(),
        Some(auth),
        Limits::default(),
    );
    let mut group = c.benchmark_group("full-sync");
    group.sample_size(10);
    let mut n = 0;
    group.bench_function("users=10000,groups=500", |b| {
        b.iter(|| {
            n += 1;
            let mut store =
                Store::open_or_create(&dir.path().join(format!("bench-{n}.db"))).unwrap();
            let report = runtime
                .block_on(ramsync::scheduler::sync(
                    &plugins,
                    &ctx,
                    &mut store,
                    &SyncOptions::default(),
                    &ramsync::progress::ProgressDisplay::hidden().account("default"),
                ))
                .unwrap();
            assert!(report.is_complete());
        })
    });
    group.finish();
}

criterion_group!(benches, full_sync);
criterion_main!(benches);
