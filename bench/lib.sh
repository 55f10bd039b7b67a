# bench/lib.sh: what the shell benchmarks share (sourced, not run).
# spawn_sleepers N: start N `sleep 3600` processes; their pids go in the
# array `sleeper_pids`, and an EXIT trap kills exactly those (by pid, never
# by name) and removes $work when set.
sleeper_pids=()
bench_cleanup() {
  if [ ${#sleeper_pids[@]} -gt 0 ]; then kill "${sleeper_pids[@]}" 2>/dev/null || true; fi
  wait 2>/dev/null || true
  if [ -n "${work:-}" ]; then rm -rf "$work"; fi
}
trap bench_cleanup EXIT

spawn_sleepers() {
  echo "starting $1 sleeping processes..."
  for ((i = 0; i < $1; i++)); do
    sleep 3600 &
    sleeper_pids+=($!)
  done
  sleep 1
}
