//! When a part of a copy's layout cannot be copied within one invocation, the copy switches to a
//! layout of our own whose parts can: UploadPartCopy of byte ranges, each small enough to finish
//! at the pace the progress record remembers. The source's layout is what keeps its ETag, so
//! the replica then has an ETag of its own; its record says so ([`REPLICA_LAYOUT`]) and its bytes
//! are proven by the checksum.
//!
//! The judgement is made from the pace in the progress record: measured on parts that landed, or
//! the most a part that was cut off could have had (written before it started, as if it would
//! be cut). A part expected to take more than 15/16 of what the invocation has left for parts
//! is judged unable to finish: a part that was cut after being given a whole invocation (less
//! its reads) reads so in the next one. Our parts are sized to take at most half of it.

use std::time::Duration;

use super::progress::Pace;
use super::{MAX_PART, MAX_PARTS, MIB, MIN_PART};
use crate::store::{record_mac, CopyRequest, OWN_LAYOUT, REPLICA_LAYOUT, REPLICA_MARKER};

/// Whether a part of `bytes` cannot be copied at `pace` within `budget`.
pub(super) fn hopeless(bytes: u64, pace: Pace, budget: Duration) -> bool {
    pace.time_for(bytes) >= budget.mul_f64(15.0 / 16.0)
}

/// The part sizes of our own layouts an object of `size` bytes may switch to from a layout whose
/// largest part has `largest` bytes, smallest first: from the smallest that needs fewer than
/// 10,000 parts (the fingerprint keeps part 10,000), doubling, each smaller than `largest`.
/// Few, so that the next invocation can find an upload in any of them by its fingerprint.
pub(super) fn own_sizes(size: u64, largest: u64) -> Vec<u64> {
    let smallest = MIN_PART.max(size.div_ceil(MAX_PARTS - 1).div_ceil(MIB) * MIB);
    std::iter::successors(Some(smallest), |p| p.checked_mul(2))
        .take_while(|p| *p < largest && *p <= MAX_PART)
        .collect()
}

/// The part size to switch to, from `sizes` ([`own_sizes`]): the largest whose part takes at
/// most half of `budget` at `pace`, or where none does (a pace below the floor), the smallest.
pub(super) fn own_size(sizes: &[u64], pace: Pace, budget: Duration) -> Option<u64> {
    sizes
        .iter()
        .rev()
        .find(|p| pace.time_for(**p) <= budget / 2)
        .or(sizes.first())
        .copied()
}

/// `request` as a copy in a layout of our own writes it: a replica's record says its layout is
/// ours (sealed anew where a record key is configured), so that its ETag is never taken for
/// damage. Anything else (a restored version) is written as it is.
pub(super) fn own_request(request: &CopyRequest, size: u64) -> CopyRequest {
    let mut request = request.clone();
    let metadata = &mut request.target.metadata;
    if metadata.contains_key(REPLICA_MARKER) {
        metadata.insert(REPLICA_LAYOUT.to_owned(), OWN_LAYOUT.to_owned());
        record_mac::seal(metadata, size, record_mac::installed());
    }
    request
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1024 * MIB;

    #[test]
    fn a_part_that_needs_nearly_the_whole_budget_is_hopeless() {
        let budget = Duration::from_secs(270);
        // 5 GiB at 18 MiB/s: 284 s.
        assert!(hopeless(5 * GIB, Pace(18.0 * MIB as f64), budget));
        assert!(!hopeless(5 * GIB, Pace(50.0 * MIB as f64), budget));
        // A part cut after 260 s had at most 5 GiB / 260 s: hopeless in 270 s.
        let bound = Pace::of(5 * GIB, Duration::from_secs(260));
        assert!(hopeless(5 * GIB, bound, budget));
    }

    #[test]
    fn our_parts_are_few_sizes_smaller_than_the_layouts_and_fit_the_budget() {
        assert_eq!(
            own_sizes(1024 * MIB, 256 * MIB),
            vec![5 * MIB, 10 * MIB, 20 * MIB, 40 * MIB, 80 * MIB, 160 * MIB]
        );
        // 1 TiB: at least 105 MiB a part, for fewer than 10,000 parts.
        let tib = own_sizes(1024 * GIB, 5 * GIB);
        assert_eq!(tib.first(), Some(&(105 * MIB)));
        assert!(tib.iter().all(|p| (1024 * GIB).div_ceil(*p) < MAX_PARTS));
        // The largest object: no layout of smaller parts exists.
        assert!(own_sizes(MAX_PARTS * MAX_PART, MAX_PART).is_empty());
        let sizes = own_sizes(1024 * MIB, 256 * MIB);
        let budget = Duration::from_secs(10);
        // 4 MiB/s: 20 MiB parts take 5 s, half the budget.
        assert_eq!(
            own_size(&sizes, Pace(4.0 * MIB as f64), budget),
            Some(20 * MIB)
        );
        // Below the floor: the smallest there is.
        assert_eq!(own_size(&sizes, Pace(1.0), budget), Some(5 * MIB));
        assert_eq!(own_size(&[], Pace(1.0), budget), None);
    }
}
