"""Requests are checked against capabilities before anything is spent."""

import pytest

from providers.base import (
    Capabilities,
    Completion,
    GenerationRequest,
    Mode,
    ModelCapabilities,
    ReferenceImage,
)
from providers.errors import RequestInvalidError
from providers.validation import validate_request

PRO = ModelCapabilities(
    name="pro",
    aspect_ratios=("1:1", "16:9"),
    default_aspect_ratio="1:1",
    resolutions=("1K", "2K"),
    default_resolution="1K",
    max_references=2,
    min_prompt_length=2,
    max_prompt_length=50,
    grounding=False,
    output_formats=("png",),
)
FLASH = PRO.model_copy(update={"name": "flash", "grounding": True, "max_images": 2})
CAPS = Capabilities(
    provider="acme",
    models=(PRO, FLASH),
    default_model="pro",
    completion=Completion.POLLING,
    accepts_reference_bytes=False,
    accepts_reference_urls=True,
)
URL = ReferenceImage(url="https://example.com/a.png")


def check(**fields):
    return validate_request(CAPS, GenerationRequest(**{"prompt": "a fox", **fields}))


def test_valid_request_returns_the_model():
    assert check().name == "pro"
    assert check(model="flash", grounding=True, count=2).name == "flash"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"model": "ultra"}, "no model 'ultra'; choose one of: pro, flash"),
        ({"prompt": "a"}, "at least 2 characters"),
        ({"prompt": "x" * 51}, "allows at most 50"),
        ({"aspect_ratio": "4:3"}, "choose one of: 1:1, 16:9"),
        ({"resolution": "4K"}, "choose one of: 1K, 2K"),
        ({"grounding": True}, "not available on acme pro (it is on: flash)"),
        ({"count": 2}, "at most 1 image(s)"),
        ({"output_format": "webp"}, "choose one of: png"),
        ({"references": (URL, URL, URL)}, "accepts at most 2"),
        ({"mode": Mode.EDIT}, "needs an image"),
        ({"references": (ReferenceImage(data=b"x"),)}, "only takes reference images by public URL"),
        ({"references": (ReferenceImage(),)}, "is empty"),
    ],
)
def test_each_violation_names_what_is_allowed(fields, message):
    with pytest.raises(RequestInvalidError) as err:
        check(**fields)
    assert message in str(err.value)


def test_byte_only_provider_refuses_urls_and_caps_size():
    caps = CAPS.model_copy(
        update={
            "accepts_reference_bytes": True,
            "accepts_reference_urls": False,
            "max_reference_bytes": 10,
        }
    )
    with pytest.raises(RequestInvalidError, match="uploaded as bytes"):
        validate_request(caps, GenerationRequest(prompt="ab", references=(URL,)))
    with pytest.raises(RequestInvalidError, match="accepts at most"):
        validate_request(
            caps, GenerationRequest(prompt="ab", references=(ReferenceImage(data=b"x" * 11),))
        )
