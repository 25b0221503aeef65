#!/usr/bin/env bash
# Remove PiggyDesk for the current user: the menu entry, the icons, the commands in
# ~/.local/bin and the copied app (not a folder installed with --in-place).
#
#   ./uninstall.sh           keep your settings, logs and downloaded models
#   ./uninstall.sh --purge   also delete them
set -euo pipefail

data_home="${XDG_DATA_HOME:-$HOME/.local/share}"
config_home="${XDG_CONFIG_HOME:-$HOME/.config}"
state_home="${XDG_STATE_HOME:-$HOME/.local/state}"
record="$data_home/applications/.piggydesk-install-dir"
purge=0

for arg in "$@"; do
  case "$arg" in
    --purge) purge=1 ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "uninstall.sh: unknown option '$arg' (try --help)" >&2; exit 2 ;;
  esac
done

app_dir="${PIGGYDESK_INSTALL_DIR:-$HOME/.local/opt/PiggyDesk}"
in_place=0
if [ -f "$record" ]; then
  app_dir="$(sed -n 1p "$record")"
  grep -qx 'in-place' "$record" && in_place=1
fi

rm -f "$data_home/applications/piggydesk.desktop" "$record"
for size in 16 24 32 48 64 128 256 512; do
  rm -f "$data_home/icons/hicolor/${size}x${size}/apps/piggydesk.png"
done
for name in piggydesk piggydesk-cli; do
  link="$HOME/.local/bin/$name"
  if [ -L "$link" ]; then rm -f "$link"; fi
done
if [ "$in_place" -eq 0 ] && [ -x "$app_dir/PiggyDesk" ]; then
  rm -rf "$app_dir"
fi
if [ "$purge" -eq 1 ]; then
  # platformdirs' folders for PiggyDesk on Linux: data (models, autosaves), config, logs
  rm -rf "$data_home/PiggyDesk" "$config_home/PiggyDesk" "$state_home/PiggyDesk"
fi

command -v update-desktop-database >/dev/null 2>&1 \
  && update-desktop-database -q "$data_home/applications" || true

echo "PiggyDesk was removed."
if [ "$purge" -eq 0 ]; then
  echo "(Your settings and downloaded models are kept; run with --purge to delete them too.)"
fi
