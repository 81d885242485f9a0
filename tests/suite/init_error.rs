//! The binary itself: a bad configuration is reported the way Lambda reports init failures
//! (POST /runtime/init/error with a stable errorType and README's message), and started outside
//! Lambda it says what it is instead of panicking.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// One request as the fake Runtime API received it.
#[derive(Debug)]
struct Received {
    request_line: String,
    headers: Vec<(String, String)>,
    body: String,
}

/// Serves one request on `listener` as the Lambda Runtime API would, answering 202.
async fn receive_one(listener: &TcpListener) -> Received {
    let (stream, _) = listener.accept().await.unwrap();
    let mut reader = BufReader::new(stream);
    let mut request_line = String::new();
    reader.read_line(&mut request_line).await.unwrap();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).await.unwrap();
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').unwrap();
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .map_or(0, |(_, v)| v.parse().unwrap());
    let mut body = vec![0; length];
    reader.read_exact(&mut body).await.unwrap();
    reader
        .get_mut()
        .write_all(b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n")
        .await
        .unwrap();
    Received {
        request_line: request_line.trim_end().to_owned(),
        headers,
        body: String::from_utf8(body).unwrap(),
    }
}

fn binary() -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_s3-replicator"));
    cmd.env_clear()
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

#[tokio::test]
async fn bad_configuration_is_posted_to_the_runtime_api_init_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = listener.local_addr().unwrap().to_string();
    let child = binary()
        .env("AWS_LAMBDA_RUNTIME_API", &api)
        .env("AWS_LAMBDA_FUNCTION_NAME", "s3-replicator")
        .env(
            "REPLICATION_CONFIG",
            r#"{"Rules":[{"Destination":{"Bukcet":"x"}}]}"#,
        )
        .spawn()
        .unwrap();
    let received = tokio::time::timeout(Duration::from_secs(30), receive_one(&listener))
        .await
        .expect("the init error is posted");
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .unwrap()
        .unwrap();

    assert_eq!(
        received.request_line,
        "POST /2018-06-01/runtime/init/error HTTP/1.1"
    );
    let header = |name: &str| {
        received
            .headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(
        header("lambda-runtime-function-error-type"),
        Some("Runtime.InvalidConfiguration")
    );
    let body: serde_json::Value = serde_json::from_str(&received.body).unwrap();
    assert_eq!(body["errorType"], "InvalidConfiguration");
    let message = body["errorMessage"].as_str().unwrap();
    assert!(
        message.starts_with("invalid configuration: REPLICATION_CONFIG.Rules[0]"),
        "{message}"
    );
    // The same line on the terminal, not the Debug form; and a failed exit.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(message), "{stderr}");
    assert!(!stderr.contains("ConfigError {"), "{stderr}");
    assert!(!out.status.success());
}

#[tokio::test]
async fn started_outside_lambda_it_says_what_it_is_and_exits_2() {
    let out = binary().output().await.unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("AWS Lambda function"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    for command in ["verify", "backfill", "repair", "restore"] {
        assert!(
            stderr.contains(&format!("s3-replicator {command} ")),
            "{command} not named: {stderr}"
        );
    }
    assert!(stderr.contains("--config FILE"), "{stderr}");
}

#[tokio::test]
async fn a_command_without_configuration_points_at_the_config_flag() {
    let out = binary()
        .args(["verify", "--bucket", "b"])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("REPLICATION_CONFIG"), "{stderr}");
    assert!(stderr.contains("--config FILE"), "{stderr}");
}

#[tokio::test]
async fn a_command_without_credentials_says_so_in_one_line() {
    let config = r#"{"Rules":[{"ID":"r","Priority":1,"Status":"Enabled","Filter":{},
        "DeleteMarkerReplication":{"Status":"Disabled"},
        "Destination":{"Bucket":"arn:aws:s3:::dst"}}]}"#;
    let out = binary()
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        // No profile files either: an empty home.
        .env("HOME", std::env::temp_dir().join("s3-replicator-no-home"))
        .env("REPLICATION_CONFIG", config)
        .args(["verify", "--bucket", "src"])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("s3-replicator: no AWS credentials: "),
        "{stderr}"
    );
    assert!(!stderr.contains("DstBucketRegionUnknown"), "{stderr}");
}

/// An S3 endpoint that does not answer: one line naming the cause, not the SDK's Debug form.
#[tokio::test]
async fn an_endpoint_that_does_not_answer_is_one_line() {
    let config = r#"{"Rules":[{"ID":"r","Priority":1,"Status":"Enabled","Filter":{},
        "DeleteMarkerReplication":{"Status":"Disabled"},
        "Destination":{"Bucket":"arn:aws:s3:::dst"}}]}"#;
    let out = binary()
        // Nothing listens on the discard port.
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("S3_FORCE_PATH_STYLE", "true")
        .env("REPLICATION_CONFIG", config)
        .args(["verify", "--bucket", "src"])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("verify: "), "{stderr}");
    assert!(stderr.contains("Connection refused"), "{stderr}");
    assert!(!stderr.contains("DispatchFailure"), "{stderr}");
    assert!(!stderr.contains("{"), "not the Debug form: {stderr}");
}
