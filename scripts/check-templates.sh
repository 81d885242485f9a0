#!/usr/bin/env bash
# Offline checks of the deployment templates: cfn-lint, sam validate --lint, checkov (zero failed
# checks; every skip carries a justification in the template), a circular-dependency check, and
# sam build producing the bootstrap (x86_64 here: arm64 needs a target this machine cannot fetch).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh --deploy-tools
export SAM_CLI_TELEMETRY=0 AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1
templates=(template.yaml destination.yaml)

echo "== cfn-lint"
.venv-sam/bin/cfn-lint "${templates[@]}"
echo "== sam validate --lint"
for t in "${templates[@]}"; do .venv-sam/bin/sam validate --lint --template "$t"; done
echo "== checkov"
.venv-checkov/bin/checkov --framework cloudformation --compact --quiet --skip-download \
  $(printf -- '-f %s ' "${templates[@]}")
echo "== circular dependencies"
.venv/bin/python scripts/check_template.py "${templates[@]}"
echo "== sam build (x86_64): a release build of the function, several minutes on a first run"
# sam build prints nothing while cargo compiles: a line every 30 s says it is still at work.
PATH="$PWD/.venv/bin:$PATH" bash scripts/with-heartbeat.sh "sam build" .venv-sam/bin/sam build \
  --beta-features --parameter-overrides Architecture=x86_64 --build-dir .aws-sam/build
bootstrap=.aws-sam/build/ReplicatorFunction/bootstrap
test -x "$bootstrap" || { echo "sam build produced no $bootstrap" >&2; exit 1; }
file "$bootstrap" 2>/dev/null || ls -l "$bootstrap"
