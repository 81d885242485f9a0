//! A multipart copy: CreateMultipartUpload (all metadata), UploadPartCopy in parallel (each part
//! pinned to the source version and its ETag), CompleteMultipartUpload. For a destination on
//! another endpoint the parts are streamed instead (ranged GetObject, UploadPart).
//!
//! An upload's metadata is fixed when it is created and cannot be read back, so an upload found
//! on the key proves nothing by itself: it may be a user's own, or ours for another source
//! version. An upload this function leaves for a retry therefore gets a fingerprint part first:
//! a few bytes derived from everything the replica must carry (source version, metadata, tags,
//! ACL, encryption, lock, layout). Its ETag is their MD5, which ListParts shows. It is part
//! 10,000, never listed in Complete; a layout of exactly 10,000 parts has no such free number, so
//! there it takes the place of a part not yet copied (or, when every part is, of the last one),
//! which the retry copies again over it. An upload is resumed, completed or aborted only when
//! that part proves it ours for exactly this copy; anyone else's upload is never touched. The
//! part is written right after the upload is created, so a process cut off at any moment leaves
//! an upload its retry resumes; in a layout of 10,000 parts, only when the copy stops with a
//! failure a retry can fix. Its length records the pace of part copies (`progress`), kept
//! pessimistic while parts are in flight, so that the next invocation knows it: no part is
//! started that would not finish, at the slowest pace known, before the time margin, and a
//! layout with a part that cannot finish within an invocation is given up for one of our own
//! whose parts can (`switch`: the abandoned upload, proven ours, is aborted once the new one is
//! proven ours too). (With SSE-KMS, part ETags are not MD5s: there the fingerprint part is
//! proven by its checksum in the upload's algorithm, which ListParts shows too; an SSE-KMS upload
//! without a checksum algorithm cannot be proven, so it is aborted when the copy stops, and the
//! retry starts again.)
//!
//! When the layout is the source's own and part ETags are MD5s, the upload's ETag is computed from
//! its parts before Complete and must equal the source's, and Complete must answer with that
//! ETag. Otherwise (KMS, a layout of our own) the replica is read back after Complete (size,
//! user metadata with the replica marker, content headers). Streamed parts are proven by their
//! MD5s, and where the source has a full-object CRC, by it over the bytes sent (`super::crc`).
//! Either way a wrong replica fails the record loudly; one found wrong after Complete is
//! withdrawn (`super::wrong_replica`). A failure a retry can fix leaves a resumable upload for the retry; any other
//! aborts it (the destination's lifecycle rule removes uploads nobody finishes).

use std::borrow::Cow;

use futures::stream::{self, StreamExt, TryStreamExt};
use md5::{Digest, Md5};
use tracing::{info, warn};

use super::progress::{Fingerprint, Pace, Progress};
use super::resume::{abort, find_ours};
use super::switch;
use crate::copy::MAX_PARTS;
use crate::error::{Disposition, ReplicationError, Side};
use crate::run::Run;
use crate::store::UploadedPart;
use crate::store::{
    Body, CopyRequest, DestinationStore, ReplicaSpec, SourceStore, TargetEncryption, Written,
};

pub use super::progress::checksum_of;

pub use super::progress::FINGERPRINT_PART;

/// How one multipart copy is made.
#[derive(Debug, Clone, Copy)]
pub struct Plan<'a> {
    /// `[start, end)` byte ranges of the parts.
    pub layout: &'a [(u64, u64)],
    /// Tags for the replica (an upload cannot copy them server-side).
    pub tags: &'a [(String, String)],
    /// Parts copied at once.
    pub concurrency: usize,
    /// The source's ETag, when the layout is the source's own and parts are MD5-tagged (no
    /// KMS): the upload is checked against it before Complete.
    pub expected_etag: Option<&'a str>,
    /// How the replica's record is dated when the upload is created.
    pub stamp: super::stamp::Stamp<'a>,
}

/// Where the parts' bytes come from.
pub enum Transfer<'a, S> {
    /// UploadPartCopy: S3 copies the bytes itself.
    ServerSide,
    /// Ranged GetObject from the source, then UploadPart: for destinations on another endpoint.
    /// Each part's bytes stream from the one request into the other; at most `concurrency`
    /// parts are in flight, each holding at most [`crate::aws_s3::BUFFERED_BODY`] in memory.
    Streamed {
        /// The source store.
        source: &'a S,
        /// The source's region.
        region: &'a str,
    },
}

// Copy whatever the store type: only a reference is held.
impl<S> Clone for Transfer<'_, S> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<S> Copy for Transfer<'_, S> {}

/// An upload of ours in progress: its id, whether a later invocation can still prove it ours,
/// and the fingerprint that would prove it (while not written where it stays).
struct Upload {
    id: String,
    resumable: bool,
    fingerprint: Option<Fingerprint>,
}

/// A layout the copy may be made in: the planned one, or one of our own it may switch to.
struct Layout<'r> {
    request: Cow<'r, CopyRequest>,
    parts: Cow<'r, [(u64, u64)]>,
    expected_etag: Option<&'r str>,
    fingerprint: Option<Fingerprint>,
    /// The largest part.
    largest: u64,
}

impl Layout<'_> {
    fn missing(&self, done: &[(u32, UploadedPart)]) -> Vec<(u32, (u64, u64))> {
        (1..)
            .zip(self.parts.iter().copied())
            .filter(|(n, _)| !done.iter().any(|(d, _)| d == n))
            .collect()
    }
}

/// Copies `request`'s source into its target in the parts of `plan`, or where a part of it
/// cannot be copied within an invocation, in parts of our own.
pub async fn copy<D: DestinationStore, S: SourceStore>(
    destination: &D,
    transfer: Transfer<'_, S>,
    request: &CopyRequest,
    plan: Plan<'_>,
    run: &Run,
) -> Result<Written, ReplicationError> {
    // What S3 lets an upload carry: a full-object SHA-1 / SHA-256 becomes composite.
    let request = super::for_upload(request);
    let request = request.as_ref();
    let size = plan.layout.last().map_or(0, |(_, end)| *end);
    let largest = |parts: &[(u64, u64)]| parts.iter().map(|(s, e)| e - s).max().unwrap_or(0);
    // The planned layout, then the layouts of our own it may switch to, smallest parts last.
    let mut layouts = vec![Layout {
        request: Cow::Borrowed(request),
        parts: Cow::Borrowed(plan.layout),
        expected_etag: plan.expected_etag,
        fingerprint: Fingerprint::of(request, plan.layout, plan.tags),
        largest: largest(plan.layout),
    }];
    let own = switch::own_request(request, size);
    for part in switch::own_sizes(size, layouts[0].largest) {
        let parts = super::uniform_layout(size, part);
        layouts.push(Layout {
            fingerprint: Fingerprint::of(&own, &parts, plan.tags),
            request: Cow::Owned(own.clone()),
            parts: Cow::Owned(parts),
            expected_etag: None,
            largest: part,
        });
    }
    let target = &request.target;
    let dst = |f| ReplicationError::classify(Side::Destination, f);
    let server_side = matches!(transfer, Transfer::ServerSide);
    let proofs: Vec<_> = layouts
        .iter()
        .map(|l| (l.fingerprint.as_ref(), l.parts.as_ref()))
        .collect();
    let found = find_ours(destination, target, &proofs, run).await?;
    // What the record says, and what of it is evidence of the pace: a provisional bound another
    // delivery of the event wrote for parts it may be copying still is none (it is no pace at all
    // until those parts' time has passed and they can only have been cut).
    let (mut at, mut upload, mut done, recorded, remembered) = match found {
        Some(found) => {
            info!(bucket = %target.bucket, key = %target.key, upload_id = %found.id,
                  parts = found.done.len(), total = layouts[found.at].parts.len(),
                  "resuming an interrupted multipart copy of ours");
            // A fingerprint in the place of a part is copied over: the proof must be made again
            // should this copy stop too.
            let kept = layouts[found.at].parts.len() < MAX_PARTS as usize && server_side;
            let upload = Upload {
                id: found.id,
                resumable: kept,
                fingerprint: layouts[found.at].fingerprint.clone().filter(|_| !kept),
            };
            let largest = layouts[found.at].largest;
            let now = std::time::SystemTime::now();
            let remembered = found.record.evidence(found.written, largest, now);
            if remembered.is_none() && found.record.pace.is_some() {
                info!(bucket = %target.bucket, key = %target.key,
                      "the upload's pace record is provisional and recent: its parts may be in flight in another delivery, so it is no evidence of the pace yet");
            }
            (
                found.at,
                Some(upload),
                found.done,
                found.record.pace,
                remembered,
            )
        }
        None => (0, None, Vec::new(), None, None),
    };
    // A part that cannot be copied within this invocation, at the pace remembered, never will
    // be: the copy switches to parts of our own that can (giving up the source's ETag).
    let mut abandoned = None;
    let slowest = layouts[at]
        .missing(&done)
        .iter()
        .map(|(_, (s, e))| e - s)
        .max();
    if let (Some(pace), Some(left), Some(part)) = (remembered, run.remaining(), slowest) {
        if switch::hopeless(part, pace, left) {
            let smaller: Vec<u64> = layouts
                .iter()
                .map(|l| l.largest)
                .filter(|p| *p < part)
                .collect();
            match switch::own_size(&smaller, pace, left) {
                Some(to) => {
                    let to_at = layouts.iter().rposition(|l| l.largest == to).unwrap_or(at);
                    warn!(bucket = %target.bucket, key = %target.key, part_bytes = part,
                          pace_mib_s = pace.0 / super::MIB as f64, seconds_left = left.as_secs_f64(),
                          from_parts = layouts[at].parts.len(), to_parts = layouts[to_at].parts.len(),
                          own_part_bytes = to, switch = "own-layout",
                          reason = "a part cannot be copied within one invocation at the pace remembered",
                          "switching the copy to a part layout of our own: the replica's ETag will not be the source's");
                    crate::metrics::layout_switched(&target.bucket);
                    abandoned = upload.take();
                    (at, done) = (to_at, Vec::new());
                }
                None => warn!(bucket = %target.bucket, key = %target.key, part_bytes = part,
                              pace_mib_s = pace.0 / super::MIB as f64,
                              "a part cannot be copied within one invocation and no smaller layout is allowed"),
            }
        }
    }
    let layout = &layouts[at];
    let request = layout.request.as_ref();
    let target = &request.target;
    let missing = layout.missing(&done);
    // Part 10,000 only where Complete may leave it out: another endpoint may refuse an upload
    // holding a part not listed (Ceph RGW), so there it takes a part's place, as at 10,000 parts.
    let recordable = layout.parts.len() < MAX_PARTS as usize && server_side;
    let first = missing
        .iter()
        .take(plan.concurrency.max(1))
        .map(|(_, (s, e))| e - s)
        .max();
    let (upload, progress, created) = match upload {
        Some(upload) => {
            let record = layout.fingerprint.clone().filter(|_| recordable);
            (
                upload,
                Progress::new(record, remembered, recorded, layout.largest),
                false,
            )
        }
        None => {
            run.start()?;
            // An upload is stamped at its initiation: the record is dated for it alone.
            let (dated, limit) = plan.stamp.date(target, size, 0);
            let create = destination.create_multipart(&dated, plan.tags);
            let id =
                super::stamp::within(&plan.stamp, limit, "CreateMultipartUpload", create).await?;
            let mut upload = Upload {
                id,
                resumable: false,
                fingerprint: layout.fingerprint.clone(),
            };
            // The proof goes first, while its part number is free: a cut at any later moment
            // (the function's own deadline, or Lambda's) leaves an upload the retry can resume.
            let start = Progress::new(None, remembered, None, layout.largest);
            let pace = first.and_then(|b| start.lowered(b, run.remaining()));
            let provisional = pace.map(Pace::recorded) != remembered.map(Pace::recorded);
            let marked = match &upload.fingerprint {
                Some(f) if recordable => {
                    let record = (pace, provisional);
                    mark(
                        destination,
                        target,
                        &upload.id,
                        f,
                        FINGERPRINT_PART,
                        record,
                        run,
                    )
                    .await
                }
                _ => false,
            };
            let record = upload.fingerprint.take().filter(|_| marked);
            upload.resumable = marked;
            upload.fingerprint = if marked {
                None
            } else {
                layout.fingerprint.clone()
            };
            let written = if marked { pace } else { None };
            (
                upload,
                Progress::new(record, remembered, written, layout.largest),
                true,
            )
        }
    };
    // The abandoned upload goes once the new one is proven ours: a cut in between leaves the
    // retry an upload it resumes either way.
    if let Some(abandoned) = abandoned {
        abort(destination, target, &abandoned.id).await;
    }
    let id = upload.id.as_str();
    let write = |pace: Option<Pace>, provisional: bool| {
        let record = progress.record.clone();
        async move {
            match &record {
                Some(f) => {
                    let said = (pace, provisional);
                    mark(destination, target, id, f, FINGERPRINT_PART, said, run).await
                }
                None => false,
            }
        }
    };
    // Written first, as if the first parts would be cut: the next invocation then knows (an
    // upload just created was marked so).
    if let Some(bytes) = first.filter(|_| !created) {
        progress
            .set(progress.lowered(bytes, run.remaining()), true, write)
            .await;
    }
    // Where the copy stops, with the parts known copied so far.
    let stopping = |done: &[(u32, UploadedPart)], err| {
        let place = fingerprint_place(layout.parts.len(), recordable, done);
        stop(destination, target, &upload, place, &progress, run, err)
    };
    let md5_parts = !matches!(target.encryption, TargetEncryption::Kms { .. });
    // Streamed bytes are proven by the source's full-object CRC as well (see `super::crc`).
    let streamed = matches!(transfer, Transfer::Streamed { .. });
    let crcs = super::crc::Parts::new(streamed, target.checksum.as_ref());
    let (progress, crcs) = (&progress, &crcs);
    let copied = stream::iter(missing)
        .map(|(number, range)| async move {
            let bytes = range.1 - range.0;
            // A part that could not finish before the time margin at the slowest pace known is
            // not started (it would be cut off, and its time lost).
            if !progress.fits(run, bytes) {
                return Ok(None);
            }
            run.start()?;
            let started = std::time::Instant::now();
            let etag = match transfer {
                Transfer::ServerSide => destination
                    .upload_part_copy(request, id, number, range)
                    .await
                    .map_err(dst)?,
                Transfer::Streamed { source, region } => {
                    run.start()?;
                    let if_match = request.source_if_match.as_deref();
                    let bytes = source
                        .read(region, &request.source, if_match, Some(range))
                        .await
                        .map_err(|f| ReplicationError::classify(Side::Source, f))?;
                    let (bytes, read) = super::tee_crc(bytes, crcs.algorithm());
                    let part = destination
                        .upload_part(target, id, number, bytes)
                        .await
                        .map_err(dst)?;
                    // The destination stored the bytes read from the source, or the part is
                    // refused (a part ETag is their MD5 unless the replica is SSE-KMS).
                    if md5_parts && !part.kms && part.etag != read.etag() {
                        return Err(ReplicationError::ReplicaMismatch(format!(
                            "part {number}: the destination stored ETag {}, the bytes read from the source make {}",
                            part.etag,
                            read.etag()
                        )));
                    }
                    crcs.note(number, read.crc(), range.1 - range.0);
                    part
                }
            };
            if let Some(pace) = progress.landed(bytes, started.elapsed()).await {
                progress.set(Some(pace), false, write).await;
            }
            Ok(Some((number, etag)))
        })
        .buffer_unordered(plan.concurrency.max(1))
        .try_collect::<Vec<_>>()
        .await;
    match copied {
        Ok(parts) => done.extend(parts.into_iter().flatten()),
        Err(e) => return Err(stopping(&done, e).await),
    }
    if done.len() < layout.parts.len() {
        let interrupted = ReplicationError::CopyInterrupted {
            copied: done.len(),
            total: layout.parts.len(),
            resumable: upload.resumable,
        };
        return Err(stopping(&done, interrupted).await);
    }
    done.sort_by_key(|(n, _)| *n);
    if let Some(expected) = layout.expected_etag {
        let etags: Vec<(u32, String)> = done.iter().map(|(n, p)| (*n, p.etag.clone())).collect();
        let made = multipart_etag(&etags);
        if made.as_deref() != Some(expected) {
            let mismatch = ReplicationError::ReplicaMismatch(format!(
                "the upload's parts make ETag {}, not the source's {expected}",
                made.unwrap_or_else(|| "(unreadable part ETags)".to_owned())
            ));
            return Err(stopping(&done, mismatch).await);
        }
    }
    // Streamed, the bytes sent must make the source's full-object CRC (`super::crc`).
    if let Err(mismatch) = crcs.check(target.checksum.as_ref(), done.len()) {
        return Err(stopping(&done, mismatch).await);
    }
    // Every part is there: completing is the in-flight work the margin is kept for, even when
    // it has begun (an upload that cannot be resumed would otherwise be thrown away).
    run.count();
    let written = match destination.complete_multipart(target, id, &done).await {
        Ok(written) => written,
        Err(f) => return Err(stopping(&done, dst(f)).await),
    };
    // The parts made the source's ETag and Complete must say so; any other upload is read back.
    let (expected, parts) = (layout.expected_etag, &layout.parts);
    let proven = super::prove_completed(destination, request, &written, expected, parts, plan, run);
    proven.await.map(|()| written)
}

/// Decides what becomes of our upload when the copy stops with `err`: kept for a retry that can
/// resume it (fingerprinted now at part `place`, if it was not yet; its record no longer lowered
/// for parts in flight), aborted otherwise. Returns `err`.
async fn stop<D: DestinationStore>(
    destination: &D,
    target: &ReplicaSpec,
    upload: &Upload,
    place: u32,
    progress: &Progress,
    run: &Run,
    err: ReplicationError,
) -> ReplicationError {
    let retry = err.disposition() == Disposition::Retry;
    let keep = retry
        && (upload.resumable
            || match &upload.fingerprint {
                Some(f) => {
                    mark(
                        destination,
                        target,
                        &upload.id,
                        f,
                        place,
                        (progress.known(), false),
                        run,
                    )
                    .await
                }
                None => false,
            });
    if !keep {
        abort(destination, target, &upload.id).await;
    } else if let Some(pace) = progress.settled().await {
        let record = progress.record.clone();
        let write = |pace, provisional| async move {
            match &record {
                Some(f) => {
                    mark(
                        destination,
                        target,
                        &upload.id,
                        f,
                        FINGERPRINT_PART,
                        (pace, provisional),
                        run,
                    )
                    .await
                }
                None => false,
            }
        };
        progress.set(pace, false, write).await;
    }
    match err {
        ReplicationError::CopyInterrupted { copied, total, .. } => {
            ReplicationError::CopyInterrupted {
                copied,
                total,
                resumable: keep,
            }
        }
        other => other,
    }
}

/// Writes the upload's fingerprint part at `number`, recording `pace` (provisional or not);
/// whether it now proves the upload ours (not where the answer shows no proof, e.g. a part ETag
/// that is no MD5 under a KMS bucket default). Made even inside the time margin: it is what lets
/// the retry keep the parts copied so far.
async fn mark<D: DestinationStore>(
    destination: &D,
    target: &ReplicaSpec,
    id: &str,
    fingerprint: &Fingerprint,
    number: u32,
    (pace, provisional): (Option<Pace>, bool),
    run: &Run,
) -> bool {
    run.count();
    let body = fingerprint.body(pace, provisional);
    let size = body.len() as u64;
    match destination
        .upload_part(target, id, number, Body::from_bytes(body))
        .await
    {
        Ok(part) => fingerprint.read(size, &part).is_some(),
        Err(e) => {
            warn!(bucket = %target.bucket, key = %target.key, upload_id = %id,
                  error = %e, "could not write the upload's progress record");
            false
        }
    }
}

/// Where the fingerprint goes in an upload of `parts` parts of which `done` are known copied:
/// part 10,000 when it is `spare` (the layout leaves it free and Complete may leave it out);
/// otherwise the highest part not known copied (the last to be started, so the least likely to
/// be landing still), or when every part is copied, the last one (which Complete then refuses by
/// its ETag, should the two cross).
fn fingerprint_place(parts: usize, spare: bool, done: &[(u32, UploadedPart)]) -> u32 {
    let parts = parts as u32;
    if spare && parts < FINGERPRINT_PART {
        return FINGERPRINT_PART;
    }
    let done: std::collections::BTreeSet<u32> = done.iter().map(|(n, _)| *n).collect();
    (1..=parts)
        .rev()
        .find(|n| !done.contains(n))
        .unwrap_or(parts)
}

/// The ETag S3 gives a multipart upload: MD5 of the parts' binary MD5s, then `-N`.
pub fn multipart_etag(parts: &[(u32, String)]) -> Option<String> {
    let mut md5 = Md5::new();
    for (_, etag) in parts {
        md5.update(hex::decode(etag.trim_matches('"')).ok()?);
    }
    Some(format!(
        "\"{}-{}\"",
        hex::encode(md5.finalize()),
        parts.len()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn copied(numbers: &[u32]) -> Vec<(u32, UploadedPart)> {
        let part = UploadedPart {
            etag: "\"e\"".to_owned(),
            checksum: None,
            kms: false,
            written: None,
        };
        numbers.iter().map(|n| (*n, part.clone())).collect()
    }

    #[test]
    fn fingerprint_takes_a_part_not_yet_copied_only_when_the_layout_has_no_free_number() {
        assert_eq!(
            fingerprint_place(9_999, true, &copied(&[1, 2])),
            FINGERPRINT_PART
        );
        assert_eq!(fingerprint_place(9_999, false, &copied(&[1, 2])), 9_999);
        assert_eq!(fingerprint_place(10_000, true, &copied(&[1, 2])), 10_000);
        assert_eq!(
            fingerprint_place(10_000, true, &copied(&[9_999, 10_000])),
            9_998
        );
        let all: Vec<u32> = (1..=10_000).collect();
        assert_eq!(fingerprint_place(10_000, true, &copied(&all)), 10_000);
    }

    #[test]
    fn multipart_etag_matches_s3s_formula() {
        // Two parts whose MD5s are those of "a" and "b".
        let parts = vec![
            (1, "\"0cc175b9c0f1b6a831c399e269772661\"".to_owned()),
            (2, "\"92eb5ffee6ae2fec3ad71c777531578f\"".to_owned()),
        ];
        let mut md5 = Md5::new();
        md5.update(hex::decode("0cc175b9c0f1b6a831c399e269772661").unwrap());
        md5.update(hex::decode("92eb5ffee6ae2fec3ad71c777531578f").unwrap());
        let expected = format!("\"{}-2\"", hex::encode(md5.finalize()));
        assert_eq!(multipart_etag(&parts), Some(expected));
        assert_eq!(multipart_etag(&[(1, "\"not-hex\"".to_owned())]), None);
    }
}
