# Sourced by the setup scripts: `ensure_command COMMAND PACKAGE` installs Debian's PACKAGE when COMMAND is missing
# (as root, or with sudo), else says what to install.
ensure_command() {
    local command=$1 package=$2
    command -v "$command" >/dev/null 2>&1 && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$package" >/dev/null
    elif command -v sudo >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
        sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$package" >/dev/null
    else
        echo "setup: $command is missing and could not be installed here; install the $package package." >&2
        return 1
    fi
}
