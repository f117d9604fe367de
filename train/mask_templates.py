"""Real mask images (MaskTheFace's templates) warped onto unmasked faces from five landmarks.

Each template is an RGBA photo of a mask with six anchor points (`masks.cfg`: top left,
nose bridge, top right, bottom left, chin, bottom right). The face's six matching points
are estimated from MTCNN's five landmarks (the eyes fix the scale and roll, the nose the
bridge and the yaw, the mouth the chin), and the template is warped onto them with a
least-squares homography. A face turned aside gets the template seen from that side.
Colour, texture and brightness vary per face, from a seeded generator, so a run is
repeatable; a plain white surgical mask on every face would teach the model that one.
"""

from __future__ import annotations

import configparser
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

# Templates by family; gas masks are rare in the photos we meet, so rarely drawn.
FAMILIES = {
    "surgical": ("surgical", "surgical_blue", "surgical_green"),
    "n95": ("N95",),
    "kn95": ("KN95",),
    "cloth": ("cloth",),
    "gas": ("gas",),
}
FAMILY_WEIGHTS = {"surgical": 0.4, "n95": 0.12, "kn95": 0.18, "cloth": 0.27, "gas": 0.03}
# Colours a mask may be recoloured to (RGB): white, blues, black, greys, pink, green, red.
TINTS = (
    (245, 245, 245),
    (150, 200, 230),
    (90, 140, 200),
    (35, 35, 40),
    (110, 110, 115),
    (200, 200, 205),
    (30, 50, 100),
    (225, 175, 190),
    (170, 190, 150),
    (160, 40, 50),
)
YAW_SIDE = 0.18  # nose offset (in eye distances) past which the side view is used


@dataclass(frozen=True, slots=True)
class Template:
    """One mask image (RGBA) and its six anchors (x, y) in its own pixels."""

    name: str
    rgba: np.ndarray
    anchors: np.ndarray  # (6, 2): a, b, c, d, e, f


def load_templates(folder: Path) -> dict[str, Template]:
    """Every template that `masks.cfg` in `folder` lists, by name."""
    from PIL import Image

    config = configparser.ConfigParser()
    if not config.read(Path(folder) / "masks.cfg"):
        raise FileNotFoundError(f"{folder}: no masks.cfg (MaskTheFace's mask templates)")
    templates = {}
    for name in config.sections():
        section = config[name]
        rgba = np.asarray(Image.open(Path(folder) / section["template"]).convert("RGBA"))
        anchors = np.array(
            [[float(v) for v in section[f"mask_{k}"].split(",")] for k in "abcdef"], np.float32
        )
        templates[name] = Template(name, rgba, anchors)
    return templates


def face_points(landmarks: np.ndarray, yaw_scale: float = 1.0) -> tuple[np.ndarray, float]:
    """The face's six anchor points (as the templates' a-f) from MTCNN's five landmarks,
    and the yaw: the nose's sideways offset from the eyes' midpoint in eye distances
    (negative: the face turns towards the image's left)."""
    left_eye, right_eye, nose, mouth_left, mouth_right = landmarks.astype(np.float64)
    eye_mid = (left_eye + right_eye) / 2
    mouth_mid = (mouth_left + mouth_right) / 2
    across = right_eye - left_eye
    eye_dist = max(float(np.linalg.norm(across)), 1.0)
    unit_x = across / eye_dist
    unit_y = np.array([-unit_x[1], unit_x[0]])  # perpendicular, pointing down the face
    yaw = float(np.dot(nose - eye_mid, unit_x) / eye_dist)
    # Visible half-widths: the side the face turns towards shrinks, the other grows a little.
    half_left = 1.05 * eye_dist * float(np.clip(1 + 1.6 * yaw * yaw_scale, 0.35, 1.4))
    half_right = 1.05 * eye_dist * float(np.clip(1 - 1.6 * yaw * yaw_scale, 0.35, 1.4))
    bridge = eye_mid + 0.4 * (nose - eye_mid)
    top_y = bridge + 0.12 * eye_dist * unit_y
    chin = mouth_mid + 0.85 * eye_dist * unit_y
    jaw = mouth_mid + 0.3 * eye_dist * unit_y
    points = [
        top_y - half_left * unit_x,
        bridge,
        top_y + half_right * unit_x,
        jaw - 0.9 * half_left * unit_x,
        chin,
        jaw + 0.9 * half_right * unit_x,
    ]
    return np.array(points, np.float32), yaw


def pick_template(templates: dict[str, Template], yaw: float, rng: np.random.Generator):
    """A template of a random family, seen from the side the face turns to."""
    families = [f for f in FAMILIES if any(n in templates for n in FAMILIES[f])]
    weights = np.array([FAMILY_WEIGHTS[f] for f in families])
    family = families[rng.choice(len(families), p=weights / weights.sum())]
    names = [n for n in FAMILIES[family] if n in templates]
    name = names[rng.integers(len(names))]
    side = "_left" if yaw < -YAW_SIDE else "_right" if yaw > YAW_SIDE else ""
    return templates.get(name + side, templates[name])


def restyle(rgba: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The template with a random colour (its shading kept), texture and contrast."""
    rgb = rgba[..., :3].astype(np.float32)
    if rng.random() < 0.6:
        luminance = rgb.mean(axis=2, keepdims=True) / 255.0
        tint = np.array(TINTS[rng.integers(len(TINTS))], np.float32)
        tint = np.clip(tint + rng.normal(0, 10, 3), 0, 255)
        shade = luminance / max(float(np.percentile(luminance, 90)), 1e-3)
        rgb = np.clip(tint * shade, 0, 255)
    if rng.random() < 0.5:  # woven or printed texture
        period = rng.uniform(3, 9)
        ys, xs = np.mgrid[: rgb.shape[0], : rgb.shape[1]].astype(np.float32)
        angle = rng.uniform(0, np.pi)
        wave = np.sin((xs * np.cos(angle) + ys * np.sin(angle)) * 2 * np.pi / period)
        rgb += (rng.uniform(4, 18) * wave)[..., None]
    rgb += rng.normal(0, rng.uniform(1, 6), rgb.shape[:2])[..., None].astype(np.float32)
    out = rgba.copy()
    out[..., :3] = np.clip(rgb, 0, 255).astype(np.uint8)
    return out


def draw_template_mask(
    image: np.ndarray,
    landmarks: np.ndarray,
    templates: dict[str, Template],
    rng: np.random.Generator,
) -> np.ndarray:
    """A copy of `image` (RGB uint8) wearing a real mask image warped onto the face."""
    points, yaw = face_points(landmarks, yaw_scale=rng.uniform(0.8, 1.2))
    points = points + rng.normal(0, 0.03, points.shape).astype(np.float32) * np.linalg.norm(
        points[2] - points[0]
    )
    template = pick_template(templates, yaw, rng)
    rgba = restyle(template.rgba, rng)
    # Shrink the template close to its size on the face first: a warp that shrinks 300 px
    # to 40 px in one step aliases.
    width = float(np.linalg.norm(points[2] - points[0]))
    span = float(np.ptp(template.anchors[:, 0])) or 1.0
    scale = min(1.0, 1.5 * width / span)
    anchors = template.anchors * scale
    if scale < 1.0:
        size = (max(2, round(rgba.shape[1] * scale)), max(2, round(rgba.shape[0] * scale)))
        rgba = cv2.resize(rgba, size, interpolation=cv2.INTER_AREA)
    homography, _ = cv2.findHomography(anchors, points, 0)
    if homography is None:
        return image.copy()
    height, width_px = image.shape[:2]
    warped = cv2.warpPerspective(
        rgba, homography, (width_px, height), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0, 0)
    ).astype(np.float32)
    alpha = warped[..., 3:4] / 255.0
    # Light: the mask takes the brightness of the face it covers, within limits.
    around = image[alpha[..., 0] > 0.5]
    light = float(np.clip(around.mean() / 140.0, 0.45, 1.15)) if len(around) else 1.0
    light *= rng.uniform(0.85, 1.1)
    mask_rgb = np.clip(warped[..., :3] * light, 0, 255)
    out = image.astype(np.float32) * (1 - alpha) + mask_rgb * alpha
    return np.clip(out, 0, 255).astype(np.uint8)
