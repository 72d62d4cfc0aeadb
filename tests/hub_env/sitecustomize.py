"""Test-only, for the ComfyUI server of test_downloads.py: put on PYTHONPATH, it applies the JSON object in
TOONGEN_TEST_ENV to os.environ before anything else runs (ComfyServer sets HF_HUB_OFFLINE=1 for every server; this
one must reach the local hub)."""
import json
import os

os.environ.update(json.loads(os.environ.get("TOONGEN_TEST_ENV", "{}")))
