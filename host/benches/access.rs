//! Effective-access queries on the store of a 10,000-user tenant.

use criterion::{Criterion, criterion_group, criterion_main};
use ramsync::access::Access;
use ramsync::credentials::Credential;
use ramsync::engine::{Auth, CallContext, Limits, Plugins};
use ramsync::http_policy::Endpoints;
use ramsync::mock::{DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET, MockOptions, MockServer, Tenant};
use ramsync::scheduler::SyncOptions;
use ramsync::store::Store;
use std::hint::black_box;
use std::sync::Arc;

fn access(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let tenant = Tenant::synthetic("users=10000,groups=500,roles=100,policies=300").unwrap();
    let server = runtime
        .block_on(MockServer::start(
            "127.0.0.1:0",
            MockOptions::with_tenant(tenant),
        ))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("access.db");
    runtime.block_on(async {
        let plugins = Plugins::builtin(Limits::default()).await.unwrap();
        let auth = Arc::new(Auth::fixed(
            plugins.signer.clone(),
            Credential::new(DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET, None),
        ));
        let ctx = CallContext::new(
            Endpoints::all_at(&server.url()).unwrap(),
            Some(auth),
            Limits::default(),
        );
        let mut store = Store::open_or_create(&path).unwrap();
        let report = ramsync::scheduler::sync(
            &plugins,
            &ctx,
            &mut store,
            &SyncOptions::default(),
            &ramsync::progress::ProgressDisplay::hidden().account("default"),
        )
        .await
        .unwrap();
        assert!(report.is_complete());
    });
    let store = Store::open_existing(&path).unwrap();
    let access = Access::new(&store, "default").unwrap();
    c.bench_function("access/principal", |b| {
        b.iter(|| black_box(access.of_principal("user000021").unwrap()))
    });
    c.bench_function("access/resource-role", |b| {
        b.iter(|| black_box(access.of_resource("role:role-00007").unwrap()))
    });
    let held = access
        .of_resource("policy:SystemPolicy00000")
        .unwrap()
        .len();
    println!("policy:SystemPolicy00000 is held through {held} paths");
    c.bench_function("access/resource-policy", |b| {
        b.iter(|| black_box(access.of_resource("policy:SystemPolicy00000").unwrap()))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = access
}
criterion_main!(benches);
