"""Annotators without learned weights (plus RAFT optical flow): gray, canny, scribble, flow, outpainting
canvases, first/last-frame expansion, and subject crops for reference images.

All take and return uint8 RGB frames (T, H, W, 3); masks are uint8 0/255 with white = generate.

Optical flow uses torchvision's RAFT (``raft_small``). Its weights come from ``settings.raft_weights`` (a
``.pth`` state dict, e.g. torchvision's ``Raft_Small_Weights.C_T_V2``) when given; otherwise the network is
randomly initialised (never downloaded), which gives a correctly shaped but meaningless flow picture, and a
warning says so.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from unison_agent.contract.errors import MediaError, WeightsError
from unison_agent.core.progress import restart, step
from unison_agent.models.registry import registry
from unison_agent.tools.annotator_models import as_frames, batches, device_for, gray_to_rgb

if TYPE_CHECKING:  # pragma: no cover
    from unison_agent.contract.settings import Settings

log = logging.getLogger(__name__)

GREY = 127  # VACE's hole value
CANNY_LOW, CANNY_HIGH = 100, 200
FLOW_BATCH = 4
RANDOM_RAFT_NOTE = (
    "optical flow: RAFT is randomly initialised (no raft_weights set), so the flow picture is meaningless; "
    "set UNISON_RAFT_WEIGHTS to torchvision's raft_small weights file for real flow"
)


def gray_frames(frames: np.ndarray) -> np.ndarray:
    """Grey-scale control frames, repeated to 3 channels."""
    import cv2

    frames = as_frames(frames)
    return gray_to_rgb(np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]))


def canny_frames(frames: np.ndarray, low: int = CANNY_LOW, high: int = CANNY_HIGH) -> np.ndarray:
    """Canny edges (white on black), 3 channels."""
    import cv2

    frames = as_frames(frames)
    return gray_to_rgb(np.stack([cv2.Canny(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY), low, high) for f in frames]))


def scribble_frames(frames: np.ndarray) -> np.ndarray:
    """Scribble-like strokes: edges of a smoothed frame, dilated to hand-drawn thickness, white on black."""
    import cv2

    frames = as_frames(frames)
    side = min(frames.shape[1:3])
    blur = max(3, (side // 128) * 2 + 1)
    kernel = np.ones((3, 3), np.uint8)
    out = []
    for frame in frames:
        gray = cv2.GaussianBlur(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), (blur, blur), 0)
        edges = cv2.Canny(gray, 50, 120)
        out.append(cv2.dilate(edges, kernel, iterations=max(1, side // 256)))
    return gray_to_rgb(np.stack(out))


# ----------------------------------------------------------------------------------------------------------
# optical flow


def load_raft(settings: Settings) -> tuple[Any, bool]:
    """torchvision RAFT-small (cached once per process) and whether it has trained weights."""
    device = device_for(settings)
    weights = settings.raft_weights
    key = ("annotator", "raft-small", str(weights), str(device))

    def build():
        import torch
        from torchvision.models.optical_flow import raft_small

        model = raft_small(weights=None, progress=False)
        if weights:
            path = Path(weights).expanduser()
            if not path.is_file():
                raise WeightsError(f"raft_weights: no such file {path}; point UNISON_RAFT_WEIGHTS at a raft_small .pth")
            try:
                state = torch.load(path, map_location="cpu", weights_only=True)
                model.load_state_dict(state.get("state_dict", state) if isinstance(state, dict) else state)
            except (RuntimeError, OSError, ValueError) as exc:
                raise WeightsError(f"raft_weights: {path} is not a raft_small state dict ({exc})") from None
        return model.to(device).eval()

    return registry().get(key, build, label="RAFT (optical flow)"), bool(weights)


def flow_frames(frames: np.ndarray, settings: Settings, *, num_flow_updates: int = 12) -> np.ndarray:
    """Optical-flow visualisation (T, H, W, 3) uint8: frame t shows the flow t -> t+1 (the last repeats the
    previous one; a single image has zero flow, i.e. white)."""
    import torch
    import torch.nn.functional as F
    from torchvision.utils import flow_to_image

    frames = as_frames(frames)
    t, h, w = frames.shape[:3]
    if t == 1:
        return np.full_like(frames, 255)
    model, trained = load_raft(settings)
    if not trained:
        log.warning(RANDOM_RAFT_NOTE)
    device = next(model.parameters()).device
    fh, fw = max(128, -(-h // 8) * 8), max(128, -(-w // 8) * 8)  # RAFT: sides divisible by 8, at least 128
    video = torch.from_numpy(frames).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)
    video = F.interpolate(video, size=(fh, fw), mode="bilinear", align_corners=False)
    pictures = []
    restart("annotating")  # frame pairs are counted from here (the model is loaded)
    for part in batches(t - 1, FLOW_BATCH):
        first = video[part.start : part.stop].to(device)
        second = video[part.start + 1 : part.stop + 1].to(device)
        with torch.inference_mode():
            flow = model(first, second, num_flow_updates=num_flow_updates)[-1]
        flow = F.interpolate(flow, size=(h, w), mode="bilinear", align_corners=False)
        flow[:, 0] *= w / fw
        flow[:, 1] *= h / fh
        pictures.append(flow_to_image(flow.float()).permute(0, 2, 3, 1).cpu().numpy())
        step("annotating", part.stop, t - 1, annotator="flow")
    out = np.concatenate(pictures)
    return np.concatenate([out, out[-1:]]).astype(np.uint8)


# ----------------------------------------------------------------------------------------------------------
# canvases and masks for VACE


Side = Literal["left", "right", "up", "down"]


def outpaint_canvas(
    frames: np.ndarray, expand: float = 0.25, sides: tuple[Side, ...] = ("left", "right", "up", "down")
) -> tuple[np.ndarray, np.ndarray]:
    """Grey (127) padding around the frames: ``expand`` of the width/height on each named side.

    Returns the canvas (T, H', W', 3) and the mask (T, H', W') with 255 on the padding, 0 on the original.
    """
    frames = as_frames(frames)
    if not 0 < expand <= 4:
        raise ValueError(f"expand must be in (0, 4], got {expand}")
    unknown = set(sides) - {"left", "right", "up", "down"}
    if unknown or not sides:
        raise ValueError(f"sides must name some of left, right, up, down; got {sides}")
    t, h, w = frames.shape[:3]
    pad = {
        s: (round(expand * (w if s in ("left", "right") else h)) if s in sides else 0)
        for s in ("left", "right", "up", "down")
    }
    top, bottom, left, right = pad["up"], pad["down"], pad["left"], pad["right"]
    bottom += (h + top + bottom) % 2  # even sides for H.264
    right += (w + left + right) % 2
    canvas = np.full((t, h + top + bottom, w + left + right, 3), GREY, np.uint8)
    canvas[:, top : top + h, left : left + w] = frames
    mask = np.full(canvas.shape[:3], 255, np.uint8)
    mask[:, top : top + h, left : left + w] = 0
    return canvas, mask


def expand_frame(image: np.ndarray, num_frames: int, anchor: Literal["first", "last"]) -> tuple[np.ndarray, np.ndarray]:
    """First/last-frame expansion for image-to-video: the image at one end, grey (127) frames elsewhere.

    Returns frames (N, H, W, 3) and masks (N, H, W): 0 on the given frame, 255 on the frames to generate.
    """
    image = as_frames(image, "image")
    if image.shape[0] != 1:
        raise MediaError(f"frame expansion takes one image, got {image.shape[0]} frames")
    if num_frames < 2:
        raise ValueError(f"num_frames must be at least 2, got {num_frames}")
    if anchor not in ("first", "last"):
        raise ValueError(f"anchor must be 'first' or 'last', got {anchor!r}")
    h, w = image.shape[1:3]
    frames = np.full((num_frames, h, w, 3), GREY, np.uint8)
    masks = np.full((num_frames, h, w), 255, np.uint8)
    index = 0 if anchor == "first" else num_frames - 1
    frames[index] = image[0]
    masks[index] = 0
    return frames, masks


def subject_crop(image: np.ndarray, mask: np.ndarray, margin: float = 0.05) -> np.ndarray:
    """A reference image of the subject: the mask's bounding box (plus ``margin``), background white."""
    image = as_frames(image, "image")[0]
    mask = np.asarray(mask)
    if mask.ndim == 3:
        mask = mask[0]
    if mask.shape != image.shape[:2]:
        raise MediaError(f"mask {mask.shape} and image {image.shape[:2]} differ in size")
    ys, xs = np.nonzero(mask > 127)
    if len(ys) == 0:
        raise MediaError("subject crop: the mask is empty (no white pixels), so there is no subject to crop")
    h, w = mask.shape
    my, mx = round(margin * h), round(margin * w)
    y0, y1 = max(0, ys.min() - my), min(h, ys.max() + 1 + my)
    x0, x1 = max(0, xs.min() - mx), min(w, xs.max() + 1 + mx)
    out = np.where((mask > 127)[..., None], image, 255).astype(np.uint8)
    return out[y0:y1, x0:x1]
