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
//! failure a retry can fix. No part is started that would not finish, at the pace of the
//! slowest part so far, before the time margin. (With SSE-KMS, part ETags are not
//! MD5s: there the fingerprint part is proven by its checksum in the upload's algorithm, which
//! ListParts shows too; an SSE-KMS upload without a checksum algorithm cannot be proven, so it is
//! aborted when the copy stops, and the retry starts again.)
//!
//! When the layout is the source's own and part ETags are MD5s, the upload's ETag is computed from
//! its parts before Complete and must equal the source's, and Complete must answer with that
//! ETag. Otherwise (KMS, a layout of our own) the replica is read back after Complete (size,
//! user metadata with the replica marker, content headers). Either way a wrong replica fails the
//! record loudly. A failure a retry can fix leaves a resumable upload for the retry; any other
//! aborts it (the destination's lifecycle rule removes uploads nobody finishes).

use futures::stream::{self, StreamExt, TryStreamExt};
use md5::{Digest, Md5};
use tracing::{info, warn};

use crate::copy::MAX_PARTS;
use crate::error::{Disposition, ReplicationError, Side};
use crate::run::Run;
use crate::store::UploadedPart;
use crate::store::{
    Body, CopyRequest, DestinationStore, ReplicaSpec, SourceStore, TargetEncryption, Written,
};

/// The part number of the fingerprint part where the layout leaves it free (never listed in
/// Complete).
pub const FINGERPRINT_PART: u32 = MAX_PARTS as u32;

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

/// The fingerprint part of an upload for one copy: its bytes, and what of it ListParts shows
/// that proves a part to be it.
#[derive(Debug, Clone)]
struct Fingerprint {
    body: String,
    proof: Proof,
}

/// The longest a part of this copy has taken so far (none yet: zero).
#[derive(Default)]
struct PartTimes(std::sync::atomic::AtomicU64);

impl PartTimes {
    fn record(&self, took: std::time::Duration) {
        let millis = u64::try_from(took.as_millis()).unwrap_or(u64::MAX);
        self.0
            .fetch_max(millis, std::sync::atomic::Ordering::Relaxed);
    }

    fn longest(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.0.load(std::sync::atomic::Ordering::Relaxed))
    }
}

/// What proves a part to be the fingerprint.
#[derive(Debug, Clone)]
enum Proof {
    /// Its ETag, the MD5 of its bytes.
    Etag(String),
    /// Its checksum in the upload's algorithm (under SSE-KMS, where part ETags are no MD5s).
    Checksum(String),
}

impl Fingerprint {
    /// Whether `part` is this fingerprint.
    fn proves(&self, part: &UploadedPart) -> bool {
        match &self.proof {
            Proof::Etag(etag) => part.etag == *etag,
            Proof::Checksum(checksum) => part.checksum.as_ref() == Some(checksum),
        }
    }
}

/// Copies `request`'s source into its target in the parts of `plan`.
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
    let target = &request.target;
    let dst = |f| ReplicationError::classify(Side::Destination, f);
    let fingerprint = fingerprint(request, &plan);
    // Part 10,000 only where Complete may leave it out: another endpoint may refuse an upload
    // holding a part not listed (Ceph RGW), so there it takes a part's place, as at 10,000 parts.
    let spare = plan.layout.len() < MAX_PARTS as usize && matches!(transfer, Transfer::ServerSide);
    let found = match &fingerprint {
        Some(f) => find_ours(destination, request, plan.layout, f, run).await?,
        None => None,
    };
    let (upload, mut done) = match found {
        Some((id, done)) => {
            info!(bucket = %target.bucket, key = %target.key, upload_id = %id, parts = done.len(),
                  total = plan.layout.len(), "resuming an interrupted multipart copy of ours");
            // A fingerprint in the place of a part is copied over: the proof must be made again
            // should this copy stop too.
            let kept = spare;
            let upload = Upload {
                id,
                resumable: kept,
                fingerprint: fingerprint.filter(|_| !kept),
            };
            (upload, done)
        }
        None => {
            run.start()?;
            let id = destination
                .create_multipart(target, plan.tags)
                .await
                .map_err(dst)?;
            let mut upload = Upload {
                id,
                resumable: false,
                fingerprint,
            };
            // The proof goes first, while its part number is free: a cut at any later moment
            // (the function's own deadline, or Lambda's) leaves an upload the retry can resume.
            if spare && mark(destination, request, &upload, FINGERPRINT_PART, run).await {
                upload.resumable = true;
                upload.fingerprint = None;
            }
            (upload, Vec::new())
        }
    };
    let missing: Vec<(u32, (u64, u64))> = (1..)
        .zip(plan.layout.iter().copied())
        .filter(|(n, _)| !done.iter().any(|(d, _)| d == n))
        .collect();
    let id = upload.id.as_str();
    // Where the copy stops, with the parts known copied so far.
    let stopping = |done: &[(u32, UploadedPart)], err| {
        let place = fingerprint_place(plan.layout.len(), spare, done);
        stop(destination, request, &upload, place, run, err)
    };
    let md5_parts = !matches!(target.encryption, TargetEncryption::Kms { .. });
    // The slowest part so far: a part that could not finish before the time margin is not
    // started (it would be cut off, and its time lost).
    let slowest = PartTimes::default();
    let slowest = &slowest;
    let copied = stream::iter(missing)
        .map(|(number, range)| async move {
            if !run.fits(slowest.longest()) {
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
                    let (bytes, read) = super::tee(bytes);
                    let part = destination
                        .upload_part(&request.target, id, number, bytes)
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
                    part
                }
            };
            slowest.record(started.elapsed());
            Ok(Some((number, etag)))
        })
        .buffer_unordered(plan.concurrency.max(1))
        .try_collect::<Vec<_>>()
        .await;
    match copied {
        Ok(parts) => done.extend(parts.into_iter().flatten()),
        Err(e) => return Err(stopping(&done, e).await),
    }
    if done.len() < plan.layout.len() {
        let interrupted = ReplicationError::CopyInterrupted {
            copied: done.len(),
            total: plan.layout.len(),
            resumable: upload.resumable,
        };
        return Err(stopping(&done, interrupted).await);
    }
    done.sort_by_key(|(n, _)| *n);
    if let Some(expected) = plan.expected_etag {
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
    // Every part is there: completing is the in-flight work the margin is kept for, even when
    // it has begun (an upload that cannot be resumed would otherwise be thrown away).
    run.count();
    let written = match destination.complete_multipart(target, id, &done).await {
        Ok(written) => written,
        Err(f) => return Err(stopping(&done, dst(f)).await),
    };
    // The parts made the source's ETag and Complete says so: the bytes are the source's. Any
    // other upload is read back.
    if plan.expected_etag != Some(written.etag.as_str()) {
        check_written(destination, request, &written, plan.layout, run).await?;
    }
    Ok(written)
}

/// The upload of ours for exactly this copy that is furthest along, with its parts that fit the
/// layout. Other uploads of ours for this copy are aborted; anyone else's are left alone.
async fn find_ours<D: DestinationStore>(
    destination: &D,
    request: &CopyRequest,
    layout: &[(u64, u64)],
    fingerprint: &Fingerprint,
    run: &Run,
) -> Result<Option<(String, Vec<(u32, UploadedPart)>)>, ReplicationError> {
    let dst = |f| ReplicationError::classify(Side::Destination, f);
    let ours = |part: &UploadedPart| fingerprint.proves(part);
    run.start()?;
    let mut best: Option<(String, Vec<(u32, UploadedPart)>)> = None;
    for id in destination
        .list_uploads(&request.target)
        .await
        .map_err(dst)?
    {
        run.start()?;
        let parts = destination
            .list_parts(&request.target, &id)
            .await
            .map_err(dst)?;
        // The fingerprint is part 10,000, or in a layout of 10,000 parts, in a part's place.
        let proven = parts.iter().any(|(n, _, part)| {
            (*n == FINGERPRINT_PART || layout.len() == MAX_PARTS as usize) && ours(part)
        });
        if !proven {
            continue;
        }
        let fitting: Vec<(u32, UploadedPart)> = parts
            .into_iter()
            .filter(|(n, size, part)| {
                !ours(part)
                    && layout
                        .get((*n as usize).wrapping_sub(1))
                        .is_some_and(|(start, end)| end - start == *size)
            })
            .map(|(n, _, part)| (n, part))
            .collect();
        let better = best.as_ref().is_none_or(|(_, b)| fitting.len() > b.len());
        let extra = if better {
            best.replace((id, fitting)).map(|(id, _)| id)
        } else {
            Some(id)
        };
        if let Some(extra) = extra {
            let upload = Upload {
                id: extra,
                resumable: true,
                fingerprint: None,
            };
            abort(destination, request, &upload).await;
        }
    }
    Ok(best)
}

/// Decides what becomes of our upload when the copy stops with `err`: kept for a retry that can
/// resume it (fingerprinted now at part `place`, if it was not yet), aborted otherwise. Returns
/// `err`.
async fn stop<D: DestinationStore>(
    destination: &D,
    request: &CopyRequest,
    upload: &Upload,
    place: u32,
    run: &Run,
    err: ReplicationError,
) -> ReplicationError {
    let retry = err.disposition() == Disposition::Retry;
    let keep = retry && (upload.resumable || mark(destination, request, upload, place, run).await);
    if !keep {
        abort(destination, request, upload).await;
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

/// Writes the upload's fingerprint part; whether it now proves the upload ours (not where the
/// answer shows no proof, e.g. a part ETag that is no MD5 under a KMS bucket default). Made even
/// inside the time margin: it is what lets the retry keep the parts copied so far.
async fn mark<D: DestinationStore>(
    destination: &D,
    request: &CopyRequest,
    upload: &Upload,
    number: u32,
    run: &Run,
) -> bool {
    let Some(fingerprint) = &upload.fingerprint else {
        return false;
    };
    run.count();
    let body = Body::from_bytes(fingerprint.body.as_bytes().to_vec());
    match destination
        .upload_part(&request.target, &upload.id, number, body)
        .await
    {
        Ok(part) => fingerprint.proves(&part),
        Err(e) => {
            warn!(bucket = %request.target.bucket, key = %request.target.key, upload_id = %upload.id,
                  error = %e, "could not mark the interrupted upload for the retry");
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

/// After Complete: the replica must carry the size, user metadata (with the marker) and content
/// headers planned, since an upload's metadata cannot be checked before.
async fn check_written<D: DestinationStore>(
    destination: &D,
    request: &CopyRequest,
    written: &Written,
    layout: &[(u64, u64)],
    run: &Run,
) -> Result<(), ReplicationError> {
    let target = &request.target;
    let size = layout.last().map_or(0, |(_, end)| *end);
    let Some(o) = super::read_back(destination, target, written, run).await? else {
        return Err(ReplicationError::ReplicaMismatch(
            "the replica just completed is not there".to_owned(),
        ));
    };
    let mut wrong = Vec::new();
    if o.size != size {
        wrong.push(format!("size {} (the source has {size})", o.size));
    }
    if o.metadata != target.metadata {
        wrong.push(format!(
            "user metadata {:?} (planned {:?})",
            o.metadata, target.metadata
        ));
    }
    let (got, want) = (&o.content, &target.content);
    for (name, got, want) in [
        ("Content-Type", &got.content_type, &want.content_type),
        ("Cache-Control", &got.cache_control, &want.cache_control),
        (
            "Content-Disposition",
            &got.content_disposition,
            &want.content_disposition,
        ),
        (
            "Content-Encoding",
            &got.content_encoding,
            &want.content_encoding,
        ),
        (
            "Content-Language",
            &got.content_language,
            &want.content_language,
        ),
        ("Expires", &got.expires, &want.expires),
    ] {
        if want.is_some() && got != want {
            wrong.push(format!("{name} {got:?} (planned {want:?})"));
        }
    }
    if wrong.is_empty() {
        return Ok(());
    }
    Err(ReplicationError::ReplicaMismatch(format!(
        "the completed replica has {}",
        wrong.join(", ")
    )))
}

/// The fingerprint of an upload for this copy; `None` where nothing ListParts shows can prove it
/// (SSE-KMS, whose part ETags are no MD5s, without a checksum algorithm to prove it by).
fn fingerprint(request: &CopyRequest, plan: &Plan<'_>) -> Option<Fingerprint> {
    let body = fingerprint_body(request, plan);
    let target = &request.target;
    let proof = match (&target.encryption, &target.checksum) {
        (TargetEncryption::Kms { .. }, Some(c)) => {
            Proof::Checksum(checksum_of(&c.algorithm, body.as_bytes())?)
        }
        (TargetEncryption::Kms { .. }, None) => return None,
        _ => Proof::Etag(part_etag(&body)),
    };
    Some(Fingerprint { body, proof })
}

/// The fingerprint part's body: a digest of everything an upload is created with and copies.
/// Debug output is stable within one build; a new build simply starts new uploads.
fn fingerprint_body(request: &CopyRequest, plan: &Plan<'_>) -> String {
    // What the upload holds, not the state the destination was read in: a retry reads it anew
    // (its write condition differs) and must still resume the same upload.
    let target = ReplicaSpec {
        condition: None,
        ..request.target.clone()
    };
    let mut md5 = Md5::new();
    md5.update(format!(
        "{:?}\n{:?}\n{:?}\n{:?}\n{:?}",
        request.source, request.source_if_match, target, plan.tags, plan.layout
    ));
    format!("s3-replicator upload {}", hex::encode(md5.finalize()))
}

/// The ETag S3 gives a part with these bytes (where part ETags are MD5s).
fn part_etag(body: &str) -> String {
    format!("\"{}\"", hex::encode(Md5::digest(body.as_bytes())))
}

/// The checksum S3 gives these bytes in `algorithm` (`CRC32`, `CRC32C`, `CRC64NVME`, `SHA1`,
/// `SHA256`), base64 as S3 writes it; `None` for another algorithm.
pub fn checksum_of(algorithm: &str, bytes: &[u8]) -> Option<String> {
    let algorithm: aws_smithy_checksums::ChecksumAlgorithm =
        algorithm.to_ascii_lowercase().parse().ok()?;
    let mut checksum = algorithm.into_impl();
    checksum.update(bytes);
    checksum.header_value().to_str().ok().map(str::to_owned)
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

async fn abort<D: DestinationStore>(destination: &D, request: &CopyRequest, upload: &Upload) {
    let target = &request.target;
    if let Err(e) = destination.abort_multipart(target, &upload.id).await {
        warn!(bucket = %target.bucket, key = %target.key, upload_id = %upload.id, error = %e,
              "could not abort our failed upload; the bucket's lifecycle rule removes it");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn copied(numbers: &[u32]) -> Vec<(u32, UploadedPart)> {
        let part = UploadedPart {
            etag: "\"e\"".to_owned(),
            checksum: None,
            kms: false,
        };
        numbers.iter().map(|n| (*n, part.clone())).collect()
    }

    #[test]
    fn fingerprint_takes_a_part_not_yet_copied_only_when_the_layout_has_no_free_number() {
        let place = |parts, spare, done: &[u32]| fingerprint_place(parts, spare, &copied(done));
        assert_eq!(place(9_999, true, &[1, 2]), FINGERPRINT_PART);
        assert_eq!(place(10_000, true, &[1, 2]), 10_000);
        assert_eq!(place(10_000, true, &[9_999, 10_000]), 9_998);
        let all: Vec<u32> = (1..=10_000).collect();
        assert_eq!(place(10_000, true, &all), 10_000);
        // Where Complete may not leave a part out (a streamed upload to another endpoint).
        assert_eq!(place(3, false, &[1]), 3);
        assert_eq!(place(3, false, &[1, 2, 3]), 3);
    }

    #[test]
    fn checksums_are_s3s_base64_values() {
        // CRC32 of "abc" is 0x352441c2.
        assert_eq!(checksum_of("CRC32", b"abc").as_deref(), Some("NSRBwg=="));
        assert_eq!(checksum_of("CRC32", b"").as_deref(), Some("AAAAAA=="));
        assert!(checksum_of("CRC64NVME", b"abc").is_some());
        assert_eq!(checksum_of("MD4", b"abc"), None);
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
