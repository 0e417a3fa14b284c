//! Zero-copy import: a dataset over an existing S3 or GCS bucket.
//!
//! Nothing is uploaded. The dataset is created (`create_dataset`) with a
//! `provider_config` naming the bucket, its prefix and credentials, and the
//! server indexes the objects where they are. The steps, as the Python SDK's
//! `import_cloud` takes them:
//!
//! 1. The bucket comes from an `s3://bucket/prefix` or `gs://bucket/prefix`
//!    URI ([`CloudUri`]), or from a saved, verified storage configuration.
//!    A storage configuration belongs to an organization, so it needs
//!    [`CloudImport::organization_uid`]: the configuration is read within that
//!    organization (by its slug), and the dataset is created in it. The
//!    configuration's region wins over [`CloudImport::region`]; a URI given
//!    with it may only narrow the configuration's prefix, compared exactly
//!    (`a`, `a/`, `/a` and `a//` are different S3 prefixes).
//! 2. Credentials: for S3 an access key pair or a keyless IAM role
//!    (which needs an owning organization: the server reads the
//!    cross-account external id from it); for GCS a service account's JSON.
//!    The server never returns them, so a storage configuration does not
//!    supply them either. S3 also needs a region.
//! 3. `include_extensions` and `ignore_paths` narrow what is indexed; the
//!    server indexes only files of the dataset's `data_type`.
//! 4. With [`CloudImport::wait`], the dataset's `created` status is awaited
//!    (the one waiter, [`crate::wait`]).
//!
//! Credentials never appear in `Debug`, and are scrubbed from every error
//! (a server may echo a request body).

use std::{fmt, time::Duration};

use crate::{
    types::{self, DataType, DatasetVisibility, S3AuthMethod, StorageProvider},
    Client, Error, Result,
};

/// A bucket and prefix named by a URI: `s3://bucket/prefix`,
/// `gs://bucket/prefix` or `gcs://bucket/prefix`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CloudUri {
    /// `aws_s3` or `gc_storage`.
    pub provider: StorageProvider,
    /// The bucket's name.
    pub bucket: String,
    /// Everything after the bucket's `/`, exactly (may be empty).
    pub prefix: String,
}

impl CloudUri {
    /// Parses a bucket URI; anything else is [`Error::InvalidArgument`].
    pub fn parse(uri: &str) -> Result<Self> {
        let schemes = [
            ("s3://", StorageProvider::AwsS3),
            ("gs://", StorageProvider::GcStorage),
            ("gcs://", StorageProvider::GcStorage),
        ];
        let (rest, provider) = schemes
            .into_iter()
            .find_map(|(scheme, provider)| Some((uri.strip_prefix(scheme)?, provider)))
            .ok_or_else(|| {
                Error::invalid("a cloud URI is s3://bucket/prefix or gs://bucket/prefix")
            })?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() || bucket.chars().any(|c| c.is_control() || c == ' ') {
            return Err(Error::invalid(
                "the cloud URI names no valid bucket (s3://bucket/prefix)",
            ));
        }
        Ok(Self {
            provider,
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
        })
    }
}

/// A credential; its secret part is never shown.
#[derive(Clone)]
enum Credentials {
    AccessKey { id: String, secret: String },
    Role(String),
    GcsServiceAccount(String),
}

impl Credentials {
    /// What [`Error::without_secrets`] removes from an error.
    fn secrets(&self) -> Vec<&str> {
        match self {
            Self::AccessKey { id, secret } => vec![id, secret],
            Self::Role(arn) => vec![arn],
            Self::GcsServiceAccount(json) => vec![json],
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::AccessKey { .. } => "AccessKey([redacted])",
            Self::Role(_) => "Role([redacted])",
            Self::GcsServiceAccount(_) => "GcsServiceAccount([redacted])",
        })
    }
}

impl Client {
    /// Creates the dataset `name`/`slug` over an existing bucket, without
    /// copying a byte: see [`crate::cloud_import`] for the steps. Give the
    /// bucket with [`CloudImport::uri`] or [`CloudImport::storage_config`].
    pub fn import_cloud(
        &self,
        name: impl Into<String>,
        slug: impl Into<String>,
        data_type: DataType,
    ) -> CloudImport<'_> {
        CloudImport {
            client: self,
            name: name.into(),
            slug: slug.into(),
            data_type,
            uri: None,
            storage_config: None,
            region: None,
            credentials: None,
            accelerated: false,
            include_extensions: Vec::new(),
            ignore_paths: Vec::new(),
            visibility: None,
            owner_name: None,
            organization_uid: None,
            organization_id: None,
            wait: None,
        }
    }
}

/// A zero-copy import, built by [`Client::import_cloud`].
#[derive(Debug)]
#[must_use = "nothing is sent until `.send()`"]
pub struct CloudImport<'c> {
    client: &'c Client,
    name: String,
    slug: String,
    data_type: DataType,
    uri: Option<String>,
    storage_config: Option<String>,
    region: Option<String>,
    credentials: Option<Credentials>,
    accelerated: bool,
    include_extensions: Vec<String>,
    ignore_paths: Vec<String>,
    visibility: Option<DatasetVisibility>,
    owner_name: Option<String>,
    organization_uid: Option<String>,
    organization_id: Option<i64>,
    wait: Option<Duration>,
}

impl CloudImport<'_> {
    /// The bucket and prefix: `s3://bucket/prefix` or `gs://bucket/prefix`.
    /// With a storage configuration, it may only narrow its prefix.
    pub fn uri(mut self, uri: impl Into<String>) -> Self {
        self.uri = Some(uri.into());
        self
    }

    /// Reuse a saved, verified storage configuration's bucket, region and
    /// prefix (needs [`Self::organization_uid`]; credentials still needed).
    pub fn storage_config(mut self, uid: impl Into<String>) -> Self {
        self.storage_config = Some(uid.into());
        self
    }

    /// The S3 bucket's region (required for S3 unless a storage
    /// configuration gives it).
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// S3 static credentials.
    pub fn access_key(mut self, id: impl Into<String>, secret: impl Into<String>) -> Self {
        self.credentials = Some(Credentials::AccessKey {
            id: id.into(),
            secret: secret.into(),
        });
        self
    }

    /// S3 keyless access through an IAM role that trusts Avala's account
    /// (needs an owning organization).
    pub fn role_arn(mut self, arn: impl Into<String>) -> Self {
        self.credentials = Some(Credentials::Role(arn.into()));
        self
    }

    /// GCS: the service account's JSON key (its content, not a path).
    pub fn gcs_service_account_json(mut self, json: impl Into<String>) -> Self {
        self.credentials = Some(Credentials::GcsServiceAccount(json.into()));
        self
    }

    /// S3 Transfer Acceleration (a storage configuration's setting wins).
    pub fn accelerated(mut self, yes: bool) -> Self {
        self.accelerated = yes;
        self
    }

    /// Index only files with these extensions (e.g. `["jpg", "png"]`).
    pub fn include_extensions<S: Into<String>>(
        mut self,
        exts: impl IntoIterator<Item = S>,
    ) -> Self {
        self.include_extensions = exts.into_iter().map(Into::into).collect();
        self
    }

    /// Skip objects whose keys match these glob paths.
    pub fn ignore_paths<S: Into<String>>(mut self, globs: impl IntoIterator<Item = S>) -> Self {
        self.ignore_paths = globs.into_iter().map(Into::into).collect();
        self
    }

    /// Who can see the dataset (the server's default: private).
    pub fn visibility(mut self, visibility: DatasetVisibility) -> Self {
        self.visibility = Some(visibility);
        self
    }

    /// The owning user, by username or email.
    pub fn owner(mut self, name: impl Into<String>) -> Self {
        self.owner_name = Some(name.into());
        self
    }

    /// The owning organization, by uid (preferred).
    pub fn organization_uid(mut self, uid: impl Into<String>) -> Self {
        self.organization_uid = Some(uid.into());
        self
    }

    /// The owning organization, by numeric id.
    pub fn organization_id(mut self, id: i64) -> Self {
        self.organization_id = Some(id);
        self
    }

    /// Then wait up to `timeout` for the dataset to be `created` (indexed).
    pub fn wait(mut self, timeout: Duration) -> Self {
        self.wait = Some(timeout);
        self
    }

    /// Checks the settings, creates the dataset and, with
    /// [`Self::wait`], waits for it. Every check runs before any request.
    pub async fn send(self) -> Result<types::Dataset> {
        let secrets: Vec<String> = self
            .credentials
            .iter()
            .flat_map(|c| c.secrets())
            .map(str::to_owned)
            .collect();
        let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
        self.run().await.map_err(|e| e.without_secrets(&secrets))
    }

    async fn run(self) -> Result<types::Dataset> {
        self.check()?;
        let bucket = self.bucket().await?;
        let body = types::CreateDatasetRequest {
            name: self.name.clone(),
            slug: self.slug.clone(),
            data_type: self.data_type.clone(),
            provider_config: Some(self.provider_config(bucket)?),
            visibility: self.visibility.clone(),
            owner_name: self.owner_name.clone(),
            organization_uid: self.organization_uid.clone(),
            organization_id: self.organization_id,
            create_metadata: None,
            gpu_texture_format: None,
            industry: None,
            license: None,
            metadata: Default::default(),
        };
        let dataset = self
            .client
            .create_dataset()
            .body(body)
            .send()
            .await?
            .into_inner();
        match self.wait {
            Some(timeout) => {
                self.client
                    .wait_for_dataset(&dataset.uid)
                    .timeout(timeout)
                    .send()
                    .await
            }
            None => Ok(dataset),
        }
    }

    /// The rules that need no request.
    fn check(&self) -> Result<()> {
        if self.uri.is_none() && self.storage_config.is_none() {
            return Err(Error::invalid(
                "give the bucket: a cloud URI (s3://... or gs://...) or a storage configuration",
            ));
        }
        let has_org = self.organization_uid.is_some() || self.organization_id.is_some();
        if matches!(self.credentials, Some(Credentials::Role(_))) && !has_org {
            return Err(Error::invalid(
                "a keyless S3 import (role ARN) needs an owning organization: the server reads the cross-account external id from it; give organization_uid",
            ));
        }
        if self.storage_config.is_some() && self.organization_uid.is_none() {
            return Err(Error::invalid(
                "a storage configuration belongs to an organization: give its organization_uid (an organization_id cannot scope the lookup)",
            ));
        }
        if let Some(uri) = &self.uri {
            CloudUri::parse(uri)?;
        }
        Ok(())
    }

    /// The bucket, region and acceleration: from the URI, or from the
    /// storage configuration narrowed by the URI.
    async fn bucket(&self) -> Result<Bucket> {
        let uri = self.uri.as_deref().map(CloudUri::parse).transpose()?;
        let (Some(config), Some(org_uid)) = (&self.storage_config, &self.organization_uid) else {
            let uri = uri.ok_or_else(|| Error::invalid("a cloud URI is needed"))?;
            return Ok(Bucket {
                uri,
                region: self.region.clone(),
                accelerated: self.accelerated,
            });
        };
        let org = self.client.organization_slug(org_uid).await?.ok_or_else(|| {
            Error::invalid(format!(
                "you are not a member of organization {org_uid}, which must own the storage configuration and the dataset"
            ))
        })?;
        let saved = self
            .client
            .get_storage_config()
            .uid(config)
            .organization(org)
            .send()
            .await?
            .into_inner();
        from_config(saved, uri, self.region.clone())
    }

    /// The `provider_config` body.
    fn provider_config(&self, bucket: Bucket) -> Result<types::ProviderConfig> {
        let mut p = types::ProviderConfig {
            provider: Some(bucket.uri.provider.clone()),
            included_extensions: csv(&self.include_extensions),
            ignored_paths: csv(&self.ignore_paths),
            ..Default::default()
        };
        let from_config = self.storage_config.is_some();
        match (&bucket.uri.provider, &self.credentials) {
            (StorageProvider::AwsS3, credentials) => {
                p.s3_bucket_name = Some(bucket.uri.bucket);
                p.s3_bucket_prefix = Some(bucket.uri.prefix);
                p.s3_bucket_region = Some(
                    bucket
                        .region
                        .filter(|r| !r.trim().is_empty())
                        .ok_or_else(|| {
                            Error::invalid(
                                "an S3 import needs the bucket's region (e.g. us-west-2)",
                            )
                        })?,
                );
                p.s3_is_accelerated = Some(bucket.accelerated);
                match credentials {
                    Some(Credentials::AccessKey { id, secret }) => {
                        p.s3_auth_method = Some(S3AuthMethod::AccessKey);
                        p.s3_access_key_id = Some(id.clone());
                        p.s3_secret_access_key = Some(secret.clone());
                    }
                    Some(Credentials::Role(arn)) => {
                        p.s3_auth_method = Some(S3AuthMethod::IamRole);
                        p.s3_role_arn = Some(arn.clone());
                    }
                    Some(Credentials::GcsServiceAccount(_)) => {
                        return Err(Error::invalid("a GCS service account cannot open an S3 bucket; give an access key or a role ARN"))
                    }
                    None if from_config => return Err(Error::invalid(
                        "a storage configuration gives the bucket, region and prefix but not the credentials (the server never returns them): also give an access key or a role ARN",
                    )),
                    None => return Err(Error::invalid("an S3 import needs credentials: an access key (id and secret) or a role ARN")),
                }
            }
            (StorageProvider::GcStorage, Some(Credentials::GcsServiceAccount(json))) => {
                p.gc_storage_bucket_name = Some(bucket.uri.bucket);
                p.gc_storage_prefix = Some(bucket.uri.prefix);
                p.gc_storage_auth_json_content = Some(json.clone());
            }
            (StorageProvider::GcStorage, _) => {
                return Err(Error::invalid(
                    "a GCS import needs the service account's JSON key (and no S3 credentials)",
                ))
            }
            (other, _) => {
                return Err(Error::invalid(format!(
                    "the storage provider {other} is not supported"
                )))
            }
        }
        Ok(p)
    }
}

/// Where the objects are.
struct Bucket {
    uri: CloudUri,
    region: Option<String>,
    accelerated: bool,
}

/// The bucket of a saved configuration, narrowed by `uri`: same provider,
/// same bucket, and a prefix inside the configuration's, compared exactly.
fn from_config(
    saved: types::StorageConfig,
    uri: Option<CloudUri>,
    region: Option<String>,
) -> Result<Bucket> {
    if !saved.is_verified {
        return Err(Error::invalid(format!(
            "storage configuration {} is not verified; test it (storage-configs test) and fix the access it reports",
            saved.uid
        )));
    }
    let (bucket, prefix, region, accelerated) = match &saved.provider {
        // The configuration's region wins: it is the one that was verified.
        StorageProvider::AwsS3 => (
            saved.s3_bucket_name,
            saved.s3_bucket_prefix,
            saved.s3_bucket_region.or(region),
            saved.s3_is_accelerated,
        ),
        StorageProvider::GcStorage => (
            saved.gc_storage_bucket_name,
            saved.gc_storage_prefix,
            region,
            false,
        ),
        other => {
            return Err(Error::invalid(format!(
                "the storage provider {other} is not supported"
            )))
        }
    };
    let bucket = bucket.filter(|b| !b.is_empty()).ok_or_else(|| {
        Error::invalid(format!("storage configuration {} has no bucket", saved.uid))
    })?;
    let prefix = prefix.unwrap_or_default();
    let prefix = match uri {
        None => prefix,
        Some(uri) => narrowed(&saved.provider, &bucket, &prefix, uri)?,
    };
    Ok(Bucket {
        uri: CloudUri {
            provider: saved.provider,
            bucket,
            prefix,
        },
        region,
        accelerated,
    })
}

/// The URI's prefix, when it lies inside the configuration's `prefix` of
/// the same provider and bucket. A prefix not ending in `/` is taken as a
/// directory: `data` admits `data/x`, never `data-old/x`.
fn narrowed(
    provider: &StorageProvider,
    bucket: &str,
    prefix: &str,
    uri: CloudUri,
) -> Result<String> {
    if &uri.provider != provider || uri.bucket != bucket {
        return Err(Error::invalid(format!(
            "the URI names {} bucket {}, but the storage configuration is for {provider} bucket {bucket}",
            uri.provider, uri.bucket
        )));
    }
    if prefix.is_empty() || uri.prefix == prefix {
        return Ok(uri.prefix);
    }
    let boundary = if prefix.ends_with('/') {
        prefix.to_owned()
    } else {
        format!("{prefix}/")
    };
    if !uri.prefix.starts_with(&boundary) {
        return Err(Error::invalid(format!(
            "the URI's prefix {:?} is outside the storage configuration's prefix {prefix:?}; a URI may only narrow it (every '/' counts in an S3 key)",
            uri.prefix
        )));
    }
    Ok(uri.prefix)
}

/// `["jpg", " png "]` → `"jpg,png"` (the server's filter misses padded
/// entries); `None` when nothing is left.
fn csv(items: &[String]) -> Option<String> {
    let joined: Vec<&str> = items
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect();
    (!joined.is_empty()).then(|| joined.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(text: &str) -> CloudUri {
        CloudUri::parse(text).unwrap()
    }

    #[test]
    fn uris_name_a_provider_a_bucket_and_an_exact_prefix() {
        let u = uri("s3://bkt/a//b/");
        assert_eq!(
            (u.provider, u.bucket.as_str(), u.prefix.as_str()),
            (StorageProvider::AwsS3, "bkt", "a//b/")
        );
        assert_eq!(uri("gs://g").prefix, "");
        assert_eq!(uri("gcs://g/p").provider, StorageProvider::GcStorage);
        for bad in ["http://bkt/p", "s3://", "s3:///p", "s3://b b/p", "bkt/p"] {
            assert!(CloudUri::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_uri_may_only_narrow_the_configurations_prefix() {
        let s3 = StorageProvider::AwsS3;
        let ok = |p: &str, u: &str| narrowed(&s3, "bkt", p, uri(u));
        assert_eq!(ok("data", "s3://bkt/data/run-1").unwrap(), "data/run-1");
        assert_eq!(ok("data/", "s3://bkt/data/").unwrap(), "data/");
        assert_eq!(ok("", "s3://bkt/anything").unwrap(), "anything");
        for outside in [
            "s3://bkt/data-old/x",
            "s3://bkt//data/x",
            "s3://bkt/dat",
            "s3://bkt/other",
        ] {
            let err = ok("data", outside).unwrap_err();
            assert!(err.to_string().contains("outside"), "{outside}: {err}");
        }
        assert!(ok("data", "s3://other/data/x")
            .unwrap_err()
            .to_string()
            .contains("bucket other"));
        assert!(narrowed(&s3, "bkt", "", uri("gs://bkt/x")).is_err());
    }

    #[test]
    fn lists_become_trimmed_csv() {
        assert_eq!(
            csv(&["jpg".into(), " png ".into(), "".into()]).as_deref(),
            Some("jpg,png")
        );
        assert_eq!(csv(&[" ".into()]), None);
    }

    #[test]
    fn credentials_are_never_shown() {
        let shown = format!(
            "{:?} {:?} {:?}",
            Credentials::AccessKey {
                id: "AKIDSHOWN".into(),
                secret: "s3cr3t".into()
            },
            Credentials::Role("arn:aws:iam::1:role/r".into()),
            Credentials::GcsServiceAccount("{\"private_key\":\"pk\"}".into())
        );
        assert!(
            !shown.contains("s3cr3t") && !shown.contains("AKIDSHOWN") && !shown.contains("pk\""),
            "{shown}"
        );
    }
}
