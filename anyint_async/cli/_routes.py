"""Command-line flags for each route, named after the provider's fields.

One table per route drives both the argparse flags and the keyword arguments handed to the
route's create call, so a flag and its parameter cannot drift apart.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from attrs import frozen

__all__ = ["ROUTE_FLAGS", "Flag", "add_route_flags", "route_params"]


def _series_amount(text: str) -> int | str:
    if text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be an int from 2 to 9 or 'auto', got {text!r}"
        ) from None


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"must be a JSON object ({exc.msg})") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("must be a JSON object")
    return value


@frozen
class Flag:
    """A flag for parameter ``param``; ``kind`` is str, int, float, bool, list or int-list."""

    param: str
    kind: str = "str"
    required: bool = False
    help: str = ""
    flag: str | None = None  # when the flag name differs from the parameter's
    convert: Callable[[str], Any] | None = None


_COMMON_KLING = (
    Flag("watermark", "bool", help="add Kling's watermark"),
    Flag("callback_url", help="URL Kling calls when the task ends"),
    Flag("external_task_id", help="your own id for the task (unique per account)"),
    Flag("element_list", "int-list", flag="element", help="an element id (repeatable)"),
)

ROUTE_FLAGS: dict[str, tuple[Flag, ...]] = {
    "dashscope.images": (
        Flag("model", required=True, help="image model, e.g. qwen-image-plus"),
        Flag("prompt", required=True, help="what to draw"),
        Flag("images", "list", flag="image", help="reference image URL (repeatable)"),
        Flag("size", help="W*H, e.g. 1328*1328"),
        Flag("negative_prompt", help="what to avoid"),
        Flag("prompt_extend", "bool", help="let the provider expand the prompt"),
        Flag("watermark", "bool", help="add the provider's watermark"),
    ),
    "dashscope.videos": (
        Flag(
            "model",
            required=True,
            help="video model, e.g. happyhorse-1.0-t2v or wan2.5-i2v-preview",
        ),
        Flag("prompt", required=True, help="what to film"),
        Flag("img_url", help="source image URL (image to video)"),
        Flag("audio_url", help="source audio URL"),
        Flag("negative_prompt", help="what to avoid"),
        Flag("resolution", help="480P, 720P or 1080P"),
        Flag("size", help="W*H, e.g. 1280*720"),
        Flag("duration", "int", help="seconds"),
        Flag("audio", "bool", help="generate or use audio"),
        Flag("shot_type", help="single or multi"),
        Flag("prompt_extend", "bool", help="let the provider expand the prompt"),
        Flag("watermark", "bool", help="add the provider's watermark"),
        Flag("seed", "int", help="random seed"),
    ),
    "kling.images": (
        Flag("prompt", required=True, help="what to draw"),
        Flag("model", help="default kling-v2-1"),
        Flag("negative_prompt", help="what to avoid"),
        Flag("image", help="reference image URL or base64"),
        Flag("image_reference", help="subject or face"),
        Flag("image_fidelity", "float", help="0 to 1"),
        Flag("human_fidelity", "float", help="0 to 1"),
        Flag("resolution", help="1k or 2k"),
        Flag("n", "int", help="images to make, 1 to 9"),
        Flag("aspect_ratio", help="16:9, 9:16, 1:1, 4:3, 3:4, 3:2, 2:3 or 21:9"),
        *_COMMON_KLING,
    ),
    "kling.omni_image": (
        Flag("prompt", required=True, help="what to draw; refer to inputs as <<<image_1>>>"),
        Flag("model", help="default kling-v3-omni"),
        Flag("image_list", "list", flag="image", help="input image URL (repeatable)"),
        Flag("resolution", help="1k, 2k or 4k"),
        Flag("result_type", help="single or series"),
        Flag("n", "int", help="images to make, 1 to 9"),
        Flag("series_amount", convert=_series_amount, help="2 to 9, or auto"),
        Flag("aspect_ratio", help="a ratio such as 16:9, or auto"),
        *_COMMON_KLING,
    ),
    "kling.omni_video": (
        Flag("prompt", help="what to film; refer to inputs as <<<image_1>>>"),
        Flag("model", help="default kling-v3-omni"),
        Flag("duration", help="seconds, 3 to 15"),
        Flag("mode", help="std (720p) or pro (1080p)"),
        Flag("aspect_ratio", help="16:9, 9:16 or 1:1"),
        Flag("sound", help="on or off"),
        Flag("image_list", "list", flag="image", help="frame image URL (repeatable)"),
        Flag("video_list", "list", flag="video", help="reference video URL"),
        Flag("multi_shot", "bool", help="several shots"),
        Flag("shot_type", help="customize or intelligence"),
        *_COMMON_KLING,
    ),
}


def add_route_flags(parser: argparse.ArgumentParser, route: str) -> None:
    """Add ``route``'s flags (dash and underscore spellings) and ``--extra``."""
    group = parser.add_argument_group(f"{route} parameters")
    for flag in ROUTE_FLAGS[route]:
        name = flag.flag or flag.param
        spellings = [f"--{name.replace('_', '-')}"]
        if "_" in name:
            spellings.append(f"--{name}")
        options: dict[str, Any] = {"dest": f"param_{flag.param}", "help": flag.help}
        if flag.kind == "bool":
            options["action"] = argparse.BooleanOptionalAction
            options["default"] = None
        elif flag.kind in ("list", "int-list"):
            options["action"] = "append"
            options["type"] = int if flag.kind == "int-list" else str
            options["metavar"] = "ID" if flag.kind == "int-list" else "URL"
        else:
            options["metavar"] = flag.param.upper()
            options["type"] = flag.convert or {"int": int, "float": float}.get(flag.kind, str)
            options["required"] = flag.required
        group.add_argument(*spellings, **options)
    group.add_argument(
        "--extra",
        type=_json_object,
        default=None,
        help="JSON object of further wire fields, merged into the request (extra_body)",
    )


def route_params(args: argparse.Namespace, route: str) -> dict[str, Any]:
    """The keyword arguments for ``route``'s call, from parsed flags (unset ones left out)."""
    params = {
        flag.param: getattr(args, f"param_{flag.param}")
        for flag in ROUTE_FLAGS[route]
        if getattr(args, f"param_{flag.param}") is not None
    }
    if args.extra:
        params["extra_body"] = args.extra
    return params
