//! Waiting for the IMS credential report, which Alibaba Cloud builds in the background:
//! GenerateCredentialReport starts it and says `STARTED`/`INPROGRESS` until it is
//! `COMPLETED`. The wait is carried in page tokens (`waiting:MS:POLLS`), one request a
//! call, so a throttled request is retried alone and a renewed credential is used.

use crate::{Error, Rpc};
use std::time::Duration;

/// The first wait between polls; each wait doubles up to `POLL_MAX`.
const POLL_FIRST: Duration = Duration::from_millis(250);
const POLL_MAX: Duration = Duration::from_secs(2);
/// How long generation may take in all before the report is given up on.
const GIVE_UP_AFTER: Duration = Duration::from_secs(180);
/// The page-token prefix of a wait in progress.
pub const WAITING: &str = "waiting:";

/// Where the report stands after one poll.
pub enum ReportState {
    /// Built: GetCredentialReport may be called.
    Ready,
    /// Still being built: ask again with this page token.
    Wait(String),
    /// Refused, or not built in time: there is no report.
    Unavailable,
}

/// One poll of the report. `token` is empty for the first, else a token [`ReportState::Wait`]
/// gave, after which this waits (250 ms, doubling up to 2 s) before asking again.
pub fn poll(rpc: &Rpc, token: &str) -> Result<ReportState, Error> {
    let foreign = || Error::InvalidInput(format!("page token {token:?} is not this plugin's"));
    let (waited, polls) = match token.strip_prefix(WAITING) {
        None if token.is_empty() => (Duration::ZERO, 0),
        None => return Err(foreign()),
        Some(rest) => {
            let (ms, n) = rest.split_once(':').ok_or_else(foreign)?;
            let ms: u64 = ms.parse().map_err(|_| foreign())?;
            let n: u32 = n.parse().map_err(|_| foreign())?;
            let pause = POLL_FIRST.saturating_mul(1 << n.min(8)).min(POLL_MAX);
            std::thread::sleep(pause);
            (Duration::from_millis(ms) + pause, n + 1)
        }
    };
    let body = match rpc.call("GenerateCredentialReport", &[]) {
        Ok(body) => body,
        // A refusal means no report; throttling, server errors and a rejected credential go
        // to the host as usual.
        Err(
            Error::Forbidden(_)
            | Error::NotFound(_)
            | Error::Conflict(_)
            | Error::BadResponse(_)
            | Error::InvalidInput(_),
        ) => return Ok(ReportState::Unavailable),
        Err(e) => return Err(e),
    };
    Ok(match body.root().str("State")? {
        "COMPLETED" | "COMPLETE" => ReportState::Ready,
        "STARTED" | "INPROGRESS" if waited < GIVE_UP_AFTER => {
            ReportState::Wait(format!("{WAITING}{}:{polls}", waited.as_millis()))
        }
        "STARTED" | "INPROGRESS" => ReportState::Unavailable,
        other => return Err(body.bad(format!("unknown credential report State {other:?}"))),
    })
}

/// One page of the finished report: its GeneratedTime, CSV header and rows.
pub struct ReportPage {
    /// `GeneratedTime`: the report is Alibaba Cloud's snapshot of that moment.
    pub generated: String,
    /// The column names.
    pub header: Vec<String>,
    /// The rows; the account's own `<root>` row comes first on the first page.
    pub rows: Vec<Vec<String>>,
    /// The next page's `NextToken`, when `IsTruncated`.
    pub next_token: Option<String>,
}

impl ReportPage {
    /// The index of a column.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|h| h == name)
    }
}

/// GetCredentialReport: `max_items` rows from `next_token`, decoded from base64 CSV. None
/// when reading the first page is refused (allowed to generate but not to read).
pub fn read_page(
    rpc: &Rpc,
    max_items: u32,
    next_token: Option<&str>,
) -> Result<Option<ReportPage>, Error> {
    use base64::Engine;
    let max = max_items.to_string();
    let mut params = vec![("MaxItems", max.as_str())];
    if let Some(t) = next_token {
        params.push(("NextToken", t));
    }
    let body = match rpc.call("GetCredentialReport", &params) {
        Ok(body) => body,
        Err(Error::Forbidden(_)) if next_token.is_none() => return Ok(None),
        Err(e) => return Err(e),
    };
    let root = body.root();
    let generated = root.str("GeneratedTime")?.to_string();
    let content = base64::engine::general_purpose::STANDARD
        .decode(root.str("Content")?.trim())
        .map_err(|e| body.bad(format!("Content is not base64: {e}")))?;
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(content.as_slice());
    let header: Vec<String> = csv
        .headers()
        .map_err(|e| body.bad(format!("the report's CSV header is unreadable: {e}")))?
        .iter()
        .map(str::to_string)
        .collect();
    let mut rows = Vec::new();
    for (n, row) in csv.records().enumerate() {
        let row = row.map_err(|e| body.bad(format!("row {} of the report: {e}", n + 1)))?;
        rows.push(row.iter().map(|c| c.trim().to_string()).collect());
    }
    let next = match root.opt_bool("IsTruncated")?.unwrap_or(false) {
        false => None,
        true => {
            let t = root.str("NextToken")?;
            if t.is_empty() || Some(t) == next_token {
                return Err(body.bad("IsTruncated is true but NextToken is empty or repeated"));
            }
            Some(t.to_string())
        }
    };
    if !header.iter().any(|h| h == "user") {
        return Err(body.bad("the report has no `user` column"));
    }
    Ok(Some(ReportPage {
        generated,
        header,
        rows,
        next_token: next,
    }))
}

/// The columns of one AccessKey slot: `access_key_N_*` and `additional_access_key_N_*`.
pub struct KeySlot {
    exist: Option<usize>,
    active: Option<usize>,
    last_rotated: Option<usize>,
    last_used: Option<usize>,
}

/// The AccessKey slots of a report's header.
pub fn key_slots(header: &[String]) -> Vec<KeySlot> {
    let mut prefixes: Vec<&str> = Vec::new();
    for h in header {
        if let Some(prefix) = h.strip_suffix("_exist")
            && prefix.contains("access_key_")
            && !prefixes.contains(&prefix)
        {
            prefixes.push(prefix);
        }
    }
    prefixes
        .into_iter()
        .map(|p| {
            let at = |suffix: &str| header.iter().position(|h| *h == format!("{p}_{suffix}"));
            KeySlot {
                exist: at("exist"),
                active: at("active"),
                last_rotated: at("last_rotated"),
                last_used: at("last_used"),
            }
        })
        .collect()
}

/// A row's AccessKeys, as a JSON list of `{"created", "active", "last_used"}`
/// (`last_used` null when never used).
pub fn access_keys(slots: &[KeySlot], row: &[String]) -> serde_json::Value {
    let at = |i: Option<usize>| i.and_then(|i| row.get(i)).map(String::as_str);
    let keys = slots
        .iter()
        .filter(|slot| at(slot.exist).and_then(flag) == Some(true))
        .map(|slot| {
            serde_json::json!({
                "created": at(slot.last_rotated).filter(|v| is_date(v)),
                "active": at(slot.active).and_then(flag),
                "last_used": at(slot.last_used).filter(|v| is_date(v)),
            })
        })
        .collect();
    serde_json::Value::Array(keys)
}

/// An ISO 8601 time such as `2019-11-11T12:33:18Z`, as opposed to `-` or `N/A`.
pub fn is_date(v: &str) -> bool {
    let b = v.as_bytes();
    b.len() >= 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[..4].iter().all(u8::is_ascii_digit)
}

/// A report cell `TRUE`/`FALSE`; None for anything else.
pub fn flag(v: &str) -> Option<bool> {
    match v.trim().to_ascii_uppercase().as_str() {
        "TRUE" => Some(true),
        "FALSE" => Some(false),
        _ => None,
    }
}
