"""Evidence that an image was made by a generator, read from what generators write into files.

Sources, strongest first: a C2PA manifest whose actions declare an IPTC digital source type of
`trainedAlgorithmicMedia` (DALL·E/ChatGPT, Adobe Firefly, Google and Microsoft tools write
these); IPTC/XMP `DigitalSourceType` without a signature; PNG text chunks that Stable Diffusion
front ends (AUTOMATIC1111/Forge/SD.Next `parameters`), ComfyUI (`prompt`, `workflow`), InvokeAI,
NovelAI, Fooocus and SwarmUI write; EXIF/XMP software tags naming a known generator.

All of it is metadata: it proves nothing when absent (a screenshot, a re-save or an upload
through most social sites strips it) and can be forged when present. C2PA signatures make forging
harder, not impossible (no trust list is configured by default). See docs/labeling.md.
"""
from __future__ import annotations

import io
import json
import logging
import re
from dataclasses import asdict, dataclass
from typing import Any, Iterable

from PIL import Image

log = logging.getLogger("modelyard.labeling")

IPTC_SOURCE_TYPES = {  # http://cv.iptc.org/newscodes/digitalsourcetype/<code>
    "trainedAlgorithmicMedia": 0.97,
    "compositeWithTrainedAlgorithmicMedia": 0.85,
    "algorithmicallyEnhanced": 0.3,
    "algorithmicMedia": 0.5,
    "compositeSynthetic": 0.5,
}
GENERATORS = re.compile(
    r"\b(stable[ _-]?diffusion|automatic1111|sd[ .-]?next|comfyui|invokeai|novelai|midjourney|dall[ ·.-]?e|"
    r"openai|chatgpt|adobe firefly|firefly|imagen|gemini|leonardo\.ai|ideogram|fooocus|swarmui|"
    r"diffusionbee|draw things|nightcafe|craiyon|dreamstudio|bing image creator|image creator from designer|"
    r"meta ai|grok|black forest labs|flux\.1|playground ?ai|krea|tensor\.art|seaart|getimg\.ai)\b",
    re.IGNORECASE,
)
SD_PARAMETERS = re.compile(r"\bSteps: *\d+.*\b(Sampler|CFG scale|Seed): ", re.IGNORECASE | re.DOTALL)
PNG_KEYS = {  # text chunk key -> (flag, what wrote it, weight)
    "invokeai_metadata": ("ai_png_invokeai", "InvokeAI metadata", 0.97),
    "invokeai_graph": ("ai_png_invokeai", "InvokeAI graph", 0.97),
    "sd-metadata": ("ai_png_invokeai", "InvokeAI (sd-metadata)", 0.97),
    "dream": ("ai_png_invokeai", "InvokeAI (Dream)", 0.95),
    "fooocus_scheme": ("ai_png_fooocus", "Fooocus metadata scheme", 0.97),
    "sui_image_params": ("ai_png_swarmui", "SwarmUI parameters", 0.97),
    "generation_data": ("ai_png_generation_data", "a generation_data chunk", 0.9),
}
UNSIGNED = 0.95  # an unsigned declaration counts a little less than a signed one
MAX_TEXT = 200_000  # characters of one metadata value that are looked at


@dataclass(frozen=True)
class Evidence:
    flag: str  # names the evidence, e.g. ai_png_parameters
    source: str  # c2pa | xmp | exif | png_text | jpeg_comment | detector
    detail: str
    weight: float  # how strongly this alone says "generated" (0..1)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def combine(evidence: Iterable[Evidence]) -> float:
    """Independent pieces of evidence combined as a noisy OR: 1 − Π(1 − weight)."""
    remaining = 1.0
    for item in evidence:
        remaining *= 1.0 - min(max(item.weight, 0.0), 1.0)
    return round(1.0 - remaining, 4)


def gather(data: bytes, image: Image.Image | None, *, content_type: str) -> list[Evidence]:
    """Everything the file's metadata says about a generator; never raises for a bad file."""
    found: list[Evidence] = []
    found += c2pa_evidence(data, content_type)
    if image is not None:
        for reader in (_png_text, _exif, _xmp, _comment):
            try:
                found += reader(image)
            except Exception as exc:  # damaged metadata is no evidence either way
                log.debug("metadata reader %s failed: %s", reader.__name__, exc)
    return _dedupe(found)


def _dedupe(found: list[Evidence]) -> list[Evidence]:
    best: dict[str, Evidence] = {}
    for item in found:
        if item.flag not in best or item.weight > best[item.flag].weight:
            best[item.flag] = item
    return list(best.values())


# --- PNG text chunks ------------------------------------------------------------------------------


def _png_text(image: Image.Image) -> list[Evidence]:
    if image.format != "PNG":
        return []
    try:
        chunks = dict(image.text)  # tEXt, zTXt, iTXt; Pillow caps their decompressed size
    except (ValueError, OSError, SyntaxError, EOFError) as exc:
        return [Evidence("png_text_unreadable", "png_text", f"text chunks could not be read: {exc}"[:200], 0.0)]
    found: list[Evidence] = []
    for key, value in chunks.items():
        value = str(value)[:MAX_TEXT]
        lowered = key.lower()
        if lowered == "parameters":
            if SD_PARAMETERS.search(value):
                found.append(Evidence("ai_png_parameters", "png_text",
                                      "Stable Diffusion web UI generation parameters (Steps, Sampler/CFG/Seed) "
                                      "in a 'parameters' chunk", 0.97))
            else:
                found.append(Evidence("ai_png_parameters", "png_text", "a 'parameters' text chunk", 0.8))
        elif lowered in ("prompt", "workflow") and _comfyui(lowered, value):
            found.append(Evidence("ai_png_comfyui", "png_text", f"a ComfyUI '{key}' graph", 0.97))
        elif lowered in PNG_KEYS:
            flag, what, weight = PNG_KEYS[lowered]
            found.append(Evidence(flag, "png_text", f"{what} in a '{key}' chunk", weight))
        elif lowered in ("software", "source") and "novelai" in value.lower():
            found.append(Evidence("ai_png_novelai", "png_text", f"NovelAI named in '{key}'", 0.97))
        elif lowered == "comment" and _novelai_comment(value):
            found.append(Evidence("ai_png_novelai", "png_text", "NovelAI generation settings in 'Comment'", 0.95))
        elif lowered == "xml:com.adobe.xmp":
            continue  # read as XMP
        else:
            found += _text_mentions(value, "png_text", f"chunk '{key[:40]}'")
    return found


def _comfyui(key: str, value: str) -> bool:
    try:
        graph = json.loads(value)
    except ValueError:
        return False
    if key == "workflow":
        return isinstance(graph, dict) and isinstance(graph.get("nodes"), list)
    return isinstance(graph, dict) and any(isinstance(n, dict) and "class_type" in n for n in graph.values())


def _novelai_comment(value: str) -> bool:
    try:
        settings = json.loads(value)
    except ValueError:
        return False
    return isinstance(settings, dict) and {"steps", "sampler", "seed"} <= set(settings) and (
        "uc" in settings or "noise" in settings or "scale" in settings)


def _text_mentions(value: str, source: str, where: str) -> list[Evidence]:
    found = []
    if SD_PARAMETERS.search(value):
        found.append(Evidence("ai_generation_parameters", source,
                              f"Stable Diffusion style generation parameters in {where}", 0.9))
    match = GENERATORS.search(value)
    if match:
        found.append(Evidence("ai_software_tag", source, f"{where} names the generator '{match.group(0)}'", 0.85))
    return found


# --- EXIF, XMP, JPEG comments ---------------------------------------------------------------------

EXIF_TEXT_TAGS = {0x0131: "Software", 0x010F: "Make", 0x0110: "Model", 0x013B: "Artist",
                  0x010E: "ImageDescription", 0x8298: "Copyright"}
EXIF_IFD, USER_COMMENT, XP_COMMENT = 0x8769, 0x9286, 0x9C9C


def _exif(image: Image.Image) -> list[Evidence]:
    exif = image.getexif()
    if not exif:
        return []
    found: list[Evidence] = []
    for tag, name in EXIF_TEXT_TAGS.items():
        value = exif.get(tag)
        if isinstance(value, (str, bytes)):
            found += _text_mentions(_text(value), "exif", f"EXIF {name}")
    comments = [exif.get_ifd(EXIF_IFD).get(USER_COMMENT), exif.get(XP_COMMENT)]
    for value in comments:
        if isinstance(value, (bytes, str)):
            found += _text_mentions(_user_comment(value), "exif", "EXIF UserComment")
    return found


def _text(value: str | bytes) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    return value.replace("\x00", "")[:MAX_TEXT]


def _user_comment(value: str | bytes) -> str:
    """EXIF UserComment: an 8-byte charset prefix (A1111 writes UNICODE, i.e. UTF-16)."""
    if isinstance(value, str):
        return value[:MAX_TEXT]
    prefix, body = value[:8], value[8:]
    if prefix.startswith(b"UNICODE"):
        for encoding in ("utf-16-be", "utf-16-le"):
            text = body.decode(encoding, errors="replace")
            if text.isprintable() or "Steps:" in text:
                return text[:MAX_TEXT]
    if prefix.startswith((b"ASCII", b"\x00\x00\x00\x00")):
        return _text(body)
    try:
        return value.decode("utf-16-le")[:MAX_TEXT]  # XPComment
    except UnicodeDecodeError:
        return _text(value)


XMP_SOURCE = re.compile(r"digitalsourcetype/([A-Za-z]+)", re.IGNORECASE)
XMP_TOOL = re.compile(r"(CreatorTool|softwareAgent|Software)[\"'=>\s]+([^<\"']{1,200})", re.IGNORECASE)
XMP_AIGC = re.compile(r"AIGC[^A-Za-z].{0,200}?Label[\"'\s:=>]+[\"']?1", re.IGNORECASE | re.DOTALL)


def _xmp(image: Image.Image) -> list[Evidence]:
    raw = image.info.get("xmp") or image.info.get("XML:com.adobe.xmp")
    if getattr(image, "text", None) is not None and image.format == "PNG":
        raw = raw or image.text.get("XML:com.adobe.xmp")
    if not raw:
        return []
    text = _text(raw)
    found: list[Evidence] = []
    for code in set(XMP_SOURCE.findall(text)):
        weight = _source_type_weight(code) * UNSIGNED
        if weight:
            found.append(Evidence("ai_xmp_digital_source_type", "xmp",
                                  f"IPTC DigitalSourceType '{code}' in XMP (unsigned)", round(weight, 4)))
    for _field, tool in XMP_TOOL.findall(text):
        match = GENERATORS.search(tool)
        if match:
            found.append(Evidence("ai_software_tag", "xmp", f"XMP names the generator '{match.group(0)}'", 0.85))
    if XMP_AIGC.search(text):
        found.append(Evidence("ai_xmp_aigc_label", "xmp", "an AIGC label (GB 45438) marks the image generated", 0.95))
    return found


def _source_type_weight(code: str) -> float:
    for name, weight in IPTC_SOURCE_TYPES.items():
        if name.lower() == code.lower():
            return weight
    return 0.0


def _comment(image: Image.Image) -> list[Evidence]:
    value = image.info.get("comment")
    if not isinstance(value, (bytes, str)):
        return []
    return _text_mentions(_text(value), "jpeg_comment", "the image comment")


# --- C2PA -----------------------------------------------------------------------------------------

_C2PA_CONTEXT: Any = None


def _c2pa_context():
    """A reader context that never touches the network (no remote manifests, no OCSP)."""
    global _C2PA_CONTEXT
    if _C2PA_CONTEXT is None:
        import c2pa

        settings = c2pa.Settings.from_dict({"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}})
        _C2PA_CONTEXT = c2pa.Context(settings)
    return _C2PA_CONTEXT


def c2pa_available() -> bool:
    try:
        import c2pa  # noqa: F401
    except ImportError:
        return False
    return True


def c2pa_evidence(data: bytes, content_type: str) -> list[Evidence]:
    if not c2pa_available():
        return []
    import c2pa

    try:
        reader = c2pa.Reader.try_create(content_type, io.BytesIO(data), None, _c2pa_context())
    except Exception as exc:  # a damaged manifest
        return [Evidence("c2pa_unreadable", "c2pa", f"a C2PA manifest could not be read: {exc}"[:200], 0.0)]
    if reader is None:
        return []
    try:
        store = json.loads(reader.json())
    except Exception as exc:
        return [Evidence("c2pa_unreadable", "c2pa", f"a C2PA manifest could not be read: {exc}"[:200], 0.0)]
    finally:
        reader.close()
    return _manifest_evidence(store)


def _manifest_evidence(store: dict[str, Any]) -> list[Evidence]:
    manifests = store.get("manifests") or {}
    active = manifests.get(store.get("active_manifest") or "", {})
    codes = [s.get("code", "") for s in store.get("validation_status") or [] if isinstance(s, dict)]
    failures = [c for c in codes if c and not c.startswith("signingCredential.untrusted")]
    trusted = "signingCredential.untrusted" not in codes and not failures
    state = "failed validation" if failures else ("trusted" if trusted else "valid but from an untrusted signer")
    generator = _generator_name(active)
    found = [Evidence("c2pa_manifest", "c2pa", f"C2PA manifest by '{generator}': {state}", 0.0)]
    for code in sorted(_source_types(active)):
        weight = _source_type_weight(code)
        if not weight:
            continue
        if failures:
            weight *= 0.8  # the manifest does not match the file: it was edited afterwards, or forged
        elif not trusted:
            weight = min(weight, 0.95)
        found.append(Evidence("ai_c2pa_digital_source_type", "c2pa",
                              f"C2PA manifest declares '{code}' ({state})", round(weight, 4)))
    if failures:
        found.append(Evidence("c2pa_invalid", "c2pa", f"C2PA validation failed: {', '.join(failures[:5])}", 0.0))
    if generator and GENERATORS.search(generator):
        found.append(Evidence("ai_c2pa_generator", "c2pa", f"C2PA claim generator '{generator}'", 0.85))
    return found


def _generator_name(manifest: dict[str, Any]) -> str:
    info = manifest.get("claim_generator_info") or []
    names = [str(i.get("name", "")) for i in info if isinstance(i, dict) and i.get("name")]
    return (", ".join(names) or str(manifest.get("claim_generator") or "unknown"))[:200]


def _source_types(manifest: dict[str, Any]) -> set[str]:
    codes: set[str] = set()
    for assertion in manifest.get("assertions") or []:
        if not isinstance(assertion, dict) or not str(assertion.get("label", "")).startswith("c2pa.actions"):
            continue
        for action in (assertion.get("data") or {}).get("actions") or []:
            source = isinstance(action, dict) and action.get("digitalSourceType")
            if isinstance(source, str):
                codes.add(source.rstrip("/").rsplit("/", 1)[-1])
    return codes
