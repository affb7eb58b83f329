#!/usr/bin/env python3
"""test_deploy.py: checks the Kubernetes manifests in deploy/ and that vLLM's
side and kvidxd's side of them agree.

Nothing here can start a cluster, so the test checks what can go wrong
without one: every YAML document parses and has the fields Kubernetes
requires; selectors match pod labels; Services target container ports that
exist; the vLLM --kv-events-config JSON parses and uses only fields of vLLM's
KVEventsConfig (vllm/config/kv_events.py); the settings that must be equal on
both sides (block size, hash algorithm, PYTHONHASHSEED, endpoint, topic,
replay port) are equal; and, when the kvidxd binary is built, kvidxd accepts
deploy/kvidxd/config.json (--print-config loads and validates it) and reports
the same effective values. It also checks that the flags documented in
examples/kv-events/README.md are the ones in the manifests.

Prints PASS/FAIL lines (tests/run.sh protocol).
"""
import json
import os
import re
import subprocess
import sys

import yaml

SRC = os.environ.get(
    "KVIDX_SOURCE_DIR",
    os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
BUILD = os.environ.get("KVIDX_BUILD_DIR", os.path.join(SRC, "build"))
DEPLOY = os.path.join(SRC, "deploy")

# vLLM's KVEventsConfig fields (vllm/config/kv_events.py).
VLLM_KV_EVENTS_FIELDS = {
    "enable_kv_cache_events", "publisher", "endpoint", "replay_endpoint",
    "buffer_steps", "hwm", "max_queue_size", "topic"
}
# vLLM's PrefixCachingHashAlgo literal (vllm/config/cache.py).
VLLM_HASH_ALGOS = {"sha256", "sha256_cbor", "xxhash", "xxhash_cbor"}

failures = 0


def check(name, cond, why=""):
    global failures
    if cond:
        print(f"PASS {name}")
    else:
        failures += 1
        print(f"FAIL {name}: {why}")
    return cond


def load_docs():
    """All YAML documents listed by kustomization.yaml, by (kind, name)."""
    with open(os.path.join(DEPLOY, "kustomization.yaml")) as f:
        kust = yaml.safe_load(f)
    docs = {}
    for rel in kust["resources"]:
        with open(os.path.join(DEPLOY, rel)) as f:
            for d in yaml.safe_load_all(f):
                if d is None:
                    continue
                docs[(d["kind"], d["metadata"]["name"])] = d
    return kust, docs


def container(deploy, name):
    for c in deploy["spec"]["template"]["spec"]["containers"]:
        if c["name"] == name:
            return c
    raise KeyError(name)


def named_ports(deploy):
    ports = {}
    for c in deploy["spec"]["template"]["spec"]["containers"]:
        for p in c.get("ports", []):
            ports[p["name"]] = p["containerPort"]
    return ports


def env_of(c):
    return {e["name"]: e for e in c.get("env", [])}


def flag(args, name):
    """Value of --name=V or --name V in a list of args; None when absent."""
    for i, a in enumerate(args):
        if a == name:
            return args[i + 1] if i + 1 < len(args) else ""
        if a.startswith(name + "="):
            return a[len(name) + 1:]
    return None


def check_structure(kust, docs):
    for (kind, name), d in docs.items():
        check(f"deploy_{kind}_{name}_has_api_version",
              isinstance(d.get("apiVersion"), str), "apiVersion missing")
    for (kind, name), d in docs.items():
        if kind != "Deployment":
            continue
        sel = d["spec"]["selector"]["matchLabels"]
        labels = d["spec"]["template"]["metadata"]["labels"]
        check(f"deploy_{name}_selector_matches_pod_labels",
              all(labels.get(k) == v for k, v in sel.items()),
              f"selector {sel} vs labels {labels}")
    deployments = [d for (k, _), d in docs.items() if k == "Deployment"]
    for (kind, name), svc in docs.items():
        if kind != "Service":
            continue
        sel = svc["spec"]["selector"]
        target = [d for d in deployments
                  if all(d["spec"]["template"]["metadata"]["labels"].get(k)
                         == v for k, v in sel.items())]
        check(f"deploy_service_{name}_selects_a_deployment", len(target) == 1,
              f"selector {sel} matches {len(target)} deployments")
        if len(target) != 1:
            continue
        ports = named_ports(target[0])
        for p in svc["spec"]["ports"]:
            t = p["targetPort"]
            check(f"deploy_service_{name}_port_{p['name']}_targets_container",
                  t in ports or t in ports.values(),
                  f"targetPort {t} not in {ports}")
    gen = kust["configMapGenerator"][0]
    check("deploy_configmap_is_mounted",
          any(v.get("configMap", {}).get("name") == gen["name"]
              for v in docs[("Deployment", "kvidxd")]["spec"]["template"]
              ["spec"]["volumes"]), f"no volume uses {gen['name']}")


def kv_events_config(vllm_args):
    raw = flag(vllm_args, "--kv-events-config")
    return json.loads(raw) if raw is not None else None


def check_vllm_side(docs, cfg):
    vllm = docs[("Deployment", "vllm")]
    c = container(vllm, "vllm")
    args = c["args"]
    env = env_of(c)
    kv = kv_events_config(args)
    check("deploy_vllm_kv_events_config_parses", isinstance(kv, dict),
          "--kv-events-config missing or not a JSON object")
    if not isinstance(kv, dict):
        return
    unknown = set(kv) - VLLM_KV_EVENTS_FIELDS
    check("deploy_vllm_kv_events_fields_known", not unknown,
          f"not KVEventsConfig fields: {sorted(unknown)}")
    check("deploy_vllm_kv_events_enabled",
          kv.get("enable_kv_cache_events") is True and
          kv.get("publisher") == "zmq", f"{kv}")
    ep = kv.get("endpoint", "")
    # vLLM binds its PUB socket when the endpoint has "*" or "::" or is
    # ipc/inproc; kvidxd binds 5557, so vLLM must connect.
    binds = "*" in ep or "::" in ep or ep.startswith(("ipc://", "inproc://"))
    check("deploy_vllm_endpoint_connects", not binds and
          ep.startswith("tcp://"), f"endpoint {ep!r} would make vLLM bind")
    m = re.fullmatch(r"tcp://([^:/]+):(\d+)", ep)
    svc = docs.get(("Service", m.group(1) if m else ""))
    check("deploy_vllm_endpoint_is_kvidxd_service",
          m is not None and svc is not None and
          any(p["port"] == int(m.group(2)) and p["name"] == "zmq"
              for p in svc["spec"]["ports"]), f"endpoint {ep!r}")
    zmq_bind = cfg["kvEventsConfig"]["zmqEndpoint"]
    check("deploy_kvidxd_binds_service_port",
          m is not None and zmq_bind == f"tcp://*:{m.group(2)}",
          f"kvidxd binds {zmq_bind}, vLLM connects to {ep}")
    topic = kv.get("topic", "")
    model = args[0]
    check("deploy_vllm_topic_names_pod_and_model",
          topic == f"kv@$(POD_NAME)@{model}", f"topic {topic!r}")
    check("deploy_vllm_topic_passes_filter",
          topic.startswith(cfg["kvEventsConfig"]["topicFilter"]),
          f"{topic!r} vs filter {cfg['kvEventsConfig']['topicFilter']!r}")
    pod_name = env.get("POD_NAME", {})
    check("deploy_vllm_pod_name_from_downward_api",
          pod_name.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
          == "metadata.name", f"POD_NAME env: {pod_name}")
    tp = cfg["tokenProcessorConfig"]
    check("deploy_block_size_matches",
          flag(args, "--block-size") == str(tp["blockSize"]),
          f"--block-size {flag(args, '--block-size')} vs {tp['blockSize']}")
    algo = flag(args, "--prefix-caching-hash-algo")
    check("deploy_hash_algo_matches",
          algo in VLLM_HASH_ALGOS and algo == tp["hashAlgo"],
          f"--prefix-caching-hash-algo {algo} vs {tp['hashAlgo']}")
    check("deploy_hash_seed_matches",
          env.get("PYTHONHASHSEED", {}).get("value") == tp["hashSeed"],
          f"PYTHONHASHSEED {env.get('PYTHONHASHSEED')} vs {tp['hashSeed']}")
    check("deploy_prefix_caching_enabled", "--enable-prefix-caching" in args,
          "--enable-prefix-caching missing")
    # Replay: vLLM binds the ROUTER on replay_endpoint; kvidxd dials
    # {pod}.<headless service>:<port>.
    rep = kv.get("replay_endpoint", "")
    rm = re.fullmatch(r"tcp://\*:(\d+)", rep)
    tmpl = cfg["kvEventsConfig"].get("replayEndpointTemplate", "")
    tm = re.fullmatch(r"tcp://\{pod\}\.([a-z0-9-]+):(\d+)", tmpl)
    ports = named_ports(vllm)
    ok = (rm is not None and tm is not None and rm.group(1) == tm.group(2) and
          int(rm.group(1)) in ports.values())
    check("deploy_replay_ports_match", ok, f"vLLM {rep!r}, kvidxd {tmpl!r}")
    if tm is not None:
        head = docs.get(("Service", tm.group(1)))
        check("deploy_replay_dns_headless_service",
              head is not None and head["spec"].get("clusterIP") == "None" and
              vllm["spec"]["template"]["spec"].get("subdomain") ==
              tm.group(1), f"service {tm.group(1)} / pod subdomain")


def check_kvidxd_side(docs, cfg):
    kd = docs[("Deployment", "kvidxd")]
    c = container(kd, "kvidxd")
    ports = named_ports(kd)
    host, _, port = cfg["httpConfig"]["address"].rpartition(":")
    check("deploy_kvidxd_http_reachable",
          host == "0.0.0.0" and int(port) == ports.get("http"),
          f"httpConfig.address {cfg['httpConfig']['address']}, port {ports}")
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    cfg_path = c["command"][c["command"].index("--config") + 1]
    check("deploy_kvidxd_config_path_mounted",
          os.path.dirname(cfg_path) == mounts.get("config"),
          f"--config {cfg_path}, mounts {mounts}")
    disc = cfg["tokenizersPoolConfig"]["local"]["autoDiscoveryDir"]
    check("deploy_kvidxd_tokenizer_dir_mounted", disc == mounts.get(
        "tokenizers"), f"autoDiscoveryDir {disc}, mounts {mounts}")
    init = kd["spec"]["template"]["spec"]["initContainers"][0]
    model = container(docs[("Deployment", "vllm")], "vllm")["args"][0]
    check("deploy_kvidxd_fetches_vllm_model_tokenizer",
          env_of(init).get("MODEL", {}).get("value") == model,
          f"init MODEL {env_of(init).get('MODEL')} vs vLLM model {model}")


def check_with_kvidxd(cfg_file, cfg):
    exe = os.path.join(BUILD, "kvidxd")
    if not os.access(exe, os.X_OK):
        print("SKIP deploy_config_accepted_by_kvidxd: kvidxd not built")
        return
    r = subprocess.run([exe, "--config", cfg_file, "--print-config"],
                       capture_output=True, text=True, timeout=30,
                       env={k: v for k, v in os.environ.items()
                            if not k.startswith("KVIDX_")})
    check("deploy_config_accepted_by_kvidxd", r.returncode == 0,
          f"exit {r.returncode}: {r.stderr.strip()[-300:]}")
    if r.returncode != 0:
        return
    eff = json.loads(r.stdout)
    tp = eff["tokenProcessorConfig"]
    ev = eff["kvEventsConfig"]
    want = (cfg["tokenProcessorConfig"]["blockSize"],
            cfg["tokenProcessorConfig"]["hashSeed"],
            cfg["tokenProcessorConfig"]["hashAlgo"],
            cfg["kvEventsConfig"]["zmqEndpoint"],
            cfg["kvEventsConfig"]["replayEndpointTemplate"],
            cfg["httpConfig"]["address"])
    got = (tp["blockSize"], tp["hashSeed"], tp["hashAlgo"], ev["zmqEndpoint"],
           ev["replayEndpointTemplate"], eff["httpConfig"]["address"])
    check("deploy_kvidxd_effective_config", got == want,
          f"effective {got}, file {want}")


def check_readme(docs):
    """The README documents the same flags as the manifest."""
    path = os.path.join(SRC, "examples", "kv-events", "README.md")
    with open(path) as f:
        text = f.read()
    args = container(docs[("Deployment", "vllm")], "vllm")["args"]
    raw = flag(args, "--kv-events-config")
    check("deploy_readme_shows_kv_events_config", raw in text,
          "README does not contain the manifest's --kv-events-config JSON")
    for name in ("--block-size", "--prefix-caching-hash-algo"):
        v = flag(args, name)
        check(f"deploy_readme_shows_{name.strip('-')}",
              f"{name}={v}" in text or f"{name} {v}" in text,
              f"README lacks {name} {v}")


def main():
    kust, docs = load_docs()
    cfg_file = os.path.join(DEPLOY, "kvidxd", "config.json")
    with open(cfg_file) as f:
        cfg = json.load(f)
    check_structure(kust, docs)
    check_vllm_side(docs, cfg)
    check_kvidxd_side(docs, cfg)
    check_with_kvidxd(cfg_file, cfg)
    check_readme(docs)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
