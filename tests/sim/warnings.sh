#!/bin/sh
# warnings.sh VSS_SIM DIR - every DIR/*.ini starts with "; warn: TEXT":
# vss-sim --check must accept the file (exit 0) and print a warning that
# contains FILE:TEXT (TEXT starts with the line number).
exec sh "$(dirname "$0")/bad_scenarios.sh" --warn "$@"
