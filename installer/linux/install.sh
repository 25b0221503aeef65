#!/usr/bin/env bash
# Install PiggyDesk for the current user (no root needed).
#
#   ./install.sh              copy this folder to ~/.local/opt/PiggyDesk and add the menu entry
#   ./install.sh --in-place   keep the app where it is; only add the menu entry and icons
#
# Adds: the desktop entry (~/.local/share/applications/piggydesk.desktop), the icon in each
# size (~/.local/share/icons/hicolor/NxN/apps/piggydesk.png), and the commands `piggydesk` and
# `piggydesk-cli` in ~/.local/bin. ./uninstall.sh removes all of it again.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
data_home="${XDG_DATA_HOME:-$HOME/.local/share}"
app_dir="${PIGGYDESK_INSTALL_DIR:-$HOME/.local/opt/PiggyDesk}"
bin_dir="$HOME/.local/bin"
in_place=0

for arg in "$@"; do
  case "$arg" in
    --in-place) in_place=1 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option '$arg' (try --help)" >&2; exit 2 ;;
  esac
done

if [ ! -x "$here/PiggyDesk" ]; then
  echo "install.sh: run me from the unpacked PiggyDesk folder (PiggyDesk is missing here)." >&2
  exit 1
fi

if [ "$in_place" -eq 1 ]; then
  app_dir="$here"
elif [ "$here" != "$app_dir" ]; then
  echo "Copying PiggyDesk to $app_dir ..."
  rm -rf "$app_dir.new"
  mkdir -p "$(dirname "$app_dir")"
  cp -a "$here" "$app_dir.new"
  rm -rf "$app_dir"
  mv "$app_dir.new" "$app_dir"
fi

resources="$app_dir/_internal/resources"

for size in 16 24 32 48 64 128 256 512; do
  icon_dir="$data_home/icons/hicolor/${size}x${size}/apps"
  mkdir -p "$icon_dir"
  cp "$resources/icons/piggydesk-$size.png" "$icon_dir/piggydesk.png"
done

mkdir -p "$data_home/applications"
desktop="$data_home/applications/piggydesk.desktop"
# Exec needs the absolute path (quoted for spaces); the desktop file spec escapes quotes.
sed -e "s|^Exec=.*|Exec=\"$app_dir/PiggyDesk\" %F|" \
    -e "s|^Icon=.*|Icon=piggydesk|" \
    "$resources/linux/piggydesk.desktop" > "$desktop"
chmod 644 "$desktop"

mkdir -p "$bin_dir"
ln -sf "$app_dir/PiggyDesk" "$bin_dir/piggydesk"
ln -sf "$app_dir/piggydesk-cli" "$bin_dir/piggydesk-cli"

# Remember what was installed, for uninstall.sh.
printf '%s\n' "$app_dir" > "$data_home/applications/.piggydesk-install-dir"
if [ "$in_place" -eq 1 ]; then
  printf 'in-place\n' >> "$data_home/applications/.piggydesk-install-dir"
fi

command -v update-desktop-database >/dev/null 2>&1 \
  && update-desktop-database -q "$data_home/applications" || true
command -v gtk-update-icon-cache >/dev/null 2>&1 \
  && gtk-update-icon-cache -q -t "$data_home/icons/hicolor" || true

echo "PiggyDesk is installed: find it in your applications menu, or run 'piggydesk'."
case ":$PATH:" in
  *":$bin_dir:"*) ;;
  *) echo "(Add $bin_dir to your PATH to start it from a terminal.)" ;;
esac
