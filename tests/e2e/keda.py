"""KEDA's operator and metrics adapter, built from its own module, running against the control plane.

The CRDs come from KEDA's module (config/crd/bases). Both processes run on the host with a shared
certificate (the operator's gRPC metrics service and the adapter's client and HTTPS serving). The
aggregation layer reaches the adapter through an ExternalName Service pointing at localhost: there is
no kube-proxy, and an Endpoints object may not name a loopback address.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass

from tests.e2e.controlplane import ControlPlane, go_module_dir, versions
from tests.support.net import free_port

NAMESPACE = "keda"
ADAPTER_SERVICE = "keda-metrics-apiserver"


@dataclass
class Keda:
    plane: ControlPlane

    def install(self) -> Keda:
        plane = self.plane
        crds = go_module_dir("github.com/kedacore/keda/v2", versions()["KEDA_VERSION"]) / "config" / "crd" / "bases"
        plane.kubectl("create", "namespace", NAMESPACE)
        for crd in sorted(crds.glob("*.yaml")):
            plane.kubectl("apply", "--server-side", "-f", str(crd))
        certs = plane.root / "keda-certs"
        certs.mkdir()
        sans = ",".join(
            [
                "DNS:localhost",
                "IP:127.0.0.1",
                f"DNS:keda-operator.{NAMESPACE}.svc",
                f"DNS:keda-operator.{NAMESPACE}.svc.cluster.local",
                f"DNS:{ADAPTER_SERVICE}.{NAMESPACE}.svc",
            ]
        )
        plane.pki.leaf("keda", "/CN=keda", "ca", sans)
        for source, target in (("ca.crt", "ca.crt"), ("keda.crt", "tls.crt"), ("keda.key", "tls.key")):
            (certs / target).write_bytes((plane.pki.dir / source).read_bytes())
        env = {
            **os.environ,
            "KUBECONFIG": str(plane.kubeconfig),
            "POD_NAMESPACE": NAMESPACE,
            "KEDA_CLUSTER_OBJECT_NAMESPACE": NAMESPACE,
            "WATCH_NAMESPACE": "",
        }
        self.grpc_port = free_port()
        self.operator_metrics_port = free_port()
        plane.spawn(
            "keda-operator",
            [
                f"--metrics-bind-address=127.0.0.1:{self.operator_metrics_port}",
                f"--health-probe-bind-address=127.0.0.1:{free_port()}",
                f"--metrics-service-bind-address=127.0.0.1:{self.grpc_port}",
                f"--cert-dir={certs}",
                "--enable-cert-rotation=false",
                "--enable-webhook-patching=false",
                "--enable-apiservice-patching=false",
                "--leader-elect=false",
                "--zap-log-level=info",
            ],
            env=env,
        )
        self.adapter_port = free_port()
        plane.spawn(
            "keda-adapter",
            [
                f"--secure-port={self.adapter_port}",
                "--bind-address=127.0.0.1",
                f"--port={free_port()}",
                f"--cert-dir={certs}",
                f"--tls-cert-file={certs / 'tls.crt'}",
                f"--tls-private-key-file={certs / 'tls.key'}",
                f"--client-ca-file={certs / 'ca.crt'}",
                f"--metrics-service-address=127.0.0.1:{self.grpc_port}",
                f"--authentication-kubeconfig={plane.kubeconfig}",
                f"--authorization-kubeconfig={plane.kubeconfig}",
                f"--lister-kubeconfig={plane.kubeconfig}",
                f"--kubeconfig={plane.kubeconfig}",
                "--zap-log-level=info",
            ],
            env=env,
        )
        ca_bundle = base64.b64encode((certs / "ca.crt").read_bytes()).decode()
        objects = [
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": ADAPTER_SERVICE, "namespace": NAMESPACE},
                "spec": {
                    "type": "ExternalName",
                    "externalName": "localhost",
                    "ports": [{"name": "https", "port": self.adapter_port}],
                },
            },
            {
                "apiVersion": "apiregistration.k8s.io/v1",
                "kind": "APIService",
                "metadata": {"name": "v1beta1.external.metrics.k8s.io"},
                "spec": {
                    "service": {"name": ADAPTER_SERVICE, "namespace": NAMESPACE, "port": self.adapter_port},
                    "group": "external.metrics.k8s.io",
                    "version": "v1beta1",
                    "caBundle": ca_bundle,
                    "groupPriorityMinimum": 100,
                    "versionPriority": 100,
                },
            },
        ]
        plane.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}))

        def serving() -> bool:
            proc = plane.kubectl("get", "--raw", "/apis/external.metrics.k8s.io/v1beta1", check=False)
            return proc.returncode == 0

        plane.wait(serving, 120, "external.metrics.k8s.io through the aggregation layer", "keda-adapter")
        return self
