//! What every command gets: the settings of the global flags, the client
//! (built on first use: `resolve` and `completions` need no key), the
//! output format and whether stderr is a terminal.

use std::{
    io::IsTerminal,
    sync::{Arc, OnceLock},
};

use clap::ArgMatches;

use crate::{
    failure::{Failure, Result},
    output::{Format, Redactor},
};

/// The user agent: the command line, then the SDK's.
const USER_AGENT: &str = concat!("avala-cli/", env!("CARGO_PKG_VERSION"));

/// The state of one run of `avala`.
pub struct Context {
    api_key: Option<String>,
    base_url: Option<String>,
    proxy: Option<String>,
    ca_bundle: Option<String>,
    client: OnceLock<avala::Client>,
    /// `--output`.
    pub format: Format,
    /// Whether progress may draw bars (stderr is a terminal).
    pub interactive: bool,
    /// Takes the key out of everything printed.
    pub redactor: Arc<Redactor>,
}

impl Context {
    /// From the global flags, after `.env` was loaded: `--api-key` and
    /// `--base-url` beat `AVALA_API_KEY` and `AVALA_BASE_URL`, as in the SDK.
    pub fn new(m: &ArgMatches) -> Self {
        let flag = |name: &str| m.get_one::<String>(name).cloned();
        let api_key = flag("api-key");
        let redactor = Arc::new(Redactor::new(
            api_key
                .clone()
                .or_else(|| std::env::var(avala::config::ENV_API_KEY).ok()),
        ));
        Self {
            api_key,
            base_url: flag("base-url"),
            proxy: flag("proxy"),
            ca_bundle: flag("ca-bundle"),
            client: OnceLock::new(),
            format: Format::pick(m.get_one::<String>("output").map(String::as_str)),
            interactive: std::io::stderr().is_terminal(),
            redactor,
        }
    }

    /// The client, built by the SDK's `ClientBuilder` on first use.
    pub fn client(&self) -> Result<&avala::Client> {
        if let Some(client) = self.client.get() {
            return Ok(client);
        }
        let client = self.builder()?.build()?;
        Ok(self.client.get_or_init(|| client))
    }

    /// The builder with the flags applied (the SDK reads the environment
    /// for what is not given). Fails when `--ca-bundle` cannot be read.
    pub fn builder(&self) -> Result<avala::ClientBuilder> {
        let mut builder = avala::Client::builder().user_agent(USER_AGENT);
        if let Some(key) = &self.api_key {
            builder = builder.api_key(key);
        }
        if let Some(url) = &self.base_url {
            builder = builder.base_url(url);
        }
        if let Some(url) = &self.proxy {
            builder = builder.proxy(url);
        }
        if let Some(path) = &self.ca_bundle {
            let pem = std::fs::read(path)
                .map_err(|e| Failure::Io(format!("could not read --ca-bundle {path}: {e}")))?;
            builder = builder.add_root_certificate(pem);
        }
        Ok(builder)
    }

    /// The API root for what the client does not cover (the anonymous
    /// resolver): `--base-url`, else `AVALA_BASE_URL`, else the default.
    pub fn base_url(&self) -> String {
        self.base_url
            .clone()
            .or_else(|| std::env::var(avala::config::ENV_BASE_URL).ok())
            .filter(|u| !u.trim().is_empty())
            .unwrap_or_else(|| avala::config::DEFAULT_BASE_URL.to_owned())
    }
}
