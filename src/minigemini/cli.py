"""`minigemini <verb>`: chat, demo, train, eval, serve, convert, data."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from .loading import DTYPE_HELP, QUANTIZE_HELP

app = typer.Typer(
    help="Mini-Gemini: dual vision encoders, patch info mining and any-to-any generation.\n\n"
    "Start with `minigemini demo` (trains and evaluates a small MGM offline), or "
    "`minigemini chat --model PATH --image IMG` to talk to a checkpoint (ours or an official MGM folder).",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
console = Console()

@app.command()
def chat(
    model: str = typer.Option(..., "--model", "-m", help="Our checkpoint folder, a hub id, an official MGM folder, or `tiny`."),
    image: list[Path] = typer.Option([], "--image", "-i", help="Image(s) for the first turn; repeat for several."),
    prompt: str | None = typer.Option(None, "--prompt", "-p", help="Ask once and exit; without it, chat interactively."),
    device: str = typer.Option("cpu", help="cpu, cuda, cuda:1, mps ..."),
    dtype: str = typer.Option("auto", help=DTYPE_HELP),
    quantize: str = typer.Option("none", help=QUANTIZE_HELP),
    max_new_tokens: int = typer.Option(512),
    temperature: float = typer.Option(0.2, help="0 means greedy."),
    top_p: float | None = typer.Option(None),
    ocr: bool = typer.Option(False, "--ocr", help="Append RapidOCR reference tokens to turns with images."),
    gen: bool = typer.Option(False, "--gen", help="Ask for an image prompt (<GEN>) and render it with a diffusion pipeline."),
    gen_pipeline: str = typer.Option("stabilityai/stable-diffusion-xl-base-1.0", help="Diffusers pipeline id or local folder."),
    gen_steps: int | None = typer.Option(None, help="Diffusion steps (pipeline default when unset)."),
    output_dir: Path = typer.Option(Path("."), help="Where generated images and /save files go."),
    load_4bit: bool = typer.Option(False, "--load-4bit"),
    load_8bit: bool = typer.Option(False, "--load-8bit"),
):
    """Talk to a model. Interactive commands: /image PATH, /reset, /save [FILE], /quit."""
    from .chat import ChatSession
    from .image_processing import ImageLoadError

    from .loading import load_model

    try:
        m, p = load_model(model, device, dtype, load_4bit, load_8bit, quantize=quantize)
    except ValueError as err:
        raise typer.BadParameter(str(err)) from None
    bridge = None
    if gen:
        from .generation import GenerationBridge

        bridge = GenerationBridge(pipeline=gen_pipeline, steps=gen_steps)
    session = ChatSession(m, p, max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p,
                          ocr=ocr, bridge=bridge, output_dir=output_dir)
    for path in image:
        try:
            session.add_image(str(path), path=str(path))
        except ImageLoadError as err:
            raise typer.BadParameter(str(err)) from None

    def answer(text: str) -> None:
        console.print("[bold cyan]assistant:[/] ", end="")
        for piece in session.stream(text):
            console.print(piece, end="", markup=False, highlight=False)
        console.print()
        turn = session.turns[-1]
        if turn.generated_image:
            console.print(f"[green]image generated from[/] {turn.generated_prompt!r} -> {turn.generated_image}")

    from .ocr import OCRError
    from .processing import ContextLengthError

    turn_errors = (ContextLengthError, ImageLoadError, OCRError)  # one line each; the history stays as it was

    if prompt is not None:
        try:
            answer(prompt)
        except turn_errors as err:
            console.print(str(err), style="red", markup=False)
            raise typer.Exit(1) from None
        return
    console.print("[dim]Type a message; /image PATH adds an image, /reset clears, /save [FILE] writes the chat, /quit exits.[/]")
    while True:
        try:
            text = console.input("[bold green]user:[/] ").strip()
        except (EOFError, KeyboardInterrupt):
            break
        if not text:
            continue
        if text in ("/quit", "/exit"):
            break
        if text == "/reset":
            session.reset()
            console.print("[dim]history cleared[/]")
        elif text.startswith("/image"):
            path = text[len("/image"):].strip()
            try:
                session.add_image(path, path=path)
                console.print(f"[dim]image queued: {path}[/]")
            except ImageLoadError as err:
                console.print(str(err), style="red", markup=False)
        elif text.startswith("/save"):
            target = text[len("/save"):].strip() or str(output_dir / "chat.json")
            try:
                console.print(f"saved {session.save(target)}", style="dim", markup=False)
            except OSError as err:
                console.print(f"cannot save to {target}: {err.strerror or err}", style="red", markup=False)
        elif text.startswith("/"):
            console.print("[red]unknown command[/]; use /image PATH, /reset, /save [FILE] or /quit")
        else:
            try:
                answer(text)
            except turn_errors as err:
                console.print()
                console.print(str(err), style="red", markup=False)


@app.command()
def demo(
    run_dir: Path = typer.Option(Path("runs/demo"), help="Where data, models, tables and pictures go."),
    seeds: str | None = typer.Option(None, help="Comma-separated seeds, each with its own data and models [default: 0,1,2; with --quick: 0]."),
    quick: bool = typer.Option(False, "--quick", help="A ~1-minute smoke run (small data; one seed unless --seeds)."),
    hd: bool = typer.Option(False, "--hd", help="Also train MGM-HD (2x2 grid + global view, 5x the visual tokens)."),
    retrain: bool = typer.Option(False, "--retrain", help="Regenerate data and retrain instead of reusing the cache."),
    n_train: int | None = typer.Option(None, help="Training images per seed."),
    n_test: int | None = typer.Option(None, help="Held-out test images per seed."),
    workers: int = typer.Option(2, help="Trainings run side by side (each on cores / workers threads)."),
    llm: str | None = typer.Option(None, help="A real pretrained LLM instead of the tiny random one: smollm2 "
                                   "(SmolLM2-135M-Instruct, LoRA-tuned; a smaller default budget)."),
):
    """Offline demo: train an LR-only baseline and MGM on a fine-detail task, compare them, save plots.

    The answers depend on textures that the low-resolution view turns into flat grey; only patch info
    mining (HR detail at the same number of LLM visual tokens) can see them.
    """
    from .demo import DemoSettings, run_demo

    if llm is not None:  # a missing wheel or unknown name: one line naming the fix, before any work
        from .pretrained_llm import PretrainedLLMUnavailable, find_gguf

        try:
            find_gguf(llm)
        except (ValueError, PretrainedLLMUnavailable) as err:
            console.print(str(err), style="red", markup=False, soft_wrap=True)
            raise typer.Exit(2) from None
    kw = {"run_dir": run_dir, "hd": hd, "retrain": retrain, "workers": workers}
    if seeds is not None:
        kw["seeds"] = tuple(int(x) for x in seeds.split(",") if x.strip())
    if n_train is not None:
        kw["n_train"] = n_train
    if n_test is not None:
        kw["n_test"] = n_test
    run_demo(DemoSettings.for_llm(llm, quick, **kw))


@app.command()
def convert(
    official_dir: Path = typer.Argument(..., help="An official MGM checkpoint folder (YanweiLi/MGM-*)."),
    out_dir: Path = typer.Argument(..., help="Where to write our self-contained folder."),
    lr_tower: str | None = typer.Option(None, help="CLIP folder/id, if the checkpoint lacks the LR tower weights."),
    hr_tower: str | None = typer.Option(None, help="open_clip ConvNeXt folder/id, if the checkpoint lacks the HR tower."),
    template: str | None = typer.Option(None, help="Override the inferred conversation template."),
):
    """Convert an official MGM checkpoint into our format (safetensors + configs + processor)."""
    from .convert import convert_official

    out = convert_official(official_dir, out_dir, lr_tower=lr_tower, hr_tower=hr_tower, template=template)
    console.print(f"[green]wrote[/] {out}")


def _mount_subcommands() -> None:
    from .data.cli import app as data_app
    from .evaluation.cli import app as eval_app
    from .serving.cli import serve, web
    from .training.cli import merge_lora_cmd, train

    app.command("train")(train)
    app.command("merge-lora")(merge_lora_cmd)
    app.command("serve")(serve)
    app.command("web")(web)
    app.add_typer(eval_app, name="eval")
    app.add_typer(data_app, name="data")


_mount_subcommands()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
