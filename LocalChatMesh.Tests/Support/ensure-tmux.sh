#!/usr/bin/env bash
# Installs tmux from Debian when it is missing: the pseudo-terminal tests (Cli/InteractiveClientTests)
# drive the interactive client through it. Called by the tests themselves (Support/TmuxSession.cs).
set -euo pipefail
if command -v tmux >/dev/null 2>&1; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-tmux: tmux is missing and there is no apt-get to install it" >&2
  exit 1
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo -n"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get install -y tmux >/dev/null 2>&1 || { $sudo apt-get update >/dev/null && $sudo apt-get install -y tmux >/dev/null; }
command -v tmux >/dev/null
