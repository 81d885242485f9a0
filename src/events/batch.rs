//! S3 Batch Operations "Invoke AWS Lambda function" payloads, schema 1.0 (`tasks[].s3BucketArn`)
//! and 2.0 (`tasks[].s3Bucket`, `job.userArguments`). Keys arrive URL-encoded as in S3 event
//! notifications. A task that cannot be read becomes a failed result naming its field; only a
//! payload without an invocation id to answer is refused as a whole.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::decode_event_key;
use super::s3::shorten;
use crate::error::InvocationError;
use crate::names;

/// Whether a payload is a Batch Operations invocation.
pub fn is_batch(payload: &Value) -> bool {
    payload.get("invocationSchemaVersion").is_some() && payload.get("tasks").is_some()
}

/// What a job asks of each task (`userArguments.Mode`; schema 1.0 has only `replicate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Replicate the object's current version where it is not already in sync.
    Replicate,
    /// Check the replica of the object's current version at each destination.
    Verify,
    /// Copy the named version back as its key's current one (a `restore --manifest-out` plan).
    Restore,
}

/// A Batch Operations invocation, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchJob {
    /// `invocationSchemaVersion`, echoed in the response.
    pub schema: String,
    /// `invocationId`, echoed in the response.
    pub invocation_id: String,
    /// `job.id`, for logs.
    pub job_id: String,
    /// The mode, or why the job's arguments cannot be used (every task fails with it).
    pub mode: Result<Mode, String>,
    /// A restore job's `From` argument: the replica bucket the bytes are read from (the
    /// manifest's bucket is the one written).
    pub from: Option<String>,
    /// A restore job's `ReadAt` argument: when its plan read the bucket (milliseconds since the
    /// epoch); a key written since is newer than the plan and never replaced.
    pub read_at: Option<i64>,
    /// The tasks, in order.
    pub tasks: Vec<BatchTask>,
}

/// One task: its id and the object, or why the task cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchTask {
    /// `taskId`, echoed in its result.
    pub task_id: String,
    /// The object, or the message naming the field at fault.
    pub object: Result<TaskObject, String>,
}

/// The object a task names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskObject {
    /// Source bucket.
    pub bucket: String,
    /// Decoded key.
    pub key: String,
    /// The version the manifest names, if it names one.
    pub version_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    invocation_schema_version: String,
    invocation_id: String,
    #[serde(default)]
    job: Job,
    tasks: Vec<Value>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Job {
    #[serde(default)]
    id: String,
    #[serde(default)]
    user_arguments: Option<BTreeMap<String, Value>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Task {
    task_id: String,
    s3_key: Option<String>,
    s3_version_id: Option<String>,
    s3_bucket_arn: Option<String>,
    s3_bucket: Option<String>,
}

/// Reads a Batch Operations payload.
pub fn parse_batch(payload: &Value) -> Result<BatchJob, InvocationError> {
    let envelope: Envelope = serde_path_to_error::deserialize(payload)
        .map_err(|e| InvocationError::InvalidBatchJob(format!("{}: {}", e.path(), e.inner())))?;
    let schema = envelope.invocation_schema_version;
    let arguments = envelope.job.user_arguments.as_ref();
    let from = arguments
        .and_then(|a| a.get(FROM))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let read_at = arguments
        .and_then(|a| a.get(READ_AT))
        .and_then(Value::as_str)
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.timestamp_millis());
    let mode = match schema.as_str() {
        "1.0" => Ok(Mode::Replicate),
        "2.0" => mode_of(arguments),
        other => Err(format!(
            "UnsupportedSchema: invocationSchemaVersion {other:?} (1.0 and 2.0 are supported)"
        )),
    };
    let tasks = envelope
        .tasks
        .iter()
        .enumerate()
        .map(|(i, value)| parse_task(i, value))
        .collect();
    Ok(BatchJob {
        schema,
        invocation_id: envelope.invocation_id,
        job_id: envelope.job.id,
        mode,
        from,
        read_at,
        tasks,
    })
}

/// The key of `userArguments` naming the mode.
const MODE: &str = "Mode";
/// The key of a restore job's `userArguments` naming the replica bucket to read bytes from.
const FROM: &str = "From";
/// The key of a restore job's `userArguments` saying when its plan read the bucket.
const READ_AT: &str = "ReadAt";

fn mode_of(arguments: Option<&BTreeMap<String, Value>>) -> Result<Mode, String> {
    // A misspelt key (`mode`, `"Mode "`) must not run the default, replicate, during what was
    // meant as a read-only check: anything unknown fails every task.
    if let Some(unknown) = arguments
        .into_iter()
        .flat_map(|a| a.keys())
        .find(|k| ![MODE, FROM, READ_AT].contains(&k.as_str()))
    {
        return Err(format!(
            "InvalidUserArguments: job.userArguments has the unknown key {unknown:?}; the keys are \"Mode\" (\"replicate\", \"verify\" or \"restore\") and, for restore, \"From\" and \"ReadAt\""
        ));
    }
    let mode = mode_named(arguments)?;
    match arguments.and_then(|a| a.get(READ_AT)) {
        None => {}
        Some(Value::String(t))
            if mode == Mode::Restore && chrono::DateTime::parse_from_rfc3339(t).is_ok() => {}
        Some(other) => {
            return Err(format!(
                "InvalidUserArguments: job.userArguments.ReadAt is {other}; it is when the plan read the bucket, RFC 3339 as restore --manifest-out prints it, and only with Mode \"restore\""
            ))
        }
    }
    match arguments.and_then(|a| a.get(FROM)) {
        None => Ok(mode),
        Some(Value::String(b)) if mode == Mode::Restore && !b.is_empty() => Ok(mode),
        Some(other) => Err(format!(
            "InvalidUserArguments: job.userArguments.From is {other}; it names a replica bucket, and only with Mode \"restore\""
        )),
    }
}

fn mode_named(arguments: Option<&BTreeMap<String, Value>>) -> Result<Mode, String> {
    match arguments.and_then(|a| a.get(MODE)) {
        None => Ok(Mode::Replicate),
        Some(Value::String(m)) if m.eq_ignore_ascii_case("replicate") => Ok(Mode::Replicate),
        Some(Value::String(m)) if m.eq_ignore_ascii_case("verify") => Ok(Mode::Verify),
        Some(Value::String(m)) if m.eq_ignore_ascii_case("restore") => Ok(Mode::Restore),
        Some(other) => Err(format!(
            "InvalidUserArguments: job.userArguments.Mode is {other}, expected \"replicate\", \"verify\" or \"restore\""
        )),
    }
}

fn parse_task(index: usize, value: &Value) -> BatchTask {
    let task: Task = match serde_path_to_error::deserialize(value) {
        Ok(t) => t,
        Err(e) => {
            return BatchTask {
                task_id: value
                    .get("taskId")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                object: Err(format!("tasks[{index}].{}: {}", e.path(), e.inner())),
            }
        }
    };
    let object = task_object(index, &task);
    BatchTask {
        task_id: task.task_id,
        object,
    }
}

fn task_object(index: usize, task: &Task) -> Result<TaskObject, String> {
    let field = |name: &str, message: String| format!("tasks[{index}].{name}: {message}");
    // 2.0 names the bucket; 1.0 gives its ARN (arn:aws:s3:::bucket).
    let bucket = match (&task.s3_bucket, &task.s3_bucket_arn) {
        (Some(b), _) => b.clone(),
        (None, Some(arn)) => arn.rsplit(':').next().unwrap_or_default().to_owned(),
        (None, None) => return Err(field("s3Bucket", "is missing".to_owned())),
    };
    if !names::is_bucket_name(&bucket) {
        return Err(field(
            "s3Bucket",
            format!("{bucket:?} is not a bucket name"),
        ));
    }
    let raw_key = task
        .s3_key
        .as_deref()
        .filter(|k| !k.is_empty())
        .ok_or_else(|| field("s3Key", "is missing".to_owned()))?;
    let key = decode_event_key(raw_key)
        .map_err(|e| field("s3Key", format!("{}: {e}", shorten(raw_key))))?;
    if let Some(problem) = names::key_problem(&key) {
        return Err(field("s3Key", format!("the decoded key {problem}")));
    }
    let version_id = task.s3_version_id.clone().filter(|v| !v.is_empty());
    if let Some(v) = version_id.as_deref().filter(|v| !names::is_token(v)) {
        return Err(field(
            "s3VersionId",
            format!("{} is not visible ASCII of at most 1,024 bytes", shorten(v)),
        ));
    }
    Ok(TaskObject {
        bucket,
        key,
        version_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn schema_1_names_the_bucket_by_arn_and_always_replicates() {
        let job = parse_batch(&json!({
            "invocationSchemaVersion": "1.0", "invocationId": "inv", "job": {"id": "j"},
            "tasks": [{"taskId": "t", "s3Key": "a+b%2Bc", "s3VersionId": "v1",
                       "s3BucketArn": "arn:aws:s3:::src-bucket"}]
        }))
        .unwrap();
        assert_eq!(job.mode, Ok(Mode::Replicate));
        assert_eq!(
            job.tasks[0].object,
            Ok(TaskObject {
                bucket: "src-bucket".into(),
                key: "a b+c".into(),
                version_id: Some("v1".into())
            })
        );
    }

    #[test]
    fn schema_2_reads_the_mode_from_user_arguments() {
        let job = |args: Value| {
            parse_batch(&json!({
                "invocationSchemaVersion": "2.0", "invocationId": "inv",
                "job": {"id": "j", "userArguments": args},
                "tasks": [{"taskId": "t", "s3Key": "k", "s3VersionId": null, "s3Bucket": "src"}]
            }))
            .unwrap()
        };
        assert_eq!(job(json!({"Mode": "verify"})).mode, Ok(Mode::Verify));
        assert_eq!(job(json!({})).mode, Ok(Mode::Replicate));
        let bad = job(json!({"Mode": "mirror"})).mode.unwrap_err();
        assert!(bad.contains("job.userArguments.Mode"), "{bad}");
        assert_eq!(
            job(json!({})).tasks[0].object.as_ref().unwrap().version_id,
            None
        );
    }

    #[test]
    fn a_misspelt_user_argument_fails_the_job_instead_of_replicating() {
        let job = |args: Value| {
            parse_batch(&json!({
                "invocationSchemaVersion": "2.0", "invocationId": "i",
                "job": {"id": "j", "userArguments": args},
                "tasks": []
            }))
            .unwrap()
        };
        for args in [
            json!({"mode": "verify"}),
            json!({"MODE": "verify"}),
            json!({"Mode ": "verify"}),
            json!({"Mode": "verify", "DryRun": "true"}),
        ] {
            let err = job(args.clone()).mode.unwrap_err();
            assert!(err.contains("unknown key"), "{args}: {err}");
        }
    }

    #[test]
    fn unreadable_task_names_its_field_and_keeps_its_id() {
        let job = parse_batch(&json!({
            "invocationSchemaVersion": "2.0", "invocationId": "inv", "job": {"id": "j"},
            "tasks": [{"taskId": "ok", "s3Key": "k", "s3Bucket": "src"},
                      {"taskId": "bad", "s3Key": "%E0%A4%A", "s3Bucket": "src"},
                      {"taskId": "nobucket", "s3Key": "k"}]
        }))
        .unwrap();
        assert!(job.tasks[0].object.is_ok());
        assert_eq!(job.tasks[1].task_id, "bad");
        assert!(job.tasks[1]
            .object
            .as_ref()
            .unwrap_err()
            .starts_with("tasks[1].s3Key"));
        assert!(job.tasks[2]
            .object
            .as_ref()
            .unwrap_err()
            .starts_with("tasks[2].s3Bucket"));
    }

    #[test]
    fn payload_without_an_invocation_id_is_refused_naming_the_field() {
        let err = parse_batch(&json!({"invocationSchemaVersion": "2.0", "tasks": []}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("invocationId"), "{err}");
    }
}
