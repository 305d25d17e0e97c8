"""The test cluster's DNS: ``<service>.<namespace>.svc.cluster.local`` answered from the API server.

What CoreDNS's kubernetes plugin does for Services, and no more: a ClusterIP Service's name is
its cluster IP; a headless Service's name is the addresses of its ready endpoints. Nothing is
forwarded: a name outside the cluster domain is refused, so no pod query leaves this machine.
It listens on the pod bridge's gateway address, which the kubelet gives pods as their
nameserver (``clusterDNS``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from dnslib import QTYPE, RCODE, RR, A, DNSRecord
from dnslib.server import BaseResolver, DNSLogger, DNSServer
from kubernetes import client
from kubernetes.client.exceptions import ApiException

TTL = 5


@dataclass
class ClusterResolver(BaseResolver):  # type: ignore[misc]
    api: client.ApiClient
    domain: str = "cluster.local"
    queries: int = 0
    answered: dict[str, list[str]] = field(default_factory=dict)
    """The last answer per name, for a test to read."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def addresses(self, name: str) -> list[str] | None:
        """The A records of a Service name, or None when there is no such Service."""
        suffix = f".svc.{self.domain}"
        if not name.endswith(suffix):
            return None
        parts = name.removesuffix(suffix).split(".")
        if len(parts) != 2:
            return None
        service_name, namespace = parts
        core = client.CoreV1Api(self.api)
        try:
            service = core.read_namespaced_service(service_name, namespace)
        except ApiException:
            return None
        if service.spec.cluster_ip and service.spec.cluster_ip != "None":
            return [service.spec.cluster_ip]
        try:
            endpoints = core.read_namespaced_endpoints(service_name, namespace)
        except ApiException:
            return []
        return sorted(
            address.ip for subset in (endpoints.subsets or []) for address in (subset.addresses or [])
        )

    def resolve(self, request: DNSRecord, handler: object) -> DNSRecord:
        reply = request.reply()
        name = str(request.q.qname).rstrip(".").lower()
        with self.lock:
            self.queries += 1
        if not name.endswith(f".{self.domain}"):
            reply.header.rcode = RCODE.REFUSED
            return reply
        found = self.addresses(name)
        if found is None:
            reply.header.rcode = RCODE.NXDOMAIN
            return reply
        if request.q.qtype in (QTYPE.A, QTYPE.ANY):
            for address in found:
                reply.add_answer(RR(request.q.qname, QTYPE.A, rdata=A(address), ttl=TTL))
        with self.lock:
            self.answered[name] = found
        return reply  # AAAA and the rest: the name exists, with no such record


class ClusterDNS:
    def __init__(self, api: client.ApiClient, address: str, port: int = 53) -> None:
        self.resolver = ClusterResolver(api)
        quiet = DNSLogger(log="-request,-reply,-truncated,-error,-recv,-send,-data", prefix=False)
        self.servers = [
            DNSServer(self.resolver, address=address, port=port, logger=quiet, tcp=tcp)
            for tcp in (False, True)
        ]

    def start(self) -> ClusterDNS:
        for server in self.servers:
            server.start_thread()
        return self

    def stop(self) -> None:
        for server in self.servers:
            server.stop()
            server.server.server_close()
