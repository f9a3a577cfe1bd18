"""The suite's database tests also pass as a normal user (CI runs as root).

When the tests run as root, this test re-runs the store and migration tests under an
unprivileged account with ``runuser``; run as a normal user, the whole suite is that check.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
USER = "dp-tester"


@pytest.mark.skipif(os.geteuid() != 0, reason="already running as a normal user")
@pytest.mark.skipif(shutil.which("runuser") is None, reason="runuser not available")
def _interpreter_for(user: str) -> tuple[str, dict[str, str]]:
    """An interpreter the user may run, with this environment's packages on its path.

    The venv's interpreter may live in a folder the user cannot enter (e.g. pyenv under
    /root); then the system's python of the same minor version is used with the venv's
    site-packages, which are readable.
    """
    check = subprocess.run(
        [shutil.which("runuser"), "-u", user, "--", sys.executable, "-c", "pass"],
        capture_output=True,
    )
    if check.returncode == 0:
        return sys.executable, {}
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    system = shutil.which(version, path="/usr/bin:/usr/local/bin")
    if not system:
        pytest.skip(f"no {version} the user {user} can run")
    return system, {"PYTHONPATH": sysconfig.get_paths()["purelib"]}


def test_store_and_migration_tests_pass_as_a_normal_user():
    if subprocess.run(["id", USER], capture_output=True).returncode != 0:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", USER],
            check=True,
        )
    home = Path(tempfile.mkdtemp(prefix="dp-nonroot-"))
    shutil.chown(home, user=USER)
    python, extra_env = _interpreter_for(USER)
    env = {
        **extra_env,
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "TMPDIR": str(home),
        "LC_ALL": "C.UTF-8",
        "LANG": "C.UTF-8",
    }
    try:
        result = subprocess.run(
            [
                shutil.which("runuser"), "-u", USER, "--",
                python, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                "tests/integration/test_task_store.py", "tests/integration/test_migrations.py",
            ],
            cwd=PROJECT_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
        )  # fmt: skip
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
        assert " passed" in result.stdout
    finally:
        shutil.rmtree(home, ignore_errors=True)
