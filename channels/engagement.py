"""Who opened or clicked: a person, a privacy proxy or a security scanner
(SPEC §13, docs/ENGAGEMENT.md).

Each open and click is classified when it is recorded, from what the request
itself shows (user agent, address, the hidden trap link, how long after the
send it came). What only later requests reveal — a scanner clicking every link
of a message within a second or two, or following the trap link after the
real ones — re-classifies the earlier events in ``channels/services.py``.

Only positive evidence makes an event a machine's: a request that shows none
(no user agent at all included) counts as a person's. These are heuristics,
written down so a marketer can judge them; none of them needs the internet.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings

HUMAN = "human"
MACHINE_PRIVACY = "machine_privacy"
MACHINE_SCANNER = "machine_scanner"

# The rules, as kept on each event (``DeliveryEvent.rule``).
APPLE_MPP_PROXY = "apple_mpp_proxy"
APPLE_MPP_USER_AGENT = "apple_mpp_user_agent"
GOOGLE_IMAGE_PROXY = "google_image_proxy"  # a person's open, fetched through Gmail
SCANNER_USER_AGENT = "scanner_user_agent"
BARE_USER_AGENT = "bare_user_agent"
CLICK_SOON_AFTER_SEND = "click_within_seconds_of_delivery"
BURST_ALL_LINKS = "burst_all_links"
TRAP_LINK = "trap_link"

# Clicks on one message within this long of a trap-link hit are the scanner's
# that followed it: scanners walk a message's links within seconds.
TRAP_WINDOW_SECONDS = 60

# Apple Mail Privacy Protection fetches every remote image of a message when it
# reaches the device — whether or not anyone reads it — through Apple's proxy,
# which sends exactly this user agent and nothing else. No mail client or
# browser a person uses sends a bare "Mozilla/5.0".
BARE_MOZILLA = "Mozilla/5.0"

# Fragments (case-insensitive) of user agents that security gateways, link
# scanners, link previews and scripts send. Many scanners pretend to be a
# browser: the timing, burst and trap rules catch those.
SCANNER_AGENTS = (
    "barracuda",
    "proofpoint",
    "mimecast",
    "ironport",
    "messagelabs",
    "symantec",
    "trendmicro",
    "trend micro",
    "sophos",
    "fortiguard",
    "forcepoint",
    "zscaler",
    "appriver",
    "safelinks",
    "safe links",
    "microsoft defender",
    "atp-safelinks",
    "bingpreview",
    "google-safety",
    "googlebot",
    "headlesschrome",
    "phantomjs",
    "python-requests",
    "python-urllib",
    "aiohttp",
    "go-http-client",
    "curl/",
    "wget/",
    "libwww-perl",
    "okhttp",
    "java/",
    "apache-httpclient",
    "facebookexternalhit",
    "slackbot",
    "twitterbot",
    "linkedinbot",
    "discordbot",
    "telegrambot",
    "whatsapp",
    "skypeuripreview",
    "spider",
    "crawler",
)

_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class Verdict:
    classification: str
    rule: str = ""

    @property
    def human(self) -> bool:
        return self.classification == HUMAN


PERSON = Verdict(HUMAN)


def _in_proxy_networks(ip: str) -> bool:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(address in network for network in settings.TRACKING_PRIVACY_PROXY_NETWORKS)


def _scanner_agent(agent: str) -> bool:
    lowered = agent.lower()
    extra = [fragment.lower() for fragment in settings.TRACKING_SCANNER_USER_AGENTS]
    return any(fragment in lowered for fragment in (*SCANNER_AGENTS, *extra))


def _normal(agent: str) -> str:
    return _SPACES.sub(" ", agent or "").strip()


def classify_open(*, user_agent: str, ip: str) -> Verdict:
    """An open pixel fetched with ``user_agent`` from ``ip``."""
    agent = _normal(user_agent)
    if agent and _scanner_agent(agent):
        return Verdict(MACHINE_SCANNER, SCANNER_USER_AGENT)
    if agent == BARE_MOZILLA:
        if _in_proxy_networks(ip):
            return Verdict(MACHINE_PRIVACY, APPLE_MPP_PROXY)
        # Apple's proxy seen through a relay that hides its address.
        return Verdict(MACHINE_PRIVACY, APPLE_MPP_USER_AGENT)
    if "googleimageproxy" in agent.lower():
        # Gmail fetches images when the message is opened (then caches them):
        # a person's open, as far as anyone can tell.
        return Verdict(HUMAN, GOOGLE_IMAGE_PROXY)
    return PERSON


def classify_click(
    *,
    user_agent: str,
    channel: str,
    sent_at: datetime | None,
    now: datetime,
    trap: bool = False,
) -> Verdict:
    """A click as the request alone shows it; ``services`` then looks at the
    message's other recent clicks (burst, trap)."""
    agent = _normal(user_agent)
    if trap:
        return Verdict(MACHINE_SCANNER, TRAP_LINK)
    if agent and _scanner_agent(agent):
        return Verdict(MACHINE_SCANNER, SCANNER_USER_AGENT)
    if agent == BARE_MOZILLA:
        return Verdict(MACHINE_SCANNER, BARE_USER_AGENT)
    # Email only: a push notification or a text can be tapped within seconds.
    if (
        channel == "email"
        and sent_at is not None
        and (now - sent_at).total_seconds() <= settings.TRACKING_SCANNER_CLICK_SECONDS
    ):
        return Verdict(MACHINE_SCANNER, CLICK_SOON_AFTER_SEND)
    return PERSON
