"""CDS Hooks 2.0 request security: only a JWT signed (RS384 or ES384) by a trusted issuer's
key, for this endpoint, unexpired and never seen before, is let through; keys come from the
issuer's JWK Set, served here by a real HTTP server on 127.0.0.1, and are refetched for an
unknown kid at a bounded rate.

Keys are generated per test session with `cryptography`. The only I/O is that loopback key
server (the brief asks for a real one, so fetches can be counted without a mock).
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from medsafe.errors import Invalid, Unauthenticated
from medsafe.interop.cds_hooks.security import (
    UNSIGNED_CLIENT,
    JtiStore,
    JwksCache,
    KeyFetchNeeded,
    RequestRejected,
    RequestVerifier,
    Rule,
    TrustedIssuer,
    check_unsigned_allowed,
    is_loopback,
)

EHR = "https://ehr.example.org/"
SERVICE = "https://medsafe.example.org/cds-services/medsafe-order-sign"
DISCOVERY = "https://medsafe.example.org/cds-services"
START = 1_800_000_000.0
REFRESH = 30.0


# ------------------------------------------------------------------------- keys

@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def rsa_key_2() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP384R1())


def rsa_jwk(key: rsa.RSAPrivateKey, kid: str, **extra: str) -> dict[str, Any]:
    return {**RSAAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": kid,
            "use": "sig", **extra}


def ec_jwk(key: ec.EllipticCurvePrivateKey, kid: str) -> dict[str, Any]:
    return {**ECAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": kid,
            "use": "sig", "alg": "ES384"}


# ------------------------------------------------------------------------- key server

class KeyServer:
    """A real HTTP server on 127.0.0.1 serving one JWK Set and counting the requests."""

    def __init__(self) -> None:
        self.document: dict[str, Any] = {"keys": []}
        self.status = 200
        self.hits = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.hits += 1
                body = json.dumps(owner.document).encode()
                self.send_response(owner.status)
                if owner.status in (301, 302):
                    self.send_header("Location", "http://127.0.0.1:9/elsewhere")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet test output

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/jwks.json"
        # A short poll interval: shutdown() waits for it, once per test.
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.01,),
                                       daemon=True)
        self.thread.start()

    def serve(self, *jwks: dict[str, Any]) -> None:
        self.document = {"keys": list(jwks)}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def server(rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey
           ) -> Iterator[KeyServer]:
    keys = KeyServer()
    keys.serve(rsa_jwk(rsa_key, "rsa-1"), ec_jwk(ec_key, "ec-1"))
    yield keys
    keys.close()


class Clock:
    """Settable time: epoch seconds for tokens, and the key cache's interval clock."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def verifier_for(server: KeyServer, clock: Clock, *, capacity: int = 1000,
                 **options: Any) -> RequestVerifier:
    cache = JwksCache(min_refresh_seconds=REFRESH, max_age_seconds=options.pop("max_age", 3600),
                      clock=clock)
    return RequestVerifier([TrustedIssuer(EHR, server.url)], audience=SERVICE, jwks=cache,
                           jti_store=JtiStore(capacity=capacity), clock=clock, **options)


@pytest.fixture
def verifier(server: KeyServer, clock: Clock) -> RequestVerifier:
    return verifier_for(server, clock)


def claims(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"iss": EHR, "aud": SERVICE, "iat": int(START),
                            "exp": int(START) + 300, "jti": str(uuid.uuid4()),
                            "tenant": "hospital-1"}
    for name, value in changes.items():
        if value is None:
            body.pop(name, None)
        else:
            body[name] = value
    return body


def bearer(key: Any, *, kid: str = "rsa-1", alg: str = "RS384",
           headers: dict[str, Any] | None = None, **changes: Any) -> str:
    token = jwt.encode(claims(**changes), key, algorithm=alg,
                       headers={"kid": kid, **(headers or {})})
    return f"Bearer {token}"


def refused(verifier: RequestVerifier, header: str | None, rule: Rule,
            audience: str | None = None) -> RequestRejected:
    with pytest.raises(RequestRejected) as caught:
        verifier.verify(header, audience=audience)
    assert caught.value.rule is rule, caught.value.message
    assert isinstance(caught.value, Unauthenticated)  # maps to HTTP 401
    return caught.value


# ------------------------------------------------------------------------- accepted

def test_an_rs384_token_from_a_trusted_issuer_is_accepted_and_says_who_called(
        verifier: RequestVerifier, rsa_key: rsa.RSAPrivateKey, server: KeyServer) -> None:
    client = verifier.verify(bearer(rsa_key, jti="abc-1", sub="Practitioner/7"))
    assert client.signed
    assert (client.issuer, client.subject, client.tenant, client.jti) == (
        EHR, "Practitioner/7", "hospital-1", "abc-1")
    assert (client.key_id, client.algorithm, client.expires_at) == ("rsa-1", "RS384",
                                                                    START + 300)
    assert server.hits == 1


def test_an_es384_token_signed_with_a_p384_key_is_accepted(
        verifier: RequestVerifier, ec_key: ec.EllipticCurvePrivateKey) -> None:
    client = verifier.verify(bearer(ec_key, kid="ec-1", alg="ES384"))
    assert client.algorithm == "ES384"


def test_keys_are_fetched_once_and_then_served_from_the_cache(
        verifier: RequestVerifier, rsa_key: rsa.RSAPrivateKey,
        ec_key: ec.EllipticCurvePrivateKey, server: KeyServer) -> None:
    for _ in range(5):
        verifier.verify(bearer(rsa_key))
        verifier.verify(bearer(ec_key, kid="ec-1", alg="ES384"))
    assert server.hits == 1


def test_an_aud_array_naming_the_endpoint_and_the_endpoints_own_url_are_accepted(
        verifier: RequestVerifier, rsa_key: rsa.RSAPrivateKey) -> None:
    assert verifier.verify(bearer(rsa_key, aud=["https://other.example", SERVICE])).signed
    assert verifier.verify(bearer(rsa_key, aud=DISCOVERY), audience=DISCOVERY).signed


def test_a_jku_equal_to_the_agreed_key_set_url_is_accepted(
        verifier: RequestVerifier, rsa_key: rsa.RSAPrivateKey, server: KeyServer) -> None:
    assert verifier.verify(bearer(rsa_key, headers={"jku": server.url})).signed


# The example of CDS Hooks 2.0, "Trusting CDS Clients" (HL7/cds-hooks
# input/pagecontent/index.md): an ES384 token, its payload and the client's JWK Set.
SPEC_JWKS = {"keys": [{
    "kty": "EC", "use": "sig", "crv": "P-384", "kid": "example-kid", "alg": "ES384",
    "x": "46SDH7Znh821wblCBglA61sNE9ZrHYKKt3qRtRTmSXyOI_FIGBLWrWa0GPUkDCEk",
    "y": "XMcRuuoGW7CXjQdy-F5i3FeBE0x9hPLdeFdSoDd3ELmx404tLX0VRRcqzAsPhXcI"}]}
SPEC_TOKEN = (
    "eyJhbGciOiJFUzM4NCIsInR5cCI6IkpXVCIsImtpZCI6ImV4YW1wbGUta2lkIiwiamt1IjoiaHR0cHM6"
    "Ly9maGlyLWVoci5leGFtcGxlLmNvbS9qd2tfdXJpIn0.eyJpc3MiOiJodHRwczovL2ZoaXItZWhyLmV4"
    "YW1wbGUuY29tLyIsImF1ZCI6Imh0dHBzOi8vY2RzLmV4YW1wbGUub3JnL2Nkcy1zZXJ2aWNlcy9zb21l"
    "LXNlcnZpY2UiLCJleHAiOjE0MjI1Njg4NjAsImlhdCI6MTMxMTI4MDk3MCwianRpIjoiZWUyMmIwMjEt"
    "ZTFiNy00NjExLWJhNWItOGVlYzZhMzNhYzFlIiwidGVuYW50IjoiMmRkZDZjM2EtOGU5YS00NGM2LWEz"
    "MDUtNTIxMTFhZDMwMmEyIn0.d1WfLjGRKlcWB94l9do4cM8REXeYJLL6SGUBO8VHZhfM8mwKYP70EMxJ"
    "67War4TQblEpaQrp11wx5p7oPFm2ETYgCicS84vXWEIYTdjooZdooCSDf2L8-i4awdoUwiEb"
)


def test_the_specifications_own_example_token_verifies() -> None:
    fetched: list[str] = []

    def spec_key_set(url: str) -> dict[str, Any]:
        fetched.append(url)
        return SPEC_JWKS

    exp = 1422568860
    verifier = RequestVerifier(
        [TrustedIssuer("https://fhir-ehr.example.com/", "https://fhir-ehr.example.com/jwk_uri")],
        audience="https://cds.example.org/cds-services/some-service",
        jwks=JwksCache(spec_key_set), jti_store=JtiStore(), clock=lambda: exp - 60)
    client = verifier.verify("Bearer " + SPEC_TOKEN)
    assert (client.issuer, client.key_id, client.algorithm) == (
        "https://fhir-ehr.example.com/", "example-kid", "ES384")
    assert client.tenant == "2ddd6c3a-8e9a-44c6-a305-52111ad302a2"
    assert fetched == ["https://fhir-ehr.example.com/jwk_uri"]


# ------------------------------------------------------------------------- rejections

@pytest.mark.parametrize("header", [None, "", "   "])
def test_a_request_without_a_token_is_refused(verifier: RequestVerifier,
                                              header: str | None) -> None:
    error = refused(verifier, header, Rule.MISSING_TOKEN)
    assert "Bearer" in error.message


@pytest.mark.parametrize("scheme", ["Basic", "Token", "JWT"])
def test_a_token_under_another_scheme_than_bearer_is_refused(
        verifier: RequestVerifier, rsa_key: rsa.RSAPrivateKey, scheme: str) -> None:
    token = bearer(rsa_key).split()[1]
    refused(verifier, f"{scheme} {token}", Rule.SCHEME)
    refused(verifier, token, Rule.SCHEME)  # no scheme at all


def test_the_bearer_scheme_is_case_insensitive(verifier: RequestVerifier,
                                               rsa_key: rsa.RSAPrivateKey) -> None:
    assert verifier.verify("bearer " + bearer(rsa_key).split()[1]).signed


def test_an_unsigned_alg_none_token_is_refused(verifier: RequestVerifier,
                                               server: KeyServer) -> None:
    token = jwt.encode(claims(), "", algorithm="none", headers={"kid": "rsa-1"})
    error = refused(verifier, f"Bearer {token}", Rule.ALG)
    assert "RS384, ES384" in error.message
    assert server.hits == 0


def test_an_hmac_hs256_token_is_refused_even_with_a_kid_the_issuer_knows(
        verifier: RequestVerifier, server: KeyServer) -> None:
    secret = "a-shared-secret-that-the-spec-forbids-32b"
    error = refused(verifier, bearer(secret, alg="HS256"), Rule.ALG)
    assert "HMAC" in error.message
    assert server.hits == 0


def test_an_rs256_token_is_refused_by_the_default_algorithm_policy(
        verifier: RequestVerifier, rsa_key: rsa.RSAPrivateKey) -> None:
    refused(verifier, bearer(rsa_key, alg="RS256"), Rule.ALG)


def test_hmac_cannot_be_switched_on_by_configuration(server: KeyServer, clock: Clock) -> None:
    with pytest.raises(Invalid, match="HS256"):
        verifier_for(server, clock, algorithms=("RS384", "HS256"))


def test_a_token_without_kid_is_refused(verifier: RequestVerifier,
                                        rsa_key: rsa.RSAPrivateKey) -> None:
    token = jwt.encode(claims(), rsa_key, algorithm="RS384")
    refused(verifier, f"Bearer {token}", Rule.KID)


def test_a_token_whose_typ_is_not_jwt_is_refused(verifier: RequestVerifier,
                                                 rsa_key: rsa.RSAPrivateKey) -> None:
    refused(verifier, bearer(rsa_key, headers={"typ": "at+jwt"}), Rule.TYP)


def test_a_token_from_an_unknown_issuer_is_refused_without_fetching_anything(
        verifier: RequestVerifier, rsa_key: rsa.RSAPrivateKey, server: KeyServer) -> None:
    error = refused(verifier, bearer(rsa_key, iss="https://evil.example/"), Rule.ISS)
    assert "evil.example" in error.message
    refused(verifier, bearer(rsa_key, iss=None), Rule.ISS)
    assert server.hits == 0


def test_a_jku_pointing_elsewhere_is_refused_and_never_fetched(
        verifier: RequestVerifier, rsa_key: rsa.RSAPrivateKey, server: KeyServer) -> None:
    refused(verifier, bearer(rsa_key, headers={"jku": "https://evil.example/jwks"}),
            Rule.JKU)
    assert server.hits == 0


def test_a_token_for_another_audience_is_refused(verifier: RequestVerifier,
                                                 rsa_key: rsa.RSAPrivateKey) -> None:
    error = refused(verifier, bearer(rsa_key, aud="https://other.example/cds-services/x"),
                    Rule.AUD)
    assert SERVICE in error.message
    refused(verifier, bearer(rsa_key, aud=None), Rule.AUD)
    # A token for the discovery endpoint does not open a service endpoint.
    refused(verifier, bearer(rsa_key, aud=DISCOVERY), Rule.AUD)


def test_an_expired_token_is_refused_after_the_leeway(
        verifier: RequestVerifier, rsa_key: rsa.RSAPrivateKey, clock: Clock) -> None:
    exp = int(START) + 60
    clock.now = exp + 29  # within the 30 s leeway
    assert verifier.verify(bearer(rsa_key, exp=exp)).signed
    clock.now = exp + 30
    error = refused(verifier, bearer(rsa_key, exp=exp), Rule.EXP)
    assert "expired" in error.message


def test_a_token_without_exp_or_iat_is_refused(verifier: RequestVerifier,
                                               rsa_key: rsa.RSAPrivateKey) -> None:
    refused(verifier, bearer(rsa_key, exp=None), Rule.EXP)
    refused(verifier, bearer(rsa_key, exp="tomorrow"), Rule.EXP)
    refused(verifier, bearer(rsa_key, iat=None), Rule.IAT)


def test_a_token_issued_in_the_future_or_living_too_long_is_refused(
        verifier: RequestVerifier, rsa_key: rsa.RSAPrivateKey) -> None:
    refused(verifier, bearer(rsa_key, iat=int(START) + 120), Rule.IAT)
    refused(verifier, bearer(rsa_key, exp=int(START) + 24 * 3600), Rule.LIFETIME)


def test_a_token_without_jti_is_refused(verifier: RequestVerifier,
                                        rsa_key: rsa.RSAPrivateKey) -> None:
    refused(verifier, bearer(rsa_key, jti=None), Rule.JTI)
    refused(verifier, bearer(rsa_key, jti=""), Rule.JTI)
    refused(verifier, bearer(rsa_key, jti="x" * 257), Rule.JTI)


def test_a_replayed_token_is_refused(verifier: RequestVerifier,
                                     rsa_key: rsa.RSAPrivateKey) -> None:
    header = bearer(rsa_key)
    assert verifier.verify(header).signed
    error = refused(verifier, header, Rule.REPLAY)
    assert "already used" in error.message
    # The same jti in a freshly signed token is a replay too.
    jti = "fixed-jti"
    verifier.verify(bearer(rsa_key, jti=jti))
    refused(verifier, bearer(rsa_key, jti=jti, iat=int(START) + 1), Rule.REPLAY)


def test_a_refused_token_does_not_use_up_its_jti(verifier: RequestVerifier,
                                                 rsa_key: rsa.RSAPrivateKey) -> None:
    refused(verifier, bearer(rsa_key, jti="once", aud="https://other.example"), Rule.AUD)
    assert verifier.verify(bearer(rsa_key, jti="once")).signed


def test_a_token_signed_by_another_key_under_a_known_kid_is_refused(
        verifier: RequestVerifier, rsa_key_2: rsa.RSAPrivateKey) -> None:
    error = refused(verifier, bearer(rsa_key_2, kid="rsa-1"), Rule.SIGNATURE)
    assert "rsa-1" in error.message


def test_a_token_whose_payload_was_altered_after_signing_is_refused(
        verifier: RequestVerifier, rsa_key: rsa.RSAPrivateKey) -> None:
    head, _, signature = bearer(rsa_key).split()[1].split(".")
    forged = jwt.utils.base64url_encode(json.dumps(claims(sub="Practitioner/admin")).encode())
    refused(verifier, f"Bearer {head}.{forged.decode()}.{signature}", Rule.SIGNATURE)


def test_an_es384_header_over_an_rsa_key_is_refused(verifier: RequestVerifier,
                                                    ec_key: ec.EllipticCurvePrivateKey
                                                    ) -> None:
    refused(verifier, bearer(ec_key, kid="rsa-1", alg="ES384"), Rule.KEY_MISMATCH)


def test_a_token_signed_with_an_rsa_key_under_2048_bits_is_refused(
        clock: Clock) -> None:
    # PyJWT's minimum for RSA (NIST SP 800-131A) is enforced, not merely warned about.
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    # Signed by hand: PyJWT will not sign with a key this short either.
    segments = [jwt.utils.base64url_encode(json.dumps(part).encode()).decode()
                for part in ({"alg": "RS384", "typ": "JWT", "kid": "rsa-1"}, claims())]
    signing_input = ".".join(segments).encode()
    signature = weak.sign(signing_input, padding.PKCS1v15(), hashes.SHA384())
    token = f"{signing_input.decode()}.{jwt.utils.base64url_encode(signature).decode()}"
    keys = KeyServer()
    keys.serve(rsa_jwk(weak, "rsa-1"))
    try:
        error = refused(verifier_for(keys, clock), f"Bearer {token}", Rule.KEY_MISMATCH)
    finally:
        keys.close()
    assert "1024" in error.message


def test_garbage_is_refused_as_malformed(verifier: RequestVerifier) -> None:
    refused(verifier, "Bearer not.a.jwt", Rule.MALFORMED)
    refused(verifier, "Bearer " + "a" * 20_000, Rule.MALFORMED)


# ------------------------------------------------------------------------- key rotation

def test_an_unknown_kid_refreshes_the_key_set_and_a_rotated_key_is_accepted(
        verifier: RequestVerifier, rsa_key: rsa.RSAPrivateKey,
        rsa_key_2: rsa.RSAPrivateKey, server: KeyServer, clock: Clock) -> None:
    verifier.verify(bearer(rsa_key))
    assert server.hits == 1
    server.serve(rsa_jwk(rsa_key, "rsa-1"), rsa_jwk(rsa_key_2, "rsa-2"))  # the EHR rotates
    clock.now += REFRESH
    client = verifier.verify(bearer(rsa_key_2, kid="rsa-2"))
    assert client.key_id == "rsa-2"
    assert server.hits == 2


def test_a_flood_of_unknown_kids_fetches_at_most_once_per_interval(
        verifier: RequestVerifier, rsa_key: rsa.RSAPrivateKey, server: KeyServer,
        clock: Clock) -> None:
    verifier.verify(bearer(rsa_key))
    assert server.hits == 1
    for _ in range(50):  # within the interval of that fetch: no fetch at all
        refused(verifier, bearer(rsa_key, kid=f"made-up-{uuid.uuid4()}"), Rule.UNKNOWN_KID)
    assert server.hits == 1
    for interval in (1, 2, 3):
        clock.now += REFRESH
        for _ in range(50):
            refused(verifier, bearer(rsa_key, kid=f"made-up-{uuid.uuid4()}"),
                    Rule.UNKNOWN_KID)
            clock.now += REFRESH / 100
        assert server.hits == 1 + interval


def test_concurrent_unknown_kids_share_one_fetch(
        verifier: RequestVerifier, rsa_key: rsa.RSAPrivateKey, server: KeyServer,
        clock: Clock) -> None:
    headers = [bearer(rsa_key, kid=f"made-up-{n}") for n in range(80)]
    rules: list[Rule] = []

    def send(batch: list[str]) -> None:
        for header in batch:
            try:
                verifier.verify(header)
            except RequestRejected as error:
                rules.append(error.rule)

    threads = [threading.Thread(target=send, args=(headers[n::8],)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert rules == [Rule.UNKNOWN_KID] * 80
    assert server.hits == 1


def test_a_key_withdrawn_from_the_set_stops_working_once_the_cache_ages(
        server: KeyServer, clock: Clock, rsa_key: rsa.RSAPrivateKey,
        ec_key: ec.EllipticCurvePrivateKey) -> None:
    verifier = verifier_for(server, clock, max_age=600)
    verifier.verify(bearer(rsa_key))
    server.serve(ec_jwk(ec_key, "ec-1"))  # rsa-1 withdrawn (say, compromised)
    clock.now += 599
    assert verifier.verify(bearer(rsa_key, exp=int(clock.now) + 60)).signed
    clock.now += 1
    refused(verifier, bearer(rsa_key, exp=int(clock.now) + 60), Rule.UNKNOWN_KID)
    assert server.hits == 2


def test_an_unreachable_key_set_refuses_requests_and_is_not_hammered(
        verifier: RequestVerifier, rsa_key: rsa.RSAPrivateKey, server: KeyServer,
        clock: Clock) -> None:
    server.status = 500
    for _ in range(10):
        error = refused(verifier, bearer(rsa_key), Rule.KEY_SET_UNAVAILABLE)
    assert "HTTP 500" in error.message
    assert server.hits == 1
    server.status = 200
    clock.now += REFRESH
    assert verifier.verify(bearer(rsa_key)).signed
    assert server.hits == 2


def test_a_key_set_behind_a_redirect_is_not_followed(
        verifier: RequestVerifier, rsa_key: rsa.RSAPrivateKey, server: KeyServer) -> None:
    server.status = 302
    error = refused(verifier, bearer(rsa_key), Rule.KEY_SET_UNAVAILABLE)
    assert "HTTP 302" in error.message


def test_private_and_encryption_keys_in_a_key_set_are_never_used(
        verifier: RequestVerifier, rsa_key: rsa.RSAPrivateKey, server: KeyServer) -> None:
    private = {**RSAAlgorithm.to_jwk(rsa_key, as_dict=True), "kid": "rsa-private"}
    server.serve(private, rsa_jwk(rsa_key, "rsa-enc", use="enc"))
    refused(verifier, bearer(rsa_key, kid="rsa-private"), Rule.UNKNOWN_KID)
    refused(verifier, bearer(rsa_key, kid="rsa-enc"), Rule.UNKNOWN_KID)


# ------------------------------------------------------------------------- on an event loop

def test_a_caller_that_may_not_block_is_sent_to_a_thread_until_the_key_is_cached(
        server: KeyServer, clock: Clock, rsa_key: rsa.RSAPrivateKey) -> None:
    verifier = verifier_for(server, clock)
    with pytest.raises(KeyFetchNeeded):
        verifier.verify(bearer(rsa_key), may_fetch=False)
    assert server.hits == 0  # nothing fetched on the caller's behalf
    verifier.verify(bearer(rsa_key))  # from a thread: fetches the key set
    assert verifier.verify(bearer(rsa_key), may_fetch=False).signed
    assert server.hits == 1


def test_a_token_refused_on_the_event_loop_is_refused_as_usual(
        verifier: RequestVerifier, rsa_key: rsa.RSAPrivateKey) -> None:
    verifier.verify(bearer(rsa_key))
    with pytest.raises(RequestRejected) as caught:
        verifier.verify(bearer(rsa_key, aud="https://elsewhere.example/"), may_fetch=False)
    assert caught.value.rule is Rule.AUD


def test_an_unknown_kid_on_the_event_loop_waits_for_a_thread_to_refresh_the_keys(
        verifier: RequestVerifier, rsa_key: rsa.RSAPrivateKey,
        rsa_key_2: rsa.RSAPrivateKey) -> None:
    verifier.verify(bearer(rsa_key))
    with pytest.raises(KeyFetchNeeded):
        verifier.verify(bearer(rsa_key_2, kid="rsa-new"), may_fetch=False)


def test_a_jti_goes_to_the_store_given_for_the_call(
        verifier: RequestVerifier, rsa_key: rsa.RSAPrivateKey) -> None:
    own = JtiStore()
    header = bearer(rsa_key, jti="for-this-call")
    verifier.verify(header, jti_store=own)
    assert len(own) == 1
    verifier.verify(header)  # the verifier's own store has not seen it
    refused(verifier, header, Rule.REPLAY)


# ------------------------------------------------------------------------- replay store

def test_the_replay_store_is_bounded_and_frees_space_as_tokens_expire(
        server: KeyServer, clock: Clock, rsa_key: rsa.RSAPrivateKey) -> None:
    verifier = verifier_for(server, clock, capacity=2)
    verifier.verify(bearer(rsa_key, exp=int(START) + 60))
    verifier.verify(bearer(rsa_key, exp=int(START) + 60))
    refused(verifier, bearer(rsa_key, exp=int(START) + 60), Rule.REPLAY_STORE_FULL)
    clock.now = START + 60 + 30  # both past exp + leeway: forgotten, space again
    assert verifier.verify(bearer(rsa_key, exp=int(clock.now) + 60)).signed


def test_a_jti_is_held_until_its_token_can_no_longer_be_accepted() -> None:
    store = JtiStore(capacity=10)
    store.remember(EHR, "j", until=START + 100, now=START)
    with pytest.raises(RequestRejected):
        store.remember(EHR, "j", until=START + 100, now=START + 99)
    store.remember("https://other-ehr.example/", "j", until=START + 200, now=START + 99)
    store.remember(EHR, "j", until=START + 300, now=START + 100)  # expired: forgotten
    assert len(store) == 2


# ------------------------------------------------------------------------- unsigned (dev)

@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.1.1", "::1", "[::1]", "localhost",
                                  "LOCALHOST", "::ffff:127.0.0.1"])
def test_unsigned_requests_may_be_allowed_on_a_loopback_address(host: str) -> None:
    assert is_loopback(host)
    check_unsigned_allowed(host, allow_unsigned=True)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "", "192.168.1.10", "10.0.0.1",
                                  "medsafe.example.org", "::ffff:10.0.0.1"])
def test_unsigned_requests_are_refused_on_any_other_address(host: str) -> None:
    assert not is_loopback(host)
    with pytest.raises(Invalid, match="loopback"):
        check_unsigned_allowed(host, allow_unsigned=True)
    check_unsigned_allowed(host, allow_unsigned=False)  # off: any address is fine


def test_a_verifier_allowing_unsigned_requests_will_not_start_off_loopback(
        server: KeyServer, clock: Clock) -> None:
    with pytest.raises(Invalid, match="loopback"):
        verifier_for(server, clock, allow_unsigned=True, bind_host="0.0.0.0")
    with pytest.raises(Invalid, match="loopback"):
        verifier_for(server, clock, allow_unsigned=True)  # no host given


def test_on_loopback_a_request_without_token_passes_but_a_bad_token_still_fails(
        server: KeyServer, clock: Clock, rsa_key_2: rsa.RSAPrivateKey) -> None:
    verifier = verifier_for(server, clock, allow_unsigned=True, bind_host="127.0.0.1")
    client = verifier.verify(None)
    assert client == UNSIGNED_CLIENT
    assert not client.signed
    assert client.issuer is None
    refused(verifier, bearer(rsa_key_2), Rule.SIGNATURE)


def test_unsigned_requests_are_off_by_default(verifier: RequestVerifier) -> None:
    refused(verifier, None, Rule.MISSING_TOKEN)


# ------------------------------------------------------------------------- configuration

@pytest.mark.parametrize("url", ["http://keys.example.org/jwks", "file:///etc/jwks.json",
                                 "ftp://127.0.0.1/jwks"])
def test_a_key_set_url_must_be_https_except_on_loopback(url: str) -> None:
    with pytest.raises(Invalid, match="https"):
        TrustedIssuer(EHR, url)
    assert TrustedIssuer(EHR, "http://127.0.0.1:8081/jwks").jwks_url.startswith("http:")


def test_the_same_issuer_cannot_be_trusted_twice(clock: Clock) -> None:
    issuer = TrustedIssuer(EHR, "https://ehr.example.org/jwks")
    with pytest.raises(Invalid, match="twice"):
        RequestVerifier([issuer, issuer], audience=SERVICE, jwks=JwksCache(clock=clock),
                        jti_store=JtiStore())


def test_an_issuer_longer_than_the_replay_table_holds_is_refused_at_start() -> None:
    with pytest.raises(Invalid, match="at most 255"):
        TrustedIssuer("https://ehr.example.org/" + "x" * 240, "https://ehr.example.org/k")
    longest = TrustedIssuer("https://ehr.example.org/" + "x" * 231, "https://ehr.example.org/k")
    assert len(longest.iss) == 255
