//! [`Client`] and [`ClientBuilder`]: configuration in, a ready client out.

use std::{fmt, ops::Deref, sync::Arc, time::Duration};

use crate::{
    auth::ApiKey,
    config::{self, BaseUrl},
    generated,
    network::{Network, TestNetwork},
    rate_limit::RateLimit,
    retry::RetryPolicy,
    runtime::{Runtime, Shared},
    Result,
};

/// A client of the Avala API. Cheap to clone; clones share connections and
/// rate-limit state.
///
/// Every operation of the API is a method (through `Deref` to the generated
/// client), with a builder for its parameters:
///
/// ```no_run
/// # async fn demo() -> avala::Result<()> {
/// let client = avala::Client::from_env()?;
/// let page = client.list_datasets().limit(10).send().await?;
/// for dataset in &page.results {
///     println!("{} ({})", dataset.name, dataset.uid);
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    generated: generated::Client,
    base_url: Arc<str>,
    /// The proxy and roots, for the data plane's HTTP clients.
    network: Arc<Network>,
}

impl Client {
    /// Key from `AVALA_API_KEY`; base URL from `AVALA_BASE_URL` or the default.
    pub fn from_env() -> Result<Self> {
        Self::builder().build()
    }

    /// Loads `./.env`, the file in the current working directory only (no
    /// parent directory is searched; variables already set win), then as
    /// [`Client::from_env`]. That file may set `AVALA_API_KEY`,
    /// `AVALA_BASE_URL` and `AVALA_ALLOW_INSECURE_BASE_URL`. A missing `.env`
    /// is not an error; an unreadable one is. See [`crate::config::load_dotenv`].
    pub fn from_dotenv() -> Result<Self> {
        config::load_dotenv()?;
        Self::from_env()
    }

    /// An explicit key; base URL from `AVALA_BASE_URL` or the default.
    pub fn new(api_key: impl Into<String>) -> Result<Self> {
        Self::builder().api_key(api_key).build()
    }

    /// A builder for every setting.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// The API root requests go to, without a trailing `/`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The `X-RateLimit-*` headers of the most recent response, success or
    /// error; `None` before any response or when it carried none.
    pub fn last_rate_limit(&self) -> Option<RateLimit> {
        progenitor_client::ClientInfo::inner(&self.generated).last_rate_limit()
    }

    /// The slug of the caller's organization `uid`, walking every page of
    /// `list_organizations`; `None` when the caller is not a member.
    /// Request failures are errors (callers that treat the lookup as advisory
    /// drop them).
    pub(crate) async fn organization_slug(&self, uid: &str) -> Result<Option<String>> {
        use futures::TryStreamExt;
        let mut orgs = self.list_organizations().stream();
        while let Some(org) = orgs.try_next().await? {
            if org.uid == uid {
                return Ok(Some(org.slug));
            }
        }
        Ok(None)
    }

    /// The proxy and trust roots the data plane applies as the API client does.
    pub(crate) fn network(&self) -> &Network {
        &self.network
    }

    /// The retry policy every loop of this client's requests follows.
    pub(crate) fn retry_policy(&self) -> RetryPolicy {
        progenitor_client::ClientInfo::inner(&self.generated)
            .shared()
            .retry
    }
}

impl Deref for Client {
    type Target = generated::Client;

    fn deref(&self) -> &Self::Target {
        &self.generated
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.base_url)
            .field("api_key", &"[redacted]")
            .finish()
    }
}

/// Settings for a [`Client`]. An explicit setting beats the environment.
#[derive(Clone)]
#[must_use = "nothing is built until `.build()`"]
pub struct ClientBuilder {
    api_key: Option<String>,
    base_url: Option<String>,
    timeout: Duration,
    connect_timeout: Duration,
    retry: RetryPolicy,
    max_response_bytes: u64,
    user_agent: Option<String>,
    proxy: Option<String>,
    root_certificates: Vec<Vec<u8>>,
    /// Set only by the embedded mock, which serves plain http on 127.0.0.1.
    allow_insecure_loopback: bool,
    /// Set only by the SDK's own tests ([`Self::test_network`]).
    test_network: TestNetwork,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        Self {
            api_key: None,
            base_url: None,
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
            max_response_bytes: crate::body::DEFAULT_MAX_RESPONSE_BYTES,
            user_agent: None,
            proxy: None,
            root_certificates: Vec::new(),
            allow_insecure_loopback: false,
            test_network: TestNetwork::default(),
        }
    }
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("api_key", &self.api_key.as_ref().map(|_| "[redacted]"))
            .field("base_url", &self.base_url.as_ref().map(|_| "[set]"))
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("retry", &self.retry)
            .field("max_response_bytes", &self.max_response_bytes)
            .field("user_agent", &self.user_agent)
            // May carry `user:password@`.
            .field("proxy", &self.proxy.as_ref().map(|_| "[set]"))
            .field("root_certificates", &self.root_certificates.len())
            .finish()
    }
}

impl ClientBuilder {
    /// The API key (instead of `AVALA_API_KEY`).
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// The API root (instead of `AVALA_BASE_URL`), e.g. `https://api.avala.ai/api/v1`.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// Total time for one attempt of a request, body included. Default 30 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Time to establish a connection. Default 10 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Retries of idempotent requests on 408/429/502/503/504 and connection
    /// failures. Default 2; 0 disables retries. The same as setting
    /// [`RetryPolicy::max_retries`] on the current [`Self::retry_policy`].
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.retry = self.retry.max_retries(retries);
        self
    }

    /// How requests are repeated: API calls, and the dataset and Fleet
    /// uploads made through this client (see [`crate::retry`] for the
    /// table). Replaces the whole policy, an earlier `max_retries` included.
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// The most bytes of a response body the client reads. Default 64 MiB;
    /// a longer 2xx body fails with [`crate::Error::ResponseTooLarge`]
    /// without being held in memory. Error bodies are read up to 64 KiB (or
    /// this limit, when lower) whatever their length.
    pub fn max_response_bytes(mut self, bytes: u64) -> Self {
        self.max_response_bytes = bytes;
        self
    }

    /// Replaces the `User-Agent` (default `avala-rust/<version>`).
    pub fn user_agent(mut self, agent: impl Into<String>) -> Self {
        self.user_agent = Some(agent.into());
        self
    }

    /// Sends every request of this client (API calls, uploads, downloads)
    /// through this `http://` or `https://` proxy instead of the one the
    /// system variables name (`HTTPS_PROXY`, ...); `NO_PROXY` still applies.
    /// Also `AVALA_PROXY`. Checked at [`Self::build`]. See [`crate::network`].
    pub fn proxy(mut self, url: impl Into<String>) -> Self {
        self.proxy = Some(url.into());
        self
    }

    /// Trusts the root certificates of this PEM data (one or more
    /// `-----BEGIN CERTIFICATE-----` blocks) in addition to the platform's,
    /// for the API and the data plane; e.g. a corporate TLS-inspecting
    /// proxy's root. Also `AVALA_CA_BUNDLE` (a file path). Checked at
    /// [`Self::build`]; data without a certificate is an error.
    pub fn add_root_certificate(mut self, pem: impl AsRef<[u8]>) -> Self {
        self.root_certificates.push(pem.as_ref().to_vec());
        self
    }

    /// Allows `http` to a loopback host without `AVALA_ALLOW_INSECURE_BASE_URL`;
    /// for the embedded mock server only.
    #[cfg(feature = "mock")]
    pub(crate) fn allow_insecure_loopback(mut self) -> Self {
        self.allow_insecure_loopback = true;
        self
    }

    /// For the SDK's own tests only (hidden, `mock` feature): sends the
    /// requests of the API client and of the data plane for each host name
    /// of `resolve` to its address, and trusts the DER certificate
    /// `root_der` too, so that a flow meets production host names (and the
    /// host policy) on a loopback TLS server.
    #[cfg(feature = "mock")]
    #[doc(hidden)]
    pub fn test_network(
        mut self,
        resolve: Vec<(String, std::net::SocketAddr)>,
        root_der: Vec<u8>,
    ) -> Self {
        self.test_network = TestNetwork::new(resolve, root_der);
        self
    }

    /// Validates the settings and builds the client. Fails with
    /// [`crate::Error::Config`] before any request.
    pub fn build(self) -> Result<Client> {
        self.build_with_env(config::process_env)
    }

    pub(crate) fn build_with_env(self, env: impl Fn(&str) -> Option<String>) -> Result<Client> {
        let key = self
            .api_key
            .clone()
            .or_else(|| env(config::ENV_API_KEY))
            .unwrap_or_default();
        let api_key = ApiKey::new(&key)?;
        self.assemble(api_key, env)
    }

    /// A client without a key, for anonymous operations only (the signup):
    /// `secret` is scrubbed from its errors as a key would be.
    pub(crate) fn build_anonymous(self, secret: &str) -> Result<Client> {
        self.assemble(ApiKey::scrub_only(secret), config::process_env)
    }

    fn assemble(self, api_key: ApiKey, env: impl Fn(&str) -> Option<String>) -> Result<Client> {
        let allow_insecure = self.allow_insecure_loopback
            || env(config::ENV_ALLOW_INSECURE).is_some_and(|v| config::is_truthy(&v));
        let raw_base = self
            .base_url
            .clone()
            // An empty variable counts as unset, as in the Python SDK
            // (`base_url or os.environ.get(...) or DEFAULT`).
            .or_else(|| env(config::ENV_BASE_URL).filter(|v| !v.trim().is_empty()))
            .unwrap_or_else(|| config::DEFAULT_BASE_URL.to_owned());
        let base = config::parse_base_url(&raw_base, allow_insecure)?;
        let network = Network::from_settings(self.proxy.as_deref(), &self.root_certificates, &env)?
            .with_test(self.test_network.clone());
        let http = self.http_client(&base, &network)?;
        let runtime = Runtime(Arc::new(Shared {
            api_key,
            origin: base.origin.clone(),
            base_path: base.path.clone(),
            retry: self.retry,
            max_response_bytes: self.max_response_bytes,
            rate_limit: Default::default(),
            #[cfg(feature = "blocking")]
            blocking: Default::default(),
        }));
        Ok(Client {
            generated: generated::Client::new_with_client(&base.text, http, runtime),
            base_url: base.text.into(),
            network: Arc::new(network),
        })
    }

    fn http_client(&self, base: &BaseUrl, network: &Network) -> Result<reqwest::Client> {
        let agent = self
            .user_agent
            .clone()
            .unwrap_or_else(|| concat!("avala-rust/", env!("CARGO_PKG_VERSION")).to_owned());
        network
            .apply(reqwest::Client::builder())?
            .https_only(base.https)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(agent)
            .timeout(self.timeout)
            .connect_timeout(self.connect_timeout)
            .build()
            .map_err(|e| crate::Error::config(format!("could not build the HTTP client: {e}")))
    }
}

/// The client's key, for the scrubs that must remove it from what a server
/// sends back (uploads, waits); never for a request of its own.
pub(crate) fn api_key(client: &Client) -> &str {
    progenitor_client::ClientInfo::inner(&**client)
        .shared()
        .api_key
        .expose_for_scrubbing()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_is_cheap_to_share_across_tasks() {
        fn assert_traits<T: Clone + Send + Sync + 'static>() {}
        assert_traits::<Client>();
        assert_traits::<ClientBuilder>();
        // Errors go into `Box<dyn Error + Send + Sync>` and across tasks.
        fn assert_error<T: std::error::Error + Send + Sync + 'static>() {}
        assert_error::<crate::Error>();
    }
}
