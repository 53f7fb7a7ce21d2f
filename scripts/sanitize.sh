#!/usr/bin/env bash
# npm run test:sanitize: the native addon under AddressSanitizer + UndefinedBehaviorSanitizer,
# valgrind memcheck and libFuzzer. Three stages, each on a fresh build from native/ made in a
# scratch directory, so build/Release (which every other test loads) is never touched:
#
#   asan      the addon's Debug configuration (binding.gyp: -fsanitize=address,undefined) and
#             the core test suite against it. node-gyp-build reads
#             TOTP_HANDSHAKE_PREBUILD as the package root to load from, which points the loader at
#             the scratch build for this run only; libasan is preloaded into node (uninstrumented
#             itself), leak checks are off (Node does not free everything at exit; valgrind
#             checks leaks instead), and the first report stops the process and fails the stage.
#   valgrind  memcheck on scripts/valgrind/native-heavy.mjs against a Release build with debug
#             info: 0 errors and 0 bytes definitely (or possibly) lost, with only Node's own noise
#             suppressed (scripts/valgrind/node.supp); then a control run that memcheck must flag
#             inside the addon, proving its code is instrumented and nothing of it suppressed.
#   fuzz      native/test/fuzz_totp.cc (the codes, against OpenSSL) and fuzz_arena.cc (the key
#             arena and base32 decoder, against models) with clang's libFuzzer, ASan and UBSan:
#             each target's saved regressions first, then FUZZ_SECONDS (default 120) of fuzzing
#             shared between them, then the line coverage of native/ that the corpora reach.
#
# Usage: bash scripts/sanitize.sh [asan] [valgrind] [fuzz]   (no argument: all three)
# Env:   FUZZ_SECONDS (120), VALGRIND_SCALE (1: workload of native-heavy.mjs), KEEP_SCRATCH=1.
# Needs: g++ with libasan/libubsan, valgrind, clang++ with libFuzzer, llvm-cov, libssl-dev (the
#        fuzzer's reference HMAC). Debian 12:
#        apt-get install -y --no-install-recommends clang libclang-rt-14-dev llvm valgrind libssl-dev
# Run it through npm (npm run test:sanitize) so node-gyp gets npm's nodedir; dist/ must be built.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
stages=("$@")
[ ${#stages[@]} -eq 0 ] && stages=(asan valgrind fuzz)
fuzz_seconds=${FUZZ_SECONDS:-120}
valgrind_scale=${VALGRIND_SCALE:-1}

scratch=$(mktemp -d "${TMPDIR:-/tmp}/totp-sanitize.XXXXXX")
ok=0
cleanup() {
  if [ "$ok" = 1 ] && [ "${KEEP_SCRATCH:-0}" != 1 ]; then rm -rf "$scratch"; else echo "sanitize: logs and builds kept in $scratch" >&2; fi
}
trap cleanup EXIT

die() {
  echo "sanitize: $*" >&2
  exit 1
}
want() { [[ " ${stages[*]} " == *" $1 "* ]]; }

node_gyp=${npm_config_node_gyp:-$(dirname "$(dirname "$(command -v npm)")")/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js}
export npm_config_nodedir=${npm_config_nodedir:-$(dirname "$(dirname "$(command -v node)")")}
[ -f "$node_gyp" ] || die "node-gyp not found at $node_gyp; run through npm run test:sanitize"
[ -f dist/engine/native.js ] || die "dist/ is not built; run npm run build first"

# A scratch copy of what node-gyp needs, built in the given configuration.
build_addon() { # dir, node-gyp flags...
  local dir=$1
  shift
  mkdir -p "$dir"
  cp -r binding.gyp package.json native "$dir/"
  ln -s "$root/node_modules" "$dir/node_modules"
  (cd "$dir" && node "$node_gyp" configure build "$@" >"$dir/build.log" 2>&1) || {
    cat "$dir/build.log" >&2
    die "the addon did not build in $dir"
  }
}

declare -a summary
elapsed() { printf '%d s' "$(($(date +%s) - $1))"; }

# ---- AddressSanitizer + UBSan: the core suite against the Debug build ---------------------------
if want asan; then
  started=$(date +%s)
  libasan=$(g++ -print-file-name=libasan.so)
  [ -f "$libasan" ] || die "libasan not found (g++ -print-file-name=libasan.so)"
  echo "== asan: building the Debug configuration (-fsanitize=address,undefined)"
  build_addon "$scratch/asan" --debug
  addon="$scratch/asan/build/Debug/totp_handshake.node"
  # The build must carry both sanitizers' instrumentation, or the run proves nothing.
  asan_hooks=$(nm -D "$addon" | grep -c '__asan_report_' || true)
  ubsan_hooks=$(nm -D "$addon" | grep -c '__ubsan_handle_' || true)
  [ "$asan_hooks" -gt 0 ] && [ "$ubsan_hooks" -gt 0 ] || die "$addon lacks sanitizer instrumentation"

  export LD_PRELOAD=$libasan
  export ASAN_OPTIONS=detect_leaks=0:halt_on_error=1:detect_stack_use_after_return=1:strict_string_checks=1
  export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
  export TOTP_HANDSHAKE_PREBUILD="$scratch/asan" TOTP_HANDSHAKE_BACKEND=native
  # Which addon the package loads under this environment: the sanitized one, or stop.
  node -e '
    const { engineInfo } = require("./dist/index.js");
    const maps = require("fs").readFileSync("/proc/self/maps", "utf8");
    if (engineInfo.backend !== "native" || !maps.includes(process.argv[1]) || !maps.includes("libasan"))
      { console.error("sanitize: the sanitized addon is not the one loaded", engineInfo); process.exit(1); }
    console.log(`asan: loaded ${process.argv[1]} (${engineInfo.cpu.sha1} cores)`);' "$addon"
  echo "asan: $asan_hooks ASan and $ubsan_hooks UBSan hooks in the addon"
  suite=(test/vectors.test.ts test/equivalence.test.ts test/bad-input.test.ts test/base32.test.ts test/uri.test.ts
    test/key.test.ts test/once.test.ts test/fuzz-core.test.ts test/native-boundary.test.ts)
  status=0
  node node_modules/vitest/vitest.mjs run "${suite[@]}" 2>&1 | tee "$scratch/asan/vitest.log" || status=$?
  unset LD_PRELOAD ASAN_OPTIONS UBSAN_OPTIONS TOTP_HANDSHAKE_PREBUILD TOTP_HANDSHAKE_BACKEND
  # A report kills the worker that hit it; vitest passes the worker's stderr through to the log.
  reports=$(grep -cE 'runtime error:|ERROR: AddressSanitizer|SUMMARY: (Address|UndefinedBehavior)Sanitizer' "$scratch/asan/vitest.log" || true)
  [ "$reports" = 0 ] || die "asan: $reports sanitizer report line(s) in $scratch/asan/vitest.log"
  [ "$status" = 0 ] || die "asan: the core suite failed under the sanitized addon"
  tests=$(sed 's/\x1b\[[0-9;]*m//g' "$scratch/asan/vitest.log" | grep -E '^ +Tests ' | sed 's/^ *Tests *//')
  summary+=("asan      core suite on the ASan+UBSan addon: $tests; 0 sanitizer reports ($(elapsed "$started"))")
fi

# ---- valgrind memcheck ------------------------------------------------------------------------
if want valgrind; then
  started=$(date +%s)
  command -v valgrind >/dev/null || die "valgrind is not installed"
  echo "== valgrind: building the Release configuration with debug info"
  CXXFLAGS=-g build_addon "$scratch/release"
  memcheck=(valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite,possible
    --errors-for-leak-kinds=definite,possible --num-callers=30 --suppressions="$root/scripts/valgrind/node.supp" -v)
  export TOTP_HANDSHAKE_PREBUILD="$scratch/release" TOTP_HANDSHAKE_BACKEND=native

  echo "valgrind: memcheck on scripts/valgrind/native-heavy.mjs (scale $valgrind_scale)"
  "${memcheck[@]}" --log-file="$scratch/valgrind.log" node --expose-gc scripts/valgrind/native-heavy.mjs "$valgrind_scale" |
    tee "$scratch/native-heavy.out" || die "valgrind: native-heavy.mjs failed (see $scratch/valgrind.log)"
  errors=$(grep -oP 'ERROR SUMMARY: \K[0-9]+' "$scratch/valgrind.log" | tail -1)
  definite=$(grep -oP 'definitely lost: \K[0-9,]+' "$scratch/valgrind.log" | tail -1 | tr -d ,)
  possible=$(grep -oP 'possibly lost: \K[0-9,]+' "$scratch/valgrind.log" | tail -1 | tr -d ,)
  grep -q "Reading syms from $scratch/release/build/Release/totp_handshake.node" "$scratch/valgrind.log" ||
    die "valgrind: the scratch Release addon was not the one loaded"
  used=$(grep -oP '^--\d+-- used_suppression: +\K[0-9]+ [^ ]+' "$scratch/valgrind.log" | sed 's/ /x /' | paste -sd ',' - | sed 's/,/, /g')
  echo "valgrind: ${errors} errors, ${definite:-0} bytes definitely lost, ${possible:-0} possibly lost; suppressed: ${used:-none}"
  if [ "$errors" != 0 ] || [ "${definite:-0}" != 0 ] || [ "${possible:-0}" != 0 ]; then
    grep -A30 -E '== (Invalid|Conditional|Use of|Syscall|Mismatched|Source and|.*are (definitely|possibly) lost)' "$scratch/valgrind.log" >&2 || true
    die "valgrind: memcheck found errors or leaks (see $scratch/valgrind.log)"
  fi

  echo "valgrind: control (a secret of uninitialised bytes) must be reported inside the addon"
  "${memcheck[@]}" --log-file="$scratch/valgrind-control.log" node scripts/valgrind/control.mjs
  control_errors=$(grep -oP 'ERROR SUMMARY: \K[0-9]+' "$scratch/valgrind-control.log" | tail -1)
  # A frame in the addon: file:line from its debug info (native/*.cc), or the module's name.
  in_addon='^==[0-9]+== +at 0x[0-9A-F]+: .*(\((addon|hmac_totp|cpu_dispatch|sha_[a-z0-9]+)\.cc:[0-9]+\)|totp_handshake\.node)'
  frame=$(grep -m1 -E "$in_addon" "$scratch/valgrind-control.log" | sed -E 's/^==[0-9]+== +at 0x[0-9A-F]+: //') ||
    die "valgrind: the control was not reported inside the addon; memcheck does not see its code"
  echo "valgrind: control reported: ${control_errors} errors, the first at ${frame}"
  unset TOTP_HANDSHAKE_PREBUILD TOTP_HANDSHAKE_BACKEND
  calls=$(grep -oP 'native-heavy: \K[0-9]+ native calls' "$scratch/native-heavy.out")
  summary+=("valgrind  native-heavy.mjs ($calls): $errors errors, ${definite:-0} B definitely and ${possible:-0} B possibly lost; control flagged at $frame ($(elapsed "$started"))")
fi

# ---- libFuzzer ----------------------------------------------------------------------------------
if want fuzz; then
  started=$(date +%s)
  command -v clang++ >/dev/null || die "clang++ is not installed (apt-get install -y clang libclang-rt-14-dev llvm)"
  llvm_cov=$(command -v llvm-cov || command -v llvm-cov-14) || die "llvm-cov is not installed (apt-get install -y llvm)"
  llvm_profdata=$(command -v llvm-profdata || command -v llvm-profdata-14) || die "llvm-profdata is not installed (apt-get install -y llvm)"
  # Two targets: fuzz_totp (the HMAC/HOTP/TOTP computations against OpenSSL) and fuzz_arena (the
  # key arena and the base32 decoder against models); each replays its saved regressions, then
  # gets half of FUZZ_SECONDS.
  core_sources=(native/base32.cc native/key_arena.cc native/hmac_totp.cc native/cpu_dispatch.cc native/sha_portable.cc
    native/sha_x86.cc native/sha_arm.cc)
  targets=(totp arena)
  per_target=$((fuzz_seconds / ${#targets[@]}))
  fuzz_summary=()
  for target in "${targets[@]}"; do
    echo "== fuzz: building native/test/fuzz_${target}.cc (libFuzzer, ASan, UBSan)"
    clang++ -std=c++17 -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
      -Wall -Wextra -Werror "native/test/fuzz_${target}.cc" "${core_sources[@]}" -lcrypto -o "$scratch/fuzz_${target}" \
      2>"$scratch/fuzz-build.log" || {
      cat "$scratch/fuzz-build.log" >&2
      die "fuzz: the ${target} target did not build (needs clang, libclang-rt-14-dev and libssl-dev)"
    }
    echo "fuzz: replaying native/test/fuzz_regressions/${target}/"
    "$scratch/fuzz_${target}" "native/test/fuzz_regressions/${target}"/* >"$scratch/fuzz-${target}-regressions.log" 2>&1 || {
      cat "$scratch/fuzz-${target}-regressions.log" >&2
      die "fuzz: a saved ${target} regression fails again"
    }
    regressions=$(grep -c '^Executed ' "$scratch/fuzz-${target}-regressions.log")
    mkdir -p "$scratch/corpus-${target}"
    echo "fuzz: ${per_target} s of fuzzing ${target}"
    max_len=300  # fuzz_totp: a 16-byte header and secrets up to 284 bytes, past every block size
    [ "$target" = arena ] && max_len=3000  # fuzz_arena: sequences of operations, long text
    "$scratch/fuzz_${target}" -max_total_time="$per_target" -max_len="$max_len" -use_value_profile=1 -print_final_stats=1 \
      -artifact_prefix="$scratch/${target}-" "$scratch/corpus-${target}" >"$scratch/fuzz-${target}.log" 2>&1 || {
      tail -40 "$scratch/fuzz-${target}.log" >&2
      die "fuzz: a failing input was found; reproduce with: $scratch/fuzz_${target} $scratch/${target}-crash-*"
    }
    runs=$(grep -oP 'stat::number_of_executed_units: *\K[0-9]+' "$scratch/fuzz-${target}.log")
    rate=$(grep -oP 'stat::average_exec_per_sec: *\K[0-9]+' "$scratch/fuzz-${target}.log")
    corpus=$(find "$scratch/corpus-${target}" -type f | wc -l)
    seed=$(grep -oP 'INFO: Seed: \K[0-9]+' "$scratch/fuzz-${target}.log")
    cov=$(grep -oP 'cov: \K[0-9]+' "$scratch/fuzz-${target}.log" | tail -1)
    echo "fuzz: ${target}: $regressions regressions, $runs executions ($rate/s), $corpus corpus inputs, $cov coverage points, seed $seed, 0 failures"
    fuzz_summary+=("${target}: $regressions regressions replayed, $runs executions in ${per_target} s ($rate/s), seed $seed")

    # What the corpus reaches, for the line coverage below.
    clang++ -std=c++17 -O1 -fsanitize=fuzzer -fprofile-instr-generate -fcoverage-mapping "native/test/fuzz_${target}.cc" \
      "${core_sources[@]}" -lcrypto -o "$scratch/coverage_${target}" 2>>"$scratch/fuzz-build.log"
    LLVM_PROFILE_FILE="$scratch/coverage-${target}.profraw" "$scratch/coverage_${target}" -runs=0 "$scratch/corpus-${target}" \
      "native/test/fuzz_regressions/${target}" >"$scratch/fuzz-${target}-coverage.log" 2>&1
  done

  # Line coverage of native/ by both corpora (addon.cc, the Node-API layer, is outside libFuzzer's
  # reach; the asan and valgrind stages drive it).
  echo "fuzz: line coverage of native/ by the corpora"
  "$llvm_profdata" merge -sparse "$scratch"/coverage-*.profraw -o "$scratch/coverage.profdata"
  "$llvm_cov" report "$scratch/coverage_totp" -object "$scratch/coverage_arena" -instr-profile="$scratch/coverage.profdata" \
    native/base32.cc native/key_arena.cc native/hmac_totp.cc native/sha_portable.cc native/sha_x86.cc native/cpu_dispatch.cc \
    >"$scratch/coverage.txt" 2>"$scratch/coverage-warnings.log"  # both targets define LLVMFuzzerTestOneInput
  # Columns: file, regions, missed, cover, functions, missed, executed, lines, missed, cover, ...
  awk '/\.cc|^TOTAL/ { printf "  %-16s lines %5s missed %3s  %s\n", $1, $8, $9, $10 }' "$scratch/coverage.txt"
  lines=$(awk '/^TOTAL/ { print $10 }' "$scratch/coverage.txt")
  summary+=("fuzz      $(printf '%s; ' "${fuzz_summary[@]}")0 failures; the corpora cover $lines of native/ lines ($(elapsed "$started"))")
fi

ok=1
echo
echo "sanitize: all stages passed"
printf '  %s\n' "${summary[@]}"
