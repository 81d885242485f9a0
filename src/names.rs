//! What S3 accepts as a bucket name, a region, a key, an ETag or a version id: checked where
//! they enter (configuration and events), so that nothing the SDK would refuse (or panic on,
//! as it does on a region with a newline or a key too long for a URI) reaches it.

/// The longest key S3 accepts, in bytes of UTF-8.
pub const MAX_KEY_BYTES: usize = 1024;

/// A bucket name: 3-63 lowercase letters, digits, '.' and '-', starting and ending with a
/// letter or digit.
pub fn is_bucket_name(name: &str) -> bool {
    let b = name.as_bytes();
    (3..=63).contains(&b.len())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'.' || *c == b'-')
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
}

/// A region name such as `eu-west-1`: lowercase letters, digits and '-', at most 32 bytes.
pub fn is_region(region: &str) -> bool {
    !region.is_empty()
        && region.len() <= 32
        && !region.starts_with('-')
        && !region.ends_with('-')
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// A value that can travel in an HTTP header or query unchanged (ETags, version ids): visible
/// ASCII, at most 1,024 bytes.
pub fn is_token(value: &str) -> bool {
    !value.is_empty() && value.len() <= 1024 && value.bytes().all(|b| b.is_ascii_graphic())
}

/// An event sequencer: hexadecimal digits, at most 64 (S3's are about 18).
pub fn is_sequencer(value: &str) -> bool {
    (1..=64).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Why a decoded key cannot be an S3 key, if it cannot.
pub fn key_problem(key: &str) -> Option<String> {
    if key.is_empty() {
        return Some("is empty".to_owned());
    }
    if key.len() > MAX_KEY_BYTES {
        return Some(format!(
            "is {} bytes long; S3 keys are at most {MAX_KEY_BYTES}",
            key.len()
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_are_plain_names() {
        assert!(
            is_region("us-east-1") && is_region("us-gov-west-1") && is_region("eusc-de-east-1")
        );
        for bad in [
            "",
            "us-east-1\n",
            "US-EAST-1",
            "-x",
            "x-",
            "a b",
            &"a".repeat(33),
        ] {
            assert!(!is_region(bad), "{bad:?}");
        }
    }

    #[test]
    fn tokens_are_visible_ascii() {
        assert!(
            is_token("\"d41d8cd98f00b204e9800998ecf8427e-3\"")
                && is_token("3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY")
        );
        for bad in ["", "a b", "a\r\nb", "é", &"a".repeat(1025)] {
            assert!(!is_token(bad), "{bad:?}");
        }
    }

    #[test]
    fn keys_are_at_most_1024_bytes() {
        assert_eq!(key_problem(&"k".repeat(1024)), None);
        assert!(key_problem(&"k".repeat(1025))
            .unwrap()
            .contains("1025 bytes"));
        assert!(key_problem("").is_some());
    }
}
