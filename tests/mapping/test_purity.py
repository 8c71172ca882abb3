"""The mapping core is pure: importing it (and using it) loads no Airflow and no I/O-bound client library."""

from __future__ import annotations

import subprocess
import sys

PROGRAM = """
import sys
import airflow_provider_rudder_sf.mapping as m
m.build_plan([m.classify('{"type":"identify","integrations":{"Salesforce":true},"traits":{"email":"a@x.io"}}', 0,
              m.MappingOptions())], {}, m.MappingOptions())
bad = sorted(n for n in sys.modules if n.split(".")[0] in {"airflow", "requests", "simple_salesforce", "sqlalchemy"})
print(",".join(bad))
"""


def test_mapping_imports_no_airflow_and_no_client_library():
    out = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_the_purity_check_would_notice_an_airflow_import():
    program = PROGRAM.replace("import sys\n", "import sys\nimport airflow.sdk\n", 1)
    out = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True)
    assert "airflow" in out.stdout
