//! Creating an account, the one operation that needs no API key.
//!
//! The signup is a builder of its own rather than a [`Client`] without a
//! key: a keyless `Client` would offer every operation and fail all but one
//! at run time, while [`Signup`] can only sign up. It is made by
//! [`avala::signup`](crate::signup()) (the API root from `AVALA_BASE_URL`
//! or the default) or by [`ClientBuilder::signup`] (that builder's root,
//! timeouts, retries and user agent; its key, if any, is not used).
//!
//! The request carries no `X-Avala-Api-Key`. The password is never shown:
//! `Debug` prints `[redacted]`, and it is removed from every error in every
//! spelling a server may echo it in, by the same scrub as the API key.
//!
//! ```no_run
//! # async fn demo() -> avala::Result<()> {
//! let password = std::env::var("NEW_PASSWORD").unwrap_or_default();
//! let account = avala::signup("ada@example.com", password)
//!     .first_name("Ada")
//!     .send()
//!     .await?;
//! println!("created {}; store its key securely", account.user.uid);
//! # Ok(()) }
//! ```

use std::fmt;

use crate::{types, Client, ClientBuilder, Error, Result};

/// A signup with the default settings: the API root from `AVALA_BASE_URL`
/// or the default, no key needed. See [`Signup`].
pub fn signup(email: impl Into<String>, password: impl Into<String>) -> Signup {
    Client::builder().signup(email, password)
}

impl ClientBuilder {
    /// A signup with this builder's settings (API root, timeouts, retries,
    /// user agent); its key, if any, is neither needed nor sent.
    pub fn signup(self, email: impl Into<String>, password: impl Into<String>) -> Signup {
        Signup {
            settings: self,
            email: email.into(),
            password: password.into(),
            first_name: None,
            last_name: None,
        }
    }
}

/// A request to create an account; made by [`signup`](crate::signup()) or
/// [`ClientBuilder::signup`], sent by [`send`](Self::send).
#[must_use = "nothing is sent until `.send().await`"]
pub struct Signup {
    settings: ClientBuilder,
    email: String,
    password: String,
    first_name: Option<String>,
    last_name: Option<String>,
}

impl Signup {
    /// The account holder's first name.
    pub fn first_name(mut self, name: impl Into<String>) -> Self {
        self.first_name = Some(name.into());
        self
    }

    /// The account holder's last name.
    pub fn last_name(mut self, name: impl Into<String>) -> Self {
        self.last_name = Some(name.into());
        self
    }

    /// Creates the account (`POST /signup/`, without a key) and returns it
    /// with its first API key, which is shown only here. An empty email or
    /// password is [`Error::InvalidArgument`] before any request.
    pub async fn send(self) -> Result<SignupResponse> {
        if self.email.trim().is_empty() || self.password.is_empty() {
            return Err(Error::InvalidArgument {
                message: "a signup needs an email and a password".into(),
            });
        }
        let client = self.settings.build_anonymous(&self.password)?;
        let body = types::SignupUserRequest {
            email: self.email,
            password: self.password,
            first_name: self.first_name,
            last_name: self.last_name,
        };
        let answer = client.signup_user().body(body).send().await?;
        Ok(answer.into_inner())
    }
}

/// Answer of `signup_user`: the new account and its first API key, which
/// is shown only here; store it securely (for example in
/// `AVALA_API_KEY`). The API's `SignupResponse`, written by hand so that
/// `Debug` prints `[redacted]` for the key (serde sees the API's shape).
#[derive(Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct SignupResponse {
    /// The new account's API key, to send as `X-Avala-Api-Key`. A secret:
    /// never log it.
    pub api_key: String,
    /// The account created.
    pub user: types::SignupUser,
}

impl fmt::Debug for SignupResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignupResponse")
            .field("api_key", &"[redacted]")
            .field("user", &self.user)
            .finish()
    }
}

impl fmt::Debug for Signup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signup")
            .field("email", &self.email)
            .field("password", &"[redacted]")
            .field("first_name", &self.first_name)
            .field("last_name", &self.last_name)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_keyless_client_refuses_every_keyed_operation_before_sending() {
        // An unroutable root: the refusal must come before any connection.
        let client = Client::builder()
            .base_url("https://api.avala.invalid/api/v1")
            .build_anonymous("pw")
            .unwrap();
        let err = client.get_dataset().uid("d1").send().await.unwrap_err();
        assert!(
            matches!(&err, Error::InvalidArgument { message } if message.contains("needs an API key")),
            "{err:?}"
        );
    }
}
