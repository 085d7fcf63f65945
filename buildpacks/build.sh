#!/bin/sh
# Runs inside the build container (Heroku's classic buildpack API): for each
# buildpack in $PAAS_BUILDPACKS, bin/detect then bin/compile BUILD CACHE ENV;
# then the last one's bin/release, after a marker line the server reads.
set -e
mkdir -p /cache /env
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
