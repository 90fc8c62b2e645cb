"""`image_url` content parts -> validated RGB images (data: URLs; remote only when enabled; never files)."""

from __future__ import annotations

import base64
import binascii
import re

from PIL import Image

from ..image_processing import ImageLoadError, ImageTooLargeError, MiniGeminiImageProcessor
from .errors import APIError
from .remote import fetch_image
from .settings import ServerSettings

_DATA_URL = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(;[\w.+-]+=[^;,]*)*)(?P<b64>;base64)?,", re.IGNORECASE)


def decode_data_url(url: str, max_bytes: int, param: str) -> bytes:
    """The payload of a `data:` URL, refusing oversized payloads before decoding them."""
    match = _DATA_URL.match(url)
    if match is None:
        raise APIError(400, f"{param} is not a valid data: URL; use 'data:image/png;base64,<base64>'.", "invalid_image_url", param)
    payload = url[match.end() :]
    if not match.group("b64"):
        raise APIError(400, f"{param}: only base64 data: URLs are accepted ('data:image/png;base64,...').", "invalid_image_url", param)
    if len(payload) * 3 // 4 > max_bytes + 2:
        raise APIError(413, f"{param}: the image is larger than the limit of {max_bytes:,} bytes. Send a smaller image.", "image_too_large", param)
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise APIError(400, f"{param}: the data: URL payload is not valid base64.", "invalid_image_url", param) from None
    if len(data) > max_bytes:
        raise APIError(413, f"{param}: the image is larger than the limit of {max_bytes:,} bytes. Send a smaller image.", "image_too_large", param)
    return data


class ImageResolver:
    """Resolves and decodes request images under the server's limits."""

    def __init__(self, settings: ServerSettings, image_processor: MiniGeminiImageProcessor):
        self.settings = settings
        self.loader = MiniGeminiImageProcessor.from_dict({**image_processor.to_dict(), "max_image_pixels": settings.max_image_pixels})

    def load(self, url: str, param: str) -> Image.Image:
        """Blocking: fetch/decode one image URL; raises APIError with the problem and the fix."""
        s = self.settings
        scheme = url.split(":", 1)[0].lower() if ":" in url else ""
        if scheme == "data":
            data = decode_data_url(url, s.max_image_bytes, param)
        elif scheme in ("http", "https"):
            if not s.allow_remote_images:
                raise APIError(
                    400,
                    f"{param}: remote image URLs are disabled on this server. Send the image as a data: URL "
                    "(data:image/png;base64,...), or start the server with --allow-remote-images.",
                    "image_url_forbidden",
                    param,
                )
            data = fetch_image(
                url, hosts=s.remote_image_hosts, allow_private=s.allow_private_addresses,
                max_bytes=s.max_image_bytes, timeout=s.remote_timeout_s,
            )
        else:
            raise APIError(
                400,
                f"{param}: only data: URLs{' and http(s) URLs' if s.allow_remote_images else ''} are accepted; "
                "local file paths are never read. Encode the image as data:image/png;base64,...",
                "invalid_image_url",
                param,
            )
        try:
            return self.loader.load(data, name=param)
        except ImageLoadError as err:
            code = "image_too_large" if isinstance(err, ImageTooLargeError) else "invalid_image"
            raise APIError(400, str(err), code, param) from None
