#!/usr/bin/env bash
# `make deploy`: builds the function and deploys template.yaml into the AWS account of your
# credentials, with the project's own tools (the SAM CLI of .venv-sam; cargo-lambda and zig of
# .venv, which `sam build` finds on PATH), asking for the parameters (`sam deploy --guided`).
#
#   make deploy                          arm64, the template's default (needs the Rust target
#                                        aarch64-unknown-linux-gnu)
#   make deploy ARCHITECTURE=x86_64      without that target
#   bash scripts/deploy.sh [SAM DEPLOY OPTIONS]   e.g. --region eu-west-1, --config-env example
#
# It checks first, and says what is missing, before installing or building anything: the
# architecture's Rust target, and AWS credentials (found the way the SAM CLI finds them).
# The answers `sam deploy --guided` saves in samconfig.toml stay the defaults of the next run;
# the architecture given here is added to them, so the build and the stack always agree.
set -euo pipefail
cd "$(dirname "$0")/.."

arch=${ARCHITECTURE:-arm64}
config_env=default profile= region=
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[i]}" in
  --config-env) config_env=${args[i + 1]:-default} ;;
  --config-env=*) config_env=${args[i]#*=} ;;
  --profile) profile=${args[i + 1]:-} ;;
  --profile=*) profile=${args[i]#*=} ;;
  --region) region=${args[i + 1]:-} ;;
  --region=*) region=${args[i]#*=} ;;
  esac
done

problems=0
case "$arch" in
arm64) target=aarch64-unknown-linux-gnu ;;
x86_64) target=x86_64-unknown-linux-gnu ;;
*)
  echo "deploy: ARCHITECTURE=$arch is not one of arm64, x86_64 (the template's Architecture)" >&2
  exit 2
  ;;
esac
if ! command -v rustc >/dev/null; then
  echo "deploy: no rustc on PATH: install Rust (stable) first" >&2
  exit 1
fi
if [ ! -d "$(rustc --print sysroot)/lib/rustlib/$target/lib" ]; then
  cat >&2 <<TEXT
deploy: the architecture $arch needs the Rust target $target, which this toolchain lacks.
        Add it (on a machine with internet):   rustup target add $target
        or deploy for the other architecture:  make deploy ARCHITECTURE=$([ "$arch" = arm64 ] && echo x86_64 || echo arm64)
TEXT
  problems=1
fi

# Nowhere a credential could come from: said before anything is installed.
if [ -z "${AWS_ACCESS_KEY_ID:-}${AWS_PROFILE:-}$profile${AWS_WEB_IDENTITY_TOKEN_FILE:-}" ] \
  && [ -z "${AWS_CONTAINER_CREDENTIALS_RELATIVE_URI:-}${AWS_CONTAINER_CREDENTIALS_FULL_URI:-}" ] \
  && [ ! -e "${AWS_SHARED_CREDENTIALS_FILE:-$HOME/.aws/credentials}" ] \
  && [ ! -e "${AWS_CONFIG_FILE:-$HOME/.aws/config}" ]; then
  cat >&2 <<TEXT
deploy: no AWS credentials found.
        The SAM CLI looks for them where the AWS CLI does: AWS_ACCESS_KEY_ID and
        AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), AWS_PROFILE or --profile with
        ~/.aws/credentials and ~/.aws/config (SSO included), or a container role. (On an EC2
        instance with a role, name it in ~/.aws/config: credential_source = Ec2InstanceMetadata.)
TEXT
  problems=1
fi
[ "$problems" -eq 0 ] || exit 1

bash scripts/bootstrap.sh # .venv: cargo-lambda, zig, and boto3 (for the credentials check)

# Credentials as the SAM CLI (boto3) finds them: environment, profile files, SSO, a role.
if ! who=$(AWS_PROFILE=${profile:-${AWS_PROFILE:-}} .venv/bin/python - "$region" 2>&1 <<'PY'
import os, sys
import boto3
if not os.environ.get("AWS_PROFILE"):
    os.environ.pop("AWS_PROFILE", None)
try:
    session = boto3.Session(region_name=sys.argv[1] or None)
    credentials = session.get_credentials()
    if credentials is None or credentials.get_frozen_credentials().access_key is None:
        sys.exit("no AWS credentials found")
except Exception as e:  # an unknown profile, an expired SSO token, ...
    sys.exit(f"AWS credentials could not be loaded: {e}")
print(f"credentials from {credentials.method}; region {session.region_name or '(sam deploy --guided asks)'}")
PY
); then
  cat >&2 <<TEXT
deploy: $who.
        The SAM CLI looks for them where the AWS CLI does: AWS_ACCESS_KEY_ID and
        AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), AWS_PROFILE or --profile with
        ~/.aws/credentials and ~/.aws/config (SSO included), or an instance or container role.
        Set some up (\`aws configure\`, or \`aws configure sso\` and \`aws sso login\`), then run
        make deploy again.
TEXT
  problems=1
fi
[ "$problems" -eq 0 ] || exit 1
echo "deploy: $arch; $who"

bash scripts/bootstrap.sh --deploy-tools # .venv-sam: the SAM CLI
export SAM_CLI_TELEMETRY=${SAM_CLI_TELEMETRY:-0}
sam=.venv-sam/bin/sam

echo "== sam build ($arch): a release build of the function, several minutes on a first run"
PATH="$PWD/.venv/bin:$PATH" bash scripts/with-heartbeat.sh "sam build" \
  "$sam" build --beta-features --parameter-overrides "Architecture=$arch"

# The parameters saved by an earlier guided run (or the environment's in samconfig.toml), with
# this architecture on top: given on the command line, they would otherwise replace them all.
saved=()
while IFS= read -r line; do saved+=("$line"); done < <(.venv/bin/python - "$config_env" <<'PY'
import sys, tomllib
try:
    with open("samconfig.toml", "rb") as f:
        config = tomllib.load(f)
except FileNotFoundError:
    sys.exit(0)
overrides = config.get(sys.argv[1], {}).get("deploy", {}).get("parameters", {}).get("parameter_overrides", [])
for item in [overrides] if isinstance(overrides, str) else overrides:
    if item:
        print(item)
PY
)

echo "== sam deploy --guided: answer the questions (Enter keeps the default shown)"
exec "$sam" deploy --guided --parameter-overrides ${saved[@]+"${saved[@]}"} "Architecture=$arch" "$@"
