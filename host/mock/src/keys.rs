//! The AccessKeys the local API accepts and who each one belongs to.

use crate::tenant::Tenant;
use ramsync_credentials::Secret;
use time::OffsetDateTime;

/// Who an AccessKey belongs to.
#[derive(Debug, Clone)]
pub enum Identity {
    /// A RAM user of the tenant, by login name.
    User(String),
    /// An assumed role session.
    AssumedRole {
        /// The name of the assumed role.
        role: String,
        /// The `RoleSessionName` given to AssumeRole.
        session: String,
    },
}

/// A key the local API accepts.
#[derive(Debug, Clone)]
pub struct MockKey {
    /// The AccessKey secret requests must be signed with.
    pub secret: Secret,
    /// The STS security token requests must send; None for a long-term key.
    pub security_token: Option<Secret>,
    /// When the key stops being accepted; checked only for keys with a security token.
    pub expires_at: Option<OffsetDateTime>,
    /// Who the key belongs to.
    pub identity: Identity,
    /// The account the key belongs to; the tenant's account when None.
    pub account_id: Option<String>,
}

impl MockKey {
    /// A long-term key of the tenant's user `user`, signing with `secret`.
    pub fn user(secret: &str, user: &str) -> Self {
        MockKey {
            secret: Secret::new(secret),
            security_token: None,
            expires_at: None,
            identity: Identity::User(user.into()),
            account_id: None,
        }
    }

    /// A key of a user of another account, for testing cross-account trust.
    pub fn foreign_user(secret: &str, account_id: &str, user: &str) -> Self {
        MockKey {
            account_id: Some(account_id.into()),
            ..MockKey::user(secret, user)
        }
    }

    /// The account the key belongs to.
    pub(crate) fn account<'a>(&'a self, t: &'a Tenant) -> &'a str {
        self.account_id.as_deref().unwrap_or(&t.account_id)
    }

    /// The principal ARN a trust policy names this caller by.
    pub(crate) fn trust_arn(&self, t: &Tenant) -> String {
        match &self.identity {
            Identity::User(u) => format!("acs:ram::{}:user/{u}", self.account(t)),
            Identity::AssumedRole { role, .. } => format!(
                "acs:ram::{}:role/{}",
                self.account(t),
                role.to_ascii_lowercase()
            ),
        }
    }

    /// The caller's ARN, as GetCallerIdentity and access-denied details show it.
    pub(crate) fn arn(&self, t: &Tenant) -> String {
        match &self.identity {
            Identity::User(u) => format!("acs:ram::{}:user/{u}", self.account(t)),
            Identity::AssumedRole { role, session } => {
                format!("acs:ram::{}:assumed-role/{role}/{session}", self.account(t))
            }
        }
    }

    /// The caller's `IdentityType`: `RAMUser` or `AssumedRoleUser`.
    pub(crate) fn identity_type(&self) -> &'static str {
        match self.identity {
            Identity::User(_) => "RAMUser",
            Identity::AssumedRole { .. } => "AssumedRoleUser",
        }
    }

    /// The caller's `PrincipalId`: the user's id (made up for a user the tenant lacks), or
    /// `ROLEID:SESSION` for a role session.
    pub(crate) fn principal_id(&self, t: &Tenant) -> String {
        match &self.identity {
            Identity::User(u) => t
                .users
                .iter()
                .find(|x| &x.name == u)
                .map(|x| x.id.clone())
                .unwrap_or_else(|| format!("2{:0>15}", u.len())),
            Identity::AssumedRole { role, session } => {
                let id = t
                    .role_by_name
                    .get(role)
                    .map(|&i| t.roles[i].id.clone())
                    .unwrap_or_default();
                format!("{id}:{session}")
            }
        }
    }
}
