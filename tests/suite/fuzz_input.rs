//! No input reaches a panic: mutated event records go through intake *and* the real SDK request
//! path (the SDK panics on some values, e.g. a region with a newline or a key too long for a
//! URI), and arbitrary text goes through the configuration parser. CI runs the default number
//! of cases; run longer by hand with `PROPTEST_CASES=20000 cargo test --test suite fuzz_input::`.

use aws_sdk_s3::operation::copy_object::CopyObjectOutput;
use aws_sdk_s3::operation::get_object_acl::GetObjectAclOutput;
use aws_sdk_s3::operation::head_object::HeadObjectOutput;
use aws_sdk_s3::types::CopyObjectResult;
use aws_sdk_s3::Client;
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use proptest::prelude::*;
use serde_json::{json, Value};

use s3_replicator::aws_s3::AwsS3;
use s3_replicator::error::InvocationError;
use s3_replicator::{handle, Config, Replicator};

fn fixture() -> Value {
    serde_json::from_str(include_str!("../../events/object-created-put.json")).unwrap()
}

/// The real store (a client per region: real endpoint resolution, signing and URI building) on
/// an in-process HTTP client that answers every request with 404, so no network is needed.
fn canned_http() -> AwsS3 {
    let http = aws_smithy_http_client::test_util::infallible_client_fn(|_req| {
        http::Response::builder()
            .status(404)
            .body(SdkBody::from("<Error><Code>NoSuchKey</Code></Error>"))
            .unwrap()
    });
    let sdk = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url("http://127.0.0.1:9")
        .http_client(http)
        .credentials_provider(aws_sdk_s3::config::SharedCredentialsProvider::new(
            aws_sdk_s3::config::Credentials::new("test", "test", None, None, "fuzz"),
        ))
        .build();
    AwsS3::new(sdk, true)
}

/// Answers every call a created record can make, so that only the request path is exercised.
fn mocked() -> Client {
    let head = mock!(Client::head_object).then_output(|| {
        HeadObjectOutput::builder()
            .e_tag("\"0cc175b9c0f1b6a831c399e269772661\"")
            .content_length(1)
            .version_id("v1")
            .build()
    });
    let acl = mock!(Client::get_object_acl).then_output(|| GetObjectAclOutput::builder().build());
    let copy = mock!(Client::copy_object).then_output(|| {
        CopyObjectOutput::builder()
            .copy_object_result(
                CopyObjectResult::builder()
                    .e_tag("\"0cc175b9c0f1b6a831c399e269772661\"")
                    .build(),
            )
            .build()
    });
    let lock = mock!(Client::get_object_lock_configuration).then_http_response(|| {
        HttpResponse::new(
            StatusCode::try_from(404).unwrap(),
            SdkBody::from("<Error><Code>ObjectLockConfigurationNotFoundError</Code></Error>"),
        )
    });
    let ownership = mock!(Client::get_bucket_ownership_controls).then_http_response(|| {
        HttpResponse::new(
            StatusCode::try_from(404).unwrap(),
            SdkBody::from(
                "<Error><Code>OwnershipControlsNotFoundError</Code><Message>none</Message></Error>",
            ),
        )
    });
    // A destination object that is no replica of ours has its history read before it is
    // replaced (a replica of this version below it would make it the later write).
    let history = mock!(Client::list_object_versions).then_output(|| {
        aws_sdk_s3::operation::list_object_versions::ListObjectVersionsOutput::builder().build()
    });
    mock_client!(
        aws_sdk_s3,
        RuleMode::MatchAny,
        &[&head, &acl, &copy, &lock, &ownership, &history]
    )
}

/// Strings of the kinds that broke things: control characters, signs after '%', huge lengths.
fn nasty() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => any::<String>(),
        2 => "[ -~]{0,64}",
        2 => "[a-z0-9%+-]{0,24}",
        // Plausible values with a control character somewhere.
        4 => "[a-z0-9-]{0,12}[\\x00-\\x1f\\x7f][a-z0-9-]{0,4}",
        1 => Just("us-east-1\n".to_owned()),
        1 => Just("%+1".to_owned()),
        2 => (0usize..80_000).prop_map(|n| "k".repeat(n)),
        1 => (0usize..3_000).prop_map(|n| "%E2%9C%93".repeat(n)),
    ]
}

/// A JSON value of any shape, for fields whose type may be wrong.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        nasty().prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map("[a-zA-Z]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

const FIELDS: &[&str] = &[
    "/awsRegion",
    "/eventName",
    "/eventSource",
    "/s3/bucket/name",
    "/s3/object/key",
    "/s3/object/versionId",
    "/s3/object/eTag",
    "/s3/object/sequencer",
    "/s3/object/size",
];

/// The fixture record with some fields replaced: by nasty strings, or by any JSON at all.
fn mutated_record() -> impl Strategy<Value = Value> {
    // Mostly one or two string edits, so that the rest of the record stays valid and the edit
    // reaches the SDK; sometimes a field of the wrong type.
    let string_edits = prop::collection::vec((0..FIELDS.len(), nasty()), 1..3);
    let json_edits = prop::collection::vec((0..FIELDS.len(), any_json()), 0..2)
        .prop_map(|edits| edits.into_iter().take(1).collect::<Vec<_>>());
    (string_edits, json_edits).prop_map(|(strings, values)| {
        let mut record = fixture()["Records"][0].clone();
        let edits = strings
            .into_iter()
            .map(|(i, s)| (i, Value::from(s)))
            .chain(values);
        for (i, value) in edits {
            if let Some(slot) = record.pointer_mut(FIELDS[i]) {
                *slot = value;
            }
        }
        record
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn mutated_records_never_panic_and_never_cost_the_good_record(bad in mutated_record()) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let config = || Config::from_shorthand("dst-bucket", Some("eu-west-1".into()), None, None).unwrap();
        // The record's region and key reach a real client (404 for everything): the SDK's own
        // panics would show here.
        let real = Replicator::new(config(), canned_http(), canned_http(), "us-east-1");
        let _ = runtime.block_on(handle(&real, json!({"Records": [bad.clone()]})));
        // And on a store that answers everything, the good record beside it is replicated.
        let s3 = mocked();
        let replicator = Replicator::new(
            config(),
            AwsS3::with_client(s3.clone()),
            AwsS3::with_client(s3),
            "us-east-1",
        );
        let good = fixture()["Records"][0].clone();
        let payload = json!({"Records": [bad, good]});
        match runtime.block_on(handle(&replicator, payload)) {
            Ok(summary) => prop_assert_eq!(summary.records, 2),
            Err(InvocationError::RecordsFailed { failures, .. }) => {
                // Only the mutated record may fail, and it names itself.
                for f in &failures {
                    prop_assert_eq!(f.index, 0, "{:?}", f);
                    if f.code == "InvalidRecord" {
                        prop_assert!(f.message.starts_with("Records[0]"), "{}", f.message);
                    }
                }
            }
            Err(other) => prop_assert!(false, "{}", other),
        }
    }

    #[test]
    fn any_payload_is_answered_without_a_panic(payload in any_json()) {
        let _ = s3_replicator::events::parse_payload(&payload);
        let _ = s3_replicator::events::parse_payload(&json!({"Records": [payload]}));
    }

    #[test]
    fn any_configuration_text_is_answered_without_a_panic(text in nasty(), value in any_json()) {
        let _ = Config::from_json(&text);
        let _ = Config::from_json(&value.to_string());
        let wrapped = json!({"Rules": [{"Priority": 1, "Status": "Enabled", "Filter": value,
            "DeleteMarkerReplication": {"Status": "Disabled"}, "Destination": {"Bucket": "dst-b"}}]});
        let _ = Config::from_json(&wrapped.to_string());
    }
}

/// One bad record beside the good fixture record, through the real request path.
async fn bad_beside_good(bad: Value) -> InvocationError {
    let config =
        Config::from_shorthand("dst-bucket", Some("eu-west-1".into()), None, None).unwrap();
    let real = Replicator::new(config, canned_http(), canned_http(), "us-east-1");
    handle(
        &real,
        json!({"Records": [bad, fixture()["Records"][0].clone()]}),
    )
    .await
    .unwrap_err()
}

/// The codes of the failed records, by index.
fn codes(err: InvocationError) -> Vec<(usize, &'static str, String)> {
    match err {
        InvocationError::RecordsFailed { failures, .. } => failures
            .into_iter()
            .map(|f| (f.index, f.code, f.message.chars().take(40).collect()))
            .collect(),
        other => panic!("{other}"),
    }
}

#[tokio::test]
async fn region_with_a_newline_fails_only_its_record_naming_the_field() {
    let mut bad = fixture()["Records"][0].clone();
    bad["awsRegion"] = "us-east-1\n".into();
    let failed = codes(bad_beside_good(bad).await);
    assert_eq!(failed[0].0, 0);
    assert_eq!(failed[0].1, "InvalidRecord");
    assert!(
        failed[0].2.starts_with("Records[0].awsRegion"),
        "{failed:?}"
    );
    // The good record went on to S3 (the canned 404 makes it a skip, not a panic).
    assert!(failed.iter().all(|f| f.0 == 0), "{failed:?}");
}

#[tokio::test]
async fn key_too_long_for_s3_fails_only_its_record_naming_the_field() {
    let mut bad = fixture()["Records"][0].clone();
    bad["s3"]["object"]["key"] = "k".repeat(70_000).into();
    let failed = codes(bad_beside_good(bad).await);
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!((failed[0].0, failed[0].1), (0, "InvalidRecord"));
    assert!(
        failed[0].2.starts_with("Records[0].s3.object.key"),
        "{failed:?}"
    );
}
