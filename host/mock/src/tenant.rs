//! The tenant the local API serves: a JSON tenant file, the bundled sample, or a synthetic one.

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// The bundled sample tenant.
pub(crate) const SAMPLE_TENANT: &str = include_str!("../../../tests/fixtures/sample-tenant.json");

/// A tenant file: the JSON a tenant is described in, by names, before ids are assigned.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantFile {
    /// The 16-digit account id.
    pub account_id: String,
    /// The account alias; user principal names end in `@<alias>.onaliyun.com`.
    pub alias: String,
    /// The RAM users.
    #[serde(default)]
    pub users: Vec<UserSpec>,
    /// The RAM groups.
    #[serde(default)]
    pub groups: Vec<GroupSpec>,
    /// The RAM roles.
    #[serde(default)]
    pub roles: Vec<RoleSpec>,
    /// The policies, System and Custom.
    #[serde(default)]
    pub policies: Vec<PolicySpec>,
    /// Virtual MFA devices bound to no user, by serial number.
    #[serde(default)]
    pub unbound_mfa_devices: Vec<String>,
    /// The RAM password policy; the local API's defaults when absent.
    #[serde(default)]
    pub password_policy: PasswordPolicy,
    /// The account's security preference; the local API's defaults when absent.
    #[serde(default)]
    pub security_preference: SecurityPreference,
    /// The account's own (root) identity, as the credential report's first row shows it.
    #[serde(default)]
    pub root: RootSpec,
}

/// The RAM password policy, as IMS GetPasswordPolicy serves it. The defaults are the local
/// API's, a weak policy such as a new account may have.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PasswordPolicy {
    /// `MinimumPasswordLength`.
    pub minimum_password_length: u32,
    /// `RequireUppercaseCharacters`.
    pub require_uppercase_characters: bool,
    /// `RequireLowercaseCharacters`.
    pub require_lowercase_characters: bool,
    /// `RequireNumbers`.
    pub require_numbers: bool,
    /// `RequireSymbols`.
    pub require_symbols: bool,
    /// `MaxPasswordAge` in days; 0 for passwords that never expire.
    pub max_password_age: u32,
    /// `PasswordReusePrevention`: how many earlier passwords may not be used again.
    pub password_reuse_prevention: u32,
    /// `MaxLoginAttemps` (so spelled by the API): failed logons in an hour before the user
    /// is locked out for an hour; 0 for no lockout.
    pub max_login_attempts: u32,
    /// `HardExpire`: whether an expired password blocks logon until an administrator resets it.
    pub hard_expire: bool,
    /// `MinimumPasswordDifferentCharacter`.
    pub minimum_password_different_character: u32,
    /// `PasswordNotContainUserName`.
    pub password_not_contain_user_name: bool,
    /// `InitialPasswordAge` in days.
    pub initial_password_age: u32,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        PasswordPolicy {
            minimum_password_length: 8,
            require_uppercase_characters: true,
            require_lowercase_characters: true,
            require_numbers: true,
            require_symbols: false,
            max_password_age: 0,
            password_reuse_prevention: 0,
            max_login_attempts: 5,
            hard_expire: false,
            minimum_password_different_character: 0,
            password_not_contain_user_name: false,
            initial_password_age: 0,
        }
    }
}

/// The account's security preference, as IMS GetSecurityPreference serves it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SecurityPreference {
    /// `MFAOperationForLogin`: `mandatory`, `independent` (each user's own setting) or `adaptive`.
    pub mfa_operation_for_login: String,
    /// `OperationForRiskLogin`: `autonomous` or `enforceVerify`.
    pub operation_for_risk_login: String,
    /// `EnableSaveMFATicket`: whether a console logon may skip MFA for seven days.
    pub enable_save_mfa_ticket: bool,
    /// `LoginNetworkMasks`: the networks console logon is allowed from; empty for any.
    pub login_network_masks: String,
    /// `LoginSessionDuration` in hours.
    pub login_session_duration: u32,
    /// `AllowUserToChangePassword`.
    pub allow_user_to_change_password: bool,
    /// `AllowUserToManageAccessKeys`.
    pub allow_user_to_manage_access_keys: bool,
    /// `AllowUserToManageMFADevices`.
    pub allow_user_to_manage_mfa_devices: bool,
    /// `MaxIdleDaysForUsers`: console logon is disabled after so many idle days; 0 for never.
    pub max_idle_days_for_users: u32,
    /// `MaxIdleDaysForAccessKeys`: AccessKeys are disabled after so many idle days; 0 for never.
    pub max_idle_days_for_access_keys: u32,
}

impl Default for SecurityPreference {
    fn default() -> Self {
        SecurityPreference {
            mfa_operation_for_login: "independent".into(),
            operation_for_risk_login: "autonomous".into(),
            enable_save_mfa_ticket: true,
            login_network_masks: String::new(),
            login_session_duration: 6,
            allow_user_to_change_password: true,
            allow_user_to_manage_access_keys: false,
            allow_user_to_manage_mfa_devices: true,
            max_idle_days_for_users: 0,
            max_idle_days_for_access_keys: 0,
        }
    }
}

/// The account's root identity in a tenant file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RootSpec {
    /// The root identity's AccessKeys (the report has two slots), by status and dates.
    #[serde(default)]
    pub access_keys: Vec<RootKeySpec>,
    /// Whether the root identity has MFA; true when absent.
    #[serde(default)]
    pub mfa: Option<bool>,
}

/// An AccessKey of the root identity.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RootKeySpec {
    /// `Active` or `Inactive`.
    #[serde(default = "active_key")]
    pub status: String,
    /// The creation date, `YYYY-MM-DDTHH:MM:SSZ`.
    pub created: String,
    /// When it last signed a request, `YYYY-MM-DDTHH:MM:SSZ`; never when absent.
    #[serde(default)]
    pub last_used: Option<String>,
}

/// A RAM user in a tenant file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserSpec {
    /// The login name, unique in the tenant.
    pub name: String,
    /// The display name.
    pub display_name: String,
    /// The email address; empty when absent.
    #[serde(default)]
    pub email: String,
    /// The mobile phone number; empty when absent.
    #[serde(default)]
    pub mobile_phone: String,
    /// Free-text comments; empty when absent.
    #[serde(default)]
    pub comments: String,
    /// `active` (the default) or `frozen` (`freeze` is accepted too).
    #[serde(default = "active")]
    pub status: String,
    /// The names of the groups the user is a member of.
    #[serde(default)]
    pub groups: Vec<String>,
    /// The names of the policies attached to the user.
    #[serde(default)]
    pub policies: Vec<String>,
    /// The creation date, `YYYY-MM-DDTHH:MM:SSZ`; a date is made up when absent.
    #[serde(default)]
    pub create_date: Option<String>,
    /// The last console logon: a date, `recent` (a day before the local API process
    /// started, the default) or `never`.
    #[serde(default)]
    pub last_login_date: Option<String>,
    /// The user's AccessKeys (ids, status and creation dates; a secret is never modelled).
    #[serde(default)]
    pub access_keys: Vec<AccessKeySpec>,
    /// The console login profile; absent when the user cannot log on to the console.
    #[serde(default)]
    pub console: Option<ConsoleSpec>,
    /// The virtual MFA device bound to the user, if any.
    #[serde(default)]
    pub mfa_device: Option<MfaDeviceSpec>,
}

fn active() -> String {
    "active".into()
}

/// An AccessKey of a user in a tenant file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessKeySpec {
    /// The AccessKey id, for example `LTAI5t...`.
    pub id: String,
    /// `Active` or `Inactive`.
    #[serde(default = "active_key")]
    pub status: String,
    /// The creation date, `YYYY-MM-DDTHH:MM:SSZ`, or `recent`: ten days before the local
    /// API process started, so that a key stays recent however late the tests run.
    pub created: String,
    /// When the key last signed a request: a date, `recent` (a day before the local API
    /// process started, the default) or `never`.
    #[serde(default)]
    pub last_used: Option<String>,
}

fn active_key() -> String {
    "Active".into()
}

/// A user's console login profile in a tenant file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleSpec {
    /// `Active`, or `Inactive` when console logon is disabled but the profile is kept.
    #[serde(default = "active_key")]
    pub status: String,
    /// Whether the user must change the password at the next logon.
    #[serde(default)]
    pub password_reset_required: bool,
    /// Whether the user must bind an MFA device to log on.
    #[serde(default)]
    pub mfa_bind_required: bool,
}

/// A virtual MFA device bound to a user, in a tenant file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MfaDeviceSpec {
    /// The serial number, for example `acs:ram::<account>:mfa/<name>`.
    pub serial: String,
    /// When it was activated, `YYYY-MM-DDTHH:MM:SSZ`; a date is made up when absent.
    #[serde(default)]
    pub activated: Option<String>,
}

/// A RAM group in a tenant file; its members are named by the users.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupSpec {
    /// The group name, unique in the tenant.
    pub name: String,
    /// The display name; the group name when empty.
    #[serde(default)]
    pub display_name: String,
    /// Free-text comments; empty when absent.
    #[serde(default)]
    pub comments: String,
    /// The names of the policies attached to the group.
    #[serde(default)]
    pub policies: Vec<String>,
}

/// A RAM role in a tenant file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleSpec {
    /// The role name, unique in the tenant.
    pub name: String,
    /// The description; empty when absent.
    #[serde(default)]
    pub description: String,
    /// The trust policy document, as a JSON object (or a string, served verbatim).
    pub trust_policy: serde_json::Value,
    /// The longest session AssumeRole grants, in seconds; an hour when absent.
    #[serde(default = "one_hour")]
    pub max_session_duration: u32,
    /// The names of the policies attached to the role.
    #[serde(default)]
    pub policies: Vec<String>,
}

fn one_hour() -> u32 {
    3600
}

/// A policy in a tenant file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySpec {
    /// The policy name, unique in the tenant whatever its type.
    pub name: String,
    /// `System` or `Custom`.
    #[serde(rename = "type")]
    pub policy_type: String,
    /// The description; empty when absent.
    #[serde(default)]
    pub description: String,
    /// The policy document; when absent, a default for the policy's name (`default_document`).
    #[serde(default)]
    pub document: serde_json::Value,
}

/// A RAM user as the local API serves it.
#[derive(Debug, Clone)]
pub struct User {
    /// The `UserId`: `2` and 15 digits derived from the account and the name.
    pub id: String,
    /// The login name.
    pub name: String,
    /// The `UserPrincipalName`, `NAME@ALIAS.onaliyun.com`.
    pub principal_name: String,
    /// The display name.
    pub display_name: String,
    /// The email address.
    pub email: String,
    /// The mobile phone number.
    pub mobile_phone: String,
    /// Free-text comments.
    pub comments: String,
    /// Whether the user is frozen: served with Status `freeze`.
    pub frozen: bool,
    /// The creation date, `YYYY-MM-DDTHH:MM:SSZ`.
    pub create_date: String,
    /// The last console logon, `YYYY-MM-DDTHH:MM:SSZ`.
    pub last_login_date: String,
    /// The user's AccessKeys, without secrets.
    pub access_keys: Vec<AccessKey>,
    /// The console login profile; None when the user cannot log on to the console.
    pub console: Option<Console>,
    /// The virtual MFA device bound to the user, if any.
    pub mfa_device: Option<MfaDevice>,
}

impl User {
    /// Active keys that share their creation time with another key of this user: the
    /// credential report lists keys by creation time, so these are asked about one by one.
    pub fn active_keys_sharing_a_creation_time(&self) -> usize {
        let keys = &self.access_keys;
        keys.iter()
            .filter(|k| k.status == "Active")
            .filter(|k| {
                keys.iter()
                    .filter(|o| o.create_date == k.create_date)
                    .count()
                    > 1
            })
            .count()
    }
}

/// An AccessKey of a user, as ListAccessKeys shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessKey {
    /// The AccessKey id.
    pub id: String,
    /// `Active` or `Inactive`.
    pub status: String,
    /// The creation date, `YYYY-MM-DDTHH:MM:SSZ`.
    pub create_date: String,
    /// When the key last signed a request, `YYYY-MM-DDTHH:MM:SSZ`; None if it never did.
    pub last_used: Option<String>,
}

/// A user's console login profile, as GetLoginProfile shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Console {
    /// `Active` or `Inactive`.
    pub status: String,
    /// Whether the user must change the password at the next logon.
    pub password_reset_required: bool,
    /// Whether the user must bind an MFA device to log on.
    pub mfa_bind_required: bool,
    /// When the profile last changed, `YYYY-MM-DDTHH:MM:SSZ`.
    pub update_date: String,
}

/// A virtual MFA device bound to a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MfaDevice {
    /// The serial number, for example `acs:ram::<account>:mfa/<name>`.
    pub serial: String,
    /// When it was activated, `YYYY-MM-DDTHH:MM:SSZ`.
    pub activate_date: String,
}

/// A RAM group as the local API serves it.
#[derive(Debug, Clone)]
pub struct Group {
    /// The `GroupId`: `g-` and 16 hex digits derived from the account and the name.
    pub id: String,
    /// The group name.
    pub name: String,
    /// The display name.
    pub display_name: String,
    /// Free-text comments.
    pub comments: String,
    /// The creation date, `YYYY-MM-DDTHH:MM:SSZ`.
    pub create_date: String,
    /// Indexes into `Tenant::users`, in join order, with join dates.
    pub members: Vec<(usize, String)>,
}

/// A RAM role as the local API serves it.
#[derive(Debug, Clone)]
pub struct Role {
    /// The `RoleId`: `3` and 18 digits derived from the account and the name.
    pub id: String,
    /// The role name.
    pub name: String,
    /// The ARN, `acs:ram::ACCOUNT:role/NAME` with the name lowercased.
    pub arn: String,
    /// The description.
    pub description: String,
    /// The trust policy document, as JSON text.
    pub trust_policy: String,
    /// The longest session AssumeRole grants, in seconds.
    pub max_session_duration: u32,
    /// The creation date, `YYYY-MM-DDTHH:MM:SSZ`.
    pub create_date: String,
}

/// A policy as the local API serves it; its attachments are in `Tenant::attachments`.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The policy name.
    pub name: String,
    /// `System` or `Custom`.
    pub policy_type: String,
    /// The description.
    pub description: String,
    /// The policy document, as JSON text.
    pub document: String,
    /// The creation date, `YYYY-MM-DDTHH:MM:SSZ`.
    pub create_date: String,
}

/// Where a policy is attached.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Principal {
    /// A user, by index into `Tenant::users`.
    User(usize),
    /// A group, by index into `Tenant::groups`.
    Group(usize),
    /// A role, by index into `Tenant::roles`.
    Role(usize),
}

/// A policy attached to a principal.
#[derive(Debug, Clone)]
pub struct Attachment {
    /// Who the policy is attached to.
    pub principal: Principal,
    /// When it was attached, `YYYY-MM-DDTHH:MM:SSZ`.
    pub attach_date: String,
}

/// A tenant with ids assigned and references resolved.
#[derive(Debug, Clone)]
pub struct Tenant {
    /// The 16-digit account id.
    pub account_id: String,
    /// The account alias.
    pub alias: String,
    /// The RAM users, in tenant-file order.
    pub users: Vec<User>,
    /// The RAM groups, in tenant-file order.
    pub groups: Vec<Group>,
    /// The RAM roles, in tenant-file order.
    pub roles: Vec<Role>,
    /// The policies, in tenant-file order.
    pub policies: Vec<Policy>,
    /// Serial numbers of MFA devices bound to no user.
    pub unbound_mfa_devices: Vec<String>,
    /// The RAM password policy.
    pub password_policy: PasswordPolicy,
    /// The security preference.
    pub security_preference: SecurityPreference,
    /// The root identity.
    pub root: RootSpec,
    /// Attachments per policy index.
    pub attachments: Vec<Vec<Attachment>>,
    /// Indexes into `groups`, by group name.
    pub(crate) group_by_name: HashMap<String, usize>,
    /// Indexes into `roles`, by role name.
    pub(crate) role_by_name: HashMap<String, usize>,
    /// Indexes into `users`, by login name, so per-user calls stay O(1) at 100,000 users.
    pub(crate) user_by_name: HashMap<String, usize>,
    /// Indexes into `users`, by UserPrincipalName, for the same reason.
    pub(crate) user_by_principal_name: HashMap<String, usize>,
}

pub(crate) fn digits(seed: &str, n: usize) -> String {
    let hash = Sha256::digest(seed.as_bytes());
    hash.iter()
        .take(n)
        .map(|b| char::from(b'0' + b % 10))
        .collect()
}

pub(crate) fn date(index: usize) -> String {
    let base = time::macros::datetime!(2023-03-01 08:00:00 UTC);
    format_date(base + time::Duration::hours((index as i64 * 37) % 15_000))
}

pub(crate) fn format_date(d: time::OffsetDateTime) -> String {
    d.format(time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
    ))
    .unwrap_or_default()
}

/// When this process first needed a relative date, to the second. One value per process,
/// so every tenant a test builds agrees on what `recent` means.
fn process_start() -> time::OffsetDateTime {
    static START: std::sync::OnceLock<time::OffsetDateTime> = std::sync::OnceLock::new();
    *START.get_or_init(|| {
        let now = time::OffsetDateTime::now_utc();
        now.replace_nanosecond(0).unwrap_or(now)
    })
}

/// What a key `created: "recent"` is served with: ten days before this process first
/// needed it, so that a key made recent stays well inside 90 days while the process runs.
pub(crate) fn recent_date() -> &'static str {
    static RECENT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    RECENT.get_or_init(|| format_date(process_start() - time::Duration::days(10)))
}

/// What a key `last_used: "recent"` (or not given) is served with: a day before this
/// process first needed a relative date.
pub(crate) fn recently_used_date() -> &'static str {
    static USED: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    USED.get_or_init(|| format_date(process_start() - time::Duration::days(1)))
}

fn is_date(s: &str) -> bool {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).is_ok()
}

/// A deterministic AccessKey id: `LTAI` and 20 letters and digits.
pub(crate) fn key_id(seed: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let hash = Sha256::digest(seed.as_bytes());
    let tail: String = hash
        .iter()
        .take(20)
        .map(|b| char::from(ALPHABET[*b as usize % ALPHABET.len()]))
        .collect();
    format!("LTAI{tail}")
}

impl Tenant {
    /// The bundled sample tenant.
    pub fn sample() -> Result<Self> {
        Self::from_json(SAMPLE_TENANT).context("the bundled sample tenant is invalid")
    }

    /// Reads a tenant file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read tenant file {}", path.display()))?;
        Self::from_json(&text).with_context(|| format!("invalid tenant file {}", path.display()))
    }

    /// A tenant from the JSON text of a tenant file.
    pub fn from_json(text: &str) -> Result<Self> {
        let file: TenantFile = serde_json::from_str(text)?;
        Self::from_file(file)
    }

    /// Checks a tenant file, assigns ids and dates, and resolves group and policy names;
    /// fails on the first problem found.
    pub fn from_file(file: TenantFile) -> Result<Self> {
        if file.account_id.len() != 16 || !file.account_id.bytes().all(|b| b.is_ascii_digit()) {
            bail!("account_id must be 16 digits, got {:?}", file.account_id);
        }
        if file.alias.is_empty() {
            bail!("alias must not be empty");
        }
        let account = &file.account_id;
        let domain = format!("{}.onaliyun.com", file.alias);
        let mut users = Vec::with_capacity(file.users.len());
        let mut seen = HashMap::new();
        let mut key_ids = std::collections::HashSet::new();
        let mut serials: std::collections::HashSet<&str> = std::collections::HashSet::new();
        for (i, u) in file.users.iter().enumerate() {
            if u.name.is_empty() || seen.insert(u.name.clone(), i).is_some() {
                bail!("user #{i}: name {:?} is empty or used twice", u.name);
            }
            let frozen = match u.status.as_str() {
                "active" => false,
                "frozen" | "freeze" => true,
                other => bail!(
                    "user {}: status must be active or frozen, got {other:?}",
                    u.name
                ),
            };
            let mut access_keys = Vec::new();
            for k in &u.access_keys {
                if k.id.is_empty() || !key_ids.insert(k.id.clone()) {
                    bail!(
                        "user {}: AccessKey id {:?} is empty or used twice",
                        u.name,
                        k.id
                    );
                }
                if k.status != "Active" && k.status != "Inactive" {
                    bail!(
                        "user {}: AccessKey {} status must be Active or Inactive, got {:?}",
                        u.name,
                        k.id,
                        k.status
                    );
                }
                let create_date = match k.created.as_str() {
                    "recent" => recent_date().to_string(),
                    d if is_date(d) => d.to_string(),
                    other => bail!(
                        "user {}: AccessKey {} created must be a date like 2025-06-01T08:00:00Z or \"recent\", got {other:?}",
                        u.name,
                        k.id
                    ),
                };
                let last_used = match k.last_used.as_deref() {
                    None | Some("recent") => Some(recently_used_date().to_string()),
                    Some("never") => None,
                    Some(d) if is_date(d) => Some(d.to_string()),
                    Some(other) => bail!(
                        "user {}: AccessKey {} last_used must be a date like 2025-06-01T08:00:00Z, \"recent\" or \"never\", got {other:?}",
                        u.name,
                        k.id
                    ),
                };
                access_keys.push(AccessKey {
                    id: k.id.clone(),
                    status: k.status.clone(),
                    create_date,
                    last_used,
                });
            }
            let console = match &u.console {
                None => None,
                Some(c) if c.status == "Active" || c.status == "Inactive" => Some(Console {
                    status: c.status.clone(),
                    password_reset_required: c.password_reset_required,
                    mfa_bind_required: c.mfa_bind_required,
                    update_date: date(i + 2000),
                }),
                Some(c) => bail!(
                    "user {}: console status must be Active or Inactive, got {:?}",
                    u.name,
                    c.status
                ),
            };
            let mfa_device = match &u.mfa_device {
                None => None,
                Some(m) => {
                    if m.serial.is_empty() || !serials.insert(&m.serial) {
                        bail!(
                            "user {}: MFA serial {:?} is empty or used twice",
                            u.name,
                            m.serial
                        );
                    }
                    let activate_date = m.activated.clone().unwrap_or_else(|| date(i + 3000));
                    if !is_date(&activate_date) {
                        bail!(
                            "user {}: MFA activated must be a date like 2025-06-01T08:00:00Z, got {activate_date:?}",
                            u.name
                        );
                    }
                    Some(MfaDevice {
                        serial: m.serial.clone(),
                        activate_date,
                    })
                }
            };
            users.push(User {
                id: format!("2{}", digits(&format!("{account}/user/{}", u.name), 15)),
                name: u.name.clone(),
                principal_name: format!("{}@{domain}", u.name),
                display_name: u.display_name.clone(),
                email: u.email.clone(),
                mobile_phone: u.mobile_phone.clone(),
                comments: u.comments.clone(),
                frozen,
                create_date: u.create_date.clone().unwrap_or_else(|| date(i)),
                last_login_date: match u.last_login_date.as_deref() {
                    None | Some("recent") => recently_used_date().to_string(),
                    Some("never") => String::new(),
                    Some(d) if is_date(d) => d.to_string(),
                    Some(other) => bail!(
                        "user {}: last_login_date must be a date like 2025-06-01T08:00:00Z, \"recent\" or \"never\", got {other:?}",
                        u.name
                    ),
                },
                access_keys,
                console,
                mfa_device,
            });
        }
        if file.root.access_keys.len() > 2 {
            bail!("root: the root identity has at most two AccessKeys");
        }
        for k in &file.root.access_keys {
            if k.status != "Active" && k.status != "Inactive" {
                bail!(
                    "root: AccessKey status must be Active or Inactive, got {:?}",
                    k.status
                );
            }
            if !is_date(&k.created) || k.last_used.as_deref().is_some_and(|d| !is_date(d)) {
                bail!(
                    "root: AccessKey created and last_used must be dates like 2025-06-01T08:00:00Z"
                );
            }
        }
        for serial in &file.unbound_mfa_devices {
            if serial.is_empty() || !serials.insert(serial) {
                bail!("unbound MFA serial {serial:?} is empty or used twice");
            }
        }
        let mut groups = Vec::new();
        let mut group_by_name = HashMap::new();
        for (i, g) in file.groups.iter().enumerate() {
            if g.name.is_empty() || group_by_name.insert(g.name.clone(), i).is_some() {
                bail!("group #{i}: name {:?} is empty or used twice", g.name);
            }
            let hex = hex::encode(Sha256::digest(
                format!("{account}/group/{}", g.name).as_bytes(),
            ));
            groups.push(Group {
                id: format!("g-{}", &hex[..16]),
                name: g.name.clone(),
                display_name: if g.display_name.is_empty() {
                    g.name.clone()
                } else {
                    g.display_name.clone()
                },
                comments: g.comments.clone(),
                create_date: date(i + 100),
                members: Vec::new(),
            });
        }
        for (ui, u) in file.users.iter().enumerate() {
            for g in &u.groups {
                let Some(&gi) = group_by_name.get(g) else {
                    bail!("user {}: unknown group {g:?}", u.name)
                };
                groups[gi].members.push((ui, date(ui + gi + 200)));
            }
        }
        let mut roles = Vec::new();
        let mut role_by_name = HashMap::new();
        for (i, r) in file.roles.iter().enumerate() {
            if r.name.is_empty() || role_by_name.insert(r.name.clone(), i).is_some() {
                bail!("role #{i}: name {:?} is empty or used twice", r.name);
            }
            if !r.trust_policy.is_object() && !r.trust_policy.is_string() {
                bail!(
                    "role {}: trust_policy must be a JSON object (or a string, to serve it verbatim)",
                    r.name
                );
            }
            roles.push(Role {
                id: format!("3{}", digits(&format!("{account}/role/{}", r.name), 18)),
                name: r.name.clone(),
                arn: format!("acs:ram::{account}:role/{}", r.name.to_ascii_lowercase()),
                description: r.description.clone(),
                trust_policy: match &r.trust_policy {
                    serde_json::Value::String(s) => s.clone(),
                    v => v.to_string(),
                },
                max_session_duration: r.max_session_duration,
                create_date: date(i + 300),
            });
        }
        let mut policies = Vec::new();
        let mut policy_by_name: BTreeMap<String, usize> = BTreeMap::new();
        for (i, p) in file.policies.iter().enumerate() {
            if p.policy_type != "System" && p.policy_type != "Custom" {
                bail!(
                    "policy {}: type must be System or Custom, got {:?}",
                    p.name,
                    p.policy_type
                );
            }
            if p.name.is_empty() || policy_by_name.insert(p.name.clone(), i).is_some() {
                bail!("policy #{i}: name {:?} is empty or used twice", p.name);
            }
            policies.push(Policy {
                name: p.name.clone(),
                policy_type: p.policy_type.clone(),
                description: p.description.clone(),
                document: if p.document.is_null() {
                    default_document(&p.name, &p.policy_type)
                } else {
                    p.document.to_string()
                },
                create_date: date(i + 400),
            });
        }
        let mut attachments = vec![Vec::new(); policies.len()];
        let mut attach =
            |owner: &str, names: &[String], principal: Principal, seed: usize| -> Result<()> {
                for name in names {
                    let Some(&pi) = policy_by_name.get(name) else {
                        bail!("{owner}: unknown policy {name:?}")
                    };
                    attachments[pi].push(Attachment {
                        principal: principal.clone(),
                        attach_date: date(seed + pi + 500),
                    });
                }
                Ok(())
            };
        for (i, u) in file.users.iter().enumerate() {
            attach(
                &format!("user {}", u.name),
                &u.policies,
                Principal::User(i),
                i,
            )?;
        }
        for (i, g) in file.groups.iter().enumerate() {
            attach(
                &format!("group {}", g.name),
                &g.policies,
                Principal::Group(i),
                i,
            )?;
        }
        for (i, r) in file.roles.iter().enumerate() {
            attach(
                &format!("role {}", r.name),
                &r.policies,
                Principal::Role(i),
                i,
            )?;
        }
        Ok(Tenant {
            account_id: file.account_id,
            alias: file.alias,
            groups,
            roles,
            policies,
            unbound_mfa_devices: file.unbound_mfa_devices,
            password_policy: file.password_policy,
            security_preference: file.security_preference,
            root: file.root,
            attachments,
            group_by_name,
            role_by_name,
            user_by_name: users
                .iter()
                .enumerate()
                .map(|(i, u)| (u.name.clone(), i))
                .collect(),
            user_by_principal_name: users
                .iter()
                .enumerate()
                .map(|(i, u)| (u.principal_name.clone(), i))
                .collect(),
            users,
        })
    }

    /// The domain of the tenant's user principal names, `ALIAS.onaliyun.com`.
    pub fn upn_domain(&self) -> String {
        format!("{}.onaliyun.com", self.alias)
    }
}

/// A policy's document when the tenant file gives none: Alibaba Cloud's AdministratorAccess,
/// ReadOnlyAccess as published copies of Alibaba Cloud's read it, the service's
/// actions for `Aliyun<Service>FullAccess` and its reads for `Aliyun<Service>ReadOnlyAccess`,
/// otherwise `ecs:Describe*`.
fn default_document(name: &str, policy_type: &str) -> String {
    let allow = |actions: serde_json::Value| {
        serde_json::json!({"Version": "1", "Statement": [{"Action": actions, "Resource": "*", "Effect": "Allow"}]})
            .to_string()
    };
    if policy_type == "System" {
        let service = |s: &str| match s {
            "ContainerService" => "cs".to_string(),
            other => other.to_ascii_lowercase(),
        };
        match name {
            "AdministratorAccess" => return allow("*".into()),
            "ReadOnlyAccess" => {
                return allow(serde_json::json!([
                    "*:Describe*",
                    "*:List*",
                    "*:Get*",
                    "*:BatchGet*",
                    "*:Query*",
                    "*:BatchQuery*",
                    "actiontrail:LookupEvents",
                    "actiontrail:Check*",
                    "dm:Desc*",
                    "dm:SenderStatistics*",
                    "ram:GenerateCredentialReport"
                ]));
            }
            "AliyunSTSAssumeRoleAccess" => return allow("sts:AssumeRole".into()),
            _ => {}
        }
        if let Some(s) = name
            .strip_prefix("Aliyun")
            .and_then(|n| n.strip_suffix("FullAccess"))
        {
            return allow(format!("{}:*", service(s)).into());
        }
        if let Some(s) = name
            .strip_prefix("Aliyun")
            .and_then(|n| n.strip_suffix("ReadOnlyAccess"))
        {
            let s = service(s);
            return allow(serde_json::json!([
                format!("{s}:Describe*"),
                format!("{s}:List*"),
                format!("{s}:Get*")
            ]));
        }
    }
    allow("ecs:Describe*".into())
}

#[cfg(test)]
mod tests;
