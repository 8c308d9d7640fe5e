#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# viaduct-check and `viaduct --syntax-only` from the command line: exit status, diagnostics on
# stderr, -A defines. Arguments: VIADUCT_CHECK VIADUCT DATA_DIR.
set -u
check=$1 viaduct=$2 data=$3
fails=0
expect() {  # expect STATUS STDERR_SUBSTRING -- command...
  local want=$1 text=$2
  shift 3
  local err rc
  err=$("$@" 2>&1 >/dev/null)
  rc=$?
  if [[ $rc -ne $want || $err != *"$text"* ]]; then
    echo "FAIL: $* -> status $rc (want $want), stderr:"
    echo "$err"
    echo "(expected to contain: $text)"
    fails=$((fails + 1))
  else
    echo "ok: $*"
  fi
}
mods=$data/check/unsupported-modules.cfg
bad=$data/check/syntax-error.cfg
corpus=$data/corpus/kamailio-default.cfg

# --syntax-only accepts modules viaduct does not implement; the full check does not.
expect 0 "syntax accepted" -- "$check" -f "$mods" --syntax-only
expect 0 "syntax accepted" -- "$check" -f "$mods" --syntax-only -A WITH_RELAY
expect 1 "module 'usrloc' is not implemented by viaduct" -- "$check" -f "$mods"
expect 0 "syntax accepted" -- "$viaduct" -f "$mods" --syntax-only
# Syntax errors: file:line:col on stderr, status 1.
expect 1 "syntax-error.cfg:2:11: error: expected ')', found '{'" -- "$check" -f "$bad" --syntax-only
expect 1 "syntax-error.cfg:2:11: error: expected ')', found '{'" -- "$viaduct" -f "$bad" --syntax-only
expect 1 "cannot open" -- "$check" -f "$data/check/no-such-file.cfg" --syntax-only
# -A NAME=VALUE reaches the preprocessor (#!trydef DBURL then keeps the command line's value).
expect 0 "syntax accepted" -- "$check" -f "$corpus" --syntax-only -A WITH_MYSQL -A WITH_AUTH \
  -A 'DBURL="mysql://u@h/db"'
expect 1 "414:31: error: expected a string or integer value, found 'x'" -- \
  "$check" -f "$corpus" --syntax-only -A WITH_MYSQL -A WITH_AUTH -A DBURL=x
# Usage errors: status 2.
expect 2 "" -- "$check" --syntax-only
exit $((fails != 0))
