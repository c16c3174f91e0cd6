//! Running unattended: throttling storms, kill -9 and resume, SIGTERM, broken response
//! bodies, credentials expiring mid-sync, request rates, and many accounts in one run.

mod common;

use common::*;
use ramsync::mock::{Fault, FaultKind, MockKey, MockOptions, Tenant};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What queries show of the newest complete sync: every resource and grant, as JSON lines.
fn snapshot(db: &str, account: &str) -> (Vec<String>, Vec<String>) {
    let lines = |cmd: &str| {
        let out = ramsync(&[cmd, "--db", db, "--json", "--account", account], &[]);
        assert!(out.status.success(), "{cmd}: {}", stderr(&out));
        // Each local API makes its own credential report, stamped with when it did.
        let mut lines: Vec<String> = json_lines(&out)
            .into_iter()
            .map(|mut v| {
                if let Some(a) = v["attributes"].as_object_mut() {
                    a.remove("credential_report_time");
                }
                v.to_string()
            })
            .collect();
        lines.sort();
        lines
    };
    (lines("resources"), lines("grants"))
}

fn runs(db: &str) -> Vec<serde_json::Value> {
    json_lines(&ramsync(&["runs", "--db", db, "--json"], &[]))
}

fn sync_args(mock: &Mock, db: &str, extra: &[&str]) -> Vec<String> {
    let mut args = vec!["sync".to_string(), "--db".into(), db.into()];
    args.extend(mock.endpoint_args());
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

fn run_sync(mock: &Mock, db: &str, extra: &[&str]) -> std::process::Output {
    let args = sync_args(mock, db, extra);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    ramsync(&args, &demo_env())
}

fn spawn(args: &[String], env: &[(&str, &str)]) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ramsync"));
    cmd.args(args)
        .env(
            "RAMSYNC_ALIYUN_CONFIG",
            "/nonexistent/ramsync-test/config.json",
        )
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd.spawn().unwrap()
}

fn wait_with_deadline(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "the process did not exit in {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn child_stderr(child: Child) -> String {
    String::from_utf8_lossy(&child.wait_with_output().unwrap().stderr).into_owned()
}

fn signal(child: &Child, sig: libc::c_int) {
    // SAFETY: sends a signal to a child process this test started and has not reaped.
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, sig) }, 0);
}

/// Starts a sync and, once the local API has answered `calls` calls, sends it `sig`;
/// returns how it ended.
fn interrupt_after(mock: &Mock, db: &str, calls: u64, sig: libc::c_int) -> std::process::Output {
    let start = mock.server().total_calls();
    let mut child = spawn(&sync_args(mock, db, UNPACED), &demo_env());
    let deadline = Instant::now() + Duration::from_secs(60);
    while mock.server().total_calls() - start < calls {
        assert!(
            Instant::now() < deadline,
            "the sync never made {calls} calls"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the sync ended before {calls} calls"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    signal(&child, sig);
    wait_with_deadline(&mut child, Duration::from_secs(30));
    child.wait_with_output().unwrap()
}

/// Two pages of users, several pages of members in the biggest group, and two calls per
/// user (ListAccessKeys, GetLoginProfile) for most of a sync's calls.
const TENANT: &str = "users=1200,groups=60,roles=40,policies=80";

/// The syncs of the synthetic tenant run without the default request rate: its two calls
/// per user (ListAccessKeys, GetLoginProfile) would take over a minute at 50 a second per
/// product. These tests are about interruptions; pacing has its own test below.
const UNPACED: &[&str] = &["--qps", "0"];

fn sync_unpaced(mock: &Mock, db: &str) {
    let out = run_sync(mock, db, UNPACED);
    assert!(out.status.success(), "sync failed: {}", stderr(&out));
}

fn slow_mock() -> Mock {
    let mut options = MockOptions::with_tenant(Tenant::synthetic(TENANT).unwrap());
    options.latency = Duration::from_millis(4);
    Mock::start(options)
}

#[test]
fn a_throttling_storm_gives_the_same_result() {
    let calm = Mock::sample();
    let dir = tempfile::tempdir().unwrap();
    let expected_db = dir.path().join("calm.db");
    let expected_db = expected_db.to_str().unwrap();
    calm.sync(expected_db);

    let mut options = MockOptions::sample().unwrap();
    options
        .faults
        .push(Fault::every("*", FaultKind::Throttle, 3));
    let stormy = Mock::start(options);
    let db = dir.path().join("storm.db");
    let db = db.to_str().unwrap();
    let out = run_sync(&stormy, db, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(snapshot(db, "default"), snapshot(expected_db, "default"));
    // A third of the calls were refused, and each refused call was made again.
    let served = stormy.server().total_calls();
    let needed = calm.server().total_calls();
    assert!(
        served >= needed + needed / 3,
        "served {served}, needed {needed}"
    );
}

#[test]
fn kill_9_at_any_point_then_resume_gives_the_same_result() {
    let mock = slow_mock();
    let dir = tempfile::tempdir().unwrap();
    let reference = dir.path().join("reference.db");
    let reference = reference.to_str().unwrap();
    let before = mock.server().total_calls();
    sync_unpaced(&mock, reference);
    let full = mock.server().total_calls() - before;
    let expected = snapshot(reference, "default");

    // Points: while listing users; in the AccessKeys, listed per user; in the login
    // profiles, which enrich the users; near the end, among groups, roles and policies.
    for point in [2, full / 4, full * 3 / 4, full - 100] {
        let db = dir.path().join(format!("killed-{point}.db"));
        let db = db.to_str().unwrap();
        sync_unpaced(&mock, db);
        let first = snapshot(db, "default");

        let at = mock.server().total_calls();
        interrupt_after(&mock, db, point, libc::SIGKILL);
        let runs_now = runs(db);
        assert_eq!(runs_now[0]["status"], "interrupted", "point {point}");
        // The last complete sync stays readable while a run is unfinished.
        assert_eq!(snapshot(db, "default"), first);

        let out = run_sync(&mock, db, &["--resume", "--qps", "0"]);
        assert!(out.status.success(), "point {point}: {}", stderr(&out));
        let spent = mock.server().total_calls() - at;
        assert!(
            spent < full + full / 4,
            "point {point}: resuming made {spent} calls in all; a full sync makes {full}"
        );
        let runs_after = runs(db);
        assert_eq!(
            runs_after.len(),
            2,
            "the interrupted run was resumed, not replaced"
        );
        assert_eq!(runs_after[0]["status"], "complete");
        assert_eq!(snapshot(db, "default"), expected, "point {point}");
    }
}

#[test]
fn sigterm_stops_at_a_page_boundary_and_the_next_sync_resumes() {
    let mock = slow_mock();
    let dir = tempfile::tempdir().unwrap();
    let reference = dir.path().join("reference.db");
    let reference = reference.to_str().unwrap();
    sync_unpaced(&mock, reference);

    let db = dir.path().join("term.db");
    let db = db.to_str().unwrap();
    let out = interrupt_after(&mock, db, 30, libc::SIGTERM);
    let err = stderr(&out);
    assert!(err.contains("stopping"), "{err}");
    assert_eq!(runs(db)[0]["status"], "interrupted");

    // A plain sync picks the interrupted run up.
    let out = run_sync(&mock, db, UNPACED);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("resuming"), "{}", stderr(&out));
    assert_eq!(runs(db).len(), 1);
    assert_eq!(snapshot(db, "default"), snapshot(reference, "default"));
}

#[test]
fn serve_syncs_on_schedule_and_stops_cleanly_on_sigterm() {
    let mock = Mock::sample();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("serve.db");
    let db = db.to_str().unwrap();
    let config = dir.path().join("ramsync.toml");
    std::fs::write(
        &config,
        format!(
            "[[account]]\nname = \"prod\"\nendpoints = {{ ram = \"{u}\", ims = \"{u}\", sts = \"{u}\" }}\n\n\
             [[account]]\nname = \"broken\"\nendpoints = {{ ram = \"{u}\", ims = \"{u}\", sts = \"{u}\" }}\n\
             [account.assume_role]\nrole_arn = \"acs:ram::5284719302648173:role/vendorbyocaccess\"\n",
            u = mock.url()
        ),
    )
    .unwrap();
    let args: Vec<String> = [
        "serve",
        "--db",
        db,
        "--config",
        config.to_str().unwrap(),
        "--interval",
        "1s",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut child = spawn(&args, &demo_env());
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(child.try_wait().unwrap().is_none(), "serve exited early");
        let complete = std::path::Path::new(db).exists()
            && runs(db)
                .iter()
                .filter(|r| r["status"] == "complete")
                .count()
                >= 2;
        if complete {
            break;
        }
        assert!(Instant::now() < deadline, "serve did not sync twice");
        std::thread::sleep(Duration::from_millis(100));
    }
    signal(&child, libc::SIGTERM);
    let status = wait_with_deadline(&mut child, Duration::from_secs(20));
    assert!(status.success(), "{}", child_stderr(child));
    // The broken account fails every run, and serve carries on with the next.
    let all = runs(db);
    let of = |account: &str, status: &str| {
        all.iter()
            .filter(|r| r["account"] == account && r["status"] == status)
            .count()
    };
    assert!(
        of("prod", "complete") >= 2 && of("broken", "failed") >= 2,
        "{all:?}"
    );
    assert!(all.iter().all(|r| r["status"] != "running"));
}

#[test]
fn broken_response_bodies_fail_cleanly_and_keep_the_last_good_sync() {
    for kind in [
        FaultKind::Truncated,
        FaultKind::Garbled,
        FaultKind::Oversized,
    ] {
        let good = Mock::sample();
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("b.db");
        let db = db.to_str().unwrap();
        good.sync(db);
        let before = snapshot(db, "default");

        let mut options = MockOptions::sample().unwrap();
        options.faults.push(Fault::new("ListGroups", kind, None));
        let bad = Mock::start(options);
        let out = run_sync(&bad, db, &[]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{kind:?}: {err}");
        assert!(!err.contains("panicked"), "{kind:?}: {err}");
        let expected = match kind {
            FaultKind::Oversized => "more than the 16 MiB a response may have",
            _ => "ListGroups: the response is not valid JSON",
        };
        assert!(
            err.contains("bad response while listing group resources") && err.contains(expected),
            "{kind:?}: {err}"
        );
        // Other types still synced; the failed run is recorded; queries read the good one.
        assert_eq!(runs(db)[0]["status"], "failed");
        assert_eq!(snapshot(db, "default"), before, "{kind:?}");
    }
}

#[test]
fn assumed_role_credentials_are_renewed_when_they_expire_mid_sync() {
    let mut options = MockOptions::sample().unwrap();
    options.keys.insert(
        "LTAIvendorbot".into(),
        MockKey::foreign_user("vendor-secret", "1688001234567890", "vendor-bot"),
    );
    options.sts_lifetime = Some(Duration::from_secs(2));
    options.latency = Duration::from_millis(100);
    let mock = Mock::start(options);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("r.db");
    let db = db.to_str().unwrap();
    let started = Instant::now();
    let args = sync_args(
        &mock,
        db,
        &[
            "--assume-role",
            "acs:ram::5284719302648173:role/vendorbyocaccess",
            "--external-id",
            "nw-7f3c2a91",
            "--concurrency",
            "2",
            "-v",
        ],
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = ramsync(
        &args,
        &[
            ("ALIBABA_CLOUD_ACCESS_KEY_ID", "LTAIvendorbot"),
            ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "vendor-secret"),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let took = started.elapsed();
    let assumed = mock.server().calls()["sts:AssumeRole"];
    // Each session lasts at most 2 s and the local API refuses expired tokens, so a sync
    // that outlives a session completes only if it renewed its credentials on the way.
    assert!(
        took > Duration::from_secs(2) && assumed as f64 >= took.as_secs_f64() / 2.0,
        "{assumed} AssumeRole calls in {took:?}: {}",
        stderr(&out)
    );
    let reference = Mock::sample();
    let ref_db = dir.path().join("ref.db");
    let ref_db = ref_db.to_str().unwrap();
    reference.sync(ref_db);
    let (resources, grants) = snapshot(db, "default");
    let (ref_resources, ref_grants) = snapshot(ref_db, "default");
    assert_eq!(grants, ref_grants);
    // The account's caller differs (assumed role vs the demo user); everything else is equal.
    let strip = |lines: Vec<String>| -> Vec<String> {
        lines
            .into_iter()
            .filter(|l| !l.contains("\"resource_type\":\"account\""))
            .collect()
    };
    assert_eq!(strip(resources), strip(ref_resources));
}

#[test]
fn connections_are_kept_alive_and_never_outnumber_the_calls_in_flight() {
    let mut options = MockOptions::sample().unwrap();
    options.latency = Duration::from_millis(5);
    let mock = Mock::start(options);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.db");
    let db = db.to_str().unwrap();
    let out = run_sync(&mock, db, &["--concurrency", "3", "--qps", "0"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let calls = mock.server().total_calls();
    let connections = mock.server().connections();
    // RAM, IMS and STS are all served at the mock's one address.
    assert!(
        calls >= 30 && connections <= 3,
        "{calls} calls over {connections} connections"
    );
}

/// One throttled call with `x-acs-retry-after` holds every call of the account to that
/// product for that long, not just the throttled one (that other products go on is
/// `a_retry_after_holds_every_request_to_its_product_only` in the engine); then the sync
/// completes with the same result.
#[test]
fn a_retry_after_pauses_the_whole_product() {
    let retry_after = Duration::from_millis(1500);
    let tenant = "users=2000,groups=20,roles=10,policies=20";
    let mut options = MockOptions::with_tenant(Tenant::synthetic(tenant).unwrap());
    options.latency = Duration::from_millis(5);
    options.throttle_retry_after = retry_after;
    options.log_calls = true;
    // The first GetLoginProfile, with 1,600 more to come.
    options
        .faults
        .push(Fault::new("GetLoginProfile", FaultKind::Throttle, Some(1)));
    let mut calm = MockOptions::with_tenant(Tenant::synthetic(tenant).unwrap());
    calm.latency = Duration::from_millis(5);
    let (mock, calm) = (Mock::start(options), Mock::start(calm));
    let dir = tempfile::tempdir().unwrap();
    let (db, calm_db) = (dir.path().join("p.db"), dir.path().join("c.db"));
    let (db, calm_db) = (db.to_str().unwrap(), calm_db.to_str().unwrap());
    sync_unpaced(&mock, db);
    sync_unpaced(&calm, calm_db);
    assert_eq!(snapshot(db, "default"), snapshot(calm_db, "default"));

    let log = mock.server().call_log();
    let first = log
        .iter()
        .find(|(_, c)| c == "ims:GetLoginProfile")
        .expect("a throttled GetLoginProfile")
        .0;
    // Calls already on their way when the throttle was answered may still arrive; after
    // that, no IMS call until the retry-after has passed.
    let window = |product: &str| {
        log.iter()
            .filter(|(t, c)| {
                c.starts_with(product)
                    && *t > first + Duration::from_millis(200)
                    && *t < first + retry_after
            })
            .count()
    };
    assert_eq!(window("ims:"), 0, "IMS calls during the pause");
    assert!(
        log.iter()
            .any(|(t, c)| c.starts_with("ims:") && *t > first + retry_after)
    );
}

#[test]
fn the_request_rate_is_limited_per_product() {
    let mock = Mock::sample();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("q.db");
    let db = db.to_str().unwrap();
    let started = Instant::now();
    let out = run_sync(&mock, db, &["--qps", "20"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let took = started.elapsed();
    let calls = mock.server().calls();
    let busiest = ["ram", "ims"]
        .iter()
        .map(|p| {
            calls
                .iter()
                .filter(|(k, _)| k.starts_with(&format!("{p}:")))
                .map(|(_, n)| n)
                .sum::<u64>()
        })
        .max()
        .unwrap();
    // A burst of up to 20, then 20 a second: no faster than that.
    let floor = Duration::from_secs_f64(busiest.saturating_sub(20) as f64 / 20.0);
    assert!(
        took >= floor,
        "{busiest} calls to one product in {took:?}; 20 per second needs {floor:?}"
    );
}

#[test]
fn two_accounts_one_broken_the_other_completes() {
    let mock = Mock::sample();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("two.db");
    let db = db.to_str().unwrap();
    let config = dir.path().join("accounts.toml");
    let u = mock.url();
    std::fs::write(
        &config,
        format!(
            r#"
[[account]]
name = "prod"
qps = 200
endpoints = {{ ram = "{u}", ims = "{u}", sts = "{u}" }}

[[account]]
name = "vendor"
endpoints = {{ ram = "{u}", ims = "{u}", sts = "{u}" }}
[account.assume_role]
role_arn = "acs:ram::5284719302648173:role/vendorbyocaccess"
"#
        ),
    )
    .unwrap();
    let out = ramsync(
        &["sync", "--db", db, "--config", config.to_str().unwrap()],
        &demo_env(),
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let table = stdout(&out);
    let line = |name: &str| {
        table
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no line for {name}: {table}"))
            .to_string()
    };
    assert!(line("prod").contains("complete"), "{table}");
    assert!(line("vendor").contains("failed"), "{table}");
    let err = stderr(&out);
    assert!(
        err.contains("1 of 2 accounts did not complete")
            && err.contains("vendor: ")
            && err.contains("AssumeRole acs:ram::5284719302648173:role/vendorbyocaccess refused: NoPermission (ExternalId required?"),
        "{err}"
    );
    // Each account is its own run; the good one is queryable by name.
    let all = runs(db);
    assert_eq!(all.len(), 2);
    let expected = expected_sample();
    let (resources, _) = snapshot(db, "prod");
    let users = resources
        .iter()
        .filter(|l| l.contains("\"resource_type\":\"user\""))
        .count();
    assert_eq!(users, expected.users.len());
    let out = ramsync(&["resources", "--db", db, "--account", "vendor"], &[]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no complete sync"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_config_file_with_mistakes_is_refused_with_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.db");
    let config = dir.path().join("ramsync.toml");
    std::fs::write(
        &config,
        "[[account]]\nname = \"prod\"\nqps = 20\n\n[[account]]\nname = \"staging\"\nqsp = 5\n",
    )
    .unwrap();
    let out = ramsync(
        &[
            "sync",
            "--db",
            db.to_str().unwrap(),
            "--config",
            config.to_str().unwrap(),
        ],
        &demo_env(),
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("{}:7:1: unknown field `qsp`", config.display())),
        "{err}"
    );
    assert!(
        !db.exists(),
        "nothing is synced until the whole file is valid"
    );

    let out = ramsync(
        &[
            "sync",
            "--db",
            db.to_str().unwrap(),
            "--config",
            "/nonexistent/ramsync.toml",
        ],
        &demo_env(),
    );
    assert!(stderr(&out).contains("cannot read config file /nonexistent/ramsync.toml"));

    std::fs::write(&config, "[[account]]\nname = \"prod\"\n").unwrap();
    let out = ramsync(
        &[
            "sync",
            "--db",
            db.to_str().unwrap(),
            "--config",
            config.to_str().unwrap(),
            "--profile",
            "x",
        ],
        &demo_env(),
    );
    assert!(
        stderr(&out).contains("cannot be combined with --config"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn one_sync_at_a_time_per_database() {
    let mock = slow_mock();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("l.db");
    let db = db.to_str().unwrap();
    let mut first = spawn(&sync_args(&mock, db, UNPACED), &demo_env());
    while mock.server().total_calls() < 3 {
        std::thread::sleep(Duration::from_millis(2));
    }
    let out = run_sync(&mock, db, UNPACED);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("another ramsync process is syncing into"),
        "{}",
        stderr(&out)
    );
    assert!(wait_with_deadline(&mut first, Duration::from_secs(60)).success());
}
