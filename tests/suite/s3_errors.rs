//! What the local S3 server cannot show, with `aws-smithy-mocks`: errors inside a 200, error
//! mapping, retries, ACL-disabled destinations and exact request shapes.

use std::time::Duration;

use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::operation::copy_object::CopyObjectOutput;
use aws_sdk_s3::operation::get_object_acl::GetObjectAclOutput;
use aws_sdk_s3::operation::head_object::HeadObjectOutput;
use aws_sdk_s3::types::{CopyObjectResult, Grant, Grantee, Owner, Permission, Type};
use aws_sdk_s3::Client;
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use serde_json::Value;

use s3_replicator::aws_s3::AwsS3;
use s3_replicator::error::InvocationError;
use s3_replicator::{handle, Config, Replicator, Summary};

const ETAG: &str = "\"0cc175b9c0f1b6a831c399e269772661\"";

/// A source bucket without Object Lock (asked once per bucket and warm instance).
fn no_lock() -> Rule {
    mock!(Client::get_object_lock_configuration).then_http_response(|| {
        http(
            404,
            "<Error><Code>ObjectLockConfigurationNotFoundError</Code><Message>none</Message></Error>",
        )
    })
}

/// The source bucket's Object Ownership: ACLs enabled (no ownership controls) unless enforced.
fn ownership(enforced: bool) -> Rule {
    mock!(Client::get_bucket_ownership_controls).then_http_response(move || match enforced {
        true => http(
            200,
            "<OwnershipControls><Rule><ObjectOwnership>BucketOwnerEnforced</ObjectOwnership></Rule></OwnershipControls>",
        ),
        false => http(
            404,
            "<Error><Code>OwnershipControlsNotFoundError</Code><Message>none</Message></Error>",
        ),
    })
}

/// The fingerprint part every multipart copy uploads (its ETag here is not the body's MD5, so
/// the upload counts as not resumable).
fn fingerprint_part() -> Rule {
    mock!(Client::upload_part).then_output(|| {
        aws_sdk_s3::operation::upload_part::UploadPartOutput::builder()
            .e_tag("\"fingerprint\"")
            .build()
    })
}

fn client(rules: &[&Rule]) -> Client {
    let (lock, fingerprint, owner) = (no_lock(), fingerprint_part(), ownership(false));
    let landed = landed_on_the_replica_read();
    let mut all: Vec<&Rule> = rules.to_vec();
    all.push(&lock);
    all.push(&fingerprint);
    // After a test's own listings: the proof that a copy landed on what it read.
    all.push(&landed);
    // Last: a test's own ownership rule comes first and wins.
    all.push(&owner);
    let rules = all.as_slice();
    mock_client!(aws_sdk_s3, RuleMode::MatchAny, rules, |c| c.retry_config(
        RetryConfig::standard()
            .with_max_attempts(3)
            .with_initial_backoff(Duration::from_millis(1))
    ))
}

fn config() -> Config {
    let mut config = Config::from_shorthand("dst", Some("eu-west-1".into()), None, None).unwrap();
    // One source, as `template.yaml` deploys it (several send no copy ahead of its read).
    config.source_buckets = vec!["src".to_owned()];
    config
}

async fn run(rules: &[&Rule], event: Value) -> Result<Summary, InvocationError> {
    let s3 = client(rules);
    let replicator = Replicator::new(
        config(),
        AwsS3::with_client(s3.clone()),
        AwsS3::with_client(s3),
        "us-east-1",
    );
    handle(&replicator, event).await
}

/// The fixture event for key `a b+c` (encoded `a+b%2Bc`), optionally without a version id.
fn event(version: Option<&str>) -> Value {
    let mut event: Value =
        serde_json::from_str(include_str!("../../events/object-created-put.json")).unwrap();
    let object = &mut event["Records"][0]["s3"]["object"];
    object["key"] = "a+b%2Bc".into();
    object["eTag"] = ETAG.trim_matches('"').into();
    match version {
        Some(v) => object["versionId"] = v.into(),
        None => {
            object.as_object_mut().unwrap().remove("versionId");
        }
    }
    event["Records"][0]["s3"]["bucket"]["name"] = "src".into();
    event
}

fn head() -> Rule {
    heads(None)
}

fn acl(public: bool) -> Rule {
    mock!(Client::get_object_acl).then_output(move || {
        let owner = Grant::builder()
            .grantee(
                Grantee::builder()
                    .r#type(Type::CanonicalUser)
                    .id("owner")
                    .build()
                    .unwrap(),
            )
            .permission(Permission::FullControl)
            .build();
        let mut out = GetObjectAclOutput::builder()
            .owner(Owner::builder().id("owner").build())
            .grants(owner);
        if public {
            out = out.grants(
                Grant::builder()
                    .grantee(
                        Grantee::builder()
                            .r#type(Type::Group)
                            .uri("http://acs.amazonaws.com/groups/global/AllUsers")
                            .build()
                            .unwrap(),
                    )
                    .permission(Permission::Read)
                    .build(),
            );
        }
        out.build()
    })
}

fn copied() -> CopyObjectOutput {
    CopyObjectOutput::builder()
        .copy_object_result(CopyObjectResult::builder().e_tag(ETAG).build())
        .version_id("replica-2")
        .build()
}

/// The destination key's versions after a copy over the replica `heads` shows: ours
/// (`copied`), directly on the one read. An overwrite lists them to prove it (write conditions
/// compare ETags only).
fn landed_on_the_replica_read() -> Rule {
    // As S3 answers, in one XML body (the order of versions and delete markers is read from it).
    const BODY: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListVersionsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>dst</Name><Prefix>a b+c</Prefix><KeyMarker></KeyMarker><VersionIdMarker></VersionIdMarker><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated><Version><Key>a b+c</Key><VersionId>replica-2</VersionId><IsLatest>true</IsLatest><LastModified>2026-12-07T10:00:01.000Z</LastModified><ETag>&quot;etag&quot;</ETag><Size>1</Size><StorageClass>STANDARD</StorageClass></Version><Version><Key>a b+c</Key><VersionId>replica-1</VersionId><IsLatest>false</IsLatest><LastModified>2026-12-07T10:00:00.000Z</LastModified><ETag>&quot;e0&quot;</ETag><Size>1</Size><StorageClass>STANDARD</StorageClass></Version></ListVersionsResult>"#;
    mock!(Client::list_object_versions)
        .match_requests(|r| r.bucket() == Some("dst"))
        .then_http_response(|| http(200, BODY))
}

fn http(status: u16, body: &'static str) -> HttpResponse {
    HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::from(body))
}

fn failures(err: InvocationError) -> Vec<&'static str> {
    match err {
        InvocationError::RecordsFailed { failures, .. } => {
            failures.iter().map(|f| f.code).collect()
        }
        other => panic!("{other}"),
    }
}

#[tokio::test]
async fn error_inside_a_200_copy_response_fails_the_record() {
    let copy = mock!(Client::copy_object).then_http_response(|| {
        http(
            200,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessDenied</Code><Message>denied mid-copy</Message></Error>",
        )
    });
    let err = run(&[&head(), &acl(false), &copy], event(Some("v1")))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("denied mid-copy"), "{err}");
    assert_eq!(failures(err), ["DstPutObjectNotPermitted"]);
}

#[tokio::test]
async fn internal_error_inside_a_200_is_retried_then_succeeds() {
    let copy = mock!(Client::copy_object)
        .sequence()
        .http_response(|| {
            http(
                200,
                "<Error><Code>InternalError</Code><Message>We encountered an internal error.</Message></Error>",
            )
        })
        .output(copied)
        .build();
    let summary = run(&[&head(), &acl(false), &copy], event(Some("v1")))
        .await
        .unwrap();
    assert_eq!(summary.replicated, 1);
    assert_eq!(copy.num_calls(), 2);
}

#[tokio::test]
async fn empty_200_copy_response_is_not_taken_as_success() {
    let copy = mock!(Client::copy_object).then_http_response(|| http(200, ""));
    let err = run(&[&head(), &acl(false), &copy], event(Some("v1")))
        .await
        .unwrap_err();
    assert_eq!(failures(err), ["DstPutObjectFailed"]);
}

#[tokio::test]
async fn access_denied_on_copy_maps_to_dst_put_object_not_permitted() {
    let copy = mock!(Client::copy_object).then_http_response(|| {
        http(
            403,
            "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>",
        )
    });
    let err = run(&[&head(), &acl(false), &copy], event(Some("v1")))
        .await
        .unwrap_err();
    assert_eq!(failures(err), ["DstPutObjectNotPermitted"]);
}

#[tokio::test]
async fn access_denied_on_source_head_maps_to_src_head_object_not_permitted() {
    let head = mock!(Client::head_object).then_http_response(|| http(403, ""));
    let err = run(&[&head, &acl(false)], event(Some("v1")))
        .await
        .unwrap_err();
    assert_eq!(failures(err), ["SrcHeadObjectNotPermitted"]);
}

#[tokio::test]
async fn missing_destination_bucket_maps_to_dst_bucket_not_found() {
    let copy = mock!(Client::copy_object).then_http_response(|| {
        http(404, "<Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist</Message></Error>")
    });
    let err = run(&[&head(), &acl(false), &copy], event(Some("v1")))
        .await
        .unwrap_err();
    assert_eq!(failures(err), ["DstBucketNotFound"]);
}

#[tokio::test]
async fn throttled_copy_is_retried() {
    let copy = mock!(Client::copy_object)
        .sequence()
        .http_status(
            503,
            Some(
                "<Error><Code>SlowDown</Code><Message>Reduce your request rate.</Message></Error>"
                    .into(),
            ),
        )
        .output(copied)
        .build();
    let summary = run(&[&head(), &acl(false), &copy], event(Some("v1")))
        .await
        .unwrap();
    assert_eq!(summary.replicated, 1);
    assert_eq!(copy.num_calls(), 2);
}

#[tokio::test]
async fn persistent_503_fails_the_invocation_after_retries() {
    let copy = mock!(Client::copy_object)
        .sequence()
        .http_status(
            503,
            Some("<Error><Code>SlowDown</Code><Message>Reduce</Message></Error>".into()),
        )
        .repeatedly()
        .build();
    let err = run(&[&head(), &acl(false), &copy], event(Some("v1")))
        .await
        .unwrap_err();
    assert_eq!(failures(err), ["DstPutObjectFailed"]);
    assert_eq!(copy.num_calls(), 3);
}

#[tokio::test]
async fn acl_disabled_destination_gets_the_replica_without_grants() {
    let with_grants = mock!(Client::copy_object)
        .match_requests(|r| r.grant_read().is_some())
        .then_http_response(|| {
            http(
                400,
                "<Error><Code>AccessControlListNotSupported</Code><Message>The bucket does not allow ACLs</Message></Error>",
            )
        });
    let without = mock!(Client::copy_object)
        .match_requests(|r| r.grant_read().is_none())
        .then_output(copied);
    let s3 = client(&[&head(), &acl(true), &with_grants, &without]);
    let replicator = Replicator::new(
        config(),
        AwsS3::with_client(s3.clone()),
        AwsS3::with_client(s3),
        "us-east-1",
    );
    let summary = handle(&replicator, event(Some("v1"))).await.unwrap();
    assert_eq!(summary.replicated, 1);
    assert_eq!((with_grants.num_calls(), without.num_calls()), (1, 1));
    // Learned: the next object goes straight to the grant-less copy.
    handle(&replicator, event(Some("v1"))).await.unwrap();
    assert_eq!((with_grants.num_calls(), without.num_calls()), (1, 2));
}

#[tokio::test]
async fn copy_request_encodes_the_source_and_pins_the_version() {
    let copy = mock!(Client::copy_object)
        .match_requests(|r| {
            r.copy_source() == Some("src/a%20b%2Bc?versionId=v1")
                && r.key() == Some("a b+c")
                && r.metadata()
                    .and_then(|m| m.get("replica-source-version-id"))
                    .map(String::as_str)
                    == Some("v1")
                && r.copy_source_if_match().is_none()
        })
        .then_output(copied);
    let summary = run(&[&head(), &acl(false), &copy], event(Some("v1")))
        .await
        .unwrap();
    assert_eq!(summary.replicated, 1);
    assert_eq!(copy.num_calls(), 1);
}

#[tokio::test]
async fn unversioned_copy_is_guarded_by_the_events_etag() {
    let head = mock!(Client::head_object)
        .match_requests(|r| {
            r.bucket() == Some("src") && r.if_match() == Some(ETAG) && r.version_id().is_none()
        })
        .then_output(|| {
            HeadObjectOutput::builder()
                .e_tag(ETAG)
                .content_length(1)
                .last_modified(aws_smithy_types::DateTime::from_secs(2_000))
                .build()
        });
    let copy = mock!(Client::copy_object)
        .match_requests(|r| {
            r.copy_source() == Some("src/a%20b%2Bc")
                && r.copy_source_if_match() == Some(ETAG)
                && r.if_match() == Some("\"e0\"")
        })
        .then_output(copied);
    // The destination is read too (every overwrite of an unversioned key reuses the `null` id:
    // only the destination tells a replica of this write from one of an older write), and the
    // copy is conditional on what it holds.
    let dst = older_replica_at_destination();
    let summary = run(&[&head, &dst, &acl(false), &copy], event(None))
        .await
        .unwrap();
    assert_eq!(summary.replicated, 1);
    assert_eq!(
        (head.num_calls(), dst.num_calls(), copy.num_calls()),
        (1, 1, 1)
    );
}

#[tokio::test]
async fn copy_precondition_failure_skips_an_overwritten_unversioned_object() {
    let copy = mock!(Client::copy_object).then_http_response(|| {
        http(412, "<Error><Code>PreconditionFailed</Code><Message>At least one of the pre-conditions you specified did not hold</Message></Error>")
    });
    // The event's object, read on its ETag; then, after the 412, the source again: overwritten
    // since, so the 412 was the source's pin (`x-amz-copy-source-if-match`), not the
    // destination's condition.
    let src = mock!(Client::head_object)
        .match_requests(|r| r.bucket() == Some("src") && r.if_match() == Some(ETAG))
        .then_output(|| {
            HeadObjectOutput::builder()
                .e_tag(ETAG)
                .content_length(1)
                .last_modified(aws_smithy_types::DateTime::from_secs(2_000))
                .build()
        });
    let overwritten = mock!(Client::head_object)
        .match_requests(|r| r.bucket() == Some("src") && r.if_match().is_none())
        .then_output(|| {
            HeadObjectOutput::builder()
                .e_tag("\"overwritten\"")
                .content_length(2)
                .build()
        });
    let dst = older_replica_at_destination();
    let summary = run(&[&src, &overwritten, &dst, &acl(false), &copy], event(None))
        .await
        .unwrap();
    assert_eq!((summary.replicated, summary.skipped), (0, 1));
    assert_eq!(overwritten.num_calls(), 1);
}

/// The destination's current object: the replica of an older write of the unversioned key.
fn older_replica_at_destination() -> Rule {
    mock!(Client::head_object)
        .match_requests(|r| r.bucket() == Some("dst"))
        .then_output(|| {
            HeadObjectOutput::builder()
                .e_tag("\"e0\"")
                .content_length(1)
                .version_id("replica-1")
                .metadata("replica-source-version-id", "null")
                .metadata("replica-source-bucket", "src")
                .metadata("replica-original-time", "1000000")
                .last_modified(aws_smithy_types::DateTime::from_secs(1_000))
                .build()
        })
}

#[tokio::test]
async fn private_source_acl_sends_no_grant_headers() {
    let copy = mock!(Client::copy_object)
        .match_requests(|r| {
            r.grant_read().is_none() && r.grant_full_control().is_none() && r.acl().is_none()
        })
        .then_output(copied);
    run(&[&head(), &acl(false), &copy], event(Some("v1")))
        .await
        .unwrap();
    assert_eq!(copy.num_calls(), 1);
}

#[tokio::test]
async fn public_source_acl_is_carried_by_the_copy_itself() {
    let copy = mock!(Client::copy_object)
        .match_requests(|r| {
            r.grant_read() == Some("uri=\"http://acs.amazonaws.com/groups/global/AllUsers\"")
                && r.grant_full_control() == Some("id=\"owner\"")
        })
        .then_output(copied);
    run(&[&head(), &acl(true), &copy], event(Some("v1")))
        .await
        .unwrap();
    assert_eq!(copy.num_calls(), 1);
}

#[tokio::test]
async fn copy_with_a_wrong_etag_is_reported_as_a_mismatch() {
    let copy = mock!(Client::copy_object).then_output(|| {
        CopyObjectOutput::builder()
            .copy_object_result(CopyObjectResult::builder().e_tag("\"different\"").build())
            .build()
    });
    let err = run(&[&head(), &acl(false), &copy], event(Some("v1")))
        .await
        .unwrap_err();
    assert_eq!(failures(err), ["ReplicaMismatch"]);
}

/// HeadObject answers: the destination's current version is `dst_marker`'s replica (if any); the
/// source's current version is v1.
/// HEAD answers: the source's current version is v1; the destination's current object is the
/// replica of `dst_marker`, by default of v0, written before v1 (the in-order case).
fn heads(dst_marker: Option<&'static str>) -> Rule {
    mock!(Client::head_object).then_compute_output(move |req| {
        let mut out = HeadObjectOutput::builder().e_tag(ETAG).content_length(1);
        if req.bucket() == Some("dst") {
            // The replica of an earlier version with other bytes (a same-bytes overwrite also
            // lists the versions below the copy: write conditions compare ETags only).
            out = out
                .e_tag("\"e0\"")
                .version_id("replica-1")
                .metadata("replica-source-version-id", dst_marker.unwrap_or("v0"))
                .last_modified(aws_smithy_types::DateTime::from_secs(1_000));
        } else {
            out = out
                .version_id("v1")
                .last_modified(aws_smithy_types::DateTime::from_secs(2_000));
        }
        out.build()
    })
}

#[tokio::test]
async fn in_order_overwrite_costs_six_requests() {
    // HEAD source current, GetObjectAcl and HEAD destination at once; CopyObject over the
    // replica read; the listing that proves it landed on that replica (write conditions compare
    // ETags only); HEAD source current (the ordering check).
    let (head, acl, copy, listed) = (
        heads(None),
        acl(false),
        mock!(Client::copy_object).then_output(copied),
        landed_on_the_replica_read(),
    );
    let summary = run(&[&head, &acl, &copy, &listed], event(Some("v1")))
        .await
        .unwrap();
    assert_eq!(summary.replicated, 1);
    assert_eq!(
        (
            head.num_calls(),
            acl.num_calls(),
            copy.num_calls(),
            listed.num_calls()
        ),
        (3, 1, 1, 1)
    );
}

#[tokio::test]
async fn source_with_acls_disabled_costs_five_requests_and_no_acl_read() {
    let (head, acl, copy, enforced, listed) = (
        heads(None),
        acl(false),
        mock!(Client::copy_object).then_output(copied),
        ownership(true),
        landed_on_the_replica_read(),
    );
    let summary = run(&[&enforced, &head, &acl, &copy, &listed], event(Some("v1")))
        .await
        .unwrap();
    assert_eq!(summary.replicated, 1);
    // BucketOwnerEnforced, learnt once per bucket and warm instance: no GetObjectAcl.
    assert_eq!(
        (
            head.num_calls(),
            acl.num_calls(),
            copy.num_calls(),
            listed.num_calls()
        ),
        (3, 0, 1, 1)
    );
    assert_eq!(enforced.num_calls(), 1);
}

/// Issue #40: Ceph RGW knows no Object Ownership; it takes `?ownershipControls` for a listing
/// and answers 200 with a `ListBucketResult`, which the SDK cannot read as OwnershipControls.
/// That failed lookup was not kept, so every object asked again (twice per object, RGW's
/// benchmark found). A server that answers no OwnershipControls has none: ACLs enabled, learnt
/// once per bucket and warm instance like any other answer, and object ACLs are read.
#[tokio::test]
async fn a_server_without_object_ownership_is_asked_once() {
    let listing = mock!(Client::get_bucket_ownership_controls).then_http_response(|| {
        http(
            200,
            "<ListBucketResult><Name>src</Name><IsTruncated>false</IsTruncated></ListBucketResult>",
        )
    });
    let (head, acl) = (heads(None), acl(false));
    let copy = mock!(Client::copy_object).then_output(copied);
    let s3 = client(&[&listing, &head, &acl, &copy]);
    let replicator = Replicator::new(
        config(),
        AwsS3::with_client(s3.clone()),
        AwsS3::with_client(s3),
        "us-east-1",
    );
    for _ in 0..2 {
        let summary = handle(&replicator, event(Some("v1"))).await.unwrap();
        assert_eq!(summary.replicated, 1);
    }
    assert_eq!(listing.num_calls(), 1, "GetBucketOwnershipControls");
    assert_eq!((acl.num_calls(), copy.num_calls()), (2, 2));
}

#[tokio::test]
async fn duplicate_event_costs_three_reads_and_no_write() {
    // HEAD source current, GetObjectAcl, HEAD destination, at once: the destination's current
    // object is the replica of the source's current version, so nothing more is read.
    let (head, acl, copy) = (
        heads(Some("v1")),
        acl(false),
        mock!(Client::copy_object).then_output(copied),
    );
    let summary = run(&[&head, &acl, &copy], event(Some("v1"))).await.unwrap();
    assert_eq!((summary.replicated, summary.skipped), (0, 1));
    assert_eq!(
        (head.num_calls(), acl.num_calls(), copy.num_calls()),
        (2, 1, 0)
    );
}

#[tokio::test]
async fn permanent_part_failure_aborts_the_upload() {
    const PART: i64 = 5 * 1024 * 1024;
    // A two-part source: copied part by part (ETag parity), so UploadPartCopy runs.
    let head = mock!(Client::head_object).then_compute_output(|req| {
        let out = HeadObjectOutput::builder()
            .version_id("v1")
            .last_modified(aws_smithy_types::DateTime::from_secs(2_000));
        match (req.bucket(), req.part_number()) {
            (Some("dst"), _) => out
                .e_tag(ETAG)
                .content_length(1)
                .version_id("replica-1")
                .metadata("replica-source-version-id", "v0")
                .last_modified(aws_smithy_types::DateTime::from_secs(1_000)),
            // As S3: a part's HEAD names the object's part count.
            (_, Some(_)) => out.e_tag("\"abc-2\"").content_length(PART).parts_count(2),
            (_, None) => out.e_tag("\"abc-2\"").content_length(2 * PART),
        }
        .build()
    });
    let create = mock!(Client::create_multipart_upload).then_output(|| {
        aws_sdk_s3::operation::create_multipart_upload::CreateMultipartUploadOutput::builder()
            .upload_id("upload-1")
            .build()
    });
    let part = mock!(Client::upload_part_copy).then_http_response(|| {
        http(
            403,
            "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>",
        )
    });
    let complete = mock!(Client::complete_multipart_upload).then_output(|| {
        aws_sdk_s3::operation::complete_multipart_upload::CompleteMultipartUploadOutput::builder()
            .e_tag("\"abc-2\"")
            .build()
    });
    let abort = mock!(Client::abort_multipart_upload)
        .match_requests(|r| r.upload_id() == Some("upload-1") && r.bucket() == Some("dst"))
        .then_output(|| {
            aws_sdk_s3::operation::abort_multipart_upload::AbortMultipartUploadOutput::builder()
                .build()
        });
    let tags = mock!(Client::get_object_tagging).then_output(|| {
        aws_sdk_s3::operation::get_object_tagging::GetObjectTaggingOutput::builder()
            .set_tag_set(Some(Vec::new()))
            .build()
            .unwrap()
    });
    let none_left = mock!(Client::list_multipart_uploads).then_output(|| {
        aws_sdk_s3::operation::list_multipart_uploads::ListMultipartUploadsOutput::builder().build()
    });
    let rules = [
        &head,
        &acl(false),
        &tags,
        &none_left,
        &create,
        &part,
        &complete,
        &abort,
    ];
    let err = run(&rules, event(Some("v1"))).await.unwrap_err();
    assert_eq!(failures(err), ["DstPutObjectNotPermitted"]);
    assert_eq!(
        (complete.num_calls(), abort.num_calls()),
        (0, 1),
        "the upload is aborted, not left"
    );
}

/// A four-part source and its multipart copy to a new upload `new`; `replica_marker` is what the
/// completed replica's HEAD says it replicates. Returns the mocks that count.
struct MultipartCopy {
    rules: Vec<Rule>,
}

impl MultipartCopy {
    const PART: i64 = 5 * 1024 * 1024;

    fn new(replica_marker: &'static str) -> Self {
        Self::build(replica_marker, true, None)
    }

    /// No other upload on the key; Complete answers `completed_etag` (default: the source's).
    fn alone(completed_etag: Option<&'static str>) -> Self {
        Self::build("v1", false, completed_etag)
    }

    fn build(
        replica_marker: &'static str,
        someone_elses_upload: bool,
        completed_etag: Option<&'static str>,
    ) -> Self {
        let part_etag = |n: i32| format!("\"{:032x}\"", n);
        let all: Vec<(u32, String)> = (1..=4).map(|n| (n, part_etag(n as i32))).collect();
        let source_etag = s3_replicator::copy::multipart::multipart_etag(&all).unwrap();
        let src_etag = source_etag.clone();
        let head = mock!(Client::head_object).then_compute_output(move |req| {
            let out = HeadObjectOutput::builder();
            match (req.bucket(), req.version_id(), req.part_number()) {
                // The completed replica, read back.
                (Some("dst"), Some("replica-2"), _) => out
                    .e_tag(&src_etag)
                    .content_length(4 * Self::PART)
                    .version_id("replica-2")
                    .metadata("replica-source-version-id", replica_marker)
                    .metadata("replica-source-bucket", "src")
                    .metadata("replica-written-to", "dst")
                    .metadata("replica-original-time", "0"),
                // The replica of the previous version, written before v1.
                (Some("dst"), _, _) => out
                    .e_tag(ETAG)
                    .content_length(1)
                    .version_id("replica-1")
                    .metadata("replica-source-version-id", "v0")
                    .last_modified(aws_smithy_types::DateTime::from_secs(1_000)),
                (_, _, Some(_)) => out
                    .e_tag(&src_etag)
                    .content_length(Self::PART)
                    .parts_count(4)
                    .version_id("v1")
                    .last_modified(aws_smithy_types::DateTime::from_secs(2_000)),
                (_, _, None) => out
                    .e_tag(&src_etag)
                    .content_length(4 * Self::PART)
                    .version_id("v1")
                    .last_modified(aws_smithy_types::DateTime::from_secs(2_000)),
            }
            .build()
        });
        let tags = mock!(Client::get_object_tagging).then_output(|| {
            aws_sdk_s3::operation::get_object_tagging::GetObjectTaggingOutput::builder()
                .set_tag_set(Some(Vec::new()))
                .build()
                .unwrap()
        });
        // Someone else's upload on the key, with parts that fit the layout.
        let uploads = mock!(Client::list_multipart_uploads).then_output(move || {
            let out =
                aws_sdk_s3::operation::list_multipart_uploads::ListMultipartUploadsOutput::builder(
                );
            match someone_elses_upload {
                true => out.uploads(
                    aws_sdk_s3::types::MultipartUpload::builder()
                        .key("a b+c")
                        .upload_id("theirs")
                        .build(),
                ),
                false => out,
            }
            .build()
        });
        let listed = mock!(Client::list_parts).then_output(move || {
            let mut out = aws_sdk_s3::operation::list_parts::ListPartsOutput::builder();
            for n in 1..=2 {
                out = out.parts(
                    aws_sdk_s3::types::Part::builder()
                        .part_number(n)
                        .size(Self::PART)
                        .e_tag(format!("\"{:032x}\"", n))
                        .build(),
                );
            }
            out.build()
        });
        let create = mock!(Client::create_multipart_upload).then_output(|| {
            aws_sdk_s3::operation::create_multipart_upload::CreateMultipartUploadOutput::builder()
                .upload_id("new")
                .build()
        });
        let part = mock!(Client::upload_part_copy)
            .match_requests(|r| r.upload_id() == Some("new"))
            .then_compute_output(move |r| {
                aws_sdk_s3::operation::upload_part_copy::UploadPartCopyOutput::builder()
                    .copy_part_result(
                        aws_sdk_s3::types::CopyPartResult::builder()
                            .e_tag(part_etag(r.part_number().unwrap()))
                            .build(),
                    )
                    .build()
            });
        let complete = mock!(Client::complete_multipart_upload)
            .match_requests(|r| r.upload_id() == Some("new"))
            .then_output(move || {
                aws_sdk_s3::operation::complete_multipart_upload::CompleteMultipartUploadOutput::builder()
                    .e_tag(completed_etag.map_or(source_etag.clone(), str::to_owned))
                    .version_id("replica-2")
                    .build()
            });
        let abort = mock!(Client::abort_multipart_upload).then_output(|| {
            aws_sdk_s3::operation::abort_multipart_upload::AbortMultipartUploadOutput::builder()
                .build()
        });
        let fingerprint = fingerprint_part();
        Self {
            rules: vec![
                head,
                acl(false),
                tags,
                uploads,
                listed,
                create,
                part,
                complete,
                abort,
                fingerprint,
            ],
        }
    }

    /// Requests made, all kinds together.
    fn requests(&self) -> usize {
        self.rules.iter().map(Rule::num_calls).sum()
    }

    async fn run(&self) -> Result<Summary, InvocationError> {
        let rules: Vec<&Rule> = self.rules.iter().collect();
        run(&rules, event(Some("v1"))).await
    }

    fn calls(&self, index: usize) -> usize {
        self.rules[index].num_calls()
    }
}

#[tokio::test]
async fn upload_without_our_fingerprint_is_never_resumed_completed_or_aborted() {
    let copy = MultipartCopy::new("v1");
    let summary = copy.run().await.unwrap();
    assert_eq!(summary.replicated, 1);
    let (create, part, complete, abort) = (5, 6, 7, 8);
    assert_eq!(copy.calls(create), 1, "a new upload of our own");
    assert_eq!(copy.calls(part), 4, "every part copied into it");
    assert_eq!(copy.calls(complete), 1);
    assert_eq!(
        copy.calls(abort),
        0,
        "the other upload is not ours to abort"
    );
}

#[tokio::test]
async fn multipart_source_of_n_parts_costs_two_n_plus_seven_requests() {
    // 4 parts: HEAD source current, GetObjectAcl, HEAD destination (at once); HEAD of parts 1-3
    // (the last part is what they leave of the object); GetObjectTagging (the first tag read in
    // this bucket); ListMultipartUploads; CreateMultipartUpload; the fingerprint part (written
    // first, so that a cut at any moment leaves an upload the retry can resume); 4
    // UploadPartCopy; CompleteMultipartUpload; HEAD source current (ordering). The parts made
    // the source's ETag and Complete said so: no read-back.
    let copy = MultipartCopy::alone(None);
    let summary = copy.run().await.unwrap();
    assert_eq!(summary.replicated, 1);
    let (head, tags, listed, part, fingerprint) = (0, 2, 4, 6, 9);
    // Source and destination current, parts 1-3, the ordering check.
    assert_eq!(
        copy.calls(head),
        2 + 3 + 1,
        "no HEAD of the last part, none of the replica"
    );
    assert_eq!(copy.calls(fingerprint), 1);
    assert_eq!(copy.calls(listed), 0);
    assert_eq!(copy.calls(part), 4);
    assert_eq!(copy.calls(tags), 1);
    assert_eq!(copy.requests() - copy.calls(tags), 2 * 4 + 7);
}

#[tokio::test]
async fn completed_upload_that_is_not_the_sources_etag_fails_the_record() {
    // Complete answers another ETag than the parts made (in the source's layout, the source's
    // ETag): the copy fails loudly on that answer, naming both.
    // The replica proven wrong is withdrawn (exactly the version Complete answered), so that a
    // retry copies again rather than taking it for the replica.
    let mut copy = MultipartCopy::build("v0", false, Some("\"0123-4\""));
    let withdraw = mock!(Client::delete_object)
        .match_requests(|r| r.version_id() == Some("replica-2"))
        .then_output(|| {
            aws_sdk_s3::operation::delete_object::DeleteObjectOutput::builder().build()
        });
    copy.rules.push(withdraw);
    let err = copy.run().await.unwrap_err();
    assert!(
        err.to_string().contains("\"0123-4\"") && err.to_string().contains("source ETag"),
        "{err}"
    );
    assert_eq!(failures(err), ["ReplicaMismatch"]);
    assert_eq!(
        copy.calls(copy.rules.len() - 1),
        1,
        "the wrong replica withdrawn"
    );
}

/// A source bucket with Object Lock enabled.
fn lock_enabled() -> Rule {
    mock!(Client::get_object_lock_configuration).then_output(|| {
        aws_sdk_s3::operation::get_object_lock_configuration::GetObjectLockConfigurationOutput::builder()
            .object_lock_configuration(
                aws_sdk_s3::types::ObjectLockConfiguration::builder()
                    .object_lock_enabled(aws_sdk_s3::types::ObjectLockEnabled::Enabled)
                    .build(),
            )
            .build()
    })
}

#[tokio::test]
async fn lock_hidden_by_head_is_read_and_restated_on_the_replica() {
    // HeadObject shows no lock (the caller could not see it); the explicit reads can.
    let retention = mock!(Client::get_object_retention).then_output(|| {
        aws_sdk_s3::operation::get_object_retention::GetObjectRetentionOutput::builder()
            .retention(
                aws_sdk_s3::types::ObjectLockRetention::builder()
                    .mode(aws_sdk_s3::types::ObjectLockRetentionMode::Compliance)
                    .retain_until_date(aws_smithy_types::DateTime::from_secs(4_102_444_800))
                    .build(),
            )
            .build()
    });
    let hold = mock!(Client::get_object_legal_hold).then_output(|| {
        aws_sdk_s3::operation::get_object_legal_hold::GetObjectLegalHoldOutput::builder()
            .legal_hold(
                aws_sdk_s3::types::ObjectLockLegalHold::builder()
                    .status(aws_sdk_s3::types::ObjectLockLegalHoldStatus::On)
                    .build(),
            )
            .build()
    });
    let copy = mock!(Client::copy_object)
        .match_requests(|r| {
            r.object_lock_mode() == Some(&aws_sdk_s3::types::ObjectLockMode::Compliance)
                && r.object_lock_retain_until_date()
                    == Some(&aws_smithy_types::DateTime::from_secs(4_102_444_800))
                && r.object_lock_legal_hold_status()
                    == Some(&aws_sdk_s3::types::ObjectLockLegalHoldStatus::On)
        })
        .then_output(copied);
    let summary = run(
        &[
            &lock_enabled(),
            &heads(None),
            &acl(false),
            &retention,
            &hold,
            &copy,
        ],
        event(Some("v1")),
    )
    .await
    .unwrap();
    assert_eq!(summary.replicated, 1);
    assert_eq!(copy.num_calls(), 1, "the copy carried the lock");
}

#[tokio::test]
async fn locked_source_whose_lock_cannot_be_read_fails_instead_of_replicating_unlocked() {
    let denied = mock!(Client::get_object_retention).then_http_response(|| {
        http(
            403,
            "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>",
        )
    });
    let copy = mock!(Client::copy_object).then_output(copied);
    let err = run(
        &[&lock_enabled(), &heads(None), &acl(false), &denied, &copy],
        event(Some("v1")),
    )
    .await
    .unwrap_err();
    assert_eq!(failures(err), ["SrcObjectLockNotPermitted"]);
    assert_eq!(copy.num_calls(), 0, "nothing was replicated unlocked");
}

/// The fixture event turned into a change of `event_name` for `version`.
fn change_event(event_name: &str, version: &str) -> Value {
    let mut e = event(Some(version));
    e["Records"][0]["eventName"] = event_name.into();
    e
}

/// The destination holds one version, `r1`, a replica of source version `marker`.
fn one_replica(marker: &'static str) -> [Rule; 2] {
    let listed = mock!(Client::list_object_versions).then_output(|| {
        aws_sdk_s3::operation::list_object_versions::ListObjectVersionsOutput::builder()
            .versions(
                aws_sdk_s3::types::ObjectVersion::builder()
                    .key("a b+c")
                    .version_id("r1")
                    .build(),
            )
            .build()
    });
    let head = mock!(Client::head_object)
        .match_requests(|r| r.bucket() == Some("dst"))
        .then_output(move || {
            HeadObjectOutput::builder()
                .e_tag(ETAG)
                .content_length(1)
                .version_id("r1")
                .metadata("replica-source-version-id", marker)
                .build()
        });
    [listed, head]
}

#[tokio::test]
async fn acl_change_on_a_destination_with_acls_disabled_is_a_named_skip_and_remembered() {
    let [listed, head] = one_replica("v1");
    let put_acl = mock!(Client::put_object_acl).then_http_response(|| {
        http(
            400,
            "<Error><Code>AccessControlListNotSupported</Code><Message>The bucket does not allow ACLs</Message></Error>",
        )
    });
    let public = acl(true);
    let rules = [&listed, &head, &public, &put_acl];
    let s3 = client(&rules);
    let replicator = Replicator::new(
        config(),
        AwsS3::with_client(s3.clone()),
        AwsS3::with_client(s3),
        "us-east-1",
    );
    for _ in 0..2 {
        let summary = handle(&replicator, change_event("ObjectAcl:Put", "v1"))
            .await
            .expect("a named skip, not a failure");
        assert_eq!((summary.synced, summary.skipped), (0, 1));
    }
    assert_eq!(put_acl.num_calls(), 1, "learnt once, then skipped");
}

#[tokio::test]
async fn tag_change_of_the_null_version_reads_that_version_not_the_current_one() {
    // A null version names every write of an unversioned key: the replica of the write the
    // source holds is found by the write itself (its record, size and ETag), read from the
    // source's current object, which here is that null version.
    let listed = mock!(Client::list_object_versions).then_output(|| {
        aws_sdk_s3::operation::list_object_versions::ListObjectVersionsOutput::builder()
            .versions(
                aws_sdk_s3::types::ObjectVersion::builder()
                    .key("a b+c")
                    .version_id("r1")
                    .size(1)
                    .e_tag(ETAG)
                    .build(),
            )
            .build()
    });
    let written = aws_smithy_types::DateTime::from_secs(1_800_000_000);
    let source = mock!(Client::head_object)
        .match_requests(|r| r.bucket() == Some("src") && r.version_id().is_none())
        .then_output(move || {
            HeadObjectOutput::builder()
                .e_tag(ETAG)
                .content_length(1)
                .version_id("null")
                .last_modified(written)
                .build()
        });
    let head = mock!(Client::head_object)
        .match_requests(|r| r.bucket() == Some("dst"))
        .then_output(move || {
            HeadObjectOutput::builder()
                .e_tag(ETAG)
                .content_length(1)
                .version_id("r1")
                .last_modified(written)
                .metadata("replica-source-version-id", "null")
                .metadata("replica-source-bucket", "src")
                .metadata("replica-written-to", "dst")
                .metadata(
                    "replica-written-key-md5",
                    s3_replicator::store::key_digest("a b+c"),
                )
                .metadata("replica-original-time", "1800000000000")
                .metadata("replica-source-etag", ETAG.trim_matches('"'))
                .build()
        });
    let tags = mock!(Client::get_object_tagging)
        .match_requests(|r| r.version_id() == Some("null"))
        .then_output(|| {
            aws_sdk_s3::operation::get_object_tagging::GetObjectTaggingOutput::builder()
                .set_tag_set(Some(Vec::new()))
                .build()
                .unwrap()
        });
    let cleared = mock!(Client::delete_object_tagging)
        .match_requests(|r| r.version_id() == Some("r1"))
        .then_output(|| {
            aws_sdk_s3::operation::delete_object_tagging::DeleteObjectTaggingOutput::builder()
                .build()
        });
    let summary = run(
        &[&listed, &source, &head, &tags, &cleared],
        change_event("ObjectTagging:Delete", "null"),
    )
    .await
    .unwrap();
    assert_eq!(summary.synced, 1);
    assert_eq!((tags.num_calls(), cleared.num_calls()), (1, 1));
}

#[tokio::test]
async fn truncated_listing_without_a_marker_fails_with_a_named_error_instead_of_spinning() {
    // Some S3-compatible servers say "truncated" and give no marker: following it would loop
    // until the function times out.
    let stuck = mock!(Client::list_object_versions).then_output(|| {
        aws_sdk_s3::operation::list_object_versions::ListObjectVersionsOutput::builder()
            .is_truncated(true)
            .build()
    });
    let err = tokio::time::timeout(
        Duration::from_secs(10),
        run(&[&stuck], change_event("ObjectTagging:Put", "v1")),
    )
    .await
    .expect("no spinning")
    .unwrap_err();
    assert_eq!(failures(err), ["ListingNotAdvancing"]);
    assert_eq!(stuck.num_calls(), 1);
}

#[tokio::test]
async fn concurrent_records_look_up_the_destination_region_once() {
    let location = mock!(Client::get_bucket_location).then_output(|| {
        aws_sdk_s3::operation::get_bucket_location::GetBucketLocationOutput::builder()
            .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::EuWest1)
            .build()
    });
    let (head, acl, copy) = (
        heads(None),
        acl(false),
        mock!(Client::copy_object).then_output(copied),
    );
    let s3 = client(&[&location, &head, &acl, &copy]);
    // No Region in the configuration: it is discovered.
    let replicator = Replicator::new(
        Config::from_shorthand("dst", None, None, None).unwrap(),
        AwsS3::with_client(s3.clone()),
        AwsS3::with_client(s3),
        "us-east-1",
    );
    let mut records = Vec::new();
    for n in 0..8 {
        let mut record = event(Some("v1"))["Records"][0].clone();
        record["s3"]["object"]["key"] = format!("key-{n}").into();
        records.push(record);
    }
    let summary = handle(&replicator, serde_json::json!({ "Records": records }))
        .await
        .unwrap();
    assert_eq!(summary.replicated, 8);
    assert_eq!(location.num_calls(), 1);
}

#[tokio::test]
async fn multipart_copy_keeps_the_sources_composite_checksum() {
    const PART: i64 = 5 * 1024 * 1024;
    let part_etag = |n: i32| format!("\"{:032x}\"", n);
    let all: Vec<(u32, String)> = (1..=2).map(|n| (n, part_etag(n as i32))).collect();
    let source_etag = s3_replicator::copy::multipart::multipart_etag(&all).unwrap();
    let src_etag = source_etag.clone();
    let head = mock!(Client::head_object).then_compute_output(move |req| {
        let out = HeadObjectOutput::builder()
            .e_tag(&src_etag)
            .checksum_sha256("c29tZQ==-2")
            .checksum_type(aws_sdk_s3::types::ChecksumType::Composite);
        match (req.bucket(), req.version_id(), req.part_number()) {
            (Some("dst"), Some("replica-2"), _) => out
                .content_length(2 * PART)
                .version_id("replica-2")
                .metadata("replica-source-version-id", "v1")
                .metadata("replica-source-bucket", "src")
                .metadata("replica-written-to", "dst")
                .metadata("replica-original-time", "0"),
            // The replica of the previous version, written before v1.
            (Some("dst"), _, _) => HeadObjectOutput::builder()
                .e_tag(ETAG)
                .content_length(1)
                .version_id("replica-1")
                .metadata("replica-source-version-id", "v0")
                .last_modified(aws_smithy_types::DateTime::from_secs(1_000)),
            (_, _, Some(_)) => out.content_length(PART).parts_count(2).version_id("v1"),
            (_, _, None) => out
                .content_length(2 * PART)
                .version_id("v1")
                .last_modified(aws_smithy_types::DateTime::from_secs(2_000)),
        }
        .build()
    });
    let tags = mock!(Client::get_object_tagging).then_output(|| {
        aws_sdk_s3::operation::get_object_tagging::GetObjectTaggingOutput::builder()
            .set_tag_set(Some(Vec::new()))
            .build()
            .unwrap()
    });
    let none = mock!(Client::list_multipart_uploads).then_output(|| {
        aws_sdk_s3::operation::list_multipart_uploads::ListMultipartUploadsOutput::builder().build()
    });
    let create = mock!(Client::create_multipart_upload)
        .match_requests(|r| {
            r.checksum_algorithm() == Some(&aws_sdk_s3::types::ChecksumAlgorithm::Sha256)
                && r.checksum_type() == Some(&aws_sdk_s3::types::ChecksumType::Composite)
        })
        .then_output(|| {
            aws_sdk_s3::operation::create_multipart_upload::CreateMultipartUploadOutput::builder()
                .upload_id("new")
                .build()
        });
    let part = mock!(Client::upload_part_copy).then_compute_output(move |r| {
        let n = r.part_number().unwrap();
        aws_sdk_s3::operation::upload_part_copy::UploadPartCopyOutput::builder()
            .copy_part_result(
                aws_sdk_s3::types::CopyPartResult::builder()
                    .e_tag(part_etag(n))
                    .checksum_sha256(format!("part-{n}"))
                    .build(),
            )
            .build()
    });
    let complete_etag = source_etag.clone();
    let complete = mock!(Client::complete_multipart_upload)
        .match_requests(|r| {
            let parts = r.multipart_upload().map(|u| u.parts()).unwrap_or_default();
            parts.len() == 2
                && parts.iter().all(|p| {
                    p.checksum_sha256() == Some(&format!("part-{}", p.part_number().unwrap()))
                })
        })
        .then_output(move || {
            aws_sdk_s3::operation::complete_multipart_upload::CompleteMultipartUploadOutput::builder()
                .e_tag(&complete_etag)
                .version_id("replica-2")
                .build()
        });
    let summary = run(
        &[&head, &acl(false), &tags, &none, &create, &part, &complete],
        event(Some("v1")),
    )
    .await
    .unwrap();
    assert_eq!(summary.replicated, 1);
    assert_eq!((create.num_calls(), complete.num_calls()), (1, 1));
}

/// One rule for objects tagged `class=keep`.
fn tag_filtered() -> Config {
    let mut config = Config::from_json(
        r#"{"Rules":[{"ID":"keep","Priority":1,"Status":"Enabled",
            "Filter":{"Tag":{"Key":"class","Value":"keep"}},
            "DeleteMarkerReplication":{"Status":"Disabled"},
            "Destination":{"Bucket":"dst","Region":"eu-west-1"}}]}"#,
    )
    .unwrap();
    config.source_buckets = vec!["src".to_owned()];
    config
}

/// A replicator with [`tag_filtered`] rules on a mocked client.
fn tag_filtered_replicator(s3: Client) -> Replicator<AwsS3, AwsS3> {
    Replicator::new(
        tag_filtered(),
        AwsS3::with_client(s3.clone()),
        AwsS3::with_client(s3),
        "us-east-1",
    )
}

/// HeadObject answers as AWS S3 does: `x-amz-tagging-count` only when given (the source has
/// tags); the destination holds nothing yet.
fn heads_with_tag_count(count: Option<i32>) -> Rule {
    mock!(Client::head_object).then_compute_output(move |req| {
        let out = HeadObjectOutput::builder().e_tag(ETAG).content_length(1);
        match req.bucket() {
            Some("dst") => HeadObjectOutput::builder().build(),
            _ => out.version_id("v1").set_tag_count(count).build(),
        }
    })
}

fn no_such_replica() -> Rule {
    mock!(Client::head_object)
        .match_requests(|r| r.bucket() == Some("dst"))
        .then_http_response(|| http(404, ""))
}

fn tagging(tags: &'static [(&'static str, &'static str)]) -> Rule {
    mock!(Client::get_object_tagging).then_output(move || {
        let set = tags
            .iter()
            .map(|(k, v)| {
                aws_sdk_s3::types::Tag::builder()
                    .key(*k)
                    .value(*v)
                    .build()
                    .unwrap()
            })
            .collect();
        aws_sdk_s3::operation::get_object_tagging::GetObjectTaggingOutput::builder()
            .set_tag_set(Some(set))
            .build()
            .unwrap()
    })
}

#[tokio::test]
async fn object_without_a_tag_count_on_aws_costs_one_tag_read_per_bucket_not_per_object() {
    // AWS S3 leaves x-amz-tagging-count out when an object has no tags, and only then for a
    // caller who may read tags: once a tag read in the bucket succeeded, silence means none.
    let (missing, head, tags, copy) = (
        no_such_replica(),
        heads_with_tag_count(None),
        tagging(&[]),
        mock!(Client::copy_object).then_output(copied),
    );
    let s3 = client(&[&missing, &head, &acl(false), &tags, &copy]);
    let replicator = tag_filtered_replicator(s3);
    for _ in 0..3 {
        let summary = handle(&replicator, event(Some("v1"))).await.unwrap();
        assert_eq!(summary.skipped, 1, "no tags: the rule does not match");
    }
    assert_eq!(tags.num_calls(), 1);
    assert_eq!(copy.num_calls(), 0);
}

#[tokio::test]
async fn tag_count_of_zero_costs_no_tag_read() {
    let (missing, head, tags) = (
        no_such_replica(),
        heads_with_tag_count(Some(0)),
        tagging(&[("class", "keep")]),
    );
    let s3 = client(&[&missing, &head, &acl(false), &tags]);
    let replicator = tag_filtered_replicator(s3);
    let summary = handle(&replicator, event(Some("v1"))).await.unwrap();
    assert_eq!(summary.skipped, 1);
    assert_eq!(tags.num_calls(), 0);
}

#[tokio::test]
async fn tagged_object_is_read_and_replicated_after_untagged_ones() {
    // Silence was learnt to mean "no tags"; a HEAD that counts tags still has them read: they
    // decide the rule and travel with the copy.
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let tagged = Arc::new(AtomicBool::new(false));
    let now = tagged.clone();
    let head = mock!(Client::head_object).then_compute_output(move |req| {
        let out = HeadObjectOutput::builder().e_tag(ETAG).content_length(1);
        match (req.bucket(), now.load(Ordering::SeqCst)) {
            (Some("dst"), _) => HeadObjectOutput::builder().build(),
            (_, true) => out.version_id("v1").tag_count(1).build(),
            (_, false) => out.version_id("v1").build(),
        }
    });
    let now = tagged.clone();
    let tags = mock!(Client::get_object_tagging).then_compute_output(move |_| {
        let mut out = aws_sdk_s3::operation::get_object_tagging::GetObjectTaggingOutput::builder()
            .set_tag_set(Some(Vec::new()));
        if now.load(Ordering::SeqCst) {
            out = out.tag_set(
                aws_sdk_s3::types::Tag::builder()
                    .key("class")
                    .value("keep")
                    .build()
                    .unwrap(),
            );
        }
        out.build().unwrap()
    });
    let (missing, copy) = (
        no_such_replica(),
        mock!(Client::copy_object).then_output(copied),
    );
    let s3 = client(&[&missing, &head, &acl(false), &tags, &copy]);
    let replicator = tag_filtered_replicator(s3);
    for _ in 0..2 {
        let summary = handle(&replicator, event(Some("v1"))).await.unwrap();
        assert_eq!(summary.skipped, 1);
    }
    tagged.store(true, Ordering::SeqCst);
    let summary = handle(&replicator, event(Some("v1"))).await.unwrap();
    assert_eq!(summary.replicated, 1);
    assert_eq!((tags.num_calls(), copy.num_calls()), (2, 1));
}

#[test]
fn only_aws_own_endpoint_is_trusted_to_omit_a_zero_tag_count() {
    use s3_replicator::store::SourceStore;
    let sdk = |endpoint: Option<&str>| {
        let mut sdk = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"));
        sdk.set_endpoint_url(endpoint.map(str::to_owned));
        sdk.build()
    };
    assert!(AwsS3::new(sdk(None), false).omits_zero_tag_count());
    let local = AwsS3::new(sdk(Some("http://127.0.0.1:9000")), true);
    assert!(
        !local.omits_zero_tag_count(),
        "another endpoint may never send the count"
    );
}

/// The copy carries the destination's state as it was read: `If-Match` with the ETag of the
/// object there, `If-None-Match: *` where there is none, so that a concurrent writer's copy
/// is refused (412) rather than added as a second replica.
#[tokio::test]
async fn copy_is_conditioned_on_the_destination_as_read() {
    // The destination holds another object: If-Match its ETag.
    let copy = mock!(Client::copy_object)
        .match_requests(|r| r.if_match() == Some("\"e0\"") && r.if_none_match().is_none())
        .then_output(copied);
    let summary = run(&[&head(), &acl(false), &copy], event(Some("v1")))
        .await
        .unwrap();
    assert_eq!((summary.replicated, copy.num_calls()), (1, 1));

    // Nothing there: If-None-Match: *.
    let empty = mock!(Client::head_object)
        .match_requests(|r| r.bucket() == Some("dst"))
        .then_http_response(|| http(404, ""));
    let copy = mock!(Client::copy_object)
        .match_requests(|r| r.if_none_match() == Some("*") && r.if_match().is_none())
        .then_output(copied);
    let summary = run(&[&empty, &head(), &acl(false), &copy], event(Some("v1")))
        .await
        .unwrap();
    assert_eq!((summary.replicated, copy.num_calls()), (1, 1));
}
