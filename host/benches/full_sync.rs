//! Full syncs through the local API. First, figures measured once by the `ramsync` binary:
//! the 100,000-user tenant (wall time, peak memory, API calls against the minimum) and the
//! official Python SDK fetching the same data (benches/sdk_full_sync.py) as a ratio; a
//! distant endpoint (50 ms a call) paced to a QPS limit against calls / QPS; and start-up
//! with and without the compiled-component cache. Then criterion times a 10,000-user sync.

#[path = "../../tests/common/mod.rs"]
mod common;

use criterion::{Criterion, criterion_group, criterion_main};
use ramsync::credentials::Credential;
use ramsync::engine::{Auth, CallContext, Limits, Plugins};
use ramsync::http_policy::Endpoints;
use ramsync::mock::{DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET, MockOptions, MockServer, Tenant};
use ramsync::scheduler::SyncOptions;
use ramsync::store::Store;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// As in the binary: the local API, served from this process, allocates per call too.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SPEC: &str = "users=10000,groups=500,roles=100,policies=300";
const LARGE: &str = "users=100000,groups=5000,roles=1000,policies=2000";
const PACED: &str = "users=300,groups=20,roles=10,policies=20";

/// The fewest calls that can read the tenant: each list at its largest page size, one
/// GetRole per role for its trust policy, one ListEntitiesForPolicy per attached policy,
/// one GetPolicy per attached Custom policy, and the users' credentials. Those come from
/// the credential report where Alibaba Cloud makes one (at most 3,500 users: generating it
/// at least twice, to start it and see it done, then a page per 1,000 rows), which leaves
/// ListAccessKeys for users with keys, GetLoginProfile for users with a login profile and
/// GetAccessKeyLastUsed for an active key that shares its creation time with another of its
/// user's; otherwise one refused GenerateCredentialReport, then per user one ListAccessKeys
/// and one GetLoginProfile, and per active key one GetAccessKeyLastUsed. The account syncer
/// reads the password policy and the security preference, and the report's <root> row:
/// one more GenerateCredentialReport (the report is done by then at best) and one
/// one-row page, or one refused GenerateCredentialReport.
fn minimum_calls(t: &Tenant) -> u64 {
    let pages = |n: usize, size: usize| n.div_ceil(size).max(1) as u64;
    let mfa_devices =
        t.users.iter().filter(|u| u.mfa_device.is_some()).count() + t.unbound_mfa_devices.len();
    let count = |f: &dyn Fn(&ramsync::mock::tenant::User) -> usize| {
        t.users.iter().map(f).sum::<usize>() as u64
    };
    let account_settings = 2 + if t.users.len() <= 3500 { 2 } else { 1 };
    let credentials = account_settings
        + if t.users.len() <= 3500 {
            2 + pages(t.users.len() + 1, 1000)
                + count(&|u| usize::from(!u.access_keys.is_empty()))
                + count(&|u| usize::from(u.console.is_some()))
                + count(&|u| u.active_keys_sharing_a_creation_time())
        } else {
            1 + 2 * t.users.len() as u64
                + count(&|u| {
                    u.access_keys
                        .iter()
                        .filter(|k| k.status == "Active")
                        .count()
                })
        };
    2 + pages(t.users.len(), 1000)
        + credentials
        + pages(mfa_devices, 100)
        + pages(t.groups.len(), 100)
        + t.groups
            .iter()
            .map(|g| pages(g.members.len(), 100))
            .sum::<u64>()
        + pages(t.roles.len(), 1000)
        + t.roles.len() as u64
        + pages(t.policies.len(), 1000)
        + 2 * t.attachments.iter().filter(|a| !a.is_empty()).count() as u64
}

/// Runs `ramsync ARGS` with the demo key; returns its wall time and stdout. (Its peak memory
/// is the summary line's: the getrusage of a child counts the bench process it was forked
/// from, which holds the local API and its tenant.)
fn ramsync(args: &[&str], env: &[(&str, &str)]) -> (Duration, String) {
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_ramsync"))
        .args(args)
        .env("ALIBABA_CLOUD_ACCESS_KEY_ID", DEMO_ACCESS_KEY_ID)
        .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", DEMO_ACCESS_KEY_SECRET)
        .env("RAMSYNC_ALIYUN_CONFIG", "/nonexistent/config.json")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let took = started.elapsed();
    assert!(
        out.status.success(),
        "ramsync {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (took, String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A full sync by the binary against `server`, in a fresh database.
fn sync_once(server: &MockServer, dir: &Path, extra: &[&str]) -> (Duration, String, u64) {
    let db = dir.join(format!("once-{}.db", rand_suffix()));
    let mut args = vec!["sync".to_string(), "--db".into(), db.display().to_string()];
    for p in ["ram", "ims", "sts"] {
        args.extend(["--endpoint".to_string(), format!("{p}={}", server.url())]);
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let before = server.total_calls();
    let (took, out) = ramsync(&args, &[]);
    let summary = out.lines().next().unwrap_or_default().to_string();
    (took, summary, server.total_calls() - before)
}

fn rand_suffix() -> u64 {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// The official Python SDK fetching the same data: (seconds, calls).
fn sdk_sync(server: &MockServer, workers: u32) -> (f64, u64) {
    let out = Command::new(common::python())
        .arg(common::repo_root().join("benches/sdk_full_sync.py"))
        .arg(server.url().trim_start_matches("http://"))
        .args([DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET])
        .args(["--workers", &workers.to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    (v["seconds"].as_f64().unwrap(), v["calls"].as_u64().unwrap())
}

fn start(runtime: &tokio::runtime::Runtime, tenant: Tenant, latency_ms: u64) -> MockServer {
    let mut options = MockOptions::with_tenant(tenant);
    options.latency = Duration::from_millis(latency_ms);
    runtime
        .block_on(MockServer::start("127.0.0.1:0", options))
        .unwrap()
}

/// The figures the README reports, each measured once by the real binary.
/// Whether a part of the figures runs: all of them unless `RAMSYNC_BENCH_FIGURES` names
/// some (`large`, `large20`, `paced`, `startup`, comma-separated; `none` for criterion alone).
fn wanted(part: &str) -> bool {
    match std::env::var("RAMSYNC_BENCH_FIGURES") {
        Err(_) => true,
        Ok(parts) => parts.split(',').any(|p| p.trim() == part),
    }
}

fn figures(runtime: &tokio::runtime::Runtime, dir: &Path) {
    if wanted("large") || wanted("large20") {
        // The timed syncs load the plugins from the compiled cache, as every run after a
        // machine's first does; compiling them is the start-up figure's cold case.
        ramsync(&["plugins", "verify"], &[]);
    }
    if wanted("large") {
        large(runtime, dir);
    }
    if wanted("large20") {
        large_distant(runtime, dir);
    }
    if wanted("paced") {
        paced(runtime, dir);
    }
    if wanted("startup") {
        startup(dir);
    }
}

/// The large tenant: time, memory and calls, against the official SDK.
fn large(runtime: &tokio::runtime::Runtime, dir: &Path) {
    let tenant = Tenant::synthetic(LARGE).unwrap();
    let minimum = minimum_calls(&tenant);
    let server = start(runtime, tenant, 0);
    let (took, summary, calls) = sync_once(&server, dir, &["--qps", "0"]);
    println!("full sync of {LARGE} by the ramsync binary (--qps 0):");
    println!("  {summary}");
    println!(
        "  wall {:.2} s, API calls {calls} (minimum {minimum})",
        took.as_secs_f64()
    );
    for workers in [1, 8] {
        let (seconds, sdk_calls) = sdk_sync(&server, workers);
        println!(
            "  official Python SDK, {workers} thread(s): {seconds:.2} s for {sdk_calls} calls; ramsync is {:.2}x its speed",
            seconds / took.as_secs_f64()
        );
    }
}

/// The large tenant 20 ms away: ramsync with 128 calls in flight against the SDK on 8 threads.
/// (At its default of 8, ramsync makes as many calls as the SDK with as many in flight.)
fn large_distant(runtime: &tokio::runtime::Runtime, dir: &Path) {
    let server = start(runtime, Tenant::synthetic(LARGE).unwrap(), 20);
    let (took, _, calls) = sync_once(&server, dir, &["--qps", "0", "--concurrency", "128"]);
    let took = took.as_secs_f64();
    println!(
        "{LARGE} at 20 ms latency, ramsync --qps 0 --concurrency 128: {took:.2} s for {calls} calls"
    );
    let (seconds, sdk_calls) = sdk_sync(&server, 8);
    println!(
        "  official Python SDK at 20 ms latency, 8 threads: {seconds:.2} s for {sdk_calls} calls; ramsync is {:.2}x its speed",
        seconds / took
    );
}

/// A distant endpoint: 50 ms a call, paced to a QPS limit, against calls / QPS.
fn paced(runtime: &tokio::runtime::Runtime, dir: &Path) {
    let tenant = Tenant::synthetic(PACED).unwrap();
    let server = start(runtime, tenant, 50);
    for qps in ["10", "0"] {
        let before = server.calls();
        let (took, _, calls) = sync_once(&server, dir, &["--qps", qps]);
        let after = server.calls();
        let busiest = ["ram", "ims", "sts"]
            .iter()
            .map(|p| {
                after
                    .iter()
                    .filter(|(k, _)| k.starts_with(&format!("{p}:")))
                    .map(|(k, n)| n - before.get(k).copied().unwrap_or(0))
                    .sum::<u64>()
            })
            .max()
            .unwrap();
        let bound = match qps.parse::<u64>().unwrap() {
            0 => "no limit".to_string(),
            q => format!(
                "the limit allows no less than {:.1} s ({busiest} calls to the busiest product / {q} per second, after a burst of {q})",
                busiest.saturating_sub(q) as f64 / q as f64
            ),
        };
        println!(
            "{PACED} at 50 ms latency, --qps {qps}: {:.2} s for {calls} calls; {bound}",
            took.as_secs_f64()
        );
    }
    let (seconds, sdk_calls) = sdk_sync(&server, 1);
    println!(
        "  official Python SDK at 50 ms latency, 1 thread: {seconds:.2} s for {sdk_calls} calls"
    );
    let (seconds, sdk_calls) = sdk_sync(&server, 8);
    println!(
        "  official Python SDK at 50 ms latency, 8 threads: {seconds:.2} s for {sdk_calls} calls"
    );
}

/// Start-up: compiling the plugins, then loading them from the compiled cache.
fn startup(dir: &Path) {
    let cache = dir.join("component-cache");
    let env = [("RAMSYNC_CACHE_DIR", cache.to_str().unwrap())];
    let (cold, _) = ramsync(&["plugins", "verify"], &env);
    let (warm, _) = ramsync(&["plugins", "verify"], &env);
    println!(
        "start-up (`ramsync plugins verify`, which loads every plugin): cold {:.2} s, from the compiled cache {:.2} s",
        cold.as_secs_f64(),
        warm.as_secs_f64()
    );
}

fn full_sync(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    figures(&runtime, dir.path());
    let server = start(&runtime, Tenant::synthetic(SPEC).unwrap(), 0);

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
