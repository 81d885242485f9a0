#!/usr/bin/env bash
# Offline checks of the deployment templates: cfn-lint, sam validate --lint, checkov (zero failed
# checks; every skip carries a justification in the template), a circular-dependency check (and no
# parameter that could put a wildcard where a policy names a resource or principal), and
# sam build producing the bootstrap (x86_64 here: arm64 needs a target this machine cannot fetch).
# Each check closes with its time.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh --deploy-tools
export SAM_CLI_TELEMETRY=0 AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1
templates=(template.yaml destination.yaml)

duration() { printf '%d m %02d s' $(($1 / 60)) $(($1 % 60)); }
start=$SECONDS
done_in() { echo "   ($(duration $((SECONDS - start))))"; start=$SECONDS; }

echo "== cfn-lint"
.venv-sam/bin/cfn-lint "${templates[@]}"
done_in
echo "== sam validate --lint"
for t in "${templates[@]}"; do .venv-sam/bin/sam validate --lint --template "$t"; done
done_in
echo "== checkov"
.venv-checkov/bin/checkov --framework cloudformation --compact --quiet --skip-download \
  $(printf -- '-f %s ' "${templates[@]}")
done_in
echo "== circular dependencies, wildcards where a name belongs"
.venv/bin/python scripts/check_template.py "${templates[@]}"
done_in

# sam build through the template's own build metadata (BuildMethod rust-cargolambda: cargo-lambda
# and zig building and linking the bootstrap for the Lambda target), in SAM's debug mode by
# default: `cargo lambda build` without --release. The release profile (opt-level "s", fat LTO,
# one codegen unit) changes how long rustc optimises, over 5 minutes on 2 cores, not whether the
# template builds. The deployed binary stays the size-optimised one: this build goes under target/,
# never into .aws-sam/build, which `sam deploy` reads and only `sam build` / `make deploy` (release,
# no SAM_BUILD_MODE) write. TEMPLATES_BUILD=release checks the release build as deployed.
mode=${TEMPLATES_BUILD:-debug}
case "$mode" in
debug) export SAM_BUILD_MODE=debug ;;
release) unset SAM_BUILD_MODE ;;
*) echo "TEMPLATES_BUILD must be debug or release, not $mode" >&2 && exit 2 ;;
esac
out=target/sam-check/$mode
# A cargo target directory of its own: `make test` runs these checks while the tests run, and
# cargo's lock on target/debug (where a --target build puts its build scripts) would hold them.
export CARGO_TARGET_DIR=$PWD/$out/cargo
echo "== sam build (x86_64, $mode): the function built as the template says, a few minutes on a first run"
# sam build prints nothing while cargo compiles: a line every 30 s says it is still at work.
PATH="$PWD/.venv/bin:$PATH" bash scripts/with-heartbeat.sh "sam build" .venv-sam/bin/sam build \
  --beta-features --parameter-overrides Architecture=x86_64 --build-dir "$out/build" --cache-dir "$out/cache"
bootstrap=$out/build/ReplicatorFunction/bootstrap
test -x "$bootstrap" || { echo "sam build produced no $bootstrap" >&2; exit 1; }
file "$bootstrap" 2>/dev/null || ls -l "$bootstrap"
done_in
