//! A Resource Directory as the local API serves it: folders under a root, and member
//! accounts, each a tenant of its own that the management account reaches by assuming a
//! role in it. ResourceManager 2020-03-31 GetResourceDirectory, ListFoldersForParent,
//! ListAccountsForParent and ListAccounts answer with the official SDK's response shapes.

use crate::api::Params;
use crate::failure::ApiFailure;
use crate::tenant::{Tenant, TenantFile, date};
use anyhow::{Context, Result, bail};
use serde::Deserialize;
use serde_json::{Value, json};
use std::path::Path;

/// The API version of Resource Manager.
pub(crate) const RESOURCE_MANAGER: &str = "2020-03-31";

/// The bundled sample directory, whose management account is the sample tenant.
const SAMPLE_DIRECTORY: &str = include_str!("../../../tests/fixtures/sample-directory.json");

/// A directory file: folders and member accounts, each with its tenant.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectoryFile {
    /// `rd-` and an id.
    pub resource_directory_id: String,
    /// `r-` and an id: the root folder.
    pub root_folder_id: String,
    /// The folders below the root.
    #[serde(default)]
    pub folders: Vec<FolderSpec>,
    /// The member accounts other than the management account.
    #[serde(default)]
    pub accounts: Vec<MemberSpec>,
}

/// A folder in a directory file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FolderSpec {
    /// `fd-` and an id.
    pub id: String,
    /// The folder name.
    pub name: String,
    /// The parent folder's id; the root when absent.
    #[serde(default)]
    pub parent: Option<String>,
}

/// A member account in a directory file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberSpec {
    /// The display name.
    pub display_name: String,
    /// The folder it is in; the root when absent.
    #[serde(default)]
    pub folder: Option<String>,
    /// `created` (a resource account) or `invited` (a cloud account).
    pub join_method: String,
    /// Its RAM identities.
    pub tenant: TenantFile,
}

/// A folder as served.
#[derive(Debug, Clone)]
pub struct Folder {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its parent's id; None for the root.
    pub parent: Option<String>,
    /// When it was created.
    pub create_time: String,
}

/// A member account as served.
#[derive(Debug, Clone)]
pub struct Member {
    /// The 16-digit account id.
    pub account_id: String,
    /// The display name.
    pub display_name: String,
    /// The folder it is in.
    pub folder_id: String,
    /// `created` or `invited`.
    pub join_method: String,
    /// When it joined.
    pub join_time: String,
}

/// A Resource Directory: its folders and members; the members' tenants are served apart.
#[derive(Debug, Clone)]
pub struct Directory {
    /// `rd-...`.
    pub id: String,
    /// The root folder, first, then the others in file order.
    pub folders: Vec<Folder>,
    /// Every member account, the management account first.
    pub members: Vec<Member>,
    /// The management account's id.
    pub master_account_id: String,
    /// The management account's name.
    pub master_account_name: String,
}

impl Directory {
    /// The bundled sample directory around `management`, with the member tenants.
    pub fn sample(management: &Tenant) -> Result<(Self, Vec<Tenant>)> {
        let file: DirectoryFile = serde_json::from_str(SAMPLE_DIRECTORY)
            .context("the bundled sample directory is invalid")?;
        Self::from_file(file, management)
    }

    /// Reads a directory file around `management`.
    pub fn load(path: &Path, management: &Tenant) -> Result<(Self, Vec<Tenant>)> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read directory file {}", path.display()))?;
        let file: DirectoryFile = serde_json::from_str(&text)
            .with_context(|| format!("invalid directory file {}", path.display()))?;
        Self::from_file(file, management)
            .with_context(|| format!("invalid directory file {}", path.display()))
    }

    /// Checks a directory file and builds its tenants.
    pub fn from_file(file: DirectoryFile, management: &Tenant) -> Result<(Self, Vec<Tenant>)> {
        if !file.resource_directory_id.starts_with("rd-") || !file.root_folder_id.starts_with("r-")
        {
            bail!("resource_directory_id must start with rd- and root_folder_id with r-");
        }
        let mut folders = vec![Folder {
            id: file.root_folder_id.clone(),
            name: "Root".into(),
            parent: None,
            create_time: date(0),
        }];
        for (i, f) in file.folders.iter().enumerate() {
            if !f.id.starts_with("fd-") || folders.iter().any(|x| x.id == f.id) {
                bail!(
                    "folder {:?}: its id must start with fd- and be unique",
                    f.name
                );
            }
            let parent = f
                .parent
                .clone()
                .unwrap_or_else(|| file.root_folder_id.clone());
            if !folders.iter().any(|x| x.id == parent) {
                bail!(
                    "folder {:?}: parent {parent:?} is not a folder listed before it",
                    f.name
                );
            }
            folders.push(Folder {
                id: f.id.clone(),
                name: f.name.clone(),
                parent: Some(parent),
                create_time: date(i + 10),
            });
        }
        let mut members = vec![Member {
            account_id: management.account_id.clone(),
            display_name: management.alias.clone(),
            folder_id: file.root_folder_id.clone(),
            join_method: "invited".into(),
            join_time: date(1),
        }];
        let mut tenants = Vec::new();
        for (i, m) in file.accounts.into_iter().enumerate() {
            let folder_id = m.folder.unwrap_or_else(|| file.root_folder_id.clone());
            if !folders.iter().any(|f| f.id == folder_id) {
                bail!("account {:?}: unknown folder {folder_id:?}", m.display_name);
            }
            if m.join_method != "created" && m.join_method != "invited" {
                bail!(
                    "account {:?}: join_method must be created or invited",
                    m.display_name
                );
            }
            let tenant = Tenant::from_file(m.tenant)
                .with_context(|| format!("account {:?}", m.display_name))?;
            if members.iter().any(|x| x.account_id == tenant.account_id) {
                bail!(
                    "account {:?}: account id {} is used twice",
                    m.display_name,
                    tenant.account_id
                );
            }
            members.push(Member {
                account_id: tenant.account_id.clone(),
                display_name: m.display_name,
                folder_id,
                join_method: m.join_method,
                join_time: date(i + 20),
            });
            tenants.push(tenant);
        }
        let directory = Directory {
            id: file.resource_directory_id,
            folders,
            members,
            master_account_id: management.account_id.clone(),
            master_account_name: format!("{}@aliyun.example", management.alias),
        };
        Ok((directory, tenants))
    }

    /// `rd-.../r-.../fd-.../ACCOUNT`: the ids from the directory down to the account.
    fn path_of(&self, member: &Member) -> String {
        let mut ids = vec![member.account_id.clone()];
        let mut at = Some(member.folder_id.clone());
        while let Some(id) = at {
            at = self
                .folders
                .iter()
                .find(|f| f.id == id)
                .and_then(|f| f.parent.clone());
            ids.push(id);
        }
        ids.push(self.id.clone());
        ids.reverse();
        ids.join("/")
    }

    fn account_json(&self, m: &Member, with_path: bool) -> Value {
        let mut a = json!({
            "AccountId": m.account_id,
            "DisplayName": m.display_name,
            "FolderId": m.folder_id,
            "JoinMethod": m.join_method,
            "JoinTime": m.join_time,
            "ModifyTime": m.join_time,
            "ResourceDirectoryId": self.id,
            "Status": if m.join_method == "created" { "CreateSuccess" } else { "InviteSuccess" },
            "Type": if m.join_method == "created" { "ResourceAccount" } else { "CloudAccount" },
        });
        if with_path {
            a["ResourceDirectoryPath"] = json!(self.path_of(m));
        }
        a
    }

    /// Answers a ResourceManager action from the management account.
    pub(crate) fn handle(&self, action: &str, p: &Params) -> Result<Value, ApiFailure> {
        match action {
            "GetResourceDirectory" => Ok(json!({ "ResourceDirectory": {
                "ResourceDirectoryId": self.id,
                "RootFolderId": self.folders[0].id,
                "MasterAccountId": self.master_account_id,
                "MasterAccountName": self.master_account_name,
                "CreateTime": date(0),
                "ControlPolicyStatus": "Disabled",
                "MemberDeletionStatus": "Disabled",
            }})),
            "ListAccounts" => {
                let items: Vec<Value> = self
                    .members
                    .iter()
                    .map(|m| self.account_json(m, true))
                    .collect();
                paged(p, items, "Accounts", "Account")
            }
            "ListAccountsForParent" => {
                let parent = self.folder(p)?;
                let items: Vec<Value> = self
                    .members
                    .iter()
                    .filter(|m| m.folder_id == parent)
                    .map(|m| self.account_json(m, false))
                    .collect();
                paged(p, items, "Accounts", "Account")
            }
            "ListFoldersForParent" => {
                let parent = self.folder(p)?;
                let items: Vec<Value> = self
                    .folders
                    .iter()
                    .filter(|f| f.parent.as_deref() == Some(parent.as_str()))
                    .map(|f| json!({"FolderId": f.id, "FolderName": f.name, "CreateTime": f.create_time}))
                    .collect();
                paged(p, items, "Folders", "Folder")
            }
            _ => Err(ApiFailure::new(
                404,
                "InvalidAction.NotFound",
                &format!("The action {action} is not served by the local API."),
            )),
        }
    }

    fn folder(&self, p: &Params) -> Result<String, ApiFailure> {
        let id = p.required("ParentFolderId")?;
        if self.folders.iter().any(|f| f.id == id) {
            Ok(id.to_string())
        } else {
            Err(ApiFailure::new(
                404,
                "EntityNotExists.Folder",
                &format!("The folder {id} does not exist."),
            ))
        }
    }
}

/// `PageNumber` (from 1) and `PageSize` (1 to 100, default 10) paging, with `TotalCount`.
fn paged(p: &Params, items: Vec<Value>, outer: &str, inner: &str) -> Result<Value, ApiFailure> {
    let number = |key: &str, default: usize, max: usize| -> Result<usize, ApiFailure> {
        match p.get(key).filter(|v| !v.is_empty()) {
            None => Ok(default),
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=max).contains(n))
                .ok_or_else(|| {
                    ApiFailure::new(
                        400,
                        &format!("InvalidParameter.{key}"),
                        &format!("{key} must be a number from 1 to {max}."),
                    )
                }),
        }
    };
    let size = number("PageSize", 10, 100)?;
    let page = number("PageNumber", 1, usize::MAX)?;
    let total = items.len();
    let slice: Vec<Value> = items
        .into_iter()
        .skip((page - 1).saturating_mul(size))
        .take(size)
        .collect();
    Ok(json!({
        outer: { inner: slice },
        "PageNumber": page,
        "PageSize": size,
        "TotalCount": total,
    }))
}
