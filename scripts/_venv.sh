# Shared by scripts/run and scripts/test: create .venv and install the project when needed.
# Quiet unless something fails: one "installing" line, and pip's output only if it fails
# (it is kept in .venv/install.log either way).
ensure_venv() {
  local extra="${1:-}"
  local spec="."
  [ -n "$extra" ] && spec=".[$extra]"
  local stamp=".venv/.installed-${extra:-base}"
  if [ -x .venv/bin/python ] && [ -f "$stamp" ] && [ ! pyproject.toml -nt "$stamp" ]; then
    return 0
  fi
  echo "bananabot: installing into .venv${extra:+ (with the $extra tools)}; the first time takes a minute or so…" >&2
  local output
  if [ ! -x .venv/bin/python ] && ! output=$(python3 -m venv .venv 2>&1); then
    printf '%s\n' "$output" >&2
    echo "bananabot: could not create .venv (above): Python 3.11+ with its venv module is needed" >&2
    return 1
  fi
  local log=".venv/install.log"
  if ! {
    .venv/bin/python -m pip install --upgrade pip && .venv/bin/python -m pip install -e "$spec"
  } >"$log" 2>&1; then
    cat "$log" >&2
    echo "bananabot: installing failed (pip's output above, also in $log)" >&2
    return 1
  fi
  touch "$stamp"
}
