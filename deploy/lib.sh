# shellcheck shell=bash
# Shared by install-agent.sh, install-collector.sh and uninstall.sh (sourced, not run).
# The caller sets PROG, and before install_venv/write_manifest: VENV, MANIFEST, PYTHON,
# WHEELHOUSE, SOURCE.
#
# Manifest lines (PREFIX/install-manifest), read by uninstall.sh:
#   tree PATH   a folder this install created and owns entirely (removed with its contents)
#   dir PATH    a parent folder it created (removed only if empty)
#   file PATH   a file it created outside the trees
#   user NAME   a system user it created
#   unit NAME   a systemd unit it enabled
#   restart NAME  a unit it gave a drop-in: restarted (if running) once the drop-in is gone
#   package NAME  a Debian package it installed (removed only with uninstall.sh --purge-packages)

die() { echo "$PROG: $*" >&2; exit 2; }
need() { if [ $# -lt 2 ] || [ -z "$2" ]; then die "$1 needs a value (see --help)"; fi; }
step() { echo "[$PROG] $*"; }

CREATED=()
mkd() {  # mkd DIR MODE [tree]: create DIR and missing parents, remembering what was created
    local d=$1 missing=() last
    while [ ! -e "$d" ]; do missing=("$d" "${missing[@]}"); d=$(dirname "$d"); done
    last=
    if [ ${#missing[@]} -gt 0 ]; then last=${missing[${#missing[@]}-1]}; fi
    for d in "${missing[@]}"; do
        mkdir -m 755 "$d"
        if [ "$d" = "$last" ] && [ "${3:-}" = tree ]; then CREATED+=("tree $d")
        else CREATED+=("dir $d"); fi
    done
    chmod "$2" "$1"
}
record() { [ -e "$1" ] || CREATED+=("file $1"); }

write_manifest() {  # also on failure (trap): uninstall can then clean up a half-done install
    [ -d "$VENV" ] || return 0
    {
        [ ! -f "$MANIFEST" ] || cat "$MANIFEST"
        local entry
        for entry in "${CREATED[@]}"; do echo "$entry"; done
    } | awk '!seen[$0]++' > "$MANIFEST.tmp"
    mv "$MANIFEST.tmp" "$MANIFEST"
}

check_target() {  # PREFIX, ROOT, SYSTEMD, WHEELHOUSE, SOURCE as the options set them
    case "$PREFIX" in /*) ;; *) die "--prefix must be an absolute path, got '$PREFIX'" ;; esac
    if [ -n "$ROOT" ]; then
        mkdir -p "$ROOT"
        ROOT=$(cd "$ROOT" && pwd)
        # shellcheck disable=SC2034  # read by the installer that sourced this file
        SYSTEMD=0
    elif [ "$(id -u)" -ne 0 ]; then
        die "run as root (sudo bash $0 ...), or use --root DIR for a test install"
    fi
    [ -z "$WHEELHOUSE" ] || [ -d "$WHEELHOUSE" ] || die "--wheelhouse $WHEELHOUSE: no such folder"
    # An unpacked release from scripts/build-wheelhouse.sh has wheelhouse/ next to deploy/.
    if [ -z "$WHEELHOUSE" ] && [ -d "$SOURCE/wheelhouse" ] && [ ! -f "$SOURCE/setup.cfg" ]; then
        WHEELHOUSE=$SOURCE/wheelhouse
    fi
}

check_python() {
    "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null \
        || die "$PYTHON is missing or older than 3.10; install python3 (apt-get install python3-venv) or pass --python"
    "$PYTHON" -c 'import venv, ensurepip' 2>/dev/null \
        || die "$PYTHON cannot create venvs; install python3-venv (apt-get install python3-venv)"
}

install_venv() {  # the venv in $VENV with commune-monitor[$EXTRAS] from $WHEELHOUSE or $SOURCE
    mkd "$(dirname "$VENV")" 755
    if [ ! -x "$VENV/bin/python" ]; then
        step "creating the venv $VENV"
        [ -e "$VENV" ] || CREATED+=("tree $VENV")
        "$PYTHON" -m venv "$VENV"
    fi
    local pip=("$VENV/bin/python" -m pip install --quiet --disable-pip-version-check)
    local extras=${EXTRAS:+[$EXTRAS]}
    if [ -n "$WHEELHOUSE" ]; then
        step "installing commune-monitor from $WHEELHOUSE (offline)"
        "${pip[@]}" --no-index --find-links "$WHEELHOUSE" --upgrade "commune-monitor$extras"
        "${pip[@]}" --no-index --find-links "$WHEELHOUSE" --force-reinstall --no-deps \
            commune-monitor
    else
        step "installing commune-monitor from $SOURCE"
        "${pip[@]}" --upgrade "$SOURCE$extras"
    fi
}

add_user() {  # add_user NAME HOME COMMENT: a system user without login, unless it exists
    if ! getent passwd "$1" >/dev/null; then
        step "creating the system user $1"
        useradd --system --user-group --no-create-home --home-dir "$2" \
            --shell /usr/sbin/nologin --comment "$3" "$1"
        CREATED+=("user $1")
    fi
}
