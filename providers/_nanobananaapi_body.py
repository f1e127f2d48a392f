"""Building nanobananaapi.ai's create requests: one JSON body per generator.

The adapter (``providers.nanobananaapi``) sends the request; this module decides what goes on
the wire, field by field, as each generator's document shows it:

* ``generate-2`` and ``generate-pro``: camelCase ``imageUrls`` (``[]`` means text-to-image),
  ``aspectRatio`` and ``resolution``; generate-2 adds ``googleSearch`` and ``outputFormat``.
* v1 ``generate``: the vendor's misspelled ``type`` values, ``numImages``, ``imageUrls``, the
  aspect ratio in snake_case ``image_size`` and an optional ``watermark`` text.
"""

from __future__ import annotations

from typing import Any

from providers.base import GenerationRequest, ModelCapabilities

NANO_BANANA_2 = "nano-banana-2"
NANO_BANANA_PRO = "nano-banana-pro"
NANO_BANANA = "nano-banana"

#: The v1 ``type`` values, misspelled by the vendor; "fixing" them breaks the request.
V1_TEXT_TO_IMAGE = "TEXTTOIAMGE"
V1_IMAGE_TO_IMAGE = "IMAGETOIAMGE"


def create_body(
    model: ModelCapabilities,
    request: GenerationRequest,
    callback_url: str,
    *,
    watermark: str | None = None,
) -> dict[str, Any]:
    """The JSON body of a create request for ``model``.

    Optional fields the member (or operator) did not choose are left out, so the provider's
    documented defaults apply: v1 ``image_size`` without an aspect ratio, generate-2
    ``outputFormat`` without a format (``jpg``), v1 ``watermark`` without the setting.
    """
    urls = [ref.url for ref in request.references if ref.url is not None]
    aspect_ratio = request.aspect_ratio or model.default_aspect_ratio
    if model.name == NANO_BANANA:
        body: dict[str, Any] = {
            "prompt": request.prompt,
            "type": V1_IMAGE_TO_IMAGE if urls else V1_TEXT_TO_IMAGE,
            "numImages": request.count,
            "callBackUrl": callback_url,
        }
        if urls:
            body["imageUrls"] = urls
        if aspect_ratio is not None:
            body["image_size"] = aspect_ratio  # v1 carries the aspect ratio here
        if watermark:
            body["watermark"] = watermark  # NANOBANANAAPI_WATERMARK: v1 documents it only
        return body
    body = {
        "prompt": request.prompt,
        "imageUrls": urls,  # [] selects text-to-image
        "aspectRatio": aspect_ratio,
        "resolution": request.resolution or model.default_resolution,
        "callBackUrl": callback_url,
    }
    if model.name == NANO_BANANA_2:
        body["googleSearch"] = request.grounding
        if request.output_format is not None:
            body["outputFormat"] = request.output_format  # documented default: jpg
    return body
