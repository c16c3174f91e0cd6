//! `demo` and `mock`: the local API, a full sync against it, and what to try next.

use super::*;

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

pub(crate) fn print_sync(db: &Path, report: &SyncReport, account: &str) -> Result<()> {
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
pub(crate) fn peak_memory_mib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib.div_ceil(1024))
}

pub(crate) fn print_counts(
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

pub(crate) async fn mock(
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

pub(crate) async fn shutdown_signal() {
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
