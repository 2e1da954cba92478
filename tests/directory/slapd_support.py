"""A real OpenLDAP server for the tests: Debian's slapd, started in a temporary directory on a
free port with a generated slapd.conf, loaded from LDIF, stopped afterwards."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SLAPD = "/usr/sbin/slapd"
SUFFIX = "dc=example,dc=com"
ROOT_DN = f"cn=admin,{SUFFIX}"
ROOT_PASSWORD = "admin-secret"
PEOPLE = f"ou=people,{SUFFIX}"

CONFIG = """\
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
pidfile {dir}/slapd.pid
argsfile {dir}/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb
database mdb
maxsize 10485760
suffix "{suffix}"
rootdn "{root_dn}"
rootpw {root_password}
directory {dir}/data
"""


@dataclass
class Slapd:
    uri: str

    def ldif(self, text: str, *, modify: bool = False) -> None:
        """Load LDIF with the OpenLDAP tools (ldapadd / ldapmodify)."""
        subprocess.run(
            ["ldapmodify", *([] if modify else ["-a"]), "-x", "-H", self.uri,
             "-D", ROOT_DN, "-w", ROOT_PASSWORD],
            input=text.encode(), check=True, capture_output=True, timeout=20,
        )  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def slapd(tmp_path: Path) -> Iterator[Slapd]:
    if not Path(SLAPD).exists() or shutil.which("ldapmodify") is None:
        pytest.fail("slapd and ldap-utils are needed (apt-get install slapd ldap-utils)")
    (tmp_path / "data").mkdir()
    conf = tmp_path / "slapd.conf"
    conf.write_text(
        CONFIG.format(dir=tmp_path, suffix=SUFFIX, root_dn=ROOT_DN, root_password=ROOT_PASSWORD)
    )
    uri = f"ldap://127.0.0.1:{_free_port()}"
    # -d 0: stay in the foreground (so this process owns it), logging nothing.
    process = subprocess.Popen(
        [SLAPD, "-h", f"{uri}/", "-f", str(conf), "-d", "0"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    server = Slapd(uri)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                server.ldif(f"dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\n"
                            f"o: Example\ndc: example\n\n"
                            f"dn: {PEOPLE}\nobjectClass: organizationalUnit\nou: people\n")  # fmt: skip
                break
            except subprocess.CalledProcessError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"slapd did not start: {process.stderr.read()!r}") from None
                time.sleep(0.1)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
