# Sourced by the setup scripts.

# `ensure_command COMMAND PACKAGE` installs Debian's PACKAGE when COMMAND is missing (as root, or with sudo), else says
# what to install and returns 1.
ensure_command() {
    local command=$1 package=$2
    command -v "$command" >/dev/null 2>&1 && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$package" >/dev/null && return 0
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null && command -v apt-get >/dev/null 2>&1; then
        sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$package" >/dev/null \
            && return 0
    fi
    echo "setup: $command is missing and could not be installed here; install the $package package." >&2
    return 1
}

# `ensure_npm_packages FOLDER` runs `npm ci` in FOLDER unless its node_modules already match its package-lock.json
# (a stamp of the lock file), so a re-run needs no network; says what is missing and returns 1 without npm.
ensure_npm_packages() {
    local folder=$1 stamp="$1/node_modules/.mmembed-lock.sha256"
    if ! command -v npm >/dev/null 2>&1; then
        echo "setup: npm is missing (Debian: the npm package); the npm packages of $folder are not installed." >&2
        return 1
    fi
    if [ -f "$stamp" ] && sha256sum --status -c "$stamp" 2>/dev/null; then
        return 0
    fi
    npm ci --prefix "$folder" --no-audit --no-fund --loglevel=error || return 1
    sha256sum "$folder/package-lock.json" >"$stamp"
}
