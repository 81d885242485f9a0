//! What a dry run says a run would cost: the requests of a copy, and the closing line with the
//! bytes to copy and the request cost at the prices assumed.

use crate::copy::{self, CopyMethod, CopySettings, MAX_PARTS};

/// US East (N. Virginia), S3 Standard, December 2026: PUT, COPY, POST and LIST requests per
/// 1,000 (README states the prices assumed).
pub const PUT_CLASS_PER_1000: f64 = 0.005;
/// GET and all other requests per 1,000.
pub const GET_CLASS_PER_1000: f64 = 0.0004;

/// The requests of one copy, by price class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Requests {
    /// PUT, COPY, POST and LIST requests.
    pub put: u64,
    /// GET, HEAD and all others.
    pub get: u64,
}

/// The requests a server-side copy of an object of `size` bytes with this ETag makes, beyond
/// the reads that decide it: one CopyObject, or a multipart copy as the engine makes it
/// (docs/semantics.md, "S3 requests per replicated object"). A multipart source keeps its own
/// layout at any size: N − 1 part-size HEADs, ListMultipartUploads, CreateMultipartUpload, the
/// fingerprint part, N UploadPartCopy, CompleteMultipartUpload. A layout of our own reads no
/// part sizes but reads the replica back after Complete.
pub fn copy_requests(size: u64, etag: &str, settings: &CopySettings) -> Requests {
    let (parts, part_heads, read_back) = match copy::choose(size, etag, settings, false) {
        Ok(CopyMethod::Multipart {
            source_parts: Some(n),
        }) => (u64::from(n), u64::from(n) - 1, 0),
        Ok(CopyMethod::Multipart { source_parts: None }) => {
            let n = copy::uniform_layout(size, settings.part_size).len() as u64;
            (n, 0, 1)
        }
        // One CopyObject (or none, for an object too large: the run names the failure).
        Ok(CopyMethod::SingleRequest) | Err(_) => return Requests { put: 1, get: 0 },
    };
    // A layout of 10,000 parts has no free number for the fingerprint: it is written only
    // when the copy stops for a retry.
    let fingerprint = u64::from(parts < MAX_PARTS);
    Requests {
        put: 3 + fingerprint + parts,
        get: part_heads + read_back,
    }
}

/// A dry run's second line: the bytes to copy and the estimated request cost.
pub fn cost_line(verb: &str, bytes: u64, put_class: u64, get_class: u64) -> String {
    let cost = put_class as f64 * PUT_CLASS_PER_1000 / 1000.0
        + get_class as f64 * GET_CLASS_PER_1000 / 1000.0;
    format!(
        "{verb} (dry run): {} to copy; about {put_class} PUT/COPY/LIST and {get_class} GET/HEAD requests, ${cost:.4} at ${PUT_CLASS_PER_1000} and ${GET_CLASS_PER_1000} per 1,000",
        indicatif::HumanBytes(bytes)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;

    #[test]
    fn a_multipart_source_costs_what_the_engine_makes_at_any_size() {
        let settings = CopySettings::default();
        // A small multipart source (3 parts): kept in its layout, not one CopyObject.
        let r = copy_requests(
            12 * MIB,
            "\"d41d8cd98f00b204e9800998ecf8427e-3\"",
            &settings,
        );
        // With the three reads before and the ordering check after: 2N + 7.
        assert_eq!(3 + r.put + r.get + 1, 2 * 3 + 7, "{r:?}");
        assert_eq!(r, Requests { put: 7, get: 2 });
        // 10,000 parts: no fingerprint part unless the copy stops.
        let r = copy_requests(10_000 * 5 * MIB, "\"ab-10000\"", &settings);
        assert_eq!(
            r,
            Requests {
                put: 10_003,
                get: 9_999
            }
        );
    }

    #[test]
    fn a_single_part_source_is_one_copy_or_parts_of_our_own() {
        let settings = CopySettings::default();
        assert_eq!(
            copy_requests(10, "\"ab\"", &settings),
            Requests { put: 1, get: 0 }
        );
        let low = CopySettings {
            threshold: 8 * MIB,
            part_size: 8 * MIB,
            ..settings
        };
        // 20 MiB in parts of 8: three parts, the upload's requests and a read back.
        assert_eq!(
            copy_requests(20 * MIB, "\"ab\"", &low),
            Requests { put: 7, get: 1 }
        );
    }
}
