"""Abuse limits on the routes anyone can call: lead intake per client IP, customer messages per conversation
and per IP. Applied as route dependencies; the counting itself is the `RateLimiter` adapter's.

The client IP is the TCP peer, unless the peer is one of `TRUSTED_PROXIES`: then `X-Forwarded-For` is read
from the right, skipping trusted proxies, and the first address that is not one is the client. (Everything to
its left was written by the client and proves nothing.) uvicorn's own proxy-header handling is off (cli.py),
so this is the only place a forwarded address is believed.
"""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import IPv4Address, IPv6Address, ip_address

from fastapi import Request

from aibroker.api.deps import ContainerDep, CustomerConversation
from aibroker.bootstrap import Container
from aibroker.config import IPNetwork
from aibroker.domain.ports import RateCharge
from aibroker.errors import RateLimited

REASONS = {
    "leads_per_ip": "too many leads from this address",
    "messages_per_conversation": "too many messages in this conversation",
    "messages_per_ip": "too many messages from this address",
}
def _address(text: str) -> IPv4Address | IPv6Address | None:
    try:
        return ip_address(text.strip())
    except ValueError:
        return None


def _trusted(address: IPv4Address | IPv6Address | None, networks: Sequence[IPNetwork]) -> bool:
    return address is not None and any(address in network for network in networks)


def client_ip(peer: str | None, forwarded_for: Sequence[str], trusted: Sequence[IPNetwork]) -> str:
    """The client's address as far as it can be verified (see the module docstring)."""
    client = peer or "unknown"
    if not _trusted(_address(client), trusted):
        return client
    hops = [hop for header in forwarded_for for hop in header.split(",") if hop.strip()]
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:  # garbage: the last address a trusted proxy vouched for stands
            break
        client = str(address)
        if not _trusted(address, trusted):
            break
    return client


def request_client_ip(request: Request) -> str:
    settings = request.app.state.container.settings
    return client_ip(request.client.host if request.client else None, request.headers.getlist("x-forwarded-for"),
                     settings.trusted_networks)


async def _enforce(container: Container, charges: list[RateCharge]) -> None:
    if container.limiter is None:  # RATE_LIMITS_ENABLED=false
        return
    refusal = await container.limiter.acquire(charges)
    if refusal is not None:
        raise RateLimited(REASONS[refusal.charge.policy], refusal.retry_after_s)


async def limit_leads(request: Request, container: ContainerDep) -> None:
    await _enforce(container, [RateCharge("leads_per_ip", request_client_ip(request))])


async def limit_customer_messages(request: Request, container: ContainerDep, record: CustomerConversation) -> None:
    """Per conversation and per IP, once the caller has shown it may post here (its token or the admin token):
    a stranger cannot use up a customer's allowance, and posting to made-up ids creates no buckets. (FastAPI
    resolves `CustomerConversation` once per request: the route gets the same record.)"""
    await _enforce(container, [RateCharge("messages_per_conversation", str(record.id)),
                               RateCharge("messages_per_ip", request_client_ip(request))])
