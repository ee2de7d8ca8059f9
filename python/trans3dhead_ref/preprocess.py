"""Input preprocessing (SPEC sec. 1, DAD-3DNet): resize the longer side to 256, zero-pad
centred to 256x256, ImageNet-normalise every pixel (padding included), and the map back."""
import numpy as np
import torch
import torch.nn.functional as F

MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]


def crop_box(image, box):
    """image (H, W, 3) uint8, box (x, y, w, h) integer pixels -> (h, w, 3) crop; the part
    of the box outside the image is zeros."""
    x, y, w, h = (int(v) for v in box)
    out = np.zeros((h, w, 3), dtype=image.dtype)
    H, W = image.shape[:2]
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, W), min(y + h, H)
    if x1 > x0 and y1 > y0:
        out[y0 - y:y1 - y, x0 - x:x1 - x] = image[y0:y1, x0:x1]
    return out


def preprocess(image, size=256, box=None):
    """image (h, w, 3) uint8 RGB -> (input (1, 3, size, size) float32, transform dict).

    The transform holds k, pad_left, pad_top and the box origin (x, y) for `to_image`."""
    ox, oy = 0, 0
    if box is not None:
        image = crop_box(image, box)
        ox, oy = int(box[0]), int(box[1])
    h, w = image.shape[:2]
    k = size / max(h, w)
    nh, nw = round(h * k), round(w * k)  # Python round: half to even
    x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float()  # 0..255
    x = F.interpolate(x, size=(nh, nw), mode="bilinear", align_corners=False)
    pad_top, pad_left = (size - nh) >> 1, (size - nw) >> 1
    out = torch.zeros(1, 3, size, size)
    out[:, :, pad_top:pad_top + nh, pad_left:pad_left + nw] = x
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    out = (out / 255.0 - mean) / std
    return out, {"k": k, "pad_left": pad_left, "pad_top": pad_top, "x": ox, "y": oy,
                 "resized": (nh, nw)}


def to_image(points, t):
    """Crop pixels (..., 2) (x, y) -> input image pixels: (p - [padLeft, padTop]) / k + [x, y].
    Computed in float64 (the transform's numbers are Python floats), returned as float32."""
    p = np.asarray(points, dtype=np.float64)
    p = (p - np.array([t["pad_left"], t["pad_top"]])) / t["k"] + np.array([t["x"], t["y"]])
    return p.astype(np.float32)
