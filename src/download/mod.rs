//! Downloads to disk: the local side every download shares ([`file`]).

pub(crate) mod file;
