"""The README's Hugging Face commands on a fresh demo, as printed: `make demo`
installs `hf`; `hf auth login --token`, `hf auth whoami`, and `hf download` by
`main` and by the seeded tag v1.0."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.support.demo_process import BIN, Demo, fresh_demo  # noqa: F401  (the fixture)

HF = BIN.with_name("hf")


def test_the_readme_hf_commands_work_on_the_demo(fresh_demo: Demo, tmp_path: Path) -> None:  # noqa: F811
    assert HF.exists(), f"`make demo` installs the `hf` command; it is missing at {HF}"
    env = {
        **{k: v for k, v in fresh_demo.env.items() if not k.startswith("HF_")},
        "HF_ENDPOINT": fresh_demo.env["DISTSERVER_URL"],
        "HF_HUB_DISABLE_XET": "1",
        "HF_HOME": str(tmp_path / "hf-home"),
        "NO_PROXY": "127.0.0.1",
    }

    def hf(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(HF), *args], env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path
        )

    login = hf("auth", "login", "--token", env["RESEARCHER_TOKEN"])
    assert login.returncode == 0, login.stdout + login.stderr
    whoami = hf("auth", "whoami")
    assert whoami.returncode == 0
    assert "researcher@example.org" in whoami.stdout
    published = tmp_path / "demo-instance" / "source" / "tiny-llm" / "model.safetensors"
    for extra in ((), ("--revision", "v1.0")):
        done = hf("download", "acme/tiny-llm", "model.safetensors", "-q", *extra)
        assert done.returncode == 0, done.stdout + done.stderr
        path = Path(done.stdout.strip().splitlines()[-1])
        assert path.read_bytes() == published.read_bytes()
