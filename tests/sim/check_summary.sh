#!/bin/sh
# check_summary.sh SUMMARY.csv ASSERTION... - asserts figures of a vss-sim
# summary. An assertion is METRIC OP VALUE with OP one of == != <= >= < >
# and no spaces, e.g. device.mobile.held.thumb==200; VALUE may also name
# another metric (a>b), or n/a (the summary's "no data": metric==n/a,
# metric!=n/a). A metric that is n/a fails every numeric comparison.
# Every check is printed; the exit status is 1 when one fails or names a
# missing metric.
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
      rhs = substr(a[i], RSTART + RLENGTH)
      if (!(m in v)) { printf "FAIL %s: no such metric\n", m; bad++; continue }
      if (rhs == "n/a" || v[m] == "n/a") {
        o = op
        ok = (o == "==" && v[m] == rhs) || (o == "!=" && v[m] != rhs && rhs == "n/a")
        printf "%s %s = %s (want %s %s)\n", ok ? "ok  " : "FAIL", m, v[m], op, rhs
        if (!ok) bad++
        continue
      }
      if (rhs ~ /^-?[0-9.]+([eE][-+]?[0-9]+)?$/) want = rhs + 0
      else if (rhs in v && v[rhs] != "n/a") { want = v[rhs] + 0; op = op " " rhs " =" }
      else if (rhs in v) { printf "FAIL %s: %s is n/a\n", a[i], rhs; bad++; continue }
      else { printf "FAIL %s: no such metric\n", rhs; bad++; continue }
      got = v[m] + 0
      o = substr(op, 1, index(op " ", " ") - 1)
      ok = (o == "==" && got == want) || (o == "!=" && got != want) ||
           (o == "<=" && got <= want) || (o == ">=" && got >= want) ||
           (o == "<" && got < want) || (o == ">" && got > want)
      printf "%s %s = %s (want %s %s)\n", ok ? "ok  " : "FAIL", m, v[m], op, want
      if (!ok) bad++
    }
    exit bad ? 1 : 0
  }' "$summary"
