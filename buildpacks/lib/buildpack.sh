# Shared by the shipped buildpacks; sourced by their bin/compile (bash).
# Any failing command, in a pipeline too, fails the build at once with the
# tool's own error above it.
set -eo pipefail

# Indent a tool's output under the step that runs it (line by line, as it comes).
indent() {
    sed -u 's/^/       /'
}

# Run a command with its output indented; its exit status is the command's.
run() {
    "$@" 2>&1 | indent
}

# Heroku's ENV_DIR contract: every config var is a file in ENV_DIR; export
# them for the tools the buildpack runs (pip, npm, go, a Django settings
# module), except those that would break the build environment itself.
export_env_dir() {
    local dir="$1" path name
    [ -d "$dir" ] || return 0
    for path in "$dir"/*; do
        [ -f "$path" ] || continue
        name=$(basename "$path")
        case "$name" in
            PATH | GIT_DIR | CPATH | CPPATH | LD_PRELOAD | LIBRARY_PATH | LANG | BUILD_DIR | HOME | PORT | DYNO | STACK) ;;
            *[!A-Za-z0-9_]* | [0-9]*) ;;
            *) export "$name=$(cat "$path")" ;;
        esac
    done
}

# The app's own build hooks (bin/pre_compile, bin/post_compile), run from the
# app's root with the config vars exported.
run_hook() {
    local build="$1" hook="$2"
    [ -f "$build/bin/$hook" ] || return 0
    echo "-----> Running bin/$hook"
    chmod +x "$build/bin/$hook"
    (cd "$build" && run "./bin/$hook")
}

# Copy a finished directory aside for the cache under a key (a hash of what
# it was made from); it replaces the cached one only at cache_commit, once
# the whole build has succeeded, so a failed build caches nothing.
cache_stage() {
    local cache="$1" name="$2" key="$3" from="$4"
    rm -rf "${cache:?}/.staged-$name"
    cp -a "$from" "$cache/.staged-$name"
    echo "$key" > "$cache/.staged-$name/.paas-cache-key"
}

# Make every staged directory the cached one (at the end of a compile).
cache_commit() {
    local cache="$1" staged name
    for staged in "$cache"/.staged-*; do
        [ -d "$staged" ] || continue
        name="${staged##*/.staged-}"
        rm -rf "${cache:?}/$name"
        mv "$staged/.paas-cache-key" "$cache/$name.key.new"
        mv "$staged" "$cache/$name"
        mv "$cache/$name.key.new" "$cache/$name.key"
    done
}

# Whether the cache holds a complete copy under this key.
cache_has() {
    local cache="$1" name="$2" key="$3"
    [ -d "$cache/$name" ] && [ "$(cat "$cache/$name.key" 2>/dev/null)" = "$key" ]
}

# Forget a cached directory before rebuilding it, so a failed build leaves
# nothing behind that a later one could reuse.
cache_forget() {
    local cache="$1" name="$2"
    rm -rf "${cache:?}/$name" "$cache/$name.key" "$cache/.staged-$name"
}

# A script that runs before every process of the app (Heroku's .profile.d).
profile_script() {
    local build="$1" name="$2"
    mkdir -p "$build/.profile.d"
    cat > "$build/.profile.d/$name.sh"
}
