//! Issue #40, the reviewer's round on Ceph RGW: what proves a streamed copy at another endpoint,
//! and what becomes of one proven wrong. Through the binary, moto as the source and RGW as the
//! destination; a proxy in front of the source flips one byte of a read (a transient fault on
//! the read path, which is what the checks after a write are there for).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use crate::common::*;
use crate::rgw_endpoints::{across, moto_to_rgw, ok, Across};
use aws_sdk_s3::types::{ChecksumAlgorithm, ServerSideEncryption};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A proxy to moto that flips one byte in the body of the first `flips` GETs of `/{bucket}/{key}`
/// and relays everything else as it is.
async fn flipping(bucket: &str, key: &str, flips: u32) -> String {
    let upstream = server().endpoint.trim_start_matches("http://").to_owned();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let path = format!("/{bucket}/{key}");
    let left = Arc::new(AtomicU32::new(flips));
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let (upstream, path, left) = (upstream.clone(), path.clone(), left.clone());
            tokio::spawn(relay(client, upstream, path, left));
        }
    });
    endpoint
}

async fn relay(
    mut client: TcpStream,
    upstream: String,
    path: String,
    left: Arc<AtomicU32>,
) -> std::io::Result<()> {
    let mut request = Vec::new();
    let mut buf = [0u8; 8192];
    let head_end = loop {
        let n = client.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        request.extend_from_slice(&buf[..n]);
        if let Some(i) = request.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&request[..head_end]).to_string();
    let length: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(str::to_owned)
        })
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while request.len() < head_end + length {
        let n = client.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        request.extend_from_slice(&buf[..n]);
    }
    let first = head.lines().next().unwrap_or_default().to_owned();
    let target = first.split(' ').nth(1).unwrap_or_default();
    let ours = first.starts_with("GET ") && target.split('?').next() == Some(path.as_str());
    let mut server = TcpStream::connect(&upstream).await?;
    let forwarded: String = head
        .trim_end_matches("\r\n")
        .split("\r\n")
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .map(|l| format!("{l}\r\n"))
        .collect();
    server
        .write_all(format!("{forwarded}Connection: close\r\n\r\n").as_bytes())
        .await?;
    server.write_all(&request[head_end..]).await?;
    let mut answer = Vec::new();
    server.read_to_end(&mut answer).await?;
    let body_at = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4);
    if let Some(at) = body_at.map(|b| b + 4096).filter(|at| *at < answer.len()) {
        let flip = ours && answer.starts_with(b"HTTP/1.1 20");
        if flip
            && left
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
        {
            answer[at] ^= 0x5a;
        }
    }
    client.write_all(&answer).await?;
    client.shutdown().await
}

impl Across {
    /// Runs the binary with its source read through `proxy`, in parts of `part_size` MiB.
    fn through(&self, proxy: &str, part_size: usize, args: &[&str]) -> (Option<i32>, String) {
        let size = (part_size * MIB).to_string();
        let env = [
            ("MULTIPART_THRESHOLD", size.as_str()),
            ("MULTIPART_PART_SIZE", size.as_str()),
            ("AWS_ENDPOINT_URL", proxy),
        ];
        self.cli_with(args, &env)
    }

    async fn replica_there(&self, key: &str) -> bool {
        let head = self.dst_s3.head_object().bucket(&self.dst).key(key);
        head.send().await.is_ok()
    }
}

/// A failed record at the destination: nothing there claims to be the replica, and the next
/// run copies again, byte for byte, which `verify --deep` calls the same.
async fn withdrawn_then_copied_again(t: &Across, key: &str, bytes: &[u8], out: &str) {
    assert!(out.contains("ReplicaMismatch"), "{out}");
    assert!(
        !t.replica_there(key).await,
        "a replica proven wrong was left at the destination: {out}"
    );
    let out = ok(t.tool("backfill", &[]));
    assert!(out.contains("1 replicated"), "{out}");
    assert_eq!(body_of(&t.dst_s3, &t.dst, key, None).await, bytes);
    // In parts of our own, at a server that keeps no checksum: unproven, never damage.
    let out = ok(t.tool("verify", &["--deep"]));
    assert!(out.contains(" 0 differs"), "{out}");
}

/// A single PUT streamed to RGW whose ETag is not the source's (one byte flipped on the read)
/// failed its record but stayed, with a genuine replica record: every retry, backfill and repair
/// took it for the replica. It is withdrawn, and the next run copies the source again.
// The proxy runs beside the binary, which the test waits for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_put_to_rgw_proven_wrong_is_withdrawn_and_copied_again() {
    let (source, dest) = moto_to_rgw();
    let t = across(&source, &dest).await;
    let bytes = body(12 * MIB + 7);
    put(&t.src_s3, &t.src, "one.bin", &bytes).await;
    let proxy = flipping(&t.src, "one.bin", 1).await;
    // One PUT above 8 MiB (streamed, without the SDK's checksum trailer).
    let (code, out) = t.through(&proxy, 16, &["backfill", "--bucket", &t.src]);
    assert_eq!(code, Some(1), "{out}");
    withdrawn_then_copied_again(&t, "one.bin", &bytes, &out).await;
}

/// A copy in parts of our own to RGW (a single-part source above the part size) was said to be
/// proven by the source's full-object CRC on Complete, but RGW ignores it, and each part's MD5
/// only proves the part stored what was read: bytes flipped on the read made a replica that
/// claimed to be complete. The CRC is computed over the bytes streamed and compared first.
// The proxy runs beside the binary, which the test waits for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_in_parts_to_rgw_is_proven_by_the_sources_crc() {
    let (source, dest) = moto_to_rgw();
    let t = across(&source, &dest).await;
    let bytes = body(11 * MIB + 3);
    put_with(&t.src_s3, &t.src, "crc.bin", &bytes, |b| {
        b.checksum_algorithm(ChecksumAlgorithm::Crc32)
    })
    .await;
    let proxy = flipping(&t.src, "crc.bin", 1).await;
    let (code, out) = t.through(&proxy, 5, &["backfill", "--bucket", &t.src]);
    assert_eq!(code, Some(1), "{out}");
    withdrawn_then_copied_again(&t, "crc.bin", &bytes, &out).await;
}

/// A replica at RGW that records the source's version but holds other bytes (of the same size)
/// was `unproven` to `verify --deep`, since the rule was said to keep no ETag at another
/// endpoint: a single PUT and a copy in the source's own layout do keep it there, so another
/// ETag is damage, and `repair` rewrites it.
#[tokio::test]
async fn other_bytes_under_a_replica_record_at_rgw_differ_and_are_repaired() {
    let (source, dest) = moto_to_rgw();
    let t = across(&source, &dest).await;
    let small = b"the source's own bytes".to_vec();
    put(&t.src_s3, &t.src, "small.txt", &small).await;
    let parts = vec![body(5 * MIB), b"the last part".to_vec()];
    t.multipart("parts.bin", &parts).await;
    ok(t.tool("backfill", &[]));
    for (key, len) in [("small.txt", small.len()), ("parts.bin", 5 * MIB + 13)] {
        // The replica's record, over other bytes of the same size.
        let head = t.dst_s3.head_object().bucket(&t.dst).key(key).send().await;
        let metadata = head.unwrap().metadata.unwrap_or_default();
        let other = vec![b'x'; len];
        let rewrite = t.dst_s3.put_object().bucket(&t.dst).key(key);
        let rewrite = rewrite.set_metadata(Some(metadata)).body(other.into());
        rewrite.send().await.unwrap();
    }
    let (code, out) = t.tool("verify", &["--deep"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("2 differs"), "{out}");
    assert!(out.contains(" 0 unproven"), "{out}");
    ok(t.tool("repair", &[]));
    assert_eq!(body_of(&t.dst_s3, &t.dst, "small.txt", None).await, small);
    assert_eq!(
        body_of(&t.dst_s3, &t.dst, "parts.bin", None).await,
        parts.concat()
    );
}

/// Every object S3 writes since 2023 is SSE-S3: restated to RGW (16.2, over http), the write
/// was refused (400 InvalidRequest) and no such object replicated. At an endpoint AWS does not
/// run, SSE-S3 is not restated: the destination bucket's default encryption applies.
#[tokio::test]
async fn sse_s3_sources_replicate_to_rgw_under_its_default_encryption() {
    let (source, dest) = moto_to_rgw();
    let t = across(&source, &dest).await;
    let small = b"encrypted at rest".to_vec();
    put_with(&t.src_s3, &t.src, "sse.txt", &small, |b| {
        b.server_side_encryption(ServerSideEncryption::Aes256)
    })
    .await;
    let large = body(11 * MIB + 1);
    put_with(&t.src_s3, &t.src, "sse.bin", &large, |b| {
        b.server_side_encryption(ServerSideEncryption::Aes256)
    })
    .await;
    let out = ok(t.tool("backfill", &[]));
    assert!(out.contains("2 replicated"), "{out}");
    assert_eq!(body_of(&t.dst_s3, &t.dst, "sse.txt", None).await, small);
    assert_eq!(body_of(&t.dst_s3, &t.dst, "sse.bin", None).await, large);
    // The encryption is the bucket's there: no difference (the large one is in parts of our own).
    let out = ok(t.tool("verify", &["--deep"]));
    assert!(
        out.contains("verify: 1 same") && out.contains(" 0 differs"),
        "{out}"
    );
}
