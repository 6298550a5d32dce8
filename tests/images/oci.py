#!/usr/bin/env python3
"""Write an OCI image archive (an image layout in a tar: oci-layout, index.json, blobs)
from a root file system directory, with no registry and no container engine: what
`ctr -n k8s.io images import` takes (docs/node.md).

    oci.py ROOTFS OUTDIR --name localhost/iocmgr/NAME --config CONFIG.json

One layer, written reproducibly (sorted, owner 0:0, mtime 0), so the same files give the
same digests: the image is cached by content. The archive goes to
OUTDIR/<manifest digest>.tar unless it is there already; its tag is the first 12 hex
digits of that digest, and the image is also named NAME:latest. Prints one line:
    REF ARCHIVE LAYER-BYTES
CONFIG holds the image's run settings: {"Env": [...], "Cmd": [...], "Entrypoint": [...],
"WorkingDir": "..."} (absent keys are left out)."""
import argparse
import hashlib
import io
import json
import os
import sys
import tarfile
import tempfile

MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_LAYER = "application/vnd.oci.image.layer.v1.tar"


def layer(rootfs, out):
    """The root file system as a tar, reproducibly; returns nothing, writes to out."""
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for top, dirs, files in os.walk(rootfs):
            dirs.sort()
            for name in sorted(dirs + files):
                path = os.path.join(top, name)
                arc = os.path.relpath(path, rootfs)
                info = tar.gettarinfo(path, arc)
                info.mtime = 0
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                info.pax_headers = {}
                if info.isreg():
                    with open(path, "rb") as f:
                        tar.addfile(info, f)
                else:
                    tar.addfile(info)   # directories, symlinks (os.walk does not follow them)


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("rootfs")
    ap.add_argument("outdir")
    ap.add_argument("--name", required=True, help="repository, e.g. localhost/iocmgr/pause")
    ap.add_argument("--config", required=True, help="JSON file: Env, Cmd, Entrypoint, WorkingDir")
    a = ap.parse_args()

    with open(a.config) as f:
        run = json.load(f)
    os.makedirs(a.outdir, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=a.outdir, prefix=".layer-", delete=False) as tmp:
        layer(a.rootfs, tmp)
        layer_path = tmp.name
    try:
        layer_digest = sha256_file(layer_path)
        layer_size = os.path.getsize(layer_path)
        config = json.dumps({
            "architecture": "amd64", "os": "linux",
            "config": {k: run[k] for k in ("Env", "Entrypoint", "Cmd", "WorkingDir") if k in run},
            "rootfs": {"type": "layers", "diff_ids": [f"sha256:{layer_digest}"]},
            "history": [{"created_by": f"tests/images/build.sh ({a.name})"}],
        }, sort_keys=True, separators=(",", ":")).encode()
        config_digest = hashlib.sha256(config).hexdigest()
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": MT_MANIFEST,
            "config": {"mediaType": MT_CONFIG, "digest": f"sha256:{config_digest}", "size": len(config)},
            "layers": [{"mediaType": MT_LAYER, "digest": f"sha256:{layer_digest}", "size": layer_size}],
        }, sort_keys=True, separators=(",", ":")).encode()
        manifest_digest = hashlib.sha256(manifest).hexdigest()
        tag = manifest_digest[:12]
        ref = f"{a.name}:{tag}"
        archive = os.path.join(a.outdir, f"{manifest_digest}.tar")
        if not os.path.exists(archive):
            descriptors = [{
                "mediaType": MT_MANIFEST, "digest": f"sha256:{manifest_digest}", "size": len(manifest),
                "platform": {"architecture": "amd64", "os": "linux"},
                "annotations": {"io.containerd.image.name": f"{a.name}:{t}",
                                "org.opencontainers.image.ref.name": t},
            } for t in (tag, "latest")]
            index = json.dumps({"schemaVersion": 2, "manifests": descriptors},
                               sort_keys=True, separators=(",", ":")).encode()
            part = f"{archive}.{os.getpid()}.part"    # another bed may build the same image now
            with tarfile.open(part, "w", format=tarfile.PAX_FORMAT) as tar:
                def add(name, data=None, path=None):
                    info = tarfile.TarInfo(name)
                    info.mode = 0o644
                    if path:
                        info.size = os.path.getsize(path)
                        with open(path, "rb") as f:
                            tar.addfile(info, f)
                    else:
                        info.size = len(data)
                        tar.addfile(info, io.BytesIO(data))
                add("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
                add("index.json", index)
                add(f"blobs/sha256/{manifest_digest}", manifest)
                add(f"blobs/sha256/{config_digest}", config)
                add(f"blobs/sha256/{layer_digest}", path=layer_path)
            os.replace(part, archive)
    finally:
        os.unlink(layer_path)
    print(ref, archive, layer_size)


if __name__ == "__main__":
    sys.exit(main())
