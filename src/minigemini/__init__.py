"""minigemini: Mini-Gemini (MGM) as transformers-native software.

Importing the package registers our classes with the transformers Auto classes, so `AutoConfig`,
`AutoModelForImageTextToText`, `AutoImageProcessor`, `AutoProcessor` and
`pipeline("image-text-to-text", model=DIR)` load our folders.
"""

from transformers import AutoConfig, AutoImageProcessor, AutoModelForImageTextToText, AutoProcessor

from .configuration import MiniGeminiConfig
from .image_processing import MiniGeminiImageProcessor
from .modeling import MiniGeminiForConditionalGeneration
from .processing import MiniGeminiProcessor

__version__ = "0.1.0"

AutoConfig.register("minigemini", MiniGeminiConfig, exist_ok=True)
AutoModelForImageTextToText.register(MiniGeminiConfig, MiniGeminiForConditionalGeneration, exist_ok=True)
AutoImageProcessor.register(MiniGeminiConfig, image_processor_classes={"pil": MiniGeminiImageProcessor}, exist_ok=True)
AutoProcessor.register(MiniGeminiConfig, MiniGeminiProcessor, exist_ok=True)

__all__ = ["MiniGeminiConfig", "MiniGeminiForConditionalGeneration", "MiniGeminiImageProcessor", "MiniGeminiProcessor"]
