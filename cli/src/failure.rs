//! Why a command failed, the exit code scripts can rely on, and the one
//! line that says what happened and what to do.

use std::fmt;

/// The exit codes, documented in `--help` and README.md.
pub const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  other failure (local files, a download that would replace a differing file or write through a link, a failed integrity check, an upload error, a job that ended failed: an export, a Fleet recording's processing or publication)
  2  usage: a bad command, flag, value or request body
  3  configuration: missing key, bad or insecure base URL, unreadable .env
  4  authentication or permission: HTTP 401 or 403
  5  not found: HTTP 404
  6  other API error: validation (400/422), quota (413), rate limit (429), server (5xx), an unexpected answer
  7  network or transport: could not connect, TLS, timeout
  8  a wait gave up before the job finished";

/// An exit code of `avala`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 1: anything not below.
    Other = 1,
    /// 2: bad command line or request body.
    Usage = 2,
    /// 3: bad configuration.
    Config = 3,
    /// 4: HTTP 401 or 403.
    Auth = 4,
    /// 5: HTTP 404.
    NotFound = 5,
    /// 6: any other answer of the API that is an error.
    Api = 6,
    /// 7: the request did not complete.
    Transport = 7,
    /// 8: a wait reached its timeout.
    Timeout = 8,
}

/// A failed command.
#[derive(Debug)]
pub enum Failure {
    /// A bad argument or body, found before any request.
    Usage(String),
    /// A local file could not be read or written.
    Io(String),
    /// What the SDK returned (already redacted by it).
    Sdk(avala::Error),
}

impl From<avala::Error> for Failure {
    fn from(e: avala::Error) -> Self {
        Self::Sdk(e)
    }
}

/// The result of a command.
pub type Result<T, E = Failure> = std::result::Result<T, E>;

impl Failure {
    /// The exit code, from the SDK's error variants.
    pub fn exit(&self) -> Exit {
        use avala::Error as E;
        match self {
            Self::Usage(_) => Exit::Usage,
            Self::Io(_) => Exit::Other,
            Self::Sdk(e) => match e {
                E::Config { .. } => Exit::Config,
                E::InvalidArgument { .. } => Exit::Usage,
                E::Authentication(_) | E::Forbidden(_) => Exit::Auth,
                E::NotFound(_) => Exit::NotFound,
                E::Transport { .. } => Exit::Transport,
                E::WaitTimeout { .. } => Exit::Timeout,
                E::Decode { .. } | E::ResponseTooLarge { .. } => Exit::Api,
                // A storage or local failure, an answer that breaks the
                // upload protocol, a waited-for job that ended failed.
                E::Upload(_) | E::JobFailed { .. } => Exit::Other,
                other if other.status().is_some() => Exit::Api,
                _ => Exit::Other,
            },
        }
    }

    /// What to do about it.
    fn hint(&self) -> &'static str {
        match (self.exit(), self) {
            (Exit::Usage, _) => "see `avala <command> --help`",
            (Exit::Config, _) => "set AVALA_API_KEY (or --api-key) and AVALA_BASE_URL (or --base-url); `avala configure` checks a key",
            (Exit::Auth, Self::Sdk(avala::Error::Forbidden(_))) => "this key may not do that; use a key with access",
            (Exit::Auth, _) => "check the key in AVALA_API_KEY or --api-key; `avala configure` checks it",
            (Exit::NotFound, _) => "check the identifier (list them with the group's `list` command)",
            (Exit::Transport, _) => "check the network and the base URL, then retry",
            (Exit::Timeout, _) => "the job is still running; wait again, or raise --timeout",
            (Exit::Api, Self::Sdk(e)) if e.is_retryable() => "retry later",
            (Exit::Api, _) => "check the request against `--help` and the API's answer",
            (Exit::Other, Self::Sdk(avala::Error::FileConflict { overwritable: true, .. })) => {
                "pass --overwrite to replace it, or move it away"
            }
            (Exit::Other, Self::Sdk(avala::Error::FileConflict { .. })) => {
                "nothing was written there; remove it or choose another directory"
            }
            (Exit::Other, Self::Sdk(avala::Error::JobFailed { .. })) => {
                "the job itself failed (a Fleet upload was delivered); a managed publication that failed content_mismatch or invalid_mcap is final for these files, after another code run the same command again"
            }
            (Exit::Other, Self::Sdk(avala::Error::Upload(u)))
                if matches!(**u, avala::upload::UploadError::SlugTaken { .. }) =>
            {
                "they are set with --slug and --owner"
            }
            (Exit::Other, _) => "see the message above",
        }
    }
}

impl Failure {
    /// The error line: what happened, on one line, passed through `clean`
    /// (the redaction and escaping of what is printed) and then cut to
    /// [`MAX_WHAT`] characters (after `clean`, so that a cut cannot leave
    /// a piece of the key it would no longer recognise), then what to do.
    pub fn line(&self, clean: impl Fn(&str) -> String) -> String {
        let what = match self {
            Self::Usage(m) | Self::Io(m) => m.clone(),
            Self::Sdk(e) => e.to_string(),
        };
        let what = clean(&what.split_whitespace().collect::<Vec<_>>().join(" "));
        let what = crate::output::cut(what.trim_end_matches('.'), MAX_WHAT);
        format!("error: {what}; {}", self.hint())
    }
}

/// The most characters of "what happened" an error line shows: a server's
/// error body can be 64 KiB.
const MAX_WHAT: usize = 2048;

impl fmt::Display for Failure {
    /// [`Failure::line`], without cleaning.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.line(str::to_owned))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_readme_documents_these_exit_codes() {
        let readme = include_str!("../README.md");
        assert!(
            readme.contains(EXIT_CODES),
            "cli/README.md's exit codes differ from EXIT_CODES"
        );
    }

    #[test]
    fn usage_and_io_map_to_their_codes_on_one_line() {
        let usage = Failure::Usage("bad\nvalue".into());
        assert_eq!(usage.exit() as i32, 2);
        assert_eq!(
            usage.to_string(),
            "error: bad value; see `avala <command> --help`"
        );
        assert_eq!(Failure::Io("x".into()).exit() as i32, 1);
    }

    #[test]
    fn a_download_conflict_exits_1_naming_the_file_and_the_way_out() {
        let conflict = |overwritable| {
            Failure::Sdk(avala::Error::FileConflict {
                path: "out/.env".into(),
                reason: "it differs".into(),
                overwritable,
            })
        };
        let differs = conflict(true);
        assert_eq!(differs.exit() as i32, 1);
        assert_eq!(
            differs.to_string(),
            "error: refusing to write out/.env: it differs; pass --overwrite to replace it, or move it away"
        );
        let link = conflict(false);
        assert_eq!(link.exit() as i32, 1);
        assert!(!link.to_string().contains("--overwrite"), "{link}");
    }

    #[test]
    fn a_failed_job_exits_1_and_a_timeout_8() {
        let failed = Failure::Sdk(avala::Error::JobFailed {
            job: "export exp_1".into(),
            status: "failed".into(),
        });
        assert_eq!(failed.exit(), Exit::Other);
        assert!(
            failed.to_string().starts_with(
                "error: export exp_1 failed; last status: failed; the job itself failed"
            ),
            "{failed}"
        );
        let timeout = Failure::Sdk(avala::Error::WaitTimeout {
            waited: std::time::Duration::from_secs(1),
            last_status: Some("running".into()),
        });
        assert_eq!(timeout.exit(), Exit::Timeout);
    }
}
