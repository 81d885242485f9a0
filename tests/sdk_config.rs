//! Where the function and the CLI find their region and credentials: the SDK's default chains,
//! environment variables first, then the shared config and credentials files (and, beyond them,
//! SSO, web identity, the container and instance endpoints). The chains beyond the environment
//! are built only when the environment has no answer, which must not change the answer.
//!
//! One test, alone in its test binary: it sets the process's environment, which no other test
//! may read at the same time.

use aws_credential_types::provider::ProvideCredentials;

const CHAIN_VARIABLES: &[&str] = &[
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
];

/// The region and access key the SDK configuration of `s3_replicator::sdk::load` ends up with.
async fn loaded() -> (Option<String>, String) {
    let sdk = s3_replicator::sdk::load().await;
    let credentials = sdk
        .credentials_provider()
        .expect("a credentials provider")
        .provide_credentials()
        .await
        .expect("credentials");
    (
        sdk.region().map(|r| r.to_string()),
        credentials.access_key_id().to_owned(),
    )
}

#[tokio::test]
async fn region_and_credentials_come_from_the_environment_first_then_the_profile_files() {
    let home = std::env::temp_dir().join(format!("sdk-config-{}", std::process::id()));
    std::fs::create_dir_all(&home).unwrap();
    let config = home.join("config");
    let credentials = home.join("credentials");
    std::fs::write(
        &config,
        "[default]\nregion = eu-west-3\n\n[profile operator]\nregion = ap-southeast-2\n",
    )
    .unwrap();
    std::fs::write(
        &credentials,
        "[default]\naws_access_key_id = AKIDPROFILE\naws_secret_access_key = secret\n\n\
         [operator]\naws_access_key_id = AKIDOPERATOR\naws_secret_access_key = secret\n",
    )
    .unwrap();
    for name in CHAIN_VARIABLES {
        std::env::remove_var(name);
    }
    std::env::set_var("HOME", &home);
    std::env::set_var("AWS_CONFIG_FILE", &config);
    std::env::set_var("AWS_SHARED_CREDENTIALS_FILE", &credentials);
    std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");

    // As on Lambda: the environment holds both, and wins over the profile files.
    std::env::set_var("AWS_ACCESS_KEY_ID", "AKIDENVIRONMENT");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "secret");
    std::env::set_var("AWS_REGION", "us-west-2");
    assert_eq!(
        loaded().await,
        (Some("us-west-2".into()), "AKIDENVIRONMENT".into())
    );

    // An operator's machine: nothing in the environment, so the profile files answer.
    for name in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"] {
        std::env::remove_var(name);
    }
    assert_eq!(
        loaded().await,
        (Some("eu-west-3".into()), "AKIDPROFILE".into())
    );

    // The profile the operator names.
    std::env::set_var("AWS_PROFILE", "operator");
    assert_eq!(
        loaded().await,
        (Some("ap-southeast-2".into()), "AKIDOPERATOR".into())
    );

    // A region in the environment with credentials from the profile, and the other way round.
    std::env::set_var("AWS_DEFAULT_REGION", "ca-central-1");
    assert_eq!(
        loaded().await,
        (Some("ca-central-1".into()), "AKIDOPERATOR".into())
    );
    std::env::remove_var("AWS_DEFAULT_REGION");
    std::env::set_var("AWS_ACCESS_KEY_ID", "AKIDENVIRONMENT");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "secret");
    assert_eq!(
        loaded().await,
        (Some("ap-southeast-2".into()), "AKIDENVIRONMENT".into())
    );
    std::fs::remove_dir_all(&home).unwrap();
}
