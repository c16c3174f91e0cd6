//! Resource Directory: the member accounts of an organisation, found through the Resource
//! Manager API with the management account's (or a delegated administrator's) credentials,
//! then synced each by assuming a role in it. Folders are walked from the root so every
//! account gets its folder path; include/exclude rules pick the accounts.

use crate::config::AccountConfig;
use anyhow::{Result, anyhow, bail};
use ramsync_credentials::Credential;
use ramsync_credentials::sts::{AssumeRole, StsHost, host_call};
use ramsync_engine::http_policy::Endpoints;
use std::collections::BTreeMap;

/// The role Resource Directory creates in every account it creates, trusting the
/// management account.
pub const DEFAULT_ROLE: &str = "ResourceDirectoryAccountAccessRole";

/// The most items Resource Manager returns a page.
const PAGE_SIZE: usize = 100;
/// Pages one listing may take before it is taken to be looping.
const MAX_PAGES: usize = 10_000;

/// How to sync a directory: whose credentials list it, and how member accounts are reached.
#[derive(Clone)]
pub struct DirectoryConfig {
    /// The credentials profile of the management account (or delegated administrator).
    pub profile: Option<String>,
    /// Roles assumed in turn before listing the directory (for example a delegated
    /// administrator's role); member roles are assumed from the last of them.
    pub assume_roles: Vec<AssumeRole>,
    /// Where the API calls go; member accounts use the same endpoints.
    pub endpoints: Endpoints,
    /// Requests per second per product, per account.
    pub qps: Option<u32>,
    /// The role assumed in each member account.
    pub role_name: String,
    /// The ExternalId the member role requires, if any; never shown.
    pub external_id: Option<String>,
    /// Account ids, folder ids (`fd-...`, `r-...`) or folder paths (`/Production`); only
    /// these (and what is below the folders) are synced when any is given.
    pub include: Vec<String>,
    /// The same kinds of entries, left out; exclusion wins.
    pub exclude: Vec<String>,
}

impl std::fmt::Debug for DirectoryConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirectoryConfig")
            .field("profile", &self.profile)
            .field("assume_roles", &self.assume_roles)
            .field("role_name", &self.role_name)
            .field(
                "external_id",
                &self.external_id.as_ref().map(|_| "<redacted>"),
            )
            .field("include", &self.include)
            .field("exclude", &self.exclude)
            .finish()
    }
}

impl DirectoryConfig {
    /// Listing with `profile`, reaching members through [`DEFAULT_ROLE`].
    pub fn new(endpoints: Endpoints) -> Self {
        DirectoryConfig {
            profile: None,
            assume_roles: Vec::new(),
            endpoints,
            qps: None,
            role_name: DEFAULT_ROLE.into(),
            external_id: None,
            include: Vec::new(),
            exclude: Vec::new(),
        }
    }
}

/// Checks a member role name: letters, digits, '-' and '.', at most 64.
pub fn parse_role_name(name: &str) -> Result<String, String> {
    let name = name.trim();
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || "-.".contains(ch));
    if ok {
        Ok(name.to_string())
    } else {
        Err(format!(
            "{name:?} is not a role name (letters, digits, '-' and '.', at most 64)"
        ))
    }
}

/// Checks an include/exclude entry: an account id, a folder id or a folder path.
pub fn parse_selector(entry: &str) -> Result<String, String> {
    let e = entry.trim();
    let ok = (e.len() == 16 && e.bytes().all(|b| b.is_ascii_digit()))
        || ((e.starts_with("fd-") || e.starts_with("r-")) && e.len() > 3)
        || e.starts_with('/');
    if ok {
        let trimmed = e.trim_end_matches('/');
        Ok(if trimmed.is_empty() { "/" } else { trimmed }.to_string())
    } else {
        Err(format!(
            "{entry:?} is neither an account id (16 digits), a folder id (fd-... or r-...) nor a folder path (/Production/Web)"
        ))
    }
}

/// Where an account sits in a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// The directory, `rd-...`.
    pub directory_id: String,
    /// The account id.
    pub account_id: String,
    /// The account's display name in the directory.
    pub display_name: String,
    /// Folder names from the root, `/Production/Web`; `/` for the root.
    pub folder_path: String,
    /// The ids of the folders from the root down to the account's, root first.
    pub folder_ids: Vec<String>,
    /// Whether it is the account of the credentials that listed the directory (the
    /// management account, or a delegated administrator's), synced with them directly.
    pub listing: bool,
}

/// A directory as listed.
#[derive(Debug, Clone)]
pub struct Directory {
    /// `rd-...`.
    pub id: String,
    /// The management account's id.
    pub master_account_id: String,
    /// Every account, in listing order.
    pub accounts: Vec<Placement>,
}

/// One Resource Manager call, retried while throttled or failing on the server side.
async fn call(
    host: &dyn StsHost,
    endpoints: &Endpoints,
    credential: &Credential,
    action: &str,
    query: Vec<(String, String)>,
) -> Result<serde_json::Value> {
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let answer = host_call(
            host,
            endpoints,
            credential,
            "resourcemanager",
            action,
            query.clone(),
            action,
        )
        .await?;
        if (200..300).contains(&answer.status) {
            return Ok(answer.json);
        }
        if !answer.is_transient() || attempt >= 5 {
            bail!(
                "Resource Manager {action} refused: {}: {} (RequestId {})",
                answer.field("Code"),
                answer.field("Message"),
                answer.field("RequestId")
            );
        }
        let backoff = 200u64 << (attempt - 1);
        let wait = answer.retry_after_ms.unwrap_or(0).max(backoff).min(10_000);
        tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
    }
}

/// Every item of a `PageNumber`/`PageSize` listing: `{outer: {inner: [...]}}`.
async fn all_pages(
    host: &dyn StsHost,
    endpoints: &Endpoints,
    credential: &Credential,
    action: &str,
    query: &[(&str, &str)],
    (outer, inner): (&str, &str),
) -> Result<Vec<serde_json::Value>> {
    let mut items = Vec::new();
    for page in 1..=MAX_PAGES {
        let mut q: Vec<(String, String)> = query
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        q.push(("PageNumber".into(), page.to_string()));
        q.push(("PageSize".into(), PAGE_SIZE.to_string()));
        let body = call(host, endpoints, credential, action, q).await?;
        let list = match body.get(outer).and_then(|o| o.get(inner)) {
            None => Vec::new(),
            Some(serde_json::Value::Array(a)) => a.clone(),
            Some(_) => bail!("Resource Manager {action}: {outer}.{inner} is not a list"),
        };
        let total = body
            .get("TotalCount")
            .and_then(|v| v.as_u64())
            .ok_or_else(|| anyhow!("Resource Manager {action}: the response has no TotalCount"))?;
        let n = list.len();
        items.extend(list);
        if n == 0 || items.len() as u64 >= total {
            return Ok(items);
        }
    }
    bail!("Resource Manager {action}: more than {MAX_PAGES} pages; giving up")
}

fn text<'a>(v: &'a serde_json::Value, key: &str, what: &str) -> Result<&'a str> {
    v.get(key)
        .and_then(|v| v.as_str())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| anyhow!("Resource Manager {what}: an item has no {key}"))
}

/// Lists the directory: GetResourceDirectory, the folder tree from the root (one
/// ListFoldersForParent listing per folder), then ListAccounts.
pub async fn discover(
    host: &dyn StsHost,
    endpoints: &Endpoints,
    credential: &Credential,
) -> Result<Directory> {
    // Whose credentials these are: that account is synced with them, every other one
    // through its member role (the management account too, when a delegated
    // administrator lists the directory).
    let caller = ramsync_credentials::sts::caller_identity(host, endpoints, credential).await?;
    let caller_account = caller.split(' ').next().unwrap_or_default().to_string();
    let rd = call(host, endpoints, credential, "GetResourceDirectory", Vec::new())
        .await
        .map_err(|e| anyhow!("{e:#} (is this the management account or a delegated administrator of a resource directory?)"))?;
    let rd = rd
        .get("ResourceDirectory")
        .ok_or_else(|| anyhow!("Resource Manager GetResourceDirectory: no ResourceDirectory"))?;
    let what = "GetResourceDirectory";
    let id = text(rd, "ResourceDirectoryId", what)?.to_string();
    let root = text(rd, "RootFolderId", what)?.to_string();
    let master = text(rd, "MasterAccountId", what)?.to_string();
    // Folder id -> (name path, id path).
    let mut folders: BTreeMap<String, (String, Vec<String>)> = BTreeMap::new();
    folders.insert(root.clone(), ("/".into(), vec![root.clone()]));
    let mut queue = vec![root.clone()];
    while let Some(parent) = queue.pop() {
        let children = all_pages(
            host,
            endpoints,
            credential,
            "ListFoldersForParent",
            &[("ParentFolderId", &parent)],
            ("Folders", "Folder"),
        )
        .await?;
        let (parent_path, parent_ids) = folders[&parent].clone();
        for f in &children {
            let fid = text(f, "FolderId", "ListFoldersForParent")?.to_string();
            let name = text(f, "FolderName", "ListFoldersForParent")?;
            if folders.contains_key(&fid) {
                bail!("Resource Manager ListFoldersForParent: folder {fid} appears twice");
            }
            let path = match parent_path.as_str() {
                "/" => format!("/{name}"),
                p => format!("{p}/{name}"),
            };
            let mut ids = parent_ids.clone();
            ids.push(fid.clone());
            folders.insert(fid.clone(), (path, ids));
            queue.push(fid);
        }
    }
    let listed = all_pages(
        host,
        endpoints,
        credential,
        "ListAccounts",
        &[],
        ("Accounts", "Account"),
    )
    .await?;
    let mut accounts: Vec<Placement> = Vec::new();
    for a in &listed {
        let account_id = text(a, "AccountId", "ListAccounts")?.to_string();
        if !(account_id.len() == 16 && account_id.bytes().all(|b| b.is_ascii_digit())) {
            bail!("Resource Manager ListAccounts: AccountId {account_id:?} is not 16 digits");
        }
        // Page numbers shift when accounts join or leave during the listing.
        if accounts.iter().any(|p| p.account_id == account_id) {
            continue;
        }
        let folder = text(a, "FolderId", "ListAccounts")?;
        // A folder made after the folder walk: the account is kept, its path unknown.
        let (folder_path, folder_ids) = folders.get(folder).cloned().unwrap_or_else(|| {
            tracing::warn!(account = %account_id, folder, "the account's folder was not in the folder listing");
            (format!("(folder {folder})"), vec![root.clone(), folder.to_string()])
        });
        accounts.push(Placement {
            directory_id: id.clone(),
            display_name: a
                .get("DisplayName")
                .and_then(|v| v.as_str())
                .unwrap_or(&account_id)
                .to_string(),
            listing: account_id == caller_account,
            account_id,
            folder_path,
            folder_ids,
        });
    }
    Ok(Directory {
        id,
        master_account_id: master,
        accounts,
    })
}

/// Whether an include/exclude entry covers an account.
pub fn covers(entry: &str, p: &Placement) -> bool {
    if entry == p.account_id || p.folder_ids.iter().any(|f| f == entry) {
        return true;
    }
    entry.starts_with('/')
        && (entry == "/"
            || p.folder_path == entry
            || p.folder_path.starts_with(&format!("{entry}/")))
}

/// The accounts `config` selects: those any include covers (all when there is none), less
/// those any exclude covers.
pub fn select<'a>(directory: &'a Directory, config: &DirectoryConfig) -> Vec<&'a Placement> {
    directory
        .accounts
        .iter()
        .filter(|p| config.include.is_empty() || config.include.iter().any(|e| covers(e, p)))
        .filter(|p| !config.exclude.iter().any(|e| covers(e, p)))
        .collect()
}

/// The account to sync for a placement: named by its id, with the listing credentials'
/// roles, then the member role (none for the listing credentials' own account).
pub fn account_config(config: &DirectoryConfig, p: &Placement) -> AccountConfig {
    let mut assume_roles = config.assume_roles.clone();
    if !p.listing {
        let mut spec = AssumeRole::new(&format!(
            "acs:ram::{}:role/{}",
            p.account_id,
            config.role_name.to_ascii_lowercase()
        ));
        spec.external_id = config.external_id.clone();
        assume_roles.push(spec);
    }
    AccountConfig {
        name: p.account_id.clone(),
        profile: config.profile.clone(),
        qps: config.qps,
        endpoints: config.endpoints.clone(),
        assume_roles,
        placement: Some(p.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn placement(id: &str, path: &str, ids: &[&str]) -> Placement {
        Placement {
            directory_id: "rd-1".into(),
            account_id: id.into(),
            display_name: id.into(),
            folder_path: path.into(),
            folder_ids: ids.iter().map(|s| s.to_string()).collect(),
            listing: false,
        }
    }

    #[test]
    fn include_and_exclude_by_account_folder_id_and_path() {
        let d = Directory {
            id: "rd-1".into(),
            master_account_id: "1000000000000000".into(),
            accounts: vec![
                placement("1000000000000001", "/", &["r-1"]),
                placement("1000000000000002", "/Prod", &["r-1", "fd-p"]),
                placement("1000000000000003", "/Prod/Web", &["r-1", "fd-p", "fd-w"]),
                placement("1000000000000004", "/Production", &["r-1", "fd-x"]),
            ],
        };
        let ids = |include: &[&str], exclude: &[&str]| -> Vec<String> {
            let mut c = DirectoryConfig::new(Endpoints::default());
            c.include = include.iter().map(|s| s.to_string()).collect();
            c.exclude = exclude.iter().map(|s| s.to_string()).collect();
            select(&d, &c)
                .iter()
                .map(|p| p.account_id[15..].to_string())
                .collect()
        };
        assert_eq!(ids(&[], &[]), ["1", "2", "3", "4"]);
        assert_eq!(
            ids(&["/Prod"], &[]),
            ["2", "3"],
            "a path prefix is a folder, not text"
        );
        assert_eq!(ids(&["fd-p"], &["/Prod/Web"]), ["2"]);
        assert_eq!(ids(&["1000000000000004", "fd-w"], &[]), ["3", "4"]);
        assert_eq!(ids(&[], &["r-1"]), Vec::<String>::new());
        assert_eq!(ids(&["/"], &["1000000000000001"]), ["2", "3", "4"]);
    }

    #[test]
    fn only_the_listing_account_skips_the_member_role() {
        let mut config = DirectoryConfig::new(Endpoints::default());
        config.external_id = Some("x-1".into());
        // A delegated administrator lists: the management account is reached by its role
        // like any other member, and the administrator's own account is not.
        let management = placement("1000000000000001", "/", &["r-1"]);
        let roles = |p: &Placement| -> Vec<String> {
            account_config(&config, p)
                .assume_roles
                .iter()
                .map(|r| r.role_arn.clone())
                .collect()
        };
        assert_eq!(
            roles(&management),
            ["acs:ram::1000000000000001:role/resourcedirectoryaccountaccessrole"]
        );
        let mut admin = placement("1000000000000002", "/Security", &["r-1", "fd-s"]);
        admin.listing = true;
        assert!(roles(&admin).is_empty());
        let member = account_config(&config, &placement("1000000000000003", "/", &["r-1"]));
        assert_eq!(member.name, "1000000000000003");
        assert_eq!(member.assume_roles[0].external_id.as_deref(), Some("x-1"));
        assert!(member.placement.is_some());
    }

    #[test]
    fn selectors_are_checked() {
        assert_eq!(parse_selector("/Prod/").unwrap(), "/Prod");
        assert_eq!(parse_selector("/").unwrap(), "/");
        assert!(parse_selector("fd-abc").is_ok());
        assert!(parse_selector("1234567890123456").is_ok());
        assert!(
            parse_selector("prod")
                .unwrap_err()
                .contains("neither an account id")
        );
    }
}
