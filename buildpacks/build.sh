#!/bin/sh
# Runs inside the build container (Heroku's classic buildpack API): for each
# buildpack in $PAAS_BUILDPACKS, bin/detect then bin/compile BUILD CACHE ENV;
# then the last one's bin/release, after a marker line the server reads.
set -e
mkdir -p /cache /env
# Buildpacks from git, one "SLOT URL[#REF]" per line: cloned here, inside the
# build container, over https only.
if [ -n "$PAAS_BUILDPACK_FETCH" ]; then
    echo "$PAAS_BUILDPACK_FETCH" | while read -r slot url; do
        [ -n "$slot" ] || continue
        repo="${url%%#*}"
        ref=""
        case "$url" in *"#"*) ref="${url#*#}" ;; esac
        echo "-----> Fetching buildpack $url"
        case "$repo" in https://*) ;; *) echo " !     only https:// buildpack URLs are fetched"; exit 1 ;; esac
        set -- clone --quiet
        [ -n "$ref" ] && set -- "$@" --branch "$ref"
        # Shallow where the server speaks git's smart protocol; whole where
        # it serves plain files.
        git -c protocol.allow=never -c protocol.https.allow=always "$@" --depth 1 -- "$repo" "/buildpacks/$slot" 2>/dev/null \
            || { rm -rf "/buildpacks/$slot"; git -c protocol.allow=never -c protocol.https.allow=always "$@" -- "$repo" "/buildpacks/$slot"; } \
            || { echo " !     could not fetch the buildpack $url"; exit 1; }
        rm -rf "/buildpacks/$slot/.git"
    done
fi
last=""
for bp in $PAAS_BUILDPACKS; do
    dir="/buildpacks/$bp"
    if ! name=$("$dir/bin/detect" /app); then
        echo " !     the $bp buildpack does not apply to this app"
        exit 1
    fi
    echo "-----> $name app detected"
    mkdir -p "/cache/$bp"
    "$dir/bin/compile" /app "/cache/$bp" /env
    last="$dir"
done
echo "---paas-release---"
"$last/bin/release" /app
