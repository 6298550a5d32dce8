# iocmgr container image, for the Helm chart deploy/helm/iocmgr (an epics-containers service).
#
#   docker build -t registry.example.org/controls/iocmgr:0.1.0 .
#
# The build runs the README's steps: `make deps` (Debian packages, EPICS Base
# 7.0.3.1 from Debian's epics-base source package) and `make`. One stage: the
# IOC links Base's shared libraries by rpath and the liveness probe needs
# caget, so Base stays in the image where it was built.
FROM debian:12

ENV DEBIAN_FRONTEND=noninteractive \
    IOCMGR_CACHE=/epics/cache \
    PATH=/epics/cache/epics-base-7.0.3.1/bin/linux-x86_64:$PATH

# make and the apt sources are all `make deps` needs to start; it installs the rest.
RUN apt-get update \
 && apt-get install -y --no-install-recommends make ca-certificates \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /epics/iocmgr
COPY Makefile ./
COPY configure/ configure/
COPY iocmgrApp/ iocmgrApp/
COPY iocBoot/ iocBoot/
COPY tests/ tests/
COPY tools/ tools/
COPY opi/ opi/

# A work tree that was built on the host carries its objects (O.*, the k8s
# tests' build/), its Base location (RELEASE.deps, *.local) and envPaths with
# the host's TOP: drop them so the image builds clean.
RUN find . -name 'O.*' -type d -prune -exec rm -rf {} + \
 && rm -rf tests/k8s/build \
 && rm -f configure/RELEASE.deps configure/RELEASE.local configure/CONFIG_SITE.local \
          iocBoot/*/envPaths \
 && make deps \
 && make \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /epics/iocmgr/iocBoot/iociocmgr
CMD ["/epics/iocmgr/bin/linux-x86_64/iocmgr", "st.cmd"]
