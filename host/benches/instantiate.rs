//! A syncer call that does no I/O (the group syncer's `entitlements`): in the instance kept
//! for the account's context, and in a fresh store and instance through pre-instantiation.

use criterion::{Criterion, criterion_group, criterion_main};
use ramsync::engine::{CallContext, Limits, Resource, ResourceRef, Syncer};
use ramsync::http_policy::Endpoints;
use std::hint::black_box;

fn instantiate(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let engine = ramsync::engine::new_engine().unwrap();
    let set = ramsync::manifest::builtin().unwrap();
    let groups = set.iter().find(|p| p.entry.name == "groups").unwrap();
    let syncer = runtime
        .block_on(Syncer::load(
            &engine,
            &groups.entry.name,
            &groups.wasm,
            Limits::default(),
            &groups.entry.capabilities,
        ))
        .unwrap();
    let ctx = CallContext::new(Endpoints::default(), None, Limits::default());
    let group = Resource {
        ref_: ResourceRef {
            resource_type: "group".into(),
            id: "g-1".into(),
        },
        name: "admins".into(),
        display_name: "Administrators".into(),
        parent: None,
        attributes: Vec::new(),
    };
    // One account's sync: its calls reuse the instance kept in its context.
    c.bench_function("syncer/kept-instance-call", |b| {
        b.to_async(&runtime)
            .iter(|| async { black_box(syncer.entitlements(&ctx, &group, None).await.unwrap()) })
    });
    // A context per call: every call gets a fresh store and instance.
    c.bench_function("syncer/fresh-instance-call", |b| {
        b.to_async(&runtime).iter(|| async {
            let ctx = CallContext::new(Endpoints::default(), None, Limits::default());
            black_box(syncer.entitlements(&ctx, &group, None).await.unwrap())
        })
    });
    c.bench_function("syncer/compile", |b| {
        b.iter(|| {
            black_box(wasmtime::component::Component::from_binary(&engine, &groups.wasm).unwrap())
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = instantiate
}
criterion_main!(benches);
