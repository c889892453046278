//! Carrying out the admin requests that the action layer validated: SYS answers from the
//! persistence state; MKSNAP answers as skyd 0.6.4 does with snapshots disabled.

use crate::action::{write_sys, AdminRequest};
use crate::persist::Persistence;
use crate::protocol::{error_text, write};
use crate::table::Table;

/// Writes the response element for `request`.
pub fn answer(
    request: &AdminRequest<'_>,
    table: &Table,
    persistence: &Persistence,
    out: &mut Vec<u8>,
) {
    match request {
        AdminRequest::Mksnap { .. } => write::error_text(out, error_text::SNAPSHOT_DISABLED),
        AdminRequest::Sys(property) => write_sys(*property, &persistence.status(table), out),
    }
}
