//! The command line. Command names, flags and `--json` fields are a contract scripts rely on.

use crate::accounts::{self, RunSettings, SyncLock};
use crate::config::{AccountConfig, Config};
use crate::credentials::Credential;
use crate::engine::{Auth, CallContext, HttpRequest, Limits, Plugins};
use crate::http_policy::Endpoints;
use crate::mock::{
    DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET, Fault, MockKey, MockOptions, MockServer, Tenant,
};
use crate::progress::ProgressDisplay;
use crate::scheduler::{SyncOptions, SyncReport};
use crate::store::Store;
use crate::sts::{AssumeRole, CredentialSource};
use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

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
    },
    /// Serve the local Alibaba Cloud API (RAM, IMS and STS at one base URL) until stopped.
    Mock {
        /// Address to listen on, for example 127.0.0.1:8080 (port 0 picks a free port).
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
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
        /// One JSON object per line.
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

#[derive(clap::Args, Debug, Clone)]
pub struct SyncArgs {
    #[arg(long)]
    db: PathBuf,
    /// A ramsync.toml listing the accounts to sync; ./ramsync.toml is read when present.
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Send a product's calls to URL instead of its public endpoint; PRODUCT is ram, ims or sts.
    #[arg(long = "endpoint", value_name = "PRODUCT=URL", value_parser = parse_endpoint)]
    endpoints: Vec<(String, String)>,
    /// Plugin calls in flight at once, per account.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256))]
    concurrency: u16,
    /// The name this account's sync runs are recorded under (default: default). With a
    /// config file, sync only the account of this name.
    #[arg(long, value_parser = crate::config::parse_account_arg)]
    account: Option<String>,
    /// A profile of the Alibaba Cloud CLI's ~/.aliyun/config.json (modes AK, StsToken,
    /// RamRoleArn, ChainableRamRoleArn) instead of the ALIBABA_CLOUD_* variables.
    #[arg(long)]
    profile: Option<String>,
    /// Sync as this role, assumed with STS AssumeRole (acs:ram::<account>:role/<name>).
    /// Repeat for a chain: each role is assumed with the previous one's credentials.
    #[arg(long = "assume-role", value_name = "ROLE_ARN")]
    assume_role: Vec<String>,
    /// The ExternalId the (last) role's trust policy requires.
    #[arg(long, requires = "assume_role")]
    external_id: Option<String>,
    /// The session name for AssumeRole.
    #[arg(long, default_value = "ramsync", requires = "assume_role")]
    role_session_name: String,
    /// How long assumed-role credentials last; they are refreshed before they expire.
    #[arg(long, default_value_t = 3600, value_parser = clap::value_parser!(u32).range(900..=43200))]
    duration_seconds: u32,
    /// Requests per second per API product and account (0: no limit). An account's `qps`
    /// in the config file takes precedence.
    #[arg(long, default_value_t = crate::http_policy::DEFAULT_QPS, value_parser = clap::value_parser!(u32).range(0..=10000))]
    qps: u32,
    /// Accounts synced at the same time.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    parallel_accounts: u16,
    /// Load the plugins from this directory (verified against its plugins.json)
    /// instead of the ones built into ramsync.
    #[arg(long, value_name = "DIR")]
    plugin_dir: Option<PathBuf>,
}

fn parse_interval(arg: &str) -> Result<std::time::Duration, String> {
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
    entitlement: String,
    /// TYPE:NAME, for example user:alice@corp.onaliyun.com (or user:alice), group:admins, role:DeployRole.
    #[arg(long)]
    principal: String,
    /// Make the change. Without it nothing is changed.
    #[arg(long)]
    yes: bool,
    /// A synced database to find the resource and principal in.
    #[arg(long)]
    db: Option<PathBuf>,
    #[arg(long, default_value = "default", value_parser = crate::config::parse_account_arg)]
    account: String,
    /// Send a product's calls to URL instead of its public endpoint; PRODUCT is ram, ims or sts.
    #[arg(long = "endpoint", value_name = "PRODUCT=URL", value_parser = parse_endpoint)]
    endpoints: Vec<(String, String)>,
    /// Print the outcome as one JSON object.
    #[arg(long)]
    json: bool,
    /// Load the plugins from this directory (verified against its plugins.json)
    /// instead of the ones built into ramsync.
    #[arg(long, value_name = "DIR")]
    plugin_dir: Option<PathBuf>,
}

fn parse_endpoint(arg: &str) -> Result<(String, String), String> {
    let mut probe = Endpoints::default();
    probe.apply_arg(arg).map_err(|e| e.to_string())?;
    let (p, u) = arg.split_once('=').expect("checked by apply_arg");
    Ok((p.trim().to_string(), u.trim().to_string()))
}

pub async fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Demo { db, plugin_dir } => demo(&db, plugin_dir.as_deref()).await,
        Command::Mock {
            listen,
            tenant,
            synthetic,
            access_key_id,
            access_key_secret,
            faults,
            latency_ms,
        } => {
            mock(
                &listen,
                tenant,
                synthetic,
                (access_key_id, access_key_secret),
                faults,
                std::time::Duration::from_millis(latency_ms),
            )
            .await
        }
        Command::Sync { args, resume } => sync_command(args, resume).await,
        Command::Serve { args, interval } => serve(args, interval).await,
        Command::Resources {
            db,
            resource_type,
            json,
            account,
        } => {
            let store = Store::open_existing(&db)?;
            let run = store.readable_sync(&account)?;
            let rows = store.query_resources(run.id, resource_type.as_deref())?;
            if let Some(t) = &resource_type
                && rows.is_empty()
            {
                let (types, _) = store.counts(run.id)?;
                if !types.iter().any(|(id, _)| id == t) {
                    let known: Vec<&str> = types.iter().map(|(id, _)| id.as_str()).collect();
                    bail!(
                        "unknown resource type {t:?}; this database has {}",
                        known.join(", ")
                    );
                }
            }
            if json {
                print_json_lines(&rows)?;
            } else {
                let table = rows
                    .iter()
                    .map(|r| {
                        vec![
                            r.resource_type.clone(),
                            r.id.clone(),
                            r.name.clone(),
                            r.display_name.clone(),
                            r.status.clone().unwrap_or_default(),
                        ]
                    })
                    .collect();
                print_table(&["TYPE", "ID", "NAME", "DISPLAY NAME", "STATUS"], table);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Grants { db, json, account } => {
            let store = Store::open_existing(&db)?;
            let run = store.readable_sync(&account)?;
            let rows = store.query_grants(run.id)?;
            if json {
                print_json_lines(&rows)?;
            } else {
                let table = rows
                    .iter()
                    .map(|g| {
                        vec![
                            format!("{}:{}", g.resource_type, g.resource_name),
                            g.entitlement.clone(),
                            format!("{}:{}", g.principal_type, g.principal_name),
                            g.principal_id.clone(),
                        ]
                    })
                    .collect();
                print_table(
                    &["RESOURCE", "ENTITLEMENT", "PRINCIPAL", "PRINCIPAL ID"],
                    table,
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Runs { db, json } => {
            let store = Store::open_existing(&db)?;
            let mut runs = store.runs()?;
            // A run still marked running while no process holds the sync lock was interrupted.
            if !SyncLock::is_held(&db) {
                for r in runs.iter_mut().filter(|r| r.status == "running") {
                    r.status = "interrupted".into();
                }
            }
            if json {
                print_json_lines(&runs)?;
            } else {
                let table = runs
                    .iter()
                    .map(|r| {
                        vec![
                            r.id.to_string(),
                            r.account.clone(),
                            r.status.clone(),
                            r.started_at.clone(),
                            r.api_calls.to_string(),
                            r.error
                                .as_deref()
                                .and_then(|e| e.lines().next())
                                .unwrap_or_default()
                                .to_string(),
                        ]
                    })
                    .collect();
                print_table(
                    &["ID", "ACCOUNT", "STATUS", "STARTED", "API CALLS", "ERROR"],
                    table,
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Sign { plugin_dir } => sign(plugin_dir.as_deref()).await,
        Command::Plugins { command } => match command {
            PluginsCommand::List { plugin_dir, json } => {
                crate::plugin_commands::list(plugin_dir.as_deref(), json)
            }
            PluginsCommand::Verify { plugin_dir } => {
                crate::plugin_commands::verify(plugin_dir.as_deref()).await
            }
            PluginsCommand::Export { dir } => crate::plugin_commands::export(&dir),
            PluginsCommand::Add {
                dir,
                wasm,
                products,
                provisions,
                actions,
                provision_actions,
                version,
            } => {
                let capabilities = crate::manifest::Capabilities {
                    products,
                    provisions,
                    actions,
                    provision_actions,
                };
                crate::plugin_commands::add(&dir, &wasm, capabilities, &version).await
            }
        },
        Command::RunPlugin {
            wasm,
            resource_type,
            endpoints,
            products,
            actions,
            max_resources,
        } => {
            crate::plugin_commands::run_plugin(crate::plugin_commands::RunPlugin {
                wasm,
                resource_type,
                endpoints,
                products,
                actions,
                max_resources,
            })
            .await
        }
        Command::Access {
            db,
            principal,
            resource,
            json,
            account,
        } => {
            let store = Store::open_existing(&db)?;
            let access = crate::access::Access::new(&store, &account)?;
            let paths = match (&principal, &resource) {
                (Some(p), _) => access.of_principal(p)?,
                (None, Some(r)) => access.of_resource(r)?,
                (None, None) => bail!("give --principal NAME or --resource TYPE:NAME"),
            };
            if json {
                print_json_lines(&paths)?;
            } else if paths.is_empty() {
                println!("no access found");
            } else {
                print_lines(paths.iter().map(|p| p.line()));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Grant(args) => provision(false, args).await,
        Command::Revoke(args) => provision(true, args).await,
        Command::Findings { db, json, account } => {
            let store = Store::open_existing(&db)?;
            let findings = crate::findings::findings(&store, &account)?;
            if json {
                print_json_lines(&findings)?;
            } else {
                let table = findings
                    .iter()
                    .map(|f| {
                        vec![
                            f.severity.to_string(),
                            f.code.to_string(),
                            format!("{}:{}", f.resource_type, f.resource_name),
                            f.evidence.clone(),
                        ]
                    })
                    .collect();
                print_table(&["SEVERITY", "CODE", "RESOURCE", "EVIDENCE"], table);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Diff {
            db,
            from_sync,
            to_sync,
            json,
            account,
        } => {
            // Exit 1 means "changed", so errors exit 2 here.
            let result = (|| -> Result<_> {
                let store = Store::open_existing(&db)?;
                let (from, to) = crate::diff::pick(&store, &account, from_sync, to_sync)?;
                Ok((from.id, to.id, crate::diff::diff(&store, from.id, to.id)?))
            })();
            let (from, to, changes) = match result {
                Ok(v) => v,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    return Ok(ExitCode::from(2));
                }
            };
            if json {
                print_json_lines(&changes)?;
            } else if changes.is_empty() {
                println!("no changes between sync runs {from} and {to}");
            } else {
                println!("changes from sync run {from} to {to}:");
                print_lines(changes.iter().map(|c| c.line()));
            }
            Ok(if changes.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}

/// A resource for a provisioning call: from the synced store when there is one, else from its name.
fn provisioning_resource(
    store: Option<(&Store, i64)>,
    resource_type: &str,
    name: &str,
) -> Result<crate::engine::Resource> {
    use crate::engine::{Resource, ResourceRef};
    if let Some((store, sync)) = store {
        let Some(row) = store.find_resource(sync, resource_type, name)? else {
            bail!("no {resource_type} named {name:?} in sync run {sync}");
        };
        let attributes = row
            .attributes
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string()),
                )
            })
            .collect();
        return Ok(Resource {
            ref_: ResourceRef {
                resource_type: row.resource_type,
                id: row.id,
            },
            name: row.name,
            display_name: row.display_name,
            parent: None,
            attributes,
        });
    }
    let (name, attributes) = match name.split_once(':') {
        Some((kind @ ("System" | "Custom"), rest)) if resource_type == "policy" => (
            rest.to_string(),
            vec![("policy_type".to_string(), kind.to_string())],
        ),
        _ => (name.to_string(), Vec::new()),
    };
    Ok(Resource {
        ref_: ResourceRef {
            resource_type: resource_type.into(),
            id: String::new(),
        },
        display_name: name.clone(),
        name,
        parent: None,
        attributes,
    })
}

async fn provision(revoke: bool, args: ProvisionArgs) -> Result<ExitCode> {
    let verb = if revoke { "revoke" } else { "grant" };
    let (resource_type, rest) = args.entitlement.split_once(':').unwrap_or(("", ""));
    let Some((resource_name, slug)) = rest
        .rsplit_once(':')
        .filter(|(n, s)| !n.is_empty() && !s.is_empty())
    else {
        bail!(
            "--entitlement takes TYPE:NAME:ENTITLEMENT, for example group:admins:member; got {:?}",
            args.entitlement
        );
    };
    let Some((principal_type, principal_name)) = args
        .principal
        .split_once(':')
        .filter(|(t, n)| !t.is_empty() && !n.is_empty())
    else {
        bail!(
            "--principal takes TYPE:NAME, for example user:alice@corp.onaliyun.com; got {:?}",
            args.principal
        );
    };
    let mut endpoints = Endpoints::default();
    for (product, url) in &args.endpoints {
        endpoints.set(product, url)?;
    }
    let limits = Limits::default();
    let plugins = Plugins::load(args.plugin_dir.as_deref(), limits).await?;
    let provisionable: Vec<String> = plugins
        .syncers
        .iter()
        .flat_map(|s| {
            s.info
                .provisions
                .iter()
                .map(move |p| format!("{}:{p}", s.info.id))
        })
        .collect();
    let Some(syncer) = plugins
        .syncers
        .iter()
        .find(|s| s.info.id == resource_type && s.info.provisions.iter().any(|p| p == slug))
    else {
        bail!(
            "cannot {verb} {resource_type}:{slug}; ramsync can {verb} {}",
            provisionable.join(", ")
        );
    };
    let store = args.db.as_deref().map(Store::open_existing).transpose()?;
    let sync = match &store {
        Some(s) => Some((s, s.readable_sync(&args.account)?.id)),
        None => None,
    };
    let resource = provisioning_resource(sync, resource_type, resource_name)?;
    let principal = provisioning_resource(sync, principal_type, principal_name)?;
    // A dry run makes no call, so it needs no credentials and the plugin is given none.
    let credential = if args.yes {
        Some(Credential::from_env()?)
    } else {
        None
    };
    let auth =
        credential.map(|credential| Arc::new(Auth::fixed(plugins.signer.clone(), credential)));
    let ctx = CallContext::new(endpoints, auth, limits);
    let change = match syncer
        .provision(&ctx, revoke, &resource, slug, &principal, !args.yes)
        .await
    {
        Ok(change) => change,
        Err(crate::engine::CallError::Plugin(crate::engine::PluginError::Forbidden(a))) => bail!(
            "{verb} refused: permission missing for action ram:{}: {}",
            a.action,
            crate::scheduler::plugin_error_line(&crate::engine::PluginError::Forbidden(a.clone()))
        ),
        Err(crate::engine::CallError::Plugin(e)) => bail!(
            "{verb} refused: {}",
            crate::scheduler::plugin_error_line(&e)
        ),
        Err(e) => bail!("{verb} failed: {}", crate::scheduler::error_line(&e)),
    };
    let call = format!(
        "{} {}",
        change.action,
        change
            .parameters
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    if args.json {
        let out = serde_json::json!({
            "dry_run": !args.yes,
            "call": change.action,
            "parameters": change.parameters.iter().cloned().collect::<BTreeMap<_, _>>(),
            "changed": change.changed,
            "message": change.message,
        });
        println!("{out}");
    } else if !args.yes {
        println!("would call: {call}");
        println!("nothing was changed; run again with --yes to make the change");
    } else if change.changed {
        println!("{} ({call})", change.message);
        println!("run `ramsync sync` to refresh the database");
    } else {
        println!("{}; nothing to do ({call})", change.message);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_lines(lines: impl Iterator<Item = String>) {
    use std::io::Write;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for line in lines {
        if writeln!(out, "{line}").is_err() {
            return;
        }
    }
    let _ = out.flush();
}

/// The accounts a `sync` or `serve` covers: those of the config file, or the one the flags
/// describe. The second value is the config file's path, if one was read.
fn plan(args: &SyncArgs) -> Result<(Vec<AccountConfig>, Option<PathBuf>)> {
    let single_flags =
        !args.endpoints.is_empty() || args.profile.is_some() || !args.assume_role.is_empty();
    let path = match &args.config {
        Some(p) => Some(p.clone()),
        None if !single_flags && Path::new(crate::config::DEFAULT_PATH).is_file() => {
            tracing::info!("reading accounts from ./{}", crate::config::DEFAULT_PATH);
            Some(PathBuf::from(crate::config::DEFAULT_PATH))
        }
        None => None,
    };
    if let Some(path) = path {
        if single_flags {
            bail!(
                "--endpoint, --profile and --assume-role describe one account and cannot be combined with --config; set them per account in {}",
                path.display()
            );
        }
        let config = Config::load(&path)?;
        let accounts = match &args.account {
            None => config.accounts,
            Some(name) => {
                let names: Vec<String> = config.accounts.iter().map(|a| a.name.clone()).collect();
                let Some(account) = config.accounts.into_iter().find(|a| &a.name == name) else {
                    bail!(
                        "no account {name:?} in {}; it has {}",
                        path.display(),
                        names.join(", ")
                    );
                };
                vec![account]
            }
        };
        return Ok((accounts, Some(path)));
    }
    let mut endpoints = Endpoints::default();
    for (product, url) in &args.endpoints {
        endpoints.set(product, url)?;
    }
    let mut roles = Vec::new();
    for (i, arn) in args.assume_role.iter().enumerate() {
        if !arn.starts_with("acs:ram::") || !arn.contains(":role/") {
            bail!(
                "--assume-role takes a role ARN like acs:ram::1234567890123456:role/ramsync-reader; got {arn:?}"
            );
        }
        let mut spec = AssumeRole::new(arn);
        spec.session_name = args.role_session_name.clone();
        spec.duration_seconds = args.duration_seconds;
        if i + 1 == args.assume_role.len() {
            spec.external_id = args.external_id.clone();
        }
        roles.push(spec);
    }
    let account = AccountConfig {
        name: args.account.clone().unwrap_or_else(|| "default".into()),
        profile: args.profile.clone(),
        qps: None,
        endpoints,
        assume_roles: roles,
    };
    Ok((vec![account], None))
}

fn settings(args: &SyncArgs, resume: bool, stop: Arc<AtomicBool>) -> RunSettings {
    RunSettings {
        concurrency: args.concurrency as usize,
        default_qps: (args.qps > 0).then_some(args.qps),
        parallel_accounts: args.parallel_accounts as usize,
        resume,
        stop,
    }
}

/// Sets `stop` on SIGTERM or Ctrl-C, so the run ends after the pages in flight and stays
/// resumable; a second signal exits at once (the checkpoints make that safe too).
fn stop_on_signal(stop: Arc<AtomicBool>, wake: Arc<tokio::sync::Notify>) {
    tokio::spawn(async move {
        shutdown_signal().await;
        eprintln!(
            "stopping: finishing the calls in flight and saving where the sync got to (signal again to quit at once)"
        );
        stop.store(true, Ordering::SeqCst);
        wake.notify_one();
        shutdown_signal().await;
        eprintln!("stopped at once; the next sync resumes from the last stored page");
        std::process::exit(130);
    });
}

async fn sync_command(args: SyncArgs, resume: bool) -> Result<ExitCode> {
    let (accounts, config) = plan(&args)?;
    let stop = Arc::new(AtomicBool::new(false));
    stop_on_signal(stop.clone(), Arc::default());
    let settings = settings(&args, resume, stop);
    if config.is_none() {
        // One account from flags: a credential problem is this command's error.
        let account = &accounts[0];
        let source = accounts::credential_source(account)?;
        let (_lock, plugins) = accounts::prepare(&args.db, args.plugin_dir.as_deref()).await?;
        let display = ProgressDisplay::new();
        let report =
            accounts::sync_account(&args.db, &plugins, account, source, &settings, &display)
                .await?;
        print_sync(&args.db, &report, &account.name)?;
        return Ok(exit_code(report.is_complete()));
    }
    let outcomes = sync_all(&args.db, &accounts, &settings, args.plugin_dir.as_deref()).await?;
    print_summary(&args.db, &outcomes)?;
    Ok(exit_code(
        outcomes
            .iter()
            .all(|o| o.result.as_ref().is_ok_and(|r| r.is_complete())),
    ))
}

fn exit_code(success: bool) -> ExitCode {
    if success {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

async fn sync_all(
    db: &Path,
    accounts: &[AccountConfig],
    settings: &RunSettings,
    plugin_dir: Option<&Path>,
) -> Result<Vec<accounts::Outcome>> {
    let (_lock, plugins) = accounts::prepare(db, plugin_dir).await?;
    let display = ProgressDisplay::new();
    Ok(accounts::sync_accounts(db, &plugins, accounts, settings, &display).await)
}

async fn serve(args: SyncArgs, interval: std::time::Duration) -> Result<ExitCode> {
    let (accounts, config) = plan(&args)?;
    if config.is_none() {
        // Check the credentials once up front, so a typo fails now rather than every hour.
        crate::credentials::default_chain(accounts[0].profile.as_deref())?;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let wake = Arc::new(tokio::sync::Notify::new());
    stop_on_signal(stop.clone(), wake.clone());
    let settings = settings(&args, false, stop.clone());
    let names: Vec<&str> = accounts.iter().map(|a| a.name.as_str()).collect();
    eprintln!(
        "serving: syncing {} into {} every {}; stop with SIGTERM or Ctrl-C",
        names.join(", "),
        args.db.display(),
        humantime::format_duration(interval)
    );
    loop {
        let started = std::time::Instant::now();
        match sync_all(&args.db, &accounts, &settings, args.plugin_dir.as_deref()).await {
            Ok(outcomes) => {
                for o in &outcomes {
                    log_outcome(o);
                }
            }
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "sync run could not start; trying again at the next interval")
            }
        }
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let next = interval.saturating_sub(started.elapsed());
        tracing::info!(next_in = %humantime::format_duration(next), "waiting for the next run");
        tokio::select! {
            _ = tokio::time::sleep(next) => {}
            _ = wake.notified() => break,
        }
    }
    eprintln!("stopped");
    Ok(ExitCode::SUCCESS)
}

fn log_outcome(o: &accounts::Outcome) {
    match &o.result {
        Ok(r) if r.is_complete() => {
            tracing::warn!(account = %o.account, sync_run = r.sync_id, api_calls = r.api_calls, seconds = o.elapsed.as_secs_f64(), "sync complete")
        }
        Ok(r) if r.interrupted => {
            tracing::warn!(account = %o.account, sync_run = r.sync_id, "sync interrupted; it resumes on the next run")
        }
        Ok(r) => {
            tracing::error!(account = %o.account, sync_run = r.sync_id, error = r.error.as_deref().unwrap_or_default(), "sync failed")
        }
        Err(e) => tracing::error!(account = %o.account, error = %e, "sync failed"),
    }
}

/// One line per account, then the reasons for failures.
fn print_summary(db: &Path, outcomes: &[accounts::Outcome]) -> Result<()> {
    let store = Store::open_existing(db)?;
    let mut rows = Vec::new();
    let mut details = Vec::new();
    for o in outcomes {
        let (run, status, resources, grants, calls) = match &o.result {
            Ok(r) => {
                let status = if r.interrupted {
                    "interrupted"
                } else if r.error.is_some() {
                    "failed"
                } else {
                    "complete"
                };
                let (types, grants) = store.counts(r.sync_id)?;
                (
                    r.sync_id.to_string(),
                    status,
                    types.iter().map(|(_, n)| n).sum::<i64>().to_string(),
                    grants.iter().map(|(_, _, n)| n).sum::<i64>().to_string(),
                    r.api_calls.to_string(),
                )
            }
            Err(_) => ("-".into(), "failed", "-".into(), "-".into(), "0".into()),
        };
        rows.push(vec![
            o.account.clone(),
            status.to_string(),
            run,
            resources,
            grants,
            calls,
            format!("{:.2} s", o.elapsed.as_secs_f64()),
        ]);
        match &o.result {
            Err(e) => details.push(format!("{}: {e}", o.account)),
            Ok(r) => {
                if let Some(e) = &r.error {
                    for line in e.lines() {
                        details.push(format!("{}: {line}", o.account));
                    }
                }
                if r.interrupted {
                    details.push(format!(
                        "{}: interrupted; `ramsync sync --resume` continues run {}",
                        o.account, r.sync_id
                    ));
                }
            }
        }
    }
    print_table(
        &[
            "ACCOUNT",
            "STATUS",
            "RUN",
            "RESOURCES",
            "GRANTS",
            "API CALLS",
            "TIME",
        ],
        rows,
    );
    let failed = outcomes
        .iter()
        .filter(|o| !o.result.as_ref().is_ok_and(|r| r.is_complete()))
        .count();
    if failed > 0 {
        eprintln!(
            "error: {failed} of {} accounts did not complete; queries for them still read their last complete sync:",
            outcomes.len()
        );
        for d in details {
            eprintln!("  {d}");
        }
    }
    Ok(())
}

/// The demo's sync: one account, the default one, against the local API.
async fn demo_sync(
    db: &Path,
    endpoints: Endpoints,
    source: CredentialSource,
    plugin_dir: Option<&Path>,
) -> Result<SyncReport> {
    let (_lock, plugins) = accounts::prepare(db, plugin_dir).await?;
    let account = AccountConfig {
        name: SyncOptions::default().account,
        profile: None,
        qps: None,
        endpoints,
        assume_roles: Vec::new(),
    };
    let settings = RunSettings::default();
    accounts::sync_account(
        db,
        &plugins,
        &account,
        source,
        &settings,
        &ProgressDisplay::new(),
    )
    .await
}

fn print_sync(db: &Path, report: &SyncReport, account: &str) -> Result<()> {
    if let Some(error) = &report.error {
        let mut text = format!(
            "error: sync run {} of account {account} failed after {:.1} s and {} API calls; nothing already stored was changed, and queries still read the last complete sync.",
            report.sync_id,
            report.elapsed.as_secs_f64(),
            report.api_calls
        );
        for line in error.lines() {
            text.push_str("\n  ");
            text.push_str(line);
        }
        eprintln!("{text}");
        return Ok(());
    }
    let store = Store::open_existing(db)?;
    let (types, grants) = store.counts(report.sync_id)?;
    let memory = peak_memory_mib()
        .map(|m| format!(", peak memory {m} MiB"))
        .unwrap_or_default();
    println!(
        "sync run {} of account {account}: complete in {:.2} s, {} API calls{memory}",
        report.sync_id,
        report.elapsed.as_secs_f64(),
        report.api_calls
    );
    print_counts(&store, report.sync_id, &types, &grants)?;
    Ok(())
}

/// The process's peak resident memory, where the OS reports it (Linux).
fn peak_memory_mib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib.div_ceil(1024))
}

fn print_counts(
    store: &Store,
    sync_id: i64,
    types: &[(String, i64)],
    grants: &[(String, String, i64)],
) -> Result<()> {
    println!("resources:");
    for (t, n) in types {
        let mut extra = String::new();
        if t == "user" {
            let users = store.query_resources(sync_id, Some("user"))?;
            let frozen = users
                .iter()
                .filter(|u| u.status.as_deref() == Some("frozen"))
                .count();
            extra = format!("  ({} active, {frozen} frozen)", users.len() - frozen);
        }
        println!("  {t:<10} {n:>7}{extra}");
    }
    println!("grants:");
    if grants.is_empty() {
        println!("  (none)");
    }
    for (t, e, n) in grants {
        println!("  {:<17} {n:>7}", format!("{t} {e}"));
    }
    Ok(())
}

async fn demo(db: &Path, plugin_dir: Option<&Path>) -> Result<ExitCode> {
    let server = MockServer::start("127.0.0.1:0", MockOptions::sample()?).await?;
    let url = server.url();
    {
        let tenant = server.tenant();
        println!(
            "Started the local Alibaba Cloud API at {url} with the sample tenant {:?} (account {}).",
            tenant.alias, tenant.account_id
        );
    }
    let credential = Credential::new(DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET, None);
    let report = demo_sync(
        db,
        Endpoints::all_at(&url)?,
        CredentialSource::Fixed(credential),
        plugin_dir,
    )
    .await?;
    if !report.is_complete() {
        print_sync(db, &report, &report.account)?;
        return Ok(ExitCode::FAILURE);
    }
    println!(
        "Synced it through the sandboxed plugins in {:.2} s with {} signed API calls (sync run {}).\n",
        report.elapsed.as_secs_f64(),
        report.api_calls,
        report.sync_id
    );
    let store = Store::open_existing(db)?;
    let (types, grants) = store.counts(report.sync_id)?;
    print_counts(&store, report.sync_id, &types, &grants)?;
    let shown_db = std::path::absolute(db).unwrap_or_else(|_| db.to_path_buf());
    let exe = std::env::current_exe()
        .ok()
        .and_then(|p| {
            p.strip_prefix(std::env::current_dir().ok()?)
                .ok()
                .map(|p| p.to_path_buf())
        })
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "ramsync".into());
    let d = db.display();
    println!("\ndatabase: {}\n", shown_db.display());
    println!("Next, try:");
    println!("  {exe} resources --db {d} --type user");
    println!("  {exe} grants --db {d}");
    println!("  {exe} resources --db {d} --json | head -3");
    println!("  {exe} access --db {d} --principal hzhou        # what one user can do, and how");
    println!("  {exe} access --db {d} --resource policy:AdministratorAccess");
    println!("  {exe} findings --db {d}");
    println!(
        "  {exe} mock --listen 127.0.0.1:8080          # serve the local API, then in another shell:"
    );
    println!(
        "  ALIBABA_CLOUD_ACCESS_KEY_ID={DEMO_ACCESS_KEY_ID} ALIBABA_CLOUD_ACCESS_KEY_SECRET={DEMO_ACCESS_KEY_SECRET} \\\n    {exe} sync --db my.db --endpoint ram=http://127.0.0.1:8080 --endpoint ims=http://127.0.0.1:8080 --endpoint sts=http://127.0.0.1:8080"
    );
    server.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

async fn mock(
    listen: &str,
    tenant: Option<PathBuf>,
    synthetic: Option<String>,
    (access_key_id, access_key_secret): (Option<String>, Option<String>),
    faults: Vec<String>,
    latency: std::time::Duration,
) -> Result<ExitCode> {
    let tenant = match (tenant, synthetic) {
        (Some(path), _) => Tenant::load(&path)?,
        (None, Some(spec)) => Tenant::synthetic(&spec)?,
        (None, None) => Tenant::sample()?,
    };
    let mut options = MockOptions::with_tenant(tenant);
    let custom_key = access_key_id.is_some();
    if let (Some(id), Some(secret)) = (access_key_id, access_key_secret) {
        if id.trim().is_empty() || secret.is_empty() {
            bail!("--access-key-id and --access-key-secret must not be empty");
        }
        options.keys = [(id, MockKey::user(&secret, "ramsync-reader"))].into();
    }
    for f in &faults {
        options.faults.push(Fault::parse(f)?);
    }
    options.latency = latency;
    let server = MockServer::start(listen, options).await?;
    {
        let t = server.tenant();
        println!(
            "local Alibaba Cloud API (RAM, IMS, STS) listening on {} — tenant {:?}: {} users, {} groups, {} roles, {} policies",
            server.url(),
            t.alias,
            t.users.len(),
            t.groups.len(),
            t.roles.len(),
            t.policies.len()
        );
    }
    if !custom_key {
        println!(
            "accepting the demo AccessKey: ALIBABA_CLOUD_ACCESS_KEY_ID={DEMO_ACCESS_KEY_ID} ALIBABA_CLOUD_ACCESS_KEY_SECRET={DEMO_ACCESS_KEY_SECRET}"
        );
    }
    use std::io::Write;
    std::io::stdout().flush()?;
    shutdown_signal().await;
    server.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

/// The JSON that `ramsync sign` reads.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SignInput {
    method: String,
    host: String,
    #[serde(default = "slash")]
    path: String,
    #[serde(default)]
    query: BTreeMap<String, String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    body: String,
    access_key_id: String,
    access_key_secret: String,
    #[serde(default)]
    security_token: Option<String>,
}

fn slash() -> String {
    "/".into()
}

async fn sign(plugin_dir: Option<&Path>) -> Result<ExitCode> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .context("cannot read stdin")?;
    let input: SignInput = serde_json::from_str(&text).map_err(|e| {
        // serde quotes wrongly typed values, and the input holds secrets: name only the place.
        let what = e.to_string();
        let what = if what.starts_with("missing field") || what.starts_with("unknown field") {
            what
        } else {
            format!("{:?} error at line {} column {}", e.classify(), e.line(), e.column()).to_lowercase()
        };
        anyhow::anyhow!(
            "invalid input on stdin: {what}. Expected {{\"method\",\"host\",\"path\",\"query\":{{..}},\"headers\":{{..}},\"body\",\"access_key_id\",\"access_key_secret\",\"security_token\"?}} with string values"
        )
    })?;
    let credential = Credential::new(
        input.access_key_id,
        input.access_key_secret,
        input.security_token,
    );
    let mut headers: Vec<(String, String)> = input
        .headers
        .into_iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect();
    if !headers.iter().any(|(k, _)| k == "host") {
        headers.push(("host".into(), input.host.clone()));
    }
    if !headers.iter().any(|(k, _)| k == "x-acs-content-sha256") {
        headers.push((
            "x-acs-content-sha256".into(),
            ramsync_acs3::hashed_payload(input.body.as_bytes()),
        ));
    }
    let request = HttpRequest {
        method: input.method,
        host: input.host,
        path: input.path,
        query: input.query.into_iter().collect(),
        headers,
        body: input.body.into_bytes(),
    };
    let engine = crate::engine::new_engine()?;
    let set = crate::manifest::load_set(plugin_dir)?;
    let Some(entry) = set
        .iter()
        .find(|p| p.entry.kind == crate::manifest::Kind::Signer)
    else {
        bail!("the plugin set has no signer");
    };
    let signer =
        crate::engine::Signer::load(&engine, &entry.entry.name, &entry.wasm, Limits::default())?;
    let signature = signer.sign(&request, &credential).await?.map_err(|e| {
        anyhow::anyhow!(
            "the signer refused the request: {}",
            crate::scheduler::plugin_error_line(&e)
        )
    })?;
    let header = |name: &str| {
        signature
            .headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let added: BTreeMap<&str, &str> = signature
        .headers
        .iter()
        .filter(|(k, _)| k != "x-acs-security-token")
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let out = serde_json::json!({
        // The STS token is a secret: shown redacted, like everywhere else.
        "canonical_request": redact_token(&signature.canonical_request),
        "string_to_sign": signature.string_to_sign,
        "authorization": header("authorization").unwrap_or_default(),
        "added_headers": added,
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(ExitCode::SUCCESS)
}

fn redact_token(canonical_request: &str) -> String {
    canonical_request
        .lines()
        .map(|l| {
            if l.starts_with("x-acs-security-token:") {
                "x-acs-security-token:<redacted>"
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn print_json_lines<T: serde::Serialize>(rows: &[T]) -> Result<()> {
    use std::io::Write;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for row in rows {
        serde_json::to_writer(&mut out, row)?;
        out.write_all(b"\n")?;
    }
    out.flush().or_else(ignore_broken_pipe)?;
    Ok(())
}

fn ignore_broken_pipe(e: std::io::Error) -> std::io::Result<()> {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        Ok(())
    } else {
        Err(e)
    }
}

pub fn print_table(header: &[&str], rows: Vec<Vec<String>>) {
    use std::io::Write;
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}  ", w = widths[i]));
            }
        }
        s.trim_end().to_string()
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let _ = writeln!(out, "{}", line(header.to_vec()));
    for row in &rows {
        if writeln!(out, "{}", line(row.iter().map(String::as_str).collect())).is_err() {
            return;
        }
    }
    let _ = out.flush();
}
