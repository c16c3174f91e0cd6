//! Naming the accounts of a Resource Directory: a grant whose principal belongs to another
//! member account of the directory names that account, not only its id.

use anyhow::Result;
use ramsync_store::{GrantRow, Store};
use std::collections::HashMap;

/// The account a grant's principal belongs to: an account principal's id, or the account
/// of a user or role ARN (`acs:ram::ACCOUNT:...`).
pub fn principal_account(g: &GrantRow) -> Option<&str> {
    let id = match g.principal_type.as_str() {
        "account" => g.principal_id.as_str(),
        _ => g
            .principal_id
            .strip_prefix("acs:ram::")
            .and_then(|rest| rest.split(':').next())?,
    };
    (id.len() == 16 && id.bytes().all(|b| b.is_ascii_digit())).then_some(id)
}

/// The directory's accounts by account id: their display name and folder path.
pub fn directory_names(store: &Store) -> Result<HashMap<String, (String, String)>> {
    Ok(store
        .directory_accounts()?
        .into_values()
        .map(|a| (a.account_id, (a.display_name, a.folder_path)))
        .collect())
}

/// The directory display name and folder path of a grant's principal's account, if it is
/// a member.
pub fn principal_account_name<'n>(
    names: &'n HashMap<String, (String, String)>,
    g: &GrantRow,
) -> Option<(&'n str, &'n str)> {
    let (name, path) = names.get(principal_account(g)?)?;
    Some((name, path))
}
