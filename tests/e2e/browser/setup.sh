#!/usr/bin/env bash
# Installs what tests/e2e/test_browser_sdk.py needs: Debian's Chromium and, from package-lock.json,
# Segment's browser SDK in node_modules/. Safe to run again: it does only what is missing or out
# of date, quietly, and prints one line saying what it did.
set -euo pipefail
cd "$(dirname "$0")"

done_steps=()

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo -n "$@"; fi
}

apt_install() {
    as_root apt-get update -qq >/dev/null
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# CI as tests/peers.py reads it: set to anything but 0, false or no.
in_ci() {
    local ci="${CI:-}"
    case "${ci,,}" in "" | 0 | false | no) return 1 ;; *) return 0 ;; esac
}

# Without root (or sudo) nothing can be installed. Here the browser tests then skip, saying so;
# under CI they would fail, so the setup fails first, naming what it could not install.
cannot_install() {
    if in_ci; then
        echo "tests/e2e/browser/setup.sh: cannot install $1 (needs root or sudo); CI runs" \
            "the browser tests, so install it or give the job root" >&2
        exit 1
    fi
    echo "browser test setup: cannot install $1 (needs root); the browser tests will skip"
    exit 0
}

if [ ! -x /usr/bin/chromium ]; then
    if apt_install chromium; then
        done_steps+=("installed chromium")
    else
        cannot_install chromium
    fi
fi

if ! command -v npm >/dev/null; then
    if apt_install nodejs npm; then
        done_steps+=("installed nodejs and npm")
    else
        cannot_install "nodejs and npm"
    fi
fi

# node_modules/ is current when it was installed from this very lock file.
stamp=node_modules/.installed-from-lock
lock_sum=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$lock_sum" ]; then
    if ! output=$(npm ci --no-audit --no-fund --loglevel=error 2>&1); then
        echo "$output" >&2
        echo "tests/e2e/browser/setup.sh: npm ci failed (above); it needs the npm registry" >&2
        exit 1
    fi
    echo "$lock_sum" >"$stamp"
    done_steps+=("npm ci (@segment/analytics-next)")
fi

if [ ${#done_steps[@]} -eq 0 ]; then
    echo "browser test setup: chromium and analytics-next already installed"
else
    summary=$(printf '%s, ' "${done_steps[@]}")
    echo "browser test setup: ${summary%, }"
fi
