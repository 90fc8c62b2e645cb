"""Makes the shared test helpers in this folder (`tiny_checkpoints`, `tiny_sdxl`) importable from every test folder."""
