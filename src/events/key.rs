//! S3 event keys are form-URL-encoded: `+` is a space and `%XX` a byte (`%2B` is a plus).

use std::fmt;

/// Why an event key could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyDecodeError {
    /// A `%` not followed by two hex digits, at this byte offset.
    BadEscape(usize),
    /// The decoded bytes are not UTF-8 (S3 keys always are).
    NotUtf8,
}

impl fmt::Display for KeyDecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadEscape(at) => write!(f, "'%' at byte {at} is not followed by two hex digits"),
            Self::NotUtf8 => write!(f, "decoded key is not valid UTF-8"),
        }
    }
}

/// Decodes a key as S3 writes it into event notifications. Strict: a malformed escape is an error,
/// because decoding it loosely would name a different object and lose the real one.
pub fn decode_event_key(encoded: &str) -> Result<String, KeyDecodeError> {
    let bytes = encoded.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                // Exactly two hex digits: `from_str_radix` alone would take "+1" as 1.
                let byte = match bytes.get(i + 1..i + 3) {
                    Some(&[hi, lo]) if hi.is_ascii_hexdigit() && lo.is_ascii_hexdigit() => {
                        hex_value(hi) * 16 + hex_value(lo)
                    }
                    _ => return Err(KeyDecodeError::BadEscape(i)),
                };
                out.push(byte);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| KeyDecodeError::NotUtf8)
}

fn hex_value(digit: u8) -> u8 {
    match digit {
        b'0'..=b'9' => digit - b'0',
        b'a'..=b'f' => digit - b'a' + 10,
        _ => digit - b'A' + 10,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn plus_is_a_space_and_escaped_plus_is_a_plus() {
        assert_eq!(decode_event_key("a+b%2Bc").unwrap(), "a b+c");
    }

    #[test]
    fn percent_sign_and_unicode_decode() {
        assert_eq!(decode_event_key("100%25+sure").unwrap(), "100% sure");
        assert_eq!(decode_event_key("caf%C3%A9/%E2%9C%93").unwrap(), "café/✓");
    }

    #[test]
    fn malformed_escape_is_an_error() {
        assert_eq!(decode_event_key("a%zz"), Err(KeyDecodeError::BadEscape(1)));
        assert_eq!(decode_event_key("a%4"), Err(KeyDecodeError::BadEscape(1)));
        assert_eq!(decode_event_key("%FF"), Err(KeyDecodeError::NotUtf8));
        // A sign is not a hex digit.
        assert_eq!(decode_event_key("a%+1"), Err(KeyDecodeError::BadEscape(1)));
        assert_eq!(decode_event_key("a%-1"), Err(KeyDecodeError::BadEscape(1)));
    }

    proptest! {
        #[test]
        fn form_encoding_round_trips(key in "\\PC{0,64}") {
            let encoded: String = form_urlencoded::byte_serialize(key.as_bytes()).collect();
            prop_assert_eq!(decode_event_key(&encoded).unwrap(), key);
        }
    }
}
