//! Helpers shared by the end-to-end tests.
#![allow(dead_code)]

use ramsync::mock::{MockOptions, MockServer};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::OnceLock;

pub const DEMO_ID: &str = ramsync::mock::DEMO_ACCESS_KEY_ID;
pub const DEMO_SECRET: &str = ramsync::mock::DEMO_ACCESS_KEY_SECRET;

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A runtime and a local API serving `options`.
pub struct Mock {
    pub runtime: tokio::runtime::Runtime,
    pub server: Option<MockServer>,
}

impl Mock {
    pub fn start(options: MockOptions) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let server = runtime
            .block_on(MockServer::start("127.0.0.1:0", options))
            .unwrap();
        Mock {
            runtime,
            server: Some(server),
        }
    }

    pub fn sample() -> Self {
        Self::start(MockOptions::sample().unwrap())
    }

    pub fn server(&self) -> &MockServer {
        self.server.as_ref().unwrap()
    }

    pub fn url(&self) -> String {
        self.server().url()
    }

    /// Runs `ramsync sync --db DB` against this server with the demo key, and checks it completed.
    pub fn sync(&self, db: &str) {
        let mut args = vec!["sync".to_string(), "--db".to_string(), db.to_string()];
        args.extend(self.endpoint_args());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = ramsync(&args, &demo_env());
        assert!(out.status.success(), "sync failed: {}", stderr(&out));
    }

    /// A call context against this server with the key `id`/`secret`, signed by `plugins`' signer.
    pub fn context_as(
        &self,
        plugins: &ramsync::engine::Plugins,
        limits: ramsync::engine::Limits,
        id: &str,
        secret: &str,
    ) -> ramsync::engine::CallContext {
        let auth = std::sync::Arc::new(ramsync::engine::Auth::fixed(
            plugins.signer.clone(),
            ramsync::credentials::Credential::new(id, secret, None),
        ));
        ramsync::engine::CallContext::new(
            ramsync::http_policy::Endpoints::all_at(&self.url()).unwrap(),
            Some(auth),
            limits,
        )
    }

    /// A call context against this server with the demo key.
    pub fn demo_context(
        &self,
        plugins: &ramsync::engine::Plugins,
        limits: ramsync::engine::Limits,
    ) -> ramsync::engine::CallContext {
        self.context_as(plugins, limits, DEMO_ID, DEMO_SECRET)
    }

    /// Syncs this server's tenant into the store at `path` in this process, with the built-in
    /// plugins and the demo key, and checks it completed.
    pub fn sync_in_process(&self, path: &std::path::Path) {
        let limits = ramsync::engine::Limits::default();
        self.runtime.block_on(async {
            let plugins = ramsync::engine::Plugins::builtin(limits).await.unwrap();
            let ctx = self.demo_context(&plugins, limits);
            let mut store = ramsync::store::Store::open_or_create(path).unwrap();
            let report = ramsync::scheduler::sync(
                &plugins,
                &ctx,
                &mut store,
                &ramsync::scheduler::SyncOptions::default(),
                &ramsync::progress::ProgressDisplay::hidden().account("default"),
            )
            .await
            .unwrap();
            assert!(report.is_complete());
        });
    }

    /// `--endpoint` arguments pointing every product at this server.
    pub fn endpoint_args(&self) -> Vec<String> {
        ["ram", "ims", "sts"]
            .iter()
            .flat_map(|p| ["--endpoint".to_string(), format!("{p}={}", self.url())])
            .collect()
    }
}

/// Runs the `ramsync` binary with no inherited Alibaba Cloud credentials.
pub fn ramsync(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ramsync"));
    cmd.args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("ALIBABA_CLOUD_") {
            cmd.env_remove(k);
        }
    }
    // Hermetic: no Alibaba Cloud CLI profile of this machine is read unless a test says so.
    cmd.env(
        "RAMSYNC_ALIYUN_CONFIG",
        "/nonexistent/ramsync-test/config.json",
    );
    cmd.envs(env.iter().copied());
    cmd.output().unwrap()
}

pub fn demo_env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("ALIBABA_CLOUD_ACCESS_KEY_ID", DEMO_ID),
        ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", DEMO_SECRET),
    ]
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn json_lines(o: &Output) -> Vec<Value> {
    stdout(o)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect()
}

/// What a sync of the sample tenant must find, computed from the fixture file itself.
pub struct Expected {
    pub account_id: String,
    pub alias: String,
    /// UserPrincipalName -> status
    pub users: BTreeMap<String, String>,
    pub groups: BTreeSet<String>,
    pub roles: BTreeSet<String>,
    /// (PolicyName, PolicyType)
    pub policies: BTreeSet<(String, String)>,
    /// (GroupName, UserPrincipalName)
    pub members: BTreeSet<(String, String)>,
    /// (PolicyName, principal type, principal name)
    pub attachments: BTreeSet<(String, String, String)>,
    /// AccessKey id -> (UserPrincipalName, `Active` or `Inactive`, a date or `recent`)
    pub access_keys: BTreeMap<String, (String, String, String)>,
    /// AccessKey id -> its `last_used` as the fixture has it (a date or `never`); a key
    /// without one was used a day before the local API started.
    pub key_last_used: BTreeMap<String, String>,
    /// UserPrincipalName -> its login profile (status, password_reset_required,
    /// mfa_bind_required); users without one cannot log on to the console.
    pub login_profiles: BTreeMap<String, (String, bool, bool)>,
    /// UserPrincipalName -> the serial number of its MFA device
    pub mfa_devices: BTreeMap<String, String>,
    /// Serial numbers of MFA devices bound to no user
    pub unbound_mfa_devices: BTreeSet<String>,
}

impl Expected {
    /// Whether the user can log on to the console: a login profile that is not disabled.
    pub fn console_access(&self, upn: &str) -> bool {
        self.login_profiles
            .get(upn)
            .is_some_and(|(status, _, _)| status != "Inactive")
    }

    pub fn mfa_enabled(&self, upn: &str) -> bool {
        self.mfa_devices.contains_key(upn)
    }

    /// The active AccessKeys of each user, by UserPrincipalName, in key id order.
    pub fn active_keys(&self) -> BTreeMap<String, Vec<(String, String)>> {
        let mut out: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
        for (id, (upn, status, created)) in &self.access_keys {
            if status == "Active" {
                out.entry(upn.clone())
                    .or_default()
                    .push((id.clone(), created.clone()));
            }
        }
        out
    }
}

pub fn expected_sample() -> Expected {
    let text =
        std::fs::read_to_string(repo_root().join("tests/fixtures/sample-tenant.json")).unwrap();
    let t: Value = serde_json::from_str(&text).unwrap();
    let alias = t["alias"].as_str().unwrap().to_string();
    let upn = |name: &str| format!("{name}@{alias}.onaliyun.com");
    let mut users = BTreeMap::new();
    let mut members = BTreeSet::new();
    let mut access_keys = BTreeMap::new();
    let mut key_last_used = BTreeMap::new();
    let mut login_profiles = BTreeMap::new();
    let mut mfa_devices = BTreeMap::new();
    let mut attachments = BTreeSet::new();
    let policies_of = |x: &Value| -> Vec<String> {
        x.get("policies")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|p| p.as_str().unwrap().to_string())
            .collect()
    };
    for (kind, key) in [("group", "groups"), ("role", "roles")] {
        for x in t[key].as_array().unwrap() {
            for p in policies_of(x) {
                attachments.insert((p, kind.to_string(), x["name"].as_str().unwrap().to_string()));
            }
        }
    }
    for u in t["users"].as_array().unwrap() {
        for p in policies_of(u) {
            attachments.insert((p, "user".to_string(), upn(u["name"].as_str().unwrap())));
        }
        let name = u["name"].as_str().unwrap();
        let status = u.get("status").and_then(Value::as_str).unwrap_or("active");
        users.insert(upn(name), status.to_string());
        for k in u
            .get("access_keys")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let key_status = k.get("status").and_then(Value::as_str).unwrap_or("Active");
            if let Some(used) = k.get("last_used").and_then(Value::as_str) {
                key_last_used.insert(k["id"].as_str().unwrap().to_string(), used.to_string());
            }
            let previous = access_keys.insert(
                k["id"].as_str().unwrap().to_string(),
                (
                    upn(name),
                    key_status.to_string(),
                    k["created"].as_str().unwrap().to_string(),
                ),
            );
            assert!(
                previous.is_none(),
                "AccessKey ids are unique in the fixture"
            );
        }
        if let Some(c) = u.get("console") {
            let flag = |k: &str| c.get(k).and_then(Value::as_bool).unwrap_or(false);
            login_profiles.insert(
                upn(name),
                (
                    c.get("status")
                        .and_then(Value::as_str)
                        .unwrap_or("Active")
                        .to_string(),
                    flag("password_reset_required"),
                    flag("mfa_bind_required"),
                ),
            );
        }
        if let Some(m) = u.get("mfa_device") {
            mfa_devices.insert(upn(name), m["serial"].as_str().unwrap().to_string());
        }
        for g in u
            .get("groups")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            members.insert((g.as_str().unwrap().to_string(), upn(name)));
        }
    }
    let names = |key: &str| -> BTreeSet<String> {
        t[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["name"].as_str().unwrap().to_string())
            .collect()
    };
    Expected {
        account_id: t["account_id"].as_str().unwrap().to_string(),
        alias: alias.clone(),
        users,
        groups: names("groups"),
        roles: names("roles"),
        policies: t["policies"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["name"].as_str().unwrap().to_string(),
                    p["type"].as_str().unwrap().to_string(),
                )
            })
            .collect(),
        members,
        attachments,
        access_keys,
        key_last_used,
        login_profiles,
        mfa_devices,
        unbound_mfa_devices: t
            .get("unbound_mfa_devices")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|s| s.as_str().unwrap().to_string())
            .collect(),
    }
}

/// The venv's python, installing the pinned SDK on first use.
pub fn python() -> PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| repo_root().join("target"));
            let venv = target.join("sdk-venv");
            let python = venv.join("bin/python");
            let requirements = repo_root().join("tests/conformance/requirements.txt");
            let stamp = venv.join("installed-requirements.txt");
            let wanted = std::fs::read_to_string(&requirements).unwrap();
            if std::fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str())
                && python.exists()
            {
                return python;
            }
            let host_python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
            let status = Command::new(&host_python)
                .args(["-m", "venv"])
                .arg(&venv)
                .status()
                .expect("python3 is needed for the SDK conformance tests and the SDK benchmark");
            assert!(
                status.success(),
                "creating the venv at {} failed",
                venv.display()
            );
            let status = Command::new(&python)
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    "-r",
                ])
                .arg(&requirements)
                .status()
                .unwrap();
            assert!(
                status.success(),
                "pip install -r {} failed",
                requirements.display()
            );
            std::fs::write(&stamp, wanted).unwrap();
            python
        })
        .clone()
}

/// Parses an RFC 3339 date such as a sync run's `started_at` or a key's `create_date`.
pub fn parse_date(s: &str) -> time::OffsetDateTime {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("{s:?} is not an RFC 3339 date: {e}"))
}

/// When the newest sync run in `db` started: the moment findings measure ages against.
pub fn last_sync_started(db: &str) -> time::OffsetDateTime {
    let runs = json_lines(&ramsync(&["runs", "--db", db, "--json"], &[]));
    parse_date(runs[0]["started_at"].as_str().unwrap())
}

/// One sync of the default account through the library, with no progress display.
pub async fn sync_quietly(
    plugins: &ramsync::engine::Plugins,
    ctx: &ramsync::engine::CallContext,
    store: &mut ramsync::store::Store,
    options: &ramsync::scheduler::SyncOptions,
) -> anyhow::Result<ramsync::scheduler::SyncReport> {
    let progress = ramsync::progress::ProgressDisplay::hidden().account("default");
    ramsync::scheduler::sync(plugins, ctx, store, options, &progress).await
}
