//! S3's own order of a key's versions and delete markers. ListObjectVersions answers them in one
//! sequence, each key's newest first in the order S3 stacked them; the SDK parses them into two
//! lists (`versions`, `delete_markers`), and merging those by `LastModified` loses the order of
//! entries of one second (a version and the delete marker over it). An interceptor reads the
//! sequence of element kinds from the response itself, and the two lists are woven back by it.

use std::sync::{Arc, Mutex};

use aws_sdk_s3::config::interceptors::AfterDeserializationInterceptorContextRef;
use aws_sdk_s3::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;

/// One entry of a listing page, in the order S3 sent them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// A `<Version>` element.
    Version,
    /// A `<DeleteMarker>` element.
    DeleteMarker,
}

/// Records the kinds of a ListObjectVersions page's entries, in the response's order.
#[derive(Debug, Clone, Default)]
pub(super) struct PageOrder(Arc<Mutex<Option<Vec<Kind>>>>);

impl PageOrder {
    /// The kinds the last page answered, in order (`None` when its body could not be read).
    pub(super) fn take(&self) -> Option<Vec<Kind>> {
        self.0.lock().ok().and_then(|mut o| o.take())
    }
}

impl Intercept for PageOrder {
    fn name(&self) -> &'static str {
        "ListObjectVersionsOrder"
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        // The body is read into memory before a non-streaming answer is parsed.
        let kinds = context.response().body().bytes().map(kinds_of);
        if let Ok(mut slot) = self.0.lock() {
            *slot = kinds;
        }
        Ok(())
    }
}

/// The kinds of the `<Version>` and `<DeleteMarker>` elements of a ListObjectVersions body, in
/// order (`<VersionId>` and the markers' names are other elements).
fn kinds_of(body: &[u8]) -> Vec<Kind> {
    const VERSION: &[u8] = b"<Version>";
    const MARKER: &[u8] = b"<DeleteMarker>";
    let mut kinds = Vec::new();
    let mut i = 0;
    while i < body.len() {
        if body[i..].starts_with(VERSION) {
            kinds.push(Kind::Version);
            i += VERSION.len();
        } else if body[i..].starts_with(MARKER) {
            kinds.push(Kind::DeleteMarker);
            i += MARKER.len();
        } else {
            i += 1;
        }
    }
    kinds
}

/// The page's versions and delete markers woven back into S3's sequence by `order`; `None` when
/// the order does not account for exactly the entries parsed.
pub(super) fn weave<V, M, T>(
    order: &[Kind],
    versions: impl IntoIterator<Item = V>,
    markers: impl IntoIterator<Item = M>,
    mut version: impl FnMut(V) -> T,
    mut marker: impl FnMut(M) -> T,
) -> Option<Vec<T>> {
    let (mut versions, mut markers) = (versions.into_iter(), markers.into_iter());
    let mut woven = Vec::with_capacity(order.len());
    for kind in order {
        woven.push(match kind {
            Kind::Version => version(versions.next()?),
            Kind::DeleteMarker => marker(markers.next()?),
        });
    }
    (versions.next().is_none() && markers.next().is_none()).then_some(woven)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sequence_of_entries_as_sent() {
        let body = br#"<ListVersionsResult><VersionIdMarker/><DeleteMarker><Key>k</Key><VersionId>3</VersionId></DeleteMarker><Version><Key>k</Key><VersionId>2</VersionId></Version><DeleteMarker><VersionId>1</VersionId></DeleteMarker><NextVersionIdMarker>x</NextVersionIdMarker></ListVersionsResult>"#;
        assert_eq!(
            kinds_of(body),
            [Kind::DeleteMarker, Kind::Version, Kind::DeleteMarker]
        );
    }

    #[test]
    fn woven_by_the_order_and_refused_when_it_does_not_fit() {
        let order = [Kind::Version, Kind::DeleteMarker, Kind::Version];
        let woven = weave(&order, ["v1", "v2"], ["m1"], |v| v, |m| m);
        assert_eq!(woven, Some(vec!["v1", "m1", "v2"]));
        assert_eq!(weave(&order, ["v1"], ["m1"], |v| v, |m| m), None);
        assert_eq!(weave(&order[..2], ["v1", "v2"], ["m1"], |v| v, |m| m), None);
    }
}
