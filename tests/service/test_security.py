"""TLS and mTLS, role tokens (deny by default), the audit log, pseudonymisation, erasure
and retention — against a real server on 127.0.0.1 and the real Neo4j."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trustme
from neo4j_helpers import count, wipe
from service_helpers import service_settings

from cib_detect._proto.cib.v1 import common_pb2 as pb
from cib_detect.client import CibClient, apply_retention, erase_account, event_message
from cib_detect.config import Neo4jSettings, SecuritySettings, Settings, TokenEntry
from cib_detect.errors import CibError, FailedPrecondition
from cib_detect.privacy import Pseudonymiser
from cib_detect.service.security import METHOD_ROLES, token_digest
from cib_detect.service.server import CibService, create_server
from cib_detect.store.graph_store import GraphStore
from cib_detect.store.schema import apply_schema

pytestmark = pytest.mark.neo4j
T0 = 1_767_225_600_000
TOKENS = {
    "ingest": "tok-ingest-0123456789abcdef",
    "investigate": "tok-investigate-0123456789ab",
    "admin": "tok-admin-0123456789abcdef01",
}
KEY = "pseudonym-key-for-tests-0123456789"


@dataclass
class Secured:
    service: CibService
    settings: Settings
    ca: trustme.CA
    audit: Path
    store: GraphStore

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.service.port}"

    def client(self, role: str | None, **kw: Any) -> CibClient:
        return CibClient(self.target, token=TOKENS[role] if role else "", timeout_s=30,
                         tls_ca=self.ca.cert_pem.bytes(), **kw)  # fmt: skip

    def audit_lines(self) -> list[dict[str, Any]]:
        return [json.loads(x) for x in self.audit.read_text().splitlines()]


def _secured_settings(neo4j: Neo4jSettings, tmp: Path, ca: trustme.CA) -> Settings:
    cert = ca.issue_cert("localhost", "127.0.0.1")
    cert.private_key_pem.write_to_path(str(tmp / "server.key"))
    cert.cert_chain_pems[0].write_to_path(str(tmp / "server.pem"))
    for extra in cert.cert_chain_pems[1:]:
        with (tmp / "server.pem").open("ab") as fh:
            fh.write(extra.bytes())
    settings = service_settings(neo4j)
    settings.security = SecuritySettings(
        auth="tokens",
        tokens=(
            TokenEntry(name="pipeline", roles=("ingest",), token=TOKENS["ingest"]),
            TokenEntry(name="analyst", roles=("investigate",), token=TOKENS["investigate"]),
        ),
        tokens_file=tmp / "tokens.toml",
        tls_cert_file=tmp / "server.pem",
        tls_key_file=tmp / "server.key",
        audit_log=tmp / "audit.jsonl",
        pseudonymise=True,
        pseudonym_key=KEY,
    )
    return settings


@pytest.fixture(scope="module")
def secured(
    store: GraphStore, neo4j_settings: Neo4jSettings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Secured]:
    wipe(store)
    apply_schema(store)
    tmp = tmp_path_factory.mktemp("secured")
    # the admin token lives in a file, by its SHA-256 only
    (tmp / "tokens.toml").write_text(
        '[[tokens]]\nname = "root"\nroles = ["admin"]\n'
        f'sha256 = "{token_digest(TOKENS["admin"])}"\n'
    )
    ca = trustme.CA()
    settings = _secured_settings(neo4j_settings, tmp, ca)
    service, _ = create_server(settings)
    sec = Secured(service, settings, ca, tmp / "audit.jsonl", store)
    try:
        assert service.wait_ready(120)
        yield sec
    finally:
        service.stop(grace_s=1)


def _code(fn: Any) -> str:
    try:
        fn()
    except CibError as exc:
        return exc.status
    return "OK"


def test_tls_is_required_and_health_stays_open(secured: Secured) -> None:
    anonymous = secured.client(None)
    anonymous.wait_until_serving(60)  # health needs no token
    assert _code(lambda: anonymous.list_clusters()) == "UNAUTHENTICATED"
    wrong = CibClient(secured.target, token="not-a-token-at-all-123", timeout_s=5,
                      tls_ca=secured.ca.cert_pem.bytes())  # fmt: skip
    assert _code(lambda: wrong.get_run("r-x")) == "UNAUTHENTICATED"
    plain = CibClient(secured.target, token=TOKENS["admin"], timeout_s=5)  # no TLS
    assert _code(lambda: plain.get_run("r-x")) == "UNAVAILABLE"
    other_ca = trustme.CA()
    untrusted = CibClient(secured.target, token=TOKENS["admin"], timeout_s=5,
                          tls_ca=other_ca.cert_pem.bytes())  # fmt: skip
    assert _code(lambda: untrusted.get_run("r-x")) == "UNAVAILABLE"


def test_roles_allow_exactly_their_methods(secured: Secured) -> None:
    ingest, analyst, admin = (secured.client(r) for r in ("ingest", "investigate", "admin"))
    ev = [event_message("sec-1", "alice", "stream", "trk-1", T0)]
    assert ingest.ingest_events(ev).counts.new == 1
    assert _code(lambda: analyst.ingest_events(ev)) == "PERMISSION_DENIED"
    assert _code(lambda: ingest.list_clusters()) == "PERMISSION_DENIED"
    assert _code(lambda: ingest.start_detection()) == "PERMISSION_DENIED"
    assert _code(lambda: analyst.get_run("r-none")) == "NOT_FOUND"  # allowed, then not found
    assert _code(lambda: analyst.list_clusters()) == "NOT_FOUND"  # no complete run yet
    assert _code(lambda: erase_account(analyst, "alice")) == "PERMISSION_DENIED"
    assert _code(lambda: erase_account(ingest, "nobody")) == "PERMISSION_DENIED"
    assert _code(lambda: admin.ingest_events(ev)) == "OK"  # admin may do everything
    # deny by default: every API method is listed, and nothing else is callable
    from cib_detect.service.server import SERVICE_NAMES

    listed = {m.split("/")[1] for m in METHOD_ROLES}
    assert listed == set(SERVICE_NAMES)


def test_audit_log_records_reads_and_writes(secured: Secured) -> None:
    analyst = secured.client("investigate")
    _code(lambda: analyst.explain_account("bob", run_id="r-audit"))
    _code(lambda: analyst.get_cluster("c-audit", run_id="r-audit"))
    _code(lambda: secured.client("ingest").list_clusters(run_id="r-denied"))
    lines = secured.audit_lines()
    explain = [x for x in lines if x["method"].endswith("/ExplainAccount")][-1]
    assert explain["principal"] == "analyst" and explain["account_id"] == "bob"
    assert explain["run_id"] == "r-audit" and explain["verdict"] == "allow"
    assert explain["ts"].endswith("Z") and explain["peer"].startswith("ipv4:127.0.0.1")
    get = [x for x in lines if x["method"].endswith("/GetCluster")][-1]
    assert get["cluster_id"] == "c-audit"
    denied = [x for x in lines if x.get("run_id") == "r-denied"][-1]
    assert denied["principal"] == "pipeline" and denied["verdict"] == "denied"
    ingest = [x for x in lines if x["method"].endswith("/IngestEvents")][-1]
    assert ingest["events"] == 1
    assert not [x for x in lines if "Health" in x["method"]]
    assert (secured.audit.stat().st_mode & 0o777) == 0o600


def test_call_fails_when_the_audit_log_cannot_be_written(
    store: GraphStore, neo4j_settings: Neo4jSettings
) -> None:
    settings = service_settings(neo4j_settings)
    settings.security = SecuritySettings(audit_log=Path("/dev/full"))  # every write: ENOSPC
    service, port = create_server(settings)
    try:
        assert service.wait_ready(120)
        client = CibClient(f"127.0.0.1:{port}", timeout_s=10)
        client.wait_until_serving(30)
        before = count(store, "MATCH ()-[e:ACTED {eventId: 'audit-fail'}]->() RETURN count(e)")
        with pytest.raises(CibError) as exc:
            client.ingest_events([event_message("audit-fail", "a", "stream", "t", T0)])
        assert exc.value.status == "UNAVAILABLE" and "audit log" in exc.value.message
        after = count(store, "MATCH ()-[e:ACTED {eventId: 'audit-fail'}]->() RETURN count(e)")
        assert before == after == 0
    finally:
        service.stop(grace_s=1)


def test_serving_without_auth_off_loopback_is_refused(neo4j_settings: Neo4jSettings) -> None:
    settings = service_settings(neo4j_settings)
    settings.service.host = "0.0.0.0"
    with pytest.raises(FailedPrecondition, match="without authentication"):
        create_server(settings)


def test_mtls_requires_a_client_certificate(
    store: GraphStore, neo4j_settings: Neo4jSettings, tmp_path: Path
) -> None:
    ca = trustme.CA()
    settings = _secured_settings(neo4j_settings, tmp_path, ca)
    (tmp_path / "tokens.toml").write_text("")
    ca.cert_pem.write_to_path(str(tmp_path / "clients.pem"))
    settings.security = settings.security.model_copy(
        update={"tls_client_ca_file": tmp_path / "clients.pem", "audit_log": tmp_path / "a.log"}
    )
    service, port = create_server(settings)
    try:
        assert service.wait_ready(120)
        target = f"127.0.0.1:{port}"
        no_cert = CibClient(target, token=TOKENS["investigate"], timeout_s=5,
                            tls_ca=ca.cert_pem.bytes())  # fmt: skip
        assert _code(lambda: no_cert.get_run("r-x")) == "UNAVAILABLE"
        leaf = ca.issue_cert("analyst-laptop", common_name="analyst-laptop")
        with_cert = CibClient(target, token=TOKENS["investigate"], timeout_s=10,
                              tls_ca=ca.cert_pem.bytes(), tls_cert=leaf.cert_chain_pems[0].bytes(),
                              tls_key=leaf.private_key_pem.bytes())  # fmt: skip
        with_cert.wait_until_serving(30)
        assert _code(lambda: with_cert.get_run("r-x")) == "NOT_FOUND"
        record = json.loads((tmp_path / "a.log").read_text().splitlines()[-1])
        assert record["client_cert"] == "analyst-laptop"
    finally:
        service.stop(grace_s=1)


def _everything_about(store: GraphStore, value: str) -> int:
    """Nodes and relationships with any property (or list element) equal to ``value``."""
    test = (
        "any(k IN keys(x) WHERE x[k] = $v OR (valueType(x[k]) STARTS WITH 'LIST' AND $v IN x[k]))"
    )
    nodes = count(store, f"MATCH (x) WHERE {test} RETURN count(x)", v=value)
    rels = count(store, f"MATCH ()-[x]->() WHERE {test} RETURN count(x)", v=value)
    return nodes + rels


def test_pseudonyms_erasure_and_retention(
    secured: Secured, world_parquet: Path, neo4j_settings: Neo4jSettings
) -> None:
    from cib_detect.client import file_batches

    ingest, analyst, admin = (secured.client(r) for r in ("ingest", "investigate", "admin"))
    _, batches = file_batches(world_parquet, 1000)
    for batch in batches:
        ingest.ingest_events(batch)
    run = analyst.wait_for_run(analyst.start_detection().run_id, timeout_s=300)
    assert run.state == pb.RUN_STATE_SUCCEEDED
    top = analyst.get_cluster(analyst.list_clusters(run.run_id, page_size=1).clusters[0].cluster_id)
    pseudonym = top.members[0]
    assert pseudonym.startswith("p-")
    # find the raw id behind it, and check no raw id is stored
    raw = next(
        a for b in file_batches(world_parquet, 1000)[1] for a in {e.account_id for e in b}
        if Pseudonymiser(KEY.encode()).account(a) == pseudonym
    )  # fmt: skip
    assert _everything_about(secured.store, raw) == 0
    why = analyst.explain_account(raw, run.run_id)  # callers use the ids they know
    assert why.flagged and why.account_id == pseudonym
    assert _everything_about(secured.store, pseudonym) > 0
    # erasure over the API (admin): nothing of the account remains
    erased = erase_account(admin, raw)
    assert erased.found and erased.events_deleted > 0 and erased.memberships_deleted >= 1
    assert run.run_id in erased.runs_marked
    assert _everything_about(secured.store, pseudonym) == 0
    marked = secured.store.read("MATCH (r:DetectionRun {runId: $r}) RETURN r.erasures AS n, "
                                "r.memberships AS m", {"r": run.run_id})  # fmt: skip
    assert marked[0]["n"] == 1 and marked[0]["m"] == run.memberships - 1
    after = analyst.get_cluster(top.cluster.cluster_id, run.run_id)
    assert pseudonym not in after.members and after.cluster.size == top.cluster.size - 1
    assert not analyst.explain_account(raw, run.run_id).flagged
    again = erase_account(admin, raw)
    assert not again.found and again.events_deleted == 0
    # erasure from the CLI (direct to Neo4j, same pseudonymisation from the environment)
    other = next(m for m in top.members if m != pseudonym)
    other_raw = next(
        a for b in file_batches(world_parquet, 1000)[1] for a in {e.account_id for e in b}
        if Pseudonymiser(KEY.encode()).account(a) == other
    )  # fmt: skip
    env = {"CIB_SECURITY__PSEUDONYMISE": "true", "CIB_SECURITY__PSEUDONYM_KEY": KEY,
           "CIB_NEO4J__URI": secured.settings.neo4j.uri, "PATH": ""}  # fmt: skip
    proc = subprocess.run(
        [str(Path(sys.executable).with_name("cib-detect")), "erase", other_raw, "--json"],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["found"] is True
    assert _everything_about(secured.store, other) == 0
    # the service's cache never serves parts read before an erasure made elsewhere
    assert other not in analyst.get_cluster(top.cluster.cluster_id, run.run_id).members
    # retention: everything is older than a day here -> only the cluster members remain
    events = count(secured.store, "MATCH ()-[e:ACTED]->() RETURN count(e)")
    kept = apply_retention(admin, max_age_days=365 * 100)
    assert kept.events_deleted == 0
    gone = apply_retention(admin, max_age_days=1, batch_size=500)
    assert gone.events_deleted == events
    assert count(secured.store, "MATCH ()-[e:ACTED]->() RETURN count(e)") == 0
    assert (
        count(secured.store, "MATCH (t:Target) WHERE NOT EXISTS { (t)--() } RETURN count(t)") == 0
    )
    assert count(secured.store, "MATCH (a:Account) RETURN count(a)") == count(
        secured.store, "MATCH (a:Account) WHERE EXISTS { (a)-[:MEMBER_OF|COORDINATED]-() } "
        "RETURN count(a)"
    )  # fmt: skip
    with pytest.raises(CibError) as bad:
        apply_retention(admin, max_age_days=0)
    assert (
        bad.value.status == "INVALID_ARGUMENT" and bad.value.violations[0].field == "max_age_days"
    )
