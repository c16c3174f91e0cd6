//! Idempotent changes: one API call, with "exists already" and "absent already" treated as
//! success without change, and a dry run that only describes the call.

use crate::{Change, Error, Product, Rpc};

/// One mutating API call.
pub struct Mutation {
    /// The product called.
    pub product: Product,
    /// The API action, for example `AddUserToGroup`.
    pub action: String,
    /// The action's parameters.
    pub parameters: Vec<(&'static str, String)>,
}

impl Mutation {
    fn change(&self, changed: bool, message: String) -> Change {
        Change {
            action: format!("{} {}", self.product.name, self.action),
            parameters: self
                .parameters
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            changed,
            message,
        }
    }

    /// Makes the call unless `dry_run`. `done` describes the change; `already` what it means
    /// when the API answers that the state is already there (`EntityAlreadyExists.*` for a
    /// grant, `absent_code` for a revoke).
    pub fn run(
        &self,
        dry_run: bool,
        done: &str,
        already: &str,
        absent_code: Option<&str>,
    ) -> Result<Change, Error> {
        if dry_run {
            return Ok(self.change(
                false,
                format!("would call {} {}", self.product.name, self.action),
            ));
        }
        let params: Vec<(&str, &str)> = self
            .parameters
            .iter()
            .map(|(k, v)| (*k, v.as_str()))
            .collect();
        match Rpc::new(self.product)?.call(&self.action, &params) {
            Ok(_) => Ok(self.change(true, done.to_string())),
            Err(Error::Conflict(_)) if absent_code.is_none() => {
                Ok(self.change(false, already.to_string()))
            }
            Err(Error::NotFound(e)) if Some(e.code.as_str()) == absent_code => {
                Ok(self.change(false, already.to_string()))
            }
            Err(e) => Err(e),
        }
    }
}

/// The login name RAM's user APIs take, from a UserPrincipalName (`alice@corp.onaliyun.com`).
pub fn login_name(user_principal_name: &str) -> &str {
    user_principal_name
        .split('@')
        .next()
        .unwrap_or(user_principal_name)
}
