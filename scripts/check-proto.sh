#!/usr/bin/env bash
# Fails when proto/ breaks its wire or generated-code contract (buf breaking, FILE rules
# from buf.yaml) against the previous commit. Set PROTO_AGAINST_REF to compare with
# another ref (e.g. origin/main). Skips, saying why, when there is nothing to compare:
# no git, a first commit, a shallow clone, or a ref without proto/.
set -euo pipefail
cd "$(dirname "$0")/.."
REF=${PROTO_AGAINST_REF:-HEAD~1}

skip() { echo "check-proto: skipped: $*"; exit 0; }
command -v git >/dev/null 2>&1 || skip "git is not installed"
git rev-parse --git-dir >/dev/null 2>&1 || skip "not a git checkout"
if ! git rev-parse --verify --quiet "$REF^{commit}" >/dev/null; then
  if [ "$(git rev-parse --is-shallow-repository 2>/dev/null)" = true ]; then
    skip "$REF is not in this shallow clone (fetch more history, e.g. git fetch --deepen=1)"
  fi
  skip "$REF does not exist (first commit?)"
fi
[ -n "$(git ls-tree -d "$REF" proto 2>/dev/null)" ] || skip "$REF has no proto/ directory"

echo "check-proto: buf breaking proto/ against $REF ($(git rev-parse --short "$REF"))"
./node_modules/.bin/buf breaking proto --against ".git#ref=$REF,subdir=proto"
echo "check-proto: no breaking changes"
