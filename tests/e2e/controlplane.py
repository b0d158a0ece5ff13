"""A real Kubernetes control plane on loopback, from binaries built by scripts/e2e-build.

etcd, kube-apiserver (with the aggregation layer), kube-controller-manager (the HPA), kube-scheduler,
and kwok for a GPU node and the pod lifecycle: a pod becomes Ready after the delay its template's
``pod-ready.stage.kwok.x-k8s.io/delay`` annotation asks for, so cold starts are real pod timestamps.
Every process logs to a file under ``root``; a component that does not come up raises with its log.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.net import free_port

ROOT = Path(__file__).resolve().parents[2]
VERSIONS = ROOT / "deploy" / "e2e" / "versions.env"


class ControlPlaneError(RuntimeError):
    """A component did not start; the message carries the end of its log."""


def versions() -> dict[str, str]:
    out = {}
    for line in VERSIONS.read_text(encoding="utf-8").splitlines():
        key, sep, value = line.partition("=")
        if sep and not key.startswith("#"):
            out[key.strip()] = value.strip()
    return out


def binaries() -> dict[str, Path]:
    """Each component's cached binary, as scripts/e2e-build names it; a missing one is an error."""
    proc = subprocess.run([str(ROOT / "scripts" / "e2e-build"), "--list"], capture_output=True, text=True, check=True)
    out: dict[str, Path] = {}
    missing = []
    for line in proc.stdout.splitlines():
        path_text, status = line.rsplit(" ", 1)
        path = Path(path_text)
        name = path.name.rsplit("-v", 1)[0]
        out[name] = path
        if status != "cached":
            missing.append(name)
    if missing:
        raise ControlPlaneError(f"not built: {', '.join(missing)}; run scripts/e2e-build (cached after the first run)")
    return out


def go_module_dir(module: str, version: str) -> Path:
    """Where the Go module cache holds ``module@version`` (KEDA's CRDs, kwok's stages), downloaded if needed."""
    proc = subprocess.run(
        ["go", "mod", "download", "-json", f"{module}@{version}"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT / "deploy" / "e2e",
        env={**os.environ, "GOTOOLCHAIN": "local"},
    )
    return Path(json.loads(proc.stdout)["Dir"])


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=cwd)


@dataclass(frozen=True)
class Pki:
    """A cluster CA, a front-proxy CA (the aggregation layer), the service-account keys and the leaves."""

    dir: Path

    def ca(self, name: str) -> None:
        _openssl(
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.crt",
            "-days", "2", "-subj", f"/CN={name}", cwd=self.dir,
        )  # fmt: skip

    def leaf(self, name: str, subject: str, ca: str, sans: str = "", usage: str = "serverAuth,clientAuth") -> None:
        _openssl(
            "req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
            "-subj", subject, cwd=self.dir,
        )  # fmt: skip
        ext = self.dir / f"{name}.ext"
        ext.write_text(f"extendedKeyUsage={usage}\n" + (f"subjectAltName={sans}\n" if sans else ""), encoding="utf-8")
        _openssl(
            "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key", "-CAcreateserial",
            "-out", f"{name}.crt", "-days", "2", "-extfile", ext.name, cwd=self.dir,
        )  # fmt: skip

    def path(self, name: str) -> str:
        return str(self.dir / name)


@dataclass
class ControlPlane:
    root: Path
    #: seconds from a pod's creation to Ready: its cold start (kwok's stage delay)
    cold_start_s: float = 8.0
    bins: dict[str, Path] = field(default_factory=binaries)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.pki = Pki(self.root / "pki")
        self.apiserver_port = free_port()
        self.kubeconfig = self.root / "kubeconfig"

    # --- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> ControlPlane:
        self._make_pki()
        self._start_etcd()
        self._start_apiserver()
        self._write_kubeconfig(self.kubeconfig, "admin")
        common = [
            f"--kubeconfig={self.kubeconfig}",
            f"--authentication-kubeconfig={self.kubeconfig}",
            f"--authorization-kubeconfig={self.kubeconfig}",
            "--bind-address=127.0.0.1",
            "--leader-elect=false",
        ]
        self.spawn(
            "kube-controller-manager",
            [
                *common,
                f"--secure-port={free_port()}",
                "--controllers=*",
                f"--service-account-private-key-file={self.pki.path('sa.key')}",
                f"--root-ca-file={self.pki.path('ca.crt')}",
                f"--cluster-signing-cert-file={self.pki.path('ca.crt')}",
                f"--cluster-signing-key-file={self.pki.path('ca.key')}",
                "--horizontal-pod-autoscaler-sync-period=5s",
            ],
        )
        self.spawn("kube-scheduler", [*common, f"--secure-port={free_port()}"])
        self._start_kwok()
        self.wait(
            lambda: self.kubectl("get", "serviceaccount", "default", check=False).returncode == 0,
            60,
            "the default ServiceAccount",
        )
        return self

    def stop(self) -> None:
        for name in reversed(list(self.processes)):
            proc = self.processes[name]
            if proc.poll() is None:
                proc.terminate()
        for proc in self.processes.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        self.processes.clear()

    def spawn(
        self, name: str, args: list[str], binary: Path | None = None, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """Start a component with its log in ``root/<name>.log``; it must still run a moment later."""
        log = (self.root / f"{name}.log").open("wb")
        proc = subprocess.Popen(
            [str(binary or self.bins[name]), *args], stdout=log, stderr=subprocess.STDOUT, cwd=self.root, env=env
        )
        self.processes[name] = proc
        return proc

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.root / f"{name}.log"
        text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def wait(self, ready: Callable[[], bool], timeout: float, what: str, component: str | None = None) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, proc in self.processes.items():
                if proc.poll() is not None:
                    raise ControlPlaneError(f"{name} exited with {proc.returncode}:\n{self.log_tail(name)}")
            if ready():
                return
            time.sleep(0.2)
        tail = f":\n{self.log_tail(component)}" if component else ""
        raise ControlPlaneError(f"timed out after {timeout:.0f}s waiting for {what}{tail}")

    # --- clients -----------------------------------------------------------------------------------
    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [str(self.bins["kubectl"]), f"--kubeconfig={self.kubeconfig}", *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if check and proc.returncode != 0:
            raise ControlPlaneError(f"kubectl {' '.join(args)} failed: {proc.stderr.strip()}")
        return proc

    def get_json(self, *args: str) -> dict[str, object]:
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)  # type: ignore[no-any-return]

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.apiserver_port}"

    def user_kubeconfig(self, user: str, subject: str) -> Path:
        """A kubeconfig for a client-certificate user: ``subject`` is its X.509 subject (CN user, O group)."""
        self.pki.leaf(user, subject, "ca", usage="clientAuth")
        path = self.root / f"kubeconfig-{user}"
        self._write_kubeconfig(path, user)
        return path

    # --- components --------------------------------------------------------------------------------
    def _make_pki(self) -> None:
        self.pki.dir.mkdir(parents=True, exist_ok=True)
        self.pki.ca("ca")
        self.pki.ca("front-proxy-ca")
        sans = "DNS:localhost,IP:127.0.0.1,IP:10.0.0.1,DNS:kubernetes,DNS:kubernetes.default.svc"
        self.pki.leaf("apiserver", "/CN=kube-apiserver", "ca", sans, "serverAuth")
        self.pki.leaf("admin", "/O=system:masters/CN=admin", "ca", usage="clientAuth")
        self.pki.leaf("front-proxy-client", "/CN=front-proxy-client", "front-proxy-ca", usage="clientAuth")
        _openssl("genrsa", "-out", "sa.key", "2048", cwd=self.pki.dir)
        _openssl("rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=self.pki.dir)

    def _start_etcd(self) -> None:
        self.etcd_port = free_port()
        self.spawn(
            "etcd",
            [
                f"--data-dir={self.root / 'etcd'}",
                f"--listen-client-urls=http://127.0.0.1:{self.etcd_port}",
                f"--advertise-client-urls=http://127.0.0.1:{self.etcd_port}",
                f"--listen-peer-urls=http://127.0.0.1:{free_port()}",
                "--log-level=warn",
            ],
        )

    def _start_apiserver(self) -> None:
        p = self.pki.path
        self.spawn(
            "kube-apiserver",
            [
                f"--etcd-servers=http://127.0.0.1:{self.etcd_port}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={self.apiserver_port}",
                f"--tls-cert-file={p('apiserver.crt')}",
                f"--tls-private-key-file={p('apiserver.key')}",
                f"--client-ca-file={p('ca.crt')}",
                "--service-account-issuer=https://kubernetes.default.svc",
                f"--service-account-key-file={p('sa.pub')}",
                f"--service-account-signing-key-file={p('sa.key')}",
                "--service-cluster-ip-range=10.0.0.0/24",
                "--authorization-mode=Node,RBAC",
                # the aggregation layer, so that KEDA's adapter can serve external.metrics.k8s.io
                f"--requestheader-client-ca-file={p('front-proxy-ca.crt')}",
                "--requestheader-allowed-names=front-proxy-client",
                "--requestheader-username-headers=X-Remote-User",
                "--requestheader-group-headers=X-Remote-Group",
                "--requestheader-extra-headers-prefix=X-Remote-Extra-",
                f"--proxy-client-cert-file={p('front-proxy-client.crt')}",
                f"--proxy-client-key-file={p('front-proxy-client.key')}",
            ],
        )
        admin = (p("admin.crt"), p("admin.key"))

        def ready() -> bool:
            proc = subprocess.run(
                [
                    "curl",
                    "-sf",
                    "--cacert",
                    p("ca.crt"),
                    "--cert",
                    admin[0],
                    "--key",
                    admin[1],
                    f"{self.server}/readyz",
                ],
                capture_output=True,
                check=False,
            )
            return proc.returncode == 0

        self.wait(ready, 90, "kube-apiserver /readyz", "kube-apiserver")

    def _write_kubeconfig(self, path: Path, user: str) -> None:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": "e2e", "cluster": {"server": self.server, "certificate-authority": self.pki.path("ca.crt")}}
            ],
            "users": [
                {
                    "name": user,
                    "user": {
                        "client-certificate": self.pki.path(f"{user}.crt"),
                        "client-key": self.pki.path(f"{user}.key"),
                    },
                }
            ],
            "contexts": [{"name": "e2e", "context": {"cluster": "e2e", "user": user}}],
            "current-context": "e2e",
        }
        path.write_text(json.dumps(config), encoding="utf-8")

    def _pod_stages(self) -> Path:
        """Two pod stages of our own: a new pod is Running and Ready ``cold_start_s`` after it was created
        (as one pull-and-load would take), and a deleted pod goes at once."""
        ready_template = """
conditions:
- {type: Initialized, status: "True", lastTransitionTime: {{ Now | Quote }}}
- {type: Ready, status: "True", lastTransitionTime: {{ Now | Quote }}}
- {type: ContainersReady, status: "True", lastTransitionTime: {{ Now | Quote }}}
- {type: PodScheduled, status: "True", lastTransitionTime: {{ Now | Quote }}}
containerStatuses:
{{ range .spec.containers }}
- name: {{ .name | Quote }}
  image: {{ .image | Quote }}
  ready: true
  started: true
  restartCount: 0
  state: {running: {startedAt: {{ Now | Quote }}}}
{{ end }}
hostIP: {{ NodeIPWith .spec.nodeName | Quote }}
podIP: {{ PodIPWith .spec.nodeName false ( or .metadata.uid "" ) ( or .metadata.name "" ) POD_NAMESPACE | Quote }}
phase: Running
startTime: {{ Now | Quote }}
"""
        ready_template = ready_template.replace("POD_NAMESPACE", '( or .metadata.namespace "" )')
        stages = [
            {
                "apiVersion": "kwok.x-k8s.io/v1alpha1",
                "kind": "Stage",
                "metadata": {"name": "pod-cold-start"},
                "spec": {
                    "resourceRef": {"apiGroup": "v1", "kind": "Pod"},
                    "selector": {
                        "matchExpressions": [
                            {"key": ".metadata.deletionTimestamp", "operator": "DoesNotExist"},
                            {"key": ".spec.nodeName", "operator": "Exists"},
                            {"key": ".status.podIP", "operator": "DoesNotExist"},
                        ]
                    },
                    "delay": {"durationMilliseconds": int(self.cold_start_s * 1000)},
                    "next": {"statusTemplate": ready_template},
                },
            },
            {
                "apiVersion": "kwok.x-k8s.io/v1alpha1",
                "kind": "Stage",
                "metadata": {"name": "pod-delete"},
                "spec": {
                    "resourceRef": {"apiGroup": "v1", "kind": "Pod"},
                    "selector": {
                        "matchExpressions": [
                            {"key": ".metadata.deletionTimestamp", "operator": "Exists"},
                            {"key": ".metadata.finalizers", "operator": "DoesNotExist"},
                        ]
                    },
                    "next": {"delete": True},
                },
            },
        ]
        path = self.root / "pod-stages.yaml"
        path.write_text("\n---\n".join(json.dumps(stage) for stage in stages), encoding="utf-8")
        return path

    def _start_kwok(self) -> None:
        stages = go_module_dir("sigs.k8s.io/kwok", versions()["KWOK_VERSION"]) / "kustomize" / "stage"
        configs = [
            stages / "node" / "fast" / "node-initialize.yaml",
            *sorted((stages / "node" / "heartbeat-with-lease").glob("*.yaml")),
            self._pod_stages(),
        ]
        self.spawn(
            "kwok",
            [
                f"--kubeconfig={self.kubeconfig}",
                "--manage-all-nodes=true",
                # kwok renews the node's lease like a kubelet, so the node lifecycle controller (which removes
                # the not-ready taint new nodes start with) never finds it silent and marks its pods NotReady
                "--node-lease-duration-seconds=40",
                f"--server-address=127.0.0.1:{free_port()}",
                *(f"--config={c}" for c in configs if c.name != "kustomization.yaml"),
            ],
        )
        node = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": "gpu-node-0",
                "labels": {"type": "kwok", "kubernetes.io/hostname": "gpu-node-0", "kubernetes.io/os": "linux"},
                "annotations": {"kwok.x-k8s.io/node": "fake"},
            },
            "status": {
                "capacity": {"cpu": "256", "memory": "2Ti", "pods": "250", "nvidia.com/gpu": "64"},
                "allocatable": {"cpu": "256", "memory": "2Ti", "pods": "250", "nvidia.com/gpu": "64"},
            },
        }
        self.kubectl("apply", "-f", "-", input=json.dumps(node))

        def node_ready() -> bool:
            status = self.get_json("node", "gpu-node-0").get("status", {})
            conditions = status.get("conditions", []) if isinstance(status, dict) else []
            return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)

        self.wait(node_ready, 60, "the kwok node to be Ready", "kwok")
