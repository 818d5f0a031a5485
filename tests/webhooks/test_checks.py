"""`check --deploy` refuses WEBHOOKS_ALLOW_PRIVATE (in a fresh process, environment only)."""

from pathlib import Path

from tests.portal.test_settings_deploy import manage, production_env


def test_deploy_check_refuses_allow_private(tmp_path: Path) -> None:
    result = manage(
        production_env(tmp_path, WEBHOOKS_ALLOW_PRIVATE="true"),
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
    )
    assert result.returncode != 0
    assert "webhooks.E001" in result.stderr, result.stdout + result.stderr


def test_deploy_check_passes_with_allow_private_off(tmp_path: Path) -> None:
    env = production_env(tmp_path)
    env.pop("WEBHOOKS_ALLOW_PRIVATE", None)
    result = manage(env, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
