//! `datasets get-frame` and `datasets get-calibration`: the SDK's
//! `get_frame` / `get_calibration` (Python's commands of the same names).

use clap::{value_parser, Arg, ArgMatches, Command};
use futures::future::LocalBoxFuture;

use super::{required, to_json, Workflow};
use crate::{
    context::Context,
    failure::{Failure, Result},
    output::Outcome,
};

pub const DATASETS_GET_FRAME: Workflow = Workflow {
    path: &["datasets", "get-frame"],
    command: |c| {
        sequence_args(c.about("A frame of a sequence, typed: pose, camera model, cameras")).arg(
            Arg::new("frame-index")
                .required(true)
                .value_name("FRAME_INDEX")
                .value_parser(value_parser!(usize))
                .help("The frame's index, from 0"),
        )
    },
    run: get_frame,
};

pub const DATASETS_GET_CALIBRATION: Workflow = Workflow {
    path: &["datasets", "get-calibration"],
    command: |c| sequence_args(c.about("The camera rig of a sequence, read from its first frame")),
    run: get_calibration,
};

/// `OWNER SLUG SEQUENCE_UID`, as the Python CLI orders them.
fn sequence_args(c: Command) -> Command {
    c.arg(
        Arg::new("owner")
            .required(true)
            .value_name("OWNER")
            .help("The dataset's owner"),
    )
    .arg(
        Arg::new("slug")
            .required(true)
            .value_name("SLUG")
            .help("The dataset's slug"),
    )
    .arg(
        Arg::new("sequence-uid")
            .required(true)
            .value_name("SEQUENCE_UID")
            .help("The sequence's uid"),
    )
}

fn get_frame<'a>(ctx: &'a Context, m: &'a ArgMatches) -> LocalBoxFuture<'a, Result<Outcome>> {
    Box::pin(async move {
        let index = m
            .get_one::<usize>("frame-index")
            .copied()
            .ok_or_else(|| Failure::Usage("<FRAME_INDEX> is required".into()))?;
        let (owner, slug, sequence) = (
            required(m, "owner")?,
            required(m, "slug")?,
            required(m, "sequence-uid")?,
        );
        let frame = ctx
            .client()?
            .get_frame(owner, slug, sequence, index)
            .await?;
        Ok(Outcome::Value(to_json(&frame)))
    })
}

fn get_calibration<'a>(ctx: &'a Context, m: &'a ArgMatches) -> LocalBoxFuture<'a, Result<Outcome>> {
    Box::pin(async move {
        let (owner, slug, sequence) = (
            required(m, "owner")?,
            required(m, "slug")?,
            required(m, "sequence-uid")?,
        );
        let rig = ctx.client()?.get_calibration(owner, slug, sequence).await?;
        Ok(Outcome::Value(to_json(&rig)))
    })
}
