//! Proxy and trust-root settings for corporate networks, applied alike to
//! the API client and the data plane (uploads, downloads) of one
//! [`crate::Client`].
//!
//! Without settings, both follow the system proxy variables (`HTTPS_PROXY`,
//! `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`, in either case) and trust the
//! platform's roots. [`crate::ClientBuilder::proxy`] (or `AVALA_PROXY`) sends
//! every request through one proxy instead, `NO_PROXY` still applying;
//! [`crate::ClientBuilder::add_root_certificate`] (or `AVALA_CA_BUNDLE`, the
//! path of a PEM file) trusts more roots, in addition to the platform's.
//! An `https` API stays end-to-end TLS through an HTTP proxy (`CONNECT`), so
//! the proxy does not see the key.
//!
//! The resolver keeps its own rules: it ignores proxies and adds no roots.
//! Both apply the hidden network override of the SDK's own tests.

use std::fmt;

use crate::{Error, Result};

/// Environment variable naming a proxy for every request of the client.
pub const ENV_PROXY: &str = "AVALA_PROXY";
/// Environment variable naming a PEM file of extra trusted root certificates.
pub const ENV_CA_BUNDLE: &str = "AVALA_CA_BUNDLE";

/// The checked settings, shared by the client's HTTP clients.
#[derive(Clone, Default)]
pub(crate) struct Network {
    proxy: Option<reqwest::Proxy>,
    roots: Vec<reqwest::Certificate>,
    test: TestNetwork,
}

// The proxy URL may carry `user:password@`: never printed.
impl fmt::Debug for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Network")
            .field("proxy", &self.proxy.as_ref().map(|_| "[set]"))
            .field("extra_roots", &self.roots.len())
            .field("test", &self.test)
            .finish()
    }
}

impl Network {
    /// Checks the builder's settings, falling back to the environment for
    /// what is not given. Messages never repeat the proxy URL.
    pub(crate) fn from_settings(
        proxy: Option<&str>,
        pems: &[Vec<u8>],
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self> {
        let proxy = match proxy
            .map(str::to_owned)
            .or_else(|| non_empty(env(ENV_PROXY)))
        {
            Some(url) => Some(parse_proxy(&url)?),
            None => None,
        };
        let mut roots = Vec::new();
        for pem in pems {
            roots.extend(parse_roots(
                pem,
                "a certificate given to add_root_certificate",
            )?);
        }
        if let Some(path) = non_empty(env(ENV_CA_BUNDLE)) {
            let pem = std::fs::read(&path).map_err(|e| {
                Error::config(format!("could not read {ENV_CA_BUNDLE} ({path}): {e}"))
            })?;
            roots.extend(parse_roots(&pem, ENV_CA_BUNDLE)?);
        }
        Ok(Self {
            proxy,
            roots,
            test: TestNetwork::default(),
        })
    }

    /// These settings with the SDK's own tests' network override.
    pub(crate) fn with_test(mut self, test: TestNetwork) -> Self {
        self.test = test;
        self
    }

    /// Applies the settings to one of the client's HTTP clients (the API
    /// client and every data plane).
    pub(crate) fn apply(
        &self,
        mut builder: reqwest::ClientBuilder,
    ) -> Result<reqwest::ClientBuilder> {
        if let Some(proxy) = &self.proxy {
            builder = builder.proxy(proxy.clone());
        }
        if !self.roots.is_empty() {
            builder = builder.tls_certs_merge(self.roots.iter().cloned());
        }
        self.test.apply(builder)
    }
}

/// Where the SDK's own tests send production host names: each name of
/// `resolve` to its loopback address, with one more trusted root (DER), so
/// that a flow meets production hosts (and the host policy) on a loopback
/// TLS server. Empty, and without effect, unless set through the hidden
/// `test_network` of `ClientBuilder` or `ResolverBuilder` (feature `mock`).
#[derive(Clone, Default)]
pub(crate) struct TestNetwork {
    resolve: Vec<(String, std::net::SocketAddr)>,
    root_der: Option<Vec<u8>>,
}

// The certificate is not a secret, but a wall of bytes in a Debug helps
// nobody: the names are what a reader needs.
impl fmt::Debug for TestNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.resolve.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("TestNetwork")
            .field("resolve", &names)
            .field("root", &self.root_der.is_some())
            .finish()
    }
}

impl TestNetwork {
    /// `resolve` and the root `root_der`, for the hidden setters.
    #[cfg(feature = "mock")]
    pub(crate) fn new(resolve: Vec<(String, std::net::SocketAddr)>, root_der: Vec<u8>) -> Self {
        Self {
            resolve,
            root_der: Some(root_der),
        }
    }

    /// Applies the override (nothing when empty) to an HTTP client builder.
    pub(crate) fn apply(
        &self,
        mut builder: reqwest::ClientBuilder,
    ) -> Result<reqwest::ClientBuilder> {
        for (host, address) in &self.resolve {
            builder = builder.resolve(host, *address);
        }
        if let Some(der) = &self.root_der {
            let root = reqwest::Certificate::from_der(der)
                .map_err(|e| Error::config(format!("the test root certificate: {e}")))?;
            builder = builder.add_root_certificate(root);
        }
        Ok(builder)
    }
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}

/// `http://` or `https://` with a host; `NO_PROXY` from the environment
/// still exempts hosts.
fn parse_proxy(raw: &str) -> Result<reqwest::Proxy> {
    let url = url::Url::parse(raw.trim())
        .map_err(|_| Error::config("the proxy is not a valid URL (e.g. http://proxy.corp:3128)"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(Error::config(
            "the proxy must be an http:// or https:// URL with a host (e.g. http://proxy.corp:3128)",
        ));
    }
    let proxy = reqwest::Proxy::all(url)
        .map_err(|_| Error::config("the proxy URL was refused by the HTTP client"))?;
    Ok(proxy.no_proxy(reqwest::NoProxy::from_env()))
}

/// One or more PEM certificates; none at all is an error, not a no-op.
fn parse_roots(pem: &[u8], what: &str) -> Result<Vec<reqwest::Certificate>> {
    let certs = reqwest::Certificate::from_pem_bundle(pem)
        .ok()
        .filter(|certs| !certs.is_empty())
        .ok_or_else(|| {
            Error::config(format!(
                "{what} holds no PEM certificate (expected -----BEGIN CERTIFICATE----- blocks)"
            ))
        })?;
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NO_ENV: fn(&str) -> Option<String> = |_| None;

    #[test]
    fn proxies_other_than_http_are_refused_without_echoing_the_url() {
        for bad in ["socks5://u:hunter2@p:1080", "not a url hunter2", "http://"] {
            let err = Network::from_settings(Some(bad), &[], NO_ENV).unwrap_err();
            assert!(matches!(err, Error::Config { .. }), "{err:?}");
            assert!(!err.to_string().contains("hunter2"), "{err}");
        }
        assert!(Network::from_settings(Some("https://u:p@proxy.corp:3128"), &[], NO_ENV).is_ok());
    }

    #[test]
    fn the_environment_fills_what_the_builder_did_not_give() {
        let env = |name: &str| (name == ENV_PROXY).then(|| "ftp://proxy".to_owned());
        assert!(Network::from_settings(None, &[], env).is_err());
        // An explicit proxy wins over the variable.
        assert!(Network::from_settings(Some("http://proxy:1"), &[], env).is_ok());
        let blank = |name: &str| (name == ENV_PROXY).then(|| "  ".to_owned());
        assert!(Network::from_settings(None, &[], blank)
            .unwrap()
            .proxy
            .is_none());
    }

    #[test]
    fn root_certificates_must_be_pem_certificates() {
        let err = Network::from_settings(None, &[b"garbage".to_vec()], NO_ENV).unwrap_err();
        assert!(
            err.to_string().contains("holds no PEM certificate"),
            "{err}"
        );
        let missing =
            |name: &str| (name == ENV_CA_BUNDLE).then(|| "/nonexistent/ca.pem".to_owned());
        let err = Network::from_settings(None, &[], missing).unwrap_err();
        assert!(err.to_string().contains(ENV_CA_BUNDLE), "{err}");
    }

    #[test]
    fn debug_never_shows_the_proxy_credentials() {
        let net =
            Network::from_settings(Some("http://user:hunter2@proxy:3128"), &[], NO_ENV).unwrap();
        let shown = format!("{net:?}");
        assert!(
            !shown.contains("hunter2") && shown.contains("[set]"),
            "{shown}"
        );
    }
}
