//! The scheduler against fake syncers through its `TypeSyncer` interface, and the real
//! SQLite store: paging, checkpoints and the checks on plugin output, without wasmtime.

use ramsync_engine::{
    CallContext, CallError, EntitlementPage, GrantPage, Limits, Resource, ResourcePage,
    ResourceRef, TypeInfo,
};
use ramsync_model::Endpoints;
use ramsync_scheduler::progress::ProgressDisplay;
use ramsync_scheduler::{SyncOptions, TypeSyncer, sync_types};
use ramsync_store::Store;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Barrier;

/// Lists `widget` resources from a fixed chain of pages: token -> (ids, next token); or,
/// for a nested type, one resource per parent.
struct Widgets {
    name: String,
    info: TypeInfo,
    pages: HashMap<Option<String>, (Vec<&'static str>, Option<&'static str>)>,
    asked: Mutex<Vec<Option<String>>>,
    /// Waited on by the first call, when set.
    barrier: Option<Arc<Barrier>>,
}

impl Widgets {
    fn new(pages: &[(Option<&'static str>, &[&'static str], Option<&'static str>)]) -> Self {
        Self::of_type("widget", pages)
    }

    fn of_type(
        id: &str,
        pages: &[(Option<&'static str>, &[&'static str], Option<&'static str>)],
    ) -> Self {
        Widgets {
            name: format!("{id}s"),
            info: TypeInfo {
                id: id.into(),
                display_name: id.into(),
                parent_type: None,
                skip_entitlements_and_grants: true,
                provisions: Vec::new(),
                enriches: false,
            },
            pages: pages
                .iter()
                .map(|(token, ids, next)| (token.map(String::from), (ids.to_vec(), *next)))
                .collect(),
            asked: Mutex::default(),
            barrier: None,
        }
    }

    fn nested_under(id: &str, parent: &str) -> Self {
        let mut nested = Self::of_type(id, &[]);
        nested.info.parent_type = Some(parent.into());
        nested
    }
}

impl TypeSyncer for Widgets {
    fn name(&self) -> &str {
        &self.name
    }
    fn info(&self) -> &TypeInfo {
        &self.info
    }
    async fn list_resources(
        &self,
        _ctx: &CallContext,
        parent: Option<&Resource>,
        token: Option<&str>,
    ) -> Result<ResourcePage, CallError> {
        let token = token.map(String::from);
        let first = {
            let mut asked = self.asked.lock().unwrap();
            asked.push(token.clone());
            asked.len() == 1
        };
        if let (true, Some(barrier)) = (first, &self.barrier) {
            barrier.wait().await;
        }
        // Let other work run between pages, as a real API call would.
        tokio::task::yield_now().await;
        let resource = |id: String| Resource {
            ref_: ResourceRef {
                resource_type: self.info.id.clone(),
                id: id.clone(),
            },
            name: id.clone(),
            display_name: id,
            parent: parent.map(|p| p.ref_.clone()),
            attributes: Vec::new(),
        };
        if let Some(parent) = parent {
            return Ok(ResourcePage {
                items: vec![resource(format!("{}-child", parent.ref_.id))],
                next_page_token: None,
            });
        }
        let (ids, next) = self.pages.get(&token).cloned().unwrap_or_default();
        Ok(ResourcePage {
            items: ids.iter().map(|id| resource(id.to_string())).collect(),
            next_page_token: next.map(String::from),
        })
    }
    async fn entitlements(
        &self,
        _ctx: &CallContext,
        _resource: &Resource,
        _token: Option<&str>,
    ) -> Result<EntitlementPage, CallError> {
        unreachable!("widgets have no entitlements")
    }
    async fn grants(
        &self,
        _ctx: &CallContext,
        _resource: &Resource,
        _token: Option<&str>,
    ) -> Result<GrantPage, CallError> {
        unreachable!("widgets have no grants")
    }
}

fn context() -> CallContext {
    let endpoints = Endpoints::all_at("http://127.0.0.1:9").unwrap();
    CallContext::new(endpoints, None, Limits::default())
}

async fn sync(store: &mut Store, syncer: &Widgets) -> ramsync_scheduler::SyncReport {
    sync_all(store, std::slice::from_ref(syncer)).await
}

async fn sync_all(store: &mut Store, syncers: &[Widgets]) -> ramsync_scheduler::SyncReport {
    let display = ProgressDisplay::hidden();
    let options = SyncOptions {
        account: "fake".into(),
        ..SyncOptions::default()
    };
    sync_types(
        syncers,
        &context(),
        store,
        &options,
        &display.account("fake"),
    )
    .await
    .unwrap()
}

fn widget_ids(store: &Store) -> Vec<String> {
    ids_of(store, "widget")
}

fn ids_of(store: &Store, resource_type: &str) -> Vec<String> {
    let run = store.readable_sync("fake").unwrap();
    let mut ids: Vec<String> = store
        .query_resources(run.id, Some(resource_type))
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn every_page_is_asked_for_once_and_stored() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open_or_create(&dir.path().join("fake.db")).unwrap();
    let widgets = Widgets::new(&[
        (None, &["a", "b"], Some("p2")),
        (Some("p2"), &["c", "d"], Some("p3")),
        (Some("p3"), &["e"], None),
    ]);
    let report = sync(&mut store, &widgets).await;
    assert!(report.is_complete(), "{:?}", report.error);
    assert_eq!(report.types[0].resources, 5);
    assert_eq!(widget_ids(&store), ["a", "b", "c", "d", "e"]);
    assert_eq!(
        *widgets.asked.lock().unwrap(),
        [None, Some("p2".to_string()), Some("p3".to_string())]
    );
}

#[tokio::test]
async fn a_paging_cycle_fails_the_sync_and_the_last_good_run_stays_readable() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open_or_create(&dir.path().join("fake.db")).unwrap();
    let good = Widgets::new(&[(None, &["a", "b"], None)]);
    let first = sync(&mut store, &good).await;
    assert!(first.is_complete());

    // p2 -> p3 -> p2: a cycle longer than one page, which a repeat check alone would miss.
    let cycling = Widgets::new(&[
        (None, &["x"], Some("p2")),
        (Some("p2"), &["y"], Some("p3")),
        (Some("p3"), &["z"], Some("p2")),
    ]);
    let second = sync(&mut store, &cycling).await;
    let error = second.error.expect("a paging cycle fails the sync");
    assert!(error.contains("paging cycle"), "{error}");
    assert_eq!(
        cycling.asked.lock().unwrap().len(),
        3,
        "it stops at the cycle"
    );
    assert_eq!(store.readable_sync("fake").unwrap().id, first.sync_id);
    assert_eq!(widget_ids(&store), ["a", "b"]);
}

#[tokio::test]
async fn a_resource_of_another_type_fails_the_sync() {
    struct Liar(Widgets);
    impl TypeSyncer for Liar {
        fn name(&self) -> &str {
            self.0.name()
        }
        fn info(&self) -> &TypeInfo {
            self.0.info()
        }
        async fn list_resources(
            &self,
            ctx: &CallContext,
            parent: Option<&Resource>,
            token: Option<&str>,
        ) -> Result<ResourcePage, CallError> {
            let mut page = self.0.list_resources(ctx, parent, token).await?;
            page.items[0].ref_.resource_type = "user".into();
            Ok(page)
        }
        async fn entitlements(
            &self,
            ctx: &CallContext,
            resource: &Resource,
            token: Option<&str>,
        ) -> Result<EntitlementPage, CallError> {
            self.0.entitlements(ctx, resource, token).await
        }
        async fn grants(
            &self,
            ctx: &CallContext,
            resource: &Resource,
            token: Option<&str>,
        ) -> Result<GrantPage, CallError> {
            self.0.grants(ctx, resource, token).await
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open_or_create(&dir.path().join("fake.db")).unwrap();
    let display = ProgressDisplay::hidden();
    let options = SyncOptions {
        account: "fake".into(),
        ..SyncOptions::default()
    };
    let liar = Liar(Widgets::new(&[(None, &["a"], None)]));
    let report = sync_types(
        std::slice::from_ref(&liar),
        &context(),
        &mut store,
        &options,
        &display.account("fake"),
    )
    .await
    .unwrap();
    let error = report.error.expect("a foreign resource fails the sync");
    assert!(
        error.contains("returned a resource of type \"user\""),
        "{error}"
    );
    assert!(store.readable_sync("fake").is_err(), "no run is readable");
}

#[tokio::test]
async fn independent_types_are_listed_at_the_same_time() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open_or_create(&dir.path().join("fake.db")).unwrap();
    // Each type's first call waits until the other's has started: one after the other,
    // neither would ever return.
    let barrier = Arc::new(Barrier::new(2));
    let mut alpha = Widgets::of_type(
        "alpha",
        &[(None, &["a1"], Some("p2")), (Some("p2"), &["a2"], None)],
    );
    let mut beta = Widgets::of_type("beta", &[(None, &["b1"], None)]);
    alpha.barrier = Some(barrier.clone());
    beta.barrier = Some(barrier);
    let report = tokio::time::timeout(
        Duration::from_secs(30),
        sync_all(&mut store, &[alpha, beta]),
    )
    .await
    .expect("the two types did not run at the same time");
    assert!(report.is_complete(), "{:?}", report.error);
    let types: Vec<&str> = report
        .types
        .iter()
        .map(|t| t.resource_type.as_str())
        .collect();
    assert_eq!(types, ["alpha", "beta"], "reports stay in plugin order");
    // Beta ends first (one page against two), and the store still lists alpha first.
    let (counts, _) = store.counts(report.sync_id).unwrap();
    let stored: Vec<&str> = counts.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        stored,
        ["alpha", "beta"],
        "types are stored in plugin order"
    );
    assert_eq!(ids_of(&store, "alpha"), ["a1", "a2"]);
    assert_eq!(ids_of(&store, "beta"), ["b1"]);
}

#[tokio::test]
async fn a_nested_type_starts_once_every_page_of_its_parent_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open_or_create(&dir.path().join("fake.db")).unwrap();
    let parents = Widgets::new(&[
        (None, &["a", "b"], Some("p2")),
        (Some("p2"), &["c", "d"], Some("p3")),
        (Some("p3"), &["e"], None),
    ]);
    let nested = Widgets::nested_under("gadget", "widget");
    let report = sync_all(&mut store, &[parents, nested]).await;
    assert!(report.is_complete(), "{:?}", report.error);
    assert_eq!(
        ids_of(&store, "gadget"),
        ["a-child", "b-child", "c-child", "d-child", "e-child"]
    );
}
