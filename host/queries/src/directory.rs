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

/// The directory's accounts other than the one sync `sync_id` is of, by account id: their
/// display name and folder path. An account's own principals are not another account's.
pub fn other_account_names(
    store: &Store,
    sync_id: i64,
) -> Result<HashMap<String, (String, String)>> {
    let own = store
        .query_resources(sync_id, Some("account"))?
        .into_iter()
        .next()
        .map(|a| a.id);
    Ok(store
        .directory_accounts()?
        .into_values()
        .filter(|a| Some(&a.account_id) != own.as_ref())
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
