"""The [cluster] table of a node's config: one validator, advertise from the TLS listener,
paths relative to the file, `check` showing it without the etcd password."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from ringleader.cli.check import run_check
from ringleader.config.load import load_config
from ringleader.errors import ConfigError
from ringleader.testing import make_test_pki

TOKEN = ('[[ringleader.tokens]]\nname = "c"\nrole = "admin"\nhash = "sha256:'
         + "0" * 64 + '"\n')


def tcp(pki: dict[str, str], listen: str = "127.0.0.1:5555") -> str:
    return (f'[ringleader.tcp]\nlisten = "{listen}"\ntls_cert = "{pki["server_cert"]}"\n'
            f'tls_key = "{pki["server_key"]}"\n' + TOKEN)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return make_test_pki(str(tmp_path_factory.mktemp("cluster-config-pki")))


def test_a_node_config(write: Callable[[str, str], Path], pki: dict[str, str]) -> None:
    path = write("node.toml", tcp(pki) + """
[cluster]
etcd = ["https://10.0.0.1:2379", "10.0.0.2:2379"]
name = "n1"
labels = {zone = "a", ssd = "yes"}
ca_file = "etcd/ca.pem"
user = "agent"
password = "s3cret"
ttl = 5
[watchers.w]
cmd = "sleep 1"
""")
    config = load_config(path)
    cluster = config.cluster
    assert cluster is not None
    assert cluster.name == "n1" and cluster.labels == {"zone": "a", "ssd": "yes"}
    assert cluster.advertise == "127.0.0.1:5555"  # the TLS listener's address
    assert cluster.etcd.ca_file == str(path.parent / "etcd" / "ca.pem")
    assert cluster.key_prefix == "/ringleader/default" and cluster.ttl == 5
    assert "s3cret" not in repr(config)
    assert load_config(write("lone.toml", "[watchers.w]\ncmd = 'x'\n")).cluster is None


def test_advertise_needs_a_listener_and_a_real_address(write: Callable[[str, str], Path],
                                                       pki: dict[str, str]) -> None:
    cases = {
        '[cluster]\netcd = ["http://127.0.0.1:2379"]\nadvertise = "10.0.0.5:5555"\n':
            "[cluster] advertise: this controller has no TLS listener",
        tcp(pki) + '[cluster]\netcd = ["http://127.0.0.1:2379"]\nadvertise = "0.0.0.0:1"\n':
            '[cluster] advertise: "0.0.0.0:1" is no address a console can reach',
        tcp(pki) + '[cluster]\netcd = ["h:1"]\nadvertise = "https://h:1"\n':
            "[cluster] advertise: expected HOST:PORT",
    }
    for text, problem in cases.items():
        with pytest.raises(ConfigError) as info:
            load_config(write("bad.toml", text))
        assert any(problem in p for p in info.value.problems), (problem, info.value.problems)
    wildcard = load_config(write("any.toml", tcp(pki, "0.0.0.0:5555")
                                 + '[cluster]\netcd = ["http://127.0.0.1:2379"]\n'))
    assert wildcard.cluster is not None and wildcard.cluster.advertise is None
    assert any("advertise: not set" in w for w in wildcard.warnings)


def test_every_problem_names_file_table_and_field(write: Callable[[str, str], Path]) -> None:
    for text, problem in (
            ("[cluster]\nname = 'x'\n", "[cluster] etcd: missing"),
            ("[cluster]\netcd = ['ftp://x']\n", "[cluster] etcd: expected http(s)://"),
            ("[cluster]\netcd = 'h:1'\nttl = 1\n", "[cluster] ttl: expected `int` >= 2"),
            ("[cluster]\netcd = 'h:1'\nlabels = {'bad label' = 'x'}\n",
             "[cluster] labels.bad label: not a label name"),
            ("[cluster]\netcd = 'h:1'\nzone = 'a'\n", "[cluster] zone: unknown option"),
            ('[cluster]\netcd = "h:1"\nca_file = "a\\u0000b"\n',
             "[cluster] ca_file: contains a NUL"),
            ("cluster = 3\n", "cluster: expected a table")):
        with pytest.raises(ConfigError) as info:
            load_config(write("bad.toml", text))
        assert len(info.value.problems) == 1, info.value.problems
        assert "bad.toml: " in info.value.problems[0], info.value.problems
        assert problem in info.value.problems[0], (problem, info.value.problems)


def test_check_shows_the_table_but_never_the_password(write: Callable[[str, str], Path],
                                                      pki: dict[str, str]) -> None:
    path = write("node.toml", tcp(pki) + '[cluster]\netcd = ["https://127.0.0.1:2379"]\n'
                 'name = "n1"\nuser = "agent"\npassword = "s3cret"\n')
    out, err = io.StringIO(), io.StringIO()
    assert run_check(str(path), as_json=False, out=out, err=err) == 0, err.getvalue()
    text = out.getvalue()
    assert "[cluster]" in text and "etcd.password         = ***" in text
    assert "advertise             = 127.0.0.1:5555" in text and "s3cret" not in text
    out = io.StringIO()
    assert run_check(str(path), as_json=True, out=out, err=err) == 0
    data = json.loads(out.getvalue())
    assert data["cluster"]["etcd"]["password"] == "***" and "s3cret" not in out.getvalue()


def test_check_checks_the_etcd_tls_files(write: Callable[[str, str], Path],
                                         tmp_path: Path) -> None:
    path = write("node.toml", '[cluster]\netcd = ["https://127.0.0.1:2379"]\n'
                 'ca_file = "missing-ca.pem"\n')
    err = io.StringIO()
    assert run_check(str(path), as_json=False, out=io.StringIO(), err=err) == 2
    assert "[cluster] ca_file " in err.getvalue() and "no such file" in err.getvalue()
