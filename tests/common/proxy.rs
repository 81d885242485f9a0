//! A proxy in front of the local S3 that answers the requests a test chooses itself: refused
//! (403 AccessDenied, as a bucket policy or a missing permission answers), or passed on. Every
//! request can be held first, so that a test reacting to what the process printed decides the
//! requests made after it.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One request as the proxy sees it: `method`, the target (path and query) and the header
/// lines, lowercased.
pub struct Request {
    pub method: String,
    pub target: String,
    pub headers: String,
}

impl Request {
    /// A CopyObject or UploadPartCopy into `bucket`.
    pub fn is_copy_into(&self, bucket: &str) -> bool {
        self.method == "PUT"
            && self.target.starts_with(&format!("/{bucket}/"))
            && self.headers.contains("\nx-amz-copy-source:")
    }
}

/// What the proxy does with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Pass,
    Refuse,
}

/// A proxy to `upstream` (`http://host:port`) that holds each request `hold`, then answers it as
/// `judge` says: its endpoint.
pub async fn proxy(
    upstream: &str,
    hold: Duration,
    judge: impl Fn(&Request) -> Answer + Send + Sync + 'static,
) -> String {
    let upstream = upstream.trim_start_matches("http://").to_owned();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let judge = Arc::new(judge);
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let judge = judge.clone();
            let upstream = upstream.clone();
            tokio::spawn(async move { relay(client, &upstream, hold, &*judge).await });
        }
    });
    endpoint
}

async fn relay(
    mut client: TcpStream,
    upstream: &str,
    hold: Duration,
    judge: &(dyn Fn(&Request) -> Answer + Send + Sync),
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
    let headers = head.to_ascii_lowercase();
    let length: usize = headers
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
    let mut first = head.lines().next().unwrap_or_default().split(' ');
    let seen = Request {
        method: first.next().unwrap_or_default().to_owned(),
        target: first.next().unwrap_or_default().to_owned(),
        headers,
    };
    tokio::time::sleep(hold).await;
    if judge(&seen) == Answer::Refuse {
        // A HEAD's error has no body, as S3 answers it.
        let body = match seen.method.as_str() {
            "HEAD" => "",
            _ => "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>",
        };
        let answer = format!(
            "HTTP/1.1 403 Forbidden\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        client.write_all(answer.as_bytes()).await?;
        return client.shutdown().await;
    }
    let mut server = TcpStream::connect(upstream).await?;
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
    client.write_all(&answer).await?;
    client.shutdown().await
}
