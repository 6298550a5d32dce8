#!/usr/bin/env bash
# Resolves the Phoebus harness's jars (the org.phoebus ones from $PHOEBUS_REPO,
# the rest from Maven Central into ~/.m2) and compiles the harness, once per
# version and source into $IOCMGR_CACHE/phoebus-5.0.5; prints the class path.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${IOCMGR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/iocmgr}/phoebus-5.0.5
repo=${PHOEBUS_REPO:?set PHOEBUS_REPO to a Maven repository holding Phoebus 5.0.5 (shared/phoebus/m2)}
command -v mvn >/dev/null && command -v javac >/dev/null ||
    { echo "mvn or javac missing: run tools/deps.sh" >&2; exit 1; }
mkdir -p "$cache"
key=$( (cat "$here/setup.sh" "$here/pom.xml" "$here"/src/main/java/org/iocmgr/phoebus/*.java; echo "$repo") | sha256sum | cut -c1-16)
if [ ! -f "$cache/$key.cp" ]; then
    mvn -q -B -Dstyle.color=never -f "$here/pom.xml" -Dphoebus.repo="file://$repo" dependency:build-classpath \
        -Dmdep.outputFile="$cache/deps.cp" >&2
    # Only jars belong on the class path (Maven lists a pom-only dependency too).
    deps=$(tr ':' '\n' <"$cache/deps.cp" | grep '\.jar$' | paste -sd:)
    # classes of their own per key: work trees with other harness sources share this cache
    rm -rf "$cache/classes-$key"
    javac -Xlint:all -Xlint:-processing -Xlint:-path -Werror -d "$cache/classes-$key" -cp "$deps" \
        "$here"/src/main/java/org/iocmgr/phoebus/*.java >&2
    echo "$cache/classes-$key:$deps" >"$cache/$key.cp.tmp"
    mv "$cache/$key.cp.tmp" "$cache/$key.cp"
fi
cat "$cache/$key.cp"
