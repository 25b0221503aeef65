#!/usr/bin/env bash
# Make PiggyDesk-<version>.dmg from the PyInstaller bundle (macOS only: uses hdiutil).
#
#   installer/macos/make_dmg.sh dist/PiggyDesk.app 0.1.0 dist
#
# The disk image holds PiggyDesk.app and a link to /Applications, so installing is a drag.
# Signing and notarising (optional): set PIGGYDESK_CODESIGN_IDENTITY before building the app
# (the spec passes it to PyInstaller) and notarise the .dmg afterwards with `xcrun notarytool`.
set -euo pipefail

app="${1:?usage: make_dmg.sh PATH/TO/PiggyDesk.app VERSION [OUT_DIR]}"
version="${2:?usage: make_dmg.sh PATH/TO/PiggyDesk.app VERSION [OUT_DIR]}"
out_dir="${3:-$(dirname "$app")}"
volume="PiggyDesk $version"
dmg="$out_dir/PiggyDesk-$version.dmg"

if ! command -v hdiutil >/dev/null 2>&1; then
  echo "make_dmg.sh: hdiutil not found: .dmg files can only be made on macOS." >&2
  exit 1
fi
if [ ! -d "$app/Contents/MacOS" ]; then
  echo "make_dmg.sh: $app is not an app bundle (build it with installer/build.py first)." >&2
  exit 1
fi

staging="$(mktemp -d)"
trap 'rm -rf "$staging"' EXIT
cp -R "$app" "$staging/"
ln -s /Applications "$staging/Applications"

rm -f "$dmg"
hdiutil create -volname "$volume" -srcfolder "$staging" -ov -format UDZO \
  -fs HFS+ -imagekey zlib-level=9 "$dmg"
hdiutil verify "$dmg"
echo "made $dmg"
