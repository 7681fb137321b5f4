"""Settings resolution order, and file mentions."""

from pathlib import Path

import pytest

from unison_agent.contract.errors import MediaError, SettingsError
from unison_agent.contract.mentions import find_mentions, planning_prompt, strip_mentions
from unison_agent.contract.settings import Settings
from unison_agent.media.files import check_file, kind_of


def test_flag_beats_env_beats_default(tmp_path):
    env = {"UNISON_HOME": str(tmp_path / "envhome"), "UNISON_STEPS": "20", "UNISON_PLANNER": "rules"}
    s = Settings.resolve({}, env=env)
    assert s.home == (tmp_path / "envhome").resolve() and s.steps == 20 and s.planner == "rules"
    assert s.models_dir == s.home / "models" and s.outputs_dir == s.home / "outputs"
    assert s.threads_db == s.home / "threads.sqlite" and s.demo_dir == s.home / "demo"
    s = Settings.resolve({"home": tmp_path / "flaghome", "steps": 7, "planner": None}, env=env)
    assert s.home == (tmp_path / "flaghome").resolve() and s.steps == 7 and s.planner == "rules"
    s = Settings.resolve({}, env={"UNISON_HOME": str(tmp_path)})
    assert s.steps == 50 and s.guidance == 5.0 and s.shift == 5.0 and s.planner == "auto"


def test_default_home_is_the_platform_location(monkeypatch):
    s = Settings.resolve({}, env={})
    assert "unison-agent" in str(s.home)


def test_bad_settings_are_clear(tmp_path):
    with pytest.raises(SettingsError, match="planner"):
        Settings.resolve({"planner": "magic"}, env={"UNISON_HOME": str(tmp_path)})
    with pytest.raises(SettingsError, match="UNISON_DEMO"):
        Settings.resolve({}, env={"UNISON_HOME": str(tmp_path), "UNISON_DEMO": "perhaps"})
    with pytest.raises(SettingsError, match="unknown setting"):
        Settings.resolve({"colour": "red"}, env={})
    s = Settings.resolve({}, env={"UNISON_HOME": str(tmp_path), "UNISON_DEMO": "yes"})
    assert s.demo is True


def test_checkpoint_paths(tmp_path):
    s = Settings.resolve({"home": tmp_path}, env={})
    assert s.checkpoint("vace") == tmp_path.resolve() / "models" / "Wan-AI/Wan2.1-VACE-1.3B-diffusers"
    local = tmp_path / "my_vace"
    local.mkdir()
    assert s.replace(vace=str(local)).checkpoint("vace") == local.resolve()
    assert s.projector_path().name == "projector.pth"


def test_mentions_in_order_both_syntaxes(media_dir):
    text = f"edit ###{media_dir / 'photo.png'}### with @{media_dir / 'mask.png'}, then look at ###{media_dir / 'clip.mp4'}###."
    ms = find_mentions(text)
    assert [Path(m.path).name for m in ms] == ["photo.png", "mask.png", "clip.mp4"]
    assert [m.kind for m in ms] == ["image", "image", "video"]
    assert [m.is_mask for m in ms] == [False, True, False]
    assert planning_prompt(text, ms) == "edit <IMGPAD> with <IMGPAD>, then look at <VIDPAD>."
    assert strip_mentions(text, ms) == "edit with , then look at ."


def test_paths_with_spaces_and_emails(tmp_path):
    from PIL import Image

    p = tmp_path / "my photo.png"
    Image.new("RGB", (8, 8)).save(p)
    ms = find_mentions(f"describe ###{p}### and mail me@example.com")
    assert len(ms) == 1 and ms[0].path == str(p)


def test_content_checks(media_dir, tmp_path):
    info = check_file(media_dir / "clip.mp4")
    assert (info.kind, info.frames, info.width, info.height) == ("video", 9, 64, 64)
    assert check_file(media_dir / "mask.png").is_mask
    assert not check_file(media_dir / "gray.png").is_mask
    assert not check_file(media_dir / "photo.png").is_mask
    with pytest.raises(MediaError, match="unsupported file type '.txt'"):
        kind_of("a.txt")
    fake = tmp_path / "fake.mp4"
    fake.write_bytes(b"\x00" * 100)
    with pytest.raises(MediaError, match="fake.mp4: not a readable video"):
        find_mentions(f"what is in ###{fake}###")
    with pytest.raises(MediaError, match="empty"):
        find_mentions("look at ###   ###")
