"""QR codes as PNG images."""

from __future__ import annotations

import io

import qrcode
from PIL import Image

QR_SIZE_PX = 300
_QUIET_ZONE_MODULES = 4
# A fixed mask instead of qrcode's search over all eight (it scores each in Python:
# 3.7 of the 6.2 ms a ticket's QR took). Every mask gives a standard symbol that any
# reader decodes; chosen by scanning 1,000 ticket secrets with zxing-cpp at 1.2 px
# per module (bench/README.md, Tickets): mask 1 read 995, the search's choice 980.
MASK_PATTERN = 1


def qr_code(data: str) -> qrcode.QRCode:
    """`data`'s QR symbol (error correction H, MASK_PATTERN), made, without a border."""
    code = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_H,
        border=0,
        box_size=1,
        mask_pattern=MASK_PATTERN,
    )
    code.add_data(data)
    code.make(fit=True)
    return code


def qr_png(data: str, *, size: int = QR_SIZE_PX) -> bytes:
    """A size × size PNG of `data`, error correction H (30 % of it can be damaged).

    Every module is the same whole number of pixels (no blurry resampling); the
    space left over widens the white quiet zone, which stays at least 4 modules.
    """
    code = qr_code(data)
    modules = code.modules_count
    box = size // (modules + 2 * _QUIET_ZONE_MODULES)
    if box < 1:
        raise ValueError(f"{len(data)} characters do not fit a {size} px QR code")
    # The module matrix scaled up whole, not qrcode's image factory, which draws each
    # dark module as a rectangle (1 ms a code); the pixels are the same.
    symbol = Image.new("1", (modules, modules))
    symbol.putdata([0 if dark else 255 for row in code.modules for dark in row])
    symbol = symbol.resize((modules * box, modules * box), Image.Resampling.NEAREST)
    canvas = Image.new("1", (size, size), 1)
    offset = (size - symbol.size[0]) // 2
    canvas.paste(symbol, (offset, offset))
    out = io.BytesIO()
    canvas.save(out, format="PNG", optimize=True)
    return out.getvalue()
