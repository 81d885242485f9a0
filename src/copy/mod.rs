//! Copy strategies: one CopyObject carries everything up to 5 GiB; a multipart copy
//! (UploadPartCopy in parallel) handles larger objects, and every multipart source, whose part
//! layout it reproduces so that the replica's ETag equals the source's.

pub mod crc;
mod digest;
pub mod multipart;
mod progress;
mod resume;
pub mod stamp;
mod switch;
mod withdraw;

pub use digest::{tee, tee_crc, Md5Of};
pub use progress::Pace;
pub use withdraw::wrong_replica;

use crate::error::{ReplicationError, Side};
use crate::run::Run;
use crate::store::{
    Checksum, CopyRequest, Current, DestinationStore, ReplicaLocation, ReplicaSpec, SourceVersion,
    Written,
};

const MIB: u64 = 1024 * 1024;
/// The largest object one CopyObject request accepts (5 GiB).
pub const COPY_OBJECT_LIMIT: u64 = 5 * 1024 * MIB;
/// The smallest part S3 accepts (but for the last).
pub const MIN_PART: u64 = 5 * MIB;
/// The largest part S3 accepts.
pub const MAX_PART: u64 = 5 * 1024 * MIB;
/// The most parts one upload may have.
pub const MAX_PARTS: u64 = 10_000;

/// How multipart copies are made (`MULTIPART_THRESHOLD`, `MULTIPART_PART_SIZE`,
/// `MULTIPART_CONCURRENCY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CopySettings {
    /// Single-part objects above this size are copied in parts.
    pub threshold: u64,
    /// Part size for objects whose layout is not the source's (grown to fit 10,000 parts).
    pub part_size: u64,
    /// UploadPartCopy requests in flight at once. The bytes never pass through the function, so
    /// memory does not bound this; S3's per-prefix request rate and the timeout do.
    pub concurrency: usize,
    /// No part is started when less than this remains before the function's deadline: parts in
    /// flight must finish (`MULTIPART_TIME_MARGIN_SECONDS`).
    pub time_margin: std::time::Duration,
}

impl Default for CopySettings {
    fn default() -> Self {
        Self {
            threshold: COPY_OBJECT_LIMIT,
            part_size: 256 * MIB,
            concurrency: 16,
            time_margin: std::time::Duration::from_secs(30),
        }
    }
}

/// How one object version is copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyMethod {
    /// One CopyObject request: metadata, tags and ACL grants in the same call.
    SingleRequest,
    /// A multipart copy; `source_parts` is the source's part count when its layout is kept.
    Multipart {
        /// Parts of the source upload (from its ETag), or `None` for a uniform layout.
        source_parts: Option<u32>,
    },
}

/// Chooses the copy method for an object of `size` bytes with this ETag. A `streamed` copy (to
/// another endpoint) splits above the part size, so that a failure costs one part, not the object.
pub fn choose(
    size: u64,
    etag: &str,
    settings: &CopySettings,
    streamed: bool,
) -> Result<CopyMethod, ReplicationError> {
    let limit = if streamed {
        settings.part_size
    } else {
        settings.threshold.min(COPY_OBJECT_LIMIT)
    };
    if size > MAX_PART * MAX_PARTS {
        return Err(ReplicationError::ObjectTooLarge {
            size,
            limit: MAX_PART * MAX_PARTS,
        });
    }
    Ok(match multipart_parts(etag) {
        // Only the same part layout gives the same ETag: worth the extra requests.
        Some(parts) => CopyMethod::Multipart {
            source_parts: Some(parts),
        },
        None if size > limit => CopyMethod::Multipart { source_parts: None },
        None => CopyMethod::SingleRequest,
    })
}

/// `request` as a copy of a multipart source in a layout of our own writes it (a source whose
/// layout cannot be read): its record says the layout is ours, so that its ETag, which cannot be
/// the source's, is never taken for damage.
pub fn in_own_layout(request: &CopyRequest, size: u64) -> CopyRequest {
    switch::own_request(request, size)
}

/// Reads back the replica a write just made (its version, or the current object of an
/// unversioned bucket): `None` when it is not there. Made even inside the time margin: the
/// replica is written and must be judged.
pub async fn read_back<D: DestinationStore>(
    destination: &D,
    target: &ReplicaSpec,
    written: &Written,
    run: &Run,
) -> Result<Option<SourceVersion>, ReplicationError> {
    let at = ReplicaLocation::of(target);
    run.count();
    let replica = match &written.version_id {
        Some(v) => destination.replica_version(&at, v).await,
        None => destination.replica_current(&at).await,
    }
    .map_err(|f| ReplicationError::classify(Side::Destination, f))?;
    Ok(match replica {
        Current::Object(o) => Some(*o),
        _ => None,
    })
}

/// After Complete: in the source's own layout, Complete must answer the source's ETag
/// (`expected`), which the parts made; any other upload is read back ([`check_written`]); the
/// tags are settled ([`settle_upload_tags`]). A replica proven wrong is withdrawn
/// ([`wrong_replica`]).
pub(crate) async fn prove_completed<D: DestinationStore>(
    destination: &D,
    request: &CopyRequest,
    written: &Written,
    expected: Option<&str>,
    layout: &[(u64, u64)],
    plan: multipart::Plan<'_>,
    run: &Run,
) -> Result<(), ReplicationError> {
    let (target, tags) = (&request.target, plan.tags);
    let checked = async {
        match expected {
            Some(expected) if written.etag != expected => {
                return Err(ReplicationError::ReplicaMismatch(format!(
                    "replica ETag {} differs from source ETag {expected}",
                    written.etag
                )))
            }
            Some(_) => {}
            None => check_written(destination, request, written, layout, run).await?,
        }
        settle_upload_tags(destination, target, written, tags, run).await
    };
    match checked.await {
        Ok(()) => Ok(()),
        Err(e) => Err(wrong_replica(destination, target, written, run, e).await),
    }
}

/// After Complete: the replica must carry the size, user metadata (with the marker) and content
/// headers planned, since an upload's metadata cannot be checked before.
pub(crate) async fn check_written<D: DestinationStore>(
    destination: &D,
    request: &CopyRequest,
    written: &Written,
    layout: &[(u64, u64)],
    run: &Run,
) -> Result<(), ReplicationError> {
    let target = &request.target;
    let size = layout.last().map_or(0, |(_, end)| *end);
    let Some(o) = read_back(destination, target, written, run).await? else {
        return Err(ReplicationError::ReplicaMismatch(
            "the replica just completed is not there".to_owned(),
        ));
    };
    let mut wrong = Vec::new();
    if o.size != size {
        wrong.push(format!("size {} (the source has {size})", o.size));
    }
    // An upload resumed from an earlier invocation carries the record dated when it was
    // created, not this invocation's plan.
    if stamp::undated(&o.metadata) != stamp::undated(&target.metadata) {
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

/// After Complete at another endpoint: an upload's tags (`x-amz-tagging` on
/// CreateMultipartUpload) are not kept by every server (Ceph RGW 16.2 ignores them, and the
/// replica would be recorded replicated without them). Where the version just written does not
/// count the tags planned, they are set on it (PutObjectTagging) and counted again: a count
/// that still differs fails the copy. At the function's own endpoint (S3) the upload keeps them.
pub(crate) async fn settle_upload_tags<D: DestinationStore>(
    destination: &D,
    target: &ReplicaSpec,
    written: &Written,
    tags: &[(String, String)],
    run: &Run,
) -> Result<(), ReplicationError> {
    if target.endpoint.is_none() || tags.is_empty() {
        return Ok(());
    }
    let want = u32::try_from(tags.len()).ok();
    let gone =
        || ReplicationError::ReplicaMismatch("the replica just completed is not there".into());
    let replica = read_back(destination, target, written, run)
        .await?
        .ok_or_else(gone)?;
    if replica.tag_count == want {
        return Ok(());
    }
    let Some(version) = written.version_id.clone().or(replica.version_id) else {
        return Err(ReplicationError::ReplicaMismatch(
            "the completed replica names no version to set its tags on".to_owned(),
        ));
    };
    run.count();
    let at = ReplicaLocation::of(target);
    let set = destination.set_tags(&at, &version, tags).await;
    set.map_err(|f| ReplicationError::classify(Side::Destination, f))?;
    let written = Written {
        version_id: Some(version),
        ..written.clone()
    };
    let replica = read_back(destination, target, &written, run)
        .await?
        .ok_or_else(gone)?;
    match replica.tag_count {
        // A server that does not count tags on HEAD cannot be checked this way.
        Some(n) if Some(n) != want => Err(ReplicationError::ReplicaMismatch(format!(
            "the completed replica has {n} tags after setting the {} planned",
            tags.len()
        ))),
        _ => Ok(()),
    }
}

/// The checksum a multipart upload can be created with for a source's `checksum`. S3 keeps a
/// full-object checksum of a multipart upload only in a CRC algorithm (CRC32, CRC32C,
/// CRC64NVME) and refuses SHA-1 and SHA-256 as `FULL_OBJECT` (400 InvalidRequest); those are
/// composite there, a checksum of our parts' checksums. A full-object SHA is a single-part
/// source's, so its layout in parts is ours: the replica's composite value cannot equal the
/// source's, and nothing compares the two as equal (only like types prove bytes).
pub fn upload_checksum(checksum: &Checksum) -> Checksum {
    let crc = matches!(
        checksum.algorithm.as_str(),
        "CRC32" | "CRC32C" | "CRC64NVME"
    );
    Checksum {
        full_object: checksum.full_object && crc,
        ..checksum.clone()
    }
}

/// `request` as a multipart upload can carry it: see [`upload_checksum`].
pub fn for_upload(request: &CopyRequest) -> std::borrow::Cow<'_, CopyRequest> {
    match &request.target.checksum {
        Some(c) if upload_checksum(c) != *c => {
            let mut request = request.clone();
            request.target.checksum = Some(upload_checksum(c));
            std::borrow::Cow::Owned(request)
        }
        _ => std::borrow::Cow::Borrowed(request),
    }
}

/// The part count of a multipart upload's ETag (`"<md5 of part md5s>-N"`).
pub fn multipart_parts(etag: &str) -> Option<u32> {
    let (_, count) = etag.trim_matches('"').rsplit_once('-')?;
    count.parse().ok().filter(|n| *n >= 1)
}

/// Byte ranges `[start, end)` of parts of `part_size` (grown so at most 10,000 parts are needed).
pub fn uniform_layout(size: u64, part_size: u64) -> Vec<(u64, u64)> {
    let fit = size.div_ceil(MAX_PARTS).div_ceil(MIB) * MIB;
    let part = part_size.max(fit).max(MIN_PART);
    (0..size.div_ceil(part))
        .map(|i| (i * part, ((i + 1) * part).min(size)))
        .collect()
}

/// Byte ranges of the source's own `parts` parts from the sizes of all but the last (the last is
/// what remains of the object's `size`: one HeadObject fewer).
pub fn source_layout(
    leading: &[u64],
    parts: u32,
    size: u64,
) -> Result<Vec<(u64, u64)>, ReplicationError> {
    let before_last: u64 = leading.iter().sum();
    let fits = leading.len() + 1 == parts as usize
        && !leading.contains(&0)
        // The last part may be empty (S3 sets no minimum on it): an object of one empty part,
        // or parts whose last one holds nothing.
        && before_last <= size
        && size - before_last <= MAX_PART;
    if !fits {
        return Err(ReplicationError::ReplicaMismatch(format!(
            "the source's first {} parts hold {before_last} bytes: no {parts}-part layout of its \
             {size} bytes",
            leading.len()
        )));
    }
    let mut start = 0;
    Ok(leading
        .iter()
        .chain([&(size - before_last)])
        .map(|len| {
            let range = (start, start + len);
            start += len;
            range
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SETTINGS: CopySettings = CopySettings {
        threshold: COPY_OBJECT_LIMIT,
        part_size: 256 * MIB,
        concurrency: 4,
        time_margin: std::time::Duration::from_secs(30),
    };

    #[test]
    fn small_single_part_object_uses_one_copy() {
        assert_eq!(
            choose(10, "\"abc\"", &SETTINGS, false),
            Ok(CopyMethod::SingleRequest)
        );
        assert_eq!(
            choose(COPY_OBJECT_LIMIT, "\"abc\"", &SETTINGS, false),
            Ok(CopyMethod::SingleRequest)
        );
    }

    #[test]
    fn object_over_copy_limit_uses_multipart() {
        assert_eq!(
            choose(COPY_OBJECT_LIMIT + 1, "\"abc\"", &SETTINGS, false),
            Ok(CopyMethod::Multipart { source_parts: None })
        );
    }

    #[test]
    fn lower_threshold_sends_smaller_objects_multipart() {
        let low = CopySettings {
            threshold: 8 * MIB,
            ..SETTINGS
        };
        assert_eq!(
            choose(64 * MIB, "\"abc\"", &low, false),
            Ok(CopyMethod::Multipart { source_parts: None })
        );
        assert_eq!(
            choose(8 * MIB, "\"abc\"", &low, false),
            Ok(CopyMethod::SingleRequest)
        );
    }

    #[test]
    fn streamed_copy_splits_above_the_part_size() {
        assert_eq!(
            choose(256 * MIB + 1, "\"abc\"", &SETTINGS, true),
            Ok(CopyMethod::Multipart { source_parts: None })
        );
        assert_eq!(
            choose(256 * MIB, "\"abc\"", &SETTINGS, true),
            Ok(CopyMethod::SingleRequest)
        );
    }

    #[test]
    fn multipart_source_keeps_its_layout_at_any_size() {
        assert_eq!(
            choose(
                12,
                "\"d41d8cd98f00b204e9800998ecf8427e-3\"",
                &SETTINGS,
                false
            ),
            Ok(CopyMethod::Multipart {
                source_parts: Some(3)
            })
        );
    }

    #[test]
    fn object_beyond_what_s3_can_hold_is_a_named_failure() {
        assert_eq!(
            choose(MAX_PART * MAX_PARTS + 1, "\"a\"", &SETTINGS, false)
                .unwrap_err()
                .code(),
            "ObjectTooLarge"
        );
    }

    #[test]
    fn uniform_layout_covers_the_object_and_fits_ten_thousand_parts() {
        let layout = uniform_layout(600 * MIB + 1, 256 * MIB);
        assert_eq!(
            layout,
            vec![
                (0, 256 * MIB),
                (256 * MIB, 512 * MIB),
                (512 * MIB, 600 * MIB + 1)
            ]
        );
        let huge = 40 * 1024 * 1024 * MIB; // 40 TiB
        let layout = uniform_layout(huge, 256 * MIB);
        assert!(layout.len() as u64 <= MAX_PARTS);
        assert_eq!(layout.last().unwrap().1, huge);
    }

    #[test]
    fn source_layout_must_add_up() {
        assert_eq!(
            source_layout(&[5, 5], 3, 12).unwrap(),
            vec![(0, 5), (5, 10), (10, 12)]
        );
        assert_eq!(source_layout(&[], 1, 7).unwrap(), vec![(0, 7)]);
        assert_eq!(source_layout(&[], 1, 0).unwrap(), vec![(0, 0)]);
        assert_eq!(
            source_layout(&[5, 5], 3, 10).unwrap(),
            vec![(0, 5), (5, 10), (10, 10)],
            "an empty last part"
        );
        for (leading, parts, size) in [
            (&[5u64, 5][..], 3, 9), // more than the object
            (&[5, 0], 3, 12),       // an empty part before the last
            (&[5], 3, 12),          // a part size missing
            (&[5], 2, 5 + MAX_PART + 1),
        ] {
            assert_eq!(
                source_layout(leading, parts, size).unwrap_err().code(),
                "ReplicaMismatch",
                "{leading:?} {parts} {size}"
            );
        }
    }

    #[test]
    fn etag_part_count_is_read() {
        assert_eq!(multipart_parts("\"abc-12\""), Some(12));
        assert_eq!(multipart_parts("\"abc\""), None);
        assert_eq!(multipart_parts("abc-x"), None);
    }
}
