#!/usr/bin/env bash
# The system libraries Qt (PySide6) needs on Linux: one list, used by `make run` and `.ci/run`.
#
#   qt-system-libs.sh packages          print the Debian/Ubuntu packages Qt needs (one line)
#   qt-system-libs.sh check  [PYTHON]   ldd on PySide6's platform plugin (libqxcb.so, or the
#                                       one QT_QPA_PLATFORM names); list what is missing; exit 3
#                                       when something is
#   qt-system-libs.sh ensure [PYTHON]   `make run`: check; when something is missing, install
#                                       it with apt (as root, or with passwordless sudo) and
#                                       check again; otherwise stop with one message naming
#                                       the missing packages and the command that installs them;
#                                       and stop with one message when there is no display
#   qt-system-libs.sh ci                `.ci/run`: install every package below that dpkg does
#                                       not know, plus what the headless tests need (xvfb,
#                                       xauth, fonts)
#
# PYTHON is the interpreter whose PySide6 is checked (default: .venv/bin/python, else python3).
# Exit status: 0 ready; 2 bad usage; 3 libraries missing and not installed.
set -euo pipefail

# Every library Qt's xcb platform plugin loads (`ldd libqxcb.so`) that a minimal Debian or
# Ubuntu lacks, with the package that provides it. The first column is what ldd reports.
SONAME_PACKAGES="
libEGL.so.1 libegl1
libGL.so.1 libgl1
libGLX.so.0 libglx0
libGLdispatch.so.0 libglvnd0
libOpenGL.so.0 libopengl0
libxkbcommon.so.0 libxkbcommon0
libxkbcommon-x11.so.0 libxkbcommon-x11-0
libxcb.so.1 libxcb1
libX11.so.6 libx11-6
libX11-xcb.so.1 libx11-xcb1
libxcb-cursor.so.0 libxcb-cursor0
libxcb-icccm.so.4 libxcb-icccm4
libxcb-image.so.0 libxcb-image0
libxcb-keysyms.so.1 libxcb-keysyms1
libxcb-randr.so.0 libxcb-randr0
libxcb-render.so.0 libxcb-render0
libxcb-render-util.so.0 libxcb-render-util0
libxcb-shape.so.0 libxcb-shape0
libxcb-shm.so.0 libxcb-shm0
libxcb-sync.so.1 libxcb-sync1
libxcb-util.so.1 libxcb-util1
libxcb-xfixes.so.0 libxcb-xfixes0
libxcb-xinerama.so.0 libxcb-xinerama0
libxcb-xkb.so.1 libxcb-xkb1
libxcb-xinput.so.0 libxcb-xinput0
libfontconfig.so.1 libfontconfig1
libfreetype.so.6 libfreetype6
libdbus-1.so.3 libdbus-1-3
libglib-2.0.so.0 libglib2.0-0
libgthread-2.0.so.0 libglib2.0-0
libSM.so.6 libsm6
libICE.so.6 libice6
"
# What the headless test suite needs on top (`.ci/run`): a virtual X server and fonts.
CI_EXTRA_PACKAGES="xvfb xauth fonts-dejavu-core"

me="qt-system-libs.sh"

packages() {  # the unique package names of the table, in order
  echo "$SONAME_PACKAGES" | awk 'NF == 2 && !seen[$2]++ { printf "%s%s", sep, $2; sep = " " }'
  echo
}

package_for() {  # soname -> package, empty when unknown
  echo "$SONAME_PACKAGES" | awk -v so="$1" '$1 == so { print $2; exit }'
}

find_python() {
  if [ -n "${1:-}" ]; then echo "$1"
  elif [ -x .venv/bin/python ]; then echo .venv/bin/python
  else echo python3
  fi
}

plugin_path() {  # $1 python; prints PySide6's platform plugin for QT_QPA_PLATFORM (default xcb)
  local platform="${QT_QPA_PLATFORM:-xcb}"
  platform="${platform%%:*}"
  "$1" - "$platform" <<'EOF'
import importlib.util, pathlib, sys
spec = importlib.util.find_spec("PySide6")
if spec is None or not spec.submodule_search_locations:
    sys.exit("PySide6 is not installed in this Python")
root = pathlib.Path(list(spec.submodule_search_locations)[0])
print(root / "Qt" / "plugins" / "platforms" / f"libq{sys.argv[1]}.so")
EOF
}

# Sets MISSING_SONAMES, MISSING_PACKAGES (known) and UNKNOWN_SONAMES (no package known).
find_missing() {
  local plugin="$1" so pkg
  MISSING_SONAMES="" MISSING_PACKAGES="" UNKNOWN_SONAMES=""
  for so in $(ldd "$plugin" 2>/dev/null | awk '/=> not found/ { print $1 }' | sort -u); do
    MISSING_SONAMES="$MISSING_SONAMES $so"
    pkg="$(package_for "$so")"
    if [ -z "$pkg" ]; then
      UNKNOWN_SONAMES="$UNKNOWN_SONAMES $so"
    else
      case " $MISSING_PACKAGES " in *" $pkg "*) ;; *) MISSING_PACKAGES="$MISSING_PACKAGES $pkg" ;; esac
    fi
  done
  MISSING_SONAMES="${MISSING_SONAMES# }" MISSING_PACKAGES="${MISSING_PACKAGES# }"
  UNKNOWN_SONAMES="${UNKNOWN_SONAMES# }"
}

can_install() {  # apt-get is there and we are root or have passwordless sudo
  command -v apt-get >/dev/null 2>&1 || return 1
  if [ "$(id -u)" = 0 ]; then SUDO=""; return 0; fi
  command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1 || return 1
  SUDO="sudo -n"
}

apt_install() {  # packages...
  echo "$me: installing $*" >&2
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq >&2 || true
  $SUDO apt-get install -y -qq --no-install-recommends "$@" >&2
}

explain() {  # the one message when we cannot install
  local text
  text="PiggyDesk cannot start: Qt needs system libraries that are not installed ($MISSING_SONAMES)."
  if [ -n "$MISSING_PACKAGES" ] && command -v apt-get >/dev/null 2>&1; then
    text="$text Install them with \`sudo apt-get install $MISSING_PACKAGES\`"
    [ -n "$UNKNOWN_SONAMES" ] && text="$text (and whichever package provides $UNKNOWN_SONAMES)"
    text="$text and run the same command again."
  elif [ -n "$MISSING_PACKAGES" ]; then
    text="$text Install them with your system's package manager (Debian/Ubuntu names: $MISSING_PACKAGES), then run the same command again."
  else
    text="$text Install the packages that provide them with your system's package manager, then run the same command again."
  fi
  echo "$text" >&2
}

cmd_check() {
  local python plugin
  python="$(find_python "${1:-}")"
  plugin="$(plugin_path "$python")" || { echo "$me: $plugin" >&2; exit 3; }
  if [ ! -f "$plugin" ]; then
    echo "$me: Qt's platform plugin $plugin is not there; reinstall PySide6 (make clean && make run)." >&2
    exit 3
  fi
  find_missing "$plugin"
  [ -z "$MISSING_SONAMES" ] || return 3
}

check_display() {  # the xcb plugin needs an X display; without one Qt aborts
  local platform="${QT_QPA_PLATFORM:-xcb}"
  [ "${platform%%:*}" = xcb ] || return 0
  [ -n "${DISPLAY:-}" ] || [ -n "${WAYLAND_DISPLAY:-}" ] && return 0
  echo "PiggyDesk cannot start: there is no display here (DISPLAY is not set). Start it from a" \
    "desktop session, or run it headless with QT_QPA_PLATFORM=offscreen (or under xvfb-run)." >&2
  exit 3
}

cmd_ensure() {
  local status=0
  cmd_check "$@" || status=$?
  if [ "$status" != 0 ]; then
    if [ -n "$MISSING_PACKAGES" ] && can_install; then
      apt_install $MISSING_PACKAGES || true
      status=0
      cmd_check "$@" || status=$?
    fi
    if [ "$status" != 0 ]; then
      explain
      exit 3
    fi
  fi
  check_display
}

cmd_ci() {
  local missing=() p
  for p in $(packages) $CI_EXTRA_PACKAGES; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  if ! can_install; then
    echo "$me: the tests need these packages: sudo apt-get install ${missing[*]}" >&2
    exit 3
  fi
  apt_install "${missing[@]}"
}

case "${1:-}" in
  packages) packages ;;
  check)
    status=0
    cmd_check "${2:-}" || status=$?
    if [ "$status" != 0 ]; then
      echo "$me: missing: $MISSING_SONAMES (packages: ${MISSING_PACKAGES:-unknown})" >&2
    else
      echo "$me: every system library Qt needs is installed." >&2
    fi
    exit "$status" ;;
  ensure) cmd_ensure "${2:-}" ;;
  ci) cmd_ci ;;
  -h|--help) sed -n '2,17p' "$0" ;;
  *) echo "usage: $me packages|check [PYTHON]|ensure [PYTHON]|ci (see --help)" >&2; exit 2 ;;
esac
