"""GET /v1/audit/checkpoint and the proof endpoints: public, hashes only, 400 on bad parameters."""

from __future__ import annotations

import base64
from types import SimpleNamespace

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from certs import jose
from exchange.api import audit, problems
from exchange.audit import merkle, repository, service
from exchange.db.engine import session_factory
from exchange.observability.middleware import RequestObservability
from tests.exchange.audit.conftest import build_log, sign, sql


@pytest.fixture
def client(engine):
    # The router on a bare app with the hub's problem handlers and sessions; exchange/api/app.py
    # will include it with app.include_router(audit.router).
    app = FastAPI()
    problems.install(app)
    app.add_middleware(RequestObservability)
    app.state.hub = SimpleNamespace(sessions=session_factory(engine))
    app.include_router(audit.router)
    with TestClient(app) as client:
        yield client


@pytest.fixture
def logged(session, signer):
    build_log(session, 20, signer, at=(10, 20))
    return repository.leaf_hashes(session, 0, 20)


def _b64(values):
    return [base64.b64decode(value) for value in values]


def test_no_checkpoint_yet_is_a_404_problem(client):
    response = client.get("/v1/audit/checkpoint")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "/problems/no-checkpoint"


def test_the_latest_checkpoint_is_public_and_verifies(client, logged, signer):
    body = client.get("/v1/audit/checkpoint").json()
    assert body["tree_size"] == 20
    assert base64.b64decode(body["root_hash"]) == merkle.root(logged)
    claims = jose.verify(body["jws"], signer.chain[0].public_key(), typ="exchange-checkpoint+jwt")
    assert claims["tree_size"] == 20 and claims["root_hash"] == body["root_hash"]
    assert claims["timestamp"] == body["timestamp"]


def test_an_inclusion_proof_verifies_against_the_checkpoint(client, logged):
    checkpoint = client.get("/v1/audit/checkpoint").json()
    body = client.get("/v1/audit/proof/inclusion", params={"index": 13, "tree_size": 20}).json()
    assert set(body) == {"leaf_index", "tree_size", "leaf_hash", "inclusion_path", "root_hash"}
    assert body["leaf_index"] == 13 and body["root_hash"] == checkpoint["root_hash"]
    assert merkle.verify_inclusion(
        13,
        20,
        base64.b64decode(body["leaf_hash"]),
        _b64(body["inclusion_path"]),
        base64.b64decode(checkpoint["root_hash"]),
    )


def test_a_consistency_proof_links_two_checkpoints(client, logged, session):
    body = client.get("/v1/audit/proof/consistency", params={"first": 10, "second": 20}).json()
    assert base64.b64decode(body["first_root"]) == merkle.root(logged[:10])
    assert merkle.verify_consistency(
        10,
        20,
        base64.b64decode(body["first_root"]),
        base64.b64decode(body["second_root"]),
        _b64(body["consistency_path"]),
    )
    same = client.get("/v1/audit/proof/consistency", params={"first": 20, "second": 20}).json()
    assert same["consistency_path"] == []


@pytest.mark.parametrize(
    ("path", "params", "slug", "detail"),
    [
        (
            "/v1/audit/proof/inclusion",
            {"index": 20, "tree_size": 20},
            "out-of-range",
            "index must be between 0 and 19",
        ),
        (
            "/v1/audit/proof/inclusion",
            {"index": 0, "tree_size": 21},
            "out-of-range",
            "tree_size must be between 1 and 20",
        ),
        ("/v1/audit/proof/inclusion", {"index": 0, "tree_size": 0}, "out-of-range", "tree_size must be"),
        ("/v1/audit/proof/inclusion", {"index": -1, "tree_size": 5}, "malformed-request", None),
        ("/v1/audit/proof/inclusion", {"index": "x", "tree_size": 5}, "malformed-request", None),
        ("/v1/audit/proof/inclusion", {"tree_size": 5}, "malformed-request", None),
        ("/v1/audit/proof/inclusion", {"index": 0, "tree_size": 10**30}, "malformed-request", None),
        ("/v1/audit/proof/consistency", {"first": 0, "second": 5}, "out-of-range", "first must be between 1"),
        ("/v1/audit/proof/consistency", {"first": 6, "second": 5}, "out-of-range", "first must be between 1"),
        (
            "/v1/audit/proof/consistency",
            {"first": 1, "second": 21},
            "out-of-range",
            "second must be between 1 and 20",
        ),
        ("/v1/audit/proof/consistency", {"first": 1}, "malformed-request", None),
    ],
)
def test_bad_parameters_are_400_problems(client, logged, path, params, slug, detail):
    response = client.get(path, params=params)
    assert response.status_code == 400
    body = response.json()
    assert response.headers["content-type"] == "application/problem+json"
    assert body["type"] == f"/problems/{slug}" and body["request_id"]
    if detail is not None:
        assert detail in body["detail"]


def test_an_empty_log_has_no_proofs(client):
    response = client.get("/v1/audit/proof/inclusion", params={"index": 0, "tree_size": 1})
    assert response.status_code == 400 and response.json()["detail"] == "the log is empty"


def test_proofs_need_no_token(client, logged):
    assert client.get("/v1/audit/proof/inclusion", params={"index": 0, "tree_size": 1}).status_code == 200


def test_signing_more_moves_the_checkpoint(client, logged, session, signer):
    build_log(session, 5)
    sign(session, signer, seconds=99)
    session.commit()
    assert client.get("/v1/audit/checkpoint").json()["tree_size"] == 25
    assert service.tree_size(session) == 25


def test_a_damaged_log_is_a_500_problem_not_a_crash(client, logged, session):
    sql(session, 'DELETE FROM audit_entries WHERE "index" = 3')
    response = client.get("/v1/audit/proof/inclusion", params={"index": 0, "tree_size": 19})
    assert response.status_code == 500 and response.json()["type"] == "/problems/audit-log-damaged"
