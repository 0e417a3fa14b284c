//! Downloads to disk: an export's file ([`crate::Client::download_export`],
//! [`ExportDownload`]), and the local side every download shares (the
//! target's checks, the temporary file, the atomic write), which the
//! resolver uses too.

mod export;
pub(crate) mod file;

pub use export::{DownloadProgress, ExportDownload, ExportFile};
