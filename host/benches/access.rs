//! Effective-access queries on the store of a 10,000-user tenant.

#[path = "../../tests/common/mod.rs"]
mod common;

use common::Mock;
use criterion::{Criterion, criterion_group, criterion_main};
use ramsync::access::Access;
use ramsync::mock::{MockOptions, Tenant};
use ramsync::store::Store;
use std::hint::black_box;

fn access(c: &mut Criterion) {
    let tenant = Tenant::synthetic("users=10000,groups=500,roles=100,policies=300").unwrap();
    let mock = Mock::start(MockOptions::with_tenant(tenant));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("access.db");
    mock.sync_in_process(&path);
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
