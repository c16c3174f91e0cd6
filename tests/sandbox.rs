//! The sandbox: a misbehaving plugin is stopped and reported, and the host carries on.

mod common;

use common::*;
use ramsync::credentials::Credential;
use ramsync::engine::{Auth, CallContext, CallError, Limits, Plugins, Syncer};
use ramsync::http_policy::Endpoints;
use ramsync::scheduler::SyncOptions;
use ramsync::store::Store;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn misbehaving_wasm() -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("RAMSYNC_TEST_PLUGIN_DIR")).join("test-misbehaving.wasm"),
    )
    .unwrap()
}

fn tight_limits() -> Limits {
    Limits {
        memory_bytes: 32 << 20,
        call_timeout: Duration::from_secs(20),
        cpu_deadline: Duration::from_millis(500),
        ..Limits::default()
    }
}

async fn misbehaving(mock: &Mock, limits: Limits) -> (Plugins, Arc<Syncer>, CallContext) {
    misbehaving_with(mock, limits, &["ims"]).await
}

async fn misbehaving_with(
    mock: &Mock,
    limits: Limits,
    products: &[&str],
) -> (Plugins, Arc<Syncer>, CallContext) {
    let mut plugins = Plugins::builtin(limits).await.unwrap();
    let syncer = Arc::new(
        Syncer::load(
            &plugins.engine,
            "test-misbehaving",
            &misbehaving_wasm(),
            limits,
            &ramsync::manifest::Capabilities {
                products: products.iter().map(|p| p.to_string()).collect(),
                ..Default::default()
            },
        )
        .await
        .unwrap(),
    );
    plugins.syncers.push(syncer.clone());
    let ctx = mock.demo_context(&plugins, limits);
    (plugins, syncer, ctx)
}

#[test]
fn a_trap_fails_that_type_alone_and_the_run_is_recorded_failed() {
    let mock = Mock::sample();
    let dir = tempfile::tempdir().unwrap();
    mock.runtime.block_on(async {
        let (plugins, _, ctx) = misbehaving(&mock, Limits::default()).await;
        let mut store = Store::open_or_create(&dir.path().join("s.db")).unwrap();
        let report = sync_quietly(&plugins, &ctx, &mut store, &SyncOptions::default())
            .await
            .unwrap();
        assert!(!report.is_complete());
        for t in &report.types {
            if t.resource_type == "misbehaving" {
                let e = t.error.as_deref().unwrap();
                assert!(e.contains("plugin test-misbehaving trapped"), "{e}");
            } else {
                assert!(
                    t.error.is_none(),
                    "{} failed: {:?}",
                    t.resource_type,
                    t.error
                );
                assert!(t.resources > 0);
            }
        }
        assert_eq!(store.runs().unwrap()[0].status, "failed");
        assert!(store.latest_complete("default").unwrap().is_none());
    });
}

#[test]
fn an_endless_loop_is_stopped_at_its_deadline() {
    let mock = Mock::sample();
    mock.runtime.block_on(async {
        let (_, syncer, ctx) = misbehaving(&mock, tight_limits()).await;
        let started = Instant::now();
        match syncer.list_resources(&ctx, None, Some("loop")).await {
            Err(CallError::Trap(m)) => assert!(m.contains("CPU deadline"), "{m}"),
            other => panic!("expected a deadline trap, got {other:?}"),
        }
        assert!(started.elapsed() < Duration::from_secs(10));
        // The same plugin still works afterwards, in a fresh store.
        assert!(matches!(
            syncer
                .list_resources(&ctx, None, Some("no-such-mode"))
                .await,
            Err(CallError::Plugin(_))
        ));
    });
}

#[test]
fn unbounded_allocation_hits_the_memory_cap() {
    let mock = Mock::sample();
    mock.runtime.block_on(async {
        let (_, syncer, ctx) = misbehaving(&mock, tight_limits()).await;
        match syncer.list_resources(&ctx, None, Some("alloc")).await {
            Err(CallError::Trap(_)) => {}
            other => panic!("expected a trap, got {other:?}"),
        }
    });
}

#[test]
fn a_host_outside_the_allowlist_is_denied_and_named() {
    let mock = Mock::sample();
    mock.runtime.block_on(async {
        let (_, syncer, ctx) = misbehaving(&mock, tight_limits()).await;
        match syncer.list_resources(&ctx, None, Some("evil-host")).await {
            Err(e @ CallError::Denied { .. }) => {
                let CallError::Denied { host } = &e else { unreachable!() };
                assert_eq!(host, "https://evil.example.com");
                let text = ramsync::scheduler::describe("test-misbehaving", "misbehaving", "listing", &e, &ctx, &SyncOptions::default());
                assert!(text.starts_with("host not allowed: plugin test-misbehaving tried to reach https://evil.example.com"), "{text}");
                assert!(text.contains("--endpoint"), "{text}");
            }
            other => panic!("expected a denial, got {other:?}"),
        }
    });
}

#[test]
fn syncers_get_no_environment_filesystem_or_sockets() {
    let mock = Mock::sample();
    mock.runtime.block_on(async {
        let (_, syncer, ctx) = misbehaving(&mock, tight_limits()).await;
        match syncer.list_resources(&ctx, None, Some("snoop")).await {
            Err(CallError::Plugin(ramsync::engine::PluginError::InvalidInput(m))) => {
                assert_eq!(m, "env=0 args=0 fs=false net=false")
            }
            other => panic!("unexpected {other:?}"),
        }
    });
}

/// The call's error, when the host refused a request of the plugin's.
fn refused(outcome: Result<ramsync::engine::ResourcePage, CallError>) -> String {
    match outcome {
        Err(CallError::Refused(m)) => m,
        other => panic!("expected the host to refuse, got {other:?}"),
    }
}

#[test]
fn a_syncer_gets_no_write_action_signed_while_syncing() {
    let mock = Mock::sample();
    mock.runtime.block_on(async {
        let (_, syncer, ctx) = misbehaving(&mock, tight_limits()).await;
        let m = refused(syncer.list_resources(&ctx, None, Some("write")).await);
        assert!(
            m.contains("ims:CreateUser") && m.contains("not a read action"),
            "{m}"
        );
        let e = CallError::Refused(m);
        let text = ramsync::scheduler::describe(
            "test-misbehaving",
            "misbehaving",
            "listing misbehaving resources",
            &e,
            &ctx,
            &SyncOptions::default(),
        );
        assert!(
            text.starts_with(
                "refused: plugin test-misbehaving made a request the host does not allow"
            ),
            "{text}"
        );
    });
    assert!(!mock.server().calls().contains_key("ims:CreateUser"));
}

#[test]
fn actions_that_return_credentials_are_never_signed_for_a_plugin() {
    let mock = Mock::sample();
    mock.runtime.block_on(async {
        let (_, syncer, ctx) = misbehaving_with(&mock, tight_limits(), &["ims", "sts"]).await;
        for mode in ["create-access-key", "assume-role"] {
            let m = refused(syncer.list_resources(&ctx, None, Some(mode)).await);
            assert!(m.contains("returns credentials"), "{mode}: {m}");
        }
    });
    let calls = mock.server().calls();
    assert!(
        !calls.contains_key("ims:CreateAccessKey") && !calls.contains_key("sts:AssumeRole"),
        "{calls:?}"
    );
}

#[test]
fn a_request_signed_with_the_plugins_own_key_is_not_sent() {
    let mock = Mock::sample();
    mock.runtime.block_on(async {
        let (_, syncer, ctx) = misbehaving(&mock, tight_limits()).await;
        let m = refused(syncer.list_resources(&ctx, None, Some("own-key")).await);
        assert!(m.contains("not produced by the host's signer"), "{m}");
    });
    assert_eq!(
        mock.server().total_calls(),
        0,
        "{:?}",
        mock.server().calls()
    );
}

#[test]
fn a_host_signature_is_sent_once_and_only_for_the_request_it_signed() {
    let mock = Mock::sample();
    mock.runtime.block_on(async {
        let (_, syncer, ctx) = misbehaving(&mock, tight_limits()).await;
        for (mode, why) in [
            ("tamper-query", "query is not the signed query"),
            ("tamper-action", "x-acs-action header is not the signed one"),
            ("tamper-body", "body is not the signed body"),
            ("replay", "not produced by the host's signer"),
        ] {
            let m = refused(syncer.list_resources(&ctx, None, Some(mode)).await);
            assert!(m.contains(why), "{mode}: {m}");
        }
        // Signing for a host that is not the product's endpoint is refused too.
        match syncer
            .list_resources(&ctx, None, Some("sign-foreign-host"))
            .await
        {
            Err(CallError::Denied { host }) => {
                assert!(host.starts_with("ims.aliyuncs.com"), "{host}")
            }
            other => panic!("expected a denial, got {other:?}"),
        }
    });
    // Only the first send of the replayed request reached the API.
    assert_eq!(mock.server().calls().get("ims:ListUsers"), Some(&1));
}

#[test]
fn signatures_that_are_never_sent_are_capped() {
    let mock = Mock::sample();
    mock.runtime.block_on(async {
        let (_, syncer, ctx) = misbehaving(&mock, tight_limits()).await;
        let m = refused(
            syncer
                .list_resources(&ctx, None, Some("hoard-signatures"))
                .await,
        );
        assert!(m.contains("more than 64 signatures without sending"), "{m}");
    });
    assert_eq!(mock.server().total_calls(), 0);
}

#[test]
fn waiting_on_a_clock_or_a_slow_api_is_not_cpu_time() {
    let mut options = ramsync::mock::MockOptions::sample().unwrap();
    options.latency = Duration::from_millis(800);
    let mock = Mock::start(options);
    mock.runtime.block_on(async {
        // A 500 ms CPU budget; the plugin waits 1.5 s on a clock, then 0.8 s on the API.
        let (_, syncer, ctx) = misbehaving(&mock, tight_limits()).await;
        let started = Instant::now();
        syncer
            .list_resources(&ctx, None, Some("sleep"))
            .await
            .unwrap();
        syncer
            .list_resources(&ctx, None, Some("list-users"))
            .await
            .unwrap();
        assert!(started.elapsed() >= Duration::from_millis(2300));
        // Guest computation is still held to the budget.
        match syncer.list_resources(&ctx, None, Some("loop")).await {
            Err(CallError::Trap(m)) => assert!(m.contains("CPU deadline"), "{m}"),
            other => panic!("expected a deadline trap, got {other:?}"),
        }
    });
}

#[test]
fn waiting_for_the_rate_limit_is_not_counted_against_the_call_timeout() {
    let mock = Mock::sample();
    mock.runtime.block_on(async {
        let limits = Limits {
            call_timeout: Duration::from_secs(1),
            ..tight_limits()
        };
        let (plugins, syncer, _) = misbehaving(&mock, limits).await;
        let auth = Arc::new(Auth::fixed(
            plugins.signer.clone(),
            Credential::new(DEMO_ID, DEMO_SECRET, None),
        ));
        let ctx = CallContext::with_rates(
            Endpoints::all_at(&mock.url()).unwrap(),
            Some(auth),
            limits,
            ramsync::http_policy::RateLimits::new(Some(1)),
        );
        // Four calls at one request a second: the last waits about 3 s for its turn.
        let calls = (0..4).map(|_| syncer.list_resources(&ctx, None, Some("list-users")));
        for outcome in futures::future::join_all(calls).await {
            outcome.unwrap();
        }
    });
}

#[test]
fn memory_is_capped_per_store_and_in_total() {
    let mock = Mock::sample();
    mock.runtime.block_on(async {
        let roomy = Limits {
            memory_bytes: 64 << 20,
            ..tight_limits()
        };
        let (plugins, syncer, ctx) = misbehaving(&mock, roomy).await;
        syncer
            .list_resources(&ctx, None, Some("alloc-32m"))
            .await
            .unwrap();
        assert_eq!(
            plugins.engine.memory_in_use(),
            0,
            "stores give their memory back"
        );

        // The same 32 MiB, within the store's 64 MiB, but past a 24 MiB total.
        let tight_total = Limits {
            total_memory_bytes: 24 << 20,
            ..roomy
        };
        let (plugins, syncer, ctx) = misbehaving(&mock, tight_total).await;
        match syncer.list_resources(&ctx, None, Some("alloc-32m")).await {
            Err(CallError::Trap(_)) => {}
            other => panic!("expected the total cap to stop it, got {other:?}"),
        }
        assert_eq!(plugins.engine.memory_in_use(), 0);
    });
}

#[test]
fn a_syncer_instance_is_kept_for_one_account_and_dropped_after_a_trap() {
    let mock = Mock::sample();
    mock.runtime.block_on(async {
        let (plugins, syncer, ctx) = misbehaving(&mock, Limits::default()).await;
        async fn calls_seen(syncer: &Syncer, ctx: &CallContext) -> String {
            let page = syncer
                .list_resources(ctx, None, Some("instance-calls"))
                .await
                .unwrap();
            page.items[0].ref_.id.clone()
        }
        // The pages of one account's sync go to the instance that answered before.
        assert_eq!(calls_seen(&syncer, &ctx).await, "1");
        assert_eq!(calls_seen(&syncer, &ctx).await, "2");
        // Another account (another call context) never gets that instance.
        let other = mock.demo_context(&plugins, Limits::default());
        assert_eq!(calls_seen(&syncer, &other).await, "1");
        assert_eq!(calls_seen(&syncer, &ctx).await, "3");
        // An instance that trapped is dropped: the next call starts afresh.
        assert!(matches!(
            syncer.list_resources(&ctx, None, Some("trap")).await,
            Err(CallError::Trap(_))
        ));
        assert_eq!(calls_seen(&syncer, &ctx).await, "1");
    });
}

/// A sync of the sample tenant, with the misbehaving syncer nested under the account and
/// `mode` as the account's alias, which picks its misbehaviour.
fn sync_with_mode(
    mode: &str,
    options: SyncOptions,
) -> (ramsync::scheduler::SyncReport, Store, tempfile::TempDir) {
    let mut tenant = ramsync::mock::Tenant::sample().unwrap();
    tenant.alias = mode.to_string();
    let mock = Mock::start(ramsync::mock::MockOptions::with_tenant(tenant));
    let dir = tempfile::tempdir().unwrap();
    let report = mock.runtime.block_on(async {
        let (plugins, _, ctx) = misbehaving(&mock, Limits::default()).await;
        let mut store = Store::open_or_create(&dir.path().join("s.db")).unwrap();
        sync_quietly(&plugins, &ctx, &mut store, &options)
            .await
            .unwrap()
    });
    let store = Store::open_or_create(&dir.path().join("s.db")).unwrap();
    (report, store, dir)
}

fn misbehaving_error(report: &ramsync::scheduler::SyncReport) -> String {
    for t in &report.types {
        if t.resource_type != "misbehaving" {
            assert!(t.error.is_none(), "{}: {:?}", t.resource_type, t.error);
        }
    }
    report
        .types
        .iter()
        .find(|t| t.resource_type == "misbehaving")
        .and_then(|t| t.error.clone())
        .expect("the misbehaving type failed")
}

#[test]
fn entitlements_and_grants_of_resources_a_plugin_does_not_own_are_rejected() {
    for (mode, what) in [
        (
            "foreign-grant",
            "returned a grant of role:victim-role-id while asked about misbehaving:r1",
        ),
        (
            "foreign-entitlement",
            "returned an entitlement of group:admins-group-id while asked about misbehaving:r1",
        ),
        (
            "foreign-parent",
            "returned misbehaving \"r1\" under user:someone-else",
        ),
    ] {
        let (report, store, _dir) = sync_with_mode(mode, SyncOptions::default());
        let e = misbehaving_error(&report);
        assert!(
            e.starts_with("plugin test-misbehaving ") && e.contains(what),
            "{mode}: {e}"
        );
        let stored: i64 = store
            .connection()
            .query_row(
                "SELECT count(*) FROM grants WHERE resource_id = 'victim-role-id' OR principal_id = '*'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(stored, 0, "{mode}: nothing of it is stored");
        assert_eq!(store.runs().unwrap()[0].status, "failed");
    }
}

#[test]
fn paging_is_bounded_and_cycles_are_caught() {
    let (report, _, _dir) = sync_with_mode("cycle", SyncOptions::default());
    let e = misbehaving_error(&report);
    assert!(
        e.contains("returned the page token \"a\" a second time (a paging cycle)"),
        "{e}"
    );

    let (report, _, _dir) = sync_with_mode("huge-page", SyncOptions::default());
    let e = misbehaving_error(&report);
    assert!(
        e.contains("returned 10001 items in one page (at most 10000"),
        "{e}"
    );

    let options = SyncOptions {
        max_pages: 40,
        ..SyncOptions::default()
    };
    let (report, _, _dir) = sync_with_mode("endless", options);
    let e = misbehaving_error(&report);
    assert!(
        e.contains("returned more than 40 pages for one listing"),
        "{e}"
    );
}

#[test]
fn a_dry_run_gives_the_plugin_no_credentials() {
    let mock = Mock::sample();
    mock.runtime.block_on(async {
        let plugins = Plugins::builtin(Limits::default()).await.unwrap();
        let groups = plugins
            .syncers
            .iter()
            .find(|s| s.info.id == "group")
            .unwrap();
        // Credentials that cannot be had: a role at an STS that does not answer.
        let source =
            ramsync::sts::CredentialSource::Fixed(Credential::new(DEMO_ID, DEMO_SECRET, None))
                .assume(ramsync::sts::AssumeRole::new("acs:ram::1:role/unreachable"));
        let auth = Arc::new(Auth {
            signer: plugins.signer.clone(),
            source,
        });
        let mut endpoints = Endpoints::all_at(&mock.url()).unwrap();
        endpoints.set("sts", "http://127.0.0.1:9").unwrap();
        let ctx = CallContext::new(endpoints, Some(auth), Limits::default());
        let resource = ramsync::engine::Resource {
            ref_: ramsync::engine::ResourceRef {
                resource_type: "group".into(),
                id: "g".into(),
            },
            name: "admins".into(),
            display_name: "admins".into(),
            parent: None,
            attributes: Vec::new(),
        };
        let principal = ramsync::engine::Resource {
            ref_: ramsync::engine::ResourceRef {
                resource_type: "user".into(),
                id: "u".into(),
            },
            name: "alice@corp.onaliyun.com".into(),
            ..resource.clone()
        };
        groups
            .provision(&ctx, false, &resource, "member", &principal, true)
            .await
            .expect("a dry run needs no credentials");
        // The same call for real needs them, and says so.
        match groups
            .provision(&ctx, false, &resource, "member", &principal, false)
            .await
        {
            Err(CallError::Credentials(_)) => {}
            other => panic!("expected a credentials error, got {other:?}"),
        }
    });
    assert_eq!(mock.server().total_calls(), 0);
}

/// Starts a sync and stops it before its first page, leaving a resumable run.
fn interrupted_sync(mock: &Mock, db: &std::path::Path, id: &str, secret: &str) {
    run_sync(mock, db, id, secret, true);
}

fn run_sync(
    mock: &Mock,
    db: &std::path::Path,
    id: &str,
    secret: &str,
    stop: bool,
) -> ramsync::scheduler::SyncReport {
    mock.runtime.block_on(async {
        let plugins = Plugins::builtin(Limits::default()).await.unwrap();
        let ctx = mock.context_as(&plugins, Limits::default(), id, secret);
        let options = SyncOptions::default();
        options
            .stop
            .store(stop, std::sync::atomic::Ordering::Relaxed);
        let mut store = Store::open_or_create(db).unwrap();
        sync_quietly(&plugins, &ctx, &mut store, &options)
            .await
            .unwrap()
    })
}

#[test]
fn an_interrupted_run_is_resumed_only_against_the_same_endpoints_and_identity() {
    let mut options = ramsync::mock::MockOptions::sample().unwrap();
    options.keys.insert(
        "LTAIcideployer".into(),
        ramsync::mock::MockKey::user("ci-secret", "ci-deployer"),
    );
    let first = Mock::start(options);
    let other = Mock::sample();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("r.db");

    // Same endpoints, same identity: resumed.
    interrupted_sync(&first, &db, DEMO_ID, DEMO_SECRET);
    let report = run_sync(&first, &db, DEMO_ID, DEMO_SECRET, false);
    assert!(report.resumed && report.is_complete());

    // Another endpoint: a new run, and the interrupted one is failed with the reason.
    interrupted_sync(&first, &db, DEMO_ID, DEMO_SECRET);
    let report = run_sync(&other, &db, DEMO_ID, DEMO_SECRET, false);
    assert!(!report.resumed && report.is_complete());
    let store = Store::open_existing(&db).unwrap();
    let runs = store.runs().unwrap();
    let abandoned = runs[1].error.clone().unwrap();
    assert_eq!(runs[1].status, "failed");
    assert!(
        abandoned.contains("not resumed: it synced against") && abandoned.contains(&first.url()),
        "{abandoned}"
    );

    // Another identity at the same endpoints: a new run.
    interrupted_sync(&first, &db, DEMO_ID, DEMO_SECRET);
    let report = run_sync(&first, &db, "LTAIcideployer", "ci-secret", false);
    assert!(!report.resumed);
    let store = Store::open_existing(&db).unwrap();
    let abandoned = store.runs().unwrap()[1].error.clone().unwrap();
    assert!(
        abandoned.contains("user/ramsync-reader") && abandoned.contains("user/ci-deployer"),
        "{abandoned}"
    );
}

#[test]
fn a_store_error_ends_the_run_failed_not_running() {
    let mock = Mock::sample();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let outcome = mock.runtime.block_on(async {
        let plugins = Plugins::builtin(Limits::default()).await.unwrap();
        let ctx = mock.demo_context(&plugins, Limits::default());
        let mut store = Store::open_or_create(&db).unwrap();
        // Break the store under the sync: the table each finished type is recorded in.
        rusqlite::Connection::open(&db)
            .unwrap()
            .execute_batch("DROP TABLE resource_types")
            .unwrap();
        sync_quietly(&plugins, &ctx, &mut store, &SyncOptions::default()).await
    });
    assert!(outcome.is_err());
    let store = Store::open_existing(&db).unwrap();
    let run = &store.runs().unwrap()[0];
    assert_eq!(run.status, "failed");
    assert!(
        run.error
            .as_deref()
            .unwrap()
            .contains("stopped by a store error"),
        "{run:?}"
    );
}

#[test]
fn plugins_list_shows_the_actions_and_only_declared_writes_are_signed() {
    let out = ramsync(&["plugins", "list", "--json"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let groups = json_lines(&out)
        .into_iter()
        .find(|p| p["name"] == "groups")
        .unwrap();
    assert_eq!(
        groups["capabilities"]["provision_actions"],
        serde_json::json!(["ram:AddUserToGroup", "ram:RemoveUserFromGroup"])
    );
    let text = stdout(&ramsync(&["plugins", "list"], &[]));
    assert!(
        text.contains("provisions ram:AddUserToGroup+ram:RemoveUserFromGroup"),
        "{text}"
    );

    // The same plugins with the groups syncer's write actions taken out of its entry.
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    let plugins_arg = plugins.to_str().unwrap();
    assert!(
        ramsync(&["plugins", "export", plugins_arg], &[])
            .status
            .success()
    );
    let manifest_path = plugins.join("plugins.json");
    let mut manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest_path).unwrap()).unwrap();
    for p in manifest["plugins"].as_array_mut().unwrap() {
        if p["name"] == "groups" {
            p["capabilities"]
                .as_object_mut()
                .unwrap()
                .remove("provision_actions");
        }
    }
    std::fs::write(&manifest_path, manifest.to_string()).unwrap();
    let mock = Mock::sample();
    let mut args = vec![
        "grant",
        "--entitlement",
        "group:Admins:member",
        "--principal",
        "user:hzhou@corp.onaliyun.com",
        "--yes",
        "--plugin-dir",
        plugins_arg,
    ]
    .into_iter()
    .map(String::from)
    .collect::<Vec<_>>();
    args.extend(mock.endpoint_args());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = ramsync(&args, &demo_env());
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("ram:AddUserToGroup is not among the provision_actions"),
        "{err}"
    );
    assert!(!mock.server().calls().contains_key("ram:AddUserToGroup"));
}

#[test]
fn a_symlinked_database_takes_the_same_lock() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("real.db");
    std::fs::write(&db, b"").unwrap();
    let link = dir.path().join("link.db");
    std::os::unix::fs::symlink(&db, &link).unwrap();
    let _held = ramsync::accounts::SyncLock::acquire(&db).unwrap();
    let second = ramsync::accounts::SyncLock::acquire(&link);
    assert!(
        second.is_err(),
        "a symlink to a locked database must not get its own lock"
    );
    let relative = ramsync::accounts::SyncLock::acquire(&dir.path().join("./real.db"));
    assert!(relative.is_err());
}

#[test]
fn a_foreign_sqlite_file_is_refused_before_its_journal_mode_changes() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("other.db");
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch("CREATE TABLE notes (text TEXT); INSERT INTO notes VALUES ('mine');")
            .unwrap();
    }
    let err = Store::open_or_create(&db).err().unwrap();
    assert!(
        format!("{err:#}").contains("not a ramsync database"),
        "{err:#}"
    );
    let conn = rusqlite::Connection::open(&db).unwrap();
    let mode: String = conn
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "delete");
    assert!(!dir.path().join("other.db-wal").exists());
}

#[test]
fn bad_account_names_and_synthetic_sizes_are_refused() {
    let out = ramsync(
        &["resources", "--db", "x.db", "--account", "prod east"],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("is not a valid account name"),
        "{}",
        stderr(&out)
    );
    let out = ramsync(
        &["sync", "--db", "x.db", "--account", "../etc"],
        &demo_env(),
    );
    assert_eq!(out.status.code(), Some(2));
    let out = ramsync(
        &[
            "mock",
            "--listen",
            "127.0.0.1:0",
            "--synthetic",
            "users=99999999999999",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("users=99999999999999 is too large; at most 1000000"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn a_peer_closing_its_socket_does_not_kill_the_local_api() {
    use std::io::{BufRead, Read, Write};
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ramsync"))
        .args(["mock", "--listen", "127.0.0.1:0", "--fault", "*=oversized"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // The reader stays open to the end: a closed stdout would end the process, as it should.
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap()
        .to_string();
    let addr = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    // Ask for an oversized answer and hang up without reading it, many times.
    for _ in 0..20 {
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        s.write_all(b"POST /?MaxItems=1 HTTP/1.1\r\nHost: x\r\nx-acs-action: ListUsers\r\nx-acs-version: 2019-08-15\r\ncontent-length: 0\r\n\r\n").unwrap();
        let mut first = [0u8; 1];
        let _ = s.read(&mut first);
        drop(s);
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(child.try_wait().unwrap().is_none(), "the local API died");
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nconnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1"), "{answer}");
    child.kill().unwrap();
    child.wait().unwrap();
    drop(stdout);
}

#[test]
fn a_resource_type_that_never_answers_fails_the_load_at_its_timeout() {
    let wasm = std::fs::read(
        std::path::Path::new(env!("RAMSYNC_TEST_PLUGIN_DIR")).join("test-slow-type.wasm"),
    )
    .unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let limits = Limits {
            call_timeout: Duration::from_secs(1),
            ..tight_limits()
        };
        let engine = ramsync::engine::new_runtime(&limits).unwrap();
        let started = Instant::now();
        let err = Syncer::load(
            &engine,
            "test-slow-type",
            &wasm,
            limits,
            &ramsync::manifest::Capabilities::default(),
        )
        .await
        .err()
        .expect("the load must fail");
        assert!(
            format!("{err:#}")
                .contains("plugin test-slow-type: resource-type did not answer within 1s"),
            "{err:#}"
        );
        assert!(started.elapsed() < Duration::from_secs(10));
    });
}
