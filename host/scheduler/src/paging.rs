//! Listing pages and a resource's access, each page checked: plugin output is untrusted.

use crate::interfaces::TypeSyncer;
use crate::options::{MAX_ITEMS_PER_PAGE, MAX_TOKEN_BYTES, SyncOptions};
use crate::retry::retry;
use ramsync_engine::{CallContext, CallError, Resource};

/// Why a type's sync ended early.
pub(crate) enum Stop {
    /// The error and what was being done; boxed, as results carrying it are passed around.
    Failed(Box<(CallError, String)>),
    /// Stopped when asked to, at a page boundary.
    Interrupted,
}

impl From<(CallError, String)> for Stop {
    fn from((e, what): (CallError, String)) -> Self {
        Stop::Failed(Box::new((e, what)))
    }
}

/// Holds one listing's paging to its bounds: a page token is never seen twice (a cycle of
/// any length, not just a repeat of the last one), pages and items per page are capped.
pub(crate) struct Pager {
    seen: std::collections::HashSet<String>,
    pages: usize,
    max_pages: usize,
}

impl Pager {
    /// A listing that starts at `start` (a resumed one starts at its stored token, which
    /// the plugin may then not hand back either).
    pub(crate) fn new(options: &SyncOptions, start: Option<&str>) -> Self {
        Pager {
            seen: start.map(str::to_string).into_iter().collect(),
            pages: 0,
            max_pages: options.max_pages,
        }
    }

    /// Checks a page of `items` whose next token is `next`; the error says what is wrong.
    pub(crate) fn check(&mut self, items: usize, next: Option<&str>) -> Result<(), CallError> {
        self.pages += 1;
        let fault = if items > MAX_ITEMS_PER_PAGE {
            Some(format!(
                "returned {items} items in one page (at most {MAX_ITEMS_PER_PAGE} are accepted)"
            ))
        } else if self.pages >= self.max_pages && next.is_some() {
            Some(format!(
                "returned more than {} pages for one listing",
                self.max_pages
            ))
        } else {
            match next {
                Some(t) if t.len() > MAX_TOKEN_BYTES => Some(format!(
                    "returned a page token of {} bytes (at most {MAX_TOKEN_BYTES} are accepted)",
                    t.len()
                )),
                Some(t) if !self.seen.insert(t.to_string()) => Some(format!(
                    "returned the page token {t:?} a second time (a paging cycle)"
                )),
                _ => None,
            }
        };
        fault.map_or(Ok(()), |f| Err(CallError::Trap(f)))
    }
}

/// One page of a syncer's resources, checked: every item of its type, under the parent it
/// was asked about (if any), and paging within the listing's bounds.
pub(crate) async fn list_page(
    syncer: &impl TypeSyncer,
    ctx: &CallContext,
    options: &SyncOptions,
    pager: &mut Pager,
    parent: Option<&Resource>,
    token: Option<&str>,
    what: &str,
) -> Result<ramsync_engine::ResourcePage, Stop> {
    let page = retry(options, what, || syncer.list_resources(ctx, parent, token))
        .await
        .map_err(|e| (e, what.to_string()))?;
    pager
        .check(page.items.len(), page.next_page_token.as_deref())
        .map_err(|e| (e, what.to_string()))?;
    let parent_ref = parent.map(|p| &p.ref_);
    let fault = if let Some(r) = page
        .items
        .iter()
        .find(|r| r.ref_.resource_type != syncer.info().id)
    {
        Some(format!(
            "returned a resource of type {:?} while listing {:?}",
            r.ref_.resource_type,
            syncer.info().id
        ))
    } else if let Some((r, p)) = page.items.iter().find_map(|r| {
        r.parent
            .as_ref()
            .filter(|p| Some(*p) != parent_ref)
            .map(|p| (r, p))
    }) {
        Some(format!(
            "returned {} {:?} under {}:{}, which it was not asked to list",
            r.ref_.resource_type, r.ref_.id, p.resource_type, p.id
        ))
    } else {
        None
    };
    match fault {
        Some(f) => Err((CallError::Trap(f), what.to_string()).into()),
        None => Ok(page),
    }
}

/// Every page of the resources under one parent.
pub(crate) async fn list_all(
    syncer: &impl TypeSyncer,
    ctx: &CallContext,
    options: &SyncOptions,
    parent: Resource,
    mut token: Option<String>,
    what: &str,
) -> Result<(Resource, Vec<Resource>), Stop> {
    let mut items = Vec::new();
    let mut pager = Pager::new(options, token.as_deref());
    loop {
        let page = list_page(
            syncer,
            ctx,
            options,
            &mut pager,
            Some(&parent),
            token.as_deref(),
            what,
        )
        .await?;
        items.extend(page.items);
        match page.next_page_token {
            Some(next) => token = Some(next),
            None => return Ok((parent, items)),
        }
    }
}

/// One resource's entitlements, grants, and attributes learned while listing grants.
pub(crate) type Access<'r> = (
    &'r Resource,
    Vec<ramsync_engine::Entitlement>,
    Vec<ramsync_engine::Grant>,
    Vec<(String, String)>,
);

/// All pages of one resource's entitlements and grants.
pub(crate) async fn access_of<'r>(
    syncer: &impl TypeSyncer,
    ctx: &CallContext,
    options: &SyncOptions,
    resource: &'r Resource,
) -> Result<Access<'r>, Stop> {
    let mut entitlements = Vec::new();
    let mut token: Option<String> = None;
    let mut pager = Pager::new(options, None);
    loop {
        let what = format!(
            "listing the entitlements of {} {}",
            resource.ref_.resource_type, resource.name
        );
        let page = retry(options, &what, || {
            syncer.entitlements(ctx, resource, token.as_deref())
        })
        .await
        .map_err(|e| (e, what.clone()))?;
        pager
            .check(page.items.len(), page.next_page_token.as_deref())
            .and_then(|()| {
                owned_by(
                    resource,
                    page.items.iter().map(|e| &e.resource),
                    "an entitlement",
                )
            })
            .map_err(|e| (e, what.clone()))?;
        entitlements.extend(page.items);
        match page.next_page_token {
            Some(next) => token = Some(next),
            None => break,
        }
    }
    let mut grants = Vec::new();
    let mut attributes = Vec::new();
    let mut token: Option<String> = None;
    let mut pager = Pager::new(options, None);
    loop {
        let what = format!(
            "listing the grants of {} {}",
            resource.ref_.resource_type, resource.name
        );
        let page = retry(options, &what, || {
            syncer.grants(ctx, resource, token.as_deref())
        })
        .await
        .map_err(|e| (e, what.clone()))?;
        pager
            .check(page.items.len(), page.next_page_token.as_deref())
            .and_then(|()| owned_by(resource, page.items.iter().map(|g| &g.resource), "a grant"))
            .map_err(|e| (e, what.clone()))?;
        grants.extend(page.items);
        attributes.extend(page.resource_attributes);
        match page.next_page_token {
            Some(next) => token = Some(next),
            None => break,
        }
    }
    Ok((resource, entitlements, grants, attributes))
}

/// Plugin output is untrusted: the entitlements and grants of a resource must all be that
/// resource's, which the plugin itself listed (or, for an enriching plugin, was given) in
/// this sync. Anything else could overwrite or pre-empt another plugin's rows.
fn owned_by<'a>(
    resource: &Resource,
    refs: impl IntoIterator<Item = &'a ramsync_engine::ResourceRef>,
    what: &str,
) -> Result<(), CallError> {
    match refs.into_iter().find(|r| **r != resource.ref_) {
        None => Ok(()),
        Some(other) => Err(CallError::Trap(format!(
            "returned {what} of {}:{} while asked about {}:{}; a plugin may only describe the resources it was asked about",
            other.resource_type, other.id, resource.ref_.resource_type, resource.ref_.id
        ))),
    }
}
