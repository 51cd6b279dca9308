#!/usr/bin/env bash
# Checks that every C++ file in the repository is laid out as the root .clang-format says (the
# formatter decides layout, not the author). Ends with "format: N passed, N failed".
# Usage: scripts/check-format.sh [--fix]   (--fix rewrites the files in place)
set -uo pipefail
cd "$(dirname "$0")/.."
# One version everywhere: another clang-format may lay out the same file differently.
CLANG_FORMAT="${CLANG_FORMAT:-clang-format-14}"
command -v "$CLANG_FORMAT" >/dev/null || { echo "format: $CLANG_FORMAT not found (run scripts/setup.sh)"; echo "format: 0 passed, 1 failed"; exit 1; }
mapfile -t files < <(git ls-files '*.cpp' '*.h')
if [ "${1:-}" = --fix ]; then
  "$CLANG_FORMAT" -i "${files[@]}"
  exit 0
fi
passed=0
failed=0
for f in "${files[@]}"; do
  if "$CLANG_FORMAT" --dry-run -Werror "$f" >/dev/null 2>&1; then
    passed=$((passed + 1))
  else
    echo "format: $f differs from .clang-format (scripts/check-format.sh --fix rewrites it)"
    failed=$((failed + 1))
  fi
done
echo "format: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
