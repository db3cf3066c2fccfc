#!/usr/bin/env python3
"""Checks of the deployment files that no schema expresses (run by
.ci/validate-deploy, inside its venv: needs PyYAML).

  validate_deploy_checks.py k8s OVERLAY RENDERED.yaml
  validate_deploy_checks.py compose docker-compose.yml
  validate_deploy_checks.py probe deploy/compose/grpc-health

Each prints one line per problem and exits 1 if there was any.
"""

import os
import re
import sys

import yaml

PROBLEMS = []


def problem(msg):
    PROBLEMS.append(msg)
    print(f"  FAIL {msg}")


# What each process reads (docs/operations.md, and the settings modules:
# gateway/src/config.rs, services/*/src/{config,lib}.rs). Nothing else that is
# secret may reach it.
SECRETS_OF = {
    "gateway": {"INTERNAL_TOKEN", "REDIS_URL"},
    "auth": {"INTERNAL_TOKEN", "DATABASE_URL", "REDIS_URL", "JWT_SECRET"},
    "message": {"INTERNAL_TOKEN", "DATABASE_URL", "REDIS_URL", "VAPID_PRIVATE_KEY"},
    "presence": {"INTERNAL_TOKEN", "REDIS_URL"},
}
APPS = set(SECRETS_OF)


# ---------------------------------------------------------------- Kubernetes


def check_k8s(overlay, path):
    with open(path) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)

    def component(obj):
        return obj["metadata"].get("labels", {}).get("app.kubernetes.io/component")

    if by_kind.get("Secret"):
        problem(f"{overlay}: renders a Secret (secrets are created by the operator, never kept here)")
    if overlay != "base":
        namespaces = {d["metadata"].get("namespace") for d in docs}
        if len(namespaces) != 1 or None in namespaces:
            problem(f"{overlay}: objects not all in one namespace: {namespaces}")

    deployments = {component(d): d for d in by_kind.get("Deployment", [])}
    if set(deployments) != APPS:
        problem(f"{overlay}: Deployments are {sorted(deployments)}, expected {sorted(APPS)}")

    workloads = by_kind.get("Deployment", []) + by_kind.get("StatefulSet", [])
    for w in workloads:
        name = w["metadata"]["name"]
        pod = w["spec"]["template"]["spec"]
        psc = pod.get("securityContext", {})
        if pod.get("automountServiceAccountToken") is not False:
            problem(f"{overlay}: {name}: the service account token is mounted")
        for c in pod["containers"]:
            csc = c.get("securityContext", {})
            where = f"{overlay}: {name}/{c['name']}"
            if not (csc.get("runAsNonRoot", psc.get("runAsNonRoot"))):
                problem(f"{where}: not runAsNonRoot")
            if csc.get("readOnlyRootFilesystem") is not True:
                problem(f"{where}: root filesystem not read-only")
            if csc.get("allowPrivilegeEscalation") is not False:
                problem(f"{where}: privilege escalation allowed")
            if "ALL" not in csc.get("capabilities", {}).get("drop", []):
                problem(f"{where}: capabilities not all dropped")
            res = c.get("resources", {})
            for k in ("requests", "limits"):
                for r in ("cpu", "memory"):
                    if r not in res.get(k, {}):
                        problem(f"{where}: no {k}.{r}")
            if ":" not in c["image"].rsplit("/", 1)[-1] or c["image"].endswith(":latest"):
                problem(f"{where}: image {c['image']} has no fixed tag")
            for p in ("readinessProbe", "livenessProbe"):
                if p not in c:
                    problem(f"{where}: no {p}")

    for comp, d in deployments.items():
        name = d["metadata"]["name"]
        where = f"{overlay}: {name}"
        spec = d["spec"]
        tmpl = spec["template"]
        pod = tmpl["spec"]
        c = pod["containers"][0]
        if "replicas" in spec:
            problem(f"{where}: names replicas (the HorizontalPodAutoscaler owns them)")
        for p in ("startupProbe", "readinessProbe", "livenessProbe"):
            if p not in c:
                problem(f"{where}: no {p}")
        if comp == "gateway":
            if c.get("readinessProbe", {}).get("httpGet", {}).get("path") != "/readyz":
                problem(f"{where}: readiness is not GET /readyz")
            if c.get("livenessProbe", {}).get("httpGet", {}).get("path") != "/healthz":
                problem(f"{where}: liveness is not GET /healthz")
        else:
            for p in ("startupProbe", "readinessProbe"):
                if "grpc" not in c.get(p, {}):
                    problem(f"{where}: {p} is not a native gRPC probe")
        ann = tmpl["metadata"].get("annotations", {})
        if ann.get("prometheus.io/scrape") != "true" or ann.get("prometheus.io/port") != "9100":
            problem(f"{where}: no prometheus.io scrape annotations for port 9100")
        ports = {p.get("name"): p["containerPort"] for p in c.get("ports", [])}
        if ports.get("metrics") != 9100:
            problem(f"{where}: no container port `metrics` 9100")
        if not pod.get("topologySpreadConstraints"):
            problem(f"{where}: no topologySpreadConstraints")
        # Which secrets it is given.
        keys = set()
        for e in c.get("env", []):
            ref = e.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                keys.add(ref["key"])
                if e["name"] != ref["key"]:
                    problem(f"{where}: env {e['name']} from secret key {ref['key']}")
        for ef in c.get("envFrom", []):
            if "secretRef" in ef:
                problem(f"{where}: takes a whole Secret (envFrom)")
        if keys != SECRETS_OF[comp]:
            problem(f"{where}: secret keys {sorted(keys)}, expected {sorted(SECRETS_OF[comp])}")

    def targets(kind):
        out = {}
        for o in by_kind.get(kind, []):
            if kind == "HorizontalPodAutoscaler":
                ref = o["spec"]["scaleTargetRef"]
                out[ref["name"]] = o
            else:
                out[o["metadata"]["name"]] = o
        return out

    hpas = targets("HorizontalPodAutoscaler")
    pdbs = targets("PodDisruptionBudget")
    for d in deployments.values():
        name = d["metadata"]["name"]
        if name not in hpas:
            problem(f"{overlay}: {name} has no HorizontalPodAutoscaler")
        elif hpas[name]["apiVersion"] != "autoscaling/v2":
            problem(f"{overlay}: {name}'s autoscaler is not autoscaling/v2")
        if name not in pdbs:
            problem(f"{overlay}: {name} has no PodDisruptionBudget")
        elif pdbs[name]["spec"].get("selector", {}).get("matchLabels") != d["spec"]["selector"]["matchLabels"]:
            problem(f"{overlay}: {name}'s PodDisruptionBudget selects other pods")

    services = {component(s): s for s in by_kind.get("Service", [])}
    for comp in ("auth", "message", "presence"):
        s = services.get(comp)
        if not s or s["spec"].get("clusterIP") != "None":
            problem(f"{overlay}: the {comp} Service is not headless")

    policies = {p["metadata"]["name"]: p for p in by_kind.get("NetworkPolicy", [])}
    deny = policies.get("totilove-default-deny")
    if not deny or deny["spec"]["podSelector"] != {} or set(deny["spec"]["policyTypes"]) != {"Ingress", "Egress"}:
        problem(f"{overlay}: no default deny of ingress and egress")
    for comp in APPS:
        if f"totilove-{comp}" not in policies:
            problem(f"{overlay}: no NetworkPolicy for {comp}")

    if overlay != "base":
        check_reachability(overlay, docs)

    ingresses = by_kind.get("Ingress", [])
    if len(ingresses) != 1:
        problem(f"{overlay}: {len(ingresses)} Ingresses, expected 1")
    else:
        ann = ingresses[0]["metadata"].get("annotations", {})
        want = {
            "nginx.ingress.kubernetes.io/proxy-read-timeout": "3600",
            "nginx.ingress.kubernetes.io/proxy-send-timeout": "3600",
            "nginx.ingress.kubernetes.io/proxy-buffering": "off",
        }
        for k, v in want.items():
            if ann.get(k) != v:
                problem(f"{overlay}: Ingress annotation {k} is {ann.get(k)!r}, expected {v!r}")
        if "nginx.ingress.kubernetes.io/proxy-body-size" not in ann:
            problem(f"{overlay}: Ingress sets no proxy-body-size")

    stores = {component(s) for s in by_kind.get("StatefulSet", [])}
    if overlay == "dev":
        if stores != {"postgres", "redis"}:
            problem(f"dev: StatefulSets {sorted(stores)}, expected postgres and redis")
        for s in by_kind.get("StatefulSet", []):
            if not s["spec"].get("volumeClaimTemplates"):
                problem(f"dev: {s['metadata']['name']} keeps no PersistentVolumeClaim")
        for comp in ("postgres", "redis"):
            if f"totilove-{comp}" not in policies:
                problem(f"dev: no NetworkPolicy admitting {comp}'s owners")
    elif stores:
        problem(f"{overlay}: runs stores {sorted(stores)} (only dev does)")


# ------------------------------------------------ NetworkPolicy reachability
#
# A small evaluator of the NetworkPolicy subset these manifests use
# (podSelector / namespaceSelector with matchLabels or `In` expressions,
# ipBlock, TCP/UDP ports), asked who can open what: every pair of endpoints
# below and every port of interest, compared with the intended matrix.

def _selects(selector, labels):
    if selector is None:
        return False
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for e in selector.get("matchExpressions") or []:
        if e["operator"] == "In" and labels.get(e["key"]) not in e["values"]:
            return False
        if e["operator"] not in ("In",):
            raise ValueError(f"operator {e['operator']} not modelled")
    return True


def _peer_matches(peer, ep, policy_ns):
    if "ipBlock" in peer:
        return ep["external"]  # pod addresses are not matched by ipBlock here
    if ep["external"]:
        return False
    if "namespaceSelector" in peer:
        if not _selects(peer["namespaceSelector"], {"kubernetes.io/metadata.name": ep["ns"]}):
            return False
    elif ep["ns"] != policy_ns:
        return False
    if "podSelector" in peer:
        return _selects(peer["podSelector"], ep["labels"])
    return True


def _rule_allows(rule, peers_key, other, policy_ns, port, proto):
    ports = rule.get("ports")
    if ports and not any(p.get("protocol", "TCP") == proto and p.get("port") == port for p in ports):
        return False
    peers = rule.get(peers_key)
    if not peers:
        return True
    return any(_peer_matches(peer, other, policy_ns) for peer in peers)


def _allowed(policies, src, dst, port, proto):
    def direction(ep, kind, peers_key, other):
        if ep["external"] or ep["ns"] != NS:
            return True  # outside the namespace: not ours to restrict
        mine = [p for p in policies if kind in p["spec"].get("policyTypes", [])
                and _selects(p["spec"]["podSelector"], ep["labels"])]
        if not mine:
            return True
        return any(_rule_allows(r, peers_key, other, NS, port, proto)
                   for p in mine for r in p["spec"].get(kind.lower(), []) or [])
    return direction(src, "Egress", "to", dst) and direction(dst, "Ingress", "from", src)


NS = "ns-under-test"


def check_reachability(overlay, docs):
    policies = [d for d in docs if d["kind"] == "NetworkPolicy"]

    def pod(component, ns=NS, name="totilove"):
        return {"ns": ns, "external": False,
                "labels": {"app.kubernetes.io/name": name, "app.kubernetes.io/component": component}}

    eps = {c: pod(c) for c in ("gateway", "auth", "message", "presence")}
    if overlay == "dev":
        eps["postgres"], eps["redis"] = pod("postgres"), pod("redis")
    eps["ingress-controller"] = {"ns": "ingress-nginx", "external": False,
                                 "labels": {"app.kubernetes.io/name": "ingress-nginx"}}
    eps["prometheus"] = {"ns": "monitoring", "external": False, "labels": {"app": "prometheus"}}
    eps["coredns"] = {"ns": "kube-system", "external": False, "labels": {"k8s-app": "kube-dns"}}
    eps["stranger"] = {"ns": "default", "external": False, "labels": {"app": "other"}}
    eps["stranger-here"] = {"ns": NS, "external": False, "labels": {"app": "other"}}
    eps["outside"] = {"ns": None, "external": True, "labels": {}}

    apps = ["gateway", "auth", "message", "presence"]
    want = {("ingress-controller", "gateway", 8080)}
    want |= {("gateway", "auth", 50051), ("gateway", "message", 50052), ("gateway", "presence", 50053),
             ("message", "auth", 50051), ("presence", "auth", 50051), ("presence", "message", 50052)}
    # Web Push: the message service posts to the browsers' push services.
    want |= {("message", "outside", 443)}
    want |= {("prometheus", a, 9100) for a in apps}
    if overlay == "dev":
        want |= {(a, "postgres", 5432) for a in ("auth", "message")}
        want |= {(a, "redis", 6379) for a in apps}
    elif overlay == "prod":
        want |= {(a, "outside", 5432) for a in ("auth", "message")}
        want |= {(a, "outside", p) for a in apps for p in (6379, 6380)}
    ports = {8080, 50051, 50052, 50053, 9100, 5432, 6379, 6380, 443}
    inside = [e for e, v in eps.items() if not v["external"] and v["ns"] == NS]
    for a in eps:
        for b in eps:
            if a == b or (a not in inside and b not in inside):
                continue
            for port in ports:
                got = _allowed(policies, eps[a], eps[b], port, "TCP")
                if got != ((a, b, port) in want):
                    problem(f"{overlay}: NetworkPolicies {'allow' if got else 'refuse'} {a} -> {b}:{port}")
    for a in inside:
        for proto in ("UDP", "TCP"):
            if not _allowed(policies, eps[a], eps["coredns"], 53, proto):
                problem(f"{overlay}: NetworkPolicies refuse {a} DNS over {proto}")
        if _allowed(policies, eps[a], eps["stranger"], 53, "UDP"):
            problem(f"{overlay}: {a} may reach port 53 outside kube-system")


# ------------------------------------------------------------------- Compose

INTERPOLATION = re.compile(
    r"\$(?:(?P<escaped>\$)|(?P<named>[_A-Za-z][_A-Za-z0-9]*)"
    r"|\{(?P<braced>[_A-Za-z][_A-Za-z0-9]*)(?P<op>:?[-?+])?(?P<arg>[^}]*)\})"
)


class Missing(Exception):
    pass


def interpolate(value, env):
    """Compose's variable syntax (the subset without nesting)."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def sub(m):
        if m.group("escaped"):
            return "$"
        name = m.group("named") or m.group("braced")
        op, arg = m.group("op"), m.group("arg") or ""
        val = env.get(name)
        empty = val is None or (op and op.startswith(":") and val == "")
        if op in (":?", "?") and empty:
            raise Missing(f"{name}: {arg}")
        if op in (":-", "-") and empty:
            return arg
        if op in (":+", "+"):
            return "" if empty else arg
        return val or ""

    return INTERPOLATION.sub(sub, value)


REQUIRED = ("JWT_SECRET", "INTERNAL_TOKEN", "POSTGRES_PASSWORD")
# Besides logging, the settings each process of docker-compose.yml reads.
COMPOSE_ENV = {
    "auth": {"AUTH_LISTEN_ADDR", "INTERNAL_TOKEN", "JWT_SECRET", "DATABASE_URL", "REDIS_URL"},
    "message": {"MESSAGE_LISTEN_ADDR", "INTERNAL_TOKEN", "DATABASE_URL", "REDIS_URL", "AUTH_URL",
                "VAPID_PRIVATE_KEY", "VAPID_SUBJECT"},
    "presence": {"PRESENCE_LISTEN_ADDR", "INTERNAL_TOKEN", "REDIS_URL", "AUTH_URL", "MESSAGE_URL"},
    "gateway": {"GATEWAY_ADDR", "GATEWAY_INSTANCE_ID", "INTERNAL_TOKEN", "REDIS_URL", "AUTH_URL",
                "MESSAGE_URL", "PRESENCE_URL", "ALLOWED_ORIGINS", "COOKIE_SECURE", "TRUST_FORWARDED_FOR"},
}
LOGGING = {"RUST_LOG", "LOG_FORMAT", "METRICS_ADDR"}


def check_compose(path):
    root = os.path.dirname(os.path.abspath(path))
    text = open(path).read()
    if "CHANGE-ME" in text:
        problem("compose: a CHANGE-ME placeholder is left")
    raw = yaml.safe_load(text)

    # Every required secret stops compose when unset or empty, each alone.
    dummy = {k: "x" * 40 for k in REQUIRED}
    for name in REQUIRED:
        env = {k: v for k, v in dummy.items() if k != name}
        try:
            interpolate(raw, env)
            problem(f"compose: starts without {name}")
        except Missing as e:
            if not str(e).startswith(name + ":"):
                problem(f"compose: without {name} the error names {e}")
        for mark in (f"${{{name}}}", f"${{{name}:-", f"${{{name}-"):
            if mark in text:
                problem(f"compose: {name} is used without :? ({mark}...)")
    try:
        conf = interpolate(raw, dummy)
    except Missing as e:
        problem(f"compose: still refuses with every secret given: {e}")
        return

    services = conf["services"]
    gateways = sorted(n for n in services if n.startswith("gateway"))
    if len(gateways) != 2:
        problem(f"compose: gateways {gateways}, expected two")
    if "nginx" not in services or not services["nginx"]["image"].startswith("nginx:"):
        problem("compose: no nginx service on the official image")

    for name, svc in services.items():
        published = svc.get("ports")
        if published and name != "nginx":
            problem(f"compose: {name} publishes ports {published} (nginx alone may)")
        if "healthcheck" not in svc:
            problem(f"compose: {name} has no healthcheck")
        for dep, cond in (svc.get("depends_on") or {}).items():
            if dep not in services:
                problem(f"compose: {name} depends on unknown {dep}")
            elif cond.get("condition") == "service_healthy" and "healthcheck" not in services[dep]:
                problem(f"compose: {name} waits for {dep}'s health, which it has none of")
        for vol in svc.get("volumes") or []:
            if isinstance(vol, dict) and vol.get("type") == "bind":
                src = os.path.join(root, vol["source"])
                if not os.path.exists(src):
                    problem(f"compose: {name} mounts missing {vol['source']}")
        kind = "gateway" if name.startswith("gateway") else name
        if kind in COMPOSE_ENV:
            keys = set((svc.get("environment") or {}).keys()) - LOGGING
            if keys != COMPOSE_ENV[kind]:
                problem(f"compose: {name} gets {sorted(keys)}, expected {sorted(COMPOSE_ENV[kind])}")
            test = " ".join(svc.get("healthcheck", {}).get("test", []))
            if kind != "gateway" and "grpc-health" not in test:
                problem(f"compose: {name}'s healthcheck is not the gRPC health check")
            if kind == "gateway" and "/readyz" not in test:
                problem(f"compose: {name}'s healthcheck is not /readyz")

    if nginx := services.get("nginx"):
        if set(nginx.get("networks", [])) != {"edge"}:
            problem("compose: nginx is on networks other than edge")
    # Networks mirror the NetworkPolicies: who shares one can connect.
    members = {}
    for name, svc in services.items():
        for net in svc.get("networks") or []:
            members.setdefault(net, set()).add(name)
    expect = {
        "postgres": {"postgres", "auth", "message"},
        "redis": {"redis", "auth", "message", "presence", *gateways},
    }
    for net, want in expect.items():
        if members.get(net) != want:
            problem(f"compose: network {net} joins {sorted(members.get(net, []))}, expected {sorted(want)}")

    nginx_conf = os.path.join(root, "deploy/compose/nginx.conf")
    conf_text = open(nginx_conf).read()
    for needle in ("proxy_set_header Upgrade $http_upgrade", "proxy_set_header Connection $connection_upgrade",
                   "proxy_read_timeout 3600s", "proxy_send_timeout 3600s", "proxy_buffering off",
                   "proxy_http_version 1.1", "proxy_set_header Host $http_host",
                   "proxy_set_header X-Forwarded-For $remote_addr"):
        if needle not in conf_text:
            problem(f"compose: deploy/compose/nginx.conf lacks `{needle}`")
    for g in gateways:
        if f"server {g}:8080" not in conf_text:
            problem(f"compose: deploy/compose/nginx.conf does not send to {g}")


# ------------------------------------------------- the compose gRPC probe


def check_probe(script):
    """deploy/compose/grpc-health against real gRPC servers (grpcio): passes
    on SERVING only."""
    import socket
    import subprocess
    from concurrent import futures

    import grpc
    from grpc_health.v1 import health, health_pb2, health_pb2_grpc

    servers = []

    def serve(status):
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        servicer = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
        port = server.add_insecure_port("127.0.0.1:0")
        servicer.set("", status)
        server.start()
        servers.append(server)
        return port

    up = serve(health_pb2.HealthCheckResponse.SERVING)
    down = serve(health_pb2.HealthCheckResponse.NOT_SERVING)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    try:
        for port, want, what in ((up, 0, "SERVING"), (down, 1, "NOT_SERVING"), (closed, 1, "a closed port")):
            rc = subprocess.run(["bash", script, str(port)], stderr=subprocess.DEVNULL, timeout=10).returncode
            if (rc == 0) != (want == 0):
                problem(f"probe: {script} exits {rc} for {what}")
    finally:
        for server in servers:
            server.stop(0)


def main():
    what = sys.argv[1]
    if what == "k8s":
        check_k8s(sys.argv[2], sys.argv[3])
    elif what == "compose":
        check_compose(sys.argv[2])
    elif what == "probe":
        check_probe(sys.argv[2])
    else:
        sys.exit(f"unknown check {what}")
    sys.exit(1 if PROBLEMS else 0)


if __name__ == "__main__":
    main()
