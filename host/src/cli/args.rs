//! What the command line takes: the commands, their flags, and how flag values parse.

use crate::http_policy::Endpoints;
use anyhow::Result;
use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "ramsync",
    version,
    about = "Sync Alibaba Cloud RAM and IMS identities and access into SQLite, through sandboxed WebAssembly plugins"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Log line format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// More log output (-v info, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Start the local Alibaba Cloud API with the sample tenant, sync it, and show what was found.
    Demo {
        /// Where to keep the database.
        #[arg(long, default_value = "ramsync-demo.db")]
        db: PathBuf,
        /// Load the plugins from this directory (verified against its plugins.json)
        /// instead of the ones built into ramsync.
        #[arg(long, value_name = "DIR")]
        plugin_dir: Option<PathBuf>,
        /// Serve the sample tenant as the management account of a Resource Directory with
        /// folders and member accounts, and sync the whole directory.
        #[arg(long)]
        resource_directory: bool,
    },
    /// Serve the local Alibaba Cloud API (RAM, IMS and STS at one base URL) until stopped.
    Mock {
        /// Address to listen on, for example 127.0.0.1:8080 (port 0 picks a free port).
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        /// Also serve the sample Resource Directory (Resource Manager), with the tenant as
        /// its management account and the sample member accounts.
        #[arg(long)]
        resource_directory: bool,
        /// A tenant JSON file; the bundled sample tenant when absent.
        #[arg(long, conflicts_with = "synthetic")]
        tenant: Option<PathBuf>,
        /// A generated tenant, for example users=10000,groups=500,roles=100,policies=200.
        #[arg(long)]
        synthetic: Option<String>,
        /// The AccessKey id to accept; the documented demo key when absent.
        #[arg(long, requires = "access_key_secret")]
        access_key_id: Option<String>,
        /// The AccessKey secret to accept.
        #[arg(long, requires = "access_key_id")]
        access_key_secret: Option<String>,
        /// Inject a fault: ACTION=KIND[:TIMES], KIND one of malformed, missing-field, wrong-type,
        /// throttle, server-error, deny, truncated, garbled, oversized; ACTION * matches every
        /// action, and :every-N spoils every N-th answer only.
        #[arg(long = "fault", value_name = "ACTION=KIND[:TIMES]")]
        faults: Vec<String>,
        /// Delay every answer by this many milliseconds, like a distant endpoint.
        #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=60_000))]
        latency_ms: u64,
    },
    /// Sync the account of the credentials in ALIBABA_CLOUD_ACCESS_KEY_ID / _SECRET / _SECURITY_TOKEN,
    /// or every account of a config file (--config, or ./ramsync.toml when present).
    /// An interrupted run is resumed where it stopped.
    Sync {
        #[command(flatten)]
        args: SyncArgs,
        /// Resume the account's interrupted sync run however old it is (a plain sync
        /// resumes runs interrupted in the last 24 hours).
        #[arg(long)]
        resume: bool,
    },
    /// Sync on a schedule until SIGTERM or Ctrl-C; a failed run does not stop the next.
    Serve {
        #[command(flatten)]
        args: SyncArgs,
        /// Time between the start of one run and the next, for example 1h, 30m or 90s.
        #[arg(long, default_value = "1h", value_parser = parse_interval)]
        interval: std::time::Duration,
    },
    /// Inspect, verify, export and extend plugin artifacts.
    Plugins {
        #[command(subcommand)]
        command: PluginsCommand,
    },
    /// The local runner for plugin authors: run one syncer's list, entitlements and grants
    /// against the local Alibaba Cloud API (or --endpoint) and print each page as JSON,
    /// with the API calls it made.
    RunPlugin {
        /// The syncer component, for example target/wasm32-wasip2/release/my_syncer.wasm.
        wasm: PathBuf,
        /// The resource type the plugin syncs.
        #[arg(long = "resource-type")]
        resource_type: String,
        /// Run against this endpoint (credentials from the default chain) instead of the
        /// local API's sample tenant; PRODUCT is ram, ims or sts.
        #[arg(long = "endpoint", value_name = "PRODUCT=URL", value_parser = parse_endpoint)]
        endpoints: Vec<(String, String)>,
        /// The products the plugin may call, as its manifest entry would grant.
        #[arg(long, value_delimiter = ',', default_value = "ram,ims,sts")]
        products: Vec<String>,
        /// Read actions beyond List* and Get* it may call, PRODUCT:Action (comma-separated).
        #[arg(long, value_delimiter = ',', value_name = "PRODUCT:ACTION")]
        actions: Vec<String>,
        /// Ask for the entitlements and grants of at most this many resources.
        #[arg(long, default_value_t = 5)]
        max_resources: usize,
    },
    /// List the resources of the newest complete sync.
    Resources {
        #[arg(long)]
        db: PathBuf,
        /// Only this resource type: account, user, access-key, group, role or policy.
        #[arg(long = "type")]
        resource_type: Option<String>,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
        #[arg(long, default_value = "default", value_parser = crate::config::parse_account_arg)]
        account: String,
    },
    /// List the grants of the newest complete sync.
    Grants {
        #[arg(long)]
        db: PathBuf,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
        #[arg(long, default_value = "default", value_parser = crate::config::parse_account_arg)]
        account: String,
    },
    /// List the sync runs in a database, newest first.
    Runs {
        #[arg(long)]
        db: PathBuf,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Sign a request read as JSON on stdin with the signer plugin, and print how.
    Sign {
        /// Load the plugins from this directory (verified against its plugins.json)
        /// instead of the ones built into ramsync.
        #[arg(long, value_name = "DIR")]
        plugin_dir: Option<PathBuf>,
    },
    /// Everything one user can do, with the path that grants it; or, with --resource, who
    /// holds a policy, can assume a role, or is in a group.
    Access {
        #[arg(long)]
        db: PathBuf,
        /// A user, by UserPrincipalName or login name.
        #[arg(
            long,
            required_unless_present = "resource",
            conflicts_with = "resource"
        )]
        principal: Option<String>,
        /// TYPE:NAME, for example policy:AdministratorAccess, role:DeployRole or group:admins.
        #[arg(long)]
        resource: Option<String>,
        /// With --principal: also the actions each path's policy allows (wildcards as
        /// written) and denies.
        #[arg(long, requires = "principal")]
        actions: bool,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
        #[arg(long, default_value = "default", value_parser = crate::config::parse_account_arg)]
        account: String,
    },
    /// Every user, group and role allowed ACTION (on --resource, or on some resource), each
    /// with the path and policy statement that allow it; through roles, whoever may assume
    /// them (other accounts, services, identity providers). Evaluated offline from the
    /// synced policy documents.
    WhoCan {
        #[arg(long)]
        db: PathBuf,
        /// SERVICE:ACTION, for example ram:AttachPolicyToUser or oss:DeleteBucket.
        #[arg(value_parser = parse_action)]
        action: String,
        /// A resource ARN, acs:SERVICE:REGION:ACCOUNT:RELATIVE-ID; any resource when absent.
        #[arg(long, value_parser = parse_arn)]
        resource: Option<String>,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
        #[arg(long, default_value = "default", value_parser = crate::config::parse_account_arg)]
        account: String,
    },
    /// Whether one principal may call ACTION (on --resource): allowed, conditional, denied
    /// or not allowed, with the statements that decide it, and the roles it may assume
    /// that are allowed.
    Can {
        #[arg(long)]
        db: PathBuf,
        /// A user by UserPrincipalName or login name, or user:NAME, group:NAME or role:NAME.
        #[arg(long)]
        principal: String,
        /// SERVICE:ACTION, for example ram:AttachPolicyToUser.
        #[arg(value_parser = parse_action)]
        action: String,
        /// A resource ARN, acs:SERVICE:REGION:ACCOUNT:RELATIVE-ID; any resource when absent.
        #[arg(long, value_parser = parse_arn)]
        resource: Option<String>,
        /// One JSON object.
        #[arg(long)]
        json: bool,
        #[arg(long, default_value = "default", value_parser = crate::config::parse_account_arg)]
        account: String,
    },
    /// Grant an entitlement to a principal. Without --yes, print the API call it would make
    /// and change nothing. Granting what already exists succeeds and says so.
    Grant(ProvisionArgs),
    /// Revoke an entitlement from a principal. Without --yes, print the API call it would make
    /// and change nothing. Revoking what is absent succeeds and says so.
    Revoke(ProvisionArgs),
    /// The newest complete sync of an account as JSON Lines (every resource, entitlement and
    /// grant), CSV (one row per grant, for spreadsheets) or a ConductorOne baton c1z file.
    Export {
        #[arg(long)]
        db: PathBuf,
        /// jsonl, csv or c1z.
        #[arg(long, value_enum)]
        format: super::export::ExportFormat,
        /// The file to write; `-` for stdout.
        #[arg(short = 'o', long = "output", value_name = "PATH")]
        output: PathBuf,
        #[arg(long, default_value = "default", value_parser = crate::config::parse_account_arg)]
        account: String,
    },
    /// One self-contained HTML page over the newest complete sync of an account: the account's
    /// settings, findings by severity with their evidence, every principal with what it can
    /// reach and how (searchable), and who may assume which role.
    Report {
        #[arg(long)]
        db: PathBuf,
        /// The HTML file to write.
        #[arg(short = 'o', long = "output", value_name = "PATH")]
        output: PathBuf,
        #[arg(long, default_value = "default", value_parser = crate::config::parse_account_arg)]
        account: String,
    },
    /// The risky facts an auditor looks for first, most severe first.
    Findings {
        #[arg(long)]
        db: PathBuf,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
        #[arg(long, default_value = "default", value_parser = crate::config::parse_account_arg)]
        account: String,
    },
    /// Resources and grants added and removed between two complete syncs (default: the last
    /// two). Exits 0 when nothing changed, 1 when something did, 2 on error.
    Diff {
        #[arg(long)]
        db: PathBuf,
        /// The older sync run id.
        from_sync: Option<i64>,
        /// The newer sync run id.
        to_sync: Option<i64>,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
        #[arg(long, default_value = "default", value_parser = crate::config::parse_account_arg)]
        account: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum PluginsCommand {
    /// One line per plugin: name, version, kind, resource types, WIT version, sha256 and
    /// capabilities. Exits non-zero if a plugin fails verification.
    List {
        /// A plugin directory instead of the built-in plugins.
        #[arg(long, value_name = "DIR")]
        plugin_dir: Option<PathBuf>,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Check every plugin against its manifest digest and WIT version, then load it as a
    /// sync would. Exits non-zero if any fails.
    Verify {
        #[arg(long, value_name = "DIR")]
        plugin_dir: Option<PathBuf>,
    },
    /// Write the built-in plugins and their plugins.json to DIR, ready to ship or to load
    /// with --plugin-dir.
    Export { dir: PathBuf },
    /// Copy a syncer into DIR and write its plugins.json entry (digest, WIT version and
    /// resource type read from the file). Syncers run in manifest order.
    Add {
        dir: PathBuf,
        wasm: PathBuf,
        /// The API products it may call: ram, ims, sts (comma-separated).
        #[arg(long, value_delimiter = ',', required = true)]
        products: Vec<String>,
        /// Grant it provisioning (grant and revoke).
        #[arg(long)]
        provisions: bool,
        /// Read actions beyond List* and Get* it may call while syncing, PRODUCT:Action
        /// (comma-separated), for example ims:GenerateCredentialReport.
        #[arg(long, value_delimiter = ',', value_name = "PRODUCT:ACTION")]
        actions: Vec<String>,
        /// The write actions its provisioner may call, PRODUCT:Action (comma-separated);
        /// needs --provisions. No other write action is signed for it.
        #[arg(long, value_delimiter = ',', value_name = "PRODUCT:ACTION")]
        provision_actions: Vec<String>,
        #[arg(long, default_value = "0.1.0")]
        version: String,
    },
}

#[derive(clap::Args, Clone)]
pub struct SyncArgs {
    #[arg(long)]
    pub(crate) db: PathBuf,
    /// A ramsync.toml listing the accounts to sync; ./ramsync.toml is read when present.
    #[arg(long, value_name = "PATH")]
    pub(crate) config: Option<PathBuf>,
    /// Send a product's calls to URL instead of its public endpoint; PRODUCT is ram, ims, sts
    /// or resourcemanager.
    #[arg(long = "endpoint", value_name = "PRODUCT=URL", value_parser = parse_endpoint)]
    pub(crate) endpoints: Vec<(String, String)>,
    /// Plugin calls in flight at once, per account; the accounts of a run share at most 256.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub(crate) concurrency: u16,
    /// The name this account's sync runs are recorded under (default: default). With a
    /// config file, sync only the account of this name.
    #[arg(long, value_parser = crate::config::parse_account_arg)]
    pub(crate) account: Option<String>,
    /// A profile of the Alibaba Cloud CLI's ~/.aliyun/config.json (modes AK, StsToken,
    /// RamRoleArn, ChainableRamRoleArn) instead of the ALIBABA_CLOUD_* variables.
    #[arg(long)]
    pub(crate) profile: Option<String>,
    /// Sync as this role, assumed with STS AssumeRole (acs:ram::<account>:role/<name>).
    /// Repeat for a chain: each role is assumed with the previous one's credentials.
    #[arg(long = "assume-role", value_name = "ROLE_ARN")]
    pub(crate) assume_role: Vec<String>,
    /// The ExternalId the (last) role's trust policy requires.
    #[arg(long, requires = "assume_role")]
    pub(crate) external_id: Option<String>,
    /// The session name for AssumeRole.
    #[arg(long, default_value = "ramsync", requires = "assume_role")]
    pub(crate) role_session_name: String,
    /// How long assumed-role credentials last; they are refreshed before they expire.
    #[arg(long, default_value_t = 3600, value_parser = clap::value_parser!(u32).range(900..=43200))]
    pub(crate) duration_seconds: u32,
    /// Requests per second per API product and account (0: no limit). An account's `qps`
    /// in the config file takes precedence.
    #[arg(long, default_value_t = crate::http_policy::DEFAULT_QPS, value_parser = clap::value_parser!(u32).range(0..=10000))]
    pub(crate) qps: u32,
    /// Accounts synced at the same time.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub(crate) parallel_accounts: u16,
    /// Load the plugins from this directory (verified against its plugins.json)
    /// instead of the ones built into ramsync.
    #[arg(long, value_name = "DIR")]
    pub(crate) plugin_dir: Option<PathBuf>,
    /// How progress is shown: auto (a line per account with an ETA on a terminal, log lines
    /// otherwise), json (one JSON event per line on stderr) or off.
    #[arg(long, value_name = "MODE", default_value = "auto", value_parser = parse_progress)]
    pub(crate) progress: ramsync_scheduler::progress::ProgressMode,
    /// List the Resource Directory these credentials manage (the management account or a
    /// delegated administrator) and sync every member account by assuming a role in it.
    #[arg(long)]
    pub(crate) resource_directory: bool,
    /// The role assumed in each member account.
    #[arg(long, value_name = "NAME", default_value = ramsync_scheduler::directory::DEFAULT_ROLE, requires = "resource_directory", value_parser = ramsync_scheduler::directory::parse_role_name)]
    pub(crate) member_role: String,
    /// The ExternalId the member role's trust policy requires.
    #[arg(long, value_name = "ID", requires = "resource_directory")]
    pub(crate) member_external_id: Option<String>,
    /// Sync only this account id, folder id (fd-...) or folder path (/Production, with the
    /// folders below it); repeatable.
    #[arg(long, value_name = "ID|PATH", requires = "resource_directory", value_parser = ramsync_scheduler::directory::parse_selector)]
    pub(crate) include: Vec<String>,
    /// Leave out this account id, folder id or folder path; repeatable; wins over --include.
    #[arg(long, value_name = "ID|PATH", requires = "resource_directory", value_parser = ramsync_scheduler::directory::parse_selector)]
    pub(crate) exclude: Vec<String>,
}

fn parse_progress(s: &str) -> Result<ramsync_scheduler::progress::ProgressMode, String> {
    s.parse()
}

pub(crate) fn parse_interval(arg: &str) -> Result<std::time::Duration, String> {
    let d = humantime::parse_duration(arg)
        .map_err(|e| format!("{e}; use a duration like 1h, 30m or 90s"))?;
    if d < std::time::Duration::from_secs(1) {
        return Err("the interval must be at least 1s".into());
    }
    Ok(d)
}

#[derive(clap::Args, Debug)]
pub struct ProvisionArgs {
    /// TYPE:NAME:ENTITLEMENT, for example group:admins:member or policy:AdministratorAccess:attached
    /// (a policy may be named System:NAME or Custom:NAME).
    #[arg(long)]
    pub(crate) entitlement: String,
    /// TYPE:NAME, for example user:alice@corp.onaliyun.com (or user:alice), group:admins, role:DeployRole.
    #[arg(long)]
    pub(crate) principal: String,
    /// Make the change. Without it nothing is changed.
    #[arg(long)]
    pub(crate) yes: bool,
    /// A synced database to find the resource and principal in.
    #[arg(long)]
    pub(crate) db: Option<PathBuf>,
    #[arg(long, default_value = "default", value_parser = crate::config::parse_account_arg)]
    pub(crate) account: String,
    /// Send a product's calls to URL instead of its public endpoint; PRODUCT is ram, ims, sts
    /// or resourcemanager.
    #[arg(long = "endpoint", value_name = "PRODUCT=URL", value_parser = parse_endpoint)]
    pub(crate) endpoints: Vec<(String, String)>,
    /// Print the outcome as one JSON object.
    #[arg(long)]
    pub(crate) json: bool,
    /// Load the plugins from this directory (verified against its plugins.json)
    /// instead of the ones built into ramsync.
    #[arg(long, value_name = "DIR")]
    pub(crate) plugin_dir: Option<PathBuf>,
}

pub(crate) fn parse_endpoint(arg: &str) -> Result<(String, String), String> {
    let mut probe = Endpoints::default();
    probe.apply_arg(arg).map_err(|e| e.to_string())?;
    let (p, u) = arg.split_once('=').expect("checked by apply_arg");
    Ok((p.trim().to_string(), u.trim().to_string()))
}

fn parse_action(s: &str) -> Result<String, String> {
    ramsync_queries::permissions::check_action(s)
        .map(|()| s.to_string())
        .map_err(|e| e.to_string())
}

fn parse_arn(s: &str) -> Result<String, String> {
    ramsync_queries::permissions::check_arn(s)
        .map(|()| s.to_string())
        .map_err(|e| e.to_string())
}

impl std::fmt::Debug for SyncArgs {
    /// Every field but the ExternalIds, which are never shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hidden = |x: &Option<String>| x.as_ref().map(|_| "<redacted>");
        f.debug_struct("SyncArgs")
            .field("db", &self.db)
            .field("config", &self.config)
            .field("endpoints", &self.endpoints)
            .field("concurrency", &self.concurrency)
            .field("account", &self.account)
            .field("profile", &self.profile)
            .field("assume_role", &self.assume_role)
            .field("external_id", &hidden(&self.external_id))
            .field("role_session_name", &self.role_session_name)
            .field("duration_seconds", &self.duration_seconds)
            .field("qps", &self.qps)
            .field("parallel_accounts", &self.parallel_accounts)
            .field("plugin_dir", &self.plugin_dir)
            .field("progress", &self.progress)
            .field("resource_directory", &self.resource_directory)
            .field("member_role", &self.member_role)
            .field("member_external_id", &hidden(&self.member_external_id))
            .field("include", &self.include)
            .field("exclude", &self.exclude)
            .finish()
    }
}
