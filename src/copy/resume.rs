//! Finding the upload of ours a copy resumes, by its fingerprint, among those on the key; and
//! aborting ours that are not resumed.

use tracing::warn;

use super::progress::{Fingerprint, Record};
use crate::error::{ReplicationError, Side};
use crate::run::Run;
use crate::store::{DestinationStore, ReplicaSpec, UploadedPart};

/// One layout a copy may be in: the fingerprint that proves an upload ours in it, and its parts.
pub(super) type Proof<'a> = (Option<&'a Fingerprint>, &'a [(u64, u64)]);

/// An upload of ours found for this copy.
pub(super) struct Found {
    /// Which of the copy's layouts it is in.
    pub(super) at: usize,
    /// The upload id.
    pub(super) id: String,
    /// Its parts that fit the layout.
    pub(super) done: Vec<(u32, UploadedPart)>,
    /// What its progress record holds.
    pub(super) record: Record,
    /// When the record was written, as ListParts says.
    pub(super) written: Option<std::time::SystemTime>,
}

/// The upload of ours for exactly this copy that is furthest along (in the layout of the smallest
/// parts, a switch being for good), with its parts that fit its layout. Other uploads of ours for
/// this copy are aborted; anyone else's are left alone.
pub(super) async fn find_ours<D: DestinationStore>(
    destination: &D,
    target: &ReplicaSpec,
    layouts: &[Proof<'_>],
    run: &Run,
) -> Result<Option<Found>, ReplicationError> {
    let dst = |f| ReplicationError::classify(Side::Destination, f);
    run.start()?;
    let mut best: Option<Found> = None;
    for id in destination.list_uploads(target).await.map_err(dst)? {
        run.start()?;
        let parts = destination.list_parts(target, &id).await.map_err(dst)?;
        // The fingerprint is part 10,000, or in a part's place (a layout of 10,000 parts, or an
        // endpoint whose Complete refuses a part it does not list): any part proves it, as no
        // copied part can have its ETag (the MD5 or checksum of bytes made for this copy).
        let proven = layouts
            .iter()
            .enumerate()
            .rev()
            .find_map(|(at, (fingerprint, _))| {
                let fingerprint = (*fingerprint)?;
                parts
                    .iter()
                    .find_map(|(_, size, part)| {
                        fingerprint.read(*size, part).map(|r| (r, part.written))
                    })
                    .map(|(record, written)| (at, fingerprint, record, written))
            });
        let Some((at, fingerprint, record, written)) = proven else {
            continue;
        };
        let done: Vec<(u32, UploadedPart)> = parts
            .into_iter()
            .filter(|(n, size, part)| {
                fingerprint.read(*size, part).is_none()
                    && layouts[at]
                        .1
                        .get((*n as usize).wrapping_sub(1))
                        .is_some_and(|(start, end)| end - start == *size)
            })
            .map(|(n, _, part)| (n, part))
            .collect();
        let found = Found {
            at,
            id,
            done,
            record,
            written,
        };
        let better = best
            .as_ref()
            .is_none_or(|b| (found.at, found.done.len()) > (b.at, b.done.len()));
        let extra = if better {
            best.replace(found).map(|b| b.id)
        } else {
            Some(found.id)
        };
        if let Some(extra) = extra {
            abort(destination, target, &extra).await;
        }
    }
    Ok(best)
}

/// Aborts an upload of ours (the caller has proven it ours).
pub(super) async fn abort<D: DestinationStore>(destination: &D, target: &ReplicaSpec, id: &str) {
    if let Err(e) = destination.abort_multipart(target, id).await {
        warn!(bucket = %target.bucket, key = %target.key, upload_id = %id, error = %e,
              "could not abort our upload; the bucket's lifecycle rule removes it");
    }
}
