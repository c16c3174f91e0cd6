//! The IMS credential report, which the real service builds in the background: the first
//! GenerateCredentialReport starts it (`STARTED`), later calls say `INPROGRESS` until it is
//! built and then `COMPLETED`; a report stays for four hours, during which generating again
//! returns it unchanged. GetCredentialReport pages the finished report with
//! `MaxItems`/`NextToken`, as base64 CSV. Accounts of more than 3,500 users get no report,
//! as Alibaba Cloud documents.

use crate::api::{IMS, Params};
use crate::failure::ApiFailure;
use crate::tenant::Tenant;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The most users an account may have for a report to be generated.
pub(crate) const MAX_USERS: usize = 3500;
/// How long a report is returned again instead of generating a new one.
const KEPT_FOR: Duration = Duration::from_secs(4 * 3600);
/// GetCredentialReport's MaxItems: the root row and 3,500 users.
const MAX_ITEMS: usize = 3501;

/// The report columns, in the order the CSV has them.
pub(crate) const COLUMNS: &[&str] = &[
    "user",
    "user_creation_time",
    "user_last_logon",
    "password_exist",
    "password_active",
    "password_last_changed",
    "password_next_rotation",
    "mfa_active",
    "access_key_1_exist",
    "access_key_1_active",
    "access_key_1_last_rotated",
    "access_key_1_last_used",
    "access_key_2_exist",
    "access_key_2_active",
    "access_key_2_last_rotated",
    "access_key_2_last_used",
];

struct Report {
    started: Instant,
    generated_time: String,
    /// One CSV line per row, without the header: the root identity first, then the users.
    rows: Vec<String>,
}

/// Each account's credential report, if one was generated.
pub(crate) struct Reports {
    report: Mutex<std::collections::HashMap<String, Option<Report>>>,
    generation: Duration,
}

impl Reports {
    /// Reports that take `generation` to build.
    pub(crate) fn new(generation: Duration) -> Self {
        Reports {
            report: Mutex::new(std::collections::HashMap::new()),
            generation,
        }
    }

    /// Answers GenerateCredentialReport and GetCredentialReport; None for other actions.
    pub(crate) fn handle(
        &self,
        t: &Tenant,
        version: &str,
        action: &str,
        p: &Params,
    ) -> Option<Result<Value, ApiFailure>> {
        match (version, action) {
            (IMS, "GenerateCredentialReport") => Some(self.generate(t)),
            (IMS, "GetCredentialReport") => Some(self.get(t, p)),
            _ => None,
        }
    }

    fn generate(&self, t: &Tenant) -> Result<Value, ApiFailure> {
        if t.users.len() > MAX_USERS {
            return Err(ApiFailure::new(
                400,
                "LimitExceeded.CredentialReport",
                &format!(
                    "The credential report cannot be generated for an account of more than {MAX_USERS} RAM users; this one has {}.",
                    t.users.len()
                ),
            ));
        }
        let mut reports = self.report.lock().unwrap_or_else(|e| e.into_inner());
        let report = reports.entry(t.account_id.clone()).or_default();
        let state = match report.as_ref() {
            Some(r) if r.started.elapsed() < self.generation => "INPROGRESS",
            Some(r) if r.started.elapsed() < KEPT_FOR => "COMPLETED",
            _ => {
                // The snapshot is taken now; it is served once `generation` has passed.
                let generated = time::OffsetDateTime::now_utc() + self.generation;
                *report = Some(Report {
                    started: Instant::now(),
                    generated_time: crate::tenant::format_date(generated),
                    rows: rows(t),
                });
                "STARTED"
            }
        };
        Ok(json!({ "State": state }))
    }

    fn get(&self, t: &Tenant, p: &Params) -> Result<Value, ApiFailure> {
        let reports = self.report.lock().unwrap_or_else(|e| e.into_inner());
        let Some(r) = reports
            .get(&t.account_id)
            .and_then(Option::as_ref)
            .filter(|r| r.started.elapsed() < KEPT_FOR)
        else {
            return Err(ApiFailure::new(
                404,
                "EntityNotExist.CredentialReport",
                "The credential report does not exist. Call GenerateCredentialReport first.",
            ));
        };
        if r.started.elapsed() < self.generation {
            return Err(ApiFailure::new(
                409,
                "CredentialReport.InProgress",
                "The credential report is still being generated.",
            ));
        }
        let max_items = match p.get("MaxItems").filter(|v| !v.is_empty()) {
            None => MAX_ITEMS,
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_ITEMS).contains(n))
                .ok_or_else(|| {
                    ApiFailure::new(
                        400,
                        "InvalidParameter.MaxItems",
                        &format!(
                            "The parameter MaxItems must be between 1 and {MAX_ITEMS}, got {v:?}."
                        ),
                    )
                })?,
        };
        let start = match p.get("NextToken").filter(|v| !v.is_empty()) {
            None => 0,
            Some(token) => decode_token(token)
                .filter(|&o| o < r.rows.len())
                .ok_or_else(|| {
                    ApiFailure::new(
                        400,
                        "InvalidParameter.NextToken",
                        "The specified parameter NextToken is not valid.",
                    )
                })?,
        };
        let end = (start + max_items).min(r.rows.len());
        let mut csv = COLUMNS.join(",");
        for row in &r.rows[start..end] {
            csv.push('\n');
            csv.push_str(row);
        }
        let mut body = json!({
            "Content": STANDARD.encode(csv),
            "GeneratedTime": r.generated_time,
            "IsTruncated": end < r.rows.len(),
        });
        if end < r.rows.len() {
            body["NextToken"] = json!(encode_token(end));
        }
        Ok(body)
    }
}

fn encode_token(offset: usize) -> String {
    STANDARD.encode(format!("credential-report|{offset}"))
}

fn decode_token(token: &str) -> Option<usize> {
    let bytes = STANDARD.decode(token).ok()?;
    let text = std::str::from_utf8(&bytes).ok()?;
    text.strip_prefix("credential-report|")?.parse().ok()
}

fn flag(b: bool) -> &'static str {
    if b { "TRUE" } else { "FALSE" }
}

/// The report's rows as of now: the root identity, then every user.
fn rows(t: &Tenant) -> Vec<String> {
    const NA: &str = "N/A";
    let mut root: Vec<String> = [
        "<root>",
        "2020-01-01T00:00:00Z",
        "-",
        "TRUE",
        "TRUE",
        NA,
        NA,
        flag(t.root.mfa.unwrap_or(true)),
    ]
    .map(str::to_string)
    .to_vec();
    for slot in 0..2 {
        match t.root.access_keys.get(slot) {
            Some(k) => root.extend([
                "TRUE".into(),
                flag(k.status == "Active").into(),
                k.created.clone(),
                k.last_used.clone().unwrap_or_else(|| "-".into()),
            ]),
            None => root.extend(["FALSE".into(), NA.into(), NA.into(), NA.into()]),
        }
    }
    let mut rows = vec![root.join(",")];
    for u in &t.users {
        let mut row: Vec<String> = vec![
            u.principal_name.clone(),
            u.create_date.clone(),
            u.last_login_date.clone(),
        ];
        match &u.console {
            Some(c) => row.extend([
                "TRUE".into(),
                flag(c.status == "Active").into(),
                c.update_date.clone(),
                NA.into(),
            ]),
            None => row.extend(["FALSE".into(), NA.into(), NA.into(), NA.into()]),
        }
        row.push(flag(u.mfa_device.is_some()).into());
        for slot in 0..2 {
            match u.access_keys.get(slot) {
                Some(k) => row.extend([
                    "TRUE".into(),
                    flag(k.status == "Active").into(),
                    k.create_date.clone(),
                    k.last_used.clone().unwrap_or_else(|| "-".into()),
                ]),
                None => row.extend(["FALSE".into(), NA.into(), NA.into(), NA.into()]),
            }
        }
        debug_assert_eq!(row.len(), COLUMNS.len());
        rows.push(row.join(","));
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(
        r: &Reports,
        t: &Tenant,
        action: &str,
        params: &[(&str, &str)],
    ) -> Result<Value, ApiFailure> {
        let p = Params::new(
            params
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        r.handle(t, IMS, action, &p).expect("a report action")
    }

    #[test]
    fn the_report_is_generated_in_the_background_then_paged() {
        let t = Tenant::synthetic("users=7").unwrap();
        let r = Reports::new(Duration::from_millis(300));
        let get = |params: &[(&str, &str)]| call(&r, &t, "GetCredentialReport", params);
        assert_eq!(
            get(&[]).unwrap_err().code,
            "EntityNotExist.CredentialReport"
        );
        assert_eq!(
            call(&r, &t, "GenerateCredentialReport", &[]).unwrap()["State"],
            "STARTED"
        );
        assert_eq!(
            call(&r, &t, "GenerateCredentialReport", &[]).unwrap()["State"],
            "INPROGRESS"
        );
        assert_eq!(get(&[]).unwrap_err().code, "CredentialReport.InProgress");
        std::thread::sleep(Duration::from_millis(350));
        assert_eq!(
            call(&r, &t, "GenerateCredentialReport", &[]).unwrap()["State"],
            "COMPLETED"
        );
        // Pages of 3 rows: the account, then the 7 users; every page has the header.
        let mut rows = Vec::new();
        let mut token = String::new();
        loop {
            let mut params = vec![("MaxItems", "3")];
            if !token.is_empty() {
                params.push(("NextToken", &token));
            }
            let page = get(&params).unwrap();
            let csv =
                String::from_utf8(STANDARD.decode(page["Content"].as_str().unwrap()).unwrap())
                    .unwrap();
            let mut lines = csv.lines();
            assert_eq!(lines.next(), Some(COLUMNS.join(",").as_str()));
            rows.extend(lines.map(str::to_string));
            if page["IsTruncated"] == false {
                assert!(page.get("NextToken").is_none());
                break;
            }
            token = page["NextToken"].as_str().unwrap().to_string();
        }
        assert_eq!(rows.len(), 8);
        assert!(rows[0].starts_with("<root>,"));
        for (row, u) in rows[1..].iter().zip(&t.users) {
            assert!(row.starts_with(&format!("{},", u.principal_name)), "{row}");
            assert_eq!(row.split(',').count(), COLUMNS.len());
        }
        let bad = get(&[("MaxItems", "3502")]).unwrap_err();
        assert_eq!(bad.code, "InvalidParameter.MaxItems");
        let bad = get(&[("NextToken", "bm90LWEtdG9rZW4=")]).unwrap_err();
        assert_eq!(bad.code, "InvalidParameter.NextToken");
    }

    #[test]
    fn no_report_for_more_than_3500_users() {
        let t = Tenant::synthetic("users=3501").unwrap();
        let r = Reports::new(Duration::ZERO);
        let refused = call(&r, &t, "GenerateCredentialReport", &[]).unwrap_err();
        assert_eq!(
            (refused.status, refused.code.as_str()),
            (400, "LimitExceeded.CredentialReport")
        );
        let t = Tenant::synthetic("users=3500").unwrap();
        assert_eq!(
            call(&r, &t, "GenerateCredentialReport", &[]).unwrap()["State"],
            "STARTED"
        );
    }
}
