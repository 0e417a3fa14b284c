//! The request hooks of the generated client: route check and auth header
//! (`pre`), retries, tracing, rate-limit capture and error capture (`exec`).

use std::time::Instant;

use bytes::Bytes;
use progenitor_client::{ClientHooks, ClientInfo, OperationInfo};
use reqwest::header::{HeaderValue, ACCEPT};
use tracing::Instrument;

use crate::{generated::Client, retry, routes, runtime::Runtime};

impl ClientHooks<Runtime> for Client {
    async fn pre<E>(
        &self,
        request: &mut reqwest::Request,
        info: &OperationInfo,
    ) -> Result<(), progenitor_client::Error<E>> {
        let shared = self.inner().shared();
        let route = routes::find(info.operation_id).ok_or_else(|| {
            progenitor_client::Error::InvalidRequest(format!(
                "unknown operation {}",
                info.operation_id
            ))
        })?;
        // A client without a key (the signup's) calls anonymous operations
        // only.
        if !route.anonymous && !shared.api_key.sendable() {
            return Err(progenitor_client::Error::InvalidRequest(format!(
                "{} needs an API key, and this client has none",
                info.operation_id
            )));
        }
        let below_base = request.url().path().strip_prefix(shared.base_path.as_str());
        if !below_base.is_some_and(|p| route.intact(p)) {
            return Err(progenitor_client::Error::InvalidRequest(format!(
                "{}: a path parameter is empty, `.` or `..`, which would send the request to another route than {}",
                info.operation_id, route.template
            )));
        }
        // Also for operations without a JSON body, which progenitor leaves bare.
        request
            .headers_mut()
            .insert(ACCEPT, HeaderValue::from_static("application/json"));
        // The key goes only to the configured origin, and never on anonymous
        // operations (signup, the resolver).
        if !route.anonymous && has_origin(request.url(), &shared.origin) {
            request
                .headers_mut()
                .insert(crate::auth::HEADER, shared.api_key.header().clone());
        }
        Ok(())
    }

    async fn exec(
        &self,
        request: reqwest::Request,
        info: &OperationInfo,
    ) -> reqwest::Result<reqwest::Response> {
        let span = tracing::debug_span!(
            "avala.request",
            operation_id = info.operation_id,
            method = %request.method(),
            path = request.url().path(),
            status = tracing::field::Empty,
            attempt = tracing::field::Empty,
            elapsed_ms = tracing::field::Empty,
        );
        // With no subscriber interested, skip the span bookkeeping entirely:
        // it is measurable on a loopback round trip.
        if span.is_disabled() {
            return self.send_with_retries(request, None).await;
        }
        let trace = Trace {
            span: span.clone(),
            started: Instant::now(),
        };
        self.send_with_retries(request, Some(&trace))
            .instrument(span)
            .await
    }
}

/// Whether `url` is of `origin`, as `url.origin() == *origin` says, without
/// the scheme and host strings `Url::origin` allocates on every call.
fn has_origin(url: &url::Url, origin: &url::Origin) -> bool {
    use url::Host;
    match origin {
        // The usual case: the URL's scheme is the origin's (`http`,
        // `https`), whose `Url::origin` is (scheme, host, port or the
        // scheme's default).
        url::Origin::Tuple(scheme, host, port) if url.scheme() == scheme => {
            url.port_or_known_default() == Some(*port)
                && match (url.host(), host) {
                    (Some(Host::Domain(a)), Host::Domain(b)) => a == b,
                    (Some(Host::Ipv4(a)), Host::Ipv4(b)) => a == *b,
                    (Some(Host::Ipv6(a)), Host::Ipv6(b)) => a == *b,
                    _ => false,
                }
        }
        // Anything else (e.g. a `blob:` URL, whose origin is its inner
        // URL's) the long way.
        _ => url.origin() == *origin,
    }
}

/// The request's span and start, when tracing is on.
struct Trace {
    span: tracing::Span,
    started: Instant,
}

impl Trace {
    fn attempt(&self, attempt: u32, status: Option<u16>) {
        self.span.record("attempt", attempt + 1);
        self.span
            .record("elapsed_ms", self.started.elapsed().as_millis() as u64);
        if let Some(status) = status {
            self.span.record("status", status);
        }
    }
}

impl Client {
    /// Sends `request`, repeating it by the API plane's rules when it can
    /// be sent again (an idempotent method and a body held in memory).
    async fn send_with_retries(
        &self,
        request: reqwest::Request,
        trace: Option<&Trace>,
    ) -> reqwest::Result<reqwest::Response> {
        let policy = self.inner().shared().retry;
        let repeatable = retry::is_idempotent(request.method()) && policy.max_retries > 0;
        let template = repeatable.then(|| Template::of(&request)).flatten();
        let result = match template {
            Some(template) => {
                let template = &template;
                // The first attempt sends the original; later ones a copy.
                let mut first = Some(request);
                retry::run(&policy, retry::Plane::Api, |attempt| {
                    let request = first.take().unwrap_or_else(|| template.copy());
                    async move {
                        let result = self.attempt(request, attempt, trace).await;
                        let verdict = retry::api(&template.method, &result);
                        (result, verdict)
                    }
                })
                .await
            }
            None => self.attempt(request, 0, trace).await,
        };
        self.finish(result).await
    }

    /// One attempt. A 2xx body is read here, so that a body that breaks off
    /// is retried like any other transport failure.
    async fn attempt(
        &self,
        request: reqwest::Request,
        attempt: u32,
        trace: Option<&Trace>,
    ) -> reqwest::Result<reqwest::Response> {
        let result = self.client().execute(request).await;
        if let Some(trace) = trace {
            let status = result.as_ref().ok().map(|r| r.status().as_u16());
            trace.attempt(attempt, status);
        }
        let response = result?;
        self.inner().record_rate_limit(response.headers());
        if response.status().is_success() {
            self.buffered(response).await
        } else {
            Ok(response)
        }
    }

    /// A 2xx response with its body read (at most `max_response_bytes`) into
    /// memory, for the generated code to decode: the bytes ride in its
    /// extensions ([`crate::body::Buffered`]). A longer body is not kept:
    /// the response is rebuilt around a body whose read fails with
    /// [`crate::body::TooLarge`].
    async fn buffered(
        &self,
        mut response: reqwest::Response,
    ) -> reqwest::Result<reqwest::Response> {
        let limit = self.inner().shared().max_response_bytes;
        let too_large = crate::body::TooLarge {
            limit,
            status: response.status().as_u16(),
        };
        // A length over the limit is believed at once: nothing is read.
        if response.content_length().is_none_or(|n| n <= limit) {
            let read = crate::body::read_at_most(&mut response, limit).await;
            if let Some(e) = read.failed {
                return Err(e);
            }
            if !read.over {
                response
                    .extensions_mut()
                    .insert(crate::body::Buffered(read.bytes));
                return Ok(response);
            }
        }
        Ok(crate::body::rebuilt(
            response,
            Bytes::new(),
            Some(too_large),
        ))
    }

    /// Replaces a non-2xx response by one whose extensions hold its facts.
    async fn finish(
        &self,
        result: reqwest::Result<reqwest::Response>,
    ) -> reqwest::Result<reqwest::Response> {
        match result {
            Ok(response) if !response.status().is_success() => {
                let shared = self.inner().shared();
                let key = shared.api_key.expose_for_scrubbing();
                // Boxed for the same reason: only error responses pay for it.
                Ok(Box::pin(crate::capture::error_response(
                    response,
                    key,
                    shared.max_response_bytes,
                ))
                .await)
            }
            other => other,
        }
    }
}

/// The parts of a request that is sent again on a retry, its body held as
/// bytes, so that every attempt gets its own copy.
struct Template {
    method: reqwest::Method,
    url: url::Url,
    headers: reqwest::header::HeaderMap,
    body: Option<Bytes>,
    timeout: Option<std::time::Duration>,
    version: reqwest::Version,
}

impl Template {
    /// The template of `request`; `None` when its body is a stream, which
    /// cannot be sent twice.
    fn of(request: &reqwest::Request) -> Option<Self> {
        let body = match request.body() {
            Some(body) => Some(Bytes::copy_from_slice(body.as_bytes()?)),
            None => None,
        };
        Some(Self {
            method: request.method().clone(),
            url: request.url().clone(),
            headers: request.headers().clone(),
            body,
            timeout: request.timeout().copied(),
            version: request.version(),
        })
    }

    /// A request to send, equal to the original.
    fn copy(&self) -> reqwest::Request {
        let mut request = reqwest::Request::new(self.method.clone(), self.url.clone());
        *request.headers_mut() = self.headers.clone();
        *request.body_mut() = self.body.clone().map(reqwest::Body::from);
        *request.timeout_mut() = self.timeout;
        *request.version_mut() = self.version;
        request
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `has_origin` says what `Url::origin` equality says.
    #[test]
    fn has_origin_agrees_with_url_origin() {
        let urls = [
            "https://api.avala.ai/api/v1/x/",
            "https://api.avala.ai:443/y",
            "https://API.avala.ai/z",
            "https://api.avala.ai:8443/",
            "http://api.avala.ai/",
            "https://avala.ai/",
            "https://api.avala.ai.evil.test/",
            "http://127.0.0.1:8080/a",
            "http://127.0.0.1/a",
            "http://[::1]:8080/a",
            "http://localhost:8080/a",
            "file:///etc/passwd",
            "data:text/plain,x",
            "blob:https://api.avala.ai/uuid",
        ];
        for base in &urls {
            let origin = url::Url::parse(base).unwrap().origin();
            for other in &urls {
                let url = url::Url::parse(other).unwrap();
                assert_eq!(
                    has_origin(&url, &origin),
                    url.origin() == origin,
                    "{other} against the origin of {base}"
                );
            }
        }
    }
}
