//! ACS3 signing: the pure crate natively, against the signer component through the host
//! (an instance kept for the credential and reused, as a sync does it). Both key the HMAC
//! once per credential, as the component does for the credential it keeps.

use criterion::{Criterion, criterion_group, criterion_main};
use ramsync::credentials::Credential;
use ramsync::engine::{HttpRequest, Limits, Signer};
use std::hint::black_box;

/// As in the binary: the host's side of a call allocates.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

type Pairs = Vec<(String, String)>;

fn request() -> (Pairs, Pairs) {
    let query = vec![
        ("MaxItems".to_string(), "1000".to_string()),
        ("Status".to_string(), "active,freeze".to_string()),
        (
            "Marker".to_string(),
            "+/+/TGlzdFVzZXJzOmFjdGl2ZSxmcmVlemV8MTAwMA==".to_string(),
        ),
    ];
    let headers = vec![
        ("host".to_string(), "ims.aliyuncs.com".to_string()),
        ("x-acs-action".to_string(), "ListUsers".to_string()),
        ("x-acs-version".to_string(), "2019-08-15".to_string()),
        ("x-acs-date".to_string(), "2026-11-24T08:00:00Z".to_string()),
        (
            "x-acs-signature-nonce".to_string(),
            "3156853299f313e23d1673dc12e1703d".to_string(),
        ),
        (
            "x-acs-content-sha256".to_string(),
            ramsync_acs3::EMPTY_BODY_SHA256.to_string(),
        ),
    ];
    (query, headers)
}

fn signing(c: &mut Criterion) {
    let (query, headers) = request();
    let mut group = c.benchmark_group("acs3");
    let key = ramsync_acs3::SigningKey::new("LTAIbenchkey", "bench-secret");
    group.bench_function("native", |b| {
        b.iter(|| {
            let input = ramsync_acs3::SigningInput {
                method: "POST",
                path: "/",
                query: &query,
                headers: &headers,
                hashed_payload: ramsync_acs3::EMPTY_BODY_SHA256,
            };
            black_box(key.sign(black_box(&input)))
        })
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let engine = ramsync::engine::new_engine().unwrap();
    let signer = Signer::load(
        &engine,
        "signer-acs3",
        ramsync::builtin::signer(),
        Limits::default(),
    )
    .unwrap();
    let credential = Credential::new("LTAIbenchkey", "bench-secret", None);
    let request = HttpRequest {
        method: "POST".into(),
        host: "ims.aliyuncs.com".into(),
        path: "/".into(),
        query: query.clone(),
        headers: headers.clone(),
        body: Vec::new(),
    };
    group.bench_function("component", |b| {
        b.to_async(&runtime).iter(|| async {
            black_box(signer.sign(&request, &credential).await.unwrap().unwrap())
        })
    });
    group.finish();
}

criterion_group!(benches, signing);
criterion_main!(benches);
