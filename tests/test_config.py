"""Settings: defaults, file, environment and flag precedence; unknown keys raise."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ilona_match.config import ConfigError, Settings, load_settings

REPO = Path(__file__).resolve().parents[1]


def test_default_yaml_spells_out_the_builtin_defaults() -> None:
    from_file = load_settings(REPO / "configs" / "default.yaml")
    assert from_file == Settings()


def test_environment_beats_file_and_flags_beat_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"contract": {"max_text_chars": 111}, "workdir": "w"}))
    assert load_settings(config).contract.max_text_chars == 111
    monkeypatch.setenv("ILONA_MATCH_CONTRACT__MAX_TEXT_CHARS", "222")
    settings = load_settings(config)
    assert settings.contract.max_text_chars == 222
    assert settings.workdir == Path("w")  # the rest of the file still applies
    assert load_settings(config, {"contract": {"max_text_chars": 333}}).contract.max_text_chars == 333


def test_unknown_key_in_file_raises_naming_file_and_field(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("contract:\n  max_text_char: 10\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: contract\.max_text_char: Extra inputs"):
        load_settings(config)


def test_invalid_value_raises(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("contract:\n  max_text_chars: -1\n")
    with pytest.raises(ConfigError, match=r"contract\.max_text_chars: Input should be greater than 0"):
        load_settings(config)


def test_missing_and_malformed_files_raise(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(tmp_path / "nope.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("contract: [unclosed\n")
    with pytest.raises(ConfigError, match="cannot read config"):
        load_settings(broken)
    listing = tmp_path / "list.yaml"
    listing.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_settings(listing)


def test_settings_are_frozen() -> None:
    settings = load_settings()
    with pytest.raises(Exception, match="frozen"):
        settings.workdir = Path("x")  # type: ignore[misc]
