"""Official MGM image preprocessing, bit-exact: pad to square, bicubic resize + centre crop at the HR size,
CLIP normalisation, and LR views made by bilinear resizing of the *normalised* HR tensor.

`MiniGeminiImageProcessor` is a transformers `BaseImageProcessor` (so `AutoImageProcessor` and
`ProcessorMixin` accept it) whose transform is its own: the backends' resize/normalise would not be bit-exact."""

from __future__ import annotations

import io
import os
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError
from transformers.image_processing_utils import BaseImageProcessor

from .constants import CLIP_MEAN, CLIP_STD, PAD_COLOR


class ImageLoadError(ValueError):
    """An image could not be used; the message names the image, the problem and the fix."""


PIPELINE_PIXELS_FACTOR = 2
"""The largest image preprocessing builds (the padded square) may hold this many times `max_image_pixels`:
a 2:1 photo at the pixel limit passes, a 400:1 strip (whose square is 400x its pixels) does not."""


class ImageTooLargeError(ImageLoadError):
    """An image, or what preprocessing would build from it, exceeds `max_image_pixels`."""


def _decode_problem(err: Exception) -> str:
    """A short description of a decoding failure, without Pillow's message (it can hold object reprs)."""
    if isinstance(err, UnidentifiedImageError):
        return "unknown or unsupported format"
    if isinstance(err, OSError) and err.errno is not None:
        return err.strerror or "cannot open the file"
    if "MAX_TEXT_CHUNK" in str(err) or "too large" in str(err).lower():
        return "a compressed metadata chunk (zTXt/iTXt/iCCP) expands past the safety limit"
    if isinstance(err, SyntaxError):
        return "corrupt metadata (EXIF)"
    return "corrupt or truncated data"


@dataclass(repr=False)
class MiniGeminiImageProcessor(BaseImageProcessor):
    """Turns images into `pixel_values` [I, V, 3, s, s] (LR views) and `pixel_values_aux` [I, 3, H, H] (HR).

    Args:
        image_size: side of one LR view (336).
        aux_image_size: HR side (768, or 1536 in HD).
        image_grid: LR crops per side (1, or 2 in HD); the LR image is image_grid * image_size.
        image_global: prepend a global view (HD).
        aspect_ratio: "pad" pads to a square with the CLIP-mean colour first (official stage 2 / inference);
            "square" resizes the short side and centre-crops (official stage 1).
        max_image_pixels: refuse images larger than this before decoding them (decompression bombs).
        with_aux: emit the HR tensor (False for a mining-off baseline).
    """

    image_size: int = 336
    aux_image_size: int = 768
    image_grid: int = 1
    image_global: bool = False
    aspect_ratio: str = "pad"
    image_mean: tuple[float, float, float] = CLIP_MEAN
    image_std: tuple[float, float, float] = CLIP_STD
    max_image_pixels: int = 64_000_000
    with_aux: bool = True

    model_input_names = ["pixel_values", "pixel_values_aux"]

    @property
    def num_views(self) -> int:
        return self.image_grid**2 + (1 if self.image_global else 0)

    # ---- loading ----------------------------------------------------------------------------------
    def load(self, image, name: str = "image") -> Image.Image:
        """Any supported input -> an RGB PIL image (EXIF orientation applied; RGBA/L/P/CMYK/I;16 converted).

        Every failure is an `ImageLoadError` naming the image and the problem (never Pillow's own text,
        which can hold object reprs); `ImageTooLargeError` when a size limit refuses it.
        """
        if isinstance(image, (str, os.PathLike, bytes)):
            image = self._decode(image, name if isinstance(image, bytes) else str(image))
        elif isinstance(image, torch.Tensor):
            image = self._from_array(image.detach().cpu().numpy(), channels_first=True, name=name)
        elif isinstance(image, np.ndarray):
            image = self._from_array(image, channels_first=False, name=name)
        elif not isinstance(image, Image.Image):
            raise ImageLoadError(f"{name}: unsupported type {type(image).__name__}; pass a PIL image, a numpy array, a tensor or a path.")
        self._check_size(image.size, name)
        try:
            image = ImageOps.exif_transpose(image)
            if image.mode != "RGB":
                if image.mode in ("I;16", "I;16B", "I;16L", "I"):
                    image = Image.fromarray((np.asarray(image, dtype=np.float64) / 257.0).clip(0, 255).astype(np.uint8))
                image = image.convert("RGB")  # official: Image.convert('RGB'); alpha is dropped, not composited
        except Exception as err:  # Pillow raises SyntaxError, ValueError, struct.error ... on junk metadata
            raise ImageLoadError(f"{name}: not a readable image ({_decode_problem(err)}). Re-export it as PNG or JPEG.") from None
        return image

    def _decode(self, source: str | os.PathLike | bytes, name: str) -> Image.Image:
        """Open and decode a file or encoded bytes, refusing oversized images before decoding their pixels."""
        try:
            with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as img:
                self._check_size(img.size, name)
                img.load()
                return img.copy()
        except ImageLoadError:
            raise
        except FileNotFoundError:
            raise ImageLoadError(f"{name}: file not found. Check the path (a relative path is resolved against the current directory).") from None
        except Image.DecompressionBombError:
            raise ImageTooLargeError(f"{name}: too many pixels to decode safely. Downscale it first.") from None
        except Exception as err:  # Pillow's decoders raise many types on corrupt data; none may escape as a crash
            raise ImageLoadError(f"{name}: not a readable image ({_decode_problem(err)}). Re-export it as PNG or JPEG.") from None

    def pipeline_pixels(self, size: tuple[int, int]) -> int:
        """The largest image, in pixels, that preprocessing builds from a `size` image: the padded square
        ("pad") or the short-side resize before the centre crop ("square")."""
        w, h = size
        short, long = min(w, h), max(w, h)
        if self.aspect_ratio == "pad":
            return max(w * h, long * long)
        return max(w * h, self.aux_image_size * int(self.aux_image_size * long / short))

    def _check_size(self, size: tuple[int, int], name: str) -> None:
        w, h = size
        if w < 1 or h < 1:
            raise ImageLoadError(f"{name}: empty image ({w}x{h}).")
        if w * h > self.max_image_pixels:
            raise ImageTooLargeError(
                f"{name}: {w}x{h} = {w * h:,} pixels exceeds the limit of {self.max_image_pixels:,} "
                "(a decompression-bomb guard). Downscale the image or raise max_image_pixels."
            )
        peak, bound = self.pipeline_pixels(size), PIPELINE_PIXELS_FACTOR * self.max_image_pixels
        if peak > bound:
            step = "padding it to a square" if self.aspect_ratio == "pad" else f"resizing its short side to {self.aux_image_size} px"
            raise ImageTooLargeError(
                f"{name}: {w}x{h} has an extreme aspect ratio ({max(w, h) / min(w, h):.0f}:1); {step} would build "
                f"{peak:,} pixels, over the limit of {bound:,} ({PIPELINE_PIXELS_FACTOR} x max_image_pixels). "
                "Crop it nearer to a square or downscale it."
            )

    def _from_array(self, arr: np.ndarray, channels_first: bool, name: str) -> Image.Image:
        if arr.ndim == 3 and channels_first and arr.shape[0] in (1, 3, 4):
            arr = arr.transpose(1, 2, 0)
        if arr.ndim == 3 and arr.shape[-1] == 1:
            arr = arr[..., 0]
        if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[-1] not in (3, 4)):
            raise ImageLoadError(f"{name}: array of shape {arr.shape} is not an image; use HxW, HxWx3 or 3xHxW.")
        if arr.dtype != np.uint8:
            if np.issubdtype(arr.dtype, np.floating) and arr.size and arr.max() <= 1.0:
                arr = arr * 255.0
            arr = np.clip(np.rint(arr), 0, 255).astype(np.uint8)
        return Image.fromarray(arr)

    # ---- the official transform ---------------------------------------------------------------------
    def hr_tensor(self, image: Image.Image) -> torch.Tensor:
        """RGB PIL -> normalised HR tensor [3, H, H] (float32), exactly as the official pipeline."""
        if self.aspect_ratio == "pad":
            image = expand_to_square(image, PAD_COLOR)
        elif self.aspect_ratio != "square":
            raise ValueError(f"aspect_ratio must be 'pad' or 'square', got {self.aspect_ratio!r}.")
        size = self.aux_image_size
        w, h = image.size
        short, long = (w, h) if w <= h else (h, w)
        new_long = int(size * long / short)
        new_w, new_h = (size, new_long) if w <= h else (new_long, size)
        if (new_w, new_h) != (w, h):
            image = image.resize((new_w, new_h), resample=Image.BICUBIC)
        top, left = (new_h - size) // 2, (new_w - size) // 2
        arr = np.asarray(image, dtype=np.uint8)[top : top + size, left : left + size]
        x = torch.from_numpy(arr.copy()).permute(2, 0, 1).to(torch.float32) * torch.tensor(1 / 255, dtype=torch.float32)
        mean = torch.tensor(self.image_mean, dtype=torch.float32).view(3, 1, 1)
        std = torch.tensor(self.image_std, dtype=torch.float32).view(3, 1, 1)
        return (x - mean) / std

    def lr_views(self, hr: torch.Tensor) -> torch.Tensor:
        """Normalised HR [I, 3, H, H] -> LR views [I, V, 3, s, s] in token order.

        LR = bilinear resize (align_corners=False, no antialias) of the normalised HR tensor to grid*s;
        HD cuts it into grid² row-major crops and prepends the global view (the grid*s image resized to s):
        [global, crop00, crop01, crop10, crop11].
        """
        s, g = self.image_size, self.image_grid
        lr = F.interpolate(hr, size=(s * g, s * g), mode="bilinear", align_corners=False)
        if g == 1:
            return lr.unsqueeze(1)
        n = lr.shape[0]
        crops = lr.view(n, 3, g, s, g, s).permute(0, 2, 4, 1, 3, 5).reshape(n, g * g, 3, s, s)
        if not self.image_global:
            return crops
        glob = F.interpolate(lr, size=(s, s), mode="bilinear", align_corners=False)
        return torch.cat([glob.unsqueeze(1), crops], dim=1)

    def __call__(self, images: list) -> dict[str, torch.Tensor]:
        """List of images -> {"pixel_values": [I, V, 3, s, s], "pixel_values_aux": [I, 3, H, H]}."""
        if not images:
            return {}
        hr = torch.stack([self.hr_tensor(self.load(img, f"image {i}")) for i, img in enumerate(images)])
        out = {"pixel_values": self.lr_views(hr)}
        if self.with_aux:
            out["pixel_values_aux"] = hr
        return out

    # ---- persistence ------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """The fields, plus `image_processor_type` so `AutoImageProcessor` finds the class."""
        d = asdict(self)
        d["image_mean"], d["image_std"] = list(self.image_mean), list(self.image_std)
        d["image_processor_type"] = type(self).__name__
        return d

    @classmethod
    def from_dict(cls, image_processor_dict: dict, **kwargs) -> "MiniGeminiImageProcessor":
        """Inverse of `to_dict`; keyword arguments naming a field override it, others are ignored."""
        return_unused = kwargs.pop("return_unused_kwargs", False)
        fields = cls.__dataclass_fields__
        known = {k: v for k, v in {**image_processor_dict, **kwargs}.items() if k in fields}
        for key in ("image_mean", "image_std"):
            if key in known:
                known[key] = tuple(known[key])
        processor = cls(**known)
        return (processor, {k: v for k, v in kwargs.items() if k not in fields}) if return_unused else processor

    @classmethod
    def from_config(cls, config, **overrides) -> "MiniGeminiImageProcessor":
        """The processor that matches a `MiniGeminiConfig`."""
        kw = dict(
            image_size=config.image_size,
            aux_image_size=config.aux_image_size,
            image_grid=config.image_grid,
            image_global=config.image_global,
            aspect_ratio=config.image_aspect_ratio,
            with_aux=config.mining,
        )
        kw.update(overrides)
        return cls(**kw)


def expand_to_square(image: Image.Image, background: tuple[int, int, int]) -> Image.Image:
    """Official `expand2square`: centre the image on a square canvas of the background colour."""
    w, h = image.size
    if w == h:
        return image
    side = max(w, h)
    canvas = Image.new(image.mode, (side, side), background)
    canvas.paste(image, (0, (w - h) // 2) if w > h else ((h - w) // 2, 0))
    return canvas

