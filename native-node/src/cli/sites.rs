//! `herald node`'s site gateway flags and the `[nats]` config table: `--site NAME --nats URL` makes the node
//! its site's gateway to the other sites through NATS (see [`crate::sites`]).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;
use clap::Args;
use serde::Deserialize;

use crate::sites::{NatsAuth, NatsTls, SiteConfig};

/// The `[nats]` table of the config file (each key is the flag of the same name).
///
/// ```toml
/// [nats]
/// site = "lab"
/// url = ["nats://hub.example:4222", "nats://hub2.example:4222"]
/// creds = "/etc/herald/lab.creds"   # or token = "...", or user/password, or nkey = "SU..."
/// tls_ca = "/etc/herald/nats-ca.pem"
/// export = ["sensors.*", "alerts"]
/// import = ["*"]
/// ```
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatsKeys {
    /// `--site`
    pub site: Option<String>,
    /// `--nats`, as a list.
    #[serde(default)]
    pub url: Vec<String>,
    /// `--nats-token`
    pub token: Option<String>,
    /// `--nats-user`
    pub user: Option<String>,
    /// `--nats-password`
    pub password: Option<String>,
    /// `--nats-creds`
    pub creds: Option<PathBuf>,
    /// `--nats-nkey`
    pub nkey: Option<String>,
    /// `--nats-tls`
    pub tls: Option<bool>,
    /// `--nats-tls-ca`
    pub tls_ca: Option<PathBuf>,
    /// `--nats-tls-cert`
    pub tls_cert: Option<PathBuf>,
    /// `--nats-tls-key`
    pub tls_key: Option<PathBuf>,
    /// `--nats-export`, as a list.
    #[serde(default)]
    pub export: Vec<String>,
    /// `--nats-import`, as a list.
    #[serde(default)]
    pub import: Vec<String>,
    /// `--site-heartbeat`
    pub heartbeat: Option<u64>,
    /// `--nats-backlog`
    pub backlog: Option<usize>,
    /// `--nats-subscription-capacity`
    pub subscription_capacity: Option<usize>,
}

/// This node as its site's gateway to other sites through NATS (off unless `--site` and `--nats` are given).
#[derive(Debug, Default, Args)]
#[command(next_help_heading = "Sites (LANs joined through NATS)")]
pub struct SiteArgs {
    /// This site's name (one token: letters, digits, `-`, `_`); with --nats this node is the site's gateway.
    #[arg(long, value_name = "NAME")]
    site: Option<String>,
    /// A NATS server (`nats://host:4222`; repeatable for failover).
    #[arg(long = "nats", value_name = "URL")]
    nats: Vec<String>,
    /// NATS token.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "HERALD_NATS_TOKEN",
        hide_env_values = true
    )]
    nats_token: Option<String>,
    /// NATS user (with --nats-password).
    #[arg(long, value_name = "USER")]
    nats_user: Option<String>,
    /// NATS password.
    #[arg(
        long,
        value_name = "PASSWORD",
        env = "HERALD_NATS_PASSWORD",
        hide_env_values = true
    )]
    nats_password: Option<String>,
    /// NATS credentials file (JWT and nkey seed, as `nsc` writes).
    #[arg(long, value_name = "FILE")]
    nats_creds: Option<PathBuf>,
    /// NATS nkey seed (`SU...`).
    #[arg(
        long,
        value_name = "SEED",
        env = "HERALD_NATS_NKEY",
        hide_env_values = true
    )]
    nats_nkey: Option<String>,
    /// Require TLS towards NATS.
    #[arg(long)]
    nats_tls: bool,
    /// Extra CA certificate (PEM) to trust for NATS.
    #[arg(long, value_name = "FILE")]
    nats_tls_ca: Option<PathBuf>,
    /// Client certificate (PEM) for NATS servers that verify clients (with --nats-tls-key).
    #[arg(long, value_name = "FILE")]
    nats_tls_cert: Option<PathBuf>,
    /// The client certificate's key (PEM).
    #[arg(long, value_name = "FILE")]
    nats_tls_key: Option<PathBuf>,
    /// Topic pattern whose messages may leave this site (repeatable) [default: `*`].
    #[arg(long = "nats-export", value_name = "PATTERN")]
    nats_export: Vec<String>,
    /// Topic pattern whose messages may come in from other sites (repeatable) [default: `*`].
    #[arg(long = "nats-import", value_name = "PATTERN")]
    nats_import: Vec<String>,
    /// Milliseconds between two peer lists of this site on NATS (other sites lose it after 3 missed).
    #[arg(long, value_name = "MS")]
    site_heartbeat: Option<u64>,
    /// Messages held while NATS is unreachable; beyond it the oldest are dropped and counted [default: 4096].
    #[arg(long, value_name = "N")]
    nats_backlog: Option<usize>,
    /// Messages each NATS subscription holds for this gateway; beyond it the NATS client drops the newest and
    /// they are counted (nats.slow_consumer) [default: 65536].
    #[arg(long, value_name = "N")]
    nats_subscription_capacity: Option<usize>,
}

/// The site gateway asked for by flags (first) and the `[nats]` table, if any.
pub fn site_config(args: SiteArgs, keys: &NatsKeys) -> anyhow::Result<Option<SiteConfig>> {
    let site = args.site.or_else(|| keys.site.clone());
    let urls = if args.nats.is_empty() {
        keys.url.clone()
    } else {
        args.nats
    };
    let site = match (site, urls.is_empty()) {
        (None, true) => return Ok(None),
        (None, false) => bail!(
            "--nats needs --site NAME: a gateway must say which site it serves (names are unique per site)"
        ),
        (Some(site), true) => bail!("--site {site} needs --nats URL (the NATS server joining the sites)"),
        (Some(site), false) => site,
    };
    crate::sites::subjects::check_site(&site)?;
    let mut config = SiteConfig::new(site, "");
    config.urls = urls;
    let token = args.nats_token.or_else(|| keys.token.clone());
    let user = args.nats_user.or_else(|| keys.user.clone());
    let password = args.nats_password.or_else(|| keys.password.clone());
    let creds = args.nats_creds.or_else(|| keys.creds.clone());
    let nkey = args.nats_nkey.or_else(|| keys.nkey.clone());
    config.auth = match (token, user, password, creds, nkey) {
        (None, None, None, None, None) => NatsAuth::None,
        (Some(token), None, None, None, None) => NatsAuth::Token(token),
        (None, Some(user), Some(password), None, None) => NatsAuth::UserPassword { user, password },
        (None, None, None, Some(file), None) => NatsAuth::CredsFile(file),
        (None, None, None, None, Some(seed)) => NatsAuth::Nkey(seed),
        (None, Some(_), None, None, None) | (None, None, Some(_), None, None) => {
            bail!("--nats-user and --nats-password go together")
        }
        _ => bail!("give one kind of NATS credentials: a token, a user and password, a creds file or an nkey"),
    };
    let cert = args.nats_tls_cert.or_else(|| keys.tls_cert.clone());
    let key = args.nats_tls_key.or_else(|| keys.tls_key.clone());
    config.tls = NatsTls {
        required: args.nats_tls || keys.tls.unwrap_or(false),
        ca: args.nats_tls_ca.or_else(|| keys.tls_ca.clone()),
        client: match (cert, key) {
            (None, None) => None,
            (Some(cert), Some(key)) => Some((cert, key)),
            _ => bail!("--nats-tls-cert and --nats-tls-key go together"),
        },
    };
    let pick = |flags: Vec<String>, keys: &[String]| {
        if !flags.is_empty() {
            flags
        } else if !keys.is_empty() {
            keys.to_vec()
        } else {
            vec!["*".to_owned()]
        }
    };
    config.export = pick(args.nats_export, &keys.export);
    config.import = pick(args.nats_import, &keys.import);
    if let Some(ms) = args.site_heartbeat.or(keys.heartbeat) {
        config.heartbeat = Duration::from_millis(ms.max(50));
    }
    if let Some(backlog) = args.nats_backlog.or(keys.backlog) {
        config.backlog = backlog.max(1);
    }
    if let Some(capacity) = args
        .nats_subscription_capacity
        .or(keys.subscription_capacity)
    {
        config.subscription_capacity = capacity.max(1);
    }
    Ok(Some(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(site: Option<&str>, nats: &[&str]) -> SiteArgs {
        SiteArgs {
            site: site.map(str::to_owned),
            nats: nats.iter().map(|s| s.to_string()).collect(),
            ..SiteArgs::default()
        }
    }

    #[test]
    fn a_gateway_needs_both_a_site_and_a_server() {
        let keys = NatsKeys::default();
        assert!(site_config(args(None, &[]), &keys).unwrap().is_none());
        let err = site_config(args(None, &["nats://h:4222"]), &keys).unwrap_err();
        assert!(
            err.to_string().contains("--nats needs --site NAME"),
            "{err}"
        );
        assert!(site_config(args(Some("a"), &[]), &keys).is_err());
        assert!(site_config(args(Some("a.b"), &["nats://h:4222"]), &keys).is_err());
        let config = site_config(args(Some("a"), &["nats://h:4222"]), &keys)
            .unwrap()
            .unwrap();
        assert_eq!(config.urls, ["nats://h:4222"]);
        assert_eq!(config.export, ["*"]);
        assert_eq!(config.auth, NatsAuth::None);
        assert_eq!(
            config.subscription_capacity,
            crate::sites::SUBSCRIPTION_CAPACITY
        );
    }

    #[test]
    fn the_nats_table_fills_in_and_credentials_are_one_kind() {
        let keys: NatsKeys = toml::from_str(
            "site = 'lab'\nurl = ['nats://a:4222', 'nats://b:4222']\ntoken = 't'\nexport = ['sensors.*']\nsubscription_capacity = 1000",
        )
        .unwrap();
        let config = site_config(SiteArgs::default(), &keys).unwrap().unwrap();
        assert_eq!(config.site, "lab");
        assert_eq!(config.urls.len(), 2);
        assert_eq!(config.auth, NatsAuth::Token("t".into()));
        assert_eq!(config.export, ["sensors.*"]);
        assert_eq!(config.subscription_capacity, 1000);
        let both = NatsKeys {
            nkey: Some("SU".into()),
            ..keys
        };
        assert!(site_config(SiteArgs::default(), &both).is_err());
    }
}
