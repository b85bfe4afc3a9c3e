#!/usr/bin/env bash
# Installs the browser the browser tests drive: Debian's chromium at /usr/bin/chromium,
# plus CJK fonts so Chinese text renders in screenshots. Idempotent: does nothing when both are present.
set -euo pipefail

CHROMIUM=/usr/bin/chromium
PACKAGES=(chromium fonts-noto-cjk)

fonts_present() {
    # Noto CJK (or any CJK font) already there; without fontconfig/dpkg, assume not.
    dpkg-query -W -f='${Status}' fonts-noto-cjk 2>/dev/null | grep -q 'install ok installed' \
        || { command -v fc-list >/dev/null 2>&1 && fc-list :lang=zh family | grep -q .; }
}

if [ -x "$CHROMIUM" ] && fonts_present; then
    echo "install-browser: $CHROMIUM and CJK fonts already present ($("$CHROMIUM" --version 2>/dev/null || echo 'version unknown')); nothing to do"
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
    echo "install-browser: not root, using sudo"
else
    echo "install-browser: ERROR: $CHROMIUM or its CJK fonts are missing and installing them needs root." >&2
    echo "  Run as root (or install sudo), or install by hand:" >&2
    echo "  apt-get update && apt-get install -y --no-install-recommends ${PACKAGES[*]}" >&2
    exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-browser: ERROR: apt-get not found; this script supports Debian/Ubuntu only." >&2
    echo "  Install Chromium so that it is at $CHROMIUM, plus a CJK font (Noto CJK)." >&2
    exit 1
fi

if [ -x "$CHROMIUM" ]; then echo "install-browser: CJK fonts missing; running apt-get update"
else echo "install-browser: $CHROMIUM missing; running apt-get update"; fi
"${SUDO[@]}" apt-get update
echo "install-browser: installing ${PACKAGES[*]}"
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${PACKAGES[@]}"

if [ ! -x "$CHROMIUM" ]; then
    echo "install-browser: ERROR: installed ${PACKAGES[*]} but $CHROMIUM is still missing" >&2
    exit 1
fi
echo "install-browser: installed $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
