#!/usr/bin/env bash
# Resolves what the alarm tests run, once per version, into the cache (never
# into the work tree), and prints one line per component for tests/alarm/run.sh:
#   kafka <class path of org.apache.kafka:kafka_2.13>
#   phoebus <class path of the Phoebus alarm server and the test tools>
# Kafka comes from Maven Central (tests/alarm/kafka/pom.xml). The Phoebus jars
# are not on Central: they come from the Maven repository in $PHOEBUS_REPO, else
# <repo top>/../shared/phoebus/m2 (tests/alarm/phoebus/pom.xml). Without one it
# prints "skip <what to set>" and exits 77.
# Maven keeps the downloads in ~/.m2. Needs java 17 and mvn (tools/deps.sh).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)
cache=${IOCMGR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/iocmgr}/alarm
say() { echo "alarm setup: $*" >&2; }

repo=${PHOEBUS_REPO:-$top/../shared/phoebus/m2}
if [ ! -d "$repo/org/phoebus/service-alarm-server" ]; then
    echo "skip no Phoebus Maven repository at $repo: set PHOEBUS_REPO to a Maven repository holding org.phoebus:service-alarm-server:5.0.5 (the Phoebus jars are not on Maven Central; docs/alarms.md)"
    exit 77
fi
repo=$(cd "$repo" && pwd)
for tool in java mvn; do
    command -v "$tool" >/dev/null || { say "$tool not found: run tools/deps.sh"; exit 1; }
done

# Rebuilt when the pom, the tools' sources or the Phoebus repository change.
kafka_version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/kafka/pom.xml")
phoebus_version=$(sed -n 's:.*<phoebus.version>\(.*\)</phoebus.version>.*:\1:p' "$here/phoebus/pom.xml")
key=$( (cat "$here/phoebus/pom.xml"; find "$here/phoebus/src" -type f | sort | xargs cat;
        echo "$repo"; ls -l "$repo/org/phoebus/service-alarm-server/$phoebus_version") | sha256sum | cut -c1-12)
kdir=$cache/kafka-$kafka_version
pdir=$cache/phoebus-$phoebus_version-$key

mvn_q() { mvn -B -q -Dstyle.color=never -Dmaven.repo.local="${MAVEN_REPO_LOCAL:-$HOME/.m2/repository}" "$@"; }

if [ ! -s "$kdir/classpath" ]; then
    say "resolving Kafka $kafka_version from Maven Central"
    mkdir -p "$kdir"
    mvn_q -f "$here/kafka/pom.xml" dependency:build-classpath -Dmdep.outputFile="$kdir/classpath.tmp" >&2
    mv "$kdir/classpath.tmp" "$kdir/classpath"
fi
if [ ! -s "$pdir/classpath" ]; then
    say "building the Phoebus $phoebus_version alarm tools against $repo"
    rm -rf "$pdir"
    mkdir -p "$pdir"
    mvn_q -f "$here/phoebus/pom.xml" -Dphoebus.repo="$repo" -Dalarm.build.dir="$pdir/build" \
        package dependency:build-classpath -Dmdep.outputFile="$pdir/deps" >&2
    echo "$pdir/build/alarm-phoebus-1.jar:$(cat "$pdir/deps")" > "$pdir/classpath.tmp"
    mv "$pdir/classpath.tmp" "$pdir/classpath"
fi
echo "kafka $(cat "$kdir/classpath")"
echo "phoebus $(cat "$pdir/classpath")"
