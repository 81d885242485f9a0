//! A part copy that takes longer than the SDK's stalled-stream grace period. S3 answers
//! UploadPartCopy's headers at once and its body only when the part is copied, so the body is
//! silent for as long as the copy takes (a 5 GiB part: minutes). A proxy in front of the local
//! S3 does the same here, with the grace period lowered to 1 s so that the test stays short.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::common::*;

/// A proxy to `upstream` (http://host:port) that sends an UploadPartCopy answer's headers at
/// once and its body after `silence`; every other answer at once. One request per connection.
async fn silent_part_copies(upstream: &str, silence: Duration) -> String {
    let upstream = upstream.trim_start_matches("http://").to_owned();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            tokio::spawn(relay(client, upstream.clone(), silence));
        }
    });
    endpoint
}

async fn relay(mut client: TcpStream, upstream: String, silence: Duration) -> std::io::Result<()> {
    // The request: headers, then as many body bytes as Content-Length says.
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
    let head = String::from_utf8_lossy(&request[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while request.len() < head_end + length {
        let n = client.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        request.extend_from_slice(&buf[..n]);
    }
    let part_copy = head.starts_with("put ")
        && head
            .lines()
            .next()
            .is_some_and(|l| l.contains("partnumber="))
        && head.contains("\r\nx-amz-copy-source:");
    // Upstream, closing after the answer so that it can be read to its end.
    let mut server = TcpStream::connect(&upstream).await?;
    let (head_only, body) = request.split_at(head_end);
    let head_only = String::from_utf8_lossy(head_only);
    let forwarded: String = head_only
        .trim_end_matches("\r\n")
        .split("\r\n")
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .map(|l| format!("{l}\r\n"))
        .collect();
    server
        .write_all(format!("{forwarded}Connection: close\r\n\r\n").as_bytes())
        .await?;
    server.write_all(body).await?;
    let mut answer = Vec::new();
    server.read_to_end(&mut answer).await?;
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(answer.len(), |i| i + 4);
    let (answer_head, answer_body) = answer.split_at(split);
    let answer_head: String = String::from_utf8_lossy(answer_head)
        .trim_end_matches("\r\n")
        .split("\r\n")
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .map(|l| format!("{l}\r\n"))
        .collect();
    client
        .write_all(format!("{answer_head}Connection: close\r\n\r\n").as_bytes())
        .await?;
    client.flush().await?;
    if part_copy {
        tokio::time::sleep(silence).await;
    }
    client.write_all(answer_body).await?;
    client.shutdown().await
}

/// A part copy whose answer stays silent for longer than the SDK's stalled-stream grace period
/// lands: the SDK's protection, made for downloads, is off for UploadPartCopy (as the SDK keeps
/// it off for CopyObject). With it on, such a part (every 5 GiB part on AWS) is cut off and
/// retried without end, and the copy never finishes.
#[tokio::test]
async fn a_part_copy_silent_for_longer_than_the_sdks_stall_grace_period_lands() {
    use aws_sdk_s3::config::StalledStreamProtectionConfig;
    let s3 = client();
    let src = versioned_bucket(&s3, "stall-src", "us-east-1").await;
    let dst = versioned_bucket(&s3, "stall-dst", "eu-west-1").await;
    let parts = vec![body(5 * MIB), b"tail".to_vec()];
    let p = multipart_source(&s3, &src, "silent.bin", &parts).await;
    let proxy = silent_part_copies(&server().endpoint, Duration::from_secs(3)).await;
    let sdk = sdk_config(&proxy, "us-east-1")
        .into_builder()
        .stalled_stream_protection(
            StalledStreamProtectionConfig::enabled()
                .grace_period(Duration::from_secs(1))
                .build(),
        )
        .build();
    let vars = function_env(&[("DESTINATION_BUCKET", dst.as_str())]);
    let replicator = s3_replicator::wiring::build(&sdk, |name| vars.get(name).cloned())
        .expect("valid configuration");
    let summary = tokio::time::timeout(
        Duration::from_secs(60),
        s3_replicator::handle(&replicator, created_event(std::slice::from_ref(&p))),
    )
    .await
    .expect("the copy ends")
    .expect("the copy lands");
    assert_eq!(summary.replicated, 1);
    let replica = s3
        .head_object()
        .bucket(&dst)
        .key("silent.bin")
        .send()
        .await
        .unwrap();
    assert_eq!(replica.e_tag().unwrap().trim_matches('"'), p.etag);
}
