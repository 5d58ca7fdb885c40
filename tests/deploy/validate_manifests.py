#!/usr/bin/env python3
"""Checks the Kubernetes manifests of deploy/kubernetes without a cluster.

- Every object is checked against the Kubernetes API's types, as the official Python client
  models them: an unknown field anywhere (a typo such as `readinesProbe`), a value of the wrong
  type, or a missing required field is an error.
- Every pg2iceberg container's command line is accepted by the binary's own parser (it gets as
  far as reading the configuration file), and probes name a declared port.
- The configuration in the ConfigMap loads with the binary (`pg2iceberg --config F config`).
- The owner of the slot (stream-only, run) runs as one replica.

Usage: validate_manifests.py --binary PATH DIR
"""
import argparse
import os
import subprocess
import sys
import tempfile

import yaml
from kubernetes import client

KINDS = {
    ("v1", "ConfigMap"): "V1ConfigMap",
    ("v1", "Secret"): "V1Secret",
    ("v1", "Service"): "V1Service",
    ("apps/v1", "StatefulSet"): "V1StatefulSet",
    ("apps/v1", "Deployment"): "V1Deployment",
    ("batch/v1", "CronJob"): "V1CronJob",
}
SUBCOMMANDS = {"run", "stream-only", "materializer-only", "compact", "maintain"}


def check_type(value, type_name, path, errors):
    """Checks `value` against the client's type name (a model, list[...], dict(str, ...), or a
    primitive); appends what is wrong to `errors`."""
    if value is None:
        return
    # Newer clients spell the containers List[...] and Dict[str, ...].
    if type_name.startswith("List["):
        type_name = "list[" + type_name[5:]
    if type_name.startswith("Dict["):
        type_name = "dict(" + type_name[5:-1] + ")"
    if type_name.startswith("list["):
        if not isinstance(value, list):
            errors.append(f"{path}: expected a list")
            return
        for i, item in enumerate(value):
            check_type(item, type_name[5:-1], f"{path}[{i}]", errors)
        return
    if type_name.startswith("dict("):
        if not isinstance(value, dict):
            errors.append(f"{path}: expected a map")
            return
        inner = type_name[type_name.index(",") + 1:-1].strip()
        for k, v in value.items():
            check_type(v, inner, f"{path}.{k}", errors)
        return
    primitives = {"str": str, "int": int, "bool": bool, "float": (int, float), "datetime": str,
                  "date": str}
    if type_name in primitives:
        if type_name == "int" and isinstance(value, bool) or not isinstance(value, primitives[type_name]):
            errors.append(f"{path}: expected {type_name}, got {type(value).__name__} {value!r}")
        return
    if type_name == "object":  # IntOrString, quantities, free-form
        return
    model = getattr(client, type_name, None)
    if model is None:
        errors.append(f"{path}: unknown type {type_name}")
        return
    if not isinstance(value, dict):
        errors.append(f"{path}: expected an object ({type_name})")
        return
    by_json = {j: a for a, j in model.attribute_map.items()}
    for key, v in value.items():
        if key not in by_json:
            errors.append(f"{path}.{key}: no such field in {type_name}")
            continue
        check_type(v, model.openapi_types[by_json[key]], f"{path}.{key}", errors)


def required_fields(doc, model_name, path, errors):
    """Deserializes with the client's models, whose setters refuse a missing required field."""
    api = client.ApiClient()
    try:
        api._ApiClient__deserialize(doc, model_name)  # pylint: disable=protected-access
    except (ValueError, TypeError) as e:
        errors.append(f"{path}: {e}")


def pod_specs(doc):
    kind = doc["kind"]
    if kind in ("StatefulSet", "Deployment"):
        return [doc["spec"]["template"]["spec"]]
    if kind == "CronJob":
        return [doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]]
    return []


def check_commands(doc, path, binary, errors):
    for spec in pod_specs(doc):
        for c in spec.get("containers", []):
            args = c.get("args", [])
            sub = [a for a in args if a in SUBCOMMANDS]
            if len(sub) != 1:
                errors.append(f"{path}: container {c['name']} runs no single pg2iceberg subcommand")
                continue
            # $(VAR) is expanded by Kubernetes; any value will do for the parser. With a config
            # file that does not exist, a command line the parser accepts ends at the config.
            argv = [binary] + [a.replace("$(POD_NAME)", "pod-0") for a in args]
            argv[argv.index("--config") + 1] = "/nonexistent/pg2iceberg.yaml"
            r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
            if "cannot read config file /nonexistent/pg2iceberg.yaml" not in r.stderr:
                errors.append(f"{path}: pg2iceberg refuses {' '.join(args)}: {r.stdout}{r.stderr}")
            ports = {p.get("name") for p in c.get("ports", [])}
            for probe in ("livenessProbe", "readinessProbe"):
                port = c.get(probe, {}).get("httpGet", {}).get("port")
                if isinstance(port, str) and port not in ports:
                    errors.append(f"{path}: {probe} names port {port}, which the container lacks")
            if sub[0] in ("run", "stream-only") and doc["spec"].get("replicas") != 1:
                errors.append(f"{path}: the slot's owner ({sub[0]}) must run as one replica")


def check_config(doc, path, binary, errors):
    for name, text in doc.get("data", {}).items():
        if not name.endswith(".yaml"):
            continue
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
            f.write(text)
        try:
            r = subprocess.run([binary, "--config", f.name, "config"], capture_output=True,
                               text=True, timeout=30)
            if r.returncode != 0:
                errors.append(f"{path}: {name} does not load: {r.stdout}{r.stderr}")
        finally:
            os.unlink(f.name)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("dir")
    a = ap.parse_args()
    errors, objects = [], 0
    for fname in sorted(os.listdir(a.dir)):
        if not fname.endswith(".yaml"):
            continue
        with open(os.path.join(a.dir, fname)) as f:
            docs = [d for d in yaml.safe_load_all(f) if d]
        for i, doc in enumerate(docs):
            path = f"{fname}#{i} {doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
            model = KINDS.get((doc.get("apiVersion"), doc.get("kind")))
            if model is None:
                errors.append(f"{path}: unexpected apiVersion/kind {doc.get('apiVersion')}/{doc.get('kind')}")
                continue
            objects += 1
            check_type(doc, model, path, errors)
            required_fields(doc, model, path, errors)
            check_commands(doc, path, a.binary, errors)
            if doc["kind"] == "ConfigMap":
                check_config(doc, path, a.binary, errors)
    for e in errors:
        print("error:", e)
    print(f"{objects} objects checked, {len(errors)} errors")
    return 1 if errors or objects == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
