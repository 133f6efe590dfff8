"""Images made by the tests themselves: scenes, their duplicates, generator metadata, bad files."""
from __future__ import annotations

import datetime
import io
import json
import random
import struct
import zlib

from PIL import Image, ImageDraw
from PIL.PngImagePlugin import PngInfo

SD_PARAMETERS = ("a lighthouse at dusk, oil painting\nNegative prompt: blurry\n"
                 "Steps: 28, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 1234567, Size: 512x512, "
                 "Model hash: 6ce0161689, Model: v1-5-pruned-emaonly")


def scene(seed: int, size: tuple[int, int] = (480, 360)) -> Image.Image:
    """A random picture (gradient plus shapes): different seeds give clearly different images."""
    rnd = random.Random(seed)
    image = Image.new("RGB", size)
    draw = ImageDraw.Draw(image)
    top = [rnd.randrange(256) for _ in range(3)]
    bottom = [rnd.randrange(256) for _ in range(3)]
    for y in range(size[1]):
        t = y / size[1]
        draw.line([(0, y), (size[0], y)], fill=tuple(int(a + (b - a) * t) for a, b in zip(top, bottom)))
    for _ in range(rnd.randint(6, 14)):
        x0, y0 = rnd.randrange(size[0]), rnd.randrange(size[1])
        w, h = rnd.randint(size[0] // 12, size[0] // 2), rnd.randint(size[1] // 8, size[1] // 2)
        shape = draw.ellipse if rnd.random() < 0.5 else draw.rectangle
        shape([x0, y0, x0 + w, y0 + h], fill=tuple(rnd.randrange(256) for _ in range(3)))
    return image


def encode(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def jpeg(image: Image.Image, quality: int = 90) -> bytes:
    return encode(image, "JPEG", quality=quality)


def resized(image: Image.Image, factor: float) -> Image.Image:
    return image.resize((max(1, int(image.width * factor)), max(1, int(image.height * factor))),
                        Image.Resampling.LANCZOS)


def center_crop(image: Image.Image, fraction: float) -> Image.Image:
    dx, dy = int(image.width * (1 - fraction) / 2), int(image.height * (1 - fraction) / 2)
    return image.crop((dx, dy, image.width - dx, image.height - dy))


def png_with_text(image: Image.Image, chunks: dict[str, str], *, compressed: bool = False) -> bytes:
    info = PngInfo()
    for key, value in chunks.items():
        info.add_text(key, value, zip=compressed)
    return encode(image, "PNG", pnginfo=info)


def png_header(width: int, height: int) -> bytes:
    """A tiny, well-formed PNG that claims width × height pixels (its data is far too short)."""
    idat = zlib.compress(b"\x00" * 64)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + _chunk(b"IDAT", idat) + _chunk(b"IEND", b""))


def png_bomb(width: int = 7000, height: int = 7000) -> bytes:
    """A complete, valid grayscale PNG of zeros: kilobytes on disk, width × height bytes decoded."""
    idat = zlib.compress(bytes((width + 1) * height), 1)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + _chunk(b"IDAT", idat) + _chunk(b"IEND", b""))


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def truncated_jpeg(seed: int = 99) -> bytes:
    data = jpeg(scene(seed))
    return data[: len(data) // 2]


def c2pa_signed_png(image: Image.Image, source_type: str = "trainedAlgorithmicMedia") -> bytes:
    """A PNG with a C2PA manifest declaring `source_type`, signed by a throwaway test CA."""
    import c2pa
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common),
                          x509.NameAttribute(NameOID.ORGANIZATION_NAME, "modelyard tests")])

    def usage(**on: bool) -> x509.KeyUsage:
        flags = dict.fromkeys(["digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
                               "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only"], False)
        return x509.KeyUsage(**{**flags, **on})

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())

    def certificate(subject, issuer, public, signing_key, ca: bool):
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public)
                   .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
                   .not_valid_after(now + datetime.timedelta(days=30))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
                   .add_extension(usage(key_cert_sign=True, crl_sign=True) if ca else usage(digital_signature=True),
                                  critical=True)
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False))
        if not ca:
            email = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION])
            builder = (builder.add_extension(email, critical=False)
                       .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                                      critical=False))
        return builder.sign(signing_key, hashes.SHA256())

    root = certificate(name("test root"), name("test root"), ca_key.public_key(), ca_key, True)
    leaf = certificate(name("test signer"), root.subject, key.public_key(), ca_key, False)
    chain = leaf.public_bytes(serialization.Encoding.PEM) + root.public_bytes(serialization.Encoding.PEM)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    manifest = {
        "claim_generator_info": [{"name": "test-image-generator", "version": "1.0"}],
        "title": "generated.png", "format": "image/png",
        "assertions": [{"label": "c2pa.actions", "data": {"actions": [{
            "action": "c2pa.created",
            "digitalSourceType": f"http://cv.iptc.org/newscodes/digitalsourcetype/{source_type}"}]}}],
    }
    signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, chain, private, None))
    out = io.BytesIO()
    c2pa.Builder(json.dumps(manifest)).sign(signer, "image/png", io.BytesIO(encode(image, "PNG")), out)
    return out.getvalue()


def comfyui_png(image: Image.Image) -> bytes:
    prompt = {"3": {"class_type": "KSampler", "inputs": {"seed": 5, "steps": 20}},
              "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd_xl_base_1.0.safetensors"}}}
    workflow = {"last_node_id": 4, "nodes": [{"id": 3, "type": "KSampler"}]}
    return png_with_text(image, {"prompt": json.dumps(prompt), "workflow": json.dumps(workflow)})


def exif_software_jpeg(image: Image.Image, software: str) -> bytes:
    exif = Image.Exif()
    exif[0x0131] = software
    return encode(image, "JPEG", quality=90, exif=exif.tobytes())


def xmp_jpeg(image: Image.Image, source_type: str = "trainedAlgorithmicMedia") -> bytes:
    xmp = ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
           '<rdf:Description xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
           f'Iptc4xmpExt:DigitalSourceType="http://cv.iptc.org/newscodes/digitalsourcetype/{source_type}"/>'
           '</rdf:RDF></x:xmpmeta>')
    return encode(image, "JPEG", quality=90, xmp=xmp.encode())
