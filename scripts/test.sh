#!/usr/bin/env bash
# npm test: setup, build, lint, generated-code check, then every test file under one `node --test`
# run so the runner prints a single summary. Root-only suites skip (with the reason) when not root,
# except under CI=true where they fail: on CI nothing may silently skip.
#   --unit   only the suites that need no privileges (files not named *.root.test.js)
source "$(dirname "$0")/lib.sh"
mode=${1:-all}

bash scripts/build.sh
export WEFT_SKIP_SETUP=1

log "lint (eslint + prettier)"
npm run -s lint || die "lint failed: fix the eslint errors above; for formatting run npm run format"
if grep -q '"gen:check"' api/package.json 2>/dev/null; then
  log "generated code is fresh (gen:check)"
  npm run -s gen:check
fi

if [ "$mode" = --unit ]; then
  pattern='*.test.js'; exclude='*.root.test.js'
else
  pattern='*.test.js'; exclude='__none__'
fi
mapfile -t files < <(find . -path ./node_modules -prune -o -path '*/dist/test/*' -name "$pattern" ! -name "$exclude" -print | sort)
[ ${#files[@]} -gt 0 ] || die "no test files found under */dist/test: did the build run?"
log "running ${#files[@]} test files"
# A hung test fails after 5 minutes instead of eating CI's time limit.
# One file at a time: the root suites build network namespaces and attach BPF programs, and two
# cores are shared with the processes under test.
exec "$NODE" --test --test-concurrency=1 --test-timeout=300000 --test-reporter=spec "${files[@]}"
