"""A DNS server on loopback that knows one name, so that KEDA can dial the scaler by its Service name.

There is no cluster DNS on the e2e control plane. KEDA's gRPC client accepts a target naming its DNS
server (``dns://127.0.0.1:<port>/gpuscale.gpuscale-system.svc:<port>``), and then verifies the scaler's
certificate against that Service name, exactly as in a cluster.
"""

from __future__ import annotations

from typing import Any

from dnslib import QTYPE, RCODE, RR, A
from dnslib.server import BaseResolver, DNSLogger, DNSServer


class _OneName(BaseResolver):  # type: ignore[misc]
    def __init__(self, name: str, addresses: tuple[str, ...]) -> None:
        self.name = name.rstrip(".").lower()
        self.addresses = addresses

    def resolve(self, request: Any, handler: Any) -> Any:
        reply = request.reply()
        question = request.q
        if str(question.qname).rstrip(".").lower() != self.name:
            reply.header.rcode = RCODE.NXDOMAIN
        elif question.qtype == QTYPE.A:
            for address in self.addresses:
                reply.add_answer(RR(question.qname, QTYPE.A, rdata=A(address), ttl=30))
        # the name exists: any other type (AAAA) is an empty answer, not NXDOMAIN
        return reply


class LoopbackDns:
    """Answers ``name`` with loopback ``addresses`` over UDP and TCP on one loopback port (``port``)."""

    def __init__(self, name: str, addresses: tuple[str, ...] = ("127.0.0.1",)) -> None:
        self.resolver = resolver = _OneName(name, addresses)
        quiet = DNSLogger(logf=lambda _: None)
        self.udp = DNSServer(resolver, address="127.0.0.1", port=0, logger=quiet)
        self.port: int = self.udp.server.server_address[1]
        self.tcp = DNSServer(resolver, address="127.0.0.1", port=self.port, tcp=True, logger=quiet)

    def start(self) -> LoopbackDns:
        self.udp.start_thread()
        self.tcp.start_thread()
        return self

    def stop(self) -> None:
        self.udp.stop()
        self.tcp.stop()

    def route(self, *addresses: str) -> None:
        """Answer these addresses from now on: a ClusterIP Service sends a new connection to a live pod."""
        self.resolver.addresses = addresses

    def target(self, name: str, port: int) -> str:
        """A gRPC target that resolves ``name`` through this server."""
        return f"dns://127.0.0.1:{self.port}/{name}:{port}"
