# iocmgr container image, for the Helm chart deploy/helm/iocmgr (an epics-containers service).
#
#   docker build -t registry.example.org/controls/iocmgr:0.1.0 .
#
# Two stages. The build stage runs the README's steps: `make deps` (Debian packages and
# EPICS Base 7.0.3.1 from Debian's epics-base source package; IOCMGR_DEPS=build installs
# only what the build needs) and `make`. Then tools/image-rootfs.sh, the image's one
# recipe, assembles the runtime file system: iocmgr with its dbd, db, boot files and
# screens, Base's CA tools (the liveness probe's caget), the shared libraries they link,
# busybox as /bin/sh. The image is that file system and nothing else: no compiler, no
# test packages. The test node builds the same image with the same script from this
# machine's tree (tests/images/build.sh iocmgr, docs/node.md).
FROM debian:12 AS build

ENV DEBIAN_FRONTEND=noninteractive \
    IOCMGR_CACHE=/epics/cache \
    IOCMGR_DEPS=build

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
 && tools/image-rootfs.sh /rootfs

FROM scratch
COPY --from=build /rootfs/ /
# the same settings as `tools/image-rootfs.sh --config` (a test compares them)
ENV PATH=/epics/epics-base/bin/linux-x86_64:/epics/iocmgr/bin/linux-x86_64:/usr/bin:/bin \
    EPICS_BASE=/epics/epics-base
WORKDIR /epics/iocmgr/iocBoot/iociocmgr
CMD ["/epics/iocmgr/bin/linux-x86_64/iocmgr", "st.cmd"]
