//! Copy strategies. One CopyObject carries everything up to 5 GiB; larger objects need a
//! multipart copy, which slots in here beside the single request.

use crate::error::ReplicationError;

/// The largest object one CopyObject request accepts (5 GiB).
pub const COPY_OBJECT_LIMIT: u64 = 5 * 1024 * 1024 * 1024;

/// How one object version is copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyMethod {
    /// One CopyObject request: metadata, tags and ACL grants in the same call.
    SingleRequest,
}

/// Chooses the copy method for an object of `size` bytes.
pub fn choose(size: u64) -> Result<CopyMethod, ReplicationError> {
    if size <= COPY_OBJECT_LIMIT {
        Ok(CopyMethod::SingleRequest)
    } else {
        Err(ReplicationError::ObjectTooLarge {
            size,
            limit: COPY_OBJECT_LIMIT,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_at_the_limit_uses_one_copy() {
        assert_eq!(choose(COPY_OBJECT_LIMIT), Ok(CopyMethod::SingleRequest));
        assert_eq!(choose(0), Ok(CopyMethod::SingleRequest));
    }

    #[test]
    fn object_over_copy_limit_is_a_named_failure() {
        let err = choose(COPY_OBJECT_LIMIT + 1).unwrap_err();
        assert_eq!(err.code(), "ObjectTooLarge");
    }
}
