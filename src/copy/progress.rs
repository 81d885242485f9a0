//! A multipart copy's progress record: the fingerprint part that proves an upload ours for exactly
//! one copy, and, in its length, the pace of part copies known so far, so that the next
//! invocation knows it before it starts a part.
//!
//! ListParts shows a part's ETag (or checksum) and size, never its bytes. The fingerprint part's
//! bytes are a digest of everything the replica must carry followed by `code` filler bytes: its
//! size tells `code`, and its ETag (their MD5) or checksum proves the whole. `code` 0 records no
//! pace (a fingerprint written before paces were recorded reads so); otherwise the pace is
//! 2^((code − 1)/256) bytes/s, rounded down when recorded (0.3 % steps, 12 KB at most). A code
//! above [`MAX_CODE`] is a provisional pace (the most parts just started could have had were they
//! cut), `code − MAX_CODE`: evidence only once its writer cannot be at work any more
//! ([`Record::evidence`]), never while another delivery of the same event may be copying.

use std::time::Duration;

use md5::{Digest, Md5};

use crate::store::{CopyRequest, ReplicaSpec, TargetEncryption, UploadedPart};

/// The part number of the fingerprint part where the layout leaves it free (never listed in
/// Complete).
pub const FINGERPRINT_PART: u32 = super::MAX_PARTS as u32;

/// Steps of the recorded pace per doubling.
const STEPS: f64 = 256.0;
/// The largest code: 2^48 bytes/s, beyond any copy.
const MAX_CODE: u64 = 1 + 256 * 48;

/// A pace of part copies, in bytes per second.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Pace(pub f64);

impl Pace {
    /// The pace of `bytes` copied in `took`.
    pub fn of(bytes: u64, took: Duration) -> Self {
        Self(bytes.max(1) as f64 / took.as_secs_f64().max(0.001))
    }

    /// How long `bytes` take at this pace.
    pub fn time_for(self, bytes: u64) -> Duration {
        Duration::try_from_secs_f64(bytes as f64 / self.0.max(1.0)).unwrap_or(Duration::MAX)
    }

    /// This pace as the record keeps it (rounded down to its step).
    pub fn recorded(self) -> Self {
        Self::from_code(self.code()).unwrap_or(self)
    }

    fn code(self) -> u64 {
        let steps = (STEPS * self.0.max(1.0).log2()).floor();
        1 + (steps as u64).min(MAX_CODE - 1)
    }

    fn from_code(code: u64) -> Option<Self> {
        (1..=MAX_CODE)
            .contains(&code)
            .then(|| Self(2f64.powf((code - 1) as f64 / STEPS)))
    }
}

/// What a progress record says.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Record {
    /// The pace recorded.
    pub(super) pace: Option<Pace>,
    /// Provisional: lowered for parts in flight, as if they would be cut.
    pub(super) provisional: bool,
}

impl Record {
    /// The pace this record, written at `written` (ListParts' whole seconds), is evidence of
    /// `now` for parts of up to `largest` bytes. A measured pace is. A provisional one is the
    /// most parts started after it could have had were they cut off; while they may still be in
    /// flight (another delivery of the event at work: less than the time such a part takes at
    /// that pace since it was written, a second added for the rounding) it says nothing: it is
    /// taken for a cut only once that time has passed. A time unknown is taken as long past.
    pub(super) fn evidence(
        self,
        written: Option<std::time::SystemTime>,
        largest: u64,
        now: std::time::SystemTime,
    ) -> Option<Pace> {
        let pace = self.pace?;
        let window = pace.time_for(largest) + Duration::from_secs(1);
        let quiet = written.is_none_or(|w| now.duration_since(w).is_ok_and(|age| age >= window));
        (!self.provisional || quiet).then_some(pace)
    }
}

/// The fingerprint part of an upload for one copy: its bytes but the pace, and how ListParts
/// shows a part to be it.
#[derive(Debug, Clone)]
pub(super) struct Fingerprint {
    base: String,
    proof: ProofBy,
}

/// What proves a part to be the fingerprint.
#[derive(Debug, Clone)]
enum ProofBy {
    /// Its ETag, the MD5 of its bytes.
    Etag,
    /// Its checksum in this algorithm (under SSE-KMS, where part ETags are no MD5s).
    Checksum(String),
}

impl Fingerprint {
    /// The fingerprint of an upload for this copy in `layout` with `tags`; `None` where nothing
    /// ListParts shows can prove it (SSE-KMS, whose part ETags are no MD5s, without a checksum
    /// algorithm to prove it by).
    pub(super) fn of(
        request: &CopyRequest,
        layout: &[(u64, u64)],
        tags: &[(String, String)],
    ) -> Option<Self> {
        let target = &request.target;
        let proof = match (&target.encryption, &target.checksum) {
            (TargetEncryption::Kms { .. }, Some(c)) => {
                checksum_of(&c.algorithm, b"")?;
                ProofBy::Checksum(c.algorithm.clone())
            }
            (TargetEncryption::Kms { .. }, None) => return None,
            _ => ProofBy::Etag,
        };
        Some(Self {
            base: base(request, layout, tags),
            proof,
        })
    }

    /// The part's bytes, recording `pace` (`provisional`: see [`Record`]).
    pub(super) fn body(&self, pace: Option<Pace>, provisional: bool) -> Vec<u8> {
        let flag = if provisional && pace.is_some() {
            MAX_CODE
        } else {
            0
        };
        let code = pace.map_or(0, Pace::code) + flag;
        let mut body = self.base.clone().into_bytes();
        body.resize(body.len() + code as usize, b'.');
        body
    }

    /// Whether `part`, of `size` bytes, is this fingerprint: `Some` with the record it holds.
    pub(super) fn read(&self, size: u64, part: &UploadedPart) -> Option<Record> {
        let code = size.checked_sub(self.base.len() as u64)?;
        if code > 2 * MAX_CODE {
            return None;
        }
        let provisional = code > MAX_CODE;
        let pace = Pace::from_code(if provisional { code - MAX_CODE } else { code });
        let body = self.body(pace, provisional);
        let proven = match &self.proof {
            ProofBy::Etag => part.etag == part_etag(&body),
            ProofBy::Checksum(algorithm) => {
                part.checksum.is_some() && part.checksum == checksum_of(algorithm, &body)
            }
        };
        proven.then_some(Record { pace, provisional })
    }
}

/// What a copy knows of its pace in this invocation, and what its progress record says. The
/// record is kept pessimistic while it matters: before the first part of an invocation starts it
/// is lowered to the most that part could have had were the invocation to end with it in flight
/// (Lambda's cut leaves no moment to write anything), and raised to the measured pace as parts
/// land (or back to what it was when the copy stops itself).
pub(super) struct Progress {
    /// The fingerprint, where the record is kept current (a proof at part 10,000).
    pub(super) record: Option<Fingerprint>,
    /// The pace the record held when this invocation found the upload.
    pub(super) remembered: Option<Pace>,
    /// The slowest pace measured in this invocation, on parts of at least half the largest (a
    /// small part's time is mostly the request's own: its pace says little of a large one's).
    measured: std::sync::Mutex<Option<Pace>>,
    /// The shortest time a part took in this invocation: no part is expected to take less.
    shortest: std::sync::Mutex<Option<Duration>>,
    /// The layout's largest part.
    largest: u64,
    /// What the record says now, and whether it was lowered for parts in flight.
    written: tokio::sync::Mutex<(Option<Pace>, bool)>,
}

impl Progress {
    /// A copy's progress: `record` kept where it proves the upload, its value `written` now.
    pub(super) fn new(
        record: Option<Fingerprint>,
        remembered: Option<Pace>,
        written: Option<Pace>,
        largest: u64,
    ) -> Self {
        Self {
            record,
            remembered,
            measured: std::sync::Mutex::new(None),
            shortest: std::sync::Mutex::new(None),
            largest,
            written: tokio::sync::Mutex::new((written, written != remembered)),
        }
    }

    /// The pace to judge parts by: measured here, or remembered from earlier invocations.
    pub(super) fn known(&self) -> Option<Pace> {
        let measured = *self.measured.lock().unwrap_or_else(|p| p.into_inner());
        measured.or(self.remembered)
    }

    /// Whether a part of `bytes` started now would end before `run`'s time margin, at the
    /// slowest pace known and no sooner than the quickest part so far (none known: it may).
    pub(super) fn fits(&self, run: &crate::run::Run, bytes: u64) -> bool {
        let shortest = *self.shortest.lock().unwrap_or_else(|p| p.into_inner());
        let by_pace = self.known().map(|p| p.time_for(bytes));
        match (by_pace, shortest) {
            (None, None) => true,
            (a, b) => run.fits(a.max(b).unwrap_or_default()),
        }
    }

    /// The record as it should read before parts of up to `bytes` start with `left` to go:
    /// what is known, lowered to the most such a part could have had if it is cut off.
    pub(super) fn lowered(&self, bytes: u64, left: Option<Duration>) -> Option<Pace> {
        let bound = left.map(|left| Pace::of(bytes, left).recorded());
        match (self.known(), bound) {
            (Some(known), Some(bound)) => Some(if bound < known { bound } else { known }),
            (known, bound) => known.or(bound),
        }
    }

    /// Writes the record as `pace` (`lowered`: for parts in flight) unless it says so already,
    /// by `write`, which answers whether the part written proves the upload still. It is written
    /// provisional where lowered below what is known.
    pub(super) async fn set<F>(
        &self,
        pace: Option<Pace>,
        lowered: bool,
        write: impl FnOnce(Option<Pace>, bool) -> F,
    ) where
        F: std::future::Future<Output = bool>,
    {
        if self.record.is_none() {
            return;
        }
        let mut written = self.written.lock().await;
        if written.0.map(Pace::recorded) == pace.map(Pace::recorded) && written.1 == lowered {
            return;
        }
        let provisional = lowered && pace.map(Pace::recorded) != self.known().map(Pace::recorded);
        if write(pace, provisional).await {
            *written = (pace, lowered);
        }
    }

    /// A part of `bytes` landed in `took`: the record is raised from a lowered value, or lowered
    /// to a pace an eighth or more below what it says (parts of half the largest or more only).
    /// Returns the pace to write, if any.
    pub(super) async fn landed(&self, bytes: u64, took: Duration) -> Option<Pace> {
        {
            let mut shortest = self.shortest.lock().unwrap_or_else(|p| p.into_inner());
            *shortest = Some(shortest.map_or(took, |s| s.min(took)));
        }
        if bytes.saturating_mul(2) < self.largest {
            return None;
        }
        let pace = Pace::of(bytes, took);
        let slowest = {
            let mut measured = self.measured.lock().unwrap_or_else(|p| p.into_inner());
            let slowest = measured.map_or(pace, |m| if pace < m { pace } else { m });
            *measured = Some(slowest);
            slowest
        };
        let written = self.written.lock().await;
        let stale = written.1 || written.0.is_none_or(|w| slowest.0 < w.0 * 7.0 / 8.0);
        (self.record.is_some() && stale).then_some(slowest)
    }

    /// When the copy stops itself: the pace to write back where the record was lowered.
    pub(super) async fn settled(&self) -> Option<Option<Pace>> {
        let written = self.written.lock().await;
        (self.record.is_some() && written.1).then(|| self.known())
    }
}

/// The fingerprint's bytes before the pace: a digest of everything an upload is created with and
/// copies. Debug output is stable within one build; a new build simply starts new uploads.
fn base(request: &CopyRequest, layout: &[(u64, u64)], tags: &[(String, String)]) -> String {
    // What the upload holds, not the state the destination was read in: a retry reads it anew
    // (its write condition differs) and must still resume the same upload.
    // Nor when its record is dated: at its creation, in whichever invocation that was.
    let target = ReplicaSpec {
        condition: None,
        metadata: super::stamp::undated(&request.target.metadata),
        ..request.target.clone()
    };
    let mut md5 = Md5::new();
    md5.update(format!(
        "{:?}\n{:?}\n{:?}\n{:?}\n{:?}",
        request.source, request.source_if_match, target, tags, layout
    ));
    format!("s3-replicator upload {}", hex::encode(md5.finalize()))
}

/// The ETag S3 gives a part with these bytes (where part ETags are MD5s).
fn part_etag(body: &[u8]) -> String {
    format!("\"{}\"", hex::encode(Md5::digest(body)))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_are_s3s_base64_values() {
        // CRC32 of "abc" is 0x352441c2.
        assert_eq!(checksum_of("CRC32", b"abc").as_deref(), Some("NSRBwg=="));
        assert_eq!(checksum_of("CRC32", b"").as_deref(), Some("AAAAAA=="));
        assert!(checksum_of("CRC64NVME", b"abc").is_some());
        assert_eq!(checksum_of("MD4", b"abc"), None);
    }

    #[tokio::test]
    async fn the_record_is_lowered_for_parts_in_flight_and_raised_by_large_parts_only() {
        const MIB: u64 = 1024 * 1024;
        let fingerprint = Fingerprint {
            base: "b".into(),
            proof: ProofBy::Etag,
        };
        let progress = Progress::new(Some(fingerprint), None, None, 32 * MIB);
        // Nothing known: a 32 MiB part with 4 s left could have had at most 8 MiB/s.
        let lowered = progress.lowered(32 * MIB, Some(Duration::from_secs(4)));
        assert_eq!(lowered, Some(Pace(8.0 * MIB as f64).recorded()));
        progress
            .set(lowered, true, |_, provisional| async move {
                assert!(provisional, "lowered below what is known (nothing)");
                true
            })
            .await;
        // A small part's pace is not the large ones': nothing to write, but it is the quickest.
        assert_eq!(progress.landed(MIB, Duration::from_secs(2)).await, None);
        assert_eq!(progress.known(), None);
        let run = crate::run::Run::new(Some(std::time::Instant::now() + Duration::from_secs(1)));
        assert!(
            !progress.fits(&run, 10),
            "no part is expected to take less than 2 s"
        );
        // A large part lands: the lowered record is raised to its pace.
        let landed = progress.landed(16 * MIB, Duration::from_secs(4)).await;
        assert_eq!(landed, Some(Pace(4.0 * MIB as f64)));
        progress
            .set(landed, false, |_, provisional| async move {
                assert!(!provisional, "measured");
                true
            })
            .await;
        assert_eq!(
            progress.settled().await,
            None,
            "nothing lowered to put back"
        );
        // Slower by less than an eighth: not written again.
        assert_eq!(
            progress.landed(16 * MIB, Duration::from_millis(4400)).await,
            None
        );
    }

    #[test]
    fn the_recorded_pace_is_read_back_from_the_parts_size_never_higher() {
        let fingerprint = Fingerprint {
            base: "s3-replicator upload x".into(),
            proof: ProofBy::Etag,
        };
        let paces = [None, Some(Pace(1.0)), Some(Pace(3.3e6)), Some(Pace(9e12))];
        for (pace, provisional) in paces.iter().flat_map(|p| [(*p, false), (*p, true)]) {
            let body = fingerprint.body(pace, provisional);
            let part = UploadedPart {
                etag: part_etag(&body),
                checksum: None,
                kms: false,
                written: None,
            };
            let read = fingerprint.read(body.len() as u64, &part).expect("ours");
            assert_eq!(read.pace, pace.map(Pace::recorded));
            assert_eq!(read.provisional, provisional && pace.is_some());
            if let (Some(read), Some(pace)) = (read.pace, pace) {
                assert!(
                    read.0 <= pace.0 && read.0 > pace.0 * 0.99,
                    "{read:?} {pace:?}"
                );
            }
            // Another length or other bytes are not it.
            assert_eq!(fingerprint.read(body.len() as u64 + 1, &part), None);
        }
        let other = UploadedPart {
            etag: part_etag(b"other"),
            checksum: None,
            kms: false,
            written: None,
        };
        assert_eq!(fingerprint.read(22, &other), None);
    }

    #[test]
    fn a_provisional_pace_is_evidence_only_once_its_parts_cannot_be_in_flight() {
        const MIB: u64 = 1024 * 1024;
        let now = std::time::SystemTime::now();
        let ago = |s: u64| Some(now - Duration::from_secs(s));
        // 6 MiB parts at 0.1 MiB/s: 60 s each.
        let pace = Some(Pace(0.1 * MIB as f64));
        let lowered = Record {
            pace,
            provisional: true,
        };
        // Another delivery wrote it a moment ago: its parts may be landing still.
        assert_eq!(lowered.evidence(ago(1), 6 * MIB, now), None);
        assert_eq!(lowered.evidence(ago(59), 6 * MIB, now), None);
        // Their time has passed: they were cut.
        assert_eq!(lowered.evidence(ago(62), 6 * MIB, now), pace);
        // A measured pace is evidence at once; a time unknown is long past.
        let measured = Record {
            pace,
            provisional: false,
        };
        assert_eq!(measured.evidence(ago(0), 6 * MIB, now), pace);
        assert_eq!(lowered.evidence(None, 6 * MIB, now), pace);
    }
}
