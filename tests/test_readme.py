"""The README's quickstart is two commands, and the second is exactly what CI runs."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _quickstart_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", section, flags=re.S)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip()]


def test_quickstart_is_two_commands_and_ci_runs_the_second():
    install_and_run, install_and_test = _quickstart_commands()
    assert "pip install" in install_and_run and "gen_media.recipes.speech train" in install_and_run
    assert "pip install" in install_and_test and "pytest" in install_and_test
    ci_command = [ln.strip() for ln in (ROOT / ".ci" / "run").read_text().splitlines() if "pytest" in ln]
    assert ci_command == [install_and_test]
