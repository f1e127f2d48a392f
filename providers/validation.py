"""Check a request against a provider's capabilities before anything is spent."""

from __future__ import annotations

from providers.base import Capabilities, GenerationRequest, Mode, ModelCapabilities, shown
from providers.errors import RequestInvalidError


def format_name(mime_type: str) -> str:
    """``image/jpeg`` → ``JPEG`` (how people name image types)."""
    name = mime_type.removeprefix("image/").upper()
    return {"WEBP": "WebP"}.get(name, name)


def _choices(values: tuple[str, ...]) -> str:
    return ", ".join(values) if values else "none"


def _where(caps: Capabilities, model: ModelCapabilities) -> str:
    return caps.provider if model.name == caps.provider else f"{caps.provider} {model.name}"


def validate_request(caps: Capabilities, request: GenerationRequest) -> ModelCapabilities:
    """Return the model's capabilities, or raise :class:`RequestInvalidError` naming what fits.

    Every message says what was wrong and what the model accepts, so a user can fix it at once.
    """
    model = caps.model(request.model)
    where = _where(caps, model)
    prompt_length = len(request.prompt.strip())
    if prompt_length < model.min_prompt_length:
        least = model.min_prompt_length
        raise RequestInvalidError(
            f"The prompt is too short: {where} needs at least {least} "
            f"character{'' if least == 1 else 's'}"
        )
    if len(request.prompt) > model.max_prompt_length:
        raise RequestInvalidError(
            f"The prompt is {len(request.prompt)} characters; {where} allows at most "
            f"{model.max_prompt_length}"
        )
    if request.aspect_ratio is not None and request.aspect_ratio not in model.aspect_ratios:
        raise RequestInvalidError(
            f"Aspect ratio {shown(request.aspect_ratio)} is not supported by {where}; "
            f"choose one of: {_choices(model.aspect_ratios)}"
        )
    if request.resolution is not None and request.resolution not in model.resolutions:
        raise RequestInvalidError(
            f"Resolution {shown(request.resolution)} is not supported by {where}; "
            f"choose one of: {_choices(model.resolutions)}"
        )
    if request.grounding and not model.grounding:
        with_grounding = [m.name for m in caps.models if m.grounding]
        hint = f" (it is on: {', '.join(with_grounding)})" if with_grounding else ""
        raise RequestInvalidError(f"Google-search grounding is not available on {where}{hint}")
    if request.count > model.max_images:
        raise RequestInvalidError(
            f"{where} makes at most {model.max_images} image(s) per request; asked for "
            f"{request.count}"
        )
    if request.output_format is not None and request.output_format not in model.output_formats:
        raise RequestInvalidError(
            f"Output format {shown(request.output_format)} is not supported by {where}; "
            f"choose one of: {_choices(model.output_formats)}"
        )
    _validate_references(caps, model, request)
    return model


def _validate_references(
    caps: Capabilities, model: ModelCapabilities, request: GenerationRequest
) -> None:
    where = _where(caps, model)
    if request.mode is Mode.EDIT:
        if not model.supports_edit:
            raise RequestInvalidError(f"{where} cannot edit images")
        if not request.references:
            raise RequestInvalidError("An edit needs an image to edit")
    if len(request.references) > model.max_references:
        raise RequestInvalidError(
            f"{len(request.references)} reference images given; {where} accepts at most "
            f"{model.max_references}"
        )
    uploads = sum(1 for ref in request.references if ref.url is None and ref.data is not None)
    limit = caps.max_references_with_upload
    if uploads and limit is not None and len(request.references) > limit:
        files = (
            "an uploaded reference image only on its own"
            if limit == 1
            else (f"at most {limit} reference images when one is an uploaded file")
        )
        raise RequestInvalidError(
            f"{len(request.references)} reference images given, {uploads} of them uploaded "
            f"files; {caps.provider} takes {files}: give several references as https:// URLs "
            f"(up to {model.max_references})"
        )
    for index, ref in enumerate(request.references, start=1):
        if ref.url is None and ref.data is None:
            raise RequestInvalidError(f"Reference image {index} is empty")
        if ref.mime_type not in caps.reference_formats:
            raise RequestInvalidError(
                f"Reference image {index} is {format_name(ref.mime_type)}; {caps.provider} "
                f"takes {', '.join(format_name(f) for f in caps.reference_formats)}"
            )
        if ref.url is None and not caps.accepts_reference_bytes:
            raise RequestInvalidError(
                f"{caps.provider} only takes reference images by public URL; "
                f"reference {index} is a local file (host it and pass its https:// URL)"
            )
        if ref.data is None and not caps.accepts_reference_urls:
            raise RequestInvalidError(
                f"{caps.provider} needs reference images uploaded as bytes, not URLs "
                f"(reference {index})"
            )
        if (
            ref.url is None
            and ref.data is not None
            and caps.max_reference_bytes is not None
            and len(ref.data) > caps.max_reference_bytes
        ):
            raise RequestInvalidError(
                f"Reference image {index} is {len(ref.data) / 1e6:.1f} MB; {caps.provider} "
                f"accepts at most {caps.max_reference_bytes / 1e6:.1f} MB"
            )
