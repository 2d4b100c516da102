#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Runs one fuzz target: replays its regression inputs (each must pass),
# then fuzzes for SECONDS from the seeds and the saved corpus.
#   run.sh BUILD_FUZZ_DIR TARGET SECONDS REGRESS_DIR
# TARGET: image, control, savestate, migstream, gdbstub, coalesced, or a device target (fuzz_devices's list).
set -eu
dir=$1 t=$2 secs=$3 regress=$4
case $t in
image) bin=$dir/fuzz_image max_len=262144 ;;
control) bin=$dir/fuzz_control max_len=1100000 ;;
savestate) bin=$dir/fuzz_savestate max_len=65536 ;;
migstream) bin=$dir/fuzz_migstream max_len=65536 ;;
gdbstub) bin=$dir/fuzz_gdbstub max_len=16384 ;;
coalesced) bin=$dir/fuzz_coalesced max_len=4096 ;;
*)
	bin=$dir/fuzz_dev_$t max_len=8192
	ln -sf fuzz_devices "$bin"
	;;
esac
corpus=$dir/corpus/$t seeds=$dir/seeds/$t
mkdir -p "$corpus" "$seeds"
cd "$dir"
if [ -d "$regress/$t" ] && [ -n "$(ls -A "$regress/$t")" ]; then
	# libFuzzer runs plain files given as arguments once each.
	"$bin" -rss_limit_mb=2048 -timeout=20 "$regress/$t"/* </dev/null >"$t-regress.log" 2>&1 || {
		cat "$t-regress.log"
		echo "fuzz $t: a regression input fails again"
		exit 1
	}
fi
exec "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len="$max_len" \
	-print_final_stats=1 -artifact_prefix="$dir/$t-" "$corpus" "$seeds" </dev/null
