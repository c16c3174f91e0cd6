//! `demo` and `mock`: the local API, a full sync against it, and what to try next.

use crate::accounts::{self, RunSettings};
use crate::config::AccountConfig;
use crate::credentials::Credential;
use crate::http_policy::Endpoints;
use crate::mock::{
    DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET, Directory, Fault, MockKey, MockOptions, MockServer,
    Tenant,
};
use crate::progress::ProgressDisplay;
use crate::scheduler::{SyncOptions, SyncReport};
use crate::store::Store;
use crate::sts::CredentialSource;
use anyhow::{Result, bail};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::summary::{print_counts, print_sync};
use super::sync::shutdown_signal;

/// The demo's sync: one account, the default one, against the local API.
pub(crate) async fn demo_sync(
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
        placement: None,
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

pub(crate) async fn demo(db: &Path, plugin_dir: Option<&Path>) -> Result<ExitCode> {
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
    println!(
        "  {exe} who-can --db {d} ram:AttachPolicyToUser   # who may call an action, and through what"
    );
    println!("  {exe} can --db {d} --principal hzhou ram:AttachPolicyToRole");
    println!(
        "  {exe} findings --db {d}                        # privilege-escalation through DeployRole among them"
    );
    println!(
        "  {exe} mock --listen 127.0.0.1:8080          # serve the local API, then in another shell:"
    );
    println!(
        "  ALIBABA_CLOUD_ACCESS_KEY_ID={DEMO_ACCESS_KEY_ID} ALIBABA_CLOUD_ACCESS_KEY_SECRET={DEMO_ACCESS_KEY_SECRET} \\\n    {exe} sync --db my.db --endpoint ram=http://127.0.0.1:8080 --endpoint ims=http://127.0.0.1:8080 --endpoint sts=http://127.0.0.1:8080"
    );
    server.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

/// `demo --resource-directory`: the sample tenant as the management account of a directory
/// with folders and member accounts, every account synced through its member role.
pub(crate) async fn demo_directory(db: &Path, plugin_dir: Option<&Path>) -> Result<ExitCode> {
    let server = MockServer::start("127.0.0.1:0", MockOptions::sample_directory()?).await?;
    let url = server.url();
    println!(
        "Started the local Alibaba Cloud API at {url} with the sample Resource Directory: the management account {:?} and its member accounts.",
        server.tenant().alias
    );
    let credential = Credential::new(DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET, None);
    let directory = ramsync_scheduler::directory::DirectoryConfig::new(Endpoints::all_at(&url)?);
    let outcomes = {
        let (_lock, plugins) = accounts::prepare(db, plugin_dir).await?;
        accounts::sync_directory(
            db,
            &plugins,
            &directory,
            &RunSettings::default(),
            &ProgressDisplay::new(),
            Some(&credential),
        )
        .await?
    };
    println!();
    super::sync::print_summary(db, &outcomes)?;
    let d = db.display();
    println!(
        "\nOne member account, northwind-sandbox, was invited and has no ResourceDirectoryAccountAccessRole: it fails, and the others are synced."
    );
    println!("\nNext, try:");
    println!(
        "  ramsync runs --db {d}                                   # each account with its folder path"
    );
    println!("  ramsync resources --db {d} --type account --account 1000000000000101 --json");
    println!("  ramsync findings --db {d} --account 1000000000000101");
    println!(
        "  ramsync access --db {d} --account 1000000000000201 --principal dev.lee   # into northwind-prod-web through DevReadOnly"
    );
    println!(
        "  ramsync who-can --db {d} --account 1000000000000101 ecs:DescribeInstances   # across the directory"
    );
    println!(
        "  ramsync grants --db {d} --account 1000000000000101   # trusts name the member account"
    );
    server.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn mock(
    listen: &str,
    tenant: Option<PathBuf>,
    synthetic: Option<String>,
    (access_key_id, access_key_secret): (Option<String>, Option<String>),
    faults: Vec<String>,
    latency: std::time::Duration,
    resource_directory: bool,
) -> Result<ExitCode> {
    let tenant = match (tenant, synthetic) {
        (Some(path), _) => Tenant::load(&path)?,
        (None, Some(spec)) => Tenant::synthetic(&spec)?,
        (None, None) => Tenant::sample()?,
    };
    let directory = match resource_directory {
        true => Some(Directory::sample(&tenant)?),
        false => None,
    };
    let mut options = MockOptions::with_tenant(tenant);
    options.directory = directory;
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
