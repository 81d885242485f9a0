//! Which of two writes of a key is the later, as the engine asks it: always by the one order of
//! writes (`crate::order`), which every side of a two-way or fan-in setup computes alike from
//! what S3 records. No event time, no bucket's own history: those differ by side.

use aws_smithy_types::DateTime;

use super::*;
use crate::order::{write_of, write_order, Write};

/// The write the source's version `head` of the event's key stands for in the one order.
pub(crate) fn source_write(event: &ObjectEvent, head: &SourceVersion) -> Write {
    write_of(head, &event.bucket, &event.key)
}

/// The write a delete marker put in `bucket` at `put` stands for; `None` where the server did not
/// say when (then the bucket's history decides, as before the one order).
pub(crate) fn marker_write(put: Option<&DateTime>, bucket: &str) -> Option<Write> {
    put.map(|t| Write {
        secs: t.secs(),
        etag: String::new(),
        bucket: bucket.to_owned(),
    })
}

/// Whether `a` is later than `b` in the one order.
pub(crate) fn later(a: &Write, b: &Write) -> bool {
    write_order(a, b).is_gt()
}

/// Whether the destination's current object `theirs` (at `at`) is an original write later than
/// the source's version `ours` (of `source_bucket`): one written there, or replicated there
/// from another bucket (two-way, fan-in), later in the one order. A replica of `source_bucket`
/// itself is never later: the source's own stack decides between its versions.
pub(crate) fn later_original(
    source_bucket: &str,
    ours: &SourceVersion,
    theirs: &SourceVersion,
    at: &ReplicaLocation,
) -> bool {
    theirs.not_replicated_from(&at.bucket, &at.key, source_bucket)
        && write_order(
            &write_of(theirs, &at.bucket, &at.key),
            &write_of(ours, source_bucket, &at.key),
        )
        .is_gt()
}
