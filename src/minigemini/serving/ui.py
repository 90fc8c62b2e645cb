"""The Gradio web demo, mounted at /ui in the API's own process: images, streaming chat, OCR and image generation.

It goes through the same `ChatService` as the API, so the same limits, batching and errors apply.
"""

from __future__ import annotations

import base64
import mimetypes
import tempfile
import uuid
from pathlib import Path

import gradio as gr
from fastapi import FastAPI
from pydantic import ValidationError

from .auth import key_matches
from .completions import ChatService
from .errors import APIError
from .jobs import Delta, Failed
from .schemas import ChatCompletionRequest
from .settings import ServerSettings
from .uploads import UploadLedger


def _data_url(path: str) -> str:
    mime = mimetypes.guess_type(path)[0] or "application/octet-stream"
    return f"data:{mime};base64,{base64.b64encode(Path(path).read_bytes()).decode()}"


class DemoSession:
    """Turns one demo submission into a streamed chat turn."""

    def __init__(self, service: ChatService, settings: ServerSettings, image_dir: Path):
        self.service, self.settings, self.image_dir = service, settings, image_dir

    async def respond(self, box: dict, chat: list, history: list, ocr: bool, gen: bool, temperature: float, top_p: float, max_tokens: int):
        """Async generator for Gradio: yields (chatbot, textbox, history) as the answer streams in."""
        files, text = list(box.get("files") or []), (box.get("text") or "").strip()
        if not text and not files:
            yield chat, box, history
            return
        paths = [f if isinstance(f, str) else f["path"] for f in files]
        chat = chat + [{"role": "user", "content": {"path": p}} for p in paths] + [{"role": "user", "content": text or " "}]
        parts = [{"type": "image_url", "image_url": {"url": _data_url(p)}} for p in paths]
        user = {"role": "user", "content": [*parts, {"type": "text", "text": text}]}
        chat = chat + [{"role": "assistant", "content": ""}]
        cleared = {"text": "", "files": []}
        try:
            request = ChatCompletionRequest(
                model=self.settings.served_name, messages=history + [user], stream=True, temperature=temperature,
                top_p=top_p, max_tokens=int(max_tokens), minigemini={"ocr": ocr, "generate_image": gen},
            )
            prepared = await self.service.prepare(request)
            self.service.submit(prepared)
        except ValidationError as err:  # what the API answers 400 (a typed <image>, a lone surrogate ...)
            chat[-1]["content"] = f"⚠️ {err.errors()[0]['msg']}"
            yield chat, cleared, history
            return
        except APIError as err:
            chat[-1]["content"] = f"⚠️ {err.message}"
            yield chat, cleared, history
            return
        answer = ""
        try:
            async for event in prepared.job.events():
                if isinstance(event, Delta):
                    answer += event.text
                    chat[-1] = {"role": "assistant", "content": answer}
                    yield chat, cleared, history
                elif isinstance(event, Failed):
                    chat[-1] = {"role": "assistant", "content": f"⚠️ {event.message}"}
                    yield chat, cleared, history
                    return
        finally:
            prepared.job.cancel()
        visible, extension = await self.service.finish_extension(prepared, answer)
        chat[-1] = {"role": "assistant", "content": visible or "(empty answer)"}
        generated = extension.get("generated_image")
        if generated:
            path = self.image_dir / f"generated-{uuid.uuid4().hex[:12]}.png"
            path.write_bytes(base64.b64decode(generated["b64_png"]))
            chat.append({"role": "assistant", "content": {"path": str(path)}})
        history = history + [user, {"role": "assistant", "content": answer}]
        yield chat, cleared, history


def build_demo(service: ChatService, settings: ServerSettings, image_dir: Path) -> gr.Blocks:
    session = DemoSession(service, settings, image_dir)
    with gr.Blocks(title="Mini-Gemini", delete_cache=(3600, 3600)) as demo:  # uploads and renders live an hour
        gr.Markdown(f"## Mini-Gemini · `{settings.served_name}`\nUpload one or more images, then ask about them.")
        chat = gr.Chatbot(label="Conversation", height=460, elem_id="chat")
        box = gr.MultimodalTextbox(
            file_types=["image"], file_count="multiple", placeholder="Ask about the images…", show_label=False, elem_id="prompt"
        )
        with gr.Row():
            ocr = gr.Checkbox(label="OCR hints", value=False)
            gen = gr.Checkbox(label="Generate image", value=False, interactive=settings.image_pipeline is not None)
            temperature = gr.Slider(0.0, 2.0, value=0.2, step=0.05, label="Temperature")
            top_p = gr.Slider(0.05, 1.0, value=0.7, step=0.05, label="Top p")
            max_tokens = gr.Slider(1, settings.max_tokens_limit, value=min(256, settings.max_tokens_limit), step=1, label="Max new tokens")
        clear = gr.Button("Clear conversation")
        history = gr.State([])
        box.submit(
            session.respond, [box, chat, history, ocr, gen, temperature, top_p, max_tokens], [chat, box, history],
            concurrency_limit=None,
        )
        clear.click(lambda: ([], {"text": "", "files": []}, []), None, [chat, box, history])
    return demo


def mount_ui(app: FastAPI, service: ChatService, settings: ServerSettings, path: str = "/ui") -> None:
    """Mount the demo; with an API key set, the demo asks for it as the password (any user name).
    Call before the app's size-limit middleware is added, so that the upload ledger sits inside it."""
    image_dir = Path(tempfile.mkdtemp(prefix="minigemini-ui-"))
    auth = (lambda _user, password: key_matches(password, settings.api_key)) if settings.api_key else None
    gr.mount_gradio_app(app, build_demo(service, settings, image_dir), path=path, auth=auth, allowed_paths=[str(image_dir)])
    app.add_middleware(UploadLedger, prefix=path)
