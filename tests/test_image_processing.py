"""Image preprocessing equals a hand-written re-telling of the official pipeline (mgm-official.md §5.1, §11.4)."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from minigemini.image_processing import ImageLoadError, MiniGeminiImageProcessor

MEAN = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)
STD = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)


# ---- the reference -----------------------------------------------------------------------------------
def ref_expand2square(img: Image.Image) -> Image.Image:
    """Official expand2square with background tuple(int(x*255) for x in CLIP mean) = (122, 116, 104)."""
    w, h = img.size
    if w == h:
        return img
    if w > h:
        out = Image.new(img.mode, (w, w), (122, 116, 104))
        out.paste(img, (0, (w - h) // 2))
    else:
        out = Image.new(img.mode, (h, h), (122, 116, 104))
        out.paste(img, ((h - w) // 2, 0))
    return out


def ref_hr(img: Image.Image, size: int, pad: bool = True) -> torch.Tensor:
    """CLIPImageProcessor at `size`: PIL bicubic resize of the shortest edge, centre crop, u8*(1/255) fp32, normalise."""
    if pad:
        img = ref_expand2square(img)
    w, h = img.size
    if w <= h:
        new = (size, int(size * h / w))
    else:
        new = (int(size * w / h), size)
    img = img.resize(new, Image.BICUBIC)
    top, left = (new[1] - size) // 2, (new[0] - size) // 2
    u8 = np.asarray(img)[top : top + size, left : left + size]
    x = (u8.astype(np.float32) * np.float32(1 / 255) - MEAN) / STD
    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))


def ref_views(hr: torch.Tensor, s: int, grid: int, use_global: bool) -> torch.Tensor:
    """LR = bilinear (no antialias) resize of the normalised HR; HD: [global, crop00, crop01, crop10, crop11]."""
    lr = F.interpolate(hr[None], size=(s * grid, s * grid), mode="bilinear", align_corners=False, antialias=False)[0]
    if grid == 1:
        return lr[None]
    views = [lr[:, i * s : (i + 1) * s, j * s : (j + 1) * s] for i in range(grid) for j in range(grid)]
    if use_global:
        views.insert(0, F.interpolate(lr[None], size=(s, s), mode="bilinear", align_corners=False)[0])
    return torch.stack(views)


def photo(w: int, h: int, seed: int = 0) -> Image.Image:
    """A smooth gradient plus noise, so resampling errors would show."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 255 / max(w - 1, 1), yy * 255 / max(h - 1, 1), (xx + yy) % 256], -1)
    return Image.fromarray(np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8))


NORMAL = MiniGeminiImageProcessor(image_size=336, aux_image_size=768)
HD = MiniGeminiImageProcessor(image_size=336, aux_image_size=1536, image_grid=2, image_global=True)


# ---- exactness ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [(640, 480), (300, 500), (768, 768), (101, 37)], ids=["wide", "tall", "square", "odd"])
def test_normal_preprocessing_equals_reference(size):
    img = photo(*size)
    out = NORMAL([img])
    hr = ref_hr(img, 768)
    assert out["pixel_values_aux"].shape == (1, 3, 768, 768)
    assert out["pixel_values"].shape == (1, 1, 3, 336, 336)
    assert torch.equal(out["pixel_values_aux"][0], hr)  # bit-exact
    torch.testing.assert_close(out["pixel_values"][0], ref_views(hr, 336, 1, False), rtol=0, atol=1e-6)


@pytest.mark.parametrize("size", [(640, 480), (333, 900)], ids=["wide", "tall"])
def test_hd_preprocessing_equals_reference_with_global_view_first(size):
    img = photo(*size, seed=1)
    out = HD([img])
    hr = ref_hr(img, 1536)
    assert out["pixel_values"].shape == (1, 5, 3, 336, 336)
    assert torch.equal(out["pixel_values_aux"][0], hr)
    torch.testing.assert_close(out["pixel_values"][0], ref_views(hr, 336, 2, True), rtol=0, atol=1e-6)


def test_square_mode_resizes_shortest_edge_and_centre_crops_without_padding():
    proc = MiniGeminiImageProcessor(image_size=28, aux_image_size=64, aspect_ratio="square")
    img = photo(150, 90, seed=2)
    assert torch.equal(proc([img])["pixel_values_aux"][0], ref_hr(img, 64, pad=False))


def test_pad_colour_is_the_clip_mean_in_u8():
    """A 1-row-high wide image: almost everything is background, which must normalise to int(255*mean)/255."""
    proc = MiniGeminiImageProcessor(image_size=28, aux_image_size=64)
    hr = proc([Image.new("RGB", (64, 2), (0, 0, 0))])["pixel_values_aux"][0]
    corner = hr[:, 0, 0].numpy()
    expected = (np.array([122, 116, 104], dtype=np.float32) * np.float32(1 / 255) - MEAN) / STD
    np.testing.assert_array_equal(corner, expected)


def test_hd_views_are_identifiable_global_then_row_major_crops():
    """Four constant-colour quadrants: crop (i, j) must be quadrant (i, j); the global view contains all four."""
    proc = MiniGeminiImageProcessor(image_size=28, aux_image_size=128, image_grid=2, image_global=True)
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)]  # tl, tr, bl, br
    arr = np.zeros((128, 128, 3), dtype=np.uint8)
    for k, c in enumerate(colours):
        i, j = divmod(k, 2)
        arr[i * 64 : (i + 1) * 64, j * 64 : (j + 1) * 64] = c
    views = proc([Image.fromarray(arr)])["pixel_values"][0]
    norm = [torch.from_numpy((np.array(c, np.float32) * np.float32(1 / 255) - MEAN) / STD) for c in colours]
    for k in range(4):
        centre = views[1 + k, :, 14, 14]
        torch.testing.assert_close(centre, norm[k], atol=1e-5, rtol=0)
    glob = views[0]
    for k, (y, x) in enumerate([(3, 3), (3, 24), (24, 3), (24, 24)]):
        torch.testing.assert_close(glob[:, y, x], norm[k], atol=1e-5, rtol=0)


# ---- inputs of every kind ----------------------------------------------------------------------------
SMALL = MiniGeminiImageProcessor(image_size=28, aux_image_size=64)


def hr_of(image) -> torch.Tensor:
    return SMALL([image])["pixel_values_aux"][0]


@pytest.mark.parametrize("mode", ["RGBA", "L", "P", "CMYK", "LA", "1"])
def test_odd_modes_are_converted_like_pil_convert_rgb(mode):
    src = photo(45, 30, seed=3)
    img = src.convert(mode) if mode != "RGBA" else Image.merge("RGBA", (*src.split(), Image.new("L", src.size, 7)))
    expected = ref_hr(img.convert("RGB"), 64)  # official: Image.open(...).convert('RGB'), alpha dropped
    assert torch.equal(hr_of(img), expected)


def test_16_bit_greyscale_maps_its_full_range_onto_0_255():
    levels = np.arange(0, 256, dtype=np.uint16).reshape(16, 16)
    img16 = Image.fromarray(levels * 257)  # mode I;16, 0..65535
    assert img16.mode in ("I;16", "I")
    grey = Image.fromarray(levels.astype(np.uint8)).convert("RGB")
    assert torch.equal(hr_of(img16), ref_hr(grey, 64))


def test_exif_orientation_is_applied(tmp_path):
    src = photo(40, 24, seed=4)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    path = tmp_path / "rotated.png"
    src.save(path, exif=exif)
    upright = Image.fromarray(np.ascontiguousarray(np.rot90(np.asarray(src), k=-1)))  # clockwise
    assert upright.size == (24, 40)
    loaded = SMALL.load(str(path))
    assert loaded.size == (24, 40)
    np.testing.assert_array_equal(np.asarray(loaded), np.asarray(upright))
    assert torch.equal(hr_of(str(path)), ref_hr(upright, 64))


def test_numpy_and_tensor_inputs_equal_the_pil_image():
    img = photo(50, 30, seed=5)
    arr = np.array(img)
    expected = hr_of(img)
    assert torch.equal(hr_of(arr), expected)  # H x W x 3 uint8
    assert torch.equal(hr_of(torch.from_numpy(arr).permute(2, 0, 1)), expected)  # 3 x H x W uint8 tensor
    assert torch.equal(hr_of(arr.astype(np.float32) / 255.0), expected)  # float in [0, 1]
    grey = arr[..., 0]
    assert torch.equal(hr_of(grey), hr_of(Image.fromarray(grey)))  # H x W


def test_paths_and_bytes_equal_the_pil_image(tmp_path):
    img = photo(30, 50, seed=6)
    path = tmp_path / "x.png"
    img.save(path)
    expected = hr_of(img)
    assert torch.equal(hr_of(str(path)), expected)
    assert torch.equal(hr_of(path.read_bytes()), expected)


# ---- bad input -------------------------------------------------------------------------------------
def png_header_claiming(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims width x height (8-bit RGB) with no real pixel data behind it."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    idat = zlib.compress(b"\x00" * 16)
    chunk += struct.pack(">I", len(idat)) + b"IDAT" + idat + struct.pack(">I", zlib.crc32(b"IDAT" + idat))
    return b"\x89PNG\r\n\x1a\n" + chunk + struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))


def test_decompression_bomb_header_is_refused_before_decoding(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(png_header_claiming(100_000, 100_000))
    with pytest.raises(ImageLoadError, match=r"bomb\.png: .*(too many pixels|exceeds the limit)"):
        SMALL.load(str(path))


def test_max_image_pixels_limit_names_the_size_and_the_fix(tmp_path):
    proc = MiniGeminiImageProcessor(image_size=28, aux_image_size=64, max_image_pixels=1000)
    path = tmp_path / "big.png"
    photo(50, 40).save(path)
    for image in (str(path), path.read_bytes(), photo(50, 40)):
        with pytest.raises(ImageLoadError, match=r"50x40 = 2,000 pixels exceeds the limit of 1,000.*raise max_image_pixels"):
            proc.load(image)


def test_corrupt_and_truncated_files_are_named_in_a_clear_error(tmp_path):
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"this is not an image at all")
    with pytest.raises(ImageLoadError, match=r"junk\.jpg: not a readable image.*Re-export"):
        SMALL.load(str(junk))
    buf = io.BytesIO()
    photo(64, 64).save(buf, format="PNG")
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(ImageLoadError, match=r"truncated\.png: not a readable image"):
        SMALL.load(str(truncated))


def test_missing_file_and_unsupported_type_errors():
    with pytest.raises(ImageLoadError, match="file not found"):
        SMALL.load("/nonexistent/picture.png")
    with pytest.raises(ImageLoadError, match="unsupported type dict"):
        SMALL.load({"not": "an image"})
    with pytest.raises(ImageLoadError, match="is not an image"):
        SMALL.load(np.zeros((4, 4, 5), dtype=np.uint8))
