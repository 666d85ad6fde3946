"""The doctor's optional-data check and the cache folder an environment is pointed at."""
import importlib.util
import json
import sys
from pathlib import Path

import pytest

from gracekit import config, doctor

ROOT = Path(__file__).resolve().parents[1]


def _real_faces(monkeypatch, folder):
    monkeypatch.setenv("GRACEKIT_REAL_DATA", str(folder))
    return doctor._check_real_faces()


def test_doctor_names_the_exact_olivetti_path_and_command(tmp_path, monkeypatch):
    status, message, fix = _real_faces(monkeypatch, tmp_path / "real")
    expected = tmp_path / "real" / "olivettifaces.mat"
    assert status is None and str(expected) in message
    assert f"cp olivettifaces.mat {expected}" in fix
    assert f"download_olivetti(r'{expected}')" in fix
    expected.parent.mkdir()
    expected.write_bytes(b"MATLAB 5.0")
    status, message, _ = _real_faces(monkeypatch, tmp_path / "real")
    assert status is True and str(expected) in message


def test_doctor_looks_in_the_cache_when_no_folder_is_set(tmp_path, monkeypatch):
    monkeypatch.delenv("GRACEKIT_REAL_DATA", raising=False)
    monkeypatch.setenv("GRACEKIT_CACHE", str(tmp_path / "cache"))
    _, message, fix = doctor._check_real_faces()
    assert str(tmp_path / "cache" / "real_data" / "olivettifaces.mat") in message + fix


@pytest.fixture
def fresh_env(tmp_path, monkeypatch):
    """A Python environment prefix of its own, no GRACEKIT_CACHE, an empty home folder."""
    monkeypatch.setattr(sys, "prefix", str(tmp_path / "venv"))
    monkeypatch.delenv("GRACEKIT_CACHE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path


def test_an_environment_config_points_the_cache_at_a_kit(fresh_env):
    spec = importlib.util.spec_from_file_location("offline_kit", ROOT / "tools" / "offline_kit.py")
    kit_tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(kit_tool)
    (fresh_env / "kit" / "cache").mkdir(parents=True)
    assert config.cache_dir() == fresh_env / "home" / ".cache" / "gracekit"
    written = kit_tool.use_kit(fresh_env / "kit")
    assert written == fresh_env / "venv" / "etc" / "gracekit" / "config.json"
    assert config.cache_dir() == (fresh_env / "kit" / "cache").resolve()
    assert config.real_data_dir() == (fresh_env / "kit" / "cache" / "real_data").resolve()
    _, message, _ = doctor._check_cache()
    assert "set by" in message and str(written) in message
    with pytest.raises(FileNotFoundError, match="kit: .* has no cache/ folder"):
        kit_tool.use_kit(fresh_env / "not-a-kit")


def test_a_broken_environment_config_is_ignored_with_a_warning(fresh_env):
    path = config.env_config_file()
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    with pytest.warns(UserWarning, match="config.json: not readable JSON"):
        assert config.cache_dir() == fresh_env / "home" / ".cache" / "gracekit"
    path.write_text(json.dumps({"cache": 3}))
    with pytest.warns(UserWarning, match='expected {"cache": "<folder>"}'):
        assert config.cache_dir() == fresh_env / "home" / ".cache" / "gracekit"
