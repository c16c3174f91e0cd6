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
    }
}

async fn misbehaving(mock: &Mock, limits: Limits) -> (Plugins, Arc<Syncer>, CallContext) {
    let mut plugins = Plugins::builtin(limits).await.unwrap();
    let syncer = Arc::new(
        Syncer::load(
            &plugins.engine,
            "test-misbehaving",
            &misbehaving_wasm(),
            limits,
            &ramsync::manifest::Capabilities {
                products: vec!["ims".into()],
                provisions: false,
            },
        )
        .await
        .unwrap(),
    );
    plugins.syncers.push(syncer.clone());
    let auth = Arc::new(Auth::fixed(
        plugins.signer.clone(),
        Credential::new(DEMO_ID, DEMO_SECRET, None),
    ));
    let ctx = CallContext::new(Endpoints::all_at(&mock.url()).unwrap(), Some(auth), limits);
    (plugins, syncer, ctx)
}

#[test]
fn a_trap_fails_that_type_alone_and_the_run_is_recorded_failed() {
    let mock = Mock::sample();
    let dir = tempfile::tempdir().unwrap();
    mock.runtime.block_on(async {
        let (plugins, _, ctx) = misbehaving(&mock, Limits::default()).await;
        let mut store = Store::open_or_create(&dir.path().join("s.db")).unwrap();
        let report = ramsync::scheduler::sync(
            &plugins,
            &ctx,
            &mut store,
            &SyncOptions::default(),
            &ramsync::progress::ProgressDisplay::hidden().account("default"),
        )
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
