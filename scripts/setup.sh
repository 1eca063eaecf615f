#!/usr/bin/env bash
# Installs chaosctl's real components, skipping whatever is already there:
#   etcd + etcdctl + Prometheus (Debian packages), Toxiproxy and Jaeger v2
#   (Go, pinned, into .tools/bin), and the Python venv .venv with test extras
#   (only from the hash-locked requirements/*.txt: see scripts/install-venv.sh).
# Idempotent. Says which component could not be had, and why; exits non-zero then.
set -u
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BIN="$ROOT/.tools/bin"
mkdir -p "$BIN"
failed=()

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

apt_pkgs=()
command -v etcd >/dev/null 2>&1 || apt_pkgs+=(etcd-server)
command -v etcdctl >/dev/null 2>&1 || apt_pkgs+=(etcd-client)
command -v prometheus >/dev/null 2>&1 || apt_pkgs+=(prometheus)
# Headless Chromium: the report tests open report.html in it and check the screenshot.
command -v chromium >/dev/null 2>&1 || apt_pkgs+=(chromium)
if [ ${#apt_pkgs[@]} -gt 0 ]; then
  say "installing Debian packages: ${apt_pkgs[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  if ! { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${apt_pkgs[@]}" >/dev/null; }; then
    failed+=("apt packages ${apt_pkgs[*]}: apt-get install failed")
  fi
else
  say "etcd, etcdctl, prometheus: already installed"
fi

TOXI_VERSION=v2.12.0
if [ -x "$BIN/toxiproxy-server" ] && "$BIN/toxiproxy-server" --version 2>&1 | grep -q "${TOXI_VERSION#v}"; then
  say "toxiproxy $TOXI_VERSION: already built"
else
  say "building toxiproxy $TOXI_VERSION (go install)"
  tmp=$(mktemp -d)
  if GOBIN="$tmp" go install -ldflags "-X github.com/Shopify/toxiproxy/v2.Version=${TOXI_VERSION#v}" "github.com/Shopify/toxiproxy/v2/cmd/server@$TOXI_VERSION" "github.com/Shopify/toxiproxy/v2/cmd/cli@$TOXI_VERSION"; then
    mv "$tmp/server" "$BIN/toxiproxy-server" && mv "$tmp/cli" "$BIN/toxiproxy-cli"
  else
    failed+=("toxiproxy: go install github.com/Shopify/toxiproxy/v2/cmd/server@$TOXI_VERSION failed")
  fi
  rm -rf "$tmp"
fi

# Jaeger v2, built from the pinned tools module (tools/jaeger/go.mod); see that file for why.
JAEGER_VERSION=v2.13.0  # Go module tag v1.76.0, pinned in tools/jaeger/go.mod
if [ -x "$BIN/jaeger" ] && "$BIN/jaeger" version 2>/dev/null | grep -q "\"$JAEGER_VERSION\""; then
  say "jaeger $JAEGER_VERSION: already built"
else
  say "building jaeger $JAEGER_VERSION from tools/jaeger (first build takes several minutes)"
  if ! (cd tools/jaeger && go build -ldflags "-X github.com/jaegertracing/jaeger/internal/version.latestVersion=$JAEGER_VERSION" \
        -o "$BIN/jaeger" github.com/jaegertracing/jaeger/cmd/jaeger); then
    failed+=("jaeger: go build in tools/jaeger failed")
  fi
fi

# Python packages only from the hash-locked requirements (scripts/install-venv.sh says how);
# re-done whenever pyproject.toml or a lock file is newer than the last good install.
venv_fresh() {
  [ -x .venv/bin/chaosctl ] && [ -f .venv/.stamp ] || return 1
  for f in pyproject.toml requirements/lock.txt requirements/bootstrap.txt; do
    [ .venv/.stamp -nt "$f" ] || return 1
  done
}
if venv_fresh; then
  say "python venv: up to date"
else
  say "installing the python venv .venv from requirements/lock.txt (--require-hashes)"
  if bash scripts/install-venv.sh .venv; then
    touch .venv/.stamp
  else
    failed+=("python venv: scripts/install-venv.sh .venv failed (pip install --require-hashes -r requirements/lock.txt)")
  fi
fi

if [ ${#failed[@]} -gt 0 ]; then
  for f in "${failed[@]}"; do say "MISSING: $f"; done
  say "run '.venv/bin/chaosctl doctor' for what is found and how to get the rest"
  exit 1
fi
say "all components installed"
