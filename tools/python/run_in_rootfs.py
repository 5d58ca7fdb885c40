"""Runs the one-container image's entrypoint (or its health check) from a root filesystem built
by scripts/container_rootfs.sh, as a container runtime would from the runtime stage of
deploy/container/Dockerfile: chroot into the tree, WORKDIR, USER, the image's ENV plus the
given variables (nothing from the caller's environment), then ENTRYPOINT (or HEALTHCHECK CMD).
Needs root (chroot), as a container runtime does.

    run_in_rootfs.py --rootfs DIR --dockerfile deploy/container/Dockerfile [--health] \
        [--env K=V ...]
"""
import argparse
import json
import os
import shlex
import sys


def runtime_stage(dockerfile):
    """USER, WORKDIR, ENV, ENTRYPOINT and HEALTHCHECK CMD of the last stage."""
    lines, cur = [], ""
    for raw in open(dockerfile, encoding="utf-8"):
        line = raw.rstrip("\n")
        if line.lstrip().startswith("#"):
            continue
        if line.endswith("\\"):
            cur += line[:-1] + " "
            continue
        cur += line
        if cur.strip():
            lines.append(cur.strip())
        cur = ""
    stage = {"env": {}, "user": "0:0", "workdir": "/", "entrypoint": None, "health": None}
    for line in lines:
        word, _, rest = line.partition(" ")
        word = word.upper()
        if word == "FROM":
            stage = {"env": {}, "user": "0:0", "workdir": "/", "entrypoint": None, "health": None}
        elif word == "ENV":
            key, _, value = rest.partition("=")
            stage["env"][key.strip()] = value.strip()
        elif word == "USER":
            stage["user"] = rest.strip()
        elif word == "WORKDIR":
            stage["workdir"] = rest.strip()
        elif word == "ENTRYPOINT":
            stage["entrypoint"] = json.loads(rest)
        elif word == "HEALTHCHECK":
            cmd = rest[rest.index("CMD") + 3:].strip()
            stage["health"] = json.loads(cmd) if cmd.startswith("[") else shlex.split(cmd)
    return stage


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rootfs", required=True)
    p.add_argument("--dockerfile", required=True)
    p.add_argument("--health", action="store_true")
    p.add_argument("--env", action="append", default=[])
    a = p.parse_args()
    stage = runtime_stage(a.dockerfile)
    env = dict(stage["env"])
    for kv in a.env:
        k, _, v = kv.partition("=")
        env[k] = v
    argv = stage["health"] if a.health else stage["entrypoint"]
    uid, _, gid = stage["user"].partition(":")
    os.chroot(a.rootfs)
    os.chdir(stage["workdir"])
    os.setgroups([])
    os.setgid(int(gid or uid))
    os.setuid(int(uid))
    sys.stdout.flush()
    os.execve(argv[0], argv, env)


if __name__ == "__main__":
    main()
