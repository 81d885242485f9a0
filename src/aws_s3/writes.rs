//! The destination side: CopyObject, PutObject, delete markers and version deletes, tags and
//! ACLs of replicas, what a replica key currently is; multipart calls live in `multipart`.

use aws_sdk_s3::types::{ObjectCannedAcl, TaggingDirective};

use super::body::retryable;
use super::errors::{failure, invalid_tags, missing};
use super::listings::{key_versions, list_current};
use super::reads::{current_state, head_current};
use super::{copy_source, multipart, tagging_header, AwsS3};
use crate::error::S3Failure;
use crate::store::{
    AclPlan, Body, CopyRequest, Current, DestinationStore, Listed, ListedVersion, ReplicaLocation,
    ReplicaSpec, TagsPlan, UploadedPart, Written,
};

fn acl_request(
    req: aws_sdk_s3::operation::put_object_acl::builders::PutObjectAclFluentBuilder,
    acl: &AclPlan,
) -> aws_sdk_s3::operation::put_object_acl::builders::PutObjectAclFluentBuilder {
    match acl {
        AclPlan::Default => req.acl(ObjectCannedAcl::Private),
        AclPlan::BucketOwnerFullControl => req.acl(ObjectCannedAcl::BucketOwnerFullControl),
        AclPlan::Grants(g) => req
            .set_grant_full_control(g.full_control.clone())
            .set_grant_read(g.read.clone())
            .set_grant_read_acp(g.read_acp.clone())
            .set_grant_write_acp(g.write_acp.clone()),
    }
}

impl DestinationStore for AwsS3 {
    async fn bucket_region(&self, bucket: &str) -> Result<String, S3Failure> {
        let out = self
            .default_client()
            .get_bucket_location()
            .bucket(bucket)
            .send()
            .await
            .map_err(|e| failure("GetBucketLocation", e))?;
        // An empty constraint is us-east-1; "EU" is the legacy name of eu-west-1.
        Ok(match out.location_constraint().map(|c| c.as_str()) {
            None | Some("") => "us-east-1".to_owned(),
            Some("EU") => "eu-west-1".to_owned(),
            Some(region) => region.to_owned(),
        })
    }

    async fn copy_object(&self, request: &CopyRequest) -> Result<Written, S3Failure> {
        let target = &request.target;
        let mut copy = self
            .client_at(&target.region, target.endpoint.as_deref())
            .copy_object()
            .copy_source(copy_source(&request.source))
            .set_copy_source_if_match(request.source_if_match.clone())
            .metadata_directive(aws_sdk_s3::types::MetadataDirective::Replace);
        copy = apply_replica_spec!(copy, target);
        copy = apply_condition!(copy, target);
        copy = match &target.tags {
            TagsPlan::FromSource => copy.tagging_directive(TaggingDirective::Copy),
            TagsPlan::Set(tags) => copy
                .tagging_directive(TaggingDirective::Replace)
                .tagging(tagging_header(tags)),
        };
        let out = send_with_expires!(copy, target).map_err(|e| failure("CopyObject", e))?;
        // The SDK turns an <Error> body in a 200 into an error; an empty result is one too.
        let etag = out
            .copy_object_result()
            .and_then(|r| r.e_tag())
            .ok_or_else(|| missing("CopyObject", "CopyObjectResult ETag"))?;
        Ok(Written {
            etag: super::multipart::quoted(etag),
            version_id: out.version_id().map(str::to_owned),
        })
    }

    async fn replica_current(&self, at: &ReplicaLocation) -> Result<Current, S3Failure> {
        let client = self.client_at(&at.region, at.endpoint.as_deref());
        let owner = at.expected_bucket_owner.as_deref();
        let not_aws = self.absence_is_listed(at.endpoint.as_deref());
        current_state(&client, &at.bucket, &at.key, owner, not_aws).await
    }

    fn absence_is_listed(&self, endpoint: Option<&str>) -> bool {
        endpoint.is_some() || !self.on_aws
    }

    async fn put_delete_marker(
        &self,
        at: &ReplicaLocation,
        if_match: Option<&str>,
    ) -> Result<Option<String>, S3Failure> {
        let put = self
            .client_at(&at.region, at.endpoint.as_deref())
            .delete_object()
            .bucket(&at.bucket)
            .key(&at.key)
            .set_if_match(if_match.map(str::to_owned))
            .set_expected_bucket_owner(at.expected_bucket_owner.clone())
            .send()
            .await
            .map_err(|e| failure("DeleteObject", e))?;
        Ok(put.version_id().map(str::to_owned))
    }

    async fn list_replicas(&self, at: &ReplicaLocation) -> Result<Vec<Listed>, S3Failure> {
        let client = self.client_at(&at.region, at.endpoint.as_deref());
        list_current(
            &client,
            &at.bucket,
            &at.key,
            at.expected_bucket_owner.as_deref(),
        )
        .await
    }

    async fn replica_versions(
        &self,
        at: &ReplicaLocation,
    ) -> Result<Vec<ListedVersion>, S3Failure> {
        let client = self.client_at(&at.region, at.endpoint.as_deref());
        key_versions(
            &client,
            &at.bucket,
            &at.key,
            at.expected_bucket_owner.as_deref(),
            false,
        )
        .await
    }

    async fn put_object(
        &self,
        target: &ReplicaSpec,
        body: Body,
        tags: &[(String, String)],
    ) -> Result<Written, S3Failure> {
        let length = body.length as i64;
        let body = retryable(body).await?;
        // See `body`: a streamed PUT to a server AWS does not run goes without the checksum
        // trailer (the caller proves its bytes by the ETag).
        let plain = body.plain_to(self.url_of(target.endpoint.as_deref()));
        let mut put = self
            .client_at(&target.region, target.endpoint.as_deref())
            .put_object()
            .content_length(length)
            .body(body.stream);
        put = apply_replica_spec!(put, target);
        if plain {
            put = put.set_checksum_algorithm(None);
        }
        put = apply_condition!(put, target);
        if !tags.is_empty() {
            put = put.tagging(tagging_header(tags));
        }
        let out = send_with_expires!(put, target, plain).map_err(|e| failure("PutObject", e))?;
        Ok(Written {
            etag: out
                .e_tag()
                .ok_or_else(|| missing("PutObject", "ETag"))?
                .to_owned(),
            version_id: out.version_id().map(str::to_owned),
        })
    }

    async fn replica_version(
        &self,
        at: &ReplicaLocation,
        version_id: &str,
    ) -> Result<Current, S3Failure> {
        head_current(
            &self.client_at(&at.region, at.endpoint.as_deref()),
            &at.bucket,
            &at.key,
            Some(version_id),
            at.expected_bucket_owner.as_deref(),
        )
        .await
    }

    async fn delete_version(
        &self,
        at: &ReplicaLocation,
        version_id: &str,
    ) -> Result<(), S3Failure> {
        self.client_at(&at.region, at.endpoint.as_deref())
            .delete_object()
            .bucket(&at.bucket)
            .key(&at.key)
            .version_id(version_id)
            .set_expected_bucket_owner(at.expected_bucket_owner.clone())
            .send()
            .await
            .map_err(|e| failure("DeleteObject", e))?;
        Ok(())
    }

    async fn set_tags(
        &self,
        at: &ReplicaLocation,
        version_id: &str,
        tags: &[(String, String)],
    ) -> Result<(), S3Failure> {
        let client = self.client_at(&at.region, at.endpoint.as_deref());
        if tags.is_empty() {
            client
                .delete_object_tagging()
                .bucket(&at.bucket)
                .key(&at.key)
                .version_id(version_id)
                .set_expected_bucket_owner(at.expected_bucket_owner.clone())
                .send()
                .await
                .map_err(|e| failure("DeleteObjectTagging", e))?;
            return Ok(());
        }
        let tag_set = tags
            .iter()
            .map(|(k, v)| aws_sdk_s3::types::Tag::builder().key(k).value(v).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| invalid_tags(&e))?;
        let tagging = aws_sdk_s3::types::Tagging::builder()
            .set_tag_set(Some(tag_set))
            .build()
            .map_err(|e| invalid_tags(&e))?;
        client
            .put_object_tagging()
            .bucket(&at.bucket)
            .key(&at.key)
            .version_id(version_id)
            .tagging(tagging)
            .set_expected_bucket_owner(at.expected_bucket_owner.clone())
            .send()
            .await
            .map_err(|e| failure("PutObjectTagging", e))?;
        Ok(())
    }

    async fn set_acl(
        &self,
        at: &ReplicaLocation,
        version_id: &str,
        acl: &AclPlan,
    ) -> Result<(), S3Failure> {
        let req = self
            .client_at(&at.region, at.endpoint.as_deref())
            .put_object_acl()
            .bucket(&at.bucket)
            .key(&at.key)
            .version_id(version_id)
            .set_expected_bucket_owner(at.expected_bucket_owner.clone());
        acl_request(req, acl)
            .send()
            .await
            .map_err(|e| failure("PutObjectAcl", e))?;
        Ok(())
    }

    async fn create_multipart(
        &self,
        target: &ReplicaSpec,
        tags: &[(String, String)],
    ) -> Result<String, S3Failure> {
        multipart::create(self, target, tags).await
    }

    async fn upload_part(
        &self,
        target: &ReplicaSpec,
        upload_id: &str,
        number: u32,
        body: Body,
    ) -> Result<UploadedPart, S3Failure> {
        multipart::upload_part(self, target, upload_id, number, body).await
    }

    async fn upload_part_copy(
        &self,
        request: &CopyRequest,
        upload_id: &str,
        number: u32,
        range: (u64, u64),
    ) -> Result<UploadedPart, S3Failure> {
        multipart::upload_part_copy(self, request, upload_id, number, range).await
    }

    async fn complete_multipart(
        &self,
        target: &ReplicaSpec,
        upload_id: &str,
        parts: &[(u32, UploadedPart)],
    ) -> Result<Written, S3Failure> {
        multipart::complete(self, target, upload_id, parts).await
    }

    async fn list_uploads(&self, target: &ReplicaSpec) -> Result<Vec<String>, S3Failure> {
        multipart::list_uploads(self, target).await
    }

    async fn list_parts(
        &self,
        target: &ReplicaSpec,
        upload_id: &str,
    ) -> Result<Vec<(u32, u64, UploadedPart)>, S3Failure> {
        multipart::list_parts(self, target, upload_id).await
    }

    async fn abort_multipart(
        &self,
        target: &ReplicaSpec,
        upload_id: &str,
    ) -> Result<(), S3Failure> {
        multipart::abort(self, target, upload_id).await
    }
}
