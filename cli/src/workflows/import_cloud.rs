//! `import cloud URI`: the SDK's zero-copy import (`Client::import_cloud`),
//! with the Python CLI's flags. Credentials come from flags or the AWS
//! variables; they are added to the redaction before anything runs.

use std::time::Duration;

use clap::{value_parser, Arg, ArgAction, ArgMatches};
use futures::future::LocalBoxFuture;

use super::{required, seconds, timeout_arg, to_json, wait_flag, Workflow};
use crate::{
    context::Context,
    failure::{Failure, Result},
    output::Outcome,
    progress::Progress,
};

/// The wait's default, as the Python CLI's.
const WAIT_TIMEOUT: Duration = Duration::from_secs(3600);

pub const IMPORT_CLOUD: Workflow = Workflow {
    path: &["import", "cloud"],
    command: |c| {
        let text =
            |id: &'static str, long: &'static str, value: &'static str, help: &'static str| {
                Arg::new(id).long(long).value_name(value).help(help)
            };
        c.about(
            "Create a dataset over an existing S3 or GCS bucket: zero-copy, nothing is uploaded",
        )
        .after_help(
            "Give the bucket as URI (s3://bucket/prefix or gs://bucket/prefix) or with \
--storage-config (then --organization-uid too; a URI may only narrow its prefix). S3 needs \
--region and an access key (--access-key-id/--secret-access-key, or AWS_ACCESS_KEY_ID/\
AWS_SECRET_ACCESS_KEY) or a keyless --role-arn (with --organization-uid). GCS needs \
--gcs-auth-json (the JSON, or the path of the key file).",
        )
        .arg(
            Arg::new("uri")
                .value_name("URI")
                .help("s3://bucket/prefix or gs://bucket/prefix"),
        )
        .arg(text("name", "name", "NAME", "The dataset's name").required(true))
        .arg(text("slug", "slug", "SLUG", "The dataset's slug").required(true))
        .arg(
            text(
                "data-type",
                "data-type",
                "TYPE",
                "What the server indexes from the bucket",
            )
            .required(true)
            .value_parser(["image", "video", "lidar", "mcap", "splat"]),
        )
        .arg(text(
            "storage-config",
            "storage-config",
            "UID",
            "Reuse a saved storage configuration's bucket, region and prefix",
        ))
        .arg(text(
            "region",
            "region",
            "REGION",
            "The S3 bucket's region [default: AWS_REGION]",
        ))
        .arg(text(
            "access-key-id",
            "access-key-id",
            "ID",
            "S3 access key id [default: AWS_ACCESS_KEY_ID]",
        ))
        .arg(text(
            "secret-access-key",
            "secret-access-key",
            "SECRET",
            "S3 secret access key [default: AWS_SECRET_ACCESS_KEY]",
        ))
        .arg(text(
            "role-arn",
            "role-arn",
            "ARN",
            "S3 keyless access through this IAM role",
        ))
        .arg(
            Arg::new("accelerated")
                .long("accelerated")
                .action(ArgAction::SetTrue)
                .help("Use S3 Transfer Acceleration"),
        )
        .arg(text(
            "gcs-auth-json",
            "gcs-auth-json",
            "JSON|PATH",
            "GCS service account key: the JSON, or a path to the .json file",
        ))
        .arg(text(
            "include-extensions",
            "include-extensions",
            "LIST",
            "Comma-separated extensions to index, e.g. jpg,png",
        ))
        .arg(text(
            "ignore-paths",
            "ignore-paths",
            "LIST",
            "Comma-separated glob paths to skip",
        ))
        .arg(text(
            "owner",
            "owner",
            "NAME",
            "The owning user (username or email)",
        ))
        .arg(text(
            "organization-uid",
            "organization-uid",
            "UID",
            "The owning organization",
        ))
        .arg(
            text(
                "organization-id",
                "organization-id",
                "ID",
                "The owning organization, by numeric id",
            )
            .value_parser(value_parser!(i64)),
        )
        .arg(wait_flag("the server has indexed the bucket (`created`)"))
        .arg(timeout_arg("3600").requires("wait"))
    },
    run,
};

fn run<'a>(ctx: &'a Context, m: &'a ArgMatches) -> LocalBoxFuture<'a, Result<Outcome>> {
    Box::pin(async move {
        let flag = |name: &str| m.get_one::<String>(name).map(String::as_str);
        let client = ctx.client()?;
        let mut import = client.import_cloud(
            required(m, "name")?,
            required(m, "slug")?,
            required(m, "data-type")?.into(),
        );
        if let Some(uri) = flag("uri") {
            import = import.uri(uri);
        }
        if let Some(uid) = flag("storage-config") {
            import = import.storage_config(uid);
        }
        if let Some(region) = flag("region")
            .map(str::to_owned)
            .or_else(|| env_var("AWS_REGION"))
        {
            import = import.region(region);
        }
        import = import.accelerated(m.get_flag("accelerated"));
        import = with_credentials(ctx, import, m)?;
        let list =
            |name: &str| flag(name).map(|v| v.split(',').map(str::to_owned).collect::<Vec<_>>());
        if let Some(exts) = list("include-extensions") {
            import = import.include_extensions(exts);
        }
        if let Some(globs) = list("ignore-paths") {
            import = import.ignore_paths(globs);
        }
        if let Some(owner) = flag("owner") {
            import = import.owner(owner);
        }
        if let Some(uid) = flag("organization-uid") {
            import = import.organization_uid(uid);
        }
        if let Some(id) = m.get_one::<i64>("organization-id") {
            import = import.organization_id(*id);
        }
        let waiting = m.get_flag("wait");
        if waiting {
            import = import.wait(seconds(m, "timeout").unwrap_or(WAIT_TIMEOUT));
        }
        let progress = waiting.then(|| Progress::spinner(ctx.interactive, "indexing the bucket"));
        let dataset = import.send().await;
        drop(progress);
        Ok(Outcome::Value(to_json(&dataset?)))
    })
}

/// The credentials from the flags or the AWS variables, each added to the
/// redaction first; at most one kind.
fn with_credentials<'c>(
    ctx: &Context,
    mut import: avala::cloud_import::CloudImport<'c>,
    m: &ArgMatches,
) -> Result<avala::cloud_import::CloudImport<'c>> {
    let flag = |name: &str| m.get_one::<String>(name).cloned();
    let key_id = flag("access-key-id").or_else(|| env_var("AWS_ACCESS_KEY_ID"));
    let secret = flag("secret-access-key").or_else(|| env_var("AWS_SECRET_ACCESS_KEY"));
    let role = flag("role-arn");
    let gcs = flag("gcs-auth-json").map(|v| gcs_json(&v)).transpose()?;
    for secret in [&key_id, &secret, &role, &gcs].into_iter().flatten() {
        ctx.redactor.add(secret);
    }
    let kinds = usize::from(key_id.is_some() || secret.is_some())
        + usize::from(role.is_some())
        + usize::from(gcs.is_some());
    if kinds > 1 {
        return Err(Failure::Usage(
            "give one kind of credentials: an access key, --role-arn, or --gcs-auth-json".into(),
        ));
    }
    match (key_id, secret, role, gcs) {
        (Some(id), Some(secret), None, None) => import = import.access_key(id, secret),
        (Some(_), None, ..) | (None, Some(_), ..) => {
            return Err(Failure::Usage(
                "an access key needs both --access-key-id and --secret-access-key (or both AWS variables)".into(),
            ))
        }
        (_, _, Some(arn), _) => import = import.role_arn(arn),
        (_, _, _, Some(json)) => import = import.gcs_service_account_json(json),
        _ => {}
    }
    Ok(import)
}

/// A variable of the environment; unset, blank or not UTF-8 counts as none.
fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// `--gcs-auth-json`: inline JSON (starts with `{`), else the path of a key
/// file. The value is never quoted in an error: it may be the key itself.
fn gcs_json(value: &str) -> Result<String> {
    if value.trim_start().starts_with('{') {
        return Ok(value.to_owned());
    }
    std::fs::read_to_string(value).map_err(|_| {
        Failure::Usage(
            "--gcs-auth-json is neither inline JSON nor a readable key file (the value is not shown: it may be a key)".into(),
        )
    })
}
