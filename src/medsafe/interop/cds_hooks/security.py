"""Who is calling? The CDS client's signed JWT, checked on every CDS Hooks request.

CDS Hooks 2.0, "Security and Safety" › "Trusting CDS Clients"
(https://cds-hooks.hl7.org/2.0/#trusting-cds-clients; the same text is in `HL7/cds-hooks`
`input/pagecontent/index.md`): every call, discovery included, carries
`Authorization: Bearer <JWT>` signed with the client's private key (JWS, RFC 7515). The
header has `alg`, `kid` (unique in the client's JWK Set) and `typ` = "JWT", and may have
`jku` (the JWK Set URL); the payload has `iss`, `aud` (the URL of the endpoint being
called, a string or an array of strings), `exp`, `iat`, `jti` (a nonce against replay) and
may have `tenant`. `none` and every symmetric algorithm (HMAC) SHALL NOT be used; ES384 and
RS384 are RECOMMENDED; services SHOULD allow-list `iss` and `jku`.

What this module decides beyond the specification, each a configurable local policy:
- Only RS384 and ES384 are accepted by default (the specification lets a service choose
  the algorithms it trusts; RS256 and others are asymmetric and may be switched on, HMAC
  and `none` never can).
- Keys come only from the JWK Set URL configured for the issuer. A `jku` in the token
  must equal that URL; it is never fetched from the token, so a caller cannot make the
  service fetch from an address of its choosing.
- An unknown `kid` refreshes the issuer's key set (key rotation), at most once per
  `min_refresh_seconds` per issuer: a flood of made-up `kid`s costs one fetch per
  interval. Keys older than `max_age_seconds` are fetched again, so a key the client has
  withdrawn stops working; when the key set cannot be fetched, requests are refused
  (fail closed).
- Clock leeway of 30 s on `exp`, `iat` and `nbf`; a token may not live longer than
  `max_lifetime_seconds` (1 h) from now, which bounds how long its `jti` must be held;
  `jti` at most 256 characters; the in-memory replay store holds at most 100,000 `jti`s
  and refuses new tokens when full rather than forget a live one.

Unsigned requests (local development and testing only): `allow_unsigned` accepts a
request that carries no Authorization header at all; a request that carries a token is
still checked in full. It is off by default and refused unless the server binds a
loopback address (127.0.0.0/8, ::1, localhost): see `check_unsigned_allowed`. The
settings are to be `MEDSAFE_CDS_ALLOW_UNSIGNED` (default false), checked against
`MEDSAFE_HOST` at start.

Blocking I/O: a key-set fetch uses urllib with a timeout, so call `verify` from a worker
thread (a plain `def` route in FastAPI), or from the event loop with `may_fetch=False`,
which raises KeyFetchNeeded instead of fetching (the caller then asks again from a
thread): once the keys are cached, checking a token is CPU work only.

Replay: `verify` records the jti in a ReplayStore, the verifier's own or one given for
the call. The server's is in the database (`replay.DatabaseJtiStore`), shared by every
worker process; `JtiStore` below keeps jtis in memory (tests, a single process).
"""

from __future__ import annotations

import heapq
import http.client
import ipaddress
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from email.message import Message
from enum import StrEnum
from typing import IO, Any, Protocol, TypeGuard
from urllib.parse import urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from medsafe import __version__
from medsafe.errors import Invalid, Unauthenticated

RECOMMENDED_ALGORITHMS = ("RS384", "ES384")
# Asymmetric JWS algorithms (RFC 7518 §3.1) a deployment may add. HMAC (HS*) and `none`
# are absent on purpose: the specification forbids them, so no setting can allow them.
ASYMMETRIC_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
                                   "ES256", "ES384", "ES512"})
_EC_CURVE_OF = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}

DEFAULT_LEEWAY_SECONDS = 30.0
DEFAULT_MAX_LIFETIME_SECONDS = 3600.0
DEFAULT_MIN_REFRESH_SECONDS = 30.0
DEFAULT_MAX_KEY_AGE_SECONDS = 3600.0
DEFAULT_JTI_CAPACITY = 100_000
LONGEST_TOKEN = 16_384  # characters; a CDS Hooks JWT is a few hundred
LONGEST_JTI = 256
LONGEST_ISS = 255  # the replay table's issuer column (store.schema.CdsJti)
MOST_KEYS_PER_SET = 100
LARGEST_KEY_SET = 512_000  # bytes
FETCH_TIMEOUT_SECONDS = 5.0

_SPEC = "CDS Hooks 2.0, Trusting CDS Clients"


class Rule(StrEnum):
    """The rule a rejected request broke: stable names for logs and tests."""

    MISSING_TOKEN = "missing-token"
    SCHEME = "scheme"
    MALFORMED = "malformed"
    ALG = "alg"
    TYP = "typ"
    KID = "kid"
    ISS = "iss"
    JKU = "jku"
    KEY_SET_UNAVAILABLE = "key-set-unavailable"
    UNKNOWN_KID = "unknown-kid"
    KEY_MISMATCH = "key-mismatch"
    SIGNATURE = "signature"
    AUD = "aud"
    EXP = "exp"
    LIFETIME = "lifetime"
    IAT = "iat"
    NBF = "nbf"
    JTI = "jti"
    REPLAY = "replay"
    REPLAY_STORE_FULL = "replay-store-full"


class RequestRejected(Unauthenticated):
    """A CDS Hooks request whose caller could not be trusted; `rule` says which check
    failed. An Unauthenticated, so it maps to HTTP 401."""

    def __init__(self, rule: Rule, message: str) -> None:
        super().__init__(f"CDS Hooks request refused ({rule.value}): {message}")
        self.rule = rule


class KeySetFetchFailed(Exception):
    """A JWK Set could not be fetched or read (network, HTTP status, size, JSON)."""


class KeyFetchNeeded(Exception):
    """The key cannot be had without fetching the issuer's key set (or waiting for a
    fetch under way): raised only to callers that said they may not block."""


def _show(value: object) -> str:
    """A caller-supplied value for an error message: quoted and cut short."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


# ---------------------------------------------------------------------------- loopback

def is_loopback(host: str) -> bool:
    """Whether a bind address only accepts connections from this machine.

    127.0.0.0/8 and ::1 (also written [::1] or as an IPv4-mapped ::ffff:127.x.x.x) and
    the name localhost. 0.0.0.0, :: and the empty string bind every interface.
    """
    name = host.strip().strip("[]").rstrip(".").lower()
    if name == "localhost":
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def check_unsigned_allowed(host: str, allow_unsigned: bool) -> None:
    """Refuse to start with unsigned requests allowed on a non-loopback address.

    Without a signed JWT anyone who can reach the port is trusted as an EHR and is
    answered with patient-specific advice; that is acceptable only when nobody but this
    machine can reach it.
    """
    if allow_unsigned and not is_loopback(host):
        raise Invalid(f"unsigned CDS Hooks requests are for local development only: the "
                      f"server binds {host!r}, and they are allowed only on a loopback "
                      "address (127.0.0.1, ::1, localhost). Turn MEDSAFE_CDS_ALLOW_UNSIGNED "
                      "off or bind 127.0.0.1", where="cds_allow_unsigned")


# ---------------------------------------------------------------------------- issuers

@dataclass(frozen=True, slots=True)
class TrustedIssuer:
    """A CDS client the service trusts: its `iss` and the URL of its JWK Set, agreed out
    of band (the specification's allow-list of `iss` and `jku`)."""

    iss: str
    jwks_url: str

    def __post_init__(self) -> None:
        if not self.iss.strip():
            raise Invalid("a trusted issuer needs its iss", where="cds.issuers.iss")
        if len(self.iss) > LONGEST_ISS:
            raise Invalid(f"an iss is at most {LONGEST_ISS} characters", where="cds.issuers.iss")
        parts = urlsplit(self.jwks_url)
        if parts.scheme == "https" and parts.hostname:
            return
        if parts.scheme == "http" and parts.hostname and is_loopback(parts.hostname):
            return  # a key server on this machine (development, tests)
        raise Invalid(f"the JWK Set URL of {self.iss!r} must be https (http only on a "
                      f"loopback address): got {self.jwks_url!r}",
                      where="cds.issuers.jwks_url")


# ---------------------------------------------------------------------------- key sets

PublicKey = RSAPublicKey | EllipticCurvePublicKey


@dataclass(frozen=True, slots=True)
class SigningKey:
    """One public key of a client's JWK Set."""

    kid: str
    kty: str
    crv: str | None
    alg: str | None  # the JWK's own `alg`, when it declares one
    public_key: PublicKey


def parse_key_set(document: Mapping[str, Any]) -> dict[str, SigningKey]:
    """The usable signature keys of a JWK Set (RFC 7517 §5), by kid.

    Keys that cannot verify a JWS signature are left out rather than failing the whole
    set, so one odd key (an encryption key, an OKP key) does not lock a client out: no
    kid, not RSA or EC, `use` other than "sig", `key_ops` without "verify", or private
    material (a private key published by mistake is never used). The first of two keys
    with the same kid wins (the specification requires kids to be unique).
    """
    keys = document.get("keys")
    if not isinstance(keys, list):
        raise KeySetFetchFailed("not a JWK Set: no 'keys' array")
    found: dict[str, SigningKey] = {}
    for jwk in keys[:MOST_KEYS_PER_SET]:
        key = _signing_key(jwk)
        if key is not None and key.kid not in found:
            found[key.kid] = key
    return found


def _signing_key(jwk: object) -> SigningKey | None:
    if not isinstance(jwk, dict):
        return None
    kid, kty, use, ops = jwk.get("kid"), jwk.get("kty"), jwk.get("use"), jwk.get("key_ops")
    if not isinstance(kid, str) or not kid or kty not in ("RSA", "EC"):
        return None
    if use not in (None, "sig") or (ops is not None and not (isinstance(ops, list)
                                                             and "verify" in ops)):
        return None
    if "d" in jwk:
        return None
    try:
        public_key = (RSAAlgorithm.from_jwk(jwk) if kty == "RSA"
                      else ECAlgorithm.from_jwk(jwk))
    except (jwt.PyJWTError, ValueError, TypeError):
        return None
    if not isinstance(public_key, RSAPublicKey | EllipticCurvePublicKey):
        return None
    crv, alg = jwk.get("crv"), jwk.get("alg")
    return SigningKey(kid, kty, crv if isinstance(crv, str) else None,
                      alg if isinstance(alg, str) else None, public_key)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req: urllib.request.Request, fp: IO[bytes], code: int,
                         msg: str, headers: Message, newurl: str) -> None:
        return None  # the key set lives at the agreed URL, not wherever it points


def fetch_key_set(url: str, *, timeout: float = FETCH_TIMEOUT_SECONDS,
                  largest: int = LARGEST_KEY_SET) -> Mapping[str, Any]:
    """GET a JWK Set: JSON, at most `largest` bytes, no redirects, with a timeout."""
    if urlsplit(url).scheme not in ("https", "http"):
        raise KeySetFetchFailed(f"not an http(s) URL: {url!r}")
    request = urllib.request.Request(url, headers={
        "Accept": "application/jwk-set+json, application/json",
        "User-Agent": f"medsafe/{__version__}",
    })
    opener = urllib.request.build_opener(_NoRedirects)
    try:
        with opener.open(request, timeout=timeout) as reply:
            body: bytes = reply.read(largest + 1)
    except urllib.error.HTTPError as error:
        error.close()
        raise KeySetFetchFailed(f"HTTP {error.code}") from None
    except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
        raise KeySetFetchFailed(str(error) or type(error).__name__) from None
    if len(body) > largest:
        raise KeySetFetchFailed(f"larger than {largest} bytes")
    try:
        document = json.loads(body)
    except ValueError:
        raise KeySetFetchFailed("not JSON") from None
    if not isinstance(document, dict):
        raise KeySetFetchFailed("not a JSON object")
    return document


Fetch = Callable[[str], Mapping[str, Any]]


@dataclass(slots=True)
class _IssuerKeys:
    keys: dict[str, SigningKey] = field(default_factory=dict)
    loaded_at: float | None = None     # last successful fetch
    attempted_at: float | None = None  # last fetch, successful or not
    error: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


class JwksCache:
    """The trusted issuers' public keys, by (iss, kid), fetched from each issuer's JWK Set
    URL when first needed, again when an unknown kid arrives (key rotation) and when the
    keys are older than `max_age_seconds` (withdrawn keys stop working). Fetches per
    issuer are at most one per `min_refresh_seconds`, whatever arrives; a failed fetch
    counts too, so an unreachable key server is not hammered.

    `fetch(url)` returns the JWK Set document (default: `fetch_key_set`, urllib with a
    timeout) and raises KeySetFetchFailed, OSError or ValueError when it cannot.
    `clock` is monotonic seconds.
    """

    def __init__(self, fetch: Fetch = fetch_key_set, *,
                 min_refresh_seconds: float = DEFAULT_MIN_REFRESH_SECONDS,
                 max_age_seconds: float = DEFAULT_MAX_KEY_AGE_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if min_refresh_seconds <= 0:
            raise Invalid("must be more than 0 seconds", where="cds.jwks.min_refresh_seconds")
        if max_age_seconds < min_refresh_seconds:
            raise Invalid("must be at least min_refresh_seconds",
                          where="cds.jwks.max_age_seconds")
        self._fetch = fetch
        self._min_refresh = min_refresh_seconds
        self._max_age = max_age_seconds
        self._clock = clock
        self._issuers: dict[str, _IssuerKeys] = {}
        self._guard = threading.Lock()

    def signing_key(self, issuer: TrustedIssuer, kid: str, *,
                    may_fetch: bool = True) -> SigningKey | None:
        """The issuer's key with this kid; None when its current key set has no such key.
        RequestRejected (key-set-unavailable) when no fresh key set can be had.

        `may_fetch=False` (a caller on an event loop, which must not block): the key is
        returned only when it is in a fresh key set and nobody is fetching that set right
        now; otherwise KeyFetchNeeded, and the caller asks again from a worker thread."""
        with self._guard:
            state = self._issuers.setdefault(issuer.iss, _IssuerKeys())
        if not may_fetch:
            if not state.lock.acquire(blocking=False):
                raise KeyFetchNeeded(issuer.iss)
            try:
                if self._fresh(state, self._clock()) and kid in state.keys:
                    return state.keys[kid]
            finally:
                state.lock.release()
            raise KeyFetchNeeded(issuer.iss)
        # One lock per issuer: concurrent requests with the same new kid wait for one
        # fetch instead of each starting one, and other issuers are not held up.
        with state.lock:
            now = self._clock()
            if self._fresh(state, now) and kid in state.keys:
                return state.keys[kid]
            if state.attempted_at is None or now - state.attempted_at >= self._min_refresh:
                self._load(issuer, state, now)
            if not self._fresh(state, now):
                raise RequestRejected(
                    Rule.KEY_SET_UNAVAILABLE,
                    f"the key set of issuer {issuer.iss!r} could not be fetched "
                    f"({state.error or 'not fetched yet'}); try again later")
            return state.keys.get(kid)

    def _fresh(self, state: _IssuerKeys, now: float) -> bool:
        return state.loaded_at is not None and now - state.loaded_at < self._max_age

    def _load(self, issuer: TrustedIssuer, state: _IssuerKeys, now: float) -> None:
        state.attempted_at = now
        try:
            keys = parse_key_set(self._fetch(issuer.jwks_url))
        except (KeySetFetchFailed, OSError, ValueError) as error:
            state.error = str(error) or type(error).__name__
            return
        # Replace, not merge: a key the client has dropped from its set is dropped here.
        state.keys, state.loaded_at, state.error = keys, now, None


# ---------------------------------------------------------------------------- replay

def replayed(jti: str) -> RequestRejected:
    """The refusal of a jti seen before, the same from every store."""
    return RequestRejected(Rule.REPLAY, f"jti {_show(jti)} was already used: every request "
                           "needs a new jti (replay protection)")


class ReplayStore(Protocol):
    """Where the `jti`s already seen are kept, each until its token can no longer be
    accepted, so that a captured request cannot be replayed. `remember` records one, or
    raises RequestRejected (Rule.REPLAY) when it is held already. The server uses the
    database (`replay.DatabaseJtiStore`), shared by every worker process; `JtiStore` keeps
    them in this process's memory (tests, a single process)."""

    def remember(self, issuer: str, jti: str, *, until: float, now: float) -> None: ...


class JtiStore:
    """The `jti`s already seen, in memory: one store per process. With several worker
    processes a replay could land on another worker, so the server uses
    `replay.DatabaseJtiStore` instead; this one serves tests and single-process tools.

    Bounded: when `capacity` live jtis are held, new tokens are refused (the bounded
    lifetime of tokens keeps this far off in normal use); forgetting a live jti instead
    would reopen replay.
    """

    def __init__(self, *, capacity: int = DEFAULT_JTI_CAPACITY) -> None:
        if capacity < 1:
            raise Invalid("must be at least 1", where="cds.jti_capacity")
        self._capacity = capacity
        self._until: dict[tuple[str, str], float] = {}
        self._expiry: list[tuple[float, tuple[str, str]]] = []  # min-heap by expiry
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._until)

    def remember(self, issuer: str, jti: str, *, until: float, now: float) -> None:
        """Record a jti (unique per issuer) as used until `until` (epoch seconds).
        RequestRejected when it is already recorded, or when the store is full."""
        key = (issuer, jti)
        with self._lock:
            self._forget_expired(now)
            if key in self._until:
                raise replayed(jti)
            if len(self._until) >= self._capacity:
                raise RequestRejected(Rule.REPLAY_STORE_FULL,
                                      f"{self._capacity} unexpired tokens are held already; "
                                      "try again when some have expired")
            self._until[key] = until
            heapq.heappush(self._expiry, (until, key))

    def _forget_expired(self, now: float) -> None:
        while self._expiry and self._expiry[0][0] <= now:
            until, key = heapq.heappop(self._expiry)
            if self._until.get(key) == until:
                del self._until[key]


# ---------------------------------------------------------------------------- verifier

@dataclass(frozen=True, slots=True)
class VerifiedClient:
    """Who called. `signed` is False only for an unsigned development request, which
    carries no identity at all."""

    signed: bool
    issuer: str | None = None
    subject: str | None = None
    tenant: str | None = None
    jti: str | None = None
    key_id: str | None = None
    algorithm: str | None = None
    expires_at: float | None = None


UNSIGNED_CLIENT = VerifiedClient(signed=False)

# Parses tokens and names the signature algorithms; the claims are checked by hand
# against the injected clock (`RequestVerifier._check_claims`).
_JWS = jwt.PyJWS()


class RequestVerifier:
    """Checks the Authorization header of a CDS Hooks request; `verify` returns the
    caller or raises RequestRejected naming the rule that failed.

    `audience` is the URL the clients must name in `aud`. The specification wants the URL
    of the endpoint being called (…/cds-services for discovery, …/cds-services/{id} for a
    service), so a route passes its own URL to `verify(..., audience=...)`; the
    constructor's value is the default. `clock` is epoch seconds (time.time).
    """

    def __init__(self, issuers: Sequence[TrustedIssuer], *, audience: str, jwks: JwksCache,
                 jti_store: ReplayStore, clock: Callable[[], float] = time.time,
                 leeway_seconds: float = DEFAULT_LEEWAY_SECONDS,
                 max_lifetime_seconds: float = DEFAULT_MAX_LIFETIME_SECONDS,
                 algorithms: Sequence[str] = RECOMMENDED_ALGORITHMS,
                 allow_unsigned: bool = False, bind_host: str | None = None) -> None:
        self._issuers: dict[str, TrustedIssuer] = {}
        for issuer in issuers:
            if issuer.iss in self._issuers:
                raise Invalid(f"issuer {issuer.iss!r} is listed twice", where="cds.issuers")
            self._issuers[issuer.iss] = issuer
        _check_url(audience, "cds.audience")
        if not 0 <= leeway_seconds <= 300:
            raise Invalid("must be between 0 and 300 seconds", where="cds.leeway_seconds")
        if max_lifetime_seconds <= 0:
            raise Invalid("must be more than 0 seconds", where="cds.max_lifetime_seconds")
        refused = sorted(set(algorithms) - ASYMMETRIC_ALGORITHMS)
        if refused or not algorithms:
            allowed = ", ".join(sorted(ASYMMETRIC_ALGORITHMS))
            raise Invalid(f"{', '.join(refused) or 'none given'}: only asymmetric signature "
                          f"algorithms may be accepted ({allowed})", where="cds.algorithms")
        if allow_unsigned:
            check_unsigned_allowed(bind_host or "", allow_unsigned)
        self._audience = audience
        self._jwks = jwks
        self._jti_store = jti_store
        self._clock = clock
        self._leeway = leeway_seconds
        self._max_lifetime = max_lifetime_seconds
        self._algorithms = tuple(algorithms)
        self._allow_unsigned = allow_unsigned

    def verify(self, authorization_header: str | None, *, audience: str | None = None,
               may_fetch: bool = True, jti_store: ReplayStore | None = None
               ) -> VerifiedClient:
        """The caller, or RequestRejected. `may_fetch=False`: KeyFetchNeeded instead of
        fetching a key set (see JwksCache.signing_key). `jti_store`: where this call
        records the jti, in place of the verifier's own store (the API defers it to the
        transaction that stores the request's cards: replay.PendingJti)."""
        if authorization_header is None or not authorization_header.strip():
            if self._allow_unsigned:
                return UNSIGNED_CLIENT
            raise RequestRejected(Rule.MISSING_TOKEN, "an 'Authorization: Bearer <JWT>' "
                                  f"header is required on every request ({_SPEC})")
        token = _bearer_token(authorization_header)
        header, payload, signing_input, signature = _unverified(token)
        alg, kid = self._check_header(header)
        issuer = self._issuer(payload, header)
        key = self._jwks.signing_key(issuer, kid, may_fetch=may_fetch)
        if key is None:
            raise RequestRejected(Rule.UNKNOWN_KID, f"issuer {issuer.iss!r} has no key "
                                  f"with kid {_show(kid)} in its key set")
        _check_key_fits(key, alg)
        _check_signature(signing_input, signature, key, alg, issuer)
        return self._check_claims(payload, issuer, kid, alg, audience or self._audience,
                                  self._jti_store if jti_store is None else jti_store)

    # -- steps ------------------------------------------------------------------------

    def _check_header(self, header: Mapping[str, Any]) -> tuple[str, str]:
        alg = header.get("alg")
        if alg not in self._algorithms:
            why = ("an unsigned or HMAC-signed token cannot identify a client"
                   if not isinstance(alg, str) or alg.lower() == "none" or
                   alg.upper().startswith("HS") else "not accepted by this service")
            raise RequestRejected(Rule.ALG, f"alg {_show(alg)}: {why}; accepted: "
                                  f"{', '.join(self._algorithms)}")
        typ = header.get("typ")
        if not isinstance(typ, str) or typ.upper() != "JWT":
            raise RequestRejected(Rule.TYP, f"typ {_show(typ)}: the header's typ must be "
                                  f"'JWT' ({_SPEC})")
        if "crit" in header:
            raise RequestRejected(Rule.MALFORMED, "the header lists critical extensions "
                                  "(crit); this service understands none")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise RequestRejected(Rule.KID, "the header needs a kid naming the signing key "
                                  f"in the client's key set ({_SPEC})")
        return alg, kid

    def _issuer(self, payload: Mapping[str, Any],
                header: Mapping[str, Any]) -> TrustedIssuer:
        iss = payload.get("iss")
        issuer = self._issuers.get(iss) if isinstance(iss, str) else None
        if issuer is None:
            raise RequestRejected(Rule.ISS, f"iss {_show(iss)} is not a trusted CDS client "
                                  "of this service")
        jku = header.get("jku")
        if jku is not None and jku != issuer.jwks_url:
            raise RequestRejected(Rule.JKU, f"jku {_show(jku)} is not the key set URL agreed "
                                  f"for issuer {issuer.iss!r}")
        return issuer

    def _check_claims(self, payload: Mapping[str, Any], issuer: TrustedIssuer, kid: str,
                      alg: str, audience: str, jti_store: ReplayStore) -> VerifiedClient:
        now = self._clock()
        aud = payload.get("aud")
        named = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        if _same_url(audience) not in {_same_url(a) for a in named if isinstance(a, str)}:
            raise RequestRejected(Rule.AUD, f"aud {_show(aud)} does not name this endpoint: "
                                  f"it must be {audience!r}")
        exp = payload.get("exp")
        if not _is_number(exp):
            raise RequestRejected(Rule.EXP, "exp (expiry, seconds since the epoch) is "
                                  "required")
        if now >= exp + self._leeway:
            raise RequestRejected(Rule.EXP, f"the token expired at {exp} (now {int(now)})")
        if exp - now > self._max_lifetime:
            raise RequestRejected(Rule.LIFETIME, f"the token expires {int(exp - now)} s from "
                                  f"now; at most {int(self._max_lifetime)} s is accepted")
        iat = payload.get("iat")
        if not _is_number(iat):
            raise RequestRejected(Rule.IAT, "iat (issue time, seconds since the epoch) is "
                                  "required")
        if iat > now + self._leeway:
            raise RequestRejected(Rule.IAT, f"the token is issued in the future ({iat}, now "
                                  f"{int(now)})")
        nbf = payload.get("nbf")
        if nbf is not None and (not _is_number(nbf) or nbf > now + self._leeway):
            raise RequestRejected(Rule.NBF, f"the token is not valid before {_show(nbf)}")
        jti = payload.get("jti")
        if not isinstance(jti, str) or not jti or len(jti) > LONGEST_JTI:
            raise RequestRejected(Rule.JTI, "jti (a nonce unique to this request) is required, "
                                  f"a string of 1 to {LONGEST_JTI} characters")
        subject, tenant = payload.get("sub"), payload.get("tenant")
        for name, value in (("sub", subject), ("tenant", tenant)):
            if value is not None and not isinstance(value, str):
                raise RequestRejected(Rule.MALFORMED, f"{name} must be a string")
        # Last, so that a token refused for any other reason does not use up its jti.
        jti_store.remember(issuer.iss, jti, until=float(exp) + self._leeway, now=now)
        return VerifiedClient(signed=True, issuer=issuer.iss, subject=subject, tenant=tenant,
                              jti=jti, key_id=kid, algorithm=alg, expires_at=float(exp))


def _bearer_token(header: str) -> str:
    if len(header) > LONGEST_TOKEN:
        raise RequestRejected(Rule.MALFORMED, f"the Authorization header is longer than "
                              f"{LONGEST_TOKEN} characters")
    parts = header.split()
    # RFC 7235 §2.1: the auth-scheme is case-insensitive.
    if len(parts) != 2 or parts[0].lower() != "bearer":
        raise RequestRejected(Rule.SCHEME, f"the Authorization header must be 'Bearer <JWT>' "
                              f"({_SPEC}); got scheme {_show(parts[0] if parts else '')}")
    return parts[1]


def _unverified(token: str) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
    """Header and payload, not yet trusted, with the signed bytes and the signature: the
    token is split and decoded once (PyJWT's checks of the base64url segments included),
    the header and payload only choose the issuer and key, and the signature over these
    very bytes is checked (`_check_signature`) before any claim is believed."""
    try:
        decoded = _JWS.decode_complete(token, options={"verify_signature": False})
        payload = json.loads(decoded["payload"])
    except (jwt.PyJWTError, ValueError) as error:
        raise RequestRejected(Rule.MALFORMED, f"not a JWT: {error}") from None
    header = decoded["header"]
    if not isinstance(payload, dict) or not isinstance(header, dict):
        raise RequestRejected(Rule.MALFORMED, "the JWT header and payload must be JSON "
                              "objects")
    # JWS compact serialization (RFC 7515 §7.1): the signature covers everything before
    # the last dot, as PyJWT splits it.
    return header, payload, token.rsplit(".", 1)[0].encode(), decoded["signature"]


def _check_signature(signing_input: bytes, signature: bytes, key: SigningKey, alg: str,
                     issuer: TrustedIssuer) -> None:
    """The signature, with PyJWT's own algorithm for `alg` (already allow-listed) and
    its minimum key sizes enforced."""
    try:
        algorithm = _JWS.get_algorithm_by_name(alg)
        prepared = algorithm.prepare_key(key.public_key)
        too_short = algorithm.check_key_length(prepared)
        if too_short:
            raise jwt.InvalidKeyError(too_short)
        verified = algorithm.verify(signing_input, prepared, signature)
    except jwt.InvalidKeyError as error:
        raise RequestRejected(Rule.KEY_MISMATCH, f"key {_show(key.kid)}: {error}") from None
    except (jwt.PyJWTError, NotImplementedError) as error:
        raise RequestRejected(Rule.MALFORMED, f"the token cannot be verified: {error}") \
            from None
    if not verified:
        raise RequestRejected(Rule.SIGNATURE, "the signature does not verify with key "
                              f"{_show(key.kid)} of issuer {issuer.iss!r}")


def _check_key_fits(key: SigningKey, alg: str) -> None:
    """The key must be of the kind the token's alg needs (an RSA key for RS*/PS*, an EC
    key on the alg's curve for ES*), and if the JWK names an alg, that one."""
    wanted_kty = "EC" if alg.startswith("ES") else "RSA"
    fits = key.kty == wanted_kty and (wanted_kty == "RSA" or key.crv == _EC_CURVE_OF[alg])
    if not fits or (key.alg is not None and key.alg != alg):
        raise RequestRejected(Rule.KEY_MISMATCH, f"key {_show(key.kid)} ({key.kty}"
                              f"{' ' + key.crv if key.crv else ''}"
                              f"{', alg ' + key.alg if key.alg else ''}) cannot verify an "
                              f"{alg} signature")


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _same_url(url: str) -> str:
    """URLs compared as written, but for a trailing slash."""
    return url.rstrip("/")


def _check_url(url: str, where: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise Invalid(f"must be the service's absolute http(s) URL: got {url!r}", where=where)
