//! The MD5 of a body as it streams through the function: what a streamed part's bytes were,
//! checked against the ETag the destination gives the part it stored; and where asked, their CRC
//! (combined part by part into the full-object checksum the source has: `super::crc`).

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use aws_smithy_types::body::SdkBody;
use bytes::Bytes;
use md5::{Digest, Md5};

use crate::store::Body;

/// Hashes the data frames of a body as they are polled.
struct Tee {
    inner: SdkBody,
    digest: Arc<Mutex<Digests>>,
}

/// What is computed over the bytes.
#[derive(Clone)]
struct Digests {
    md5: Md5,
    crc: Option<crc_fast::Digest>,
}

impl http_body::Body for Tee {
    type Data = Bytes;
    type Error = aws_smithy_types::body::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            if let Some(data) = frame.data_ref() {
                let mut digests = this.digest.lock().unwrap_or_else(|p| p.into_inner());
                digests.md5.update(data);
                if let Some(crc) = &mut digests.crc {
                    crc.update(data);
                }
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        http_body::Body::is_end_stream(&self.inner)
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::Body::size_hint(&self.inner)
    }
}

/// The MD5 of what passed through a [`tee`]d body.
#[derive(Clone)]
pub struct Md5Of(Arc<Mutex<Digests>>);

impl Md5Of {
    /// The digest as S3 writes a single-part ETag: hex, in quotes.
    pub fn etag(&self) -> String {
        let digests = self.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
        format!("\"{}\"", hex::encode(digests.md5.finalize()))
    }

    /// The CRC of the bytes, where [`tee_crc`] asked for one.
    pub fn crc(&self) -> Option<u64> {
        let digests = self.0.lock().unwrap_or_else(|p| p.into_inner());
        digests.crc.as_ref().map(crc_fast::Digest::finalize)
    }
}

/// `body`, hashed as it is read (once: a body is read once, or buffered first and then resent
/// from memory).
pub fn tee(body: Body) -> (Body, Md5Of) {
    tee_crc(body, None)
}

/// [`tee`], with the CRC of `crc`'s algorithm computed over the bytes too.
pub fn tee_crc(body: Body, crc: Option<crc_fast::CrcAlgorithm>) -> (Body, Md5Of) {
    let digest = Arc::new(Mutex::new(Digests {
        md5: Md5::new(),
        crc: crc.map(crc_fast::Digest::new),
    }));
    let shared = digest.clone();
    let stream = body.stream.map(move |inner| {
        SdkBody::from_body_1_x(Tee {
            inner,
            digest: shared.clone(),
        })
    });
    (
        Body {
            stream,
            length: body.length,
        },
        Md5Of(digest),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_digest_is_of_the_bytes_read() {
        let (body, md5) = tee(Body::from_bytes(b"hello world".to_vec()));
        let read = body.stream.collect().await.unwrap().into_bytes();
        assert_eq!(&read[..], b"hello world");
        assert_eq!(md5.etag(), "\"5eb63bbbe01eeed093cb22bb8f5acdc3\"");
    }
}
