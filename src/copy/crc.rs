//! The full-object CRC of bytes streamed in parts: each part's CRC computed as it passes through
//! the function (`super::tee_crc`), combined in part order into the value S3 gives the whole
//! object. A copy in parts to another endpoint that keeps no checksum (Ceph RGW ignores one on
//! Complete) is proven by it against the source's before Complete.

use std::sync::Mutex;

use crc_fast::CrcAlgorithm;

use crate::error::ReplicationError;
use crate::store::Checksum;

/// The CRCs of the parts streamed in this invocation, where the source has a full-object CRC.
pub struct Parts {
    algorithm: Option<CrcAlgorithm>,
    /// (part number, CRC, length).
    parts: Mutex<Vec<(u32, u64, u64)>>,
}

impl Parts {
    /// For a copy of a source with checksum `want`; nothing is computed unless `streamed`.
    pub fn new(streamed: bool, want: Option<&Checksum>) -> Self {
        Self {
            algorithm: full_object_crc(want).filter(|_| streamed),
            parts: Mutex::new(Vec::new()),
        }
    }

    /// The algorithm to compute over each part's bytes, if any.
    pub fn algorithm(&self) -> Option<CrcAlgorithm> {
        self.algorithm
    }

    /// Part `number`'s CRC (`None`: not computed) over its `len` bytes.
    pub fn note(&self, number: u32, crc: Option<u64>, len: u64) {
        if let Some(crc) = crc {
            let mut parts = self.parts.lock().unwrap_or_else(|p| p.into_inner());
            parts.push((number, crc, len));
        }
    }

    /// Checks the parts streamed against the source's full-object checksum `want`, where every
    /// one of the upload's `parts` was streamed here (parts an earlier invocation sent are
    /// proven by their MD5s only: a server that keeps no checksum proves nothing on Complete).
    pub fn check(&self, want: Option<&Checksum>, parts: usize) -> Result<(), ReplicationError> {
        let (Some(algorithm), Some(want)) = (self.algorithm, want) else {
            return Ok(());
        };
        let mut crcs = self.parts.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if crcs.len() != parts {
            return Ok(());
        }
        crcs.sort_by_key(|(n, _, _)| *n);
        let lengths: Vec<(u64, u64)> = crcs.iter().map(|(_, c, len)| (*c, *len)).collect();
        let made = combined(algorithm, &lengths);
        if made == want.value {
            return Ok(());
        }
        Err(ReplicationError::ReplicaMismatch(format!(
            "the bytes streamed make {} {made}, not the source's {}",
            want.algorithm, want.value
        )))
    }
}

/// The CRC algorithm of a source's full-object checksum, if it is one (`CRC32`, `CRC32C`,
/// `CRC64NVME`); a composite checksum, or a SHA, is none.
pub fn full_object_crc(checksum: Option<&Checksum>) -> Option<CrcAlgorithm> {
    let checksum = checksum.filter(|c| c.full_object)?;
    match checksum.algorithm.as_str() {
        "CRC32" => Some(CrcAlgorithm::Crc32IsoHdlc),
        "CRC32C" => Some(CrcAlgorithm::Crc32Iscsi),
        "CRC64NVME" => Some(CrcAlgorithm::Crc64Nvme),
        _ => None,
    }
}

/// The whole object's CRC from its parts' (CRC, length), in order, base64 as S3 writes it.
pub fn combined(algorithm: CrcAlgorithm, parts: &[(u64, u64)]) -> String {
    let value = match parts.split_first() {
        None => crc_fast::checksum(algorithm, b""),
        Some((first, rest)) => rest.iter().fold(first.0, |crc, (part, len)| {
            crc_fast::checksum_combine(algorithm, crc, *part, *len)
        }),
    };
    let bytes = match algorithm {
        CrcAlgorithm::Crc64Nvme => value.to_be_bytes().to_vec(),
        _ => (value as u32).to_be_bytes().to_vec(),
    };
    aws_smithy_types::base64::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::copy::multipart::checksum_of;

    #[test]
    fn parts_combine_into_the_value_s3_gives_the_whole() {
        let whole: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
        for (name, algorithm) in [
            ("CRC32", CrcAlgorithm::Crc32IsoHdlc),
            ("CRC32C", CrcAlgorithm::Crc32Iscsi),
            ("CRC64NVME", CrcAlgorithm::Crc64Nvme),
        ] {
            let parts: Vec<(u64, u64)> = whole
                .chunks(3_000)
                .map(|c| (crc_fast::checksum(algorithm, c), c.len() as u64))
                .collect();
            assert_eq!(
                Some(combined(algorithm, &parts)),
                checksum_of(name, &whole),
                "{name}"
            );
            assert_eq!(Some(combined(algorithm, &[])), checksum_of(name, b""));
        }
    }

    #[test]
    fn only_a_full_object_crc_is_computed() {
        let sum = |algorithm: &str, full_object| Checksum {
            algorithm: algorithm.into(),
            full_object,
            value: String::new(),
        };
        assert!(full_object_crc(Some(&sum("CRC32C", true))).is_some());
        assert!(full_object_crc(Some(&sum("CRC32", false))).is_none());
        assert!(full_object_crc(Some(&sum("SHA256", true))).is_none());
        assert!(full_object_crc(None).is_none());
    }
}
