#!/bin/sh
# check_summary.sh SUMMARY.csv ASSERTION... - asserts figures of a vss-sim
# summary. An assertion is METRIC OP VALUE with OP one of == != <= >= < >
# and no spaces, e.g. device.mobile.held.thumb==200. Every check is
# printed; the exit status is 1 when one fails or names a missing metric.
set -eu
summary=${1:?usage: check_summary.sh SUMMARY.csv ASSERTION...}
shift
awk -F, -v checks="$*" '
  NR > 1 { v[$1] = $2 }
  END {
    n = split(checks, a, " ")
    bad = 0
    for (i = 1; i <= n; i++) {
      if (!match(a[i], /(==|!=|<=|>=|<|>)/)) { print "bad assertion: " a[i]; bad++; continue }
      m = substr(a[i], 1, RSTART - 1); op = substr(a[i], RSTART, RLENGTH)
      want = substr(a[i], RSTART + RLENGTH) + 0
      if (!(m in v)) { printf "FAIL %s: no such metric\n", m; bad++; continue }
      got = v[m] + 0
      ok = (op == "==" && got == want) || (op == "!=" && got != want) ||
           (op == "<=" && got <= want) || (op == ">=" && got >= want) ||
           (op == "<" && got < want) || (op == ">" && got > want)
      printf "%s %s = %s (want %s %s)\n", ok ? "ok  " : "FAIL", m, v[m], op, want
      if (!ok) bad++
    }
    exit bad ? 1 : 0
  }' "$summary"
