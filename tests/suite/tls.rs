//! The HTTPS client the function ships (rustls with ring, the system's root certificates): it
//! replicates over TLS from an endpoint whose certificate a trusted CA signed, and refuses one
//! it cannot trust. Against moto serving HTTPS with a CA made for the run.

use crate::common::*;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode, TlsContext, TrustStore};

/// A client for setting up buckets that trusts the run's CA and nothing else.
fn trusting(endpoint: &str, ca: &[u8]) -> aws_sdk_s3::Client {
    let context = TlsContext::builder()
        .with_trust_store(TrustStore::empty().with_pem_certificate(ca.to_vec()))
        .build()
        .unwrap();
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .tls_context(context)
        .build_https();
    let sdk = sdk_config(endpoint, "us-east-1")
        .into_builder()
        .http_client(http)
        .build();
    client_from(&sdk)
}

fn cli(endpoint: &str) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_s3-replicator"));
    command
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("S3_FORCE_PATH_STYLE", "true")
        .env_remove("SSL_CERT_FILE")
        .env_remove("SSL_CERT_DIR");
    command
}

#[tokio::test]
async fn replicates_over_tls_and_refuses_an_untrusted_certificate() {
    let dir = std::env::temp_dir().join(format!("s3-replicator-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let server = start_moto_tls(&dir);
    let ca = std::fs::read(dir.join("ca.pem")).unwrap();
    let s3 = trusting(&server.endpoint, &ca);
    let src = versioned_bucket(&s3, "tls-src", "us-east-1").await;
    let dst = versioned_bucket(&s3, "tls-dst", "us-east-1").await;
    put(&s3, &src, "over tls.txt", b"encrypted in transit").await;

    let out = cli(&server.endpoint)
        .env("DESTINATION_BUCKET", &dst)
        .env("SSL_CERT_FILE", dir.join("ca.pem"))
        .args(["backfill", "--bucket", &src])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert_eq!(
        body_of(&s3, &dst, "over tls.txt", None).await,
        b"encrypted in transit"
    );

    // The system's roots do not include the run's CA: the handshake must fail, loudly.
    let out = cli(&server.endpoint)
        .env("DESTINATION_BUCKET", &dst)
        .args(["verify", "--bucket", &src])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(said.contains("UnknownIssuer"), "{said}");
    let _ = std::fs::remove_dir_all(&dir);
}
