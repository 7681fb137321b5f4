"""Settings, resolved once: command-line flag, then environment variable, then default.

``Settings.resolve(flags)`` is called once by the CLI (or by ``Session``/``UnisonTool``) and the resulting
object is passed down; nothing else reads the environment. Every field ``name`` can be set with the
environment variable ``UNISON_<NAME>`` (upper case). ``UNISON_HOME`` moves the whole user data directory.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from unison_agent.contract.errors import SettingsError

ENV_PREFIX = "UNISON_"
MAX_SEED = 2**63 - 1
"""Seeds are 0 .. 2**63-1 (what a torch generator takes and JSON keeps exactly)."""

# Published checkpoints (hub ids); `unison download` puts them under models_dir/<id>.
QWEN_ID = "Qwen/Qwen2.5-VL-3B-Instruct"
UNISON_ID = "ali-vilab/Unison"
VACE_ID = "Wan-AI/Wan2.1-VACE-1.3B-diffusers"
DEPTH_ID = "depth-anything/Depth-Anything-V2-Small-hf"
POSE_ID = "usyd-community/vitpose-base-simple"
PERSON_ID = "PekingU/rtdetr_r50vd_coco_o365"
GROUNDING_ID = "IDEA-Research/grounding-dino-tiny"
SAM2_ID = "facebook/sam2.1-hiera-small"


def default_home() -> Path:
    """The platform's user data location (XDG on Linux, Application Support on macOS, AppData on Windows)."""
    from platformdirs import user_data_dir

    return Path(user_data_dir("unison-agent", appauthor=False))


class Settings(BaseModel):
    """Everything configurable. Paths are absolute after ``resolve``."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    # where things live
    home: Path
    models_dir: Path | None = None
    outputs_dir: Path | None = None
    threads_db: Path | None = None
    demo_dir: Path | None = None

    # what runs
    demo: bool = False
    planner: Literal["auto", "unison", "qwen", "rules"] = "auto"
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    attn: Literal["auto", "flash_attention_2", "sdpa", "eager"] = "auto"

    # checkpoints: a hub id (looked up under models_dir) or a local directory/file
    qwen: str = QWEN_ID
    unison: str = UNISON_ID  # the planning LoRA adapter + projector.pth
    planner_merged: str | None = None  # a merged planner directory (base + LoRA), if the user made one
    projector: str | None = None  # explicit projector.pth (default: <unison>/projector.pth)
    vace: str = VACE_ID
    depth_model: str = DEPTH_ID
    pose_model: str = POSE_ID
    person_model: str = PERSON_ID
    grounding_model: str = GROUNDING_ID
    sam2_model: str = SAM2_ID
    raft_weights: str | None = None  # torchvision RAFT weights file for optical flow; None = random/none

    # generation (the method's defaults)
    default_width: int = 832
    """Output width when the request names no size (the method's 832; the demo's 128)."""
    default_height: int = 480
    """Output height when the request names no size (the method's 480; the demo's 128)."""
    steps: int = Field(50, ge=1, le=1000)
    guidance: float = 5.0
    shift: float = 5.0
    context_scale: float = 1.0
    seed: int | None = Field(None, ge=0, le=MAX_SEED)
    negative_prompt: str | None = None  # None = Wan's default negative prompt
    offload: Literal["none", "model", "group", "sequential"] = "none"
    """Keep weights off the GPU between uses: whole components (model), diffusers' group offloading of blocks
    with CUDA streams (group), or layer by layer (sequential: least memory, slowest)."""
    vae_tiling: bool = False
    vram_budget: float | None = Field(None, gt=0)
    """GB of GPU memory the models may hold at once (None: the device's free memory); with offload=none the
    residency manager moves idle models (planner, text encoder) to the CPU to stay under it."""
    compile: bool = False
    """Regional torch.compile of the transformer's repeated blocks (slow first call, faster steps)."""
    fast: bool = False
    """Step caching (diffusers' first-block cache): faster, slightly different output; recorded in the sidecar."""
    fast_threshold: float = Field(0.05, gt=0)
    """First-block cache threshold for ``fast``: higher skips more steps (faster, further from the full result)."""

    # long videos (window by window)
    window_frames: int = 81
    """Frames per generation window (4k+1; Wan2.1-VACE was trained on 81): longer videos are made window by window."""
    window_overlap: int = 17
    """Frames each window keeps from the previous one as context (4k+1, fewer than window_frames; 17 = 5 latents)."""
    max_video_seconds: float = Field(60.0, gt=0)
    """The longest video a request may ask for (60 s = 961 frames at 16 fps); longer requests are refused."""

    # checking its own work
    verify_attempts: int = 0
    """Generate up to this many attempts per step until the output passes its checks (0: no checking)."""
    verify_threshold: float = 0.7
    """An attempt passes when the mean probability of "yes" over its checks reaches this."""

    # understanding
    system_prompt: str | None = None
    """A system message for understanding; None keeps Qwen's default ("You are a helpful assistant.")."""
    max_new_tokens: int = 512
    image_max_pixels: int | None = Field(None, gt=0)
    """Pixel cap for each image understanding sees. None: the processor's own, as published (Qwen2.5-VL:
    ``max_pixels`` 12,845,056 in its preprocessor config); a number lowers it, for a small GPU (never raises it)."""
    video_max_pixels: int = 360 * 420
    video_fps: float = 2.0
    video_max_frames: int = 64

    # limits on the files a request names (checked from headers and container metadata before decoding)
    limit_file_bytes: int = Field(2 * 1024**3, gt=0)
    """Files larger than this many bytes are refused."""
    limit_image_pixels: int = Field(8192 * 8192, gt=0)
    """Images (and video frames) with more pixels than this are refused, before any pixel is decoded."""
    limit_video_seconds: float = Field(600.0, gt=0)
    """Videos longer than this many seconds are refused."""
    limit_video_frames: int = Field(20_000, gt=0)
    """Videos with more frames than this are refused."""

    # bounded work
    max_request_chars: int = Field(20_000, gt=0)
    """Requests longer than this many characters are refused at once, before any planning (env
    UNISON_MAX_REQUEST_CHARS)."""
    max_input_tokens: int = Field(32768, gt=0)
    """At most this many tokens (text and media) go into any Qwen model input (planner, projector encoding,
    understanding, checks), Qwen2.5-VL's 32K context; a longer input is refused with a message (the history shown to
    the understanding model is cut to fit first)."""

    # agent
    thread_wait: float = Field(120.0, ge=0)
    """Seconds a turn waits for another process's turn on the same thread before failing "thread busy" (0: at once)."""
    confirm: bool = False
    allowed_dirs: tuple[Path, ...] = ()

    @classmethod
    def resolve(cls, flags: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings: flags that are not None win, then ``UNISON_*`` variables, then defaults."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for name in cls.model_fields:
            key = ENV_PREFIX + name.upper()
            if key in env and env[key] != "":
                values[name] = _from_env(name, env[key])
        for name, value in (flags or {}).items():
            if name not in cls.model_fields:
                raise SettingsError(f"unknown setting {name!r}; known: {', '.join(cls.model_fields)}")
            if value is not None:
                values[name] = value
        home = Path(values.get("home") or default_home()).expanduser().resolve()
        values["home"] = home
        values.setdefault("models_dir", home / "models")
        values.setdefault("outputs_dir", home / "outputs")
        values.setdefault("threads_db", home / "threads.sqlite")
        values.setdefault("demo_dir", home / "demo")
        for name in ("models_dir", "outputs_dir", "threads_db", "demo_dir"):
            values[name] = Path(values[name]).expanduser().resolve()
        if "allowed_dirs" in values:
            values["allowed_dirs"] = tuple(Path(p).expanduser().resolve() for p in values["allowed_dirs"])
        try:
            return cls(**values)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc']))}: {e['msg']} (env {ENV_PREFIX}{str(e['loc'][0]).upper()} or flag)"
                for e in exc.errors()
            )
            raise SettingsError(f"invalid settings: {problems}") from None
        except UnicodeEncodeError:  # a NUL or lone surrogate in a path setting
            raise SettingsError("invalid settings: a path setting is not a usable path") from None

    def replace(self, **changes: Any) -> Settings:
        """A validated copy with some fields changed."""
        data = self.model_dump()
        data.update(changes)
        try:
            return Settings(**data)
        except ValidationError as exc:
            raise SettingsError(f"invalid settings: {_problems(exc)}") from None

    def checkpoint(self, name: str) -> Path:
        """Local path of a checkpoint setting: the value itself when it exists, else ``models_dir/<value>``."""
        value = getattr(self, name)
        if value is None:
            raise SettingsError(f"checkpoint setting {name!r} is not set")
        path = Path(value).expanduser()
        if path.exists():
            return path.resolve()
        return self.models_dir / value

    def projector_path(self) -> Path:
        """``projector`` if set, else ``projector.pth`` inside the Unison checkpoint directory."""
        if self.projector:
            return Path(self.projector).expanduser().resolve()
        return self.checkpoint("unison") / "projector.pth"


def _problems(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']} (got {e.get('input')!r})" for e in exc.errors())


OVERRIDE_FIELDS = ("seed", "steps", "guidance", "shift", "context_scale", "verify_attempts")
"""Per-turn values checked as the settings of the same name are (finite numbers, seeds in range)."""


def check_overrides(overrides: Mapping[str, Any], where: str = "overrides") -> dict[str, Any]:
    """``overrides`` with its sampler values checked and converted where they enter (a seed of 2**80, a NaN
    guidance or steps of "many" are refused here, so nothing invalid reaches a plan or a sidecar); a
    :class:`SettingsError` naming the value otherwise. Plan fields (width, num_frames...) are checked by the plan."""
    if not isinstance(overrides, Mapping):
        raise SettingsError(f"{where} must be a mapping of field: value, got {type(overrides).__name__}")
    values = {k: v for k, v in overrides.items() if k in OVERRIDE_FIELDS and v is not None}
    if not values:
        return dict(overrides)
    data = {name: info.default for name, info in Settings.model_fields.items() if name != "home"}
    try:
        checked = Settings.model_validate({**data, **values, "home": Path(".")})
    except ValidationError as exc:
        raise SettingsError(f"invalid {where}: {_problems(exc)}") from None
    return {**overrides, **{k: getattr(checked, k) for k in values}}


_BOOL_TRUE = {"1", "true", "yes", "on"}
_BOOL_FALSE = {"0", "false", "no", "off"}


def _from_env(name: str, raw: str) -> Any:
    field = Settings.model_fields[name]
    if field.annotation is bool:
        low = raw.strip().lower()
        if low in _BOOL_TRUE:
            return True
        if low in _BOOL_FALSE:
            return False
        raise SettingsError(f"{ENV_PREFIX}{name.upper()}={raw!r}: expected one of 1/0, true/false, yes/no, on/off")
    if name == "allowed_dirs":
        return tuple(p for p in raw.split(os.pathsep) if p)
    return raw
